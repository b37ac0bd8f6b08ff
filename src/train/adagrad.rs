//! Adagrad (TF1's `AdagradOptimizer`). Slot `accumulator`, initialised to 0.1.

use super::optimizer::optimizer_common;
use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::{Error, Result};
use crate::ops::apply::ApplyAdagrad;

/// `accum += g²; var -= lr * g / sqrt(accum)`.
#[derive(Clone, Debug)]
pub struct Adagrad {
    options: OptimizerOptions,
    /// Initial value of every accumulator (default 0.1, must be > 0).
    pub initial_accumulator_value: f32,
}

impl Adagrad {
    /// Adagrad with learning rate `learning_rate` (constant or scalar tensor).
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adagrad {
            options: OptimizerOptions::new(learning_rate),
            initial_accumulator_value: 0.1,
        }
    }
    /// Sets the accumulators' initial value (default 0.1).
    pub fn initial_accumulator_value(mut self, value: f32) -> Self {
        self.initial_accumulator_value = value;
        self
    }
}

impl Optimizer for Adagrad {
    optimizer_common!("Adagrad");
    fn update_rule(&self) -> Result<UpdateRule> {
        let init = self.initial_accumulator_value;
        if init.is_nan() || init <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "Adagrad: initial_accumulator_value must be positive, got {init}"
            )));
        }
        Ok(UpdateRule {
            op: ApplyAdagrad.into(),
            slots: vec![("accumulator", init)],
        })
    }
}
