//! The [`Strategy`] trait, what a strategy builds ([`Combined`], [`Train`], [`Diagnostics`]),
//! and the per-task gradient plumbing the strategies share.

use super::tasks::{Partition, Tasks};
use crate::error::{Error, Result};
use crate::graph::{Fetch, Graph, Operation, Tensor};
use crate::ops::aggregate;
use crate::ops::collective::Allreduce;
use crate::ops::concat::{slice, stack};
use crate::train::{compute_gradients, Optimizer};
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
    /// the state updates with it; data-parallel ([`Tasks::with_allreduce`]), the gradients of
    /// the total are reduced across ranks first.
    ///
    /// Errors (besides the strategy's): `optimizer` is data-parallel
    /// ([`Optimizer::allreduce`]) but `tasks` is not (build the tasks with
    /// [`Tasks::with_allreduce`] before [`Strategy::combine`], or use
    /// [`Strategy::minimize`], which does it).
    fn train<'g>(
        &self,
        optimizer: &dyn Optimizer,
        tasks: &Tasks<'g>,
        combined: &Combined<'g>,
    ) -> Result<Train<'g>> {
        loss_level_train(optimizer, tasks, combined)
    }

    /// Validates the tasks ([`Tasks::partition`]), then [`Strategy::combine`] inside a fresh
    /// scope named after the strategy, then [`Strategy::train`]: one op that runs the whole
    /// step (forward, backward passes, aggregation, update, state updates). With a
    /// data-parallel optimizer (`distributed::DistributedOptimizer`), the task set is made
    /// data-parallel with the optimizer's [`Allreduce`] (see [`Tasks::with_allreduce`]).
    fn minimize<'g>(&self, optimizer: &dyn Optimizer, tasks: &Tasks<'g>) -> Result<Train<'g>> {
        let adopted;
        let tasks = match (tasks.allreduce(), optimizer.allreduce()) {
            (None, Some(a)) => {
                adopted = tasks.clone().with_allreduce(Some(a.clone()));
                &adopted
            }
            _ => tasks,
        };
        tasks.partition()?;
        let g = tasks.graph();
        let combined = {
            let _s = g.name_scope(&g.unique_scope(self.name()));
            self.combine(tasks)?
        };
        self.train(optimizer, tasks, &combined)
    }
}

/// The default [`Strategy::train`]: minimise the total loss (its gradients reduced across
/// ranks when data-parallel) and run the state updates with the step.
pub(crate) fn loss_level_train<'g>(
    optimizer: &dyn Optimizer,
    tasks: &Tasks<'g>,
    combined: &Combined<'g>,
) -> Result<Train<'g>> {
    let apply = match data_parallel(tasks, optimizer)? {
        Some(a) if optimizer.allreduce() != Some(&a) => {
            let gv = compute_gradients(combined.total, None)?;
            optimizer.apply_reduced_gradients(&a.reduce_pairs(&gv)?)?
        }
        // One process, or the optimizer reduces as the tasks say.
        _ => optimizer.minimize(combined.total)?,
    };
    let op = with_updates(apply, &combined.updates);
    let diagnostics = if tasks.diagnostics() && tasks.len() >= 2 {
        let w = stack(&combined.weights, 0);
        Some(loss_level_diagnostics(tasks, stop_gradient(w))?)
    } else {
        None
    };
    Ok(Train::new(op, combined, tasks, diagnostics))
}

/// The task set's cross-rank reduction (see [`Tasks::with_allreduce`]). Errors if only the
/// optimizer is data-parallel: the strategy's weights and state would be computed from each
/// rank's own losses and differ between ranks.
pub(crate) fn data_parallel(
    tasks: &Tasks<'_>,
    optimizer: &dyn Optimizer,
) -> Result<Option<Allreduce>> {
    match (tasks.allreduce(), optimizer.allreduce()) {
        (None, Some(a)) => Err(Error::InvalidArgument(format!(
            "optimizer `{}` reduces gradients across ranks (group `{}`) but the task set of \
             tasks {:?} is not data-parallel: build it with Tasks::with_allreduce before \
             combine (Strategy::minimize does it), so that every rank computes the same \
             weights",
            optimizer.name(),
            a.group,
            tasks.names()
        ))),
        (a, _) => Ok(a.cloned()),
    }
}

/// Applies `pairs` with `optimizer`; data-parallel (`dp`), the pairs are reduced across ranks
/// first unless `reduced` says they already are.
pub(crate) fn apply_pairs<'g>(
    optimizer: &dyn Optimizer,
    dp: Option<&Allreduce>,
    pairs: &[(Tensor<'g>, Tensor<'g>)],
    reduced: bool,
) -> Result<Operation<'g>> {
    match dp {
        None => optimizer.apply_gradients(pairs),
        Some(_) if reduced => optimizer.apply_reduced_gradients(pairs),
        Some(a) => optimizer.apply_reduced_gradients(&a.reduce_pairs(pairs)?),
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
        // A numeric check failing in here names the task (Session::set_check_numerics).
        g.describe_current_scope(&format!("the gradient of task `{}`", t.name));
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

impl<'g> TaskGrads<'g> {
    /// Data-parallel: reduces every per-task gradient (shared and task-specific) and `extra`
    /// (e.g. the losses) across ranks in one fused call, in place; returns the reduced
    /// `extra`. For gradients of variables (summed over the batch by the variables' own
    /// backward pass), not of a per-example representation (see [`reduce_rep_gram`]).
    pub(crate) fn reduce(
        &mut self,
        a: &Allreduce,
        extra: &[Tensor<'g>],
    ) -> Result<Vec<Tensor<'g>>> {
        let mut flat: Vec<Tensor<'g>> = self.shared.iter().flatten().copied().collect();
        flat.extend(self.specific.iter().flatten().map(|p| p.0));
        flat.extend_from_slice(extra);
        let mut it = a.reduce(&flat)?.into_iter();
        for row in &mut self.shared {
            row.iter_mut()
                .for_each(|x| *x = it.next().expect("one per input"));
        }
        for row in &mut self.specific {
            row.iter_mut()
                .for_each(|p| p.0 = it.next().expect("one per input"));
        }
        Ok(it.collect())
    }
}

/// Data-parallel with representation gradients ([`Tasks::rep_grad`]): each rank's per-task
/// gradients are of its own examples' representations, so they cannot be averaged; their
/// Gram matrices add up instead. With `N` ranks each holding `1/N` of the batch and losses
/// that are means, the global Gram is `Σ_r G_r / N²` (averaged losses) or `Σ_r G_r` (summed);
/// `N` is counted in the same call (a 1 summed over the ranks), so the graph does not depend
/// on the number of ranks. Returns the global Gram matrix and losses.
pub(crate) fn reduce_rep_gram<'g>(
    a: &Allreduce,
    gram: Tensor<'g>,
    losses: Tensor<'g>,
) -> Result<(Tensor<'g>, Tensor<'g>)> {
    let g = gram.graph();
    let one = g.constant(ndarray::arr1(&[1.0f32]));
    let sum = Allreduce {
        average: false,
        ..a.clone()
    }
    .reduce(&[gram, losses, one])?;
    if !a.average {
        return Ok((sum[0], sum[1]));
    }
    let n = reshape(sum[2], &[]);
    Ok((sum[0] / (n * n), sum[1] / n))
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
