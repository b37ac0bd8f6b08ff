//! The global step: one i64 scalar, non-trainable variable named `global_step`.

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Tensor};
use crate::ops::Op;

/// The graph's `global_step` variable (i64 scalar, non-trainable, initialised to 0), created
/// at top level on first use. Pass it to an optimizer with
/// `Adam::new(1e-3).with_global_step(step)` to have the train op increment it after its
/// updates, and to schedules such as [`super::exponential_decay`].
///
/// Errors if a node named `global_step` exists but is not an i64 scalar variable.
pub fn get_or_create_global_step(g: &Graph) -> Result<Tensor<'_>> {
    if let Some(op) = g.operation_by_name("global_step") {
        return match g.node(op.index()).op {
            Op::Variable(v) if v.dtype == DType::I64 && v.shape.is_empty() => Ok(g
                .tensor_by_name("global_step")
                .expect("variables have an output")),
            _ => Err(Error::InvalidArgument(
                "node `global_step` exists but is not an i64 scalar variable".into(),
            )),
        };
    }
    let _top = g.top_level();
    let step = g.non_trainable_variable(
        "global_step",
        crate::init::zeros(&[]).with_dtype(DType::I64),
    );
    step.check()
}
