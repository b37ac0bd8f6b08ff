//! RMSProp (TF1's `RMSPropOptimizer`, not centered). Slots `rms` (initialised to 1.0, as in
//! TF1) and `momentum` (zeros).

use super::optimizer::optimizer_common;
use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::Result;
use crate::ops::apply::ApplyRMSProp;

/// `ms = ms + (g² - ms) * (1 - decay); mom = mom * momentum + lr * g / sqrt(ms + epsilon);
/// var -= mom`. Defaults: decay 0.9, momentum 0.0, epsilon 1e-10.
#[derive(Clone, Debug)]
pub struct RMSProp {
    options: OptimizerOptions,
    /// Decay of the mean square.
    pub decay: f32,
    /// Momentum coefficient.
    pub momentum: f32,
    /// Added to the mean square under the root.
    pub epsilon: f32,
}

impl RMSProp {
    /// RMSProp with learning rate `learning_rate` (constant or scalar tensor) and TF1's
    /// defaults for the other hyper-parameters.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        RMSProp {
            options: OptimizerOptions::new(learning_rate),
            decay: 0.9,
            momentum: 0.0,
            epsilon: 1e-10,
        }
    }
    /// Sets the decay (default 0.9).
    pub fn decay(mut self, decay: f32) -> Self {
        self.decay = decay;
        self
    }
    /// Sets the momentum (default 0.0).
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets epsilon (default 1e-10).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Optimizer for RMSProp {
    optimizer_common!("RMSProp");
    fn update_rule(&self) -> Result<UpdateRule> {
        Ok(UpdateRule {
            op: ApplyRMSProp {
                rho: self.decay,
                momentum: self.momentum,
                epsilon: self.epsilon,
            }
            .into(),
            slots: vec![("rms", 1.0), ("momentum", 0.0)],
        })
    }
}
