//! Shape manipulation and element-type ops: `reshape` (one `-1` allowed), `flatten`,
//! `expand_dims`, `squeeze`, `transpose`, `cast`, `add_n`, plus `ReshapeLike`, which their
//! gradients use to restore an operand's runtime shape.
//!
//! Reshapes copy their input into the output buffer (kernels never alias buffers), in
//! row-major order, so they work for f32 and i64 alike.

use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayD, ArrayViewD, Zip};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;

/// Element types kernels can be generic over: picks the matching output buffer.
pub(crate) trait Elem: Copy + Default + PartialOrd + 'static {
    /// `out` as a buffer of this element type and `shape` (see [`Value::f32_buffer`]).
    fn buffer<'a>(out: &'a mut Value, shape: &[usize]) -> &'a mut ArrayD<Self>;
}
impl Elem for f32 {
    fn buffer<'a>(out: &'a mut Value, shape: &[usize]) -> &'a mut ArrayD<f32> {
        out.f32_buffer(shape)
    }
}
impl Elem for i64 {
    fn buffer<'a>(out: &'a mut Value, shape: &[usize]) -> &'a mut ArrayD<i64> {
        out.i64_buffer(shape)
    }
}
impl Elem for bool {
    fn buffer<'a>(out: &'a mut Value, shape: &[usize]) -> &'a mut ArrayD<bool> {
        out.bool_buffer(shape)
    }
}

/// Normalises a possibly negative axis against `rank` (`-1` is the last axis).
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!(
            "axis {axis} is out of range for rank {rank} (valid: {} to {})",
            -r,
            r - 1
        ));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Copies `x` (any layout) into `o` in row-major order; lengths are equal.
pub(crate) fn copy_flat<T: Copy>(o: &mut ArrayD<T>, x: &ArrayViewD<T>) {
    match (o.as_slice_mut(), x.as_slice()) {
        (Some(o), Some(s)) => o.copy_from_slice(s),
        (Some(o), None) => o.iter_mut().zip(x.iter()).for_each(|(o, &v)| *o = v),
        (None, _) => {
            let flat: Vec<T> = x.iter().copied().collect();
            o.iter_mut().zip(flat).for_each(|(o, v)| *o = v);
        }
    }
}

/// A contiguous row-major slice of `x`, copying only if it is not laid out that way.
pub(crate) fn contiguous<'a, T: Clone>(x: &'a ArrayViewD<'_, T>) -> Cow<'a, [T]> {
    match x.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.iter().cloned().collect()),
    }
}

/// Writes `x`'s elements into `out` with the runtime `shape` (same element count).
fn copy_reshaped(x: &ValueView, out: &mut Value, shape: &[usize]) {
    match x {
        ValueView::F32(a) => copy_flat(out.f32_buffer(shape), a),
        ValueView::I64(a) => copy_flat(out.i64_buffer(shape), a),
        ValueView::Bool(a) => copy_flat(out.bool_buffer(shape), a),
        ValueView::Bytes(b) => out.bytes_buffer().extend_from_slice(b),
    }
}

/// `x`'s elements (row-major) in `like`'s runtime shape: e.g. `[B*T, n]` back to `[B, T, n]`
/// when `B` and `T` are only known at run time. Only `like`'s shape is read; the element
/// counts must agree (build error if both are known, runtime error otherwise). Returns `x`
/// itself when both static shapes are equal and fully known. No gradient flows to `like`.
pub fn reshape_like<'g>(x: Tensor<'g>, like: Tensor<'g>) -> Tensor<'g> {
    let (xs, ls) = (x.shape(), like.shape());
    if xs == ls && ls.is_fully_known() {
        return x;
    }
    like.graph().add(ReshapeLike, &[x, like])
}

fn reshape_grad<'g>(c: &GradCtx<'g>) -> GradResult<'g> {
    Ok(vec![Some(reshape_like(c.dy, c.inputs[0]))])
}

// ---------------------------------------------------------------------------------------------
// Reshape

/// Reshapes to `shape`, where one entry may be `-1` (inferred from the element count), like
/// TF1's `tf.reshape`. `[a, b, ..]` with `n` elements -> `shape` with `n` elements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// Target shape; at most one `-1`.
    pub shape: Vec<i64>,
}

impl Reshape {
    /// Checks the spec itself: non-negative entries except at most one `-1`.
    fn check_spec(&self) -> Result<Option<usize>, String> {
        let mut infer = None;
        for (k, &d) in self.shape.iter().enumerate() {
            if d == -1 {
                if infer.is_some() {
                    return Err(format!(
                        "target shape {:?} has more than one -1",
                        self.shape
                    ));
                }
                infer = Some(k);
            } else if d < 0 {
                return Err(format!(
                    "target shape {:?} has a negative dimension {d} (only -1 is allowed)",
                    self.shape
                ));
            }
        }
        Ok(infer)
    }

    /// Resolves the target shape for an input of `n` elements; `from` describes the input
    /// in error messages (built only on error).
    fn resolve(&self, n: usize, from: impl Fn() -> String) -> Result<Dims, String> {
        let infer = self.check_spec()?;
        let known = self
            .shape
            .iter()
            .filter(|&&d| d >= 0)
            .try_fold(1usize, |p, &d| p.checked_mul(d as usize))
            .ok_or_else(|| {
                format!(
                    "target shape {:?} has more elements than any tensor can hold",
                    self.shape
                )
            })?;
        let mut out: Dims = self.shape.iter().map(|&d| d.max(0) as usize).collect();
        match infer {
            Some(k) => {
                if known == 0 || !n.is_multiple_of(known) {
                    return Err(format!(
                        "cannot reshape {} ({n} elements) into {:?}: {n} is not a multiple of {known}",
                        from(),
                        self.shape
                    ));
                }
                out[k] = n / known;
            }
            None if known != n => {
                return Err(format!(
                    "cannot reshape {} ({n} elements) into {:?} ({known} elements)",
                    from(),
                    self.shape
                ));
            }
            None => {}
        }
        Ok(out)
    }
}

impl OpDef for Reshape {
    fn kind(&self) -> &'static str {
        "Reshape"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let infer = self.check_spec()?;
        let shape = match i[0].shape.num_elements() {
            Some(n) => Shape::known(&self.resolve(n, || i[0].shape.to_string())?),
            None => Shape(
                self.shape
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| (Some(k) != infer).then_some(d as usize))
                    .collect(),
            ),
        };
        Ok(Some(TensorInfo::new(i[0].dtype, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = &inputs[0];
        let n = x.shape().iter().product();
        let shape = self.resolve(n, || format!("{:?}", x.shape()))?;
        copy_reshaped(x, out, &shape);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        reshape_grad(c)
    }
}

/// Reshapes `x` to `shape` (TF1's `tf.reshape`): one entry may be `-1`, inferred from the
/// element count. The element count must not change (a build error when the static shape
/// is known, a runtime error otherwise). Works for f32 and i64.
pub fn reshape<'g>(x: Tensor<'g>, shape: &[i64]) -> Tensor<'g> {
    x.graph().add(
        Reshape {
            shape: shape.to_vec(),
        },
        &[x],
    )
}

// ---------------------------------------------------------------------------------------------
// Flatten

/// `[batch, d1, d2, ..] -> [batch, d1 * d2 * ..]` (TF1's `tf.layers.flatten`); a rank-1
/// input becomes `[batch, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flatten;

impl OpDef for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let s = &i[0].shape;
        if s.rank() == 0 {
            return Err("needs a rank >= 1 operand (a batch axis), got a scalar".into());
        }
        let rest: Option<usize> = s.0[1..].iter().copied().product();
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(vec![s.0[0], rest]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let s = inputs[0].shape();
        if s.is_empty() {
            return Err("needs a rank >= 1 operand, got a scalar".into());
        }
        let shape = [s[0], s[1..].iter().product()];
        copy_reshaped(&inputs[0], out, &shape);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        reshape_grad(c)
    }
}

/// `[batch, d1, d2, ..] -> [batch, d1 * d2 * ..]`, keeping the (possibly unknown) batch
/// dimension (TF1's `tf.layers.flatten`).
pub fn flatten(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(Flatten, &[x])
}

// ---------------------------------------------------------------------------------------------
// ExpandDims / Squeeze

/// Inserts a size-1 dimension at `axis` (`-1` appends one), like TF1's `tf.expand_dims`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpandDims {
    /// Position of the new axis in the output, in `-(rank+1) ..= rank`.
    pub axis: i64,
}

impl OpDef for ExpandDims {
    fn kind(&self) -> &'static str {
        "ExpandDims"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let a = norm_axis(self.axis, i[0].shape.rank() + 1)?;
        let mut d = i[0].shape.0.clone();
        d.insert(a, Some(1));
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let mut d: Dims = inputs[0].shape().into();
        d.insert(norm_axis(self.axis, d.len() + 1)?, 1);
        copy_reshaped(&inputs[0], out, &d);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        reshape_grad(c)
    }
}

/// Inserts a size-1 dimension at `axis`: `[a, b]` with axis `-1` -> `[a, b, 1]`, axis `0`
/// -> `[1, a, b]` (TF1's `tf.expand_dims`).
pub fn expand_dims(x: Tensor<'_>, axis: i64) -> Tensor<'_> {
    x.graph().add(ExpandDims { axis }, &[x])
}

/// Removes size-1 dimensions: the listed `axes`, or every size-1 dimension if empty (TF1's
/// `tf.squeeze`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Squeeze {
    /// Axes to remove (negative counts from the end); empty: all size-1 axes.
    pub axes: Vec<i64>,
}

impl Squeeze {
    fn axes_for(&self, rank: usize) -> Result<Dims, String> {
        self.axes.iter().map(|&a| norm_axis(a, rank)).collect()
    }
}

impl OpDef for Squeeze {
    fn kind(&self) -> &'static str {
        "Squeeze"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let s = &i[0].shape;
        let axes = self.axes_for(s.rank())?;
        let d = if axes.is_empty() {
            if !s.is_fully_known() {
                return Err(format!(
                    "cannot squeeze all size-1 dimensions of {s}, which has unknown dimensions; name the axes"
                ));
            }
            s.0.iter().copied().filter(|d| *d != Some(1)).collect()
        } else {
            for &a in &axes {
                if matches!(s.0[a], Some(d) if d != 1) {
                    return Err(format!("cannot squeeze axis {a} of {s}: its size is not 1"));
                }
            }
            s.0.iter()
                .enumerate()
                .filter(|(k, _)| !axes.contains(k))
                .map(|(_, d)| *d)
                .collect()
        };
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let s = inputs[0].shape();
        let axes = self.axes_for(s.len())?;
        if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
            return Err(format!(
                "cannot squeeze axis {a} of {s:?}: its size is not 1"
            ));
        }
        let d: Dims = s
            .iter()
            .enumerate()
            .filter(|&(k, &d)| !(axes.contains(&k) || axes.is_empty() && d == 1))
            .map(|(_, &d)| d)
            .collect();
        copy_reshaped(&inputs[0], out, &d);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        reshape_grad(c)
    }
}

/// Removes size-1 dimensions `axes` (all of them if `axes` is empty): `[a, 1, b]` with
/// `&[1]` -> `[a, b]` (TF1's `tf.squeeze`).
pub fn squeeze<'g>(x: Tensor<'g>, axes: &[i64]) -> Tensor<'g> {
    x.graph().add(
        Squeeze {
            axes: axes.to_vec(),
        },
        &[x],
    )
}

/// `x`'s elements in `like`'s runtime shape; inputs `(x, like)`. Used by the gradients of
/// reshape-like ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReshapeLike;

impl OpDef for ReshapeLike {
    fn kind(&self) -> &'static str {
        "ReshapeLike"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        if let (Some(a), Some(b)) = (i[0].shape.num_elements(), i[1].shape.num_elements()) {
            if a != b {
                return Err(format!("element counts differ ({a} vs {b})"));
            }
        }
        Ok(Some(TensorInfo::new(i[0].dtype, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, like) = (&inputs[0], inputs[1].shape());
        let (n, m): (usize, usize) = (x.shape().iter().product(), like.iter().product());
        if n != m {
            return Err(format!(
                "cannot reshape {:?} ({n} elements) like {like:?} ({m} elements)",
                x.shape()
            ));
        }
        copy_reshaped(x, out, like);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![Some(reshape_like(c.dy, c.inputs[0])), None])
    }
}

// ---------------------------------------------------------------------------------------------
// Transpose

/// Permutes dimensions: output dimension `k` is input dimension `perm[k]` (TF1's
/// `tf.transpose`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transpose {
    /// A permutation of `0..rank`.
    pub perm: Vec<usize>,
}

impl Transpose {
    fn check(&self, rank: usize) -> Result<(), String> {
        let mut seen = vec![false; rank];
        if self.perm.len() != rank
            || self
                .perm
                .iter()
                .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            return Err(format!(
                "perm {:?} is not a permutation of 0..{rank}",
                self.perm
            ));
        }
        Ok(())
    }
}

fn transpose_kernel<T: Elem>(x: &ArrayViewD<T>, perm: &[usize], out: &mut Value) {
    let v = x.view().permuted_axes(perm);
    let o = T::buffer(out, v.shape());
    Zip::from(o).and(&v).for_each(|o, &v| *o = v);
}

impl OpDef for Transpose {
    fn kind(&self) -> &'static str {
        "Transpose"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        self.check(i[0].shape.rank())?;
        let d = self.perm.iter().map(|&p| i[0].shape.0[p]).collect();
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        self.check(inputs[0].shape().len())?;
        match &inputs[0] {
            ValueView::F32(x) => transpose_kernel(x, &self.perm, out),
            ValueView::I64(x) => transpose_kernel(x, &self.perm, out),
            ValueView::Bool(x) => transpose_kernel(x, &self.perm, out),
            ValueView::Bytes(_) => return Err(super::NO_BYTES.into()),
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let mut inv = vec![0; self.perm.len()];
        for (k, &p) in self.perm.iter().enumerate() {
            inv[p] = k;
        }
        Ok(vec![Some(transpose(c.dy, &inv))])
    }
}

/// Permutes dimensions (TF1's `tf.transpose`): output dimension `k` is input dimension
/// `perm[k]`, e.g. `[a, b, c]` with `perm = [2, 0, 1]` -> `[c, a, b]`.
pub fn transpose<'g>(x: Tensor<'g>, perm: &[usize]) -> Tensor<'g> {
    x.graph().add(
        Transpose {
            perm: perm.to_vec(),
        },
        &[x],
    )
}

// ---------------------------------------------------------------------------------------------
// Cast

/// Converts element types (TF1's `tf.cast`): f32 -> i64 truncates toward zero (saturating,
/// NaN -> 0); i64 -> f32 rounds to nearest; bool -> number gives 1 for true and 0 for false;
/// number -> bool gives true for every nonzero value (NaN included, as in TF1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cast {
    /// Target element type.
    pub dtype: DType,
}

impl OpDef for Cast {
    fn kind(&self) -> &'static str {
        "Cast"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if self.dtype == DType::Bytes || i[0].dtype == DType::Bytes {
            return Err(format!("cannot cast {} to {}", i[0].dtype, self.dtype));
        }
        Ok(Some(TensorInfo::new(self.dtype, i[0].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        match (&inputs[0], self.dtype) {
            (x, d) if x.dtype() == d => out.assign_from(x),
            (ValueView::F32(x), DType::I64) => {
                let o = out.i64_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v as i64);
            }
            (ValueView::I64(x), DType::F32) => {
                let o = out.f32_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v as f32);
            }
            (ValueView::Bool(x), DType::F32) => {
                let o = out.f32_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v as u8 as f32);
            }
            (ValueView::Bool(x), DType::I64) => {
                let o = out.i64_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v as i64);
            }
            // `!= 0` is true for NaN, as TF1's cast (`static_cast<bool>`).
            (ValueView::F32(x), DType::Bool) => {
                let o = out.bool_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v != 0.0);
            }
            (ValueView::I64(x), DType::Bool) => {
                let o = out.bool_buffer(x.shape());
                Zip::from(o).and(x).for_each(|o, &v| *o = v != 0);
            }
            (x, d) => return Err(format!("cannot cast {} to {d}", x.dtype())),
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        // Only f32 -> f32 is differentiable; integers carry no gradient.
        let pass = self.dtype == DType::F32 && c.inputs[0].dtype() == DType::F32;
        Ok(vec![pass.then_some(c.dy)])
    }
}

/// Converts `x` to `dtype` (TF1's `tf.cast`), same shape: f32 -> i64 truncates toward zero,
/// bool -> f32/i64 gives 1 and 0, f32/i64 -> bool is `x != 0`. Gradients pass only through
/// f32 -> f32 casts.
pub fn cast(x: Tensor<'_>, dtype: DType) -> Tensor<'_> {
    x.graph().add(Cast { dtype }, &[x])
}

// ---------------------------------------------------------------------------------------------
// AddN

/// Element-wise sum of n tensors of the same shape and dtype, without broadcasting (TF1's
/// `tf.add_n`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddN;

fn add_n_kernel<T: Elem + std::ops::AddAssign>(
    xs: &[&ArrayViewD<T>],
    out: &mut Value,
) -> Result<(), String> {
    let shape: Dims = xs[0].shape().into();
    if let Some((k, x)) = xs
        .iter()
        .enumerate()
        .find(|(_, x)| x.shape() != shape.as_slice())
    {
        return Err(format!(
            "operand {k} has shape {:?}, operand 0 has {shape:?}",
            x.shape()
        ));
    }
    let o = T::buffer(out, &shape);
    copy_flat(o, xs[0]);
    for x in &xs[1..] {
        match (o.as_slice_mut(), x.as_slice()) {
            (Some(o), Some(s)) => o.iter_mut().zip(s).for_each(|(o, &v)| *o += v),
            _ => Zip::from(&mut *o).and(*x).for_each(|o, &v| *o += v),
        }
    }
    Ok(())
}

impl OpDef for AddN {
    fn kind(&self) -> &'static str {
        "AddN"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let Some(first) = i.first() else {
            return Err("needs at least one operand".into());
        };
        let mut shape = first.shape.clone();
        for (k, t) in i.iter().enumerate().skip(1) {
            if t.dtype != first.dtype {
                return Err(format!(
                    "operand {k} is {}, operand 0 is {}",
                    t.dtype, first.dtype
                ));
            }
            if !t.shape.compatible(&shape) {
                return Err(format!(
                    "operand {k} has shape {}, operand 0 has {} (add_n does not broadcast)",
                    t.shape, first.shape
                ));
            }
            for (d, e) in shape.0.iter_mut().zip(&t.shape.0) {
                *d = d.or(*e);
            }
        }
        Ok(Some(TensorInfo::new(first.dtype, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        match &inputs[0] {
            ValueView::F32(_) => {
                let xs: SmallVec<[&ArrayViewD<f32>; 8]> = inputs.iter().map(|v| v.f32()).collect();
                add_n_kernel(&xs, out)
            }
            ValueView::I64(_) => {
                let xs: SmallVec<[&ArrayViewD<i64>; 8]> = inputs.iter().map(|v| v.i64()).collect();
                add_n_kernel(&xs, out)
            }
            ValueView::Bool(_) => Err(super::NO_BOOL.into()),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(c.inputs.iter().map(|_| Some(c.dy)).collect())
    }
}

/// Element-wise sum of `xs`, which must share shape and dtype (no broadcasting), like TF1's
/// `tf.add_n`: `n x [d..] -> [d..]`.
///
/// # Panics
/// If `xs` is empty: there is no graph to add the node to.
///
/// # Panics
/// If `xs` is empty (there is no graph to add the node to); [`try_add_n`] returns an error
/// instead.
pub fn add_n<'g>(xs: &[Tensor<'g>]) -> Tensor<'g> {
    try_add_n(xs).expect("add_n needs at least one tensor")
}

/// [`add_n`] that returns [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an
/// empty list (TF1: "Inputs must be an iterable of at least one Tensor").
pub fn try_add_n<'g>(xs: &[Tensor<'g>]) -> crate::Result<Tensor<'g>> {
    let first = xs
        .first()
        .ok_or_else(|| crate::Error::InvalidArgument("add_n of an empty list of tensors".into()))?;
    Ok(first.graph().add(AddN, xs))
}
