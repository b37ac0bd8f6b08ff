//! Dynamic weight averaging (Liu, Johns and Davison, CVPR 2019), with its loss history in
//! variables updated inside the train step (no host state): checkpoints keep it.

use super::strategy::{element, Combined, Strategy};
use super::tasks::Tasks;
use crate::error::Result;
use crate::graph::Tensor;
use crate::{assign, clip_by_value, maximum, softmax};

/// DWA: `w_k = T exp(r_k / τ) / Σ_i exp(r_i / τ)`, `r_k` the ratio of task k's mean loss over
/// the last two periods (the paper's period is an epoch; here `period` steps), weights 1 until
/// two periods are complete. `total = Σ w_k L_k`.
///
/// State (non-trainable f32 variables in the strategy's scope): `dwa_sum [T]` and
/// `dwa_count []` (the running period), `dwa_prev [T]` and `dwa_prev2 [T]` (the last two
/// period means), `dwa_periods []`. The weights of a step come from the state at its start;
/// the step then adds its losses.
#[derive(Clone, Debug, PartialEq)]
pub struct Dwa {
    /// Temperature τ (the paper uses 2).
    pub temperature: f32,
    /// Steps per averaging period.
    pub period: usize,
}

impl Default for Dwa {
    fn default() -> Self {
        Dwa {
            temperature: 2.0,
            period: 100,
        }
    }
}

impl Strategy for Dwa {
    fn name(&self) -> &'static str {
        "dwa"
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let g = tasks.graph();
        let t = tasks.len();
        let var =
            |name: &str, shape: &[usize]| g.non_trainable_variable(name, crate::init::zeros(shape));
        let (sum, count) = (var("dwa_sum", &[t]), var("dwa_count", &[]));
        let (prev, prev2) = (var("dwa_prev", &[t]), var("dwa_prev2", &[t]));
        let periods = var("dwa_periods", &[]);

        // Weights from the state at the start of the step.
        let ready = clip_by_value(periods - 1.0, 0.0, 1.0);
        let ratio = prev / maximum(prev2 + (1.0 - ready), g.constant(1e-12f32));
        let soft = softmax(ratio * (1.0 / self.temperature.max(1e-6))) * t as f32;
        let w = (ready * soft + (1.0 - ready)).named("weights");
        let weights: Vec<Tensor<'g>> = (0..t).map(|k| element(w, k)).collect();
        let losses = tasks.losses();
        let terms: Vec<Tensor<'g>> = losses.iter().zip(&weights).map(|(l, w)| *l * *w).collect();

        // State update with this step's losses (averaged over the ranks if data-parallel,
        // so every rank keeps the same history).
        let l = tasks.global_losses()?;
        let c1 = count + 1.0;
        let end = clip_by_value(c1 - (self.period.max(1) as f32 - 1.0), 0.0, 1.0);
        let keep = 1.0 - end;
        let sum1 = sum + l;
        let means = sum1 / c1;
        let updates = vec![
            assign(sum, sum1 * keep),
            assign(count, c1 * keep),
            assign(prev, end * means + keep * prev),
            assign(prev2, end * prev + keep * prev2),
            assign(periods, periods + end),
        ];
        Ok(Combined {
            total: super::loss::sum(&terms).check()?,
            weights,
            updates,
            variables: vec![sum, count, prev, prev2, periods],
        })
    }
}
