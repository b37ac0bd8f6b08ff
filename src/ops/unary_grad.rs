//! The derivatives of the element-wise functions of [`super::unary`] that TF1 computes with a
//! fused gradient kernel (`SoftplusGrad`, `EluGrad`, `SeluGrad`, `RsqrtGrad`, ...): one op
//! `UnaryGrad { kind }` with inputs `(dy, x, y)` (the forward input and output, all of one
//! shape) whose kernel writes `dy * f'(x)` the way TF1 does, NaN and infinities included.

use super::unary::{UnaryKind, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI};
use super::{expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Tensor, TensorInfo, Value, ValueView};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// `dy * f'(x)` for the element-wise function `kind`; inputs `(dy, x, y = f(x))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnaryGrad {
    /// The forward function.
    pub kind: UnaryKind,
}

/// `2/√π`, the scale of erf's derivative.
const TWO_OVER_SQRT_PI: f32 = std::f32::consts::FRAC_2_SQRT_PI;

/// `dy * f'(x)` given `y = f(x)`, each as TF1's gradient kernel or gradient function.
#[inline(always)]
fn derivative(kind: UnaryKind, dy: f32, x: f32, y: f32) -> f32 {
    match kind {
        // TF1: grad * reciprocal(1 + x).
        UnaryKind::Log1p => dy * (1.0 / (1.0 + x)),
        // TF1: grad * exp(x).
        UnaryKind::Expm1 => dy * x.exp(),
        // SoftplusGrad: dy / (1 + exp(-x)).
        UnaryKind::Softplus => dy / (1.0 + (-x).exp()),
        // EluGrad: y < 0 ? dy * (y + 1) : dy.
        UnaryKind::Elu => {
            if y < 0.0 {
                dy * (y + 1.0)
            } else {
                dy
            }
        }
        // SeluGrad: y < 0 ? dy * (y + scale * alpha) : dy * scale.
        UnaryKind::Selu => {
            if y < 0.0 {
                dy * (y + SELU_SCALE * SELU_ALPHA)
            } else {
                dy * SELU_SCALE
            }
        }
        // d/dx x/2 erfc(-x/√2) = erfc(-x/√2)/2 + x e^(-x²/2) / √(2π).
        UnaryKind::Gelu => {
            let (x, dy) = (x as f64, dy as f64);
            let pdf = (-0.5 * x * x).exp() * 0.5 * std::f64::consts::FRAC_2_SQRT_PI
                / std::f64::consts::SQRT_2;
            (dy * (0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2) + x * pdf)) as f32
        }
        // d/dx x/2 (1 + tanh(u)), u = c (x + 0.044715 x³).
        UnaryKind::GeluTanh => {
            let t = (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh();
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
            dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
        }
        // TF1's gradient of sign is zeros (not dy * 0: a NaN dy gives 0).
        UnaryKind::Sign => 0.0,
        // RsqrtGrad: dy * -0.5 * y³.
        UnaryKind::Rsqrt => -0.5 * dy * (y * y * y),
        // ReciprocalGrad: -dy * y².
        UnaryKind::Reciprocal => -dy * (y * y),
        // TF1: grad * 2/√π * exp(-x²).
        UnaryKind::Erf => dy * (TWO_OVER_SQRT_PI * (-(x * x)).exp()),
        _ => f32::NAN,
    }
}

/// Kinds with a [`UnaryGrad`] kernel.
fn has_kernel(kind: UnaryKind) -> bool {
    matches!(
        kind,
        UnaryKind::Log1p
            | UnaryKind::Expm1
            | UnaryKind::Softplus
            | UnaryKind::Elu
            | UnaryKind::Selu
            | UnaryKind::Gelu
            | UnaryKind::GeluTanh
            | UnaryKind::Sign
            | UnaryKind::Rsqrt
            | UnaryKind::Reciprocal
            | UnaryKind::Erf
    )
}

impl OpDef for UnaryGrad {
    fn kind(&self) -> &'static str {
        "UnaryGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["dy", "x", "y"])?;
        if !has_kernel(self.kind) {
            return Err(format!("no fused gradient kernel for {:?}", self.kind));
        }
        for t in i {
            expect_f32("UnaryGrad", t)?;
        }
        if !(i[0].shape.compatible(&i[1].shape) && i[1].shape.compatible(&i[2].shape)) {
            return Err(format!(
                "dy, x and y must have one shape, got {}, {} and {}",
                i[0].shape, i[1].shape, i[2].shape
            ));
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, x, y) = (inputs[0].f32(), inputs[1].f32(), inputs[2].f32());
        if dy.shape() != x.shape() || x.shape() != y.shape() {
            return Err(format!(
                "dy, x and y must have one shape, got {:?}, {:?} and {:?}",
                dy.shape(),
                x.shape(),
                y.shape()
            ));
        }
        let o = out.f32_buffer(dy.shape());
        let k = self.kind;
        macro_rules! per_kind {
            ($($kind:ident),*) => {
                match k {
                    $(UnaryKind::$kind => Zip::from(o).and(dy).and(x).and(y).for_each(
                        |o, &dy, &x, &y| *o = derivative(UnaryKind::$kind, dy, x, y)),)*
                    _ => return Err(format!("no fused gradient kernel for {k:?}")),
                }
            };
        }
        per_kind!(Log1p, Expm1, Softplus, Elu, Selu, Gelu, GeluTanh, Sign, Rsqrt, Reciprocal, Erf);
        Ok(())
    }
    // Gradients of gradients are not needed (no second-order methods), as for ReluGrad.
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Err(super::NoGradient)
    }
}

/// `dy * f'(x)` for the element-wise function `kind`, given `y = f(x)`.
pub(crate) fn unary_grad<'g>(
    kind: UnaryKind,
    dy: Tensor<'g>,
    x: Tensor<'g>,
    y: Tensor<'g>,
) -> Tensor<'g> {
    dy.graph().add(UnaryGrad { kind }, &[dy, x, y])
}
