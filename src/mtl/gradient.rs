//! Gradient-level strategies: per-task gradients of the shared variables (or of a shared
//! representation, LibMTL's `rep_grad`), their Gram matrix, an aggregator's weights from it
//! ([`crate::ops::aggregate`]), the combined gradient per variable, and one
//! `apply_gradients` together with the task-specific gradients: one op, one plan.

use super::strategy::{
    apply_pairs, data_parallel, diagnostics_from, element, reduce_rep_gram, task_gradients,
    with_updates, Combined, Strategy, Train,
};
use super::tasks::Tasks;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::aggregate::{self, Aggregator, MgdaNormalization};
use crate::train::Optimizer;
use crate::{gradients_with, stack, stop_gradient};

/// Builds the step of a gradient-level strategy with `aggregator`. `rep_ok`: whether the
/// aggregator may run on a representation's gradients ([`Tasks::rep_grad`]).
pub(crate) fn gradient_train<'g>(
    name: &str,
    aggregator: Aggregator,
    rep_ok: bool,
    optimizer: &dyn Optimizer,
    tasks: &Tasks<'g>,
    combined: &Combined<'g>,
) -> Result<Train<'g>> {
    let part = tasks.partition()?;
    let g = tasks.graph();
    let rep = tasks.representation();
    if rep.is_some() && !rep_ok {
        return Err(Error::InvalidArgument(format!(
            "strategy `{name}` does not support representation gradients (rep_grad); \
             mgda, imtl_g, aligned_mtl, gradnorm, equal and mean do"
        )));
    }
    let dp = data_parallel(tasks, optimizer)?;
    let (grads, weights, gram, updates) = {
        let _s = g.name_scope(&g.unique_scope(name));
        let wrt: Vec<Tensor<'g>> = match rep {
            Some(z) => vec![z],
            None => part.shared.clone(),
        };
        let mut grads = task_gradients(tasks, &part, &wrt)?;
        let mut losses = stop_gradient(stack(&tasks.losses(), 0));
        // Data-parallel: everything the aggregator sees is reduced across ranks first.
        let gram = match (&dp, rep) {
            (None, _) => aggregate::gram(&grads.shared),
            (Some(a), None) => {
                losses = grads.reduce(a, &[losses])?[0];
                aggregate::gram(&grads.shared)
            }
            (Some(a), Some(_)) => {
                let (gram, l) = reduce_rep_gram(a, aggregate::gram(&grads.shared), losses)?;
                losses = l;
                gram
            }
        }
        .named("gram");
        let state = match aggregator {
            Aggregator::GradVac { .. } => {
                let t = tasks.len();
                Some(g.non_trainable_variable("gradvac_state", crate::init::zeros(&[t, t])))
            }
            _ => None,
        };
        let w =
            aggregate::aggregate_weights(aggregator.clone(), gram, losses, state).named("weights");
        let mut updates = Vec::new();
        if let (Aggregator::GradVac { beta }, Some(s)) = (&aggregator, state) {
            updates.push(aggregate::gradvac_update(s, gram, *beta));
        }
        (grads, w, gram, updates)
    };
    let mut pairs: Vec<(Tensor<'g>, Tensor<'g>)> = Vec::new();
    {
        let _s = g.name_scope(&g.unique_scope(&format!("{name}_combine")));
        match rep {
            Some(z) => {
                let per_task: Vec<Tensor<'g>> = grads.shared.iter().map(|r| r[0]).collect();
                let dz = aggregate::combine(weights, &per_task).named("feature_grad");
                let enc = gradients_with(&[z], &part.shared, Some(&[dz]))?;
                for (v, d) in part.shared.iter().zip(enc) {
                    let d = d.ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "rep_grad: shared variable `{}` does not lie before the \
                             representation `{}`",
                            v.name(),
                            z.name()
                        ))
                    })?;
                    pairs.push((d, *v));
                }
            }
            None => {
                for (k, v) in part.shared.iter().enumerate() {
                    let per_task: Vec<Tensor<'g>> = grads.shared.iter().map(|r| r[k]).collect();
                    pairs.push((aggregate::combine(weights, &per_task), *v));
                }
            }
        }
    }
    for s in &grads.specific {
        pairs.extend_from_slice(s);
    }
    // Without rep_grad the pairs are reduced already (per-task and task-specific gradients);
    // with it, the encoder's and the task-specific gradients are reduced now.
    let apply = apply_pairs(optimizer, dp.as_ref(), &pairs, rep.is_none())?;
    let op = with_updates(apply, &updates);
    let diagnostics = diagnostics_from(tasks, gram, weights);
    let mut train = Train::new(op, combined, tasks, Some(diagnostics));
    train.weights = (0..tasks.len()).map(|k| element(weights, k)).collect();
    Ok(train)
}

/// The reported total of a gradient-level strategy: the sum of the task losses.
fn sum_combined<'g>(tasks: &Tasks<'g>) -> Result<Combined<'g>> {
    tasks.validate()?;
    let g = tasks.graph();
    let one = g.constant(1.0f32);
    Ok(Combined {
        total: super::loss::sum(&tasks.losses()).named("total_loss"),
        weights: vec![one; tasks.len()],
        updates: vec![],
        variables: vec![],
    })
}

/// Defines a gradient-level strategy type: its fields, defaults, name, aggregator and
/// whether it supports `rep_grad`.
macro_rules! gradient_strategy {
    ($(#[$doc:meta])* $ty:ident, $name:literal, rep: $rep:literal,
     { $($(#[$fdoc:meta])* $field:ident : $ft:ty = $def:expr),* },
     |$s:ident| $agg:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $ty { $($(#[$fdoc])* pub $field: $ft),* }
        impl Default for $ty {
            fn default() -> Self { $ty { $($field: $def),* } }
        }
        impl $ty {
            /// The aggregator this strategy runs.
            pub fn aggregator(&self) -> Aggregator {
                let $s = self;
                $agg
            }
        }
        impl Strategy for $ty {
            fn name(&self) -> &'static str { $name }
            fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
                sum_combined(tasks)
            }
            fn train<'g>(
                &self,
                optimizer: &dyn Optimizer,
                tasks: &Tasks<'g>,
                combined: &Combined<'g>,
            ) -> Result<Train<'g>> {
                gradient_train($name, self.aggregator(), $rep, optimizer, tasks, combined)
            }
        }
    };
}

gradient_strategy!(
    /// The mean of the per-task gradients, through the gradient-level machinery (TorchJD's
    /// `Mean`): the reference point of the other aggregators' cost.
    Mean, "mean", rep: true, {}, |_s| Aggregator::Mean
);
gradient_strategy!(
    /// PCGrad (Yu et al. 2020): each task's gradient is projected onto the normal plane of
    /// every other task gradient it conflicts with, in a random order drawn from the session's
    /// generator (reproducible from the graph seed); TorchJD's variant (a task is not
    /// projected against itself).
    PcGrad, "pcgrad", rep: false, {}, |_s| Aggregator::PcGrad
);
gradient_strategy!(
    /// MGDA (Sener and Koltun 2018): the min-norm point of the convex hull of the task
    /// gradients (Frank-Wolfe on the Gram matrix, TorchJD's loop), with LibMTL's
    /// normalisation variants. Supports `rep_grad` (MGDA-UB).
    Mgda, "mgda", rep: true, {
        /// Gradient normalisation before the solver (LibMTL's `mgda_gn`).
        normalization: MgdaNormalization = MgdaNormalization::None,
        /// Frank-Wolfe iterations at most (TorchJD: 100).
        max_iters: u32 = 100,
        /// Stop when the step is below this (TorchJD: 0.001).
        epsilon: f32 = 1e-3
    },
    |s| Aggregator::Mgda { normalization: s.normalization, max_iters: s.max_iters, epsilon: s.epsilon }
);
gradient_strategy!(
    /// CAGrad (Liu et al. 2021): maximises the worst local improvement within a ball of radius
    /// `c·|g0|` around the average gradient.
    CaGrad, "cagrad", rep: false, {
        /// Radius scale (LibMTL's default 0.5; TorchJD has none).
        c: f32 = 0.5
    },
    |s| Aggregator::CaGrad { c: s.c }
);
gradient_strategy!(
    /// IMTL-G (Liu et al. 2021): the combined gradient has equal projections on every task's
    /// unit gradient.
    ImtlG, "imtl_g", rep: true, {}, |_s| Aggregator::ImtlG
);
gradient_strategy!(
    /// Aligned-MTL (Senushkin et al. 2023): aligns the principal components of the Jacobian.
    AlignedMtl, "aligned_mtl", rep: true, {}, |_s| Aggregator::AlignedMtl
);
gradient_strategy!(
    /// UPGrad (Quinton and Rey 2024, TorchJD's default): the mean of the projections of each
    /// gradient onto the dual cone of the Jacobian.
    UpGrad, "upgrad", rep: false, {
        /// Norm regularisation of the Gram matrix (TorchJD: 1e-4).
        norm_eps: f32 = 1e-4,
        /// Ridge of the Gram matrix (TorchJD: 1e-4).
        reg_eps: f32 = 1e-4
    },
    |s| Aggregator::UpGrad { norm_eps: s.norm_eps, reg_eps: s.reg_eps }
);
gradient_strategy!(
    /// GradVac (Wang et al. 2021): PCGrad towards an EMA of the pairwise cosines instead of
    /// 0; the EMA is the variable `gradvac_state [T, T]`, updated in the step.
    GradVac, "gradvac", rep: false, {
        /// EMA rate of the target cosines (TorchJD and LibMTL: 0.5).
        beta: f32 = 0.5
    },
    |s| Aggregator::GradVac { beta: s.beta }
);
gradient_strategy!(
    /// Nash-MTL (Navon et al. 2022): the Nash bargaining solution of the tasks.
    NashMtl, "nash_mtl", rep: false, {
        /// Largest allowed norm of the combined gradient (TorchJD: 1.0).
        max_norm: f32 = 1.0,
        /// Newton iterations at most (TorchJD's iteration count: 20).
        optim_iters: u32 = 20
    },
    |s| Aggregator::NashMtl { max_norm: s.max_norm, optim_iters: s.optim_iters }
);
