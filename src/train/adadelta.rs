//! Adadelta (TF1's `AdadeltaOptimizer`). Slots `accum` and `accum_update` (zeros).

use super::optimizer::optimizer_common;
use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::{Error, Result};
use crate::ops::apply::ApplyAdadelta;

/// Adadelta as TF1's kernel computes it: `accum = rho * accum + (1 - rho) * g²`,
/// `update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g`,
/// `var -= lr * update`, `accum_update = rho * accum_update + (1 - rho) * update²`.
/// TF1's defaults: learning rate 0.001 (use 1.0 for the paper's method), rho 0.95,
/// epsilon 1e-8.
#[derive(Clone, Debug)]
pub struct Adadelta {
    options: OptimizerOptions,
    /// Decay of both running averages (default 0.95).
    pub rho: f32,
    /// Added under both square roots (default 1e-8).
    pub epsilon: f32,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta::new(1e-3)
    }
}

impl Adadelta {
    /// Adadelta with learning rate `learning_rate` (constant or scalar tensor) and TF1's
    /// defaults for rho and epsilon.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adadelta {
            options: OptimizerOptions::new(learning_rate),
            rho: 0.95,
            epsilon: 1e-8,
        }
    }
    /// Sets rho, the decay of the running averages (default 0.95).
    pub fn rho(mut self, rho: f32) -> Self {
        self.rho = rho;
        self
    }
    /// Sets epsilon (default 1e-8).
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Optimizer for Adadelta {
    optimizer_common!("Adadelta");
    fn update_rule(&self) -> Result<UpdateRule> {
        if !self.rho.is_finite() || !self.epsilon.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "Adadelta: rho ({}) and epsilon ({}) must be finite",
                self.rho, self.epsilon
            )));
        }
        Ok(UpdateRule {
            op: ApplyAdadelta {
                rho: self.rho,
                epsilon: self.epsilon,
            }
            .into(),
            slots: vec![("accum", 0.0), ("accum_update", 0.0)],
        })
    }
}
