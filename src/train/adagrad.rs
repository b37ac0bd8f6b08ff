//! Adagrad (TF1's `AdagradOptimizer`). Slot `accumulator`, initialised to 0.1.

use super::optimizer::{optimizer_options, ApplyCtx, LearningRate, OptimizerOptions};
use super::sgd::update_name;
use super::Optimizer;
use crate::error::{Error, Result};
use crate::graph::{Operation, Tensor};
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
    fn name(&self) -> &str {
        "Adagrad"
    }
    optimizer_options!();
    fn apply_updates<'g>(
        &self,
        ctx: &ApplyCtx<'g>,
        gv: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let init = self.initial_accumulator_value;
        if init.is_nan() || init <= 0.0 {
            return Err(Error::InvalidArgument(format!(
                "Adagrad: initial_accumulator_value must be positive, got {init}"
            )));
        }
        let ups: Vec<Operation<'g>> = gv
            .iter()
            .map(|(grad, var)| {
                let accum = ctx.slot(*var, "accumulator", init);
                ctx.graph.add_op(
                    ApplyAdagrad,
                    &[*var, accum, ctx.lr, *grad],
                    Some(&update_name(*var)),
                )
            })
            .collect();
        Ok(ctx.group(&ups))
    }
}
