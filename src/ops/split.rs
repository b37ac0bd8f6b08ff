//! Cutting a tensor into parts along an axis: `split` (TF1's `tf.split`, into equal parts or
//! given sizes) and `unstack` (`tf.unstack`). Each part is one [`Split`] node; its gradient
//! [`SplitGrad`] puts `dy` back at the part's offset in zeros shaped like the input.

use super::array::{norm_axis, Elem};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, Slice as Range};
use serde::{Deserialize, Serialize};

/// How to cut the axis (TF1's `num_or_size_splits`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SplitSizes {
    /// Into this many equal parts (the dimension must divide evenly).
    Num(usize),
    /// Into parts of these sizes; one entry may be `-1` (the rest of the axis).
    Sizes(Vec<i64>),
}

impl From<usize> for SplitSizes {
    fn from(n: usize) -> Self {
        SplitSizes::Num(n)
    }
}

impl From<&[i64]> for SplitSizes {
    fn from(s: &[i64]) -> Self {
        SplitSizes::Sizes(s.to_vec())
    }
}

impl<const N: usize> From<[i64; N]> for SplitSizes {
    fn from(s: [i64; N]) -> Self {
        SplitSizes::Sizes(s.to_vec())
    }
}

impl From<Vec<i64>> for SplitSizes {
    fn from(s: Vec<i64>) -> Self {
        SplitSizes::Sizes(s)
    }
}

impl SplitSizes {
    /// The number of parts.
    pub fn count(&self) -> usize {
        match self {
            SplitSizes::Num(n) => *n,
            SplitSizes::Sizes(s) => s.len(),
        }
    }

    /// Checks what can be checked without the dimension.
    fn check(&self) -> Result<(), String> {
        match self {
            SplitSizes::Num(0) => Err(
                "the number of splits is 0 (unstack needs the axis's size known at build time)"
                    .into(),
            ),
            SplitSizes::Num(_) => Ok(()),
            SplitSizes::Sizes(s) if s.is_empty() => Err("the list of split sizes is empty".into()),
            SplitSizes::Sizes(s) => {
                if s.iter().any(|&v| v < -1) || s.iter().filter(|&&v| v == -1).count() > 1 {
                    return Err(format!(
                        "split sizes {s:?} must be >= 0, with at most one -1 (the rest)"
                    ));
                }
                Ok(())
            }
        }
    }

    /// The part sizes for a dimension `d`.
    fn resolve(&self, d: usize, axis: usize) -> Result<Vec<usize>, String> {
        self.check()?;
        match self {
            SplitSizes::Num(n) if !d.is_multiple_of(*n) => Err(format!(
                "dimension {d} of axis {axis} does not split evenly into {n} parts"
            )),
            SplitSizes::Num(n) => Ok(vec![d / n; *n]),
            SplitSizes::Sizes(s) => {
                let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
                let rest = d as i64 - known;
                let has_rest = s.contains(&-1);
                if rest < 0 || (!has_rest && rest != 0) {
                    return Err(format!(
                        "split sizes {s:?} do not add up to dimension {d} of axis {axis}"
                    ));
                }
                Ok(s.iter()
                    .map(|&v| if v == -1 { rest } else { v } as usize)
                    .collect())
            }
        }
    }
}

/// Part `index` of `x` cut along `axis` by `sizes` (one output of TF1's `Split`/`SplitV`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The cut axis (negative counts from the end).
    pub axis: i64,
    /// How the axis is cut.
    pub sizes: SplitSizes,
    /// Which part this node is.
    pub index: usize,
}

impl Split {
    /// The axis, and the offset and size of this part along it, for an input of `shape`.
    fn range(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        let axis = norm_axis(self.axis, shape.len())?;
        let sizes = self.sizes.resolve(shape[axis], axis)?;
        if self.index >= sizes.len() {
            return Err(format!("part {} of {} parts", self.index, sizes.len()));
        }
        let off = sizes[..self.index].iter().sum();
        Ok((axis, off, sizes[self.index]))
    }
}

fn split_kernel<T: Elem>(x: &ArrayViewD<T>, s: &Split, out: &mut Value) -> Result<(), String> {
    let (axis, off, n) = s.range(x.shape())?;
    let part = x.slice_axis(Axis(axis), Range::from(off..off + n));
    let shape: Dims = part.shape().into();
    T::buffer(out, &shape).assign(&part);
    Ok(())
}

impl OpDef for Split {
    fn kind(&self) -> &'static str {
        "Split"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        let rank = i[0].shape.rank();
        if rank == 0 {
            return Err("cannot split a scalar".into());
        }
        let axis = norm_axis(self.axis, rank)?;
        self.sizes.check()?;
        if self.index >= self.sizes.count() {
            return Err(format!(
                "part {} of {} parts",
                self.index,
                self.sizes.count()
            ));
        }
        let mut dims = i[0].shape.0.clone();
        dims[axis] = match (dims[axis], &self.sizes) {
            (Some(d), _) => Some(self.sizes.resolve(d, axis)?[self.index]),
            (None, SplitSizes::Sizes(s)) if s[self.index] >= 0 => Some(s[self.index] as usize),
            (None, _) => None,
        };
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(dims))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        if inputs[0].shape().is_empty() {
            return Err("cannot split a scalar".into());
        }
        match &inputs[0] {
            ValueView::F32(x) => split_kernel(x, self, out),
            ValueView::I64(x) => split_kernel(x, self, out),
            ValueView::Bool(x) => split_kernel(x, self, out),
            ValueView::Bytes(_) => Err(super::NO_BYTES.into()),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dx = c
            .graph
            .add(SplitGrad { of: self.clone() }, &[c.dy, c.inputs[0]]);
        Ok(vec![Some(dx)])
    }
}

/// The gradient of one [`Split`] part: zeros shaped like `x` with `dy` at the part's offset.
/// Inputs `(dy, x)`; only `x`'s runtime shape is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitGrad {
    /// The forward part.
    pub of: Split,
}

impl OpDef for SplitGrad {
    fn kind(&self) -> &'static str {
        "SplitGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        super::expect_f32("SplitGrad", i[0])?;
        let part = self.of.infer(&[i[1]])?.expect("a split part has an output");
        if !part.shape.compatible(&i[0].shape) {
            return Err(format!(
                "gradient shape {} differs from the part's shape {}",
                i[0].shape, part.shape
            ));
        }
        Ok(Some(TensorInfo::new(DType::F32, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32();
        let like = inputs[1].shape();
        if like.is_empty() {
            return Err("cannot split a scalar".into());
        }
        let (axis, off, n) = self.of.range(like)?;
        let o = out.f32_buffer(like);
        o.fill(0.0);
        let mut dst = o.slice_axis_mut(Axis(axis), Range::from(off..off + n));
        if dst.shape() != dy.shape() {
            return Err(format!(
                "gradient shape {:?} differs from the part's shape {:?}",
                dy.shape(),
                dst.shape()
            ));
        }
        dst.assign(dy);
        Ok(())
    }
}

/// Cuts `x` along `axis` (negative counts from the end) into parts (TF1's `tf.split`):
/// `sizes` is a count of equal parts (`3`) or the list of part sizes (`[2, -1, 1]`, one `-1`
/// for the rest, zeros allowed). `[a, 6]` split 3 on axis 1 -> three `[a, 2]`. One node per
/// part; a bad spec (uneven split, sizes not adding up) is an error on every part. f32, i64
/// or bool; the gradient of each part pads it back with zeros.
pub fn split<'g>(x: Tensor<'g>, sizes: impl Into<SplitSizes>, axis: i64) -> Vec<Tensor<'g>> {
    let sizes = sizes.into();
    // Even a spec of no parts gives one (failing) node, so that the error is reported.
    let n = sizes.count().max(1);
    (0..n)
        .map(|index| {
            x.graph().add(
                Split {
                    axis,
                    sizes: sizes.clone(),
                    index,
                },
                &[x],
            )
        })
        .collect()
}

/// Unpacks `x` along `axis` (negative counts from the end) into its slices (TF1's
/// `tf.unstack`): `[a, n, b]` on axis 1 -> `n` tensors `[a, b]`. The axis's size must be known
/// at build time (otherwise one failing node is returned, whose error says so); a size of 0
/// gives no tensors, as in TF1.
pub fn unstack<'g>(x: Tensor<'g>, axis: i64) -> Vec<Tensor<'g>> {
    let shape = x.shape();
    let n = match norm_axis(axis, shape.rank()) {
        Ok(a) => shape.0[a],
        Err(_) => Some(1), // the Split node reports the bad axis
    };
    match n {
        Some(0) => Vec::new(),
        Some(n) => split(x, n, axis)
            .into_iter()
            .map(|p| super::array::squeeze(p, &[axis]))
            .collect(),
        // One failing node, whose error says why.
        None => split(x, 0, axis),
    }
}
