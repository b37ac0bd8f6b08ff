//! Momentum (TF1's `MomentumOptimizer`), optionally Nesterov. Slot: `momentum` (zeros).

use super::optimizer::{optimizer_common, LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::Result;
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
    optimizer_common!("Momentum");
    fn update_rule(&self) -> Result<UpdateRule> {
        Ok(UpdateRule {
            op: ApplyMomentum {
                momentum: self.momentum,
                use_nesterov: self.use_nesterov,
            }
            .into(),
            slots: vec![("momentum", 0.0)],
        })
    }
}
