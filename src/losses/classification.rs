//! Classification losses of `tf.losses` on logits: sigmoid (independent binary labels),
//! softmax (one distribution per row) and sparse softmax (class indices), with TF1's label
//! smoothing.

use super::{compute_weighted_loss, shape_mismatch, to_f32, Reduction, Weights};
use crate::graph::{DType, Tensor};
use crate::ops::array::squeeze;
use crate::ops::conv::invalid;
use crate::ops::nn::{softmax_cross_entropy_with_logits, sparse_softmax_cross_entropy_with_logits};
use crate::ops::reduce::reduce_sum;
use crate::ops::sigmoid_xent::sigmoid_cross_entropy_with_logits;
use crate::ops::unary::stop_gradient;
use crate::ops::weights::broadcast_weights;

/// A smoothing factor must lie in `[0, 1]`.
fn check_smoothing(label_smoothing: f32) -> Option<String> {
    (!(0.0..=1.0).contains(&label_smoothing))
        .then(|| format!("label_smoothing must be in [0, 1], got {label_smoothing}"))
}

/// TF1's `tf.losses.sigmoid_cross_entropy`: the element-wise logistic loss
/// ([`sigmoid_cross_entropy_with_logits`]) of `multi_class_labels` (0/1 or soft, cast to
/// f32) against `logits`, both `[batch, C]` (any equal shapes), weighted and reduced. With
/// `label_smoothing` `s > 0` the labels become `labels * (1 - s) + 0.5 * s`. `weights`
/// broadcast to `[batch, C]` (e.g. `[batch, 1]` per example).
pub fn sigmoid_cross_entropy<'g>(
    multi_class_labels: Tensor<'g>,
    logits: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    label_smoothing: f32,
    reduction: Reduction,
) -> Tensor<'g> {
    let name = "sigmoid_cross_entropy_loss";
    let bad = shape_mismatch(
        ("logits", logits),
        ("multi_class_labels", multi_class_labels),
    )
    .or_else(|| check_smoothing(label_smoothing));
    if let Some(reason) = bad {
        return invalid(&[multi_class_labels, logits], reason, name);
    }
    let g = logits.graph();
    let w = weights.into();
    let scope = g.unique_scope(name);
    g.with_scope(&scope, || {
        let mut labels = to_f32(multi_class_labels);
        if label_smoothing > 0.0 {
            labels = labels * (1.0 - label_smoothing) + 0.5 * label_smoothing;
        }
        let losses = sigmoid_cross_entropy_with_logits(labels, logits).named("xentropy");
        compute_weighted_loss(losses, w, reduction)
    })
}

/// TF1's `tf.losses.softmax_cross_entropy`: the softmax cross-entropy of `onehot_labels`
/// (a distribution per row, cast to f32) against `logits`, both `[batch, C]`, per example
/// `[batch]`, weighted (scalar or `[batch]` weights) and reduced. With `label_smoothing`
/// `s > 0` the labels become `labels * (1 - s) + s / C`. As in TF1 no gradient flows to the
/// labels.
pub fn softmax_cross_entropy<'g>(
    onehot_labels: Tensor<'g>,
    logits: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    label_smoothing: f32,
    reduction: Reduction,
) -> Tensor<'g> {
    let name = "softmax_cross_entropy_loss";
    let bad = shape_mismatch(("logits", logits), ("onehot_labels", onehot_labels))
        .or_else(|| check_smoothing(label_smoothing));
    if let Some(reason) = bad {
        return invalid(&[onehot_labels, logits], reason, name);
    }
    let g = logits.graph();
    let w = weights.into();
    let scope = g.unique_scope(name);
    g.with_scope(&scope, || {
        let mut labels = to_f32(onehot_labels);
        if label_smoothing > 0.0 {
            let classes = match labels.shape().0.last() {
                Some(Some(c)) => g.constant(*c as f32),
                // Known only at run time: count the row's elements.
                _ => reduce_sum(broadcast_weights(g.constant(1.0f32), labels), &[-1], true),
            };
            labels = labels * (1.0 - label_smoothing) + label_smoothing / classes;
        }
        let labels = stop_gradient(labels).named("labels_stop_gradient");
        let losses = softmax_cross_entropy_with_logits(labels, logits).named("xentropy");
        compute_weighted_loss(losses, w, reduction)
    })
}

/// TF1's `tf.losses.sparse_softmax_cross_entropy`: the softmax cross-entropy of class
/// indices `labels` (i64 `[batch]`, or `[batch, 1]`, squeezed as TF1 does) against
/// `logits [batch, C]`, per example `[batch]`, weighted and reduced. Weights of shape
/// `[batch, 1]` are squeezed to `[batch]` too. A label outside `[0, C)` is a run error.
pub fn sparse_softmax_cross_entropy<'g>(
    labels: Tensor<'g>,
    logits: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    reduction: Reduction,
) -> Tensor<'g> {
    let name = "sparse_softmax_cross_entropy_loss";
    let g = logits.graph();
    if labels.info().is_some() && labels.dtype() != DType::I64 {
        let reason = format!("labels must be i64 class indices, got {}", labels.dtype());
        return invalid(&[labels, logits], reason, name);
    }
    let w = weights.into();
    let scope = g.unique_scope(name);
    g.with_scope(&scope, || {
        // TF1's `_remove_squeezable_dimensions(.., expected_rank_diff=1)`, on static ranks.
        let (lr, xr) = (labels.shape().rank(), logits.shape().rank());
        let labels = if lr == xr && lr > 0 && labels.shape().0[lr - 1].unwrap_or(1) == 1 {
            squeeze(labels, &[-1])
        } else {
            labels
        };
        let w = match w {
            Weights::Tensor(t)
                if t.info().is_some() && t.shape().rank() == labels.shape().rank() + 1 =>
            {
                Weights::Tensor(squeeze(t, &[-1]))
            }
            other => other,
        };
        let losses = sparse_softmax_cross_entropy_with_logits(labels, logits).named("xentropy");
        compute_weighted_loss(losses, w, reduction)
    })
}
