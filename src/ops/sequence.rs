//! Ops over the last axis or a sequence axis: `top_k` (values and indices), `sequence_mask`
//! and `reverse_sequence` (TF1's `tf.nn.top_k`, `tf.sequence_mask`, `tf.reverse_sequence`).

use super::array::{norm_axis, Elem};
use super::{expect_arity, expect_i64, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, Zip};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

// ---------------------------------------------------------------------------------------------
// TopK

/// The `k` largest entries of each row (last axis) of `x`, largest first, ties in index order
/// (TF1's `TopKV2`): the values (`indices` false) or their i64 positions (`indices` true).
/// `[.., n] -> [.., k]`; `k <= n`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    /// How many entries per row.
    pub k: usize,
    /// TF1's `sorted`: the entries come largest first either way (TF1 leaves the order
    /// unspecified when false).
    pub sorted: bool,
    /// Output the positions instead of the values.
    pub indices: bool,
}

fn top_k_kernel<T: Elem>(x: &ArrayViewD<T>, s: &TopK, out: &mut Value) -> Result<(), String> {
    let n = *x.shape().last().ok_or("input must have rank >= 1")?;
    if s.k > n {
        return Err(format!(
            "input must have at least k = {} entries in its last axis, has {n}",
            s.k
        ));
    }
    let mut shape: Dims = x.shape().into();
    *shape.last_mut().expect("rank >= 1") = s.k;
    let last = Axis(x.ndim() - 1);
    let mut order: Vec<usize> = Vec::with_capacity(n);
    // Larger first; stable, so ties keep index order.
    let by_value = |row: &ndarray::ArrayView1<T>, a: &usize, b: &usize| {
        row[*b].partial_cmp(&row[*a]).unwrap_or(Ordering::Equal)
    };
    if s.indices {
        let o = out.i64_buffer(&shape);
        Zip::from(o.lanes_mut(last))
            .and(x.lanes(last))
            .for_each(|mut o, row| {
                order.clear();
                order.extend(0..n);
                order.sort_by(|a, b| by_value(&row, a, b));
                o.iter_mut().zip(&order).for_each(|(o, &i)| *o = i as i64);
            });
    } else {
        let o = T::buffer(out, &shape);
        Zip::from(o.lanes_mut(last))
            .and(x.lanes(last))
            .for_each(|mut o, row| {
                order.clear();
                order.extend(0..n);
                order.sort_by(|a, b| by_value(&row, a, b));
                o.iter_mut().zip(&order).for_each(|(o, &i)| *o = row[i]);
            });
    }
    Ok(())
}

impl OpDef for TopK {
    fn kind(&self) -> &'static str {
        if self.indices {
            "TopKIndices"
        } else {
            "TopKV2"
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if !matches!(i[0].dtype, DType::F32 | DType::I64) {
            return Err(format!("input must be f32 or i64, got {}", i[0].dtype));
        }
        let Some(&last) = i[0].shape.0.last() else {
            return Err("input must have rank >= 1, got a scalar".into());
        };
        if let Some(n) = last.filter(|&n| n < self.k) {
            return Err(format!(
                "input must have at least k = {} entries in its last axis, has {n}",
                self.k
            ));
        }
        let mut d = i[0].shape.0.clone();
        *d.last_mut().expect("rank >= 1") = Some(self.k);
        let dtype = if self.indices { DType::I64 } else { i[0].dtype };
        Ok(Some(TensorInfo::new(dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        match &inputs[0] {
            ValueView::F32(x) => top_k_kernel(x, self, out),
            ValueView::I64(x) => top_k_kernel(x, self, out),
            ValueView::Bool(_) => Err(super::NO_BOOL.into()),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        if self.indices {
            return Ok(vec![None]);
        }
        let x = c.inputs[0];
        let idx = c.graph.add(
            TopK {
                indices: true,
                ..self.clone()
            },
            &[x],
        );
        Ok(vec![Some(c.graph.add(TopKGrad, &[c.dy, idx, x]))])
    }
}

/// The gradient of [`TopK`]'s values: zeros shaped like `x` with `dy` at the positions.
/// Inputs `(dy [.., k], indices i64 [.., k], x [.., n])`; only `x`'s runtime shape is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopKGrad;

impl OpDef for TopKGrad {
    fn kind(&self) -> &'static str {
        "TopKGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 3)?;
        super::expect_f32("TopKGrad", i[0])?;
        expect_i64("indices", i[1])?;
        if !i[0].shape.compatible(&i[1].shape) || i[2].shape.rank() != i[1].shape.rank() {
            return Err(format!(
                "gradient {}, indices {} and input {} do not fit",
                i[0].shape, i[1].shape, i[2].shape
            ));
        }
        Ok(Some(TensorInfo::new(DType::F32, i[2].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, idx, like) = (inputs[0].f32(), inputs[1].i64(), inputs[2].shape());
        let r = like.len();
        let fits = r >= 1
            && dy.shape() == idx.shape()
            && dy.ndim() == r
            && dy.shape()[..r - 1] == like[..r - 1];
        if !fits {
            return Err(format!(
                "gradient {:?} and indices {:?} do not fit input {like:?}",
                dy.shape(),
                idx.shape()
            ));
        }
        let n = like[r - 1];
        let o = out.f32_buffer(like);
        o.fill(0.0);
        let last = Axis(r - 1);
        let mut bad = None;
        Zip::from(o.lanes_mut(last))
            .and(dy.lanes(last))
            .and(idx.lanes(last))
            .for_each(|mut o, d, i| {
                for (&d, &i) in d.iter().zip(i.iter()) {
                    match usize::try_from(i).ok().filter(|&i| i < n) {
                        Some(i) => o[i] += d,
                        None => bad = Some(i),
                    }
                }
            });
        match bad {
            Some(i) => Err(format!("index {i} is out of range [0, {n})")),
            None => Ok(()),
        }
    }
}

/// The `k` largest entries of each row (last axis) of `x` and their positions (TF1's
/// `tf.nn.top_k(x, k, sorted)`): `[.., n]` f32 or i64 -> `(values [.., k], indices i64
/// [.., k])`, largest first, ties in index order as TF1 on CPU. `k > n` is an error (at build
/// time if `n` is known). The gradient w.r.t. `x` puts the values' gradient back at the
/// positions (zeros elsewhere); the indices have none. Entries come largest first even when
/// `sorted` is false (TF1 then leaves the order unspecified).
pub fn top_k(x: Tensor<'_>, k: usize, sorted: bool) -> (Tensor<'_>, Tensor<'_>) {
    let g = x.graph();
    let values = g.add(
        TopK {
            k,
            sorted,
            indices: false,
        },
        &[x],
    );
    let indices = g.add(
        TopK {
            k,
            sorted,
            indices: true,
        },
        &[x],
    );
    (values, indices)
}

// ---------------------------------------------------------------------------------------------
// SequenceMask

/// `mask[.., j] = j < lengths[..]` (TF1's `tf.sequence_mask`): i64 `[..]` -> `[.., maxlen]`
/// of `dtype`; `maxlen` `None` takes the largest length at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceMask {
    /// Mask width, or `None` for the largest length.
    pub maxlen: Option<usize>,
    /// Output dtype: bool, f32 (1/0) or i64 (1/0).
    pub dtype: DType,
}

impl OpDef for SequenceMask {
    fn kind(&self) -> &'static str {
        "SequenceMask"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_i64("lengths", i[0])?;
        if self.dtype == DType::Bytes {
            return Err("the mask dtype must be bool, f32 or i64".into());
        }
        let mut d = i[0].shape.0.clone();
        d.push(self.maxlen);
        Ok(Some(TensorInfo::new(self.dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let len = inputs[0].i64();
        let m = match self.maxlen {
            Some(m) => m,
            None => len.iter().copied().max().unwrap_or(0).max(0) as usize,
        };
        let mut shape: Dims = len.shape().into();
        shape.push(m);
        let row = |l: i64, j: usize| (j as i64) < l;
        let last = Axis(shape.len() - 1);
        macro_rules! fill {
            ($buf:expr, $on:expr, $off:expr) => {
                Zip::from($buf.lanes_mut(last))
                    .and(len)
                    .for_each(|mut o, &l| {
                        o.iter_mut()
                            .enumerate()
                            .for_each(|(j, o)| *o = if row(l, j) { $on } else { $off })
                    })
            };
        }
        match self.dtype {
            DType::Bool => fill!(out.bool_buffer(&shape), true, false),
            DType::F32 => fill!(out.try_f32_buffer(&shape)?, 1.0, 0.0),
            DType::I64 => fill!(out.i64_buffer(&shape), 1, 0),
            DType::Bytes => return Err(super::NO_BYTES.into()),
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// A mask of the first `lengths[..]` positions (TF1's `tf.sequence_mask(lengths, maxlen,
/// dtype)`): i64 `[..]` -> `[.., maxlen]` of `dtype` (bool true/false, f32 or i64 1/0), its
/// width `maxlen` or, if `None`, the largest length (known at run time). Negative lengths
/// give empty rows.
pub fn sequence_mask(lengths: Tensor<'_>, maxlen: Option<usize>, dtype: DType) -> Tensor<'_> {
    lengths
        .graph()
        .add(SequenceMask { maxlen, dtype }, &[lengths])
}

// ---------------------------------------------------------------------------------------------
// ReverseSequence

/// Reverses the first `seq_lengths[b]` entries along `seq_axis` of each slice `b` along
/// `batch_axis` (TF1's `ReverseSequence`); inputs `(x, seq_lengths i64 [batch])`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReverseSequence {
    /// The time axis (non-negative, as TF1).
    pub seq_axis: i64,
    /// The batch axis (non-negative, as TF1).
    pub batch_axis: i64,
}

impl ReverseSequence {
    fn axes(&self, rank: usize) -> Result<(usize, usize), String> {
        if self.seq_axis < 0 || self.batch_axis < 0 {
            return Err(format!(
                "seq_axis {} and batch_axis {} must be non-negative (as in TF1)",
                self.seq_axis, self.batch_axis
            ));
        }
        let (s, b) = (
            norm_axis(self.seq_axis, rank)?,
            norm_axis(self.batch_axis, rank)?,
        );
        if s == b {
            return Err(format!("seq_axis and batch_axis are both axis {s}"));
        }
        Ok((s, b))
    }
}

fn reverse_sequence_kernel<T: Elem>(
    x: &ArrayViewD<T>,
    lens: &ArrayViewD<i64>,
    (seq, batch): (usize, usize),
    out: &mut Value,
) -> Result<(), String> {
    let (t, nb) = (x.shape()[seq], x.shape()[batch]);
    if lens.ndim() != 1 || lens.len() != nb {
        return Err(format!(
            "seq_lengths {:?} must be a vector of the batch dimension {nb}",
            lens.shape()
        ));
    }
    if let Some((b, &l)) = lens
        .iter()
        .enumerate()
        .find(|(_, &l)| l < 0 || l as u64 > t as u64)
    {
        return Err(format!(
            "seq_lengths[{b}] = {l} is outside [0, {t}] (the size of seq_axis {seq})"
        ));
    }
    let o = T::buffer(out, x.shape());
    o.assign(x);
    // Within one batch slice, the sequence axis shifts down if it came after the batch axis.
    let s = if seq > batch { seq - 1 } else { seq };
    for (b, &l) in lens.iter().enumerate() {
        let l = l as usize;
        let src = x.index_axis(Axis(batch), b);
        let mut dst = o.index_axis_mut(Axis(batch), b);
        for j in 0..l {
            dst.index_axis_mut(Axis(s), j)
                .assign(&src.index_axis(Axis(s), l - 1 - j));
        }
    }
    Ok(())
}

impl OpDef for ReverseSequence {
    fn kind(&self) -> &'static str {
        "ReverseSequence"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_i64("seq_lengths", i[1])?;
        let (_, b) = self.axes(i[0].shape.rank())?;
        if i[1].shape.rank() != 1 || !Shape(vec![i[0].shape.0[b]]).compatible(&i[1].shape) {
            return Err(format!(
                "seq_lengths {} must be a vector of the batch dimension (axis {b} of {})",
                i[1].shape, i[0].shape
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
        let axes = self.axes(inputs[0].shape().len())?;
        let lens = inputs[1].i64();
        match &inputs[0] {
            ValueView::F32(x) => reverse_sequence_kernel(x, lens, axes, out),
            ValueView::I64(x) => reverse_sequence_kernel(x, lens, axes, out),
            ValueView::Bool(x) => reverse_sequence_kernel(x, lens, axes, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dx = c.graph.add(self.clone(), &[c.dy, c.inputs[1]]);
        Ok(vec![Some(dx), None])
    }
}

/// Reverses the first `seq_lengths[b]` entries along `seq_axis` of every batch entry `b`
/// along `batch_axis`, leaving the rest in place (TF1's `tf.reverse_sequence`): `x [.., T,
/// ..]`, `seq_lengths` i64 `[batch]` -> `x`'s shape. The axes are distinct and non-negative
/// (as TF1); a length outside `[0, T]` is a runtime error naming it. The gradient reverses `dy` the same way; none flows to the lengths.
pub fn reverse_sequence<'g>(
    x: Tensor<'g>,
    seq_lengths: Tensor<'g>,
    seq_axis: i64,
    batch_axis: i64,
) -> Tensor<'g> {
    x.graph().add(
        ReverseSequence {
            seq_axis,
            batch_axis,
        },
        &[x, seq_lengths],
    )
}
