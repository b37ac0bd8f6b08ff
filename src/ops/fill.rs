//! Tensors of one value or of a sequence: `zeros_like` / `ones_like` (any dtype), `fill`
//! (a shape filled with a scalar tensor) and `range` (TF1's `tf.zeros_like`, `tf.ones_like`,
//! `tf.fill`, `tf.range`).

use super::array::Elem;
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Graph, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};

/// Zeros (`ones` false) or ones of the operand's shape and dtype (true for bool ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FillLike {
    /// Ones instead of zeros.
    pub ones: bool,
}

impl OpDef for FillLike {
    fn kind(&self) -> &'static str {
        if self.ones {
            "OnesLike"
        } else {
            "ZerosLike"
        }
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].dtype == DType::Bytes {
            return Err(super::NO_BYTES.into());
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let shape = inputs[0].shape();
        let one = self.ones;
        match inputs[0].dtype() {
            DType::F32 => out.f32_buffer(shape).fill(if one { 1.0 } else { 0.0 }),
            DType::I64 => out.i64_buffer(shape).fill(one as i64),
            DType::Bool => out.bool_buffer(shape).fill(one),
            DType::Bytes => return Err(super::NO_BYTES.into()),
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// Zeros with `x`'s shape (known at run time) and dtype (TF1's `tf.zeros_like`); `false` for
/// bool. No gradient flows to `x`.
pub fn zeros_like(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(FillLike { ones: false }, &[x])
}

/// Ones with `x`'s shape (known at run time) and dtype (TF1's `tf.ones_like`); `true` for
/// bool. No gradient flows to `x`.
pub fn ones_like(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(FillLike { ones: true }, &[x])
}

/// A tensor of `shape` whose every element is the scalar operand (TF1's `tf.fill`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FillShape {
    /// The output shape.
    pub shape: Vec<usize>,
}

fn fill_kernel<T: Elem>(v: &ArrayViewD<T>, shape: &[usize], out: &mut Value) {
    let x = *v.iter().next().expect("checked scalar");
    T::buffer(out, shape).fill(x);
}

impl OpDef for FillShape {
    fn kind(&self) -> &'static str {
        "Fill"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].dtype == DType::Bytes {
            return Err(super::NO_BYTES.into());
        }
        if i[0].shape.rank() != 0 {
            return Err(format!("value must be a scalar, got shape {}", i[0].shape));
        }
        Ok(Some(TensorInfo::new(i[0].dtype, Shape::known(&self.shape))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        if !inputs[0].shape().is_empty() {
            return Err(format!(
                "value must be a scalar, got shape {:?}",
                inputs[0].shape()
            ));
        }
        match &inputs[0] {
            ValueView::F32(v) => fill_kernel(v, &self.shape, out),
            ValueView::I64(v) => fill_kernel(v, &self.shape, out),
            ValueView::Bool(v) => fill_kernel(v, &self.shape, out),
            ValueView::Bytes(_) => return Err(super::NO_BYTES.into()),
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![Some(super::reduce::reduce_sum_all(c.dy))])
    }
}

/// `shape` filled with the scalar `value` (TF1's `tf.fill(dims, value)`), of `value`'s dtype
/// (f32, i64 or bool). The gradient w.r.t. `value` is the sum of `dy`.
pub fn fill<'g>(shape: &[usize], value: Tensor<'g>) -> Tensor<'g> {
    value.graph().add(
        FillShape {
            shape: shape.to_vec(),
        },
        &[value],
    )
}

/// The numbers `start, start + delta, ...` up to but excluding `limit` (TF1's `tf.range`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Range {
    /// f32 numbers, element `i` being `start + i * delta`.
    F32 {
        /// First number.
        start: f32,
        /// Bound, excluded.
        limit: f32,
        /// Step (nonzero).
        delta: f32,
    },
    /// i64 numbers.
    I64 {
        /// First number.
        start: i64,
        /// Bound, excluded.
        limit: i64,
        /// Step (nonzero).
        delta: i64,
    },
}

impl Range {
    /// The element count, with TF1's checks (`delta != 0`, the bound on `delta`'s side).
    fn len(&self) -> Result<usize, String> {
        // Checked in the element type: i64 bounds near each other must not round together.
        let (zero, past) = match *self {
            Range::F32 {
                start,
                limit,
                delta,
            } => {
                if !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
                    return Err(format!(
                        "start {start}, limit {limit} and delta {delta} must be finite"
                    ));
                }
                (
                    delta == 0.0,
                    (delta > 0.0 && start > limit) || (delta < 0.0 && start < limit),
                )
            }
            Range::I64 {
                start,
                limit,
                delta,
            } => (
                delta == 0,
                (delta > 0 && start > limit) || (delta < 0 && start < limit),
            ),
        };
        if zero {
            return Err("delta must not be 0".into());
        }
        if past {
            let (s, l, d) = match self {
                Range::F32 {
                    start,
                    limit,
                    delta,
                } => (start.to_string(), limit.to_string(), delta.to_string()),
                Range::I64 {
                    start,
                    limit,
                    delta,
                } => (start.to_string(), limit.to_string(), delta.to_string()),
            };
            return Err(format!(
                "start {s} is past limit {l} for delta {d} (TF1 requires start <= limit for delta > 0, start >= limit for delta < 0)"
            ));
        }
        let n = match *self {
            // As TF1: computed in the element type.
            Range::F32 {
                start,
                limit,
                delta,
            } => ((limit - start) / delta).abs().ceil() as f64,
            Range::I64 {
                start,
                limit,
                delta,
            } => {
                let span = (limit as i128 - start as i128).unsigned_abs();
                let step = (delta as i128).unsigned_abs();
                span.div_ceil(step) as f64
            }
        };
        if n > (isize::MAX as usize / 8) as f64 {
            return Err(format!("the range has {n} elements: too many"));
        }
        Ok(n as usize)
    }
}

impl OpDef for Range {
    fn kind(&self) -> &'static str {
        "Range"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 0)?;
        let dtype = match self {
            Range::F32 { .. } => DType::F32,
            Range::I64 { .. } => DType::I64,
        };
        Ok(Some(TensorInfo::new(dtype, Shape::known(&[self.len()?]))))
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], out: &mut Value) -> Result<(), String> {
        let n = self.len()?;
        match *self {
            Range::F32 { start, delta, .. } => {
                let o = out.f32_buffer(&[n]);
                o.iter_mut()
                    .enumerate()
                    .for_each(|(i, o)| *o = start + i as f32 * delta);
            }
            Range::I64 { start, delta, .. } => {
                let o = out.i64_buffer(&[n]);
                o.iter_mut()
                    .enumerate()
                    .for_each(|(i, o)| *o = start.wrapping_add((i as i64).wrapping_mul(delta)));
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![])
    }
}

/// Element types [`range`] works on: f32 and i64, as TF1's `tf.range`.
pub trait RangeElem: Copy {
    /// The op for these bounds.
    fn range_op(start: Self, limit: Self, delta: Self) -> Range;
}

impl RangeElem for f32 {
    fn range_op(start: f32, limit: f32, delta: f32) -> Range {
        Range::F32 {
            start,
            limit,
            delta,
        }
    }
}

impl RangeElem for i64 {
    fn range_op(start: i64, limit: i64, delta: i64) -> Range {
        Range::I64 {
            start,
            limit,
            delta,
        }
    }
}

/// `[start, start + delta, ...]` up to but excluding `limit` (TF1's `tf.range(start, limit,
/// delta)`), a vector `[ceil((limit - start) / delta)]` of f32 or i64. `delta` must be
/// nonzero and point from `start` towards `limit` (or `start == limit`: empty); otherwise a
/// build error, as TF1's.
pub fn range<T: RangeElem>(g: &Graph, start: T, limit: T, delta: T) -> Tensor<'_> {
    g.add(T::range_op(start, limit, delta), &[])
}
