//! TF's `div_no_nan`: `a / b`, but 0 where `b` is 0 (safe means, as in TF1's losses).

use super::reduce::reduce_to_shape_of;
use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{broadcast_dims, Tensor, TensorInfo, Value, ValueView};
use ndarray::{IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// `a / b` with NumPy broadcasting, `0` where `b == 0` (even if `a` is 0, NaN or infinite).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DivNoNan;

#[inline]
fn div_no_nan_f32(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

impl OpDef for DivNoNan {
    fn kind(&self) -> &'static str {
        "DivNoNan"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_f32("DivNoNan", i[0])?;
        expect_f32("DivNoNan", i[1])?;
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            i[0].shape.broadcast(&i[1].shape)?,
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (a, b) = (inputs[0].f32(), inputs[1].f32());
        let shape = broadcast_dims(a.shape(), b.shape())?;
        let (a, b) = (
            a.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
            b.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
        );
        Zip::from(out.f32_buffer(&shape))
            .and(&a)
            .and(&b)
            .for_each(|o, &a, &b| *o = div_no_nan_f32(a, b));
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (a, b, dy) = (c.inputs[0], c.inputs[1], c.dy);
        // TF's `_DivNoNanGrad`: both parts are 0 where b == 0.
        let da = div_no_nan(dy, b);
        let db = dy * div_no_nan(div_no_nan(-a, b), b);
        Ok(vec![
            Some(reduce_to_shape_of(da, a)),
            Some(reduce_to_shape_of(db, b)),
        ])
    }
}

/// `a / b` element-wise with broadcasting, `0` where `b == 0` (TF's `tf.math.divide_no_nan`,
/// `tf.div_no_nan` in TF1). The gradient is 0 where `b == 0`, as in TF.
pub fn div_no_nan<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    a.graph().add(DivNoNan, &[a, b])
}
