//! Logic on bool tensors, as TF1's `tf.logical_and`, `tf.logical_or`, `tf.logical_not`,
//! `tf.reduce_any` and `tf.reduce_all`.
//!
//! Shape rules: `logical_and` / `logical_or` take two bool operands and give their broadcast
//! shape; `logical_not` keeps its operand's shape; `reduce_any` / `reduce_all` drop the reduced
//! axes (or keep them as size 1 with `keep_dims`), like the other reductions. Every operand
//! must be bool (compare or `cast` first). An empty reduction gives `false` for any and
//! `true` for all, as in TF1. No gradients, as in TF1: nothing flows through these ops.

use super::compare::zip_broadcast;
use super::reduce::{check_axes, normalize_axes, reduced_shape};
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayD, Axis, Zip};
use serde::{Deserialize, Serialize};

/// Which logic function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogicKind {
    /// `a && b` (two operands).
    And,
    /// `a || b` (two operands).
    Or,
    /// `!a` (one operand).
    Not,
}

/// An element-wise logic function of bool operands (broadcast for `And`, `Or`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logic {
    /// Which function.
    pub kind: LogicKind,
}

impl LogicKind {
    fn name(self) -> &'static str {
        match self {
            LogicKind::And => "LogicalAnd",
            LogicKind::Or => "LogicalOr",
            LogicKind::Not => "LogicalNot",
        }
    }
}

/// Checks that every operand is bool, naming the first that is not.
fn expect_bool(op: &str, i: &[&TensorInfo]) -> Result<(), String> {
    match i.iter().position(|t| t.dtype != DType::Bool) {
        Some(k) => Err(format!(
            "{op} needs bool operands, operand {k} is {} (compare or cast it first)",
            i[k].dtype
        )),
        None => Ok(()),
    }
}

impl OpDef for Logic {
    fn kind(&self) -> &'static str {
        self.kind.name()
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let arity = if self.kind == LogicKind::Not { 1 } else { 2 };
        expect_arity(i, arity)?;
        expect_bool(self.kind.name(), i)?;
        let shape = match i {
            [a, b] => a.shape.broadcast(&b.shape)?,
            _ => i[0].shape.clone(),
        };
        Ok(Some(TensorInfo::new(DType::Bool, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        match (self.kind, inputs) {
            (LogicKind::Not, [ValueView::Bool(a)]) => {
                let o = out.bool_buffer(a.shape());
                Zip::from(o).and(a).for_each(|o, &a| *o = !a);
                Ok(())
            }
            (LogicKind::And, [ValueView::Bool(a), ValueView::Bool(b)]) => {
                zip_broadcast(a, b, out, |x, y| x && y)
            }
            (LogicKind::Or, [ValueView::Bool(a), ValueView::Bool(b)]) => {
                zip_broadcast(a, b, out, |x, y| x || y)
            }
            _ => Err(format!("{} needs bool operands", self.kind.name())),
        }
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None; c.inputs.len()])
    }
}

/// `a && b` element-wise with broadcasting (TF1's `tf.logical_and`): bool operands, bool
/// output of their broadcast shape.
pub fn logical_and<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    a.graph().add(
        Logic {
            kind: LogicKind::And,
        },
        &[a, b],
    )
}
/// `a || b` element-wise with broadcasting (TF1's `tf.logical_or`): bool operands, bool
/// output of their broadcast shape.
pub fn logical_or<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    a.graph().add(
        Logic {
            kind: LogicKind::Or,
        },
        &[a, b],
    )
}
/// `!a` element-wise (TF1's `tf.logical_not`): a bool operand, same shape.
pub fn logical_not(a: Tensor<'_>) -> Tensor<'_> {
    a.graph().add(
        Logic {
            kind: LogicKind::Not,
        },
        &[a],
    )
}

// ---------------------------------------------------------------------------------------------
// ReduceAny, ReduceAll

/// "Any" (`any` true) or "all" of a bool tensor over `axes` (sorted, distinct).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLogic {
    /// True for any (logical or), false for all (logical and).
    pub any: bool,
    /// Axes to reduce, sorted; all axes for a full reduction.
    pub axes: Vec<usize>,
    /// Keep reduced axes as size-1 dimensions.
    pub keep_dims: bool,
}

impl OpDef for ReduceLogic {
    fn kind(&self) -> &'static str {
        if self.any {
            "Any"
        } else {
            "All"
        }
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_bool(self.kind(), i)?;
        check_axes(&self.axes, i[0].shape.rank())?;
        Ok(Some(TensorInfo::new(
            DType::Bool,
            reduced_shape(&i[0].shape, &self.axes, self.keep_dims),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].bool();
        check_axes(&self.axes, x.ndim())?;
        let shape = reduced_shape(&Shape::known(x.shape()), &self.axes, self.keep_dims)
            .to_vec()
            .expect("known");
        // The identity of the fold: false for any, true for all.
        let (init, any) = (!self.any, self.any);
        let fold = |acc: &bool, &v: &bool| if any { *acc || v } else { *acc && v };
        let mut cur: Option<ArrayD<bool>> = None;
        // Last axis first, so the remaining axis numbers stay valid.
        for &a in self.axes.iter().rev() {
            cur = Some(match &cur {
                None => x.fold_axis(Axis(a), init, fold),
                Some(c) => c.fold_axis(Axis(a), init, fold),
            });
        }
        let o = out.bool_buffer(&shape);
        match &cur {
            // Same elements in the same row-major order; only the size-1 axes differ.
            Some(c) => o.iter_mut().zip(c.iter()).for_each(|(o, &v)| *o = v),
            None => o.assign(x),
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

fn reduce_logic<'g>(any: bool, x: Tensor<'g>, axes: Option<&[i64]>, keep_dims: bool) -> Tensor<'g> {
    let axes = match axes.map(|a| normalize_axes(x, a)) {
        Some(Ok(a)) => a,
        Some(Err(reason)) => {
            return super::conv::invalid(&[x], reason, if any { "Any" } else { "All" })
        }
        None => (0..x.shape().rank()).collect(),
    };
    x.graph().add(
        ReduceLogic {
            any,
            axes,
            keep_dims,
        },
        &[x],
    )
}

/// True where any element over `axes` is true (TF1's `tf.reduce_any`): a bool operand;
/// negative axes count from the end; the shape loses them unless `keep_dims` (`[2, 3]` over
/// `[1]` gives `[2]`, or `[2, 1]`). An empty reduction is false.
pub fn reduce_any<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce_logic(true, x, Some(axes), keep_dims)
}
/// True where every element over `axes` is true (TF1's `tf.reduce_all`): a bool operand;
/// negative axes count from the end; the shape loses them unless `keep_dims`. An empty
/// reduction is true.
pub fn reduce_all<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> Tensor<'g> {
    reduce_logic(false, x, Some(axes), keep_dims)
}
/// Whether any element of a bool tensor is true, a bool scalar.
pub fn reduce_any_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce_logic(true, x, None, false)
}
/// Whether every element of a bool tensor is true, a bool scalar.
pub fn reduce_all_all(x: Tensor<'_>) -> Tensor<'_> {
    reduce_logic(false, x, None, false)
}
