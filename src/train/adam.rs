//! Adam (TF1's `AdamOptimizer`). Slots `m`, `v` (zeros); per-application scalars
//! `beta1_power`, `beta2_power` (initialised to beta1, beta2, multiplied by them after all
//! updates of a step). beta1 may be a scalar tensor (a schedule, [`super::OneCycle`]).

use super::optimizer::optimizer_common;
use super::options::{LearningRate, NodeRef, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::Result;
use crate::graph::{Graph, Operation, Tensor};
use crate::ops::apply::{ApplyAdam, ApplyAdamScheduled};
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
    /// beta1 as a scalar tensor (then `beta1` is only `beta1_power`'s initial value).
    beta1_tensor: Option<NodeRef>,
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
            beta1_tensor: None,
        }
    }
    /// Makes beta1 the scalar f32 tensor `beta1` (e.g. [`super::OneCycle::momentum`]),
    /// evaluated at every step. As in TF1's Adam with a tensor beta1, `beta1_power` starts
    /// at beta1's initial value (`initial`, its value at step 0) and is multiplied by the
    /// step's beta1 after each step, so the bias correction uses the product of the betas
    /// seen. The update op is then [`ApplyAdamScheduled`].
    pub fn beta1_tensor(mut self, beta1: Tensor<'_>, initial: f32) -> Self {
        self.beta1 = initial;
        self.beta1_tensor = Some(NodeRef::new(beta1));
        self
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
    optimizer_common!("Adam");
    fn update_rule(&self) -> Result<UpdateRule> {
        Ok(UpdateRule {
            op: match self.beta1_tensor {
                None => ApplyAdam {
                    beta1: self.beta1,
                    beta2: self.beta2,
                    epsilon: self.epsilon,
                    use_nesterov: false,
                }
                .into(),
                Some(_) => ApplyAdamScheduled {
                    beta2: self.beta2,
                    epsilon: self.epsilon,
                    use_nesterov: false,
                }
                .into(),
            },
            slots: vec![("m", 0.0), ("v", 0.0)],
        })
    }
    fn non_slots(&self) -> Vec<(&'static str, f32)> {
        vec![("beta1_power", self.beta1), ("beta2_power", self.beta2)]
    }
    /// TF1's `_finish`: the beta powers advance only after every update of the step.
    fn finish<'g>(&self, non_slots: &[Tensor<'g>]) -> Vec<Operation<'g>> {
        let [b1p, b2p] = non_slots else {
            return Vec::new();
        };
        // `scalar_inputs` resolved and checked the tensor before the updates were built.
        let b1 = self
            .beta1_tensor
            .as_ref()
            .and_then(|r| r.resolve(b1p.graph(), "beta1").ok());
        vec![
            match b1 {
                Some(b1) => assign(*b1p, *b1p * b1),
                None => assign(*b1p, *b1p * self.beta1),
            },
            assign(*b2p, *b2p * self.beta2),
        ]
    }
    fn scalar_inputs<'g>(&self, g: &'g Graph) -> Result<Vec<Tensor<'g>>> {
        match &self.beta1_tensor {
            Some(r) => Ok(vec![r.scalar_f32(g, "beta1")?]),
            None => Ok(Vec::new()),
        }
    }
}
