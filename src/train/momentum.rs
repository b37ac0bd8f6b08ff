//! Momentum (TF1's `MomentumOptimizer`), optionally Nesterov. Slot: `momentum` (zeros).

use super::optimizer::{optimizer_options, ApplyCtx, LearningRate, OptimizerOptions};
use super::sgd::update_name;
use super::Optimizer;
use crate::error::Result;
use crate::graph::{Operation, Tensor};
use crate::ops::apply::ApplyMomentum;

/// `accum = accum * momentum + grad; var -= lr * accum` (Nesterov:
/// `var -= grad * lr + accum * momentum * lr`).
#[derive(Clone, Debug)]
pub struct Momentum {
    options: OptimizerOptions,
    /// Momentum coefficient.
    pub momentum: f32,
    /// Nesterov momentum.
    pub use_nesterov: bool,
}

impl Momentum {
    /// Momentum with learning rate `learning_rate` (constant or scalar tensor) and
    /// coefficient `momentum`.
    pub fn new(learning_rate: impl Into<LearningRate>, momentum: f32) -> Self {
        Momentum {
            options: OptimizerOptions::new(learning_rate),
            momentum,
            use_nesterov: false,
        }
    }
    /// Uses Nesterov momentum.
    pub fn nesterov(mut self, use_nesterov: bool) -> Self {
        self.use_nesterov = use_nesterov;
        self
    }
}

impl Optimizer for Momentum {
    fn name(&self) -> &str {
        "Momentum"
    }
    optimizer_options!();
    fn apply_updates<'g>(
        &self,
        ctx: &ApplyCtx<'g>,
        gv: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let op = ApplyMomentum {
            momentum: self.momentum,
            use_nesterov: self.use_nesterov,
        };
        let ups: Vec<Operation<'g>> = gv
            .iter()
            .map(|(grad, var)| {
                let accum = ctx.slot(*var, "momentum", 0.0);
                ctx.graph.add_op(
                    op.clone(),
                    &[*var, accum, ctx.lr, *grad],
                    Some(&update_name(*var)),
                )
            })
            .collect();
        Ok(ctx.group(&ups))
    }
}
