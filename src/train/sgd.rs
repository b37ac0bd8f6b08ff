//! Plain gradient descent: `var -= lr * grad`.

use super::optimizer::{optimizer_options, ApplyCtx, LearningRate, OptimizerOptions};
use super::Optimizer;
use crate::error::Result;
use crate::graph::{Operation, Tensor};
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
    fn name(&self) -> &str {
        "GradientDescent"
    }
    optimizer_options!();
    fn apply_updates<'g>(
        &self,
        ctx: &ApplyCtx<'g>,
        gv: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let ups: Vec<Operation<'g>> = gv
            .iter()
            .map(|(grad, var)| {
                ctx.graph.add_op(
                    ApplyGradientDescent,
                    &[*var, ctx.lr, *grad],
                    Some(&update_name(*var)),
                )
            })
            .collect();
        Ok(ctx.group(&ups))
    }
}

/// Name of the update node of `var`, e.g. `update_shared/w` (TF1 style).
pub(crate) fn update_name(var: Tensor<'_>) -> String {
    format!("update_{}", var.name())
}
