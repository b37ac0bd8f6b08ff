//! Reductions (`reduce_sum`, `reduce_mean`, `reduce_max`, `reduce_min`, `reduce_prod`,
//! `l2_loss`) and the two shape
//! adapters their gradients need: `BroadcastLike` (undo a reduction) and `ReduceToShapeOf`
//! (undo a broadcast).

use super::binary::{binary, max_nan, min_nan, BinaryKind};
use super::{expect_arity, expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Product.
    Prod,
}

/// Reduces `axes` (sorted, distinct) of an f32 tensor, keeping them as size 1 if `keep_dims`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reduce {
    /// Which reduction.
    pub kind: ReduceKind,
    /// Axes to reduce, sorted; all axes for a full reduction.
    pub axes: Vec<usize>,
    /// Keep reduced axes as size-1 dimensions.
    pub keep_dims: bool,
}

pub(crate) fn reduced_shape(s: &Shape, axes: &[usize], keep: bool) -> Shape {
    Shape(
        s.0.iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), keep) {
                (true, true) => Some(Some(1)),
                (true, false) => None,
                (false, _) => Some(*d),
            })
            .collect(),
    )
}

impl OpDef for Reduce {
    fn kind(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "Sum",
            ReduceKind::Mean => "Mean",
            ReduceKind::Max => "Max",
            ReduceKind::Min => "Min",
            ReduceKind::Prod => "Prod",
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_f32(self.kind(), i[0])?;
        check_axes(&self.axes, i[0].shape.rank())?;
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            reduced_shape(&i[0].shape, &self.axes, self.keep_dims),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].f32();
        let shape = reduced_shape(&Shape::known(x.shape()), &self.axes, self.keep_dims)
            .to_vec()
            .expect("known");
        let o = out.f32_buffer(&shape);
        let count: usize = self.axes.iter().map(|&a| x.shape()[a]).product();
        let fold = |lane: ArrayViewD<f32>| -> f32 {
            match self.kind {
                ReduceKind::Sum => lane.sum(),
                ReduceKind::Mean => lane.sum() / count as f32,
                ReduceKind::Max => lane.fold(f32::NEG_INFINITY, |m, &v| max_nan(v, m)),
                ReduceKind::Min => lane.fold(f32::INFINITY, |m, &v| min_nan(v, m)),
                ReduceKind::Prod => lane.fold(1.0, |m, &v| m * v),
            }
        };
        if self.axes.len() == x.ndim() {
            let v = match x.as_slice() {
                Some(s) if matches!(self.kind, ReduceKind::Sum | ReduceKind::Mean) => {
                    s.iter().sum::<f32>()
                        / if self.kind == ReduceKind::Mean {
                            count as f32
                        } else {
                            1.0
                        }
                }
                _ => fold(x.view()),
            };
            o.fill(v);
        } else if self.axes.len() == 1 {
            let ax = Axis(self.axes[0]);
            let mut ov = o.view_mut();
            if self.keep_dims {
                ov = ov.index_axis_move(ax, 0);
            }
            Zip::from(ov)
                .and(x.lanes(ax))
                .for_each(|o, lane| *o = fold(lane.into_dyn()));
        } else {
            // Several (not all) axes: reduce one at a time, last first; rare, allocates.
            let mut cur = x.to_owned();
            for &a in self.axes.iter().rev() {
                cur = match self.kind {
                    ReduceKind::Max => {
                        cur.fold_axis(Axis(a), f32::NEG_INFINITY, |&m, &v| max_nan(v, m))
                    }
                    ReduceKind::Min => {
                        cur.fold_axis(Axis(a), f32::INFINITY, |&m, &v| min_nan(v, m))
                    }
                    ReduceKind::Prod => cur.fold_axis(Axis(a), 1.0, |&m, &v| m * v),
                    ReduceKind::Sum | ReduceKind::Mean => cur.sum_axis(Axis(a)),
                };
            }
            if self.kind == ReduceKind::Mean {
                cur /= count as f32;
            }
            o.assign(
                &cur.into_shape_with_order(IxDyn(&shape))
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, y, dy) = (c.inputs[0], c.output, c.dy);
        let back = |t: Tensor<'g>, mean: bool| {
            x.graph().add(
                BroadcastLike {
                    axes: self.axes.clone(),
                    keep_dims: self.keep_dims,
                    mean,
                },
                &[t, x],
            )
        };
        let dx = match self.kind {
            ReduceKind::Sum => back(dy, false),
            ReduceKind::Mean => back(dy, true),
            // TF1's `_MinOrMaxGrad`: ties share the gradient equally.
            ReduceKind::Max | ReduceKind::Min => {
                let chosen = binary(BinaryKind::Equal, x, back(y, false));
                let ties = x.graph().add(
                    Reduce {
                        kind: ReduceKind::Sum,
                        axes: self.axes.clone(),
                        keep_dims: true,
                    },
                    &[chosen],
                );
                chosen / ties * back(dy, false)
            }
            ReduceKind::Prod => super::scan::prod_grad(dy, x, &self.axes, self.keep_dims),
        };
        Ok(vec![Some(dx)])
    }
}

/// Broadcasts `dy` (the result of reducing `axes` of `like`) back to `like`'s runtime shape,
/// dividing by the number of reduced elements if `mean`. Inputs `(dy, like)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BroadcastLike {
    /// The axes that were reduced.
    pub axes: Vec<usize>,
    /// Whether the reduction kept them as size-1 dimensions.
    pub keep_dims: bool,
    /// Divide by the reduced element count (gradient of a mean).
    pub mean: bool,
}

impl OpDef for BroadcastLike {
    fn kind(&self) -> &'static str {
        "BroadcastLike"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["dy", "like"])?;
        expect_f32("BroadcastLike", i[0])?;
        check_axes(&self.axes, i[1].shape.rank())?;
        let want = reduced_shape(&i[1].shape, &self.axes, self.keep_dims);
        if !want.compatible(&i[0].shape) {
            return Err(format!(
                "dy has shape {}, reducing `like` gives {want}",
                i[0].shape
            ));
        }
        Ok(Some(TensorInfo::new(i[0].dtype, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let like: crate::graph::Dims = inputs[1].shape().into();
        let mut dy = inputs[0].f32().view();
        check_axes(&self.axes, like.len())?;
        let rank = if self.keep_dims {
            like.len()
        } else {
            like.len() - self.axes.len()
        };
        if dy.ndim() != rank {
            return Err(format!(
                "dy has shape {:?}, reducing axes {:?} of {like:?} gives rank {rank}",
                dy.shape(),
                self.axes
            ));
        }
        if !self.keep_dims {
            for &a in &self.axes {
                dy.insert_axis_inplace(Axis(a));
            }
        }
        let count: usize = self.axes.iter().map(|&a| like[a]).product();
        let scale = if self.mean { 1.0 / count as f32 } else { 1.0 };
        let src = dy
            .broadcast(IxDyn(&like))
            .ok_or_else(|| format!("cannot broadcast {:?} to {like:?}", dy.shape()))?;
        let o = out.f32_buffer(&like);
        Zip::from(o).and(&src).for_each(|o, &v| *o = v * scale);
        Ok(())
    }
}

/// Sums `dy` down to `like`'s runtime shape, undoing NumPy broadcasting. Inputs `(dy, like)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceToShapeOf;

impl OpDef for ReduceToShapeOf {
    fn kind(&self) -> &'static str {
        "ReduceToShapeOf"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["dy", "like"])?;
        expect_f32("ReduceToShapeOf", i[0])?;
        // `like` must broadcast to dy's shape.
        match i[0].shape.broadcast(&i[1].shape) {
            Ok(b) if b.compatible(&i[0].shape) => {}
            _ => {
                return Err(format!(
                    "{} does not broadcast to dy's shape {}",
                    i[1].shape, i[0].shape
                ))
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
        let dy = inputs[0].f32();
        let like: crate::graph::Dims = inputs[1].shape().into();
        if dy.shape() == like.as_slice() {
            out.f32_buffer(&like).assign(dy);
            return Ok(());
        }
        if crate::graph::broadcast_dims(dy.shape(), &like)
            .ok()
            .as_deref()
            != Some(dy.shape())
        {
            return Err(format!(
                "{like:?} does not broadcast to dy's shape {:?}",
                dy.shape()
            ));
        }
        let o = out.f32_buffer(&like);
        let inner: usize = like.iter().product();
        let suffix = dy.shape().ends_with(&like);
        match dy.as_slice() {
            // like is a suffix of dy's shape (a bias): sum whole rows.
            Some(d) if suffix && inner > 0 => {
                let o = o.as_slice_mut().expect("contiguous");
                o.fill(0.0);
                for row in d.chunks_exact(inner) {
                    o.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
            }
            _ => {
                o.fill(0.0);
                let off = dy.ndim() - like.len();
                let mut idx = vec![0usize; like.len()];
                for (i, &v) in dy.indexed_iter() {
                    for (k, slot) in idx.iter_mut().enumerate() {
                        *slot = if like[k] == 1 { 0 } else { i[k + off] };
                    }
                    o[IxDyn(&idx)] += v;
                }
            }
        }
        Ok(())
    }
}

/// Sums `g` to the static or runtime shape of `x` (identity when the static shapes are equal
/// and fully known).
pub(crate) fn reduce_to_shape_of<'g>(g: Tensor<'g>, x: Tensor<'g>) -> Tensor<'g> {
    let (gs, xs) = (g.shape(), x.shape());
    if gs == xs && xs.is_fully_known() {
        return g;
    }
    x.graph().add(ReduceToShapeOf, &[g, x])
}

/// Half the sum of squares: `sum(x²) / 2`, a scalar (TF1's `tf.nn.l2_loss`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct L2Loss;

impl OpDef for L2Loss {
    fn kind(&self) -> &'static str {
        "L2Loss"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_f32("L2Loss", i[0])?;
        Ok(Some(TensorInfo::new(i[0].dtype, Shape::scalar())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].f32();
        let s = match x.as_slice() {
            Some(s) => s.iter().map(|v| v * v).sum::<f32>(),
            None => x.iter().map(|v| v * v).sum::<f32>(),
        };
        out.f32_buffer(&[]).fill(s / 2.0);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![Some(c.dy * c.inputs[0])])
    }
}

/// Reduced axes must be sorted, distinct and below the rank (a graph file may say anything:
/// `[1, 1]` on a matrix must not pass for a full reduction).
pub(crate) fn check_axes(axes: &[usize], rank: usize) -> Result<(), String> {
    if let Some(&a) = axes.iter().find(|&&a| a >= rank) {
        return Err(format!("axis {a} out of range for rank {rank}"));
    }
    if axes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("axes {axes:?} must be sorted and distinct"));
    }
    Ok(())
}

/// Axes counted from the end when negative, sorted; errors as TF1's (out of `[-rank, rank)`,
/// or repeated).
pub(crate) fn normalize_axes(x: Tensor<'_>, axes: &[i64]) -> Result<Vec<usize>, String> {
    let r = x.shape().rank() as i64;
    let mut v = Vec::with_capacity(axes.len());
    for &a in axes {
        if a < -r || a >= r {
            return Err(format!(
                "invalid reduction dimension {a} for input with {r} dimensions"
            ));
        }
        v.push(if a < 0 { a + r } else { a } as usize);
    }
    v.sort_unstable();
    if v.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("reduction axes {axes:?} name one dimension twice"));
    }
    Ok(v)
}

fn reduce<'g>(
    kind: ReduceKind,
    x: Tensor<'g>,
    axes: Option<&[i64]>,
    keep_dims: bool,
) -> Tensor<'g> {
    let axes = match axes.map(|a| normalize_axes(x, a)) {
        Some(Ok(a)) => a,
        Some(Err(reason)) => return super::conv::invalid(&[x], reason, "Reduce"),
        None => (0..x.shape().rank()).collect(),
    };
    x.graph().add(
        Reduce {
            kind,
            axes,
            keep_dims,
        },
        &[x],
    )
}

/// Sum over `axes` (negative counts from the end); shape loses them unless `keep_dims`.
pub fn reduce_sum<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce(ReduceKind::Sum, x, Some(axes), keep_dims)
}
/// Mean over `axes` (negative counts from the end); shape loses them unless `keep_dims`.
pub fn reduce_mean<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce(ReduceKind::Mean, x, Some(axes), keep_dims)
}
/// Maximum over `axes` (negative counts from the end); shape loses them unless `keep_dims`.
pub fn reduce_max<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce(ReduceKind::Max, x, Some(axes), keep_dims)
}
/// Minimum over `axes` (negative counts from the end); shape loses them unless `keep_dims`
/// (TF1's `tf.reduce_min`). NaN wins; tied minima share the gradient equally, as in TF1.
pub fn reduce_min<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce(ReduceKind::Min, x, Some(axes), keep_dims)
}
/// Product over `axes` (negative counts from the end); shape loses them unless `keep_dims`
/// (TF1's `tf.reduce_prod`). The gradient of each element is the product of the others, so
/// zeros are handled as in TF1 (no division).
pub fn reduce_prod<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce(ReduceKind::Prod, x, Some(axes), keep_dims)
}
/// Minimum of all elements, a scalar.
pub fn reduce_min_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce(ReduceKind::Min, x, None, false)
}
/// Product of all elements, a scalar.
pub fn reduce_prod_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce(ReduceKind::Prod, x, None, false)
}
/// Sum of all elements, a scalar.
pub fn reduce_sum_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce(ReduceKind::Sum, x, None, false)
}
/// Mean of all elements, a scalar.
pub fn reduce_mean_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce(ReduceKind::Mean, x, None, false)
}
/// Maximum of all elements, a scalar.
pub fn reduce_max_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce(ReduceKind::Max, x, None, false)
}
/// `sum(x²) / 2`, a scalar (TF1's `tf.nn.l2_loss`).
pub fn l2_loss(x: Tensor<'_>) -> Tensor<'_> {
    x.graph().add(L2Loss, &[x])
}
/// `mean((labels - predictions)²)`, a scalar (TF1's `tf.losses.mean_squared_error`).
pub fn mean_squared_error<'g>(labels: Tensor<'g>, predictions: Tensor<'g>) -> Tensor<'g> {
    reduce_mean_all(super::unary::square(labels - predictions))
}
