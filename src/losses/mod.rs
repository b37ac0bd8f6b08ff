//! TF1's `tf.losses` (`tf.compat.v1.losses`): losses with `weights` and a [`Reduction`],
//! built from graph ops, each added to the graph's [`GraphKeys::LOSSES`] collection; L1/L2
//! weight decay whose terms go to [`GraphKeys::REGULARIZATION_LOSSES`]; and the sums
//! [`get_regularization_loss`] and [`get_total_loss`].
//!
//! Every loss takes `(labels, predictions or logits, weights, .., reduction)` in TF1's order
//! and follows TF1's `compute_weighted_loss`: the per-element losses are multiplied by the
//! `weights` (an `f32` such as `1.0`, or a tensor that is a scalar or has the losses' rank
//! with each dimension 1 or equal, see [`crate::ops::weights::broadcast_weights`]), then
//! reduced. The default reduction is TF1's, [`Reduction::SumByNonzeroWeights`]: the weighted
//! sum divided by the number of elements whose weight is not 0 (0 if there are none).
//!
//! ```
//! use staticflow::prelude::*;
//! use staticflow::losses::{self, Reduction};
//! let g = Graph::new();
//! let labels = g.placeholder("labels", &[None, Some(3)]);
//! let predictions = g.placeholder("predictions", &[None, Some(3)]);
//! let mask = g.placeholder("mask", &[None, Some(1)]); // per-example weights, [batch, 1]
//! let loss = losses::mean_squared_error(labels, predictions, mask, Reduction::default());
//! let total = losses::get_total_loss(&g, true).unwrap(); // here: `loss` itself
//! assert_eq!(g.get_collection(GraphKeys::LOSSES), vec![loss]);
//! # let _ = total;
//! ```
//!
//! Bad operands (labels and predictions of different shapes, weights that do not broadcast
//! under TF1's rule) are build errors naming the node, reported by the first fallible call
//! as everywhere else in staticflow.

mod classification;
mod regression;
mod regularizers;

pub use classification::{
    sigmoid_cross_entropy, softmax_cross_entropy, sparse_softmax_cross_entropy,
};
pub use regression::{
    absolute_difference, cosine_distance, huber_loss, log_loss, mean_squared_error,
};
pub use regularizers::{l1_l2_regularizer, l1_regularizer, l2_regularizer, Regularizer};

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, GraphKeys, Tensor};
use crate::ops::array::{add_n, cast};
use crate::ops::div_no_nan::div_no_nan;
use crate::ops::reduce::reduce_sum_all;
use crate::ops::weights::{broadcast_weights, nonzero_weights};

/// How [`compute_weighted_loss`] reduces the weighted per-element losses (TF1's
/// `tf.losses.Reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// No reduction: the weighted losses, shaped like the per-element losses.
    None,
    /// The sum of the weighted losses, a scalar.
    Sum,
    /// The sum of the weighted losses divided by the sum of the (broadcast) weights, a
    /// scalar; 0 if the weights sum to 0.
    Mean,
    /// The sum of the weighted losses divided by the number of loss elements, a scalar.
    SumOverBatchSize,
    /// The sum of the weighted losses divided by the number of loss elements whose
    /// (broadcast) weight is not 0, a scalar; 0 if every weight is 0. TF1's default.
    #[default]
    SumByNonzeroWeights,
}

/// A loss's `weights`: a constant (TF1's Python float, usually `1.0`) or a tensor that is a
/// scalar or broadcasts to the losses under TF1's rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weights<'g> {
    /// The same weight for every element.
    Constant(f32),
    /// Weights per element, per example (e.g. `[batch, 1]`), or a scalar tensor.
    Tensor(Tensor<'g>),
}

impl From<f32> for Weights<'_> {
    fn from(w: f32) -> Self {
        Weights::Constant(w)
    }
}

impl<'g> From<Tensor<'g>> for Weights<'g> {
    fn from(t: Tensor<'g>) -> Self {
        Weights::Tensor(t)
    }
}

impl<'g> Weights<'g> {
    pub(crate) fn tensor(self, g: &'g Graph) -> Tensor<'g> {
        match self {
            Weights::Constant(w) => g.constant(w).named("weights"),
            Weights::Tensor(t) => t,
        }
    }
}

/// The number of elements of `losses` as an f32 scalar: a constant if its shape is known.
fn num_elements(losses: Tensor<'_>) -> Tensor<'_> {
    let g = losses.graph();
    match losses.shape().num_elements() {
        Some(n) => g.constant(n as f32).named("num_elements"),
        None => reduce_sum_all(broadcast_weights(g.constant(1.0f32), losses)),
    }
}

/// TF1's `compute_weighted_loss`: `losses * weights`, reduced by `reduction`, added to the
/// graph's [`GraphKeys::LOSSES`] collection. `losses` is any f32 tensor of per-element
/// losses; the result is a scalar, or shaped like `losses` for [`Reduction::None`].
/// Weights that do not broadcast to `losses` (TF1's rule: a scalar, or the losses' rank with
/// each dimension 1 or equal) are a build error naming the node.
pub fn compute_weighted_loss<'g>(
    losses: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    reduction: Reduction,
) -> Tensor<'g> {
    let g = losses.graph();
    let weights = weights.into();
    let scope = g.unique_scope("weighted_loss");
    let loss = g.with_scope(&scope, || {
        let losses = if losses.dtype() == DType::F32 {
            losses
        } else {
            cast(losses, DType::F32)
        };
        let (weighted, w) = match weights {
            // `x * 1` is `x` exactly: skip the multiplication.
            Weights::Constant(1.0) => (losses, None),
            _ => {
                let w = weights.tensor(g);
                let w = if w.dtype() == DType::F32 {
                    w
                } else {
                    cast(w, DType::F32)
                };
                (losses * broadcast_weights(w, losses), Some(w))
            }
        };
        let total = || reduce_sum_all(weighted);
        match reduction {
            Reduction::None => weighted,
            Reduction::Sum => total(),
            Reduction::Mean => {
                let sum_w = match w {
                    Some(w) => reduce_sum_all(broadcast_weights(w, losses)),
                    None => num_elements(losses),
                };
                div_no_nan(total(), sum_w).named("value")
            }
            Reduction::SumOverBatchSize => div_no_nan(total(), num_elements(losses)).named("value"),
            Reduction::SumByNonzeroWeights => {
                let present = match (weights, w) {
                    // TF1's `_num_present` shortcut for a nonzero Python float.
                    (Weights::Constant(c), _) if c != 0.0 => num_elements(losses),
                    (_, Some(w)) => reduce_sum_all(nonzero_weights(w, losses)),
                    (_, None) => num_elements(losses),
                };
                div_no_nan(total(), present).named("value")
            }
        }
    });
    add_loss(loss);
    loss
}

/// Adds `loss` to the graph's [`GraphKeys::LOSSES`] collection (TF1's `tf.losses.add_loss`),
/// for a loss built by hand that [`get_total_loss`] should include.
pub fn add_loss(loss: Tensor<'_>) {
    loss.graph().add_to_collection(GraphKeys::LOSSES, loss);
}

/// The tensors of `collection` whose names start with `scope` (all if `None`).
fn collected<'g>(g: &'g Graph, collection: &str, scope: Option<&str>) -> Vec<Tensor<'g>> {
    let mut v = g.get_collection(collection);
    if let Some(s) = scope {
        v.retain(|t| t.name().starts_with(s));
    }
    v
}

/// The losses built so far in `g` (its [`GraphKeys::LOSSES`] collection), those whose names
/// start with `scope` if given (TF1's `tf.losses.get_losses(scope)`, which matches a regex
/// at the start of the name; here a plain prefix).
pub fn get_losses<'g>(g: &'g Graph, scope: Option<&str>) -> Vec<Tensor<'g>> {
    collected(g, GraphKeys::LOSSES, scope)
}

/// The regularization terms in `g` ([`GraphKeys::REGULARIZATION_LOSSES`]), those whose
/// names start with `scope` if given (TF1's `tf.losses.get_regularization_losses`).
pub fn get_regularization_losses<'g>(g: &'g Graph, scope: Option<&str>) -> Vec<Tensor<'g>> {
    collected(g, GraphKeys::REGULARIZATION_LOSSES, scope)
}

/// The sum of the regularization terms, a scalar named `total_regularization_loss`, or the
/// constant 0 if there are none (TF1's `tf.losses.get_regularization_loss`).
pub fn get_regularization_loss(g: &Graph) -> Tensor<'_> {
    match get_regularization_losses(g, None).as_slice() {
        [] => g.constant(0.0f32).named("total_regularization_loss"),
        terms => add_n(terms).named("total_regularization_loss"),
    }
}

/// The sum of every loss in `g` and, if `add_regularization_losses`, of every
/// regularization term: a scalar named `total_loss` (TF1's `tf.losses.get_total_loss`).
/// [`Error::InvalidArgument`] if there is nothing to sum (TF1 raises too).
pub fn get_total_loss(g: &Graph, add_regularization_losses: bool) -> Result<Tensor<'_>> {
    let mut terms = get_losses(g, None);
    if add_regularization_losses {
        terms.extend(get_regularization_losses(g, None));
    }
    if terms.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "get_total_loss: the graph has no losses{} (collections `{}`{})",
            if add_regularization_losses {
                " and no regularization terms"
            } else {
                ""
            },
            GraphKeys::LOSSES,
            if add_regularization_losses {
                format!(", `{}`", GraphKeys::REGULARIZATION_LOSSES)
            } else {
                String::new()
            }
        )));
    }
    let total = add_n(&terms).named("total_loss");
    total.check()
}

/// Casts `t` to f32 if it is not (TF1's losses cast labels and predictions to float).
fn to_f32(t: Tensor<'_>) -> Tensor<'_> {
    if t.dtype() == DType::F32 {
        t
    } else {
        cast(t, DType::F32)
    }
}

/// `Some(reason)` if the static shapes of `a` and `b` are not compatible (TF1's
/// `assert_is_compatible_with`, which the losses apply to labels and predictions).
pub(crate) fn shape_mismatch(
    what: (&str, Tensor<'_>),
    other: (&str, Tensor<'_>),
) -> Option<String> {
    let (sa, sb) = (what.1.shape(), other.1.shape());
    if what.1.info().is_none() || other.1.info().is_none() || sa.compatible(&sb) {
        return None;
    }
    Some(format!(
        "{} shape {sa} is not compatible with {} shape {sb}",
        what.0, other.0
    ))
}
