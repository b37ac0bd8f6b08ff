//! The task set: named scalar losses with their kinds, and the partition of the trainable
//! variables into shared ones (on the path of two or more tasks) and task-specific ones.

use crate::autodiff::reachable;
use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Tensor};
use crate::ops::collective::Allreduce;
use petgraph::Direction;
use std::collections::HashSet;

/// Whether a task regresses or classifies (the uncertainty weighting's factor depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TaskKind {
    /// Continuous targets (Gaussian likelihood: factor 1/2σ²).
    #[default]
    Regression,
    /// Class targets (softmax likelihood: factor 1/σ²).
    Classification,
}

/// One task: a name, a scalar f32 loss and its kind.
#[derive(Clone, Debug)]
pub struct Task<'g> {
    /// Unique name (used in scopes and messages).
    pub name: String,
    /// Scalar f32 loss.
    pub loss: Tensor<'g>,
    /// Regression or classification.
    pub kind: TaskKind,
}

/// A set of tasks on one graph (see the module docs):
///
/// ```
/// # use staticflow::prelude::*;
/// # use staticflow::mtl;
/// let g = Graph::with_seed(0);
/// let x = g.placeholder("x", [None, Some(3)]);
/// let ws = g.variable("shared/w", init::glorot_uniform(&[3, 4]));
/// let h = relu(matmul(x, ws));
/// let a = l2_loss(matmul(h, g.variable("a/w", init::glorot_uniform(&[4, 1]))));
/// let b = l2_loss(matmul(h, g.variable("b/w", init::glorot_uniform(&[4, 1]))));
/// let tasks = mtl::Tasks::new(&g).task("a", a).task("b", b);
/// let p = tasks.partition().unwrap();
/// assert_eq!(p.shared[0].name(), "shared/w");
/// assert_eq!(p.specific[1][0].name(), "b/w");
/// ```
#[derive(Clone, Debug)]
pub struct Tasks<'g> {
    graph: &'g Graph,
    tasks: Vec<Task<'g>>,
    shared: Option<Vec<Tensor<'g>>>,
    rep: Option<Tensor<'g>>,
    diagnostics: bool,
    allreduce: Option<Allreduce>,
}

/// Which trainable variables each task updates.
#[derive(Clone, Debug)]
pub struct Partition<'g> {
    /// Variables on the path of two or more tasks (or the `shared(..)` override), in
    /// creation order.
    pub shared: Vec<Tensor<'g>>,
    /// Per task (in task order), the other variables on its path, in creation order.
    pub specific: Vec<Vec<Tensor<'g>>>,
    /// Per task, whether each shared variable is on its path (same order as `shared`).
    pub reaches: Vec<Vec<bool>>,
}

impl<'g> Tasks<'g> {
    /// An empty task set on `g`.
    pub fn new(g: &'g Graph) -> Self {
        Tasks {
            graph: g,
            tasks: Vec::new(),
            shared: None,
            rep: None,
            diagnostics: true,
            allreduce: None,
        }
    }

    /// Adds a regression task `name` with scalar `loss` (use
    /// [`Tasks::task_with_kind`] for classification: only the uncertainty weighting cares).
    pub fn task(self, name: &str, loss: Tensor<'g>) -> Self {
        self.task_with_kind(name, loss, TaskKind::Regression)
    }

    /// Adds a task with its kind.
    pub fn task_with_kind(mut self, name: &str, loss: Tensor<'g>, kind: TaskKind) -> Self {
        self.tasks.push(Task {
            name: name.into(),
            loss,
            kind,
        });
        self
    }

    /// Overrides the shared variables (default: trainable variables on the path of two or
    /// more tasks). Every other trainable variable on a task's path is specific to it.
    pub fn shared(mut self, vars: &[Tensor<'g>]) -> Self {
        self.shared = Some(vars.to_vec());
        self
    }

    /// LibMTL's `rep_grad`: gradient-level strategies that support it take the per-task
    /// gradients with respect to `feature` (a shared representation `[batch, ..]` that every
    /// task's loss depends on) instead of the shared variables: T backward passes through the
    /// heads only, the aggregation on those, then one backward pass through the encoder.
    /// Every shared variable must lie before `feature`.
    pub fn rep_grad(mut self, feature: Tensor<'g>) -> Self {
        self.rep = Some(feature);
        self
    }

    /// Whether loss-level strategies also build the per-task gradient diagnostics (norms and
    /// cosines on the shared variables; computed only when fetched). Default true; the Head
    /// API turns it off to keep its graph small.
    pub fn with_diagnostics(mut self, on: bool) -> Self {
        self.diagnostics = on;
        self
    }

    /// Data-parallel training (`Some`): every rank holds a shard of the global batch, and the
    /// strategies reduce across ranks with `allreduce` what their non-linear parts need:
    /// gradient-level ones reduce the per-task gradients (and the task-specific ones and the
    /// losses, in the same fused call) before aggregating, loss-level ones compute weights and
    /// state from the reduced losses ([`Tasks::global_losses`]) and reduce the gradient of
    /// their total. So every rank computes the same weights and update as one process with the
    /// global batch (for losses that are means over equal shards). [`Strategy::minimize`]
    /// takes it from a data-parallel optimizer (`distributed::DistributedOptimizer`) when not
    /// set; set it yourself before [`Strategy::combine`] when calling `combine` and `train`
    /// separately. Fetched diagnostics then describe the global batch too.
    ///
    /// [`Strategy::minimize`]: super::Strategy::minimize
    /// [`Strategy::combine`]: super::Strategy::combine
    pub fn with_allreduce(mut self, allreduce: Option<Allreduce>) -> Self {
        self.allreduce = allreduce;
        self
    }

    /// The cross-rank reduction set with [`Tasks::with_allreduce`] (`None`: one process).
    pub fn allreduce(&self) -> Option<&Allreduce> {
        self.allreduce.as_ref()
    }

    /// The task losses as one f32 `[T]` vector without gradient, reduced across ranks when
    /// data-parallel ([`Tasks::with_allreduce`]; one small allreduce per run that needs it):
    /// what loss-dependent weights and strategy state must be computed from, so every rank
    /// computes the same.
    pub fn global_losses(&self) -> Result<Tensor<'g>> {
        let l = crate::stop_gradient(crate::stack(&self.losses(), 0));
        match &self.allreduce {
            Some(a) => Ok(crate::stop_gradient(a.reduce(&[l])?[0])),
            None => Ok(l),
        }
    }

    /// The graph.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }
    /// The tasks, in order.
    pub fn tasks(&self) -> &[Task<'g>] {
        &self.tasks
    }
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }
    /// True without tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
    /// Task names, in order.
    pub fn names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }
    /// Task losses, in order.
    pub fn losses(&self) -> Vec<Tensor<'g>> {
        self.tasks.iter().map(|t| t.loss).collect()
    }
    /// The representation set with [`Tasks::rep_grad`].
    pub fn representation(&self) -> Option<Tensor<'g>> {
        self.rep
    }
    /// Whether diagnostics are wanted (see [`Tasks::with_diagnostics`]).
    pub fn diagnostics(&self) -> bool {
        self.diagnostics
    }

    /// Checks names and losses: unique names, f32 scalar losses of this graph. Allows a
    /// single task (loss-level combination); see [`Tasks::partition`] for training.
    pub fn validate(&self) -> Result<()> {
        self.graph.check()?;
        let mut seen = HashSet::new();
        for t in &self.tasks {
            if !seen.insert(t.name.as_str()) {
                return Err(Error::DuplicateTask {
                    task: t.name.clone(),
                });
            }
            if t.loss.graph().id() != self.graph.id() {
                return Err(Error::ForeignTensor {
                    node: t.loss.name(),
                    context: format!("the graph of the task set (task `{}`)", t.name),
                });
            }
            let info = t.loss.check()?.info().expect("checked tensors have a type");
            if info.dtype != DType::F32 || info.shape.rank() != 0 {
                return Err(Error::NonScalarLoss {
                    task: t.name.clone(),
                    loss: t.loss.name(),
                    got: info.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Validates the set for multi-task training (at least two tasks, see
    /// [`Tasks::validate`]; each loss reaches a trainable variable; some variable is shared)
    /// and partitions the trainable variables.
    pub fn partition(&self) -> Result<Partition<'g>> {
        self.validate()?;
        if self.tasks.len() < 2 {
            return Err(Error::TooFewTasks {
                tasks: self.names(),
            });
        }
        let g = self.graph;
        let vars = g.trainable_variables();
        let on: Vec<Vec<bool>> = self
            .tasks
            .iter()
            .map(|t| {
                let back = reachable(g, &[t.loss.index()], Direction::Incoming);
                vars.iter().map(|v| back[v.index().index()]).collect()
            })
            .collect();
        for (t, on) in self.tasks.iter().zip(&on) {
            if !on.iter().any(|b| *b) {
                return Err(Error::TaskWithoutVariables {
                    task: t.name.clone(),
                    loss: t.loss.name(),
                });
            }
        }
        let shared: Vec<Tensor<'g>> = match &self.shared {
            Some(s) => s.clone(),
            None => vars
                .iter()
                .enumerate()
                .filter(|(k, _)| on.iter().filter(|o| o[*k]).count() >= 2)
                .map(|(_, v)| *v)
                .collect(),
        };
        if shared.is_empty() {
            return Err(Error::NoSharedVariables {
                tasks: self.names(),
            });
        }
        for v in &shared {
            if !vars.contains(v) {
                return Err(Error::InvalidArgument(format!(
                    "shared variable `{}` is not a trainable variable of the task set's graph",
                    v.name()
                )));
            }
        }
        let is_shared: HashSet<_> = shared.iter().map(|v| v.index()).collect();
        let specific = on
            .iter()
            .map(|o| {
                vars.iter()
                    .zip(o)
                    .filter(|(v, b)| **b && !is_shared.contains(&v.index()))
                    .map(|(v, _)| *v)
                    .collect()
            })
            .collect();
        let reaches = on
            .iter()
            .map(|o| {
                shared
                    .iter()
                    .map(|s| vars.iter().position(|v| v == s).is_some_and(|k| o[k]))
                    .collect()
            })
            .collect();
        Ok(Partition {
            shared,
            specific,
            reaches,
        })
    }
}
