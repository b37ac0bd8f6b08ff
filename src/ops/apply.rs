//! Optimizer update kernels (TF1's `ApplyGradientDescent`, `ApplyAdam`, ...): each writes a
//! variable (and its slots) in place from a gradient. Inputs: the written variables first,
//! then the learning rate, then the gradient (and any other read-only inputs).

use super::{KernelCtx, OpDef};
use crate::graph::{DType, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};

/// Checks `(vars..., lr, grad...)` operands: f32 everywhere, scalar lr, gradient shaped like
/// the variable.
pub(crate) fn check_apply(
    name: &str,
    i: &[&TensorInfo],
    n_vars: usize,
) -> Result<Option<TensorInfo>, String> {
    if i.len() < n_vars + 2 {
        return Err(format!(
            "{name} takes {} operands, got {}",
            n_vars + 2,
            i.len()
        ));
    }
    if let Some(bad) = i.iter().find(|t| t.dtype != DType::F32) {
        return Err(format!("{name} needs f32 operands, got {}", bad.dtype));
    }
    if i[n_vars].shape.rank() != 0 {
        return Err(format!(
            "learning rate must be a scalar, got {}",
            i[n_vars].shape
        ));
    }
    let grad = i[i.len() - 1];
    if !grad.shape.compatible(&i[0].shape) {
        return Err(format!(
            "gradient shape {} differs from variable shape {}",
            grad.shape, i[0].shape
        ));
    }
    Ok(None)
}

/// Gradient and variable as flat slices with equal length, or a runtime error.
pub(crate) fn flat<'a>(
    var: &'a mut Value,
    grad: &'a ValueView,
) -> Result<(&'a mut [f32], &'a [f32]), String> {
    let (Value::F32(v), ValueView::F32(g)) = (var, grad) else {
        return Err("optimizer updates need f32 values".into());
    };
    if v.shape() != g.shape() {
        return Err(format!(
            "gradient shape {:?} differs from variable shape {:?}",
            g.shape(),
            v.shape()
        ));
    }
    let v = v.as_slice_mut().ok_or("variable is not contiguous")?;
    let g = g.as_slice().ok_or("gradient is not contiguous")?;
    Ok((v, g))
}

/// `var -= lr * grad`. Inputs `(var, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyGradientDescent;

impl OpDef for ApplyGradientDescent {
    fn kind(&self) -> &'static str {
        "ApplyGradientDescent"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        check_apply(self.kind(), i, 1)
    }
    fn mutated_inputs(&self) -> usize {
        1
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err("internal: runs through update".into())
    }
    fn update(
        &self,
        _: &mut KernelCtx,
        vars: &mut [&mut Value],
        inputs: &[ValueView],
    ) -> Result<(), String> {
        let lr = inputs[0].f32().iter().next().copied().unwrap_or(0.0);
        let (v, g) = flat(vars[0], &inputs[1])?;
        v.iter_mut().zip(g).for_each(|(v, g)| *v -= lr * g);
        Ok(())
    }
}
