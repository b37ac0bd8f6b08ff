//! Metrics built on confusion counts: [`precision`] and [`recall`] of bool predictions, and
//! [`auc`], the area under the ROC or precision-recall curve from counts at evenly spaced
//! thresholds (TF1's approximate `tf.metrics.auc`).

use super::{metric_scope, metric_variable, StreamingMetric};
use crate::graph::{DType, Graph, Operation, Tensor};
use crate::losses::{shape_mismatch, Weights};
use crate::ops::array::{cast, reshape};
use crate::ops::binary::{div, maximum, minimum};
use crate::ops::compare::greater;
use crate::ops::concat::slice;
use crate::ops::logic::{logical_and, logical_not};
use crate::ops::reduce::{reduce_sum, reduce_sum_all};
use crate::ops::select::where_;
use crate::ops::state::assign_add;
use crate::ops::weights::broadcast_weights;

/// A count of `condition` (bool, any shape) weighted by `w` (f32, broadcast to it): summed
/// over every axis into the scalar variable `name/count` (TF1's `_count_condition`), or, for
/// a `shape` `[T]`, over axis 0 into the variable `name` (TF1's confusion matrix at
/// thresholds). The variable and its update.
fn count<'g>(
    condition: Tensor<'g>,
    w: Tensor<'g>,
    name: &str,
    shape: &[usize],
) -> (Tensor<'g>, Operation<'g>) {
    let g = condition.graph();
    let var = match shape.is_empty() {
        true => {
            let _s = g.name_scope(name);
            metric_variable(g, "count", shape)
        }
        false => metric_variable(g, name, shape),
    };
    let hits = cast(condition, DType::F32) * w;
    let batch = match shape.is_empty() {
        true => reduce_sum_all(hits),
        false => reduce_sum(hits, &[0], false),
    };
    (var, assign_add(var, batch))
}

/// `labels` and `predictions` as bool (nonzero is true, as TF1's cast) with the weights
/// broadcast to them as f32, or, if they do not fit, the metric `name` failing with the
/// reason.
fn bool_operands<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: Weights<'g>,
    name: &str,
) -> Result<(Tensor<'g>, Tensor<'g>, Tensor<'g>), StreamingMetric<'g>> {
    if let Some(reason) = shape_mismatch(("predictions", predictions), ("labels", labels)) {
        return Err(StreamingMetric::invalid(
            &[labels, predictions],
            reason,
            name,
        ));
    }
    let g = labels.graph();
    let as_bool = |t: Tensor<'g>| match t.dtype() {
        DType::Bool => t,
        _ => cast(t, DType::Bool),
    };
    let (l, p) = (as_bool(labels), as_bool(predictions));
    let w = broadcast_weights(weights.tensor(g), cast(p, DType::F32));
    StreamingMetric::failed_if(w)?;
    Ok((l, p, w))
}

/// `hits / (hits + misses)` where that sum is positive, else 0 (TF1's `_compute_precision`
/// and `_compute_recall`).
fn ratio<'g>(g: &'g Graph, hits: Tensor<'g>, misses: Tensor<'g>, name: &str) -> Tensor<'g> {
    let d = hits + misses;
    where_(greater(d, g.constant(0f32)), div(hits, d), g.constant(0f32)).named(name)
}

/// Precision or recall: `true_positives` against `false_positives` or `false_negatives`.
fn precision_or_recall<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: Weights<'g>,
    recall: bool,
) -> StreamingMetric<'g> {
    let name = if recall { "recall" } else { "precision" };
    let (l, p, w) = match bool_operands(labels, predictions, weights, name) {
        Ok(x) => x,
        Err(failed) => return failed,
    };
    let g = labels.graph();
    let _s = metric_scope(g, name);
    let (tp, tp_up) = count(logical_and(l, p), w, "true_positives", &[]);
    let (other, other_up) = match recall {
        true => count(logical_and(l, logical_not(p)), w, "false_negatives", &[]),
        false => count(logical_and(logical_not(l), p), w, "false_positives", &[]),
    };
    let value = ratio(g, tp, other, "value");
    let update_op = {
        let _c = g.control_dependencies(&[tp_up, other_up]);
        ratio(g, tp, other, "update_op")
    };
    StreamingMetric {
        value,
        update_op,
        variables: vec![tp, other],
    }
}

/// TF1's `tf.metrics.precision`: `true_positives / (true_positives + false_positives)` over
/// every batch (0 while there is no positive prediction). `labels`, `predictions`:
/// compatible shapes `[..]`, bool or cast to bool (nonzero is true), weighted. Variables
/// `precision/true_positives/count`, `precision/false_positives/count`.
pub fn precision<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
) -> StreamingMetric<'g> {
    precision_or_recall(labels, predictions, weights.into(), false)
}

/// TF1's `tf.metrics.recall`: `true_positives / (true_positives + false_negatives)` over
/// every batch (0 while there is no positive label). Operands as [`precision`]. Variables
/// `recall/true_positives/count`, `recall/false_negatives/count`.
pub fn recall<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
) -> StreamingMetric<'g> {
    precision_or_recall(labels, predictions, weights.into(), true)
}

/// Which curve [`auc`] integrates (TF1's `curve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AucCurve {
    /// True-positive rate against false-positive rate (`'ROC'`, the default).
    #[default]
    Roc,
    /// Precision against recall (`'PR'`).
    Pr,
}

/// How [`auc`] sums the area between thresholds (TF1's `summation_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AucSummation {
    /// Trapezoids (`'trapezoidal'`, the default).
    #[default]
    Trapezoidal,
    /// Rectangles at the lower of the two heights: a lower bound (`'minoring'`).
    Minoring,
    /// Rectangles at the higher of the two heights: an upper bound (`'majoring'`).
    Majoring,
}

/// The settings of [`auc`]: TF1's defaults are 200 thresholds, ROC, trapezoidal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AucOptions {
    /// Number of thresholds, at least 2: `-1e-7`, `i / (n - 1)` for `i` in `1..n-1`, and
    /// `1 + 1e-7`.
    pub num_thresholds: usize,
    /// The curve.
    pub curve: AucCurve,
    /// The summation.
    pub summation: AucSummation,
}

impl Default for AucOptions {
    fn default() -> Self {
        AucOptions {
            num_thresholds: 200,
            curve: AucCurve::Roc,
            summation: AucSummation::Trapezoidal,
        }
    }
}

/// TF1's `tf.metrics.auc`: the approximate area under the ROC (or PR) curve over every
/// batch. `labels`: `[..]`, bool or cast to bool; `predictions`: the same shape, f32
/// probabilities in `[0, 1]` (TF1 asserts the range at run time; staticflow counts values
/// outside it against the end thresholds); `weights` as everywhere. At each threshold `t`
/// a prediction `> t` is positive; the weighted true/false positive/negative counts
/// accumulate in `auc/{true_positives,false_negatives,true_negatives,false_positives}`
/// (`[num_thresholds]` each), and the value is TF1's: with `e = 1e-6`, recall
/// `(tp + e) / (tp + fn + e)`, false-positive rate `fp / (fp + tn + e)`, precision
/// `(tp + e) / (tp + fp + e)`, summed between neighbouring thresholds. A `num_thresholds`
/// below 2 or incompatible shapes are a build error naming `auc`.
pub fn auc<'g>(
    labels: Tensor<'g>,
    predictions: Tensor<'g>,
    weights: impl Into<Weights<'g>>,
    options: AucOptions,
) -> StreamingMetric<'g> {
    let n = options.num_thresholds;
    if n < 2 {
        let reason = format!("auc needs num_thresholds >= 2, got {n}");
        return StreamingMetric::invalid(&[labels, predictions], reason, "auc");
    }
    let (l, _, w) = match bool_operands(labels, predictions, weights.into(), "auc") {
        Ok(x) => x,
        Err(failed) => return failed,
    };
    let g = labels.graph();
    let _s = metric_scope(g, "auc");
    // TF1 builds the thresholds in f64, then makes an f32 constant of them.
    let k = 1e-7;
    let mut thresholds = vec![-k];
    thresholds.extend((0..n - 2).map(|i| (i + 1) as f64 / (n - 1) as f64));
    thresholds.push(1.0 + k);
    let thresholds: Vec<f32> = thresholds.into_iter().map(|t| t as f32).collect();
    let thresholds = g.constant(
        ndarray::Array1::from(thresholds)
            .into_shape_with_order((1, n))
            .expect("n values"),
    );
    // [N, 1] against [1, T]: the counts per threshold.
    let p = reshape(cast(predictions, DType::F32), &[-1, 1]);
    let l = reshape(l, &[-1, 1]);
    let w = reshape(w, &[-1, 1]);
    let pos = greater(p, thresholds);
    let (not_l, not_pos) = (logical_not(l), logical_not(pos));
    let (tp, u1) = count(logical_and(l, pos), w, "true_positives", &[n]);
    let (fneg, u2) = count(logical_and(l, not_pos), w, "false_negatives", &[n]);
    let (tn, u3) = count(logical_and(not_l, not_pos), w, "true_negatives", &[n]);
    let (fp, u4) = count(logical_and(not_l, pos), w, "false_positives", &[n]);
    let area = |name: &str| {
        let e = g.constant(1e-6f32);
        let rec = div(tp + e, tp + fneg + e);
        // x (false-positive rate or recall) falls as the threshold rises.
        let (x, y) = match options.curve {
            AucCurve::Roc => (div(fp, fp + tn + e), rec),
            AucCurve::Pr => (rec, div(tp + e, tp + fp + e)),
        };
        let m = (n - 1) as i64;
        let (x0, x1) = (slice(x, &[0], &[m]), slice(x, &[1], &[m]));
        let (y0, y1) = (slice(y, &[0], &[m]), slice(y, &[1], &[m]));
        let height = match options.summation {
            AucSummation::Trapezoidal => (y0 + y1) * 0.5,
            AucSummation::Minoring => minimum(y0, y1),
            AucSummation::Majoring => maximum(y0, y1),
        };
        reduce_sum_all((x0 - x1) * height).named(name)
    };
    let value = area("value");
    let update_op = {
        let _c = g.control_dependencies(&[u1, u2, u3, u4]);
        area("update_op")
    };
    StreamingMetric {
        value,
        update_op,
        variables: vec![tp, fneg, tn, fp],
    }
}
