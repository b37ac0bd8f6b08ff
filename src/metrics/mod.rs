//! Streaming metrics as TF1's `tf.metrics` (`tf.compat.v1.metrics`): each builds its
//! accumulators as [local variables](Graph::local_variable) (also in the graph's
//! `METRIC_VARIABLES` collection) and returns a [`StreamingMetric`]: `value`, the metric over
//! everything accumulated so far, and `update_op`, which adds one batch and answers the
//! updated value. Run `g.local_variables_initializer()` to start (and to reset), `update_op`
//! once per batch, then fetch `value`:
//!
//! ```
//! use staticflow::prelude::*;
//! use staticflow::metrics;
//! let g = Graph::new();
//! let labels = g.placeholder_typed("labels", DType::I64, [None]);
//! let logits = g.placeholder("logits", [None, Some(3)]);
//! let acc = metrics::accuracy(labels, argmax(logits, 1), 1.0);
//! let mut sess = Session::new(&g);
//! sess.run(&[g.local_variables_initializer().into()], &[]).unwrap();
//! let batches = [
//!     (ndarray::arr1(&[0i64, 2]), ndarray::arr2(&[[5.0f32, 0.0, 0.0], [0.0, 1.0, 0.0]])), // right, wrong
//!     (ndarray::arr1(&[1i64]), ndarray::arr2(&[[0.0f32, 3.0, 0.0]])),                     // right
//! ];
//! for (y, x) in &batches {
//!     sess.run(&[acc.update_op.into()], &[(labels, y.into()), (logits, x.into())]).unwrap();
//! }
//! let out = sess.run(&[acc.value.into()], &[]).unwrap();
//! assert!((out.scalar(0).unwrap() - 2.0 / 3.0).abs() < 1e-6);
//! ```
//!
//! Each metric's variables live under its own name scope (`accuracy/total`,
//! `accuracy/count`, `accuracy_1/...`), are not trainable and are not saved by
//! [`Saver`](crate::train::Saver), as in TF1. Every metric takes `weights` as the losses do
//! ([`Weights`]: `1.0`, or a tensor broadcastable to the values under TF1's rule); a
//! weight of 0 leaves an element out. The numbers match TF1's, batch after batch
//! (`tests/tf1_metrics.rs`).

mod confusion;

pub use confusion::{auc, precision, recall, AucCurve, AucOptions, AucSummation};

use crate::graph::{DType, Graph, GraphKeys, Tensor};
use crate::init;
use crate::losses::{shape_mismatch, Weights};
use crate::ops::array::cast;
use crate::ops::compare::equal;
use crate::ops::conv::invalid;
use crate::ops::div_no_nan::div_no_nan;
use crate::ops::reduce::reduce_sum_all;
use crate::ops::state::assign_add;
use crate::ops::weights::broadcast_weights;

/// A streaming metric (TF1's `(value, update_op)` pair).
#[derive(Clone, Debug)]
pub struct StreamingMetric<'g> {
    /// The metric over every batch accumulated since the last reset (a scalar, or `[T]`
    /// for metrics at several thresholds). Reading it changes nothing.
    pub value: Tensor<'g>,
    /// Accumulates the batch fed with it and answers the updated `value`.
    pub update_op: Tensor<'g>,
    /// The metric's local variables (its accumulators), in creation order.
    pub variables: Vec<Tensor<'g>>,
}

impl<'g> StreamingMetric<'g> {
    /// A metric whose tensors fail to build with `reason` (naming `name`).
    pub(crate) fn invalid(operands: &[Tensor<'g>], reason: String, name: &str) -> Self {
        let bad = invalid(operands, reason, name);
        StreamingMetric {
            value: bad,
            update_op: bad,
            variables: vec![],
        }
    }

    /// `Err` with a metric whose tensors are `t` if `t` failed to build (e.g. weights that
    /// do not broadcast), so that `value` and `update_op` report the error.
    pub(crate) fn failed_if(t: Tensor<'g>) -> Result<(), Self> {
        match t.check() {
            Ok(_) => Ok(()),
            Err(_) => Err(StreamingMetric {
                value: t,
                update_op: t,
                variables: vec![],
            }),
        }
    }
}

/// A metric accumulator: a local `f32` variable of `shape`, zero after the local
/// initializer, in `METRIC_VARIABLES` (TF1's `metric_variable`).
pub(crate) fn metric_variable<'g>(g: &'g Graph, name: &str, shape: &[usize]) -> Tensor<'g> {
    let v = g.local_variable(name, init::zeros(shape));
    g.add_to_collection(GraphKeys::METRIC_VARIABLES, v);
    v
}

/// Opens the metric's name scope (`name`, made unique as `name_1`, ... if taken).
pub(crate) fn metric_scope<'g>(g: &'g Graph, name: &str) -> crate::graph::ScopeGuard<'g> {
    let scope = g.unique_scope(name);
    g.name_scope(&scope)
}

/// TF1's `tf.metrics.mean`: the weighted mean of `values` (any shape, cast to `f32`) over
/// every batch, `sum(values * weights) / sum(weights)` with the weights broadcast to
/// `values` (0 before any weight). Variables `mean/total` and `mean/count`.
pub fn mean<'g>(values: Tensor<'g>, weights: impl Into<Weights<'g>>) -> StreamingMetric<'g> {
    mean_in(values, weights.into(), "mean")
}

fn mean_in<'g>(values: Tensor<'g>, weights: Weights<'g>, name: &str) -> StreamingMetric<'g> {
    let g = values.graph();
    let _s = metric_scope(g, name);
    let total = metric_variable(g, "total", &[]);
    let count = metric_variable(g, "count", &[]);
    let values = cast(values, DType::F32);
    let w = broadcast_weights(weights.tensor(g), values);
    if let Err(failed) = StreamingMetric::failed_if(w) {
        return failed;
    }
    let update_total = assign_add(total, reduce_sum_all(values * w));
    let update_count = assign_add(count, reduce_sum_all(w));
    let value = div_no_nan(total, count).named("value");
    let update_op = {
        let _c = g.control_dependencies(&[update_total, update_count]);
        div_no_nan(total, count).named("update_op")
    };
    StreamingMetric {
        value,
        update_op,
        variables: vec![total, count],
    }
}

/// TF1's `tf.metrics.accuracy`: how often `predictions` equal `labels` (compatible shapes
/// `[..]`; the predictions are cast to the labels' dtype first, as TF1 does), weighted.
/// Variables `accuracy/total` and `accuracy/count`. Incompatible shapes are a build error
/// naming `accuracy` (TF1's `assert_is_compatible_with`), never a silent broadcast.
pub fn accuracy<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
) -> StreamingMetric<'g> {
    if let Some(reason) = shape_mismatch(("predictions", predictions), ("labels", labels)) {
        return StreamingMetric::invalid(&[labels, predictions], reason, "accuracy");
    }
    let predictions = match predictions.dtype() == labels.dtype() {
        true => predictions,
        false => cast(predictions, labels.dtype()),
    };
    let is_correct = cast(equal(predictions, labels), DType::F32);
    mean_in(is_correct, weights.into(), "accuracy")
}
