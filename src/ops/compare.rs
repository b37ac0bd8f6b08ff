//! Comparisons, as TF1's `tf.equal`, `tf.not_equal`, `tf.greater`, `tf.greater_equal`,
//! `tf.less` and `tf.less_equal`: element-wise with NumPy broadcasting, bool output.
//!
//! Shape rule: both operands have one dtype (f32 or i64; bool too for `equal` and
//! `not_equal`), and the output has their broadcast shape. f32 compares as IEEE 754 (and TF1)
//! does: NaN equals nothing, itself included, so `not_equal(NaN, NaN)` is true and every
//! ordering test with a NaN is false; `-0.0 == 0.0`. No gradient, as in TF1 (which registers
//! these ops as not differentiable): a path through a comparison contributes nothing.

use super::{GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{broadcast_dims, DType, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayViewD, IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// Which comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareKind {
    /// `a == b`
    Equal,
    /// `a != b`
    NotEqual,
    /// `a > b`
    Greater,
    /// `a >= b`
    GreaterEqual,
    /// `a < b`
    Less,
    /// `a <= b`
    LessEqual,
}

impl CompareKind {
    fn name(self) -> &'static str {
        match self {
            CompareKind::Equal => "Equal",
            CompareKind::NotEqual => "NotEqual",
            CompareKind::Greater => "Greater",
            CompareKind::GreaterEqual => "GreaterEqual",
            CompareKind::Less => "Less",
            CompareKind::LessEqual => "LessEqual",
        }
    }
}

/// An element-wise comparison of two broadcast operands, answering bool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compare {
    /// Which comparison.
    pub kind: CompareKind,
}

/// `out = f(a, b)` as bool, with `a` and `b` broadcast to their common shape.
pub(crate) fn zip_broadcast<A: Copy, B: Copy>(
    a: &ArrayViewD<A>,
    b: &ArrayViewD<B>,
    out: &mut Value,
    f: impl Fn(A, B) -> bool,
) -> Result<(), String> {
    let shape = broadcast_dims(a.shape(), b.shape())?;
    let o = out.bool_buffer(&shape);
    if let (Some(o), Some(x), Some(y)) = (o.as_slice_mut(), a.as_slice(), b.as_slice()) {
        if x.len() == o.len() && y.len() == o.len() {
            o.iter_mut()
                .zip(x)
                .zip(y)
                .for_each(|((o, &x), &y)| *o = f(x, y));
            return Ok(());
        }
    }
    let (a, b) = (
        a.broadcast(IxDyn(&shape)).ok_or("internal: broadcast")?,
        b.broadcast(IxDyn(&shape)).ok_or("internal: broadcast")?,
    );
    Zip::from(o)
        .and(&a)
        .and(&b)
        .for_each(|o, &x, &y| *o = f(x, y));
    Ok(())
}

/// The comparison kernel for one element type; the kind is matched once, outside the loop.
fn compare_kernel<T: Copy + PartialOrd>(
    kind: CompareKind,
    a: &ArrayViewD<T>,
    b: &ArrayViewD<T>,
    out: &mut Value,
) -> Result<(), String> {
    match kind {
        CompareKind::Equal => zip_broadcast(a, b, out, |x, y| x == y),
        CompareKind::NotEqual => zip_broadcast(a, b, out, |x, y| x != y),
        CompareKind::Greater => zip_broadcast(a, b, out, |x, y| x > y),
        CompareKind::GreaterEqual => zip_broadcast(a, b, out, |x, y| x >= y),
        CompareKind::Less => zip_broadcast(a, b, out, |x, y| x < y),
        CompareKind::LessEqual => zip_broadcast(a, b, out, |x, y| x <= y),
    }
}

impl OpDef for Compare {
    fn kind(&self) -> &'static str {
        self.kind.name()
    }
    fn takes_bool(&self) -> bool {
        true
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let [a, b] = i else {
            return Err(format!("takes two operands, got {}", i.len()));
        };
        if a.dtype != b.dtype {
            return Err(format!(
                "operand dtypes differ ({} vs {})",
                a.dtype, b.dtype
            ));
        }
        let ordering = !matches!(self.kind, CompareKind::Equal | CompareKind::NotEqual);
        if ordering && a.dtype == DType::Bool {
            return Err(format!(
                "{} is not defined for bool operands (only equal and not_equal are)",
                self.kind.name()
            ));
        }
        let shape = a.shape.broadcast(&b.shape)?;
        Ok(Some(TensorInfo::new(DType::Bool, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        match (&inputs[0], &inputs[1]) {
            (ValueView::F32(a), ValueView::F32(b)) => compare_kernel(self.kind, a, b, out),
            (ValueView::I64(a), ValueView::I64(b)) => compare_kernel(self.kind, a, b, out),
            (ValueView::Bool(a), ValueView::Bool(b)) => compare_kernel(self.kind, a, b, out),
            (a, b) => Err(format!(
                "operand dtypes differ ({} vs {})",
                a.dtype(),
                b.dtype()
            )),
        }
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None, None])
    }
}

fn compare<'g>(kind: CompareKind, a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    a.graph().add(Compare { kind }, &[a, b])
}

/// `a == b` element-wise with broadcasting, as bool (TF1's `tf.equal`): `[2, 3]` and `[3]`
/// give `[2, 3]`. f32, i64 or bool operands of one dtype; NaN equals nothing.
///
/// A classifier's accuracy, computed in the graph as in TF1
/// (`tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))`):
///
/// ```
/// use staticflow::prelude::*;
/// let g = Graph::new();
/// let logits = g.placeholder("logits", [None, Some(3)]);
/// let labels = g.placeholder_typed("labels", DType::I64, [None]);
/// let correct = equal(argmax(logits, 1), labels); // [batch] bool
/// let accuracy = reduce_mean_all(cast(correct, DType::F32));
/// let l = ndarray::array![[0.1f32, 0.9, 0.0], [0.8, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]];
/// let y = ndarray::array![1i64, 1, 2, 0];
/// let mut sess = Session::new(&g);
/// let out = sess
///     .run(&[correct.into(), accuracy.into()], &[(logits, (&l).into()), (labels, (&y).into())])
///     .unwrap();
/// assert_eq!(out.bool(0).unwrap().as_slice().unwrap(), &[true, false, true, true]);
/// assert_eq!(out.scalar(1).unwrap(), 0.75);
/// ```
pub fn equal<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::Equal, a, b)
}
/// `a != b` element-wise with broadcasting, as bool (TF1's `tf.not_equal`); true where
/// either is NaN. f32, i64 or bool operands of one dtype.
pub fn not_equal<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::NotEqual, a, b)
}
/// `a > b` element-wise with broadcasting, as bool (TF1's `tf.greater`); false where either
/// is NaN. f32 or i64 operands of one dtype.
pub fn greater<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::Greater, a, b)
}
/// `a >= b` element-wise with broadcasting, as bool (TF1's `tf.greater_equal`); false where
/// either is NaN. f32 or i64 operands of one dtype.
pub fn greater_equal<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::GreaterEqual, a, b)
}
/// `a < b` element-wise with broadcasting, as bool (TF1's `tf.less`); false where either is
/// NaN. f32 or i64 operands of one dtype.
pub fn less<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::Less, a, b)
}
/// `a <= b` element-wise with broadcasting, as bool (TF1's `tf.less_equal`); false where
/// either is NaN. f32 or i64 operands of one dtype.
pub fn less_equal<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    compare(CompareKind::LessEqual, a, b)
}
