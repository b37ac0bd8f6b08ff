//! The [`Strategy`] trait, what a strategy builds ([`Combined`], [`Train`], [`Diagnostics`]),
//! and the per-task gradient plumbing the strategies share.

use super::tasks::{Partition, Tasks};
use crate::error::{Error, Result};
use crate::graph::{Fetch, Graph, Operation, Tensor};
use crate::ops::aggregate;
use crate::ops::concat::{slice, stack};
use crate::train::Optimizer;
use crate::{gradients, group, reshape, stop_gradient};

/// A multi-task balancing strategy: builds the combined loss and the train step of a task
/// set. Loss-level strategies weight the losses; gradient-level ones weight the per-task
/// gradients on the shared variables (see the module docs for the list).
pub trait Strategy: std::fmt::Debug {
    /// The strategy's name, as [`super::by_name`] accepts it (e.g. `"pcgrad"`).
    fn name(&self) -> &'static str;

    /// Builds the scalar total loss the strategy reports and trains on (loss-level) or reports
    /// (gradient-level: the sum of the task losses), with each task's effective weight and
    /// the state updates (loss history, counters) to run with every train step. Creates the
    /// strategy's variables; call it once per task set.
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>>;

    /// Builds the train step on `combined` (from [`Strategy::combine`] on the same tasks).
    /// The default trains every variable on the total loss's path with `optimizer` and runs
    /// the state updates with it.
    fn train<'g>(
        &self,
        optimizer: &dyn Optimizer,
        tasks: &Tasks<'g>,
        combined: &Combined<'g>,
    ) -> Result<Train<'g>> {
        let apply = optimizer.minimize(combined.total)?;
        let op = with_updates(apply, &combined.updates);
        let diagnostics = if tasks.diagnostics() && tasks.len() >= 2 {
            let w = stack(&combined.weights, 0);
            Some(loss_level_diagnostics(tasks, stop_gradient(w))?)
        } else {
            None
        };
        Ok(Train::new(op, combined, tasks, diagnostics))
    }

    /// Validates the tasks ([`Tasks::partition`]), then [`Strategy::combine`] inside a fresh
    /// scope named after the strategy, then [`Strategy::train`]: one op that runs the whole
    /// step (forward, backward passes, aggregation, update, state updates).
    fn minimize<'g>(&self, optimizer: &dyn Optimizer, tasks: &Tasks<'g>) -> Result<Train<'g>> {
        tasks.partition()?;
        let g = tasks.graph();
        let combined = {
            let _s = g.name_scope(&g.unique_scope(self.name()));
            self.combine(tasks)?
        };
        self.train(optimizer, tasks, &combined)
    }
}

/// The combined loss of a task set.
#[derive(Clone, Debug)]
pub struct Combined<'g> {
    /// Scalar total loss.
    pub total: Tensor<'g>,
    /// Each task's effective loss weight (scalar tensors, task order).
    pub weights: Vec<Tensor<'g>>,
    /// State updates to run with every train step (empty for stateless strategies).
    pub updates: Vec<Operation<'g>>,
    /// The variables the strategy created (learned weights, state), for checkpoints and
    /// inspection.
    pub variables: Vec<Tensor<'g>>,
}

/// Fetchable diagnostics of a step (computed only when fetched).
#[derive(Clone, Copy, Debug)]
pub struct Diagnostics<'g> {
    /// Task losses, f32 `[T]`.
    pub losses: Tensor<'g>,
    /// The weights or coefficients the step used, f32 `[T]` (gradient-level: the weights of
    /// the raw per-task gradients on the shared variables).
    pub weights: Tensor<'g>,
    /// Gram matrix of the per-task gradients on the shared variables (or the
    /// representation), f32 `[T, T]`.
    pub gram: Tensor<'g>,
    /// Per-task gradient norms, f32 `[T]` (non-finite if a task's gradient is).
    pub grad_norms: Tensor<'g>,
    /// Pairwise cosines of the per-task gradients, f32 `[T, T]` (gradient conflict).
    pub cosines: Tensor<'g>,
}

/// What [`Strategy::minimize`] returns: the train op and fetchable tensors. Converts into a
/// [`Fetch`] of the op, so `sess.run(&[train.into()], ..)` runs one step.
#[derive(Clone, Debug)]
pub struct Train<'g> {
    /// One op running the whole step.
    pub op: Operation<'g>,
    /// The scalar total loss (see [`Strategy::combine`]).
    pub total_loss: Tensor<'g>,
    /// Task losses (scalars, task order).
    pub losses: Vec<Tensor<'g>>,
    /// Each task's effective weight (scalars, task order).
    pub weights: Vec<Tensor<'g>>,
    /// Per-task gradient diagnostics (`None` for loss-level strategies on task sets built
    /// with `with_diagnostics(false)`).
    pub diagnostics: Option<Diagnostics<'g>>,
}

impl<'g> Train<'g> {
    pub(crate) fn new(
        op: Operation<'g>,
        combined: &Combined<'g>,
        tasks: &Tasks<'g>,
        diagnostics: Option<Diagnostics<'g>>,
    ) -> Self {
        Train {
            op,
            total_loss: combined.total,
            losses: tasks.losses(),
            weights: combined.weights.clone(),
            diagnostics,
        }
    }
}

impl<'g> From<Train<'g>> for Fetch<'g> {
    fn from(t: Train<'g>) -> Fetch<'g> {
        t.op.into()
    }
}

impl<'g> From<&Train<'g>> for Fetch<'g> {
    fn from(t: &Train<'g>) -> Fetch<'g> {
        t.op.into()
    }
}

/// `apply`, or one op grouping it with `updates`.
pub(crate) fn with_updates<'g>(apply: Operation<'g>, updates: &[Operation<'g>]) -> Operation<'g> {
    if updates.is_empty() {
        return apply;
    }
    let mut all = vec![apply];
    all.extend_from_slice(updates);
    group(apply.graph(), &all)
}

/// The per-task gradients of a task set.
pub(crate) struct TaskGrads<'g> {
    /// `[task][k]`: task's gradient of `wrt[k]` (zeros where it does not reach it).
    pub shared: Vec<Vec<Tensor<'g>>>,
    /// Per task, `(gradient, variable)` of its task-specific variables.
    pub specific: Vec<Vec<(Tensor<'g>, Tensor<'g>)>>,
}

/// One `gradients` call per task for `wrt` (shared variables or a representation) and the
/// task's specific variables; the forward nodes are shared by all of them.
pub(crate) fn task_gradients<'g>(
    tasks: &Tasks<'g>,
    part: &Partition<'g>,
    wrt: &[Tensor<'g>],
) -> Result<TaskGrads<'g>> {
    let g = tasks.graph();
    let mut shared = Vec::new();
    let mut specific = Vec::new();
    for (k, t) in tasks.tasks().iter().enumerate() {
        let _s = g.name_scope(&t.name);
        let mut xs = wrt.to_vec();
        xs.extend_from_slice(&part.specific[k]);
        let grads = gradients(&[t.loss], &xs)?;
        let row = wrt
            .iter()
            .zip(&grads)
            .map(|(x, gr)| match gr {
                Some(gr) => Ok(*gr),
                None => zeros_like_var(g, *x),
            })
            .collect::<Result<Vec<_>>>()?;
        shared.push(row);
        specific.push(
            grads[wrt.len()..]
                .iter()
                .zip(&part.specific[k])
                .filter_map(|(gr, v)| gr.map(|gr| (gr, *v)))
                .collect(),
        );
    }
    Ok(TaskGrads { shared, specific })
}

/// A zero constant shaped like `x` (whose shape must be fully known).
fn zeros_like_var<'g>(g: &'g Graph, x: Tensor<'g>) -> Result<Tensor<'g>> {
    let shape = x.shape().to_vec().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "`{}` has a partially known shape {}; a task that does not reach it needs a zero \
             gradient of known shape",
            x.name(),
            x.shape()
        ))
    })?;
    Ok(g.constant(ndarray::ArrayD::<f32>::zeros(shape)))
}

/// Diagnostics from per-task gradients and the weights used.
pub(crate) fn diagnostics_from<'g>(
    tasks: &Tasks<'g>,
    gram: Tensor<'g>,
    weights: Tensor<'g>,
) -> Diagnostics<'g> {
    let g = tasks.graph();
    let _s = g.name_scope("diagnostics");
    Diagnostics {
        losses: stack(&tasks.losses(), 0).named("losses"),
        weights,
        gram,
        grad_norms: aggregate::gram_norms(gram).named("grad_norms"),
        cosines: aggregate::gram_cosine(gram).named("cosines"),
    }
}

/// Diagnostics of a loss-level step: per-task gradients of the shared variables (built only
/// for the diagnostics, so computed only when fetched).
pub(crate) fn loss_level_diagnostics<'g>(
    tasks: &Tasks<'g>,
    weights: Tensor<'g>,
) -> Result<Diagnostics<'g>> {
    let part = tasks.partition()?;
    let g = tasks.graph();
    let _s = g.name_scope(&g.unique_scope("mtl_diagnostics"));
    let grads = task_gradients(tasks, &part, &part.shared)?;
    let gram = aggregate::gram(&grads.shared);
    Ok(diagnostics_from(tasks, gram, weights))
}

/// Scalar `w[k]` of a `[T]` tensor.
pub(crate) fn element(w: Tensor<'_>, k: usize) -> Tensor<'_> {
    reshape(slice(w, &[k as i64], &[1]), &[])
}
