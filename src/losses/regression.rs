//! Regression losses of `tf.losses`: mean squared error, absolute difference, Huber, log
//! loss and cosine distance. Each checks that `labels` and `predictions` have compatible
//! static shapes (TF1's `assert_is_compatible_with`), then hands the per-element losses to
//! [`compute_weighted_loss`].

use super::{compute_weighted_loss, shape_mismatch, to_f32, Reduction, Weights};
use crate::graph::Tensor;
use crate::ops::binary::minimum;
use crate::ops::conv::invalid;
use crate::ops::reduce::reduce_sum;
use crate::ops::unary::{abs, log, square};

/// Runs `f` on the f32 `labels` and `predictions` inside a fresh scope `name`, or returns
/// a node that fails to build, named `name`, if their shapes are incompatible.
fn pairwise<'g>(
    name: &str,
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    f: impl FnOnce(Tensor<'g>, Tensor<'g>) -> Tensor<'g>,
) -> Tensor<'g> {
    let g = predictions.graph();
    if let Some(reason) = shape_mismatch(("predictions", predictions), ("labels", labels)) {
        return invalid(&[labels, predictions], reason, name);
    }
    let scope = g.unique_scope(name);
    g.with_scope(&scope, || f(to_f32(labels), to_f32(predictions)))
}

/// TF1's `tf.losses.mean_squared_error`: per-element `(predictions - labels)²`, weighted
/// and reduced (see [`compute_weighted_loss`]). `labels`, `predictions`: the same shape
/// `[..]` (i64 labels are cast to f32).
pub fn mean_squared_error<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    reduction: Reduction,
) -> Tensor<'g> {
    let w = weights.into();
    pairwise("mean_squared_error", labels, predictions, |l, p| {
        compute_weighted_loss(square(p - l), w, reduction)
    })
}

/// TF1's `tf.losses.absolute_difference`: per-element `|predictions - labels|`, weighted
/// and reduced. `labels`, `predictions`: the same shape `[..]`.
pub fn absolute_difference<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    reduction: Reduction,
) -> Tensor<'g> {
    let w = weights.into();
    pairwise("absolute_difference", labels, predictions, |l, p| {
        compute_weighted_loss(abs(p - l), w, reduction)
    })
}

/// TF1's `tf.losses.huber_loss`: with `e = |predictions - labels|`, per element
/// `0.5 * e²` where `e <= delta`, else `0.5 * delta² + delta * (e - delta)`; computed as TF1
/// does (`q = min(e, delta)`, `0.5 * q² + delta * (e - q)`), so the gradients match too.
/// `labels`, `predictions`: the same shape `[..]`; TF1's default `delta` is 1.
pub fn huber_loss<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    delta: f32,
    reduction: Reduction,
) -> Tensor<'g> {
    let w = weights.into();
    pairwise("huber_loss", labels, predictions, |l, p| {
        let g = p.graph();
        let e = abs(p - l);
        let q = minimum(e, g.constant(delta));
        let linear = e - q;
        compute_weighted_loss(0.5 * (q * q) + delta * linear, w, reduction)
    })
}

/// TF1's `tf.losses.log_loss`: per element
/// `-labels * log(predictions + epsilon) - (1 - labels) * log(1 - predictions + epsilon)`
/// for predicted probabilities; TF1's default `epsilon` is 1e-7. `labels`, `predictions`:
/// the same shape `[..]`. The second logarithm's argument is computed as `(1 + epsilon) - p`,
/// as TF1's session does after its graph rewrites.
pub fn log_loss<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    epsilon: f32,
    reduction: Reduction,
) -> Tensor<'g> {
    let w = weights.into();
    pairwise("log_loss", labels, predictions, |l, p| {
        // TF1 writes `1 - p + epsilon`; its session's graph optimizer (grappler's constant
        // push-down) runs it as `(1 + epsilon) - p`, which differs near p = 1: give the
        // numbers TF1 gives.
        let losses = -(l * log(p + epsilon)) - (1.0 - l) * log((1.0 + epsilon) - p);
        compute_weighted_loss(losses, w, reduction)
    })
}

/// TF1's `tf.losses.cosine_distance`: `1 - sum(predictions * labels, axis)` with the axis
/// kept (size 1), for unit-normalised `labels` and `predictions` of the same shape; the
/// per-element losses have shape `[..]` with `axis` of size 1, which is the shape `weights`
/// must broadcast to. A negative `axis` counts from the end.
pub fn cosine_distance<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    axis: i64,
    weights: impl Into<Weights<'g>>,
    reduction: Reduction,
) -> Tensor<'g> {
    let w = weights.into();
    pairwise("cosine_distance", labels, predictions, |l, p| {
        let losses = 1.0 - reduce_sum(p * l, &[axis], true);
        compute_weighted_loss(losses, w, reduction)
    })
}
