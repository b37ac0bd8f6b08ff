//! Plain gradient descent: `var -= lr * grad`.

use super::optimizer::optimizer_common;
use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::Result;
use crate::ops::apply::ApplyGradientDescent;

/// Gradient descent (TF1's `GradientDescentOptimizer`).
#[derive(Clone, Debug)]
pub struct GradientDescent {
    options: OptimizerOptions,
}

impl GradientDescent {
    /// Gradient descent with learning rate `learning_rate` (a constant or a scalar tensor).
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        GradientDescent {
            options: OptimizerOptions::new(learning_rate),
        }
    }
}

impl Optimizer for GradientDescent {
    optimizer_common!("GradientDescent");
    fn update_rule(&self) -> Result<UpdateRule> {
        Ok(UpdateRule {
            op: ApplyGradientDescent.into(),
            slots: vec![],
        })
    }
}
