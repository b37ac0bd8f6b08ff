//! Gradient clipping by global norm (TF1's `tf.clip_by_global_norm`).

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::binary::{minimum, sub};
use crate::ops::reduce::l2_loss;
use crate::ops::unary::sqrt;

/// `sqrt(sum_i ||t_i||²)` over all tensors (TF1's `tf.global_norm`, computed as
/// `sqrt(2 * sum_i l2_loss(t_i))`). A scalar f32 tensor; errors on an empty list.
pub fn global_norm<'g>(ts: &[Tensor<'g>]) -> Result<Tensor<'g>> {
    let Some(first) = ts.first() else {
        return Err(Error::InvalidArgument(
            "global_norm of an empty list of tensors".into(),
        ));
    };
    let g = first.graph();
    crate::graph::same_graph_pub(g, ts, "the other tensors of `global_norm`")?;
    let _s = g.name_scope("global_norm");
    let half = ts[1..]
        .iter()
        .fold(l2_loss(*first), |acc, t| acc + l2_loss(*t));
    Ok(sqrt(half * 2.0).named("global_norm"))
}

/// Scales all tensors by `clip_norm / max(global_norm, clip_norm)` (TF1 semantics, computed
/// as TF does: `t * (clip_norm * min(1 / global_norm, 1 / clip_norm))`, NaN everywhere if the
/// norm is not finite). Returns the clipped tensors (same shapes, same order) and the global
/// norm before clipping.
///
/// Errors: an empty list, tensors from different graphs, `clip_norm` not positive.
pub fn clip_by_global_norm<'g>(
    ts: &[Tensor<'g>],
    clip_norm: f32,
) -> Result<(Vec<Tensor<'g>>, Tensor<'g>)> {
    if clip_norm.is_nan() || clip_norm <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "clip_by_global_norm: clip_norm must be positive, got {clip_norm}"
        )));
    }
    let norm = global_norm(ts)?;
    let g = norm.graph();
    let _s = g.name_scope("clip_by_global_norm");
    let inv_clip = g.constant(1.0f32 / clip_norm);
    // `norm - norm` is 0, or NaN when the norm is infinite or NaN (as in TF1).
    let nan_if_not_finite = sub(norm, norm);
    let scale = clip_norm * minimum(1.0f32 / norm, inv_clip) + nan_if_not_finite;
    let clipped = ts.iter().map(|t| *t * scale).collect();
    g.check()?;
    Ok((clipped, norm))
}
