//! Momentum (TF1's `MomentumOptimizer`), optionally Nesterov. Slot: `momentum` (zeros).
//! The coefficient may be a scalar tensor (a schedule, [`super::OneCycle`]).

use super::optimizer::optimizer_common;
use super::options::{LearningRate, NodeRef, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::Result;
use crate::graph::{Graph, Tensor};
use crate::ops::apply::{ApplyMomentum, ApplyMomentumScheduled};

/// `accum = accum * momentum + grad; var -= lr * accum` (Nesterov:
/// `var -= grad * lr + accum * momentum * lr`).
#[derive(Clone, Debug)]
pub struct Momentum {
    options: OptimizerOptions,
    /// Momentum coefficient.
    pub momentum: f32,
    /// Nesterov momentum.
    pub use_nesterov: bool,
    momentum_tensor: Option<NodeRef>,
}

impl Momentum {
    /// Momentum with learning rate `learning_rate` (constant or scalar tensor) and
    /// coefficient `momentum`.
    pub fn new(learning_rate: impl Into<LearningRate>, momentum: f32) -> Self {
        Momentum {
            options: OptimizerOptions::new(learning_rate),
            momentum,
            use_nesterov: false,
            momentum_tensor: None,
        }
    }
    /// Makes the coefficient the scalar f32 tensor `momentum` (e.g.
    /// [`super::OneCycle::momentum`]), evaluated at every step; the update op is then
    /// [`ApplyMomentumScheduled`].
    pub fn momentum_tensor(mut self, momentum: Tensor<'_>) -> Self {
        self.momentum_tensor = Some(NodeRef::new(momentum));
        self
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
            op: match self.momentum_tensor {
                None => ApplyMomentum {
                    momentum: self.momentum,
                    use_nesterov: self.use_nesterov,
                }
                .into(),
                Some(_) => ApplyMomentumScheduled {
                    use_nesterov: self.use_nesterov,
                }
                .into(),
            },
            slots: vec![("momentum", 0.0)],
        })
    }
    fn scalar_inputs<'g>(&self, g: &'g Graph) -> Result<Vec<Tensor<'g>>> {
        match &self.momentum_tensor {
            Some(r) => Ok(vec![r.scalar_f32(g, "momentum")?]),
            None => Ok(Vec::new()),
        }
    }
}
