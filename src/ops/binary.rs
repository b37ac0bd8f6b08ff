//! Element-wise functions of two tensors with NumPy broadcasting: add, sub, mul, div, pow,
//! maximum, minimum, equal, plus the fused activation gradients (relu/sigmoid/tanh grad).

use super::reduce::reduce_to_shape_of;
use super::unary::{unary, UnaryKind};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{broadcast_dims, DType, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// Which element-wise function of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryKind {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
    /// `max(a, b)`
    Maximum,
    /// `min(a, b)`
    Minimum,
    /// `1.0` where `a == b`, else `0.0` (f32 output).
    Equal,
    /// `1.0` where `a >= b`, else `0.0`.
    GreaterEqual,
    /// `sign(a)` (`b` ignored); used by the gradient of `abs`.
    Sign,
    /// `a * (b > 0)`: relu's gradient with `a = dy`, `b = relu(x)`.
    ReluGrad,
    /// `a * b * (1 - b)`: sigmoid's gradient with `b = sigmoid(x)`.
    SigmoidGrad,
    /// `a * (1 - b²)`: tanh's gradient with `b = tanh(x)`.
    TanhGrad,
}

/// An element-wise function of two broadcast operands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    /// Which function.
    pub kind: BinaryKind,
}

/// `max(a, b)`, NaN if either is NaN (TF's `maximum`; `f32::max` drops NaN).
#[inline(always)]
pub(crate) fn max_nan(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// `min(a, b)`, NaN if either is NaN (TF's `minimum`).
#[inline(always)]
pub(crate) fn min_nan(a: f32, b: f32) -> f32 {
    if a < b || a.is_nan() {
        a
    } else {
        b
    }
}

/// Relu's gradient `dy * (y > 0)` as TF computes it: a NaN or infinite `dy` where the unit
/// is off gives NaN (`0 * NaN`), not 0.
#[inline(always)]
pub(crate) fn relu_grad_f32(dy: f32, y: f32) -> f32 {
    dy * if y > 0.0 { 1.0 } else { 0.0 }
}

impl BinaryKind {
    #[inline(always)]
    fn f(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Pow => a.powf(b),
            BinaryKind::Maximum => max_nan(a, b),
            BinaryKind::Minimum => min_nan(a, b),
            BinaryKind::Equal => (a == b) as u8 as f32,
            BinaryKind::GreaterEqual => (a >= b) as u8 as f32,
            BinaryKind::Sign => {
                if a > 0.0 {
                    1.0
                } else if a < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            BinaryKind::ReluGrad => relu_grad_f32(a, b),
            BinaryKind::SigmoidGrad => a * b * (1.0 - b),
            BinaryKind::TanhGrad => a * (1.0 - b * b),
        }
    }
    #[inline(always)]
    fn i(self, a: i64, b: i64) -> i64 {
        match self {
            BinaryKind::Add => a.wrapping_add(b),
            BinaryKind::Sub => a.wrapping_sub(b),
            BinaryKind::Mul => a.wrapping_mul(b),
            // b == 0 is refused before the loop; MIN / -1 wraps to MIN as in TF1.
            BinaryKind::Div => a.checked_div(b).unwrap_or(a.wrapping_neg()),
            BinaryKind::Maximum => a.max(b),
            BinaryKind::Minimum => a.min(b),
            BinaryKind::Equal => (a == b) as i64,
            BinaryKind::GreaterEqual => (a >= b) as i64,
            _ => 0,
        }
    }
    fn name(self) -> &'static str {
        match self {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Pow => "Pow",
            BinaryKind::Maximum => "Maximum",
            BinaryKind::Minimum => "Minimum",
            BinaryKind::Equal => "Equal",
            BinaryKind::GreaterEqual => "GreaterEqual",
            BinaryKind::Sign => "Sign",
            BinaryKind::ReluGrad => "ReluGrad",
            BinaryKind::SigmoidGrad => "SigmoidGrad",
            BinaryKind::TanhGrad => "TanhGrad",
        }
    }
    fn int_ok(self) -> bool {
        matches!(
            self,
            BinaryKind::Add
                | BinaryKind::Sub
                | BinaryKind::Mul
                | BinaryKind::Div
                | BinaryKind::Maximum
                | BinaryKind::Minimum
                | BinaryKind::Equal
                | BinaryKind::GreaterEqual
        )
    }
    fn is_comparison(self) -> bool {
        matches!(self, BinaryKind::Equal | BinaryKind::GreaterEqual)
    }
}

impl OpDef for Binary {
    fn kind(&self) -> &'static str {
        self.kind.name()
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        if i[0].dtype != i[1].dtype {
            return Err(format!(
                "operand dtypes differ ({} vs {})",
                i[0].dtype, i[1].dtype
            ));
        }
        if i[0].dtype == DType::I64 && !self.kind.int_ok() {
            return Err(format!("{} is not defined for i64", self.kind.name()));
        }
        let shape = i[0].shape.broadcast(&i[1].shape)?;
        let dtype = if self.kind.is_comparison() {
            DType::F32
        } else {
            i[0].dtype
        };
        Ok(Some(TensorInfo { dtype, shape }))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let k = self.kind;
        match (&inputs[0], &inputs[1]) {
            (ValueView::F32(a), ValueView::F32(b)) => {
                let shape = broadcast_dims(a.shape(), b.shape())?;
                binary_f32(k, a, b, out.f32_buffer(&shape));
            }
            (ValueView::I64(a), ValueView::I64(b)) => {
                let shape = broadcast_dims(a.shape(), b.shape())?;
                if k.is_comparison() {
                    let o = out.f32_buffer(&shape);
                    let (a, b) = (
                        a.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                        b.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                    );
                    Zip::from(o)
                        .and(&a)
                        .and(&b)
                        .for_each(|o, &a, &b| *o = k.i(a, b) as f32);
                } else {
                    if k == BinaryKind::Div && b.iter().any(|&v| v == 0) {
                        // TF1's message (an error, not a number).
                        return Err("Integer division by zero".into());
                    }
                    let o = out.i64_buffer(&shape);
                    let (a, b) = (
                        a.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                        b.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                    );
                    Zip::from(o)
                        .and(&a)
                        .and(&b)
                        .for_each(|o, &a, &b| *o = k.i(a, b));
                }
            }
            _ => return Err("operand dtypes differ".into()),
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (a, b, y, dy) = (c.inputs[0], c.inputs[1], c.output, c.dy);
        let (da, db) = match self.kind {
            BinaryKind::Add => (Some(dy), Some(dy)),
            BinaryKind::Sub => (Some(dy), Some(-dy)),
            BinaryKind::Mul => (Some(dy * b), Some(dy * a)),
            BinaryKind::Div => (Some(dy / b), Some(-(dy * y) / b)),
            BinaryKind::Pow => (
                Some(dy * b * binary(BinaryKind::Pow, a, b - 1.0)),
                Some(dy * y * unary(UnaryKind::LogOrZero, a)),
            ),
            BinaryKind::Maximum | BinaryKind::Minimum => {
                let (hi, lo) = if self.kind == BinaryKind::Maximum {
                    (a, b)
                } else {
                    (b, a)
                };
                // 1 where `a` is the selected operand (ties go to `a`).
                let ma = binary(BinaryKind::GreaterEqual, hi, lo);
                (Some(dy * ma), Some(dy * (1.0 - ma)))
            }
            BinaryKind::Equal | BinaryKind::GreaterEqual | BinaryKind::Sign => (None, None),
            // Gradients of gradients are not needed (no second-order methods).
            BinaryKind::ReluGrad | BinaryKind::SigmoidGrad | BinaryKind::TanhGrad => {
                return Err(super::NoGradient)
            }
        };
        Ok(vec![
            da.map(|g| reduce_to_shape_of(g, a)),
            db.map(|g| reduce_to_shape_of(g, b)),
        ])
    }
}

/// `out = k(a, b)` with broadcasting; `out` already has the broadcast shape.
///
/// The kind is matched once, outside the loops: each kind gets its own monomorphised,
/// vectorisable loop instead of a branch per element.
fn binary_f32(k: BinaryKind, a: &ArrayViewD<f32>, b: &ArrayViewD<f32>, out: &mut ArrayD<f32>) {
    macro_rules! per_kind {
        ($($kind:ident),*) => {
            match k {
                $(BinaryKind::$kind => binary_f32_with(|x, y| BinaryKind::$kind.f(x, y), a, b, out),)*
            }
        };
    }
    per_kind!(
        Add,
        Sub,
        Mul,
        Div,
        Pow,
        Maximum,
        Minimum,
        Equal,
        GreaterEqual,
        Sign,
        ReluGrad,
        SigmoidGrad,
        TanhGrad
    )
}

#[inline(always)]
fn binary_f32_with<F: Fn(f32, f32) -> f32>(
    f: F,
    a: &ArrayViewD<f32>,
    b: &ArrayViewD<f32>,
    out: &mut ArrayD<f32>,
) {
    let o = out.as_slice_mut().expect("buffers are contiguous");
    match (a.as_slice(), b.as_slice()) {
        (Some(x), Some(y)) if x.len() == o.len() && y.len() == o.len() => {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                *o = f(x, y);
            }
            return;
        }
        (Some(x), Some(&[y])) if x.len() == o.len() => {
            for (o, &x) in o.iter_mut().zip(x) {
                *o = f(x, y);
            }
            return;
        }
        (Some(&[x]), Some(y)) if y.len() == o.len() => {
            for (o, &y) in o.iter_mut().zip(y) {
                *o = f(x, y);
            }
            return;
        }
        // Row broadcast: a is [.., n] contiguous, b is [n] (a bias).
        (Some(x), Some(y))
            if x.len() == o.len()
                && !y.is_empty()
                && x.len() % y.len() == 0
                && b.shape().last() == Some(&y.len())
                && a.shape().last() == Some(&y.len())
                && b.shape().iter().rev().skip(1).all(|&d| d == 1) =>
        {
            for (oc, xc) in o.chunks_exact_mut(y.len()).zip(x.chunks_exact(y.len())) {
                for ((o, &x), &y) in oc.iter_mut().zip(xc).zip(y) {
                    *o = f(x, y);
                }
            }
            return;
        }
        _ => {}
    }
    let shape = out.raw_dim();
    let a = a.broadcast(shape.clone()).expect("shape checked");
    let b = b.broadcast(shape).expect("shape checked");
    Zip::from(out)
        .and(&a)
        .and(&b)
        .for_each(|o, &x, &y| *o = f(x, y));
}

/// Adds a binary node.
pub(crate) fn binary<'g>(kind: BinaryKind, a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    a.graph().add(Binary { kind }, &[a, b])
}

/// `a + b` with broadcasting (also `a + b` on tensors).
pub fn add<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Add, a, b)
}
/// `a - b` with broadcasting.
pub fn sub<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Sub, a, b)
}
/// `a * b` element-wise with broadcasting (not a matrix product).
pub fn mul<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Mul, a, b)
}
/// `a / b` with broadcasting.
pub fn div<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Div, a, b)
}
/// `a ^ b` element-wise with broadcasting.
pub fn pow<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Pow, a, b)
}
/// Element-wise maximum with broadcasting.
pub fn maximum<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Maximum, a, b)
}
/// Element-wise minimum with broadcasting.
pub fn minimum<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Minimum, a, b)
}
/// `1.0` where `a == b`, else `0.0`, as f32 in one node (TF's `equal` then `cast` to float);
/// the heads' accuracy counts use it. The public `equal` answers bool ([`super::compare`]).
pub(crate) fn equal_f32<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    binary(BinaryKind::Equal, a, b)
}
/// Clips every element to `[lo, hi]`; the gradient passes where the value was inside. As in
/// TF1 it is `maximum(minimum(x, hi), lo)`: NaN stays NaN, and `lo > hi` gives `lo`.
pub fn clip_by_value(x: Tensor<'_>, lo: f32, hi: f32) -> Tensor<'_> {
    let g = x.graph();
    maximum(minimum(x, g.constant(hi)), g.constant(lo))
}
