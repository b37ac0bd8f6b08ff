//! Scans along axes: `cumsum` (TF1's `tf.cumsum`, with `exclusive` and `reverse`) and
//! `ProdGrad`, the gradient of `reduce_prod`: the product of all other elements of each
//! reduced group, from exclusive products from the left and from the right as TF1's
//! `_ProdGrad` computes them, so zeros give the right answer (no division by the product).

use super::array::{norm_axis, Elem};
use super::reduce::{check_axes, reduced_shape};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Dims, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Axis, IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// Cumulative sum along `axis`. `exclusive`: each element leaves itself out (the first is 0);
/// `reverse`: sums run from the end. f32 or i64; shape rule: output = input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cumsum {
    /// The scanned axis (negative counts from the end).
    pub axis: i64,
    /// Leave each element out of its own sum.
    pub exclusive: bool,
    /// Sum from the end of the axis.
    pub reverse: bool,
}

fn cumsum_kernel<T: Elem + std::ops::Add<Output = T>>(
    c: &Cumsum,
    x: &ArrayViewD<T>,
    axis: usize,
    out: &mut Value,
) {
    let o = T::buffer(out, x.shape());
    Zip::from(o.lanes_mut(Axis(axis)))
        .and(x.lanes(Axis(axis)))
        .for_each(|mut o, x| {
            let n = x.len();
            let mut acc = T::default();
            for k in 0..n {
                let i = if c.reverse { n - 1 - k } else { k };
                if c.exclusive {
                    o[i] = acc;
                    acc = acc + x[i];
                } else {
                    acc = acc + x[i];
                    o[i] = acc;
                }
            }
        });
}

impl OpDef for Cumsum {
    fn kind(&self) -> &'static str {
        "Cumsum"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].dtype == DType::Bytes {
            return Err(super::NO_BYTES.into());
        }
        norm_axis(self.axis, i[0].shape.rank())?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let axis = norm_axis(self.axis, inputs[0].shape().len())?;
        match &inputs[0] {
            ValueView::F32(x) => cumsum_kernel(self, x, axis, out),
            ValueView::I64(x) => cumsum_kernel(self, x, axis, out),
            ValueView::Bool(_) => return Err(super::NO_BOOL.into()),
            ValueView::Bytes(_) => return Err(super::NO_BYTES.into()),
        }
        Ok(())
    }
    /// TF1's `_CumsumGrad`: the cumulative sum of `dy` the other way round.
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let d = c.graph.add(
            Cumsum {
                axis: self.axis,
                exclusive: self.exclusive,
                reverse: !self.reverse,
            },
            &[c.dy],
        );
        Ok(vec![Some(d)])
    }
}

/// Cumulative sum along `axis` (negative counts from the end), TF1's `tf.cumsum`: shape and
/// dtype (f32 or i64) of `x`. With `exclusive`, `[a, b, c]` gives `[0, a, a + b]`; with
/// `reverse`, `[a + b + c, b + c, c]`. Gradient: the cumulative sum of `dy` reversed.
pub fn cumsum(x: Tensor<'_>, axis: i64, exclusive: bool, reverse: bool) -> Tensor<'_> {
    x.graph().add(
        Cumsum {
            axis,
            exclusive,
            reverse,
        },
        &[x],
    )
}

/// The gradient of `reduce_prod` over `axes`: inputs `(dy, x)`, output shaped like `x`,
/// `dy` (broadcast back over the reduced axes) times the product of the other elements of
/// each element's reduced group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProdGrad {
    /// The reduced axes, sorted.
    pub axes: Vec<usize>,
    /// Whether the reduction kept them as size-1 dimensions.
    pub keep_dims: bool,
}

impl OpDef for ProdGrad {
    fn kind(&self) -> &'static str {
        "ProdGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        super::expect_f32("ProdGrad", i[0])?;
        super::expect_f32("ProdGrad", i[1])?;
        check_axes(&self.axes, i[1].shape.rank())?;
        let want = reduced_shape(&i[1].shape, &self.axes, self.keep_dims);
        if !want.compatible(&i[0].shape) {
            return Err(format!(
                "dy has shape {}, reducing x gives {want}",
                i[0].shape
            ));
        }
        Ok(Some(i[1].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, x) = (inputs[0].f32(), inputs[1].f32());
        let like: Dims = x.shape().into();
        check_axes(&self.axes, like.len())?;
        let mut dy = dy.view();
        if !self.keep_dims {
            if dy.ndim() + self.axes.len() != like.len() {
                return Err(format!("dy has shape {:?} for x {like:?}", dy.shape()));
            }
            for &a in &self.axes {
                dy.insert_axis_inplace(Axis(a));
            }
        }
        let dy = dy
            .broadcast(IxDyn(&like))
            .ok_or_else(|| format!("cannot broadcast dy {:?} to {like:?}", dy.shape()))?;
        // Kept axes first, reduced axes last: each row of the permuted order is one group.
        let perm: Vec<usize> = (0..like.len())
            .filter(|a| !self.axes.contains(a))
            .chain(self.axes.iter().copied())
            .collect();
        let group: usize = self.axes.iter().map(|&a| like[a]).product();
        let xs: Vec<f32> = x
            .view()
            .permuted_axes(IxDyn(&perm))
            .iter()
            .copied()
            .collect();
        let mut others = vec![0.0f32; xs.len()];
        if group > 0 {
            for (row, o) in xs.chunks_exact(group).zip(others.chunks_exact_mut(group)) {
                let mut left = 1.0f32;
                for (o, &v) in o.iter_mut().zip(row) {
                    *o = left;
                    left *= v;
                }
                let mut right = 1.0f32;
                for (o, &v) in o.iter_mut().zip(row).rev() {
                    *o *= right;
                    right *= v;
                }
            }
        }
        let o = out.f32_buffer(&like);
        let op = o.view_mut().permuted_axes(IxDyn(&perm));
        let dyp = dy.permuted_axes(IxDyn(&perm));
        for ((o, &d), &p) in op.into_iter().zip(dyp.iter()).zip(&others) {
            *o = d * p;
        }
        Ok(())
    }
}

/// `dy * (product of the others)` for `reduce_prod` over `axes` of `x`.
pub(crate) fn prod_grad<'g>(
    dy: Tensor<'g>,
    x: Tensor<'g>,
    axes: &[usize],
    keep_dims: bool,
) -> Tensor<'g> {
    x.graph().add(
        ProdGrad {
            axes: axes.to_vec(),
            keep_dims,
        },
        &[dy, x],
    )
}
