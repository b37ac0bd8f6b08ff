//! Selection, as TF1's three-argument `tf.where(cond, x, y)` (the `Select` op): elements of
//! `x` where `cond` is true, of `y` elsewhere.
//!
//! Shape rule (TF1 1.x, no broadcasting): `x` and `y` have one dtype and one shape, which is
//! the output's; `cond` is bool and either has that shape too, or is a vector whose length is
//! `x`'s first dimension (it picks whole rows), or is a scalar (it picks all of `x` or all of
//! `y`). Gradient as TF1's: `dy` flows to `x` where `cond` is true and to `y` elsewhere
//! (zeros in the other places, even where `dy` is NaN); none to `cond`.

use super::array::Elem;
use super::unary::{unary, UnaryKind};
use super::{GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, Zip};
use serde::{Deserialize, Serialize};

/// `cond ? x : y` element-wise (or row-wise for a vector `cond`); inputs `(cond, x, y)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Select;

/// How `cond` lines up with `x`, from their ranks.
#[derive(Clone, Copy, PartialEq)]
enum CondForm {
    /// Same shape as `x`: element-wise.
    Elements,
    /// A vector over `x`'s first dimension: row-wise.
    Rows,
    /// A scalar: all of `x` or all of `y`.
    Scalar,
}

fn cond_form(cond_rank: usize, x_rank: usize) -> CondForm {
    if cond_rank == x_rank {
        CondForm::Elements
    } else if cond_rank == 0 {
        CondForm::Scalar
    } else {
        CondForm::Rows
    }
}

/// The shape rule on possibly unknown dimensions (`None`); also used at run time.
fn check_shapes(
    cond: &[Option<usize>],
    x: &[Option<usize>],
    y: &[Option<usize>],
) -> Result<(), String> {
    let fits = |a: &Option<usize>, b: &Option<usize>| a.is_none() || b.is_none() || a == b;
    let show = |s: &[Option<usize>]| crate::graph::Shape(s.to_vec()).to_string();
    if x.len() != y.len() || !x.iter().zip(y).all(|(a, b)| fits(a, b)) {
        return Err(format!(
            "x and y must have the same shape, got {} and {} (where does not broadcast)",
            show(x),
            show(y)
        ));
    }
    let ok = match cond_form(cond.len(), x.len()) {
        CondForm::Elements => cond.iter().zip(x).all(|(a, b)| fits(a, b)),
        CondForm::Scalar => true,
        CondForm::Rows => cond.len() == 1 && !x.is_empty() && fits(&cond[0], &x[0]),
    };
    if !ok {
        return Err(format!(
            "cond of shape {} must have x's shape {}, be a vector of its first dimension, \
             or be a scalar",
            show(cond),
            show(x)
        ));
    }
    Ok(())
}

fn select_kernel<T: Elem>(
    cond: &ArrayViewD<bool>,
    x: &ArrayViewD<T>,
    y: &ArrayViewD<T>,
    out: &mut Value,
) -> Result<(), String> {
    let o = T::buffer(out, x.shape());
    match cond_form(cond.ndim(), x.ndim()) {
        CondForm::Elements => Zip::from(o)
            .and(cond)
            .and(x)
            .and(y)
            .for_each(|o, &c, &x, &y| *o = if c { x } else { y }),
        CondForm::Scalar => {
            if cond.iter().next().copied().unwrap_or(false) {
                o.assign(x)
            } else {
                o.assign(y)
            }
        }
        CondForm::Rows => {
            let ax = ndarray::Axis(0);
            let rows = o.axis_iter_mut(ax).zip(cond.iter());
            for ((mut o, &c), (x, y)) in rows.zip(x.axis_iter(ax).zip(y.axis_iter(ax))) {
                o.assign(if c { &x } else { &y });
            }
        }
    }
    Ok(())
}

impl OpDef for Select {
    fn kind(&self) -> &'static str {
        "Select"
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let [cond, x, y] = i else {
            return Err(format!("takes (cond, x, y), got {} operands", i.len()));
        };
        if cond.dtype != DType::Bool {
            return Err(format!("cond must be bool, got {}", cond.dtype));
        }
        if x.dtype != y.dtype {
            return Err(format!(
                "x and y dtypes differ ({} vs {})",
                x.dtype, y.dtype
            ));
        }
        check_shapes(&cond.shape.0, &x.shape.0, &y.shape.0)?;
        let shape = x.shape.0.iter().zip(&y.shape.0).map(|(a, b)| a.or(*b));
        Ok(Some(TensorInfo::new(
            x.dtype,
            crate::graph::Shape(shape.collect()),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let known =
            |v: &ValueView| -> Vec<Option<usize>> { v.shape().iter().map(|&d| Some(d)).collect() };
        check_shapes(&known(&inputs[0]), &known(&inputs[1]), &known(&inputs[2]))?;
        let cond = inputs[0].bool();
        match (&inputs[1], &inputs[2]) {
            (ValueView::F32(x), ValueView::F32(y)) => select_kernel(cond, x, y, out),
            (ValueView::I64(x), ValueView::I64(y)) => select_kernel(cond, x, y, out),
            (ValueView::Bool(x), ValueView::Bool(y)) => select_kernel(cond, x, y, out),
            (x, y) => Err(format!(
                "x and y dtypes differ ({} vs {})",
                x.dtype(),
                y.dtype()
            )),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (cond, dy) = (c.inputs[0], c.dy);
        let zeros = unary(UnaryKind::ZerosLike, dy);
        Ok(vec![
            None,
            Some(where_(cond, dy, zeros)),
            Some(where_(cond, zeros, dy)),
        ])
    }
}

/// Elements of `x` where `cond` is true, of `y` elsewhere (TF1's three-argument `tf.where`,
/// formerly `tf.select`). `x` and `y`: one dtype (f32, i64 or bool) and one shape `[d0, ..]`,
/// the output's; `cond`: bool, of shape `[d0, ..]` (element-wise), `[d0]` (whole rows) or `[]`
/// (all of `x` or all of `y`). Gradient: `dy` to `x` where `cond`, to `y` elsewhere, none to
/// `cond`.
pub fn where_<'g>(cond: Tensor<'g>, x: Tensor<'g>, y: Tensor<'g>) -> Tensor<'g> {
    cond.graph().add(Select, &[cond, x, y])
}
