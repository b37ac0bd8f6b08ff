//! Loss weights broadcast to the losses' shape under TF1's rule
//! (`weights_broadcast_ops.assert_broadcastable` + `broadcast_weights`), used by
//! [`crate::losses`]; optionally as the indicator `weights != 0` (TF1's `_num_present`).

use super::reduce::reduce_to_shape_of;
use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{IxDyn, Zip};
use serde::{Deserialize, Serialize};

/// `weights` broadcast to the shape of `values` (inputs `(weights, values)`), where
/// `weights` is a scalar or has the rank of `values` with each dimension 1 or equal (TF1's
/// rule, stricter than NumPy's: no implicit leading dimensions). With `nonzero`, each
/// element is `1.0` where the weight is not 0, else `0.0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BroadcastWeights {
    /// Output the indicator `weights != 0` instead of the weights.
    pub nonzero: bool,
}

/// TF1's message, for the static or the runtime shapes.
fn check(weights: &Shape, values: &Shape) -> Result<(), String> {
    let (wr, vr) = (weights.rank(), values.rank());
    if wr == 0 {
        return Ok(());
    }
    if wr != vr {
        return Err(format!(
            "weights can not be broadcast to values: values.rank={vr}, weights.rank={wr} \
             (weights must be a scalar or have the rank of the losses)"
        ));
    }
    let bad = weights.0.iter().zip(&values.0).any(|(w, v)| match (w, v) {
        (Some(w), Some(v)) => *w != 1 && w != v,
        _ => false,
    });
    if bad {
        return Err(format!(
            "weights can not be broadcast to values: values.shape={values}, \
             weights.shape={weights} (each weights dimension must be 1 or the losses' one)"
        ));
    }
    Ok(())
}

impl OpDef for BroadcastWeights {
    fn kind(&self) -> &'static str {
        "BroadcastWeights"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_f32("BroadcastWeights", i[0])?;
        expect_f32("BroadcastWeights", i[1])?;
        check(&i[0].shape, &i[1].shape)?;
        Ok(Some(TensorInfo::new(i[0].dtype, i[1].shape.clone())))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (w, v) = (inputs[0].f32(), inputs[1].shape());
        check(&Shape::known(w.shape()), &Shape::known(v))?;
        let src = w
            .broadcast(IxDyn(v))
            .ok_or_else(|| format!("cannot broadcast weights {:?} to {v:?}", w.shape()))?;
        let o = out.f32_buffer(v);
        if self.nonzero {
            Zip::from(o)
                .and(&src)
                .for_each(|o, &w| *o = if w == 0.0 { 0.0 } else { 1.0 });
        } else {
            o.assign(&src);
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        if self.nonzero {
            // A step function: zero almost everywhere, as TF1's `where(equal(w, 0), ..)`.
            return Ok(vec![None, None]);
        }
        Ok(vec![Some(reduce_to_shape_of(c.dy, c.inputs[0])), None])
    }
}

/// `weights` broadcast to `values`' shape under TF1's rule (TF1's
/// `weights_broadcast_ops.broadcast_weights`): `weights` is a scalar or has the rank of
/// `values` with every dimension 1 or equal to `values`' one; anything else is a build error
/// (or, for dimensions known only at run time, a run error) naming the node.
pub fn broadcast_weights<'g>(weights: Tensor<'g>, values: Tensor<'g>) -> Tensor<'g> {
    values
        .graph()
        .add(BroadcastWeights { nonzero: false }, &[weights, values])
}

/// `1.0` where the broadcast `weights` are not 0, else `0.0`, shaped like `values` (the
/// elements TF1's `_num_present` counts). No gradient.
pub fn nonzero_weights<'g>(weights: Tensor<'g>, values: Tensor<'g>) -> Tensor<'g> {
    values
        .graph()
        .add(BroadcastWeights { nonzero: true }, &[weights, values])
}
