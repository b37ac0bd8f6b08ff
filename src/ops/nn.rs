//! Softmax family over the last axis: `softmax`, `log_softmax`, and the fused, numerically
//! stable losses `softmax_cross_entropy_with_logits` and
//! `sparse_softmax_cross_entropy_with_logits` (TF1's `tf.nn.*`), with `SparseXentGrad`, the
//! fused gradient of the sparse loss.

use super::array::{contiguous, expand_dims};
use super::reduce::reduce_sum;
use super::unary::exp;
use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Shape, Tensor, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};

/// TF1 keeps dropout in `tf.nn`; the op lives with the other random ops.
pub use super::random::dropout;

/// `max(row)` and `ln(sum(exp(row - max)))`: `log_sum_exp(row) = max + lse_shift`.
#[inline]
fn log_sum_exp(row: &[f32]) -> f32 {
    let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let s: f32 = row.iter().map(|&v| (v - m).exp()).sum();
    m + s.ln()
}

/// Writes `softmax(row)` into `o`.
#[inline]
fn softmax_row(row: &[f32], o: &mut [f32]) {
    let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut s = 0.0;
    for (o, &v) in o.iter_mut().zip(row) {
        *o = (v - m).exp();
        s += *o;
    }
    let inv = 1.0 / s;
    o.iter_mut().for_each(|o| *o *= inv);
}

fn last_dim(s: &[usize]) -> Result<usize, String> {
    s.last()
        .copied()
        .ok_or_else(|| "needs rank >= 1 (a class axis), got a scalar".to_string())
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax

/// `softmax` (or `log_softmax` if `log`) over the last axis; shape unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    /// Compute `log(softmax(x))` (stably, as `x - logsumexp(x)`).
    pub log: bool,
}

impl OpDef for Softmax {
    fn kind(&self) -> &'static str {
        if self.log {
            "LogSoftmax"
        } else {
            "Softmax"
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_f32(self.kind(), i[0])?;
        if i[0].shape.rank() == 0 {
            return Err("needs rank >= 1 (a class axis), got a scalar".into());
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].f32();
        let c = last_dim(x.shape())?;
        let xs = contiguous(x);
        let o = out.f32_buffer(x.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            return Ok(());
        }
        for (o, row) in o.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
            if self.log {
                let lse = log_sum_exp(row);
                o.iter_mut().zip(row).for_each(|(o, &v)| *o = v - lse);
            } else {
                softmax_row(row, o);
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (y, dy) = (c.output, c.dy);
        let dx = if self.log {
            // d/dx (x - lse(x)) = dy - softmax(x) * sum(dy)
            dy - exp(y) * reduce_sum(dy, &[-1], true)
        } else {
            // y * (dy - sum(dy * y))
            (dy - reduce_sum(dy * y, &[-1], true)) * y
        };
        Ok(vec![Some(dx)])
    }
}

/// Softmax over the last axis (TF1's `tf.nn.softmax`): `[.., C] -> [.., C]`, every row sums
/// to 1. Computed stably (the row maximum is subtracted first).
pub fn softmax(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(Softmax { log: false }, &[x])
}

/// `log(softmax(x))` over the last axis, computed stably as `x - logsumexp(x)` (TF1's
/// `tf.nn.log_softmax`): `[.., C] -> [.., C]`.
pub fn log_softmax(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(Softmax { log: true }, &[x])
}

// ---------------------------------------------------------------------------------------------
// Dense cross-entropy

/// Per-example cross-entropy between `labels` (a distribution per row) and `softmax(logits)`,
/// fused and stable: inputs `(labels [.., C], logits [.., C])`, output `[..]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxCrossEntropyWithLogits;

fn class_rule(i: &[&TensorInfo], labels_dtype: DType) -> Result<(), String> {
    expect_arity(i, 2)?;
    if i[0].dtype != labels_dtype {
        return Err(format!("labels must be {labels_dtype}, got {}", i[0].dtype));
    }
    if i[1].dtype != DType::F32 {
        return Err(format!("logits must be f32, got {}", i[1].dtype));
    }
    if i[1].shape.rank() == 0 {
        return Err("logits need rank >= 1 (a class axis), got a scalar".into());
    }
    Ok(())
}

fn merge(a: &Shape, b: &Shape) -> Shape {
    Shape(a.0.iter().zip(&b.0).map(|(x, y)| x.or(*y)).collect())
}

impl OpDef for SoftmaxCrossEntropyWithLogits {
    fn kind(&self) -> &'static str {
        "SoftmaxCrossEntropyWithLogits"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        class_rule(i, DType::F32)?;
        if !i[0].shape.compatible(&i[1].shape) {
            return Err(format!(
                "labels shape {} differs from logits shape {}",
                i[0].shape, i[1].shape
            ));
        }
        let mut s = merge(&i[0].shape, &i[1].shape);
        s.0.pop();
        Ok(Some(TensorInfo::new(DType::F32, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (labels, logits) = (inputs[0].f32(), inputs[1].f32());
        if labels.shape() != logits.shape() {
            return Err(format!(
                "labels shape {:?} differs from logits shape {:?}",
                labels.shape(),
                logits.shape()
            ));
        }
        let c = last_dim(logits.shape())?;
        let shape = &logits.shape()[..logits.ndim() - 1];
        let (ls, xs) = (contiguous(labels), contiguous(logits));
        let o = out.f32_buffer(shape);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            o.fill(0.0);
            return Ok(());
        }
        for ((o, x), l) in o.iter_mut().zip(xs.chunks_exact(c)).zip(ls.chunks_exact(c)) {
            let lse = log_sum_exp(x);
            *o = x.iter().zip(l).map(|(&x, &l)| l * (lse - x)).sum();
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (labels, logits) = (c.inputs[0], c.inputs[1]);
        let dy = expand_dims(c.dy, -1);
        // As in TF: d/dlogits = softmax - labels (labels are assumed to sum to 1 per row).
        let dlogits = (softmax(logits) - labels) * dy;
        let dlabels = -log_softmax(logits) * dy;
        Ok(vec![Some(dlabels), Some(dlogits)])
    }
}

/// Per-example softmax cross-entropy (TF1's `tf.nn.softmax_cross_entropy_with_logits`):
/// `labels [.., C]` (a probability distribution per row), `logits [.., C]` -> `[..]`, equal to
/// `-sum(labels * log_softmax(logits), -1)`, computed stably in one kernel. The gradient
/// w.r.t. `logits` is `(softmax(logits) - labels) * dy` as in TF (exact when label rows sum
/// to 1); w.r.t. `labels` it is `-log_softmax(logits) * dy`.
pub fn softmax_cross_entropy_with_logits<'g>(labels: Tensor<'g>, logits: Tensor<'g>) -> Tensor<'g> {
    logits
        .graph()
        .add(SoftmaxCrossEntropyWithLogits, &[labels, logits])
}

// ---------------------------------------------------------------------------------------------
// Sparse cross-entropy

/// Per-example cross-entropy with integer class labels, fused and stable: inputs
/// `(labels i64 [..], logits [.., C])`, output `[..]`, `logsumexp(logits) - logits[label]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseSoftmaxCrossEntropyWithLogits;

fn sparse_rule(i: &[&TensorInfo]) -> Result<Shape, String> {
    class_rule(&i[..2.min(i.len())], DType::I64)?;
    let mut batch = i[1].shape.clone();
    batch.0.pop();
    if !i[0].shape.compatible(&batch) {
        return Err(format!(
            "labels shape {} must equal logits shape {} without its last (class) axis",
            i[0].shape, i[1].shape
        ));
    }
    Ok(merge(&i[0].shape, &batch))
}

/// Checks runtime shapes and returns the class count.
fn sparse_shapes(labels: &[usize], logits: &[usize]) -> Result<usize, String> {
    let c = last_dim(logits)?;
    if labels != &logits[..logits.len() - 1] {
        return Err(format!(
            "labels shape {labels:?} must equal logits shape {logits:?} without its last axis"
        ));
    }
    Ok(c)
}

#[inline]
fn check_label(l: i64, pos: usize, c: usize) -> Result<usize, String> {
    if l < 0 || l as u64 >= c as u64 {
        return Err(format!(
            "label {l} (at flat position {pos}) is out of range [0, {c})"
        ));
    }
    Ok(l as usize)
}

impl OpDef for SparseSoftmaxCrossEntropyWithLogits {
    fn kind(&self) -> &'static str {
        "SparseSoftmaxCrossEntropyWithLogits"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        Ok(Some(TensorInfo::new(DType::F32, sparse_rule(i)?)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (labels, logits) = (inputs[0].i64(), inputs[1].f32());
        let c = sparse_shapes(labels.shape(), logits.shape())?;
        let (ls, xs) = (contiguous(labels), contiguous(logits));
        let o = out.f32_buffer(labels.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            return match ls.first() {
                Some(&l) => check_label(l, 0, c).map(|_| ()),
                None => Ok(()),
            };
        }
        for (pos, ((o, x), &l)) in o
            .iter_mut()
            .zip(xs.chunks_exact(c))
            .zip(ls.iter())
            .enumerate()
        {
            let l = check_label(l, pos, c)?;
            *o = log_sum_exp(x) - x[l];
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let d = c
            .graph
            .add(SparseXentGrad, &[c.inputs[0], c.inputs[1], c.dy]);
        Ok(vec![None, Some(d)])
    }
}

/// Per-example softmax cross-entropy with class indices (TF1's
/// `tf.nn.sparse_softmax_cross_entropy_with_logits`): `labels` i64 `[..]`, `logits [.., C]`
/// -> `[..]`, equal to `-log_softmax(logits)[label]`, fused and stable. A label outside
/// `[0, C)` is a runtime error naming it. No gradient flows to `labels`.
pub fn sparse_softmax_cross_entropy_with_logits<'g>(
    labels: Tensor<'g>,
    logits: Tensor<'g>,
) -> Tensor<'g> {
    logits
        .graph()
        .add(SparseSoftmaxCrossEntropyWithLogits, &[labels, logits])
}

/// Fused gradient of the sparse loss w.r.t. logits: `(softmax(logits) - one_hot(labels)) *
/// dy[.., None]`. Inputs `(labels i64 [..], logits [.., C], dy [..])`, output `[.., C]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseXentGrad;

impl OpDef for SparseXentGrad {
    fn kind(&self) -> &'static str {
        "SparseXentGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 3)?;
        sparse_rule(i)?;
        expect_f32("SparseXentGrad", i[2])?;
        Ok(Some(TensorInfo::new(DType::F32, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (labels, logits, dy) = (inputs[0].i64(), inputs[1].f32(), inputs[2].f32());
        let c = sparse_shapes(labels.shape(), logits.shape())?;
        if dy.shape() != labels.shape() {
            return Err(format!(
                "gradient shape {:?} differs from labels shape {:?}",
                dy.shape(),
                labels.shape()
            ));
        }
        let (ls, xs, ds) = (contiguous(labels), contiguous(logits), contiguous(dy));
        let o = out.f32_buffer(logits.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            return Ok(());
        }
        for (pos, (((o, x), &l), &d)) in o
            .chunks_exact_mut(c)
            .zip(xs.chunks_exact(c))
            .zip(ls.iter())
            .zip(ds.iter())
            .enumerate()
        {
            let l = check_label(l, pos, c)?;
            softmax_row(x, o);
            o[l] -= 1.0;
            o.iter_mut().for_each(|o| *o *= d);
        }
        Ok(())
    }
}
