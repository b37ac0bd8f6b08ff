//! Index ops: `gather` / `embedding_lookup` (rows of a table by i64 ids) and its gradient
//! `GatherGrad` (a dense scatter-add, the embedding-gradient hot path), `one_hot` and
//! `argmax`.

use super::array::{contiguous, norm_axis, Elem};
use super::{expect_arity, expect_f32, expect_i64, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, Zip};
use serde::{Deserialize, Serialize};

/// The shape rule of `Gather` (axis 0) and `GatherV2` (`axis`, may be negative): operands
/// `(params, indices i64)`, output `params[..axis] + indices + params[axis + 1..]`.
pub(crate) fn gather_info(i: &[&TensorInfo], axis: i64) -> Result<Option<TensorInfo>, String> {
    expect_arity(i, 2)?;
    expect_i64("indices", i[1])?;
    if i[0].shape.rank() == 0 {
        return Err("params must have rank >= 1, got a scalar".into());
    }
    let axis = norm_axis(axis, i[0].shape.rank())?;
    let mut d = i[0].shape.0[..axis].to_vec();
    d.extend_from_slice(&i[1].shape.0);
    d.extend_from_slice(&i[0].shape.0[axis + 1..]);
    Ok(Some(TensorInfo::new(i[0].dtype, Shape(d))))
}

/// Checks an index against `[0, n)`, naming its position among the indices.
#[inline]
fn check_index(v: i64, pos: usize, n: usize, what: &str) -> Result<usize, String> {
    if v < 0 || v as u64 >= n as u64 {
        return Err(format!(
            "{what} {v} (at flat position {pos}) is out of range [0, {n})"
        ));
    }
    Ok(v as usize)
}

// ---------------------------------------------------------------------------------------------
// Gather

/// Rows of `params` picked by `indices` along axis 0 (TF1's `tf.gather` with `axis=0`).
/// Inputs `(params [N, d..], indices i64 [i..])`, output `[i.., d..]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gather;

fn gather_kernel<T: Elem>(
    params: &ArrayViewD<T>,
    indices: &ArrayViewD<i64>,
    out: &mut Value,
) -> Result<(), String> {
    let n = params.shape()[0];
    let row: usize = params.shape()[1..].iter().product();
    let mut shape: Dims = indices.shape().into();
    shape.extend_from_slice(&params.shape()[1..]);
    let p = contiguous(params);
    let idx = contiguous(indices);
    let o = T::buffer(out, &shape);
    let o = o.as_slice_mut().expect("buffers are contiguous");
    if row == 0 {
        for (pos, &v) in idx.iter().enumerate() {
            check_index(v, pos, n, "index")?;
        }
        return Ok(());
    }
    for (pos, (dst, &v)) in o.chunks_exact_mut(row).zip(idx.iter()).enumerate() {
        let r = check_index(v, pos, n, "index")?;
        dst.copy_from_slice(&p[r * row..(r + 1) * row]);
    }
    Ok(())
}

impl OpDef for Gather {
    fn kind(&self) -> &'static str {
        "Gather"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        gather_info(i, 0)
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        if inputs[0].shape().is_empty() {
            return Err("params must have rank >= 1, got a scalar".into());
        }
        let idx = inputs[1].i64();
        match &inputs[0] {
            ValueView::F32(p) => gather_kernel(p, idx, out),
            ValueView::I64(p) => gather_kernel(p, idx, out),
            ValueView::Bool(p) => gather_kernel(p, idx, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (params, indices) = (c.inputs[0], c.inputs[1]);
        let dp = c.graph.add(GatherGrad, &[c.dy, indices, params]);
        Ok(vec![Some(dp), None])
    }
}

/// Rows of `params` along axis 0 (TF1's `tf.gather`): `params [N, d..]`, `indices` i64
/// `[i..]` -> `[i.., d..]`. An index outside `[0, N)` is a runtime error naming it. The
/// gradient w.r.t. `params` is dense `[N, d..]` (rows scatter-added).
pub fn gather<'g>(params: Tensor<'g>, indices: Tensor<'g>) -> Tensor<'g> {
    params.graph().add(Gather, &[params, indices])
}

/// Looks ids up in an embedding table (TF1's `tf.nn.embedding_lookup` with one shard):
/// `params [vocab, dim]`, `ids` i64 `[i..]` -> `[i.., dim]`. Same as [`gather`].
pub fn embedding_lookup<'g>(params: Tensor<'g>, ids: Tensor<'g>) -> Tensor<'g> {
    gather(params, ids)
}

/// Gradient of [`Gather`]: zeros shaped like `params` with every row of `dy` added to the
/// row its index names (repeated indices accumulate). Inputs `(dy [i.., d..], indices [i..],
/// params [N, d..])`; only `params`' runtime shape is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatherGrad;

impl OpDef for GatherGrad {
    fn kind(&self) -> &'static str {
        "GatherGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 3)?;
        expect_f32("GatherGrad", i[0])?;
        expect_i64("indices", i[1])?;
        if i[2].shape.rank() == 0 {
            return Err("params must have rank >= 1, got a scalar".into());
        }
        let mut gathered = i[1].shape.0.clone();
        gathered.extend_from_slice(&i[2].shape.0[1..]);
        if !i[0].shape.compatible(&Shape(gathered.clone())) {
            return Err(format!(
                "gradient shape {} differs from the gathered shape {}",
                i[0].shape,
                Shape(gathered)
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
        let dy = inputs[0].f32();
        let indices = inputs[1].i64();
        let like = inputs[2].shape();
        let Some(&n) = like.first() else {
            return Err("params must have rank >= 1, got a scalar".into());
        };
        let row: usize = like[1..].iter().product();
        let mut expect: Dims = indices.shape().into();
        expect.extend_from_slice(&like[1..]);
        if dy.shape() != expect.as_slice() {
            return Err(format!(
                "gradient shape {:?} differs from gathered shape {expect:?}",
                dy.shape()
            ));
        }
        let d = contiguous(dy);
        let idx = contiguous(indices);
        let o = out.f32_buffer(like);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        o.fill(0.0);
        if row == 0 {
            return Ok(());
        }
        for (pos, (src, &v)) in d.chunks_exact(row).zip(idx.iter()).enumerate() {
            let r = check_index(v, pos, n, "index")?;
            o[r * row..(r + 1) * row]
                .iter_mut()
                .zip(src)
                .for_each(|(o, &s)| *o += s);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// OneHot

/// One-hot encoding (TF1's `tf.one_hot` with on = 1, off = 0): indices i64 `[i..]` -> f32
/// `[i.., depth]`. Indices outside `[0, depth)` (e.g. `-1` for padding) give all-zero rows,
/// as in TF.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneHot {
    /// Number of classes.
    pub depth: usize,
}

impl OpDef for OneHot {
    fn kind(&self) -> &'static str {
        "OneHot"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_i64("indices", i[0])?;
        let mut d = i[0].shape.0.clone();
        d.push(Some(self.depth));
        Ok(Some(TensorInfo::new(DType::F32, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let idx = inputs[0].i64();
        let mut shape: Dims = idx.shape().into();
        shape.push(self.depth);
        // The depth is an attribute: the output may be far larger than the input.
        let o = out.try_f32_buffer(&shape)?;
        let o = o.as_slice_mut().expect("buffers are contiguous");
        o.fill(0.0);
        if self.depth == 0 {
            return Ok(());
        }
        for (row, &v) in o.chunks_exact_mut(self.depth).zip(idx.iter()) {
            if v >= 0 && (v as u64) < self.depth as u64 {
                row[v as usize] = 1.0;
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// One-hot encoding (TF1's `tf.one_hot`): i64 `[i..]` -> f32 `[i.., depth]`, 1 at the
/// index and 0 elsewhere; out-of-range indices give all-zero rows.
pub fn one_hot(indices: Tensor<'_>, depth: usize) -> Tensor<'_> {
    indices.graph().add(OneHot { depth }, &[indices])
}

// ---------------------------------------------------------------------------------------------
// ArgMax

/// Index of the largest element along `axis` (TF1's `tf.argmax`), as i64, with that axis
/// removed; ties go to the first index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgMax {
    /// Reduced axis (negative counts from the end).
    pub axis: i64,
}

/// Index of the largest (`min`: smallest) element of each lane along `axis`; ties go to the
/// first index and NaN is skipped, as TF's CPU kernels do.
fn arg_kernel<T: Elem>(
    x: &ArrayViewD<T>,
    axis: usize,
    min: bool,
    out: &mut Value,
) -> Result<(), String> {
    if x.shape()[axis] == 0 {
        return Err(format!(
            "cannot take {} over empty axis {axis} of {:?}",
            if min { "argmin" } else { "argmax" },
            x.shape()
        ));
    }
    let mut shape: Dims = x.shape().into();
    shape.remove(axis);
    let o = out.i64_buffer(&shape);
    Zip::from(o).and(x.lanes(Axis(axis))).for_each(|o, lane| {
        let mut best = 0;
        let mut bv = lane[0];
        for (k, &v) in lane.iter().enumerate().skip(1) {
            let better = if min { v < bv } else { v > bv };
            // NaN is skipped (`bv != bv` only for NaN).
            #[allow(clippy::eq_op)]
            if better || (bv != bv && v == v) {
                best = k;
                bv = v;
            }
        }
        *o = best as i64;
    });
    Ok(())
}

impl OpDef for ArgMax {
    fn kind(&self) -> &'static str {
        "ArgMax"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let a = norm_axis(self.axis, i[0].shape.rank())?;
        let mut d = i[0].shape.0.clone();
        d.remove(a);
        Ok(Some(TensorInfo::new(DType::I64, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        arg_compute(self.axis, &inputs[0], false, out)
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// The kernel of [`ArgMax`] (`min` false) and [`ArgMin`] (`min` true) on either dtype.
fn arg_compute(axis: i64, x: &ValueView, min: bool, out: &mut Value) -> Result<(), String> {
    let axis = norm_axis(axis, x.shape().len())?;
    match x {
        ValueView::F32(x) => arg_kernel(x, axis, min, out),
        ValueView::I64(x) => arg_kernel(x, axis, min, out),
        ValueView::Bool(_) => Err(super::NO_BOOL.into()),
        ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
    }
}

/// Index of the maximum along `axis` (negative counts from the end), as i64 with that axis
/// removed: `[b, c]` with axis `-1` -> `[b]` (TF1's `tf.argmax`). Ties pick the first.
pub fn argmax(x: Tensor<'_>, axis: i64) -> Tensor<'_> {
    x.graph().add(ArgMax { axis }, &[x])
}

/// Index of the smallest element along `axis` (TF1's `tf.argmin`), as i64, with that axis
/// removed; ties go to the first index, NaN is skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgMin {
    /// Reduced axis (negative counts from the end).
    pub axis: i64,
}

impl OpDef for ArgMin {
    fn kind(&self) -> &'static str {
        "ArgMin"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        ArgMax { axis: self.axis }.infer(i)
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        arg_compute(self.axis, &inputs[0], true, out)
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// Index of the minimum along `axis` (negative counts from the end), as i64 with that axis
/// removed: `[b, c]` with axis `-1` -> `[b]` (TF1's `tf.argmin`). Ties pick the first.
pub fn argmin(x: Tensor<'_>, axis: i64) -> Tensor<'_> {
    x.graph().add(ArgMin { axis }, &[x])
}
