//! Stateless or simply-stateful loss-level strategies: equal and fixed weights, learned
//! uncertainty (Kendall et al. 2018), GLS (geometric mean, Chennupati et al. 2019) and RLW
//! (random loss weighting, Lin et al. 2022).

use super::strategy::{data_parallel, element, loss_level_train, Combined, Strategy, Train};
use super::tasks::{TaskKind, Tasks};
use crate::error::Result;
use crate::graph::Tensor;
use crate::ops::random::stateless_random_normal;
use crate::train::Optimizer;
use crate::{add_n, assign_add, exp, log, neg, reduce_mean_all, softmax, stack, stop_gradient};

/// `Σ terms` (the term itself if there is one).
pub(crate) fn sum<'g>(terms: &[Tensor<'g>]) -> Tensor<'g> {
    if terms.len() == 1 {
        terms[0]
    } else {
        add_n(terms)
    }
}

/// Fixed loss weights: `total = Σ w_k L_k`, missing weights 1 (`equal`: all 1, LibMTL's EW).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fixed {
    /// One weight per task; missing ones are 1.
    pub weights: Vec<f32>,
}

impl Fixed {
    /// Equal weights 1 (the sum of the task losses).
    pub fn equal() -> Self {
        Fixed::default()
    }
    /// Explicit weights, one per task.
    pub fn new(weights: Vec<f32>) -> Self {
        Fixed { weights }
    }
}

impl Strategy for Fixed {
    fn name(&self) -> &'static str {
        if self.weights.is_empty() {
            "equal"
        } else {
            "fixed"
        }
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let g = tasks.graph();
        let mut terms = Vec::new();
        let mut weights = Vec::new();
        for (k, t) in tasks.tasks().iter().enumerate() {
            let _s = g.name_scope(&t.name);
            let wt = g
                .constant(self.weights.get(k).copied().unwrap_or(1.0))
                .named("weight");
            terms.push(t.loss * wt);
            weights.push(wt);
        }
        Ok(Combined {
            total: sum(&terms).check()?,
            weights,
            updates: vec![],
            variables: vec![],
        })
    }
}

/// Homoscedastic uncertainty (Kendall, Gal and Cipolla, CVPR 2018): each task has a trainable
/// log-variance `s_k = log σ_k²` (variable `<task>/log_variance`, initialised to 0) and
/// `total = Σ c_k exp(-s_k) L_k + s_k / 2` with `c = 1/2` for regression (Gaussian
/// likelihood, `L/(2σ²) + log σ`) and `c = 1` for classification (`L/σ² + log σ`). The
/// log-variance is parameterised as `s = speed · ŝ`, so that it moves `speed` times faster
/// than the network's weights under Adam (speed 1: the paper).
#[derive(Clone, Debug, PartialEq)]
pub struct Uncertainty {
    /// `s = speed · ŝ`.
    pub speed: f32,
}

impl Default for Uncertainty {
    fn default() -> Self {
        Uncertainty { speed: 1.0 }
    }
}

impl Strategy for Uncertainty {
    fn name(&self) -> &'static str {
        "uncertainty"
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let g = tasks.graph();
        let mut terms = Vec::new();
        let mut weights = Vec::new();
        let mut vars = Vec::new();
        for t in tasks.tasks() {
            let _s = g.name_scope(&t.name);
            let raw = g.variable("log_variance", crate::init::zeros(&[]));
            vars.push(raw);
            let s = raw * self.speed;
            let c = match t.kind {
                TaskKind::Regression => 0.5,
                TaskKind::Classification => 1.0,
            };
            let wt = exp(neg(s)) * c;
            terms.push(wt * t.loss + s * 0.5);
            weights.push(wt.named("weight"));
        }
        Ok(Combined {
            total: sum(&terms).check()?,
            weights,
            updates: vec![],
            variables: vars,
        })
    }
}

/// Geometric loss strategy (Chennupati et al. 2019): `total = (Π L_k)^(1/T)`, computed as
/// `exp(mean(log L_k))`. The effective weight of task k is `∂total/∂L_k = total / (T L_k)`.
/// Losses must be positive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gls;

impl Strategy for Gls {
    fn name(&self) -> &'static str {
        "gls"
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let losses = stack(&tasks.losses(), 0);
        let total = exp(reduce_mean_all(log(losses))).named("geometric_mean");
        let t = tasks.len() as f32;
        let weights = tasks
            .tasks()
            .iter()
            .map(|k| stop_gradient(total / (k.loss * t)))
            .collect();
        Ok(Combined {
            total: total.check()?,
            weights,
            updates: vec![],
            variables: vec![],
        })
    }

    /// Data-parallel ([`Tasks::with_allreduce`]), the weights `G / (T L_k)` come from the
    /// losses averaged over the ranks and the step trains on `Σ_k w_k L_k` with the weights
    /// held fixed: the gradient of the global batch's geometric mean (the gradient of each
    /// rank's own geometric mean, averaged, would differ). The reported total stays the
    /// rank's own geometric mean.
    fn train<'g>(
        &self,
        optimizer: &dyn Optimizer,
        tasks: &Tasks<'g>,
        combined: &Combined<'g>,
    ) -> Result<Train<'g>> {
        if data_parallel(tasks, optimizer)?.is_none() {
            return loss_level_train(optimizer, tasks, combined);
        }
        let g = tasks.graph();
        let _s = g.name_scope(&g.unique_scope("gls_global"));
        let l = tasks.global_losses()?;
        let geometric = exp(reduce_mean_all(log(l)));
        let w = (geometric / (l * tasks.len() as f32)).named("weights");
        let weights: Vec<Tensor<'g>> = (0..tasks.len()).map(|k| element(w, k)).collect();
        let terms: Vec<Tensor<'g>> = tasks
            .losses()
            .iter()
            .zip(&weights)
            .map(|(l, w)| *l * *w)
            .collect();
        let global = Combined {
            total: sum(&terms).check()?,
            weights,
            ..combined.clone()
        };
        let mut train = loss_level_train(optimizer, tasks, &global)?;
        train.total_loss = combined.total;
        Ok(train)
    }
}

/// Random loss weighting (Lin et al., TMLR 2022, LibMTL's `RLW`): every step draws
/// `w = softmax(ε)`, `ε ~ N(0, I_T)`, and trains on `Σ w_k L_k`. The draw is a pure function of
/// the graph seed and a step counter variable (`rlw_step`), so runs are reproducible and a
/// restored checkpoint continues with the same draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rlw;

impl Strategy for Rlw {
    fn name(&self) -> &'static str {
        "rlw"
    }
    fn combine<'g>(&self, tasks: &Tasks<'g>) -> Result<Combined<'g>> {
        tasks.validate()?;
        let g = tasks.graph();
        let counter = g.non_trainable_variable(
            "rlw_step",
            crate::init::zeros(&[]).with_dtype(crate::DType::I64),
        );
        let w = softmax(stateless_random_normal(&[tasks.len()], counter)).named("weights");
        let weights: Vec<Tensor<'g>> = (0..tasks.len()).map(|k| element(w, k)).collect();
        let terms: Vec<Tensor<'g>> = tasks
            .losses()
            .iter()
            .zip(&weights)
            .map(|(l, w)| *l * *w)
            .collect();
        let step = assign_add(counter, g.constant(ndarray::arr0(1i64)));
        Ok(Combined {
            total: sum(&terms).check()?,
            weights,
            updates: vec![step],
            variables: vec![counter],
        })
    }
}
