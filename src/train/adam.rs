//! Adam (TF1's `AdamOptimizer`). Slots `m`, `v` (zeros); per-application scalars
//! `beta1_power`, `beta2_power` (initialised to beta1, beta2, multiplied by them after all
//! updates of a step).

use super::optimizer::{optimizer_options, ApplyCtx, LearningRate, OptimizerOptions};
use super::sgd::update_name;
use super::Optimizer;
use crate::error::Result;
use crate::graph::{Operation, Tensor};
use crate::ops::apply::ApplyAdam;
use crate::ops::state::assign;

/// Adam with TF1's "epsilon hat" form:
/// `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `var -= lr_t * m / (sqrt(v) + epsilon)`.
/// Defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8.
#[derive(Clone, Debug)]
pub struct Adam {
    options: OptimizerOptions,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to `sqrt(v)`.
    pub epsilon: f32,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

impl Adam {
    /// Adam with learning rate `learning_rate` (constant or scalar tensor) and TF1's defaults
    /// for the other hyper-parameters.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adam {
            options: OptimizerOptions::new(learning_rate),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
    /// Sets beta1 (default 0.9).
    pub fn beta1(mut self, beta1: f32) -> Self {
        self.beta1 = beta1;
        self
    }
    /// Sets beta2 (default 0.999).
    pub fn beta2(mut self, beta2: f32) -> Self {
        self.beta2 = beta2;
        self
    }
    /// Sets epsilon (default 1e-8).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &str {
        "Adam"
    }
    optimizer_options!();
    fn apply_updates<'g>(
        &self,
        ctx: &ApplyCtx<'g>,
        gv: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let g = ctx.graph;
        let b1p = ctx.non_slot("beta1_power", self.beta1);
        let b2p = ctx.non_slot("beta2_power", self.beta2);
        let op = ApplyAdam {
            beta1: self.beta1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            use_nesterov: false,
        };
        let mut ups: Vec<Operation<'g>> = gv
            .iter()
            .map(|(grad, var)| {
                let m = ctx.slot(*var, "m", 0.0);
                let v = ctx.slot(*var, "v", 0.0);
                g.add_op(
                    op.clone(),
                    &[*var, m, v, ctx.lr, b1p, b2p, *grad],
                    Some(&update_name(*var)),
                )
            })
            .collect();
        // TF1's `_finish`: the beta powers advance only after every update of the step.
        let finish = {
            let _c = g.control_dependencies(&ups);
            [assign(b1p, b1p * self.beta1), assign(b2p, b2p * self.beta2)]
        };
        ups.extend(finish);
        Ok(ctx.group(&ups))
    }
}
