//! Adam (TF1's `AdamOptimizer`). Slots `m`, `v` (zeros); per-application scalars
//! `beta1_power`, `beta2_power` (initialised to beta1, beta2, multiplied by them after all
//! updates of a step).

use super::optimizer::{optimizer_common, LearningRate, OptimizerOptions, UpdateRule};
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
    optimizer_common!("Adam");
    fn update_rule(&self) -> Result<UpdateRule> {
        Ok(UpdateRule {
            op: ApplyAdam {
                beta1: self.beta1,
                beta2: self.beta2,
                epsilon: self.epsilon,
                use_nesterov: false,
            }
            .into(),
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
        vec![
            assign(*b1p, *b1p * self.beta1),
            assign(*b2p, *b2p * self.beta2),
        ]
    }
}
