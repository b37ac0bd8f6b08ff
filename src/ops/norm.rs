//! Normalisation arithmetic as TF1 writes it: `tf.nn.moments` and `tf.nn.batch_normalization`.
//!
//! No new op kind: TF1's non-fused batch normalisation (the path `tf.layers.batch_normalization`
//! takes for a `training` tensor, also on NHWC input) and contrib's `layer_norm` are these
//! primitives (mean, squared difference, `rsqrt`, multiply-add), and their gradient is the
//! gradient autodiff builds through them: batch statistics are differentiated through, as in
//! TF1. Following TF1 term by term keeps the forward values within float rounding of TF1's.

use super::reduce::reduce_mean;
use super::unary::{rsqrt, square, stop_gradient};
use crate::graph::Tensor;

/// Mean and variance of `x` over `axes` (TF1's `tf.nn.moments`): `mean = mean(x)`,
/// `variance = mean((x - stop_gradient(mean))²)` (the biased variance). With `keep_dims` the
/// reduced axes stay as size 1 (shape `x`'s with 1s); without, they are removed. Negative
/// axes count from the end.
pub fn moments<'g>(x: Tensor<'g>, axes: &[i64], keep_dims: bool) -> (Tensor<'g>, Tensor<'g>) {
    let g = x.graph();
    let _s = g.name_scope(&g.unique_scope("moments"));
    let mean = reduce_mean(x, axes, true);
    let variance = reduce_mean(square(x - stop_gradient(mean)), axes, keep_dims);
    let mean = if keep_dims {
        mean
    } else {
        reduce_mean(mean, axes, false)
    };
    (mean, variance)
}

/// `(x - mean) * scale / √(variance + epsilon) + offset`, computed as TF1's
/// `tf.nn.batch_normalization`: `inv = rsqrt(variance + epsilon) * scale`,
/// `x * inv + (offset - mean * inv)`. `mean`, `variance`, `offset` and `scale` broadcast
/// against `x` (e.g. `[channels]` against `[batch, .., channels]`, or keep-dims moments);
/// `offset` and `scale` are optional (0 and 1). Output: `x`'s shape.
pub fn batch_normalization<'g>(
    x: Tensor<'g>,
    mean: Tensor<'g>,
    variance: Tensor<'g>,
    offset: Option<Tensor<'g>>,
    scale: Option<Tensor<'g>>,
    epsilon: f32,
) -> Tensor<'g> {
    let g = x.graph();
    let _s = g.name_scope(&g.unique_scope("batchnorm"));
    let mut inv = rsqrt(variance + g.constant(epsilon));
    if let Some(s) = scale {
        inv = inv * s;
    }
    let shift = match offset {
        Some(o) => o - mean * inv,
        None => -(mean * inv),
    };
    x * inv + shift
}
