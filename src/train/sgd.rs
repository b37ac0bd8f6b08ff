//! Plain gradient descent: `var -= lr * grad`.

use super::Optimizer;
use crate::error::Result;
use crate::graph::{Graph, Operation, Tensor};
use crate::ops::apply::ApplyGradientDescent;

/// Gradient descent with a fixed learning rate (TF1's `GradientDescentOptimizer`).
#[derive(Clone, Debug)]
pub struct GradientDescent {
    /// Learning rate.
    pub learning_rate: f32,
}

impl GradientDescent {
    /// Gradient descent with learning rate `learning_rate`.
    pub fn new(learning_rate: f32) -> Self {
        GradientDescent { learning_rate }
    }
}

impl Optimizer for GradientDescent {
    fn name(&self) -> &str {
        "GradientDescent"
    }
    fn apply_gradients<'g>(
        &self,
        g: &'g Graph,
        _scope: &str,
        gv: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let lr = g.constant(self.learning_rate).named("learning_rate");
        let ups: Vec<Operation<'g>> = gv
            .iter()
            .map(|(grad, var)| g.add_op(ApplyGradientDescent, &[*var, lr, *grad], Some("update")))
            .collect();
        Ok(crate::ops::state::group_named(g, &ups, "apply"))
    }
}
