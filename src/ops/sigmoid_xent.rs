//! TF1's `tf.nn.sigmoid_cross_entropy_with_logits`: the element-wise logistic loss between
//! labels `z` and logits `x`, fused and numerically stable, with its gradient.

use super::array::contiguous;
use super::unary::sigmoid;
use super::{expect_arity, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Shape, Tensor, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};

/// `max(x, 0) - x * z + log1p(exp(-|x|))` element-wise: inputs `(labels z, logits x)` of one
/// shape, output of that shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SigmoidCrossEntropyWithLogits;

/// TF1's stable form: never overflows, exact for large `|x|`.
#[inline]
fn logistic_loss(z: f32, x: f32) -> f32 {
    x.max(0.0) - x * z + (-x.abs()).exp().ln_1p()
}

impl OpDef for SigmoidCrossEntropyWithLogits {
    fn kind(&self) -> &'static str {
        "SigmoidCrossEntropyWithLogits"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        if i[0].dtype != DType::F32 || i[1].dtype != DType::F32 {
            return Err(format!(
                "labels and logits must be f32, got {} and {}",
                i[0].dtype, i[1].dtype
            ));
        }
        if !i[0].shape.compatible(&i[1].shape) {
            return Err(format!(
                "labels shape {} differs from logits shape {} (TF1: logits and labels must \
                 have the same shape)",
                i[0].shape, i[1].shape
            ));
        }
        let merged = Shape(
            i[0].shape
                .0
                .iter()
                .zip(&i[1].shape.0)
                .map(|(a, b)| a.or(*b))
                .collect(),
        );
        Ok(Some(TensorInfo::new(DType::F32, merged)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (z, x) = (inputs[0].f32(), inputs[1].f32());
        if z.shape() != x.shape() {
            return Err(format!(
                "labels shape {:?} differs from logits shape {:?}",
                z.shape(),
                x.shape()
            ));
        }
        let (zs, xs) = (contiguous(z), contiguous(x));
        let o = out.f32_buffer(x.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        for ((o, &z), &x) in o.iter_mut().zip(zs.iter()).zip(xs.iter()) {
            *o = logistic_loss(z, x);
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (z, x, dy) = (c.inputs[0], c.inputs[1], c.dy);
        // d/dx = sigmoid(x) - z (TF1's composite gives the same, 1/2 - z at x = 0);
        // d/dz = -x.
        Ok(vec![Some(-(x * dy)), Some((sigmoid(x) - z) * dy)])
    }
}

/// Element-wise logistic loss of independent binary (or soft) labels (TF1's
/// `tf.nn.sigmoid_cross_entropy_with_logits`): `labels` and `logits` of one shape `[..]`
/// -> `[..]`, `z * -log(sigmoid(x)) + (1 - z) * -log(1 - sigmoid(x))`, computed as
/// `max(x, 0) - x * z + log1p(exp(-|x|))` so that it never overflows. Gradients:
/// `(sigmoid(x) - z) * dy` for the logits, `-x * dy` for the labels. Different shapes are a
/// build error naming the node.
pub fn sigmoid_cross_entropy_with_logits<'g>(labels: Tensor<'g>, logits: Tensor<'g>) -> Tensor<'g> {
    logits
        .graph()
        .add(SigmoidCrossEntropyWithLogits, &[labels, logits])
}
