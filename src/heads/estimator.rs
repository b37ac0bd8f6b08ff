//! A small estimator-like driver over a [`MultiHeadSpec`]: `train`, `evaluate`, `predict`.

use super::{Finalize, Mode, MultiHeadSpec, Weighting};
use crate::error::{Error, Result};
use crate::graph::{Fetch, Graph, Operation, Tensor, Value};
use crate::session::{Feed, Session};
use std::collections::BTreeMap;
use std::time::Instant;

/// One batch: features keyed by the names given to [`Estimator::new`], labels keyed by head
/// name. Values are batch-major arrays.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// `(feature name, value)`.
    pub features: Vec<(String, Value)>,
    /// `(head name, labels)`.
    pub labels: Vec<(String, Value)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a feature.
    pub fn feature(mut self, name: &str, v: impl Into<Value>) -> Self {
        self.features.push((name.into(), v.into()));
        self
    }
    /// Adds the labels of a head.
    pub fn label(mut self, head: &str, v: impl Into<Value>) -> Self {
        self.labels.push((head.into(), v.into()));
        self
    }
    /// Number of examples (first axis of the first feature).
    pub fn size(&self) -> usize {
        self.features
            .first()
            .or(self.labels.first())
            .and_then(|(_, v)| v.shape().first().copied())
            .unwrap_or(0)
    }
}

/// What [`Estimator::train`] did.
#[derive(Clone, Debug, Default)]
pub struct TrainReport {
    /// Steps run by this call.
    pub steps: usize,
    /// Wall time of the steps, including waiting for batches.
    pub seconds: f64,
    /// Seconds spent waiting for batches.
    pub input_seconds: f64,
    /// Total loss of each step.
    pub losses: Vec<f32>,
    /// Each head's loss at the last step.
    pub last_head_losses: Vec<f32>,
    /// The probe's value at each probed step ([`Estimator::set_probe`]).
    pub probes: Vec<Value>,
    /// Wall time of the probed steps (included in `seconds`).
    pub probe_seconds: f64,
}

impl TrainReport {
    /// Training steps per second, probed steps left out.
    pub fn steps_per_second(&self) -> f64 {
        let steps = self.steps - self.probes.len();
        steps as f64 / (self.seconds - self.probe_seconds).max(1e-12)
    }
}

/// Drives a session over a [`MultiHeadSpec`] (built in [`Mode::Train`]), like TF's
/// `Estimator`: variables are initialised on creation, the global step counts train steps.
pub struct Estimator<'g> {
    graph: &'g Graph,
    session: Session<'g>,
    features: Vec<(String, Tensor<'g>)>,
    spec: MultiHeadSpec<'g>,
    global_step: Tensor<'g>,
    train_ops: Vec<Operation<'g>>,
    next_alternate: usize,
    last_weights: Option<Vec<f32>>,
    probe: Option<(Tensor<'g>, usize)>,
    training: Option<Tensor<'g>>,
}

impl<'g> Estimator<'g> {
    /// Creates the train op(s) with global-step increments, starts a session and
    /// initialises all variables. `features` maps batch feature names to placeholders.
    pub fn new(
        graph: &'g Graph,
        features: &[(&str, Tensor<'g>)],
        spec: MultiHeadSpec<'g>,
    ) -> Result<Self> {
        let global_step = crate::train::get_or_create_global_step(graph)?;
        let base: Vec<Operation<'g>> = match spec.weighting {
            Weighting::Alternate => spec.alternate_ops.clone(),
            _ => spec.train_op.into_iter().collect(),
        };
        let mut train_ops = Vec::new();
        for op in base {
            let _c = graph.control_dependencies(&[op]);
            let one = graph.constant(ndarray::arr0(1i64));
            train_ops.push(crate::assign_add(global_step, one));
        }
        graph.check()?;
        let mut session = Session::new(graph);
        session.run(&[graph.global_variables_initializer().into()], &[])?;
        Ok(Estimator {
            graph,
            session,
            features: features.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            spec,
            global_step,
            train_ops,
            next_alternate: 0,
            last_weights: None,
            probe: None,
            training: None,
        })
    }

    /// Also fetches `t` (e.g. the strategy's gradient cosines) with every `every`-th train
    /// step of each [`Estimator::train`] call (its first step included), in the step's own
    /// run; the values go to [`TrainReport::probes`]. `None` or `every == 0`: no probe.
    pub fn set_probe(&mut self, t: Option<Tensor<'g>>, every: usize) {
        self.probe = t.filter(|_| every > 0).map(|t| (t, every));
    }

    /// Feeds the bool scalar `flag` `true` in every train step and `false` when evaluating
    /// or predicting: the `training` argument of [`crate::layers::BatchNormalization`] or of
    /// dropout (TF's `mode == TRAIN`, Keras's learning phase). Typically
    /// `placeholder_with_default(g.constant(false), "training")`. The spec's train ops
    /// already run the batch-norm moving-average updates (`UPDATE_OPS`).
    ///
    /// Errors with [`Error::InvalidArgument`] naming the tensor if it is not a bool scalar,
    /// or with the tensor's own build error.
    pub fn with_training_flag(mut self, flag: Tensor<'g>) -> Result<Self> {
        let flag = flag.check()?;
        if flag.dtype() != crate::graph::DType::Bool || flag.shape().rank() != 0 {
            return Err(Error::InvalidArgument(format!(
                "the training flag `{}` must be a bool scalar, got {} {}",
                flag.name(),
                flag.dtype(),
                flag.shape()
            )));
        }
        self.training = Some(flag);
        Ok(self)
    }

    /// The session (e.g. to read variables).
    pub fn session(&mut self) -> &mut Session<'g> {
        &mut self.session
    }

    /// The spec.
    pub fn spec(&self) -> &MultiHeadSpec<'g> {
        &self.spec
    }

    /// The graph.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// The global step's value.
    pub fn global_step(&mut self) -> Result<i64> {
        let v = self.session.variable_value(self.global_step)?;
        Ok(v.as_i64()?.iter().next().copied().unwrap_or(0))
    }

    /// The effective weight of each head's loss: those of the last train step, else (before
    /// training) computed from the variables alone (fails for strategies whose weights
    /// depend on a batch, such as `gls` or the gradient-level ones).
    pub fn head_weights(&mut self) -> Result<Vec<f32>> {
        if let Some(w) = &self.last_weights {
            return Ok(w.clone());
        }
        let w = self.spec.weights.clone();
        let fetches: Vec<Fetch<'g>> = w.iter().map(|t| (*t).into()).collect();
        let out = self.session.run(&fetches, &[])?;
        (0..w.len()).map(|i| out.scalar(i)).collect()
    }

    /// The feeds of batch `b` in `mode`; `flag` is the training flag's value
    /// ([`training_value`]), fed if the estimator has one.
    fn feeds<'a>(&self, b: &'a Batch, mode: Mode, flag: &'a Value) -> Result<Vec<Feed<'g, 'a>>> {
        let mut feeds = Vec::new();
        if let Some(t) = self.training {
            feeds.push((t, flag.view()));
        }
        for (name, t) in &self.features {
            let v =
                b.features.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    Error::InvalidArgument(format!("batch has no feature `{name}`"))
                })?;
            feeds.push((*t, v.1.view()));
        }
        if mode != Mode::Predict {
            for h in &self.spec.heads {
                let lt = h.labels.expect("train/eval specs have labels");
                let v = b.labels.iter().find(|(n, _)| *n == h.name).ok_or_else(|| {
                    Error::InvalidArgument(format!("batch has no labels for head `{}`", h.name))
                })?;
                feeds.push((lt, v.1.view()));
            }
        }
        Ok(feeds)
    }

    /// Runs up to `steps` train steps on batches from `batches` (stops early if it ends).
    /// With `alternate` weighting each step runs the next head's train op.
    pub fn train<I>(&mut self, batches: I, steps: usize) -> Result<TrainReport>
    where
        I: IntoIterator<Item = Result<Batch>>,
    {
        if self.train_ops.is_empty() {
            return Err(Error::InvalidArgument(
                "the spec has no train op: build it in Mode::Train with an optimizer".into(),
            ));
        }
        let mut report = TrainReport::default();
        let head_losses: Vec<Tensor<'g>> = self.spec.heads.iter().filter_map(|h| h.loss).collect();
        let total = self.spec.loss.expect("train specs have a loss");
        let flag = training_value(Mode::Train);
        let t0 = Instant::now();
        let mut it = batches.into_iter();
        for step in 0..steps {
            let ti = Instant::now();
            let Some(b) = it.next() else { break };
            let b = b?;
            report.input_seconds += ti.elapsed().as_secs_f64();
            let op = self.train_ops[self.next_alternate % self.train_ops.len()];
            self.next_alternate += 1;
            let mut fetches: Vec<Fetch<'g>> = vec![op.into(), total.into()];
            fetches.extend(head_losses.iter().map(|t| Fetch::from(*t)));
            fetches.extend(self.spec.weights.iter().map(|t| Fetch::from(*t)));
            let probe = self.probe.filter(|(_, every)| step % every == 0);
            if let Some((t, _)) = probe {
                fetches.push(t.into());
            }
            let feeds = self.feeds(&b, Mode::Train, &flag)?;
            let out = self.session.run(&fetches, &feeds)?;
            if probe.is_some() {
                report.probe_seconds += ti.elapsed().as_secs_f64();
                report.probes.push(out.get(fetches.len() - 1)?.clone());
            }
            report.losses.push(out.scalar(1)?);
            let n = head_losses.len();
            let hl: Vec<f32> = (0..n).map(|i| out.scalar(2 + i)).collect::<Result<_>>()?;
            let w: Vec<f32> = (0..self.spec.weights.len())
                .map(|i| out.scalar(2 + n + i))
                .collect::<Result<_>>()?;
            self.last_weights = Some(w);
            report.last_head_losses = hl;
            report.steps += 1;
        }
        report.seconds = t0.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Evaluates on every batch: TF-style metric names (`loss`, `loss/<head>`,
    /// `average_loss/<head>`, `rmse/<head>`, `accuracy/<head>`, `global_step`). Losses are
    /// example-weighted means of the batch losses; metrics are streamed exactly.
    pub fn evaluate<I>(&mut self, batches: I) -> Result<BTreeMap<String, f64>>
    where
        I: IntoIterator<Item = Result<Batch>>,
    {
        let total = self.spec.loss.expect("train/eval specs have a loss");
        let mut fetches: Vec<Fetch<'g>> = vec![total.into()];
        let mut names: Vec<(String, f64, Option<Finalize>)> = vec![("loss".into(), 1.0, None)];
        for h in &self.spec.heads {
            fetches.push(h.loss.expect("train/eval specs have a loss").into());
            names.push((format!("loss/{}", h.name), 1.0, None));
            for m in &h.metrics {
                fetches.push(m.total.into());
                names.push((
                    format!("{}/{}", m.name, h.name),
                    m.per_example,
                    Some(m.finalize),
                ));
            }
        }
        let mut sums = vec![0f64; fetches.len()];
        // Streaming metrics: reset, one update per batch (fetched after the sums), read.
        let streamed = &self.spec.eval_metric_ops;
        if !streamed.is_empty() {
            let reset = self.graph.local_variables_initializer();
            self.session.run(&[reset.into()], &[])?;
        }
        fetches.extend(streamed.iter().map(|(_, m)| Fetch::from(m.update_op)));
        let flag = training_value(Mode::Eval);
        let mut n = 0usize;
        for b in batches {
            let b = b?;
            let bs = b.size();
            let feeds = self.feeds(&b, Mode::Eval, &flag)?;
            let out = self.session.run(&fetches, &feeds)?;
            for (k, (_, _, fin)) in names.iter().enumerate() {
                let v = out.scalar(k)? as f64;
                // Losses are batch means: weight by the batch size. Metric totals are sums.
                sums[k] += if fin.is_none() { v * bs as f64 } else { v };
            }
            n += bs;
        }
        if n == 0 {
            return Err(Error::InvalidArgument(
                "evaluate: the dataset produced no examples".into(),
            ));
        }
        let mut res = BTreeMap::new();
        for (k, (name, per, fin)) in names.into_iter().enumerate() {
            let mean = sums[k] / (n as f64 * per);
            let v = match fin {
                Some(Finalize::RootMean) => mean.sqrt(),
                _ => mean,
            };
            res.insert(name, v);
        }
        if !self.spec.eval_metric_ops.is_empty() {
            let values: Vec<Fetch<'g>> = self
                .spec
                .eval_metric_ops
                .iter()
                .map(|(_, m)| m.value.into())
                .collect();
            let out = self.session.run(&values, &[])?;
            for (k, (name, _)) in self.spec.eval_metric_ops.iter().enumerate() {
                res.insert(name.clone(), out.scalar(k)? as f64);
            }
        }
        res.insert("global_step".into(), self.global_step()? as f64);
        Ok(res)
    }

    /// Runs the predictions of every head on every batch and concatenates them:
    /// keys `<head>/<prediction>` (e.g. `head_pose/class_ids`).
    pub fn predict<I>(&mut self, batches: I) -> Result<BTreeMap<String, Value>>
    where
        I: IntoIterator<Item = Result<Batch>>,
    {
        let mut keys = Vec::new();
        let mut fetches: Vec<Fetch<'g>> = Vec::new();
        for h in &self.spec.heads {
            for (name, t) in &h.predictions {
                keys.push(format!("{}/{name}", h.name));
                fetches.push((*t).into());
            }
        }
        let mut parts: Vec<Vec<Value>> = vec![vec![]; keys.len()];
        let flag = training_value(Mode::Predict);
        for b in batches {
            let b = b?;
            let feeds = self.feeds(&b, Mode::Predict, &flag)?;
            let out = self.session.run(&fetches, &feeds)?;
            for (k, p) in parts.iter_mut().enumerate() {
                p.push(out.get(k)?.clone());
            }
        }
        let mut res = BTreeMap::new();
        for (key, p) in keys.into_iter().zip(parts) {
            res.insert(key, concat_values(p)?);
        }
        Ok(res)
    }
}

fn concat_values(p: Vec<Value>) -> Result<Value> {
    use ndarray::{concatenate, Axis};
    let err = |e: ndarray::ShapeError| Error::Value(format!("cannot concatenate predictions: {e}"));
    match p.first() {
        None => Ok(Value::default()),
        Some(Value::F32(_)) => {
            let v: Vec<_> = p
                .iter()
                .map(|x| x.as_f32().map(|a| a.view()))
                .collect::<Result<_>>()?;
            Ok(Value::F32(concatenate(Axis(0), &v).map_err(err)?))
        }
        Some(Value::I64(_)) => {
            let v: Vec<_> = p
                .iter()
                .map(|x| x.as_i64().map(|a| a.view()))
                .collect::<Result<_>>()?;
            Ok(Value::I64(concatenate(Axis(0), &v).map_err(err)?))
        }
        Some(Value::Bool(_)) => {
            let v: Vec<_> = p
                .iter()
                .map(|x| x.as_bool().map(|a| a.view()))
                .collect::<Result<_>>()?;
            Ok(Value::Bool(concatenate(Axis(0), &v).map_err(err)?))
        }
        Some(Value::Bytes(_)) => Err(Error::Value("cannot concatenate bytes predictions".into())),
    }
}

/// The training flag's value in `mode`: `true` only in [`Mode::Train`].
fn training_value(mode: Mode) -> Value {
    Value::Bool(ndarray::arr0(mode == Mode::Train).into_dyn())
}
