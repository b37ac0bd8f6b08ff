//! Joining and cutting: `concat` along an axis and `slice` (begin/size), with the ops their
//! gradients use: `ConcatPart` (the part of a gradient belonging to one concatenated operand)
//! and `SliceGrad` (pad a slice's gradient back with zeros).

use super::array::{norm_axis, Elem};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, Slice as Range};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

// ---------------------------------------------------------------------------------------------
// Concat

/// Concatenates its operands along `axis` (TF1's `tf.concat`). All operands share dtype and
/// rank, and every dimension except `axis`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    /// The joined axis (negative counts from the end).
    pub axis: i64,
}

fn concat_kernel<T: Elem>(
    xs: &[&ArrayViewD<T>],
    axis: usize,
    out: &mut Value,
) -> Result<(), String> {
    let mut shape: Dims = xs[0].shape().into();
    shape[axis] = 0;
    for (k, x) in xs.iter().enumerate() {
        let s = x.shape();
        let ok = s.len() == shape.len()
            && s.iter()
                .zip(&shape)
                .enumerate()
                .all(|(j, (a, b))| j == axis || a == b);
        if !ok {
            return Err(format!(
                "operand {k} has shape {s:?}, operand 0 has {:?}; only axis {axis} may differ",
                xs[0].shape()
            ));
        }
        shape[axis] += s[axis];
    }
    let o = T::buffer(out, &shape);
    let mut off = 0;
    for x in xs {
        let n = x.shape()[axis];
        o.slice_axis_mut(Axis(axis), Range::from(off..off + n))
            .assign(*x);
        off += n;
    }
    Ok(())
}

impl OpDef for Concat {
    fn kind(&self) -> &'static str {
        "Concat"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let Some(first) = i.first() else {
            return Err("needs at least one operand".into());
        };
        let rank = first.shape.rank();
        let axis = norm_axis(self.axis, rank)?;
        let mut shape = first.shape.clone();
        for (k, t) in i.iter().enumerate().skip(1) {
            if t.dtype != first.dtype {
                return Err(format!(
                    "operand {k} is {}, operand 0 is {}",
                    t.dtype, first.dtype
                ));
            }
            if t.shape.rank() != rank {
                return Err(format!(
                    "operand {k} has rank {}, operand 0 has rank {rank}",
                    t.shape.rank()
                ));
            }
            for (j, (d, e)) in shape.0.iter_mut().zip(&t.shape.0).enumerate() {
                if j == axis {
                    *d = match (*d, *e) {
                        (Some(a), Some(b)) => Some(a.checked_add(b).ok_or_else(|| {
                            format!("the joined axis {axis} overflows ({a} + {b})")
                        })?),
                        _ => None,
                    };
                    continue;
                }
                match (*d, *e) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(format!(
                            "operand {k} has shape {}, operand 0 has {}: dimension {j} differs ({b} vs {a}); only axis {axis} may differ",
                            t.shape, first.shape
                        ))
                    }
                    (None, e) => *d = e,
                    _ => {}
                }
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
        let axis = norm_axis(self.axis, inputs[0].shape().len())?;
        match &inputs[0] {
            ValueView::F32(_) => {
                let xs: SmallVec<[_; 8]> = inputs.iter().map(|v| v.f32()).collect();
                concat_kernel(&xs, axis, out)
            }
            ValueView::I64(_) => {
                let xs: SmallVec<[_; 8]> = inputs.iter().map(|v| v.i64()).collect();
                concat_kernel(&xs, axis, out)
            }
            ValueView::Bool(_) => {
                let xs: SmallVec<[_; 8]> = inputs.iter().map(|v| v.bool()).collect();
                concat_kernel(&xs, axis, out)
            }
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let mut ins = vec![c.dy];
        ins.extend(&c.inputs);
        Ok((0..c.inputs.len())
            .map(|index| {
                Some(c.graph.add(
                    ConcatPart {
                        axis: self.axis,
                        index,
                    },
                    &ins,
                ))
            })
            .collect())
    }
}

/// Concatenates `xs` along `axis` (negative counts from the end), like TF1's `tf.concat`:
/// `[a, b1, c]`, `[a, b2, c]` on axis 1 -> `[a, b1 + b2, c]`. Works for f32 and i64.
///
/// # Panics
/// If `xs` is empty: there is no graph to add the node to.
///
/// # Panics
/// If `xs` is empty (there is no graph to add the node to); [`try_concat`] returns an error
/// instead.
pub fn concat<'g>(xs: &[Tensor<'g>], axis: i64) -> Tensor<'g> {
    try_concat(xs, axis).expect("concat needs at least one tensor")
}

/// [`concat()`] that returns [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an
/// empty list (TF1: "List argument 'values' to 'ConcatV2' Op with length 0").
pub fn try_concat<'g>(xs: &[Tensor<'g>], axis: i64) -> crate::Result<Tensor<'g>> {
    let first = xs.first().ok_or_else(|| {
        crate::Error::InvalidArgument("concat of an empty list of tensors".into())
    })?;
    Ok(first.graph().add(Concat { axis }, xs))
}

/// Stacks same-shaped tensors along a new axis `axis` (TF1's `tf.stack`): `n x [a, b]` with
/// axis `0` -> `[n, a, b]`, axis `-1` -> `[a, b, n]`. Built from `expand_dims` and `concat`,
/// so the gradient comes for free.
///
/// # Panics
/// If `xs` is empty: there is no graph to add the node to.
pub fn stack<'g>(xs: &[Tensor<'g>], axis: i64) -> Tensor<'g> {
    let parts: SmallVec<[Tensor<'g>; 8]> = xs
        .iter()
        .map(|&x| super::array::expand_dims(x, axis))
        .collect();
    concat(&parts, axis)
}

/// The part of `dy` (the gradient of a concatenation) that belongs to operand `index`.
/// Inputs `(dy, x_0, .., x_{n-1})`: the `x`s' runtime sizes along `axis` give the offsets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConcatPart {
    /// The concatenated axis (negative counts from the end).
    pub axis: i64,
    /// Which operand's part.
    pub index: usize,
}

impl OpDef for ConcatPart {
    fn kind(&self) -> &'static str {
        "ConcatPart"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() < 2 || self.index >= i.len() - 1 {
            return Err(format!(
                "operand index {} out of range for {} concatenated operands",
                self.index,
                i.len().saturating_sub(1)
            ));
        }
        super::expect_f32("ConcatPart", i[0])?;
        let rank = i[0].shape.rank();
        norm_axis(self.axis, rank)?;
        if let Some(k) = i[1..].iter().position(|t| t.shape.rank() != rank) {
            return Err(format!(
                "operand {k} has rank {}, the gradient has rank {rank}",
                i[k + 1].shape.rank()
            ));
        }
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            i[self.index + 1].shape.clone(),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32();
        let axis = norm_axis(self.axis, dy.ndim())?;
        if inputs.iter().any(|x| x.shape().len() != dy.ndim()) {
            return Err("operands and gradient differ in rank".into());
        }
        let off: usize = inputs[1..=self.index].iter().map(|x| x.shape()[axis]).sum();
        let like = inputs[self.index + 1].shape();
        let n = like[axis];
        if off + n > dy.shape()[axis] {
            return Err(format!(
                "gradient shape {:?} too small for part {off}..{} on axis {axis}",
                dy.shape(),
                off + n
            ));
        }
        let part = dy.slice_axis(Axis(axis), Range::from(off..off + n));
        if part.shape() != like {
            return Err(format!(
                "gradient part {:?} differs from operand shape {like:?}",
                part.shape()
            ));
        }
        out.f32_buffer(like).assign(&part);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Slice

/// Extracts `x[begin[k] .. begin[k] + size[k]]` on every axis `k` (TF1's `tf.slice`); a
/// size of `-1` takes everything to the end of that axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// Start per axis (`>= 0`).
    pub begin: Vec<i64>,
    /// Length per axis, or `-1` for "to the end".
    pub size: Vec<i64>,
}

impl Slice {
    fn check_spec(&self, rank: usize) -> Result<(), String> {
        if self.begin.len() != rank || self.size.len() != rank {
            return Err(format!(
                "begin {:?} and size {:?} must both have one entry per axis (rank {rank})",
                self.begin, self.size
            ));
        }
        if let Some(b) = self.begin.iter().find(|&&b| b < 0) {
            return Err(format!("begin {:?} has a negative entry {b}", self.begin));
        }
        if let Some(s) = self.size.iter().find(|&&s| s < -1) {
            return Err(format!(
                "size {:?} has an invalid entry {s} (use -1 for \"to the end\")",
                self.size
            ));
        }
        Ok(())
    }

    /// The extent on axis `k` of a dimension `d`: `Ok(size)` or an out-of-bounds message.
    fn extent(&self, k: usize, d: usize) -> Result<usize, String> {
        let b = self.begin[k] as usize;
        let s = self.size[k];
        let end = if s == -1 { d.max(b) } else { b + s as usize };
        if b > d || end > d {
            return Err(format!(
                "slice {b}..{end} is out of bounds for axis {k} of size {d} (begin {:?}, size {:?})",
                self.begin, self.size
            ));
        }
        Ok(end - b)
    }
}

fn slice_kernel<T: Elem>(x: &ArrayViewD<T>, s: &Slice, out: &mut Value) -> Result<(), String> {
    let mut shape = Dims::new();
    for (k, &d) in x.shape().iter().enumerate() {
        shape.push(s.extent(k, d)?);
    }
    let v = x.slice_each_axis(|ax| {
        let b = s.begin[ax.axis.index()] as usize;
        Range::from(b..b + shape[ax.axis.index()])
    });
    T::buffer(out, &shape).assign(&v);
    Ok(())
}

impl OpDef for Slice {
    fn kind(&self) -> &'static str {
        "Slice"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        self.check_spec(i[0].shape.rank())?;
        let mut d = Vec::with_capacity(self.size.len());
        for (k, dim) in i[0].shape.0.iter().enumerate() {
            d.push(match dim {
                Some(n) => Some(self.extent(k, *n)?),
                None if self.size[k] >= 0 => Some(self.size[k] as usize),
                None => None,
            });
        }
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(d))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        self.check_spec(inputs[0].shape().len())?;
        match &inputs[0] {
            ValueView::F32(x) => slice_kernel(x, self, out),
            ValueView::I64(x) => slice_kernel(x, self, out),
            ValueView::Bool(x) => slice_kernel(x, self, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dx = c.graph.add(
            SliceGrad {
                begin: self.begin.clone(),
            },
            &[c.dy, c.inputs[0]],
        );
        Ok(vec![Some(dx)])
    }
}

/// Slices `x` (TF1's `tf.slice`): `begin[k] .. begin[k] + size[k]` on every axis, a size of
/// `-1` meaning "to the end". `[4, 5]` with begin `[1, 0]`, size `[2, -1]` -> `[2, 5]`.
/// Out-of-bounds slices are build errors when the shape is known, runtime errors otherwise.
pub fn slice<'g>(x: Tensor<'g>, begin: &[i64], size: &[i64]) -> Tensor<'g> {
    x.graph().add(
        Slice {
            begin: begin.to_vec(),
            size: size.to_vec(),
        },
        &[x],
    )
}

/// The gradient of a slice: zeros shaped like `x` with `dy` written at `begin`. Inputs
/// `(dy, x)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceGrad {
    /// Where the slice started, per axis.
    pub begin: Vec<i64>,
}

impl OpDef for SliceGrad {
    fn kind(&self) -> &'static str {
        "SliceGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        super::expect_f32("SliceGrad", i[0])?;
        if i[0].shape.rank() != i[1].shape.rank() || self.begin.len() != i[1].shape.rank() {
            return Err("gradient, operand and begin ranks differ".into());
        }
        if let Some(b) = self.begin.iter().find(|&&b| b < 0) {
            return Err(format!("begin {:?} has a negative entry {b}", self.begin));
        }
        Ok(Some(TensorInfo::new(i[0].dtype, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32();
        let like = inputs[1].shape();
        let fits = dy.ndim() == like.len()
            && self.begin.len() == like.len()
            && (0..like.len()).all(|k| {
                usize::try_from(self.begin[k])
                    .ok()
                    .and_then(|b| b.checked_add(dy.shape()[k]))
                    .is_some_and(|end| end <= like[k])
            });
        if !fits {
            return Err(format!(
                "gradient {:?} at {:?} does not fit in {like:?}",
                dy.shape(),
                self.begin
            ));
        }
        let o = out.f32_buffer(like);
        o.fill(0.0);
        o.slice_each_axis_mut(|ax| {
            let k = ax.axis.index();
            let b = self.begin[k] as usize;
            Range::from(b..b + dy.shape()[k])
        })
        .assign(dy);
        Ok(())
    }
}
