//! GradNorm (Chen et al., ICML 2018): loss weights trained in the same step so that the tasks'
//! gradient norms on the last shared layer follow their relative training rates.

use super::strategy::{
    apply_pairs, data_parallel, diagnostics_from, element, reduce_rep_gram, task_gradients,
    Combined, Strategy, Train,
};
use super::tasks::Tasks;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::ops::aggregate;
use crate::ops::state::group;
use crate::train::{compute_gradients, Optimizer};
use crate::{abs, assign, gradients, pow, reduce_mean_all, reduce_sum_all, stack, stop_gradient};

/// GradNorm: `total = Σ w_k L_k` trains the network; the weights `w` (variable
/// `gradnorm_weights [T]`, initially 1) are trained by the same optimizer in the same step on
/// `Σ_k |G_k - stop(mean(G) · r_k^α)|`, with `G_k = w_k |∇_W L_k|` on the last shared layer
/// `W`, `r_k = L̃_k / mean(L̃)` and `L̃_k = L_k / L_k(0)`; after the update they are
/// renormalised to sum T. `L(0)` is recorded in the variable `gradnorm_initial_losses` at the
/// first step. `W` is the last-created shared variable of rank >= 2 (the paper's last shared
/// layer), or the representation of [`Tasks::rep_grad`].
///
/// Differences from LibMTL 1.1.5: it takes `L(0)` from the first epoch's mean and applies
/// GradNorm to all shared parameters; this follows the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct GradNorm {
    /// Asymmetry α (the paper: 0.12 to 3; LibMTL's default 1.5).
    pub alpha: f32,
}

impl Default for GradNorm {
    fn default() -> Self {
        GradNorm { alpha: 1.5 }
    }
}

impl Strategy for GradNorm {
    fn name(&self) -> &'static str {
        "gradnorm"
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let g = tasks.graph();
        let t = tasks.len();
        let w = g.non_trainable_variable("gradnorm_weights", crate::init::ones(&[t]));
        let weights: Vec<Tensor<'g>> = (0..t).map(|k| element(w, k)).collect();
        let terms: Vec<Tensor<'g>> = tasks
            .losses()
            .iter()
            .zip(&weights)
            .map(|(l, w)| *l * *w)
            .collect();
        Ok(Combined {
            total: super::loss::sum(&terms).check()?,
            weights,
            updates: vec![],
            variables: vec![w],
        })
    }

    fn train<'g>(
        &self,
        optimizer: &dyn Optimizer,
        tasks: &Tasks<'g>,
        combined: &Combined<'g>,
    ) -> Result<Train<'g>> {
        let part = tasks.partition()?;
        let g = tasks.graph();
        let t = tasks.len();
        let w = weight_variable(combined)?;
        let layer = match tasks.representation() {
            Some(z) => z,
            None => *part
                .shared
                .iter()
                .rev()
                .find(|v| v.shape().rank() >= 2)
                .unwrap_or(part.shared.last().expect("partition has shared variables")),
        };
        let dp = data_parallel(tasks, optimizer)?;
        let _s = g.name_scope(&g.unique_scope("gradnorm"));
        let mut grads = task_gradients(tasks, &part, &[layer])?;
        grads.specific.iter_mut().for_each(Vec::clear); // the total's gradients train them
        let mut losses = stop_gradient(stack(&tasks.losses(), 0));
        let mut pairs = compute_gradients(combined.total, None)?;
        // Data-parallel: the norms, the losses and the total's gradients are the global
        // batch's (one fused allreduce; two with rep_grad).
        let gram = match (&dp, tasks.representation()) {
            (None, _) => aggregate::gram(&grads.shared),
            (Some(a), None) => {
                let mut extra = vec![losses];
                extra.extend(pairs.iter().map(|p| p.0));
                let red = grads.reduce(a, &extra)?;
                losses = red[0];
                pairs.iter_mut().zip(&red[1..]).for_each(|(p, r)| p.0 = *r);
                aggregate::gram(&grads.shared)
            }
            (Some(a), Some(_)) => {
                let (gram, l) = reduce_rep_gram(a, aggregate::gram(&grads.shared), losses)?;
                losses = l;
                pairs = a.reduce_pairs(&pairs)?;
                gram
            }
        }
        .named("gram");
        let norms = stop_gradient(aggregate::gram_norms(gram));
        let initial = g.non_trainable_variable("gradnorm_initial_losses", crate::init::zeros(&[t]));
        let recorded = g.non_trainable_variable("gradnorm_recorded", crate::init::zeros(&[]));
        let l0 = recorded * initial + (1.0 - recorded) * losses;
        let rel = losses / l0;
        let r = rel / reduce_mean_all(rel);
        let gk = w * norms;
        let target = stop_gradient(reduce_mean_all(gk) * pow(r, g.constant(self.alpha)));
        let gradnorm_loss = reduce_sum_all(abs(gk - target)).named("gradnorm_loss");
        let grad_w = gradients(&[gradnorm_loss], &[w])?[0].ok_or_else(|| {
            Error::InvalidArgument("gradnorm: the weights do not reach their loss".into())
        })?;
        pairs.push((grad_w, w));
        let apply = apply_pairs(optimizer, dp.as_ref(), &pairs, true)?;
        let renorm = {
            let _c = g.control_dependencies(&[apply]);
            assign(w, w * (t as f32 / reduce_sum_all(w)))
        };
        let op = group(
            g,
            &[
                apply,
                renorm,
                assign(initial, l0),
                assign(recorded, g.constant(1.0f32)),
            ],
        );
        let diagnostics = diagnostics_from(tasks, gram, w);
        Ok(Train::new(op, combined, tasks, Some(diagnostics)))
    }
}

/// The `gradnorm_weights` variable behind the combined loss's weights.
fn weight_variable<'g>(c: &Combined<'g>) -> Result<Tensor<'g>> {
    c.variables.first().copied().ok_or_else(|| {
        Error::InvalidArgument("gradnorm: the combined loss was not built by GradNorm".into())
    })
}
