//! AdamW: Adam with decoupled weight decay, as TF1's `tf.contrib.opt.AdamWOptimizer` (and TF
//! Addons' `AdamW`) define it. Slots `m`, `v` and the beta powers as [`super::Adam`].

use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::{Adam, Optimizer};
use crate::error::Result;
use crate::graph::{Operation, Tensor};
use crate::ops::apply::ApplyAdamW;

/// Adam with decoupled weight decay (Loshchilov & Hutter): each step first shrinks every
/// updated variable, `var -= weight_decay * var`, then applies Adam's update computed from
/// the gradient at the old value. As in TF1's contrib (and unlike Keras' `AdamW`), the decay
/// is not multiplied by the learning rate: scale it with the schedule yourself. Defaults as
/// [`Adam`]: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8; default name `"AdamW"`.
#[derive(Clone, Debug)]
pub struct AdamW {
    adam: Adam,
    /// The decoupled weight decay rate (TF1's `weight_decay`).
    pub weight_decay: f32,
}

impl AdamW {
    /// AdamW with decay rate `weight_decay` and learning rate `learning_rate` (constant or
    /// scalar tensor), in the order of TF1's `AdamWOptimizer(weight_decay, learning_rate)`.
    pub fn new(weight_decay: f32, learning_rate: impl Into<LearningRate>) -> Self {
        AdamW {
            adam: Adam::new(learning_rate),
            weight_decay,
        }
    }
    /// Sets beta1 (default 0.9).
    pub fn beta1(mut self, beta1: f32) -> Self {
        self.adam.beta1 = beta1;
        self
    }
    /// Sets beta2 (default 0.999).
    pub fn beta2(mut self, beta2: f32) -> Self {
        self.adam.beta2 = beta2;
        self
    }
    /// Sets epsilon (default 1e-8).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.adam.epsilon = epsilon;
        self
    }
}

impl Optimizer for AdamW {
    fn name(&self) -> &str {
        self.options().name.as_deref().unwrap_or("AdamW")
    }
    fn options(&self) -> &OptimizerOptions {
        self.adam.options()
    }
    fn options_mut(&mut self) -> &mut OptimizerOptions {
        self.adam.options_mut()
    }
    fn update_rule(&self) -> Result<UpdateRule> {
        let adam = &self.adam;
        Ok(UpdateRule {
            op: ApplyAdamW {
                beta1: adam.beta1,
                beta2: adam.beta2,
                epsilon: adam.epsilon,
                weight_decay: self.weight_decay,
            }
            .into(),
            slots: vec![("m", 0.0), ("v", 0.0)],
        })
    }
    fn non_slots(&self) -> Vec<(&'static str, f32)> {
        self.adam.non_slots()
    }
    fn finish<'g>(&self, non_slots: &[Tensor<'g>]) -> Vec<Operation<'g>> {
        self.adam.finish(non_slots)
    }
}
