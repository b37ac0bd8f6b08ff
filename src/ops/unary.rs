//! Element-wise functions of one f32 tensor: neg, relu, sigmoid, tanh, exp, log, square, sqrt,
//! abs, identity and stop_gradient, and TF1's math and activations log1p, expm1, softplus,
//! elu, selu, gelu, sign, floor, rsqrt, reciprocal and erf. Shape rule: output = input.
//! The derivatives of the newer functions are fused kernels in [`super::unary_grad`].

use super::binary::{binary, BinaryKind};
use super::unary_grad::unary_grad;
use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
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
    /// `ln(1 + x)`, accurate near 0.
    Log1p,
    /// `e^x - 1`, accurate near 0.
    Expm1,
    /// `ln(1 + e^x)`, computed without overflow.
    Softplus,
    /// `x` where `x > 0`, else `e^x - 1`.
    Elu,
    /// `scale * x` where `x > 0`, else `scale * alpha * (e^x - 1)` (TF1's constants).
    Selu,
    /// `x * Φ(x) = x/2 * erfc(-x/√2)` (TF's exact gelu).
    Gelu,
    /// `x/2 * (1 + tanh(√(2/π) * (x + 0.044715 x³)))` (TF's `approximate=True`).
    GeluTanh,
    /// `-1`, `0` or `1`; NaN stays NaN.
    Sign,
    /// Largest integer not above `x`; no gradient (as TF1).
    Floor,
    /// `1 / √x`
    Rsqrt,
    /// `1 / x`
    Reciprocal,
    /// The error function `2/√π ∫₀ˣ e^(-t²) dt`.
    Erf,
    /// `0` (the gradient of `sign`); internal.
    ZerosLike,
}

/// SELU's `scale` (TF1's constant).
pub(crate) const SELU_SCALE: f32 = 1.050_701;
/// SELU's `alpha` (TF1's constant).
pub(crate) const SELU_ALPHA: f32 = 1.673_263_2;
/// `√(2/π)`, gelu's tanh-form constant.
pub(crate) const SQRT_2_OVER_PI: f32 = 0.797_884_6;

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
            UnaryKind::Log1p => x.ln_1p(),
            UnaryKind::Expm1 => x.exp_m1(),
            UnaryKind::Softplus => softplus_f32(x),
            UnaryKind::Elu => {
                if x < 0.0 {
                    x.exp_m1()
                } else {
                    x
                }
            }
            UnaryKind::Selu => {
                if x < 0.0 {
                    SELU_SCALE * SELU_ALPHA * x.exp_m1()
                } else {
                    SELU_SCALE * x
                }
            }
            UnaryKind::Gelu => {
                let x = x as f64;
                (0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)) as f32
            }
            UnaryKind::GeluTanh => {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
            }
            UnaryKind::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    // 0 stays 0 (sign kept), NaN stays NaN.
                    x
                }
            }
            UnaryKind::Floor => x.floor(),
            UnaryKind::Rsqrt => 1.0 / x.sqrt(),
            UnaryKind::Reciprocal => 1.0 / x,
            UnaryKind::Erf => libm::erff(x),
            UnaryKind::ZerosLike => 0.0,
        }
    }
}

/// `ln(1 + e^x)` as TF computes it: `x` itself above the point where `e^-x` vanishes, `e^x`
/// far below 0, else `log1p(e^x)`; NaN stays NaN.
#[inline(always)]
fn softplus_f32(x: f32) -> f32 {
    // TF's threshold: log(f32::EPSILON) + 2.
    const THRESHOLD: f32 = -13.942_385;
    if x > -THRESHOLD {
        x
    } else if x < THRESHOLD {
        x.exp()
    } else {
        x.exp().ln_1p()
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
            UnaryKind::Log1p => "Log1p",
            UnaryKind::Expm1 => "Expm1",
            UnaryKind::Softplus => "Softplus",
            UnaryKind::Elu => "Elu",
            UnaryKind::Selu => "Selu",
            UnaryKind::Gelu => "Gelu",
            UnaryKind::GeluTanh => "GeluTanh",
            UnaryKind::Sign => "Sign",
            UnaryKind::Floor => "Floor",
            UnaryKind::Rsqrt => "Rsqrt",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Erf => "Erf",
            UnaryKind::ZerosLike => "ZerosLike",
        }
    }
    fn takes_bool(&self) -> bool {
        matches!(self.kind, UnaryKind::Identity | UnaryKind::StopGradient)
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
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
            // Only identity and stop_gradient take bool operands (see `takes_bool`).
            ValueView::Bool(x) => {
                out.bool_buffer(x.shape()).assign(x);
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
            StopGradient,
            Log1p,
            Expm1,
            Softplus,
            Elu,
            Selu,
            Gelu,
            GeluTanh,
            Sign,
            Floor,
            Rsqrt,
            Reciprocal,
            Erf,
            ZerosLike
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
            UnaryKind::StopGradient | UnaryKind::LogOrZero | UnaryKind::Floor => None,
            UnaryKind::ZerosLike => Some(unary(UnaryKind::ZerosLike, dy)),
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
            | UnaryKind::Erf => Some(unary_grad(self.kind, dy, x, y)),
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
/// `ln(1 + x)`, element-wise, accurate for small `x` (TF1's `tf.math.log1p`). Gradient
/// `dy / (1 + x)`.
pub fn log1p(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Log1p, x)
}
/// `e^x - 1`, element-wise, accurate for small `x` (TF1's `tf.math.expm1`).
pub fn expm1(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Expm1, x)
}
/// `ln(1 + e^x)`, element-wise, without overflow (TF1's `tf.nn.softplus`). Gradient
/// `dy * sigmoid(x)`.
pub fn softplus(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Softplus, x)
}
/// Exponential linear unit, element-wise: `x` where `x > 0`, else `e^x - 1`
/// (TF1's `tf.nn.elu`).
pub fn elu(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Elu, x)
}
/// Scaled ELU, element-wise: `scale * x` where `x > 0`, else `scale * alpha * (e^x - 1)`, with
/// TF1's `scale ≈ 1.0507` and `alpha ≈ 1.6733` (`tf.nn.selu`).
pub fn selu(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Selu, x)
}
/// Gaussian error linear unit, element-wise (TF's `tf.nn.gelu`): `x * Φ(x)` computed as
/// `x/2 * erfc(-x/√2)`, or with `approximate` the tanh form
/// `x/2 * (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
pub fn gelu(x: Tensor<'_>, approximate: bool) -> Tensor<'_> {
    let kind = if approximate {
        UnaryKind::GeluTanh
    } else {
        UnaryKind::Gelu
    };
    unary(kind, x)
}
/// `-1`, `0` or `1` by the sign of `x`, element-wise; `-0` and NaN stay as they are
/// (TF1's `tf.sign`). Its gradient is zero.
pub fn sign(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Sign, x)
}
/// Largest integer not above `x`, element-wise (TF1's `tf.floor`). As in TF1 it has no
/// gradient: `gradients` answers `None` through it.
pub fn floor(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Floor, x)
}
/// `1 / √x`, element-wise (TF1's `tf.math.rsqrt`).
pub fn rsqrt(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Rsqrt, x)
}
/// `1 / x`, element-wise (TF1's `tf.math.reciprocal`).
pub fn reciprocal(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Reciprocal, x)
}
/// The error function, element-wise (TF1's `tf.math.erf`).
pub fn erf(x: Tensor<'_>) -> Tensor<'_> {
    unary(UnaryKind::Erf, x)
}
