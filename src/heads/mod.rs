//! The Head API (TF1's `tf.contrib.estimator` heads): a head turns a model's logits (and,
//! in train/eval, its labels) into the loss, the predictions, the eval metrics and the train
//! op, so a model function is just a feature extractor plus heads.
//!
//! - [`RegressionHead`]: mean squared error; metrics `average_loss`, `rmse`; prediction
//!   `predictions`.
//! - [`MultiClassHead`]: sparse softmax cross-entropy; metrics `average_loss`, `accuracy`;
//!   predictions `logits`, `probabilities`, `class_ids`; optional per-class loss weights
//!   against class imbalance ([`inverse_frequency_weights`]).
//! - [`MultiHead`]: several heads on one graph, trained by a [`Weighting`]: any multi-task
//!   strategy of [`crate::mtl`] by name (fixed weights, default 1; learned uncertainty; DWA;
//!   PCGrad, MGDA, ...), or alternate training.
//! - [`Estimator`]: a small driver with `train(batches, steps)`, `evaluate(batches)` (TF
//!   metric names: `loss`, `loss/head_nose`, `average_loss/head_nose`, `rmse/head_nose`,
//!   `accuracy/head_pose`, `global_step`) and `predict(batches)`.
//!
//! Each head owns its label placeholder, named `<head>/labels`, which [`Batch`] feeds by head
//! name.

mod estimator;
pub mod weighting;

pub use estimator::{Batch, Estimator, TrainReport};
pub use weighting::Weighting;

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Operation, Tensor};
use crate::train::Optimizer;
use crate::{
    argmax, reduce_mean_all, reduce_sum_all, softmax, sparse_softmax_cross_entropy_with_logits,
    square,
};

/// What a spec is built for (TF's `ModeKeys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Loss, metrics and train op.
    Train,
    /// Loss and metrics.
    Eval,
    /// Predictions only; no labels needed.
    Predict,
}

/// How a streaming metric is finished from its accumulated total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finalize {
    /// `total / count`.
    Mean,
    /// `sqrt(total / count)`.
    RootMean,
}

/// A streaming metric: the driver sums `total` (a scalar: the batch's sum) over batches and
/// divides by `per_example × examples`.
#[derive(Clone, Debug)]
pub struct Metric<'g> {
    /// Metric name without the head suffix, e.g. `rmse`.
    pub name: String,
    /// Scalar f32: the batch's sum of the quantity.
    pub total: Tensor<'g>,
    /// How many summed elements one example contributes (e.g. the label dimension).
    pub per_example: f64,
    /// Mean or root mean.
    pub finalize: Finalize,
}

/// What a head builds (TF's `EstimatorSpec`, per head).
#[derive(Clone, Debug)]
pub struct HeadSpec<'g> {
    /// The head's name.
    pub name: String,
    /// The mode it was built for.
    pub mode: Mode,
    /// The label placeholder (`None` in predict mode).
    pub labels: Option<Tensor<'g>>,
    /// Scalar training loss of a batch (`None` in predict mode).
    pub loss: Option<Tensor<'g>>,
    /// Named predictions, batch-major.
    pub predictions: Vec<(String, Tensor<'g>)>,
    /// Eval metrics (empty in predict mode).
    pub metrics: Vec<Metric<'g>>,
    /// The op that trains on this head's loss alone (train mode with an optimizer).
    pub train_op: Option<Operation<'g>>,
}

pub use crate::mtl::TaskKind;

/// A task head: see the module docs.
pub trait Head {
    /// Name, used as the label key and the metric suffix (e.g. `head_nose`).
    fn name(&self) -> &str;
    /// Number of logits the model must produce for this head, per example.
    fn logits_dimension(&self) -> usize;
    /// Regression or classification.
    fn kind(&self) -> TaskKind;
    /// Creates the label placeholder `<name>/labels`.
    fn label_placeholder<'g>(&self, g: &'g Graph) -> Tensor<'g>;
    /// Scalar training loss of a batch.
    fn loss<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Tensor<'g>;
    /// Named predictions.
    fn predictions<'g>(&self, logits: Tensor<'g>) -> Vec<(String, Tensor<'g>)>;
    /// Streaming eval metrics.
    fn metrics<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Vec<Metric<'g>>;

    /// Builds the spec for `mode` from `logits` `[batch, logits_dimension]`; with an
    /// optimizer in train mode, also a train op on this head's loss.
    fn create_spec<'g>(
        &self,
        logits: Tensor<'g>,
        mode: Mode,
        optimizer: Option<&dyn Optimizer>,
    ) -> Result<HeadSpec<'g>> {
        let g = logits.graph();
        check_logits(self.name(), logits, self.logits_dimension())?;
        let _s = g.name_scope(self.name());
        let predictions = self.predictions(logits);
        if mode == Mode::Predict {
            return Ok(HeadSpec {
                name: self.name().into(),
                mode,
                labels: None,
                loss: None,
                predictions,
                metrics: vec![],
                train_op: None,
            });
        }
        let labels = self.label_placeholder(g);
        let loss = self.loss(logits, labels).named("loss");
        let metrics = self.metrics(logits, labels);
        let train_op = match (mode, optimizer) {
            (Mode::Train, Some(o)) => Some(o.minimize(loss.check()?)?),
            _ => None,
        };
        g.check()?;
        Ok(HeadSpec {
            name: self.name().into(),
            mode,
            labels: Some(labels),
            loss: Some(loss),
            predictions,
            metrics,
            train_op,
        })
    }
}

fn check_logits(head: &str, logits: Tensor<'_>, dim: usize) -> Result<()> {
    let info = logits.check()?.info().expect("checked tensors have a type");
    let ok = info.dtype == DType::F32
        && info.shape.rank() == 2
        && info.shape.dim(1).is_none_or(|d| d == dim);
    if !ok {
        return Err(Error::InvalidArgument(format!(
            "head `{head}` needs f32 logits of shape [batch, {dim}], got `{}` {info}",
            logits.name()
        )));
    }
    Ok(())
}

/// Regression with mean squared error (TF's `regression_head`). Labels f32
/// `[batch, label_dimension]`. Optionally the labels are standardised for training
/// ([`RegressionHead::with_label_scaling`]).
#[derive(Clone, Debug)]
pub struct RegressionHead {
    /// Head name.
    pub name: String,
    /// Number of regressed values per example.
    pub label_dimension: usize,
    /// `(mean, std)` per dimension: logits are standardised predictions.
    pub label_scaling: Option<(Vec<f32>, Vec<f32>)>,
}

impl RegressionHead {
    /// A regression head named `name` with `label_dimension` outputs.
    pub fn new(name: &str, label_dimension: usize) -> Self {
        RegressionHead {
            name: name.into(),
            label_dimension,
            label_scaling: None,
        }
    }

    /// Makes the logits predict standardised labels `(y - mean) / std`: predictions are
    /// `logits * std + mean`, and the training loss is the MSE in standardised units (so it
    /// is of order 1 whatever the labels' scale). Metrics stay in label units.
    pub fn with_label_scaling(mut self, mean: Vec<f32>, std: Vec<f32>) -> Self {
        self.label_scaling = Some((mean, std));
        self
    }

    fn scaling<'g>(&self, g: &'g Graph) -> Option<(Tensor<'g>, Tensor<'g>)> {
        self.label_scaling.as_ref().map(|(m, s)| {
            let d = self.label_dimension;
            let m =
                ndarray::Array2::from_shape_fn((1, d), |(_, j)| m.get(j).copied().unwrap_or(0.0));
            let s = ndarray::Array2::from_shape_fn((1, d), |(_, j)| {
                s.get(j).copied().filter(|v| *v > 0.0).unwrap_or(1.0)
            });
            (
                g.constant(m).named("label_mean"),
                g.constant(s).named("label_std"),
            )
        })
    }

    fn prediction<'g>(&self, logits: Tensor<'g>) -> Tensor<'g> {
        match self.scaling(logits.graph()) {
            Some((m, s)) => logits * s + m,
            None => crate::identity(logits),
        }
    }
}

impl Head for RegressionHead {
    fn name(&self) -> &str {
        &self.name
    }
    fn logits_dimension(&self) -> usize {
        self.label_dimension
    }
    fn kind(&self) -> TaskKind {
        TaskKind::Regression
    }
    fn label_placeholder<'g>(&self, g: &'g Graph) -> Tensor<'g> {
        g.placeholder("labels", [None, Some(self.label_dimension)])
    }
    fn loss<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Tensor<'g> {
        match self.scaling(logits.graph()) {
            Some((m, s)) => reduce_mean_all(square(logits - (labels - m) / s)),
            None => reduce_mean_all(square(logits - labels)),
        }
    }
    fn predictions<'g>(&self, logits: Tensor<'g>) -> Vec<(String, Tensor<'g>)> {
        vec![(
            "predictions".into(),
            self.prediction(logits).named("predictions"),
        )]
    }
    fn metrics<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Vec<Metric<'g>> {
        let total =
            reduce_sum_all(square(self.prediction(logits) - labels)).named("sum_squared_error");
        let d = self.label_dimension as f64;
        vec![
            Metric {
                name: "average_loss".into(),
                total,
                per_example: d,
                finalize: Finalize::Mean,
            },
            Metric {
                name: "rmse".into(),
                total,
                per_example: d,
                finalize: Finalize::RootMean,
            },
        ]
    }
}

/// Multi-class classification with sparse softmax cross-entropy (TF's
/// `multi_class_head`). Labels i64 `[batch]` in `[0, n_classes)`.
#[derive(Clone, Debug)]
pub struct MultiClassHead {
    /// Head name.
    pub name: String,
    /// Number of classes.
    pub n_classes: usize,
    /// Per-class loss weights (`None`: all 1), see [`MultiClassHead::with_class_weights`].
    pub class_weights: Option<Vec<f32>>,
}

impl MultiClassHead {
    /// A classification head named `name` over `n_classes` classes.
    pub fn new(name: &str, n_classes: usize) -> Self {
        MultiClassHead {
            name: name.into(),
            n_classes,
            class_weights: None,
        }
    }

    /// Weights each example's cross-entropy in the training loss by its true class, like
    /// Keras' `class_weight` (the loss is `mean_i(w[y_i] * xent_i)`), to counter class
    /// imbalance. The `average_loss` and `accuracy` metrics stay unweighted. Errors unless
    /// there is one finite, non-negative weight per class.
    pub fn with_class_weights(mut self, weights: Vec<f32>) -> Result<Self> {
        if weights.len() != self.n_classes {
            return Err(Error::InvalidArgument(format!(
                "head `{}`: expected {} class weights, got {}",
                self.name,
                self.n_classes,
                weights.len()
            )));
        }
        if let Some((c, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !w.is_finite() || **w < 0.0)
        {
            return Err(Error::InvalidArgument(format!(
                "head `{}`: class weight {c} must be finite and non-negative, got {w}",
                self.name
            )));
        }
        self.class_weights = Some(weights);
        Ok(self)
    }
}

/// Class weights for [`MultiClassHead::with_class_weights`] from training labels:
/// `count(c)^-power`, scaled so that the average training example has weight 1. `power` 1
/// is fully balanced (every class contributes equally to the loss), 0.5 the square root
/// (a milder correction), 0 all ones. Labels outside `[0, n_classes)` are ignored; a class
/// with no examples is weighted as if it had one.
pub fn inverse_frequency_weights(
    labels: ndarray::ArrayView1<i64>,
    n_classes: usize,
    power: f64,
) -> Vec<f32> {
    let mut count = vec![0usize; n_classes];
    for &y in labels {
        if let Some(c) = usize::try_from(y).ok().and_then(|y| count.get_mut(y)) {
            *c += 1;
        }
    }
    let raw: Vec<f64> = count
        .iter()
        .map(|&c| (c.max(1) as f64).powf(-power))
        .collect();
    let seen: usize = count.iter().sum();
    let mean = raw
        .iter()
        .zip(&count)
        .map(|(w, &c)| w * c as f64)
        .sum::<f64>()
        / seen.max(1) as f64;
    raw.iter()
        .map(|w| (w / mean.max(f64::MIN_POSITIVE)) as f32)
        .collect()
}

impl Head for MultiClassHead {
    fn name(&self) -> &str {
        &self.name
    }
    fn logits_dimension(&self) -> usize {
        self.n_classes
    }
    fn kind(&self) -> TaskKind {
        TaskKind::Classification
    }
    fn label_placeholder<'g>(&self, g: &'g Graph) -> Tensor<'g> {
        g.placeholder_typed("labels", DType::I64, [None])
    }
    fn loss<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Tensor<'g> {
        let xent = sparse_softmax_cross_entropy_with_logits(labels, logits);
        match &self.class_weights {
            Some(w) => {
                let w = logits
                    .graph()
                    .constant(ndarray::Array1::from(w.clone()))
                    .named("class_weights");
                reduce_mean_all(crate::gather(w, labels) * xent)
            }
            None => reduce_mean_all(xent),
        }
    }
    fn predictions<'g>(&self, logits: Tensor<'g>) -> Vec<(String, Tensor<'g>)> {
        vec![
            ("logits".into(), crate::identity(logits).named("logits")),
            (
                "probabilities".into(),
                softmax(logits).named("probabilities"),
            ),
            ("class_ids".into(), argmax(logits, -1).named("class_ids")),
        ]
    }
    fn metrics<'g>(&self, logits: Tensor<'g>, labels: Tensor<'g>) -> Vec<Metric<'g>> {
        let xent = reduce_sum_all(sparse_softmax_cross_entropy_with_logits(labels, logits))
            .named("sum_loss");
        // `equal` cast to f32, fused in one node (the saved graphs' `Equal` node).
        let correct = reduce_sum_all(crate::ops::binary::equal_f32(argmax(logits, -1), labels))
            .named("sum_correct");
        vec![
            Metric {
                name: "average_loss".into(),
                total: xent,
                per_example: 1.0,
                finalize: Finalize::Mean,
            },
            Metric {
                name: "accuracy".into(),
                total: correct,
                per_example: 1.0,
                finalize: Finalize::Mean,
            },
        ]
    }
}

/// Several heads trained together: the total loss is combined by a [`Weighting`].
pub struct MultiHead {
    heads: Vec<Box<dyn Head>>,
    weighting: Weighting,
    diagnostics: bool,
}

impl std::fmt::Debug for MultiHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.heads.iter().map(|h| h.name()).collect();
        write!(f, "MultiHead({names:?}, {:?})", self.weighting)
    }
}

/// What a [`MultiHead`] builds: one spec per head plus the combined loss and train ops.
#[derive(Clone, Debug)]
pub struct MultiHeadSpec<'g> {
    /// The mode.
    pub mode: Mode,
    /// Per-head specs, in head order.
    pub heads: Vec<HeadSpec<'g>>,
    /// Kind of each head, in order.
    pub kinds: Vec<TaskKind>,
    /// Scalar total loss (train/eval).
    pub loss: Option<Tensor<'g>>,
    /// The effective weight of each head's loss, as scalar tensors.
    pub weights: Vec<Tensor<'g>>,
    /// The joint train op (any strategy but alternate), grouped with the graph's
    /// `UPDATE_OPS` as TF1's heads do.
    pub train_op: Option<Operation<'g>>,
    /// What the strategy built with the train op: losses, weights, diagnostics.
    pub train: Option<crate::mtl::Train<'g>>,
    /// One train op per head (alternate training), when the weighting is `Alternate`, each
    /// grouped with the graph's `UPDATE_OPS`.
    pub alternate_ops: Vec<Operation<'g>>,
    /// The weighting the spec was built with.
    pub weighting: Weighting,
    /// Further streaming metrics (TF's `EstimatorSpec.eval_metric_ops`), by name: see
    /// [`MultiHeadSpec::with_eval_metric`].
    pub eval_metric_ops: Vec<(String, crate::metrics::StreamingMetric<'g>)>,
}

impl<'g> MultiHeadSpec<'g> {
    /// Adds a [`crate::metrics`] metric that [`Estimator::evaluate`] streams over the
    /// evaluation batches and reports under `name` (TF's `eval_metric_ops` /
    /// `tf.estimator.add_metrics`): the estimator resets the metric's local variables,
    /// runs its `update_op` with every batch and reads its `value` at the end. Build it
    /// from this spec's tensors (e.g. `metrics::auc` of a head's probabilities) before
    /// creating the estimator.
    pub fn with_eval_metric(
        mut self,
        name: &str,
        metric: crate::metrics::StreamingMetric<'g>,
    ) -> Self {
        self.eval_metric_ops.push((name.to_string(), metric));
        self
    }
}

impl MultiHead {
    /// Heads combined with fixed weights 1.
    pub fn new(heads: Vec<Box<dyn Head>>) -> Self {
        MultiHead {
            heads,
            weighting: Weighting::default(),
            diagnostics: false,
        }
    }
    /// Sets the loss weighting strategy.
    pub fn with_weighting(mut self, w: Weighting) -> Self {
        self.weighting = w;
        self
    }
    /// Whether loss-level strategies also build the per-task gradient diagnostics
    /// ([`crate::mtl::Tasks::with_diagnostics`]; default off; gradient-level ones always
    /// have them), fetchable from [`MultiHeadSpec::train`].
    pub fn with_diagnostics(mut self, on: bool) -> Self {
        self.diagnostics = on;
        self
    }
    /// Fixed weights, one per head.
    pub fn with_weights(self, w: Vec<f32>) -> Self {
        self.with_weighting(Weighting::fixed(&w))
    }
    /// The heads.
    pub fn heads(&self) -> &[Box<dyn Head>] {
        &self.heads
    }

    /// Builds every head's spec from its logits (in head order) and the combined loss; in
    /// train mode with an optimizer, the train op(s) as the weighting requires.
    pub fn create_spec<'g>(
        &self,
        logits: &[Tensor<'g>],
        mode: Mode,
        optimizer: Option<&dyn Optimizer>,
    ) -> Result<MultiHeadSpec<'g>> {
        if logits.len() != self.heads.len() || logits.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "MultiHead has {} heads but got {} logits tensors",
                self.heads.len(),
                logits.len()
            )));
        }
        let g = logits[0].graph();
        let alternate = matches!(self.weighting, Weighting::Alternate);
        let mut heads = Vec::new();
        for (h, l) in self.heads.iter().zip(logits) {
            let opt = if alternate { optimizer } else { None };
            heads.push(h.create_spec(*l, mode, opt)?);
        }
        let kinds: Vec<TaskKind> = self.heads.iter().map(|h| h.kind()).collect();
        let mut spec = MultiHeadSpec {
            mode,
            kinds: kinds.clone(),
            loss: None,
            weights: vec![],
            train_op: None,
            train: None,
            alternate_ops: heads.iter().filter_map(|h| h.train_op).collect(),
            weighting: self.weighting.clone(),
            heads,
            eval_metric_ops: vec![],
        };
        if mode == Mode::Predict {
            return Ok(spec);
        }
        // A data-parallel optimizer makes the weighting data-parallel too (mtl::Tasks::with_allreduce).
        let mut tasks = crate::mtl::Tasks::new(g)
            .with_diagnostics(self.diagnostics)
            .with_allreduce(optimizer.and_then(|o| o.allreduce()).cloned());
        for (h, k) in spec.heads.iter().zip(&kinds) {
            let loss = h.loss.expect("train/eval specs have a loss");
            tasks = tasks.task_with_kind(&h.name, loss, *k);
        }
        let strategy = self.weighting.strategy()?;
        let combined = {
            let _s = g.name_scope("weighting");
            strategy.combine(&tasks)?
        };
        spec.loss = Some(combined.total.named("total_loss"));
        spec.weights = combined.weights.clone();
        if let (Mode::Train, Some(o), false) = (mode, optimizer, alternate) {
            let train = strategy.train(o, &tasks, &combined)?;
            spec.train_op = Some(train.op);
            spec.weights = train.weights.clone();
            spec.train = Some(train);
        }
        // As TF1's heads (`_append_update_ops`): every train op also runs the graph's
        // UPDATE_OPS (e.g. batch normalisation's moving statistics).
        let updates = g.get_collection_ops(crate::graph::GraphKeys::UPDATE_OPS);
        if !updates.is_empty() {
            let with_updates = |op: Operation<'g>| {
                let mut all = vec![op];
                all.extend(&updates);
                crate::group(g, &all)
            };
            spec.train_op = spec.train_op.map(with_updates);
            spec.alternate_ops = spec
                .alternate_ops
                .iter()
                .map(|&op| with_updates(op))
                .collect();
        }
        g.check()?;
        Ok(spec)
    }
}
