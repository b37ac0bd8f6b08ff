//! Leaky relu (TF1's `tf.nn.leaky_relu`): `x` where `x > 0`, else `alpha * x`, and its
//! gradient kernel `LeakyReluGrad`. Shape rule: output = input.

use super::{expect_arity, expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Tensor, TensorInfo, Value, ValueView};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// `x > 0 ? x : alpha * x`, element-wise (NaN stays NaN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakyRelu {
    /// Slope for `x <= 0`.
    pub alpha: f32,
}

/// `x > 0 ? dy : alpha * dy`; inputs `(dy, x)` of one shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakyReluGrad {
    /// Slope for `x <= 0`.
    pub alpha: f32,
}

impl OpDef for LeakyRelu {
    fn kind(&self) -> &'static str {
        "LeakyRelu"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        expect_f32("LeakyRelu", i[0])?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].f32();
        let a = self.alpha;
        Zip::from(out.f32_buffer(x.shape()))
            .and(x)
            .for_each(|o, &x| *o = if x > 0.0 { x } else { a * x });
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let g = c
            .graph
            .add(LeakyReluGrad { alpha: self.alpha }, &[c.dy, c.inputs[0]]);
        Ok(vec![Some(g)])
    }
}

impl OpDef for LeakyReluGrad {
    fn kind(&self) -> &'static str {
        "LeakyReluGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["dy", "x"])?;
        expect_f32("LeakyReluGrad", i[0])?;
        expect_f32("LeakyReluGrad", i[1])?;
        if !i[0].shape.compatible(&i[1].shape) {
            return Err(format!(
                "dy and x must have one shape, got {} and {}",
                i[0].shape, i[1].shape
            ));
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, x) = (inputs[0].f32(), inputs[1].f32());
        if dy.shape() != x.shape() {
            return Err(format!(
                "dy and x must have one shape, got {:?} and {:?}",
                dy.shape(),
                x.shape()
            ));
        }
        let a = self.alpha;
        Zip::from(out.f32_buffer(dy.shape()))
            .and(dy)
            .and(x)
            .for_each(|o, &dy, &x| *o = if x > 0.0 { dy } else { a * dy });
        Ok(())
    }
}

/// Leaky relu, element-wise (TF1's `tf.nn.leaky_relu`, whose default `alpha` is 0.2):
/// `x` where `x > 0`, else `alpha * x`. Gradient `dy` where `x > 0`, else `alpha * dy`.
pub fn leaky_relu(x: Tensor<'_>, alpha: f32) -> Tensor<'_> {
    x.graph().add(LeakyRelu { alpha }, &[x])
}
