//! Element-wise functions of one f32 tensor: neg, relu, sigmoid, tanh, exp, log, square, sqrt,
//! identity and stop_gradient. Shape rule: output = input.

use super::binary::{binary, BinaryKind};
use super::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Tensor, TensorInfo, Value, ValueView};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// Which element-wise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryKind {
    /// `-x`
    Neg,
    /// `max(x, 0)`
    Relu,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `tanh(x)`
    Tanh,
    /// `e^x`
    Exp,
    /// `ln x`
    Log,
    /// `ln x` where `x > 0`, else 0 (used by the gradient of `pow`).
    LogOrZero,
    /// `x²`
    Square,
    /// `√x`
    Sqrt,
    /// `|x|`
    Abs,
    /// `x`
    Identity,
    /// `x`, but no gradient flows through.
    StopGradient,
}

/// An element-wise function of one tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unary {
    /// Which function.
    pub kind: UnaryKind,
}

impl UnaryKind {
    #[inline]
    fn apply(self, x: f32) -> f32 {
        match self {
            UnaryKind::Neg => -x,
            UnaryKind::Relu => relu_f32(x),
            UnaryKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryKind::Tanh => x.tanh(),
            UnaryKind::Exp => x.exp(),
            UnaryKind::Log => x.ln(),
            UnaryKind::LogOrZero => {
                if x > 0.0 {
                    x.ln()
                } else {
                    0.0
                }
            }
            UnaryKind::Square => x * x,
            UnaryKind::Sqrt => x.sqrt(),
            UnaryKind::Abs => x.abs(),
            UnaryKind::Identity | UnaryKind::StopGradient => x,
        }
    }
}

impl OpDef for Unary {
    fn kind(&self) -> &'static str {
        match self.kind {
            UnaryKind::Neg => "Neg",
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::LogOrZero => "LogOrZero",
            UnaryKind::Square => "Square",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Abs => "Abs",
            UnaryKind::Identity => "Identity",
            UnaryKind::StopGradient => "StopGradient",
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 1 {
            return Err(format!("takes one operand, got {}", i.len()));
        }
        if !matches!(
            self.kind,
            UnaryKind::Identity | UnaryKind::StopGradient | UnaryKind::Neg
        ) {
            expect_f32(self.kind(), i[0])?;
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = match &inputs[0] {
            ValueView::I64(x) => {
                let o = out.i64_buffer(x.shape());
                match self.kind {
                    UnaryKind::Neg => Zip::from(o).and(x).for_each(|o, &x| *o = x.wrapping_neg()),
                    _ => o.assign(x),
                }
                return Ok(());
            }
            ValueView::F32(x) => x,
            ValueView::Bytes(_) => return Err(super::NO_BYTES.into()),
        };
        let o = out.f32_buffer(x.shape());
        // Match the kind once so each kind gets its own vectorisable loop.
        macro_rules! per_kind {
            ($($kind:ident),*) => {
                match self.kind {
                    $(UnaryKind::$kind => map_f32(|v| UnaryKind::$kind.apply(v), x, o),)*
                }
            };
        }
        per_kind!(
            Neg,
            Relu,
            Sigmoid,
            Tanh,
            Exp,
            Log,
            LogOrZero,
            Square,
            Sqrt,
            Abs,
            Identity,
            StopGradient
        );
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, y, dy) = (c.inputs[0], c.output, c.dy);
        let dx = match self.kind {
            UnaryKind::Neg => Some(-dy),
            UnaryKind::Relu => Some(binary(BinaryKind::ReluGrad, dy, y)),
            UnaryKind::Sigmoid => Some(binary(BinaryKind::SigmoidGrad, dy, y)),
            UnaryKind::Tanh => Some(binary(BinaryKind::TanhGrad, dy, y)),
            UnaryKind::Exp => Some(dy * y),
            UnaryKind::Log => Some(dy / x),
            UnaryKind::Square => Some(dy * (x * 2.0)),
            UnaryKind::Sqrt => Some(dy / (y * 2.0)),
            UnaryKind::Abs => Some(dy * binary(BinaryKind::Sign, x, x)),
            UnaryKind::Identity => Some(dy),
            UnaryKind::StopGradient | UnaryKind::LogOrZero => None,
        };
        Ok(vec![dx])
    }
}

/// `max(x, 0)` with TF's NaN semantics: NaN stays NaN (`f32::max` would answer 0). Compiles
/// to one `maxps(0, x)`.
#[inline(always)]
pub(crate) fn relu_f32(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[inline(always)]
fn map_f32<F: Fn(f32) -> f32>(f: F, x: &ndarray::ArrayViewD<f32>, o: &mut ndarray::ArrayD<f32>) {
    match (o.as_slice_mut(), x.as_slice()) {
        (Some(o), Some(x)) => o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x)),
        _ => Zip::from(o).and(x).for_each(|o, &x| *o = f(x)),
    }
}

/// Adds a unary node.
pub(crate) fn unary(kind: UnaryKind, x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(Unary { kind }, &[x])
}

/// `-x`.
pub fn neg(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Neg, x)
}
/// `max(x, 0)`, element-wise.
pub fn relu(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Relu, x)
}
/// Logistic sigmoid, element-wise.
pub fn sigmoid(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Sigmoid, x)
}
/// Hyperbolic tangent, element-wise.
pub fn tanh(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Tanh, x)
}
/// `e^x`, element-wise.
pub fn exp(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Exp, x)
}
/// Natural logarithm, element-wise.
pub fn log(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Log, x)
}
/// `x²`, element-wise.
pub fn square(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Square, x)
}
/// `√x`, element-wise.
pub fn sqrt(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Sqrt, x)
}
/// `|x|`, element-wise.
pub fn abs(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Abs, x)
}
/// `x` itself as a new node (useful to name a value or to feed it).
pub fn identity(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Identity, x)
}
/// `x` in the forward pass; blocks gradients (TF1's `tf.stop_gradient`).
pub fn stop_gradient(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::StopGradient, x)
}
/// A tensor that equals `default` unless fed (TF1's `tf.placeholder_with_default`): any
/// tensor can be fed, so this is a named identity.
pub fn placeholder_with_default<'g>(default: Tensor<'g>, name: &str) -> Tensor<'g> {
    identity(default).named(name)
}
