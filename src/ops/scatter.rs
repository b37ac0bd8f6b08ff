//! Index ops on any axis and their scatter duals: `gather_axis` (TF1's `tf.gather` with
//! `axis`), `unsorted_segment_sum`, `gather_nd` and `scatter_nd`. Each gather's gradient is
//! a scatter-add and each scatter's gradient a gather:
//! `gather_axis` <-> [`SegmentSum`] (the kernel of `unsorted_segment_sum`), `scatter_nd` <->
//! `gather_nd`.

use super::array::{contiguous, norm_axis, Elem};
use super::{expect_arity, expect_f32, expect_i64, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};

fn index_error(v: i64, pos: usize, n: usize) -> String {
    format!("index {v} (at flat position {pos}) is out of range [0, {n})")
}

// ---------------------------------------------------------------------------------------------
// GatherAxis

/// Slices of `params` along `axis` picked by i64 `indices` (TF1's `tf.gather(params,
/// indices, axis)`, `GatherV2`): `params [p.., N, q..]`, `indices [i..]` -> `[p.., i.., q..]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatherAxis {
    /// The indexed axis of `params` (negative counts from the end).
    pub axis: i64,
    /// Negative indices give zeros instead of an error (the gradient of
    /// `unsorted_segment_sum`, which drops negative segment ids).
    pub drop_negatives: bool,
}

fn gather_axis_kernel<T: Elem>(
    p: &ArrayViewD<T>,
    idx: &ArrayViewD<i64>,
    axis: usize,
    drop_negatives: bool,
    out: &mut Value,
) -> Result<(), String> {
    let s = p.shape();
    let (pre, n, post): (usize, usize, usize) = (
        s[..axis].iter().product(),
        s[axis],
        s[axis + 1..].iter().product(),
    );
    let mut shape: Dims = s[..axis].into();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&s[axis + 1..]);
    let (p, idx) = (contiguous(p), contiguous(idx));
    let o = T::buffer(out, &shape);
    let o = o.as_slice_mut().expect("buffers are contiguous");
    let m = idx.len();
    for (pos, &v) in idx.iter().enumerate() {
        if (v < 0 && !drop_negatives) || v >= n as i64 {
            return Err(index_error(v, pos, n));
        }
    }
    for a in 0..pre {
        for (j, &v) in idx.iter().enumerate() {
            let dst = &mut o[(a * m + j) * post..][..post];
            if v < 0 {
                dst.fill(T::default());
            } else {
                dst.copy_from_slice(&p[(a * n + v as usize) * post..][..post]);
            }
        }
    }
    Ok(())
}

impl OpDef for GatherAxis {
    fn kind(&self) -> &'static str {
        "GatherV2"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        super::gather::gather_info(i, self.axis)
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let axis = norm_axis(self.axis, inputs[0].shape().len())?;
        let idx = inputs[1].i64();
        let d = self.drop_negatives;
        match &inputs[0] {
            ValueView::F32(p) => gather_axis_kernel(p, idx, axis, d, out),
            ValueView::I64(p) => gather_axis_kernel(p, idx, axis, d, out),
            ValueView::Bool(p) => gather_axis_kernel(p, idx, axis, d, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (params, indices) = (c.inputs[0], c.inputs[1]);
        let axis = norm_axis(self.axis, params.shape().rank()).map_err(|_| super::NoGradient)?;
        let dp = c.graph.add(
            SegmentSum {
                axis,
                num_segments: None,
            },
            &[c.dy, indices, params],
        );
        Ok(vec![Some(dp), None])
    }
}

/// Slices of `params` along `axis` (negative counts from the end) picked by i64 `indices`
/// (TF1's `tf.gather(params, indices, axis=axis)`): `params [p.., N, q..]`, `indices [i..]`
/// -> `[p.., i.., q..]`; f32, i64 or bool. An index outside `[0, N)` is a runtime error
/// naming it, as on TF1's CPU. The gradient w.r.t. `params` scatter-adds `dy` back (the
/// [`unsorted_segment_sum`] kernel). `gather_axis(p, i, 0)` equals [`gather`](super::gather::gather).
pub fn gather_axis<'g>(params: Tensor<'g>, indices: Tensor<'g>, axis: i64) -> Tensor<'g> {
    params.graph().add(
        GatherAxis {
            axis,
            drop_negatives: false,
        },
        &[params, indices],
    )
}

// ---------------------------------------------------------------------------------------------
// SegmentSum

/// Sums slices of `data` into segments along `axis` (TF1's `UnsortedSegmentSum` on axis 0):
/// inputs `(data [p.., i.., q..], ids i64 [i..])` -> `[p.., num_segments, q..]` where `p..`
/// are `axis` leading dimensions. With `num_segments` `None` a third input `like` gives it
/// at run time (its dimension `axis`): the gradient of `gather_axis`. Negative ids are
/// dropped, ids `>= num_segments` are errors (as TF1 on CPU).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentSum {
    /// Where the segment axis is in the output (0 for `unsorted_segment_sum`).
    pub axis: usize,
    /// The segment count, or `None` to read it from the third input.
    pub num_segments: Option<usize>,
}

impl OpDef for SegmentSum {
    fn kind(&self) -> &'static str {
        if self.num_segments.is_some() {
            "UnsortedSegmentSum"
        } else {
            "GatherV2Grad"
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2 + self.num_segments.is_none() as usize)?;
        expect_f32(self.kind(), i[0])?;
        expect_i64("segment ids", i[1])?;
        let (rd, ri) = (i[0].shape.rank(), i[1].shape.rank());
        if rd < self.axis + ri {
            return Err(format!(
                "data of rank {rd} cannot hold segment ids of rank {ri} after {} leading axes",
                self.axis
            ));
        }
        let lead = &i[0].shape.0[self.axis..self.axis + ri];
        if !Shape(lead.to_vec()).compatible(&i[1].shape) {
            return Err(format!(
                "data {} must have the segment ids' shape {} at axis {}",
                i[0].shape, i[1].shape, self.axis
            ));
        }
        let n = match self.num_segments {
            Some(n) => Some(n),
            None => {
                if i[2].shape.rank() <= self.axis {
                    return Err(format!("like {} has no axis {}", i[2].shape, self.axis));
                }
                i[2].shape.0[self.axis]
            }
        };
        let mut d = i[0].shape.0[..self.axis].to_vec();
        d.push(n);
        d.extend_from_slice(&i[0].shape.0[self.axis + ri..]);
        Ok(Some(TensorInfo::new(DType::F32, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (data, ids) = (inputs[0].f32(), inputs[1].i64());
        let n = match self.num_segments {
            Some(n) => n,
            None => *inputs[2]
                .shape()
                .get(self.axis)
                .ok_or("like has too few axes")?,
        };
        let (s, ri, axis) = (data.shape(), ids.ndim(), self.axis);
        if s.len() < axis + ri || s[axis..axis + ri] != *ids.shape() {
            return Err(format!(
                "data {s:?} must have the segment ids' shape {:?} at axis {axis}",
                ids.shape()
            ));
        }
        let pre: usize = s[..axis].iter().product();
        let post: usize = s[axis + ri..].iter().product();
        let mut shape: Dims = s[..axis].into();
        shape.push(n);
        shape.extend_from_slice(&s[axis + ri..]);
        let (d, ids) = (contiguous(data), contiguous(ids));
        let m = ids.len();
        for (pos, &v) in ids.iter().enumerate() {
            if v >= n as i64 {
                return Err(index_error(v, pos, n));
            }
        }
        let o = out.f32_buffer(&shape);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        o.fill(0.0);
        for a in 0..pre {
            for (j, &v) in ids.iter().enumerate() {
                if v < 0 {
                    continue;
                }
                let src = &d[(a * m + j) * post..][..post];
                let dst = &mut o[(a * n + v as usize) * post..][..post];
                dst.iter_mut().zip(src).for_each(|(o, &s)| *o += s);
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dd = c.graph.add(
            GatherAxis {
                axis: self.axis as i64,
                drop_negatives: true,
            },
            &[c.dy, c.inputs[1]],
        );
        let mut g = vec![Some(dd), None];
        if self.num_segments.is_none() {
            g.push(None);
        }
        Ok(g)
    }
}

/// Sums the slices of `data` that share a segment id (TF1's `tf.unsorted_segment_sum`):
/// `data [i.., q..]` f32, `segment_ids` i64 `[i..]` -> `[num_segments, q..]`; segments no id
/// names are zero, negative ids are dropped, an id `>= num_segments` is a runtime error.
/// The gradient w.r.t. `data` gathers `dy` by the ids (zeros for dropped ones).
pub fn unsorted_segment_sum<'g>(
    data: Tensor<'g>,
    segment_ids: Tensor<'g>,
    num_segments: usize,
) -> Tensor<'g> {
    data.graph().add(
        SegmentSum {
            axis: 0,
            num_segments: Some(num_segments),
        },
        &[data, segment_ids],
    )
}

// ---------------------------------------------------------------------------------------------
// ScatterNd / GatherNd

/// The `[outer, k]` layout of n-d indices `[i.., k]` into a tensor of `shape`: per index the
/// flat offset of its slice, and the slice size `prod(shape[k..])`.
fn nd_offsets(idx: &ArrayViewD<i64>, shape: &[usize]) -> Result<(Vec<usize>, usize), String> {
    let Some(&k) = idx.shape().last() else {
        return Err("indices must have rank >= 1 (their last axis indexes)".into());
    };
    if k > shape.len() {
        return Err(format!(
            "indices of depth {k} cannot index a tensor of rank {}",
            shape.len()
        ));
    }
    let slice: usize = shape[k..].iter().product();
    let rows: usize = idx.shape()[..idx.ndim() - 1].iter().product();
    let idx = contiguous(idx);
    let mut offs = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut off = 0usize;
        for j in 0..k {
            let v = idx[r * k + j];
            if v < 0 || v as u64 >= shape[j] as u64 {
                return Err(format!(
                    "index {:?} (row {r}) does not index into shape {shape:?}",
                    &idx[r * k..(r + 1) * k]
                ));
            }
            off = off * shape[j] + v as usize;
        }
        offs.push(off * slice);
    }
    Ok((offs, slice))
}

/// Zeros of `shape` with `updates` added at `indices` (TF1's `tf.scatter_nd`; repeated
/// indices accumulate). Inputs `(indices i64 [i.., k], updates [i.., shape[k..]])`, plus
/// `like` (whose runtime shape is used) when `shape` is `None`: the gradient of `gather_nd`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatterNd {
    /// The output shape, or `None` for the third input's runtime shape.
    pub shape: Option<Vec<usize>>,
}

/// The static shape rule shared by scatter and gather: `updates`/output shape
/// `indices[..-1] ++ shape[k..]`.
fn nd_slices_shape(indices: &Shape, shape: &Shape) -> Result<Shape, String> {
    let Some(&k) = indices.0.last() else {
        return Err("indices must have rank >= 1 (their last axis indexes)".into());
    };
    let mut d = indices.0[..indices.rank() - 1].to_vec();
    match k {
        Some(k) if k > shape.rank() => {
            return Err(format!(
                "indices of depth {k} cannot index a tensor of shape {shape}"
            ))
        }
        Some(k) => d.extend_from_slice(&shape.0[k..]),
        None => return Err("the depth of indices (their last dimension) must be known".into()),
    }
    Ok(Shape(d))
}

impl OpDef for ScatterNd {
    fn kind(&self) -> &'static str {
        "ScatterNd"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2 + self.shape.is_none() as usize)?;
        expect_i64("indices", i[0])?;
        expect_f32("ScatterNd", i[1])?;
        let shape = match &self.shape {
            Some(s) => Shape::known(s),
            None => i[2].shape.clone(),
        };
        let want = nd_slices_shape(&i[0].shape, &shape)?;
        if !want.compatible(&i[1].shape) {
            return Err(format!(
                "updates {} must have shape {want} (indices {} into {shape})",
                i[1].shape, i[0].shape
            ));
        }
        Ok(Some(TensorInfo::new(DType::F32, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (idx, upd) = (inputs[0].i64(), inputs[1].f32());
        let shape: Dims = match &self.shape {
            Some(s) => s.as_slice().into(),
            None => inputs[2].shape().into(),
        };
        let (offs, slice) = nd_offsets(idx, &shape)?;
        let lead = idx.ndim() - 1;
        if upd.len() != offs.len() * slice
            || upd.ndim() < lead
            || upd.shape()[..lead] != idx.shape()[..lead]
        {
            return Err(format!(
                "updates {:?} do not match indices {:?} into {shape:?}",
                upd.shape(),
                idx.shape()
            ));
        }
        let u = contiguous(upd);
        let o = out.f32_buffer(&shape);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        o.fill(0.0);
        for (r, &off) in offs.iter().enumerate() {
            o[off..off + slice]
                .iter_mut()
                .zip(&u[r * slice..(r + 1) * slice])
                .for_each(|(o, &u)| *o += u);
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let du = gather_nd(c.dy, c.inputs[0]);
        let mut g = vec![None, Some(du)];
        if self.shape.is_none() {
            g.push(None);
        }
        Ok(g)
    }
}

/// Zeros of `shape` with `updates` added at `indices` (TF1's `tf.scatter_nd`): `indices` i64
/// `[i.., k]` address the first `k` axes, `updates` f32 `[i.., shape[k..]]`; repeated indices
/// add up. An index outside `shape` is a runtime error naming it (TF1 on CPU). The gradient
/// w.r.t. `updates` is `gather_nd(dy, indices)`.
pub fn scatter_nd<'g>(indices: Tensor<'g>, updates: Tensor<'g>, shape: &[usize]) -> Tensor<'g> {
    indices.graph().add(
        ScatterNd {
            shape: Some(shape.to_vec()),
        },
        &[indices, updates],
    )
}

/// Slices of `params` at n-d `indices` (TF1's `tf.gather_nd`): inputs `(params, indices i64
/// [i.., k])` -> `[i.., params.shape[k..]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatherNd;

fn gather_nd_kernel<T: Elem>(
    p: &ArrayViewD<T>,
    idx: &ArrayViewD<i64>,
    out: &mut Value,
) -> Result<(), String> {
    let (offs, slice) = nd_offsets(idx, p.shape())?;
    let k = *idx.shape().last().expect("checked rank");
    let mut shape: Dims = idx.shape()[..idx.ndim() - 1].into();
    shape.extend_from_slice(&p.shape()[k..]);
    let p = contiguous(p);
    let o = T::buffer(out, &shape);
    let o = o.as_slice_mut().expect("buffers are contiguous");
    for (r, &off) in offs.iter().enumerate() {
        o[r * slice..(r + 1) * slice].copy_from_slice(&p[off..off + slice]);
    }
    Ok(())
}

impl OpDef for GatherNd {
    fn kind(&self) -> &'static str {
        "GatherNd"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_i64("indices", i[1])?;
        let shape = nd_slices_shape(&i[1].shape, &i[0].shape)?;
        Ok(Some(TensorInfo::new(i[0].dtype, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let idx = inputs[1].i64();
        match &inputs[0] {
            ValueView::F32(p) => gather_nd_kernel(p, idx, out),
            ValueView::I64(p) => gather_nd_kernel(p, idx, out),
            ValueView::Bool(p) => gather_nd_kernel(p, idx, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (params, indices) = (c.inputs[0], c.inputs[1]);
        let dp = c
            .graph
            .add(ScatterNd { shape: None }, &[indices, c.dy, params]);
        Ok(vec![Some(dp), None])
    }
}

/// Slices of `params` at n-d `indices` (TF1's `tf.gather_nd`): `indices` i64 `[i.., k]`
/// address the first `k` axes of `params`, the result is `[i.., params.shape[k..]]`. An
/// index outside `params` is a runtime error naming it. The gradient w.r.t. `params`
/// scatter-adds `dy` back.
pub fn gather_nd<'g>(params: Tensor<'g>, indices: Tensor<'g>) -> Tensor<'g> {
    params.graph().add(GatherNd, &[params, indices])
}
