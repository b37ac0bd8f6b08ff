//! Loss weighting strategies for multi-task training, selectable by name
//! ([`Weighting::from_str`](std::str::FromStr::from_str)):
//!
//! - `fixed`: `total = Σ w_k L_k` with fixed weights (default 1).
//! - `uncertainty`: homoscedastic uncertainty (Kendall, Gal and Cipolla, CVPR 2018). Each
//!   task has a trainable log-variance `s_k = log σ_k²` (initialised to 0) and
//!   `total = Σ c_k exp(-s_k) L_k + s_k / 2`, with the paper's factors `c = 1/2` for
//!   regression (Gaussian likelihood, `L/(2σ²) + log σ`) and `c = 1` for classification
//!   (`L/σ² + log σ`). The log-variance is parameterised as `s = speed · ŝ` so that it can
//!   move `speed` times faster than the network's weights under Adam (speed 1 is the
//!   paper's plain parameterisation).
//! - `dwa`: dynamic weight averaging (Liu, Johns and Davison, CVPR 2019):
//!   `w_k = K exp(r_k / T) / Σ_i exp(r_i / T)` with `r_k` the ratio of task k's mean loss over
//!   the last two periods; weights 1 for the first two periods. The weights are fed into the
//!   graph by the [`super::Estimator`] each step.
//! - `alternate`: no combined train op; one train op per head, run in turn (the core's
//!   alternate training).

use super::TaskKind;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::{add_n, exp, neg, placeholder_with_default};

/// A loss weighting strategy (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Weighting {
    /// Fixed weights, one per head; missing weights are 1.
    Fixed(Vec<f32>),
    /// Learned homoscedastic uncertainty; `speed` scales the log-variance's parameter.
    Uncertainty {
        /// `s = speed · ŝ` (1 = the paper's parameterisation).
        speed: f32,
    },
    /// Dynamic weight averaging.
    Dwa {
        /// Temperature `T` (the paper uses 2).
        temperature: f32,
        /// Steps per averaging period (the paper uses an epoch).
        period: usize,
    },
    /// A train op per head, run in turn.
    Alternate,
}

impl Default for Weighting {
    fn default() -> Self {
        Weighting::Fixed(vec![])
    }
}

impl Weighting {
    /// Names accepted by [`Weighting::from_str`](std::str::FromStr::from_str).
    pub const NAMES: [&'static str; 4] = ["fixed", "uncertainty", "dwa", "alternate"];

    /// The strategy's name.
    pub fn name(&self) -> &'static str {
        match self {
            Weighting::Fixed(_) => "fixed",
            Weighting::Uncertainty { .. } => "uncertainty",
            Weighting::Dwa { .. } => "dwa",
            Weighting::Alternate => "alternate",
        }
    }

    /// Builds the total loss from `(head name, kind, scalar loss)` triples.
    pub fn combine<'g>(
        &self,
        g: &'g Graph,
        losses: &[(String, TaskKind, Tensor<'g>)],
    ) -> Result<Combined<'g>> {
        let mut terms = Vec::new();
        let mut weights = Vec::new();
        let mut feeds = Vec::new();
        for (k, (name, kind, loss)) in losses.iter().enumerate() {
            let _s = g.name_scope(name);
            match self {
                Weighting::Fixed(_) | Weighting::Alternate => {
                    let wk = match self {
                        Weighting::Fixed(w) => w.get(k).copied().unwrap_or(1.0),
                        _ => 1.0,
                    };
                    let wt = g.constant(wk).named("weight");
                    terms.push(*loss * wt);
                    weights.push(wt);
                }
                Weighting::Uncertainty { speed } => {
                    let raw = g.variable("log_variance", crate::init::zeros(&[]));
                    let s = raw * *speed;
                    let c = match kind {
                        TaskKind::Regression => 0.5,
                        TaskKind::Classification => 1.0,
                    };
                    let wt = exp(neg(s)) * c;
                    terms.push(wt * *loss + s * 0.5);
                    weights.push(wt.named("weight"));
                }
                Weighting::Dwa { .. } => {
                    let wt = placeholder_with_default(g.constant(1.0f32), "weight");
                    terms.push(*loss * wt);
                    weights.push(wt);
                    feeds.push(wt);
                }
            }
        }
        let total = if terms.len() == 1 {
            terms[0]
        } else {
            add_n(&terms)
        };
        total.check()?;
        Ok(Combined {
            total,
            weights,
            feeds,
        })
    }
}

/// The combined loss: the total, each head's effective weight, and the feedable weights
/// (dynamic weight averaging).
#[derive(Clone, Debug)]
pub struct Combined<'g> {
    /// Scalar total loss.
    pub total: Tensor<'g>,
    /// Effective weight of each head's loss (scalar tensors).
    pub weights: Vec<Tensor<'g>>,
    /// Per-head weight tensors to feed (empty unless `Dwa`).
    pub feeds: Vec<Tensor<'g>>,
}

impl std::str::FromStr for Weighting {
    type Err = Error;
    /// `fixed`, `fixed:1,100` (explicit weights), `uncertainty`, `uncertainty:SPEED`, `dwa`,
    /// `dwa:T`, `alternate`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let bad = || {
            Error::InvalidArgument(format!(
                "unknown loss weighting `{s}`; expected one of {} (e.g. `fixed:1,10`, \
                 `uncertainty:10`, `dwa:2`)",
                Weighting::NAMES.join(", ")
            ))
        };
        let num = |a: &str| a.trim().parse::<f32>().map_err(|_| bad());
        Ok(match name {
            "fixed" => Weighting::Fixed(match arg {
                Some(a) => a.split(',').map(num).collect::<Result<_>>()?,
                None => vec![],
            }),
            "uncertainty" => Weighting::Uncertainty {
                speed: arg.map(num).transpose()?.unwrap_or(1.0),
            },
            "dwa" => Weighting::Dwa {
                temperature: arg.map(num).transpose()?.unwrap_or(2.0),
                period: 100,
            },
            "alternate" => Weighting::Alternate,
            _ => return Err(bad()),
        })
    }
}

/// Dynamic weight averaging state, advanced by the driver with each step's task losses.
#[derive(Clone, Debug)]
pub struct DwaState {
    temperature: f32,
    period: usize,
    sums: Vec<f64>,
    count: usize,
    history: Vec<Vec<f64>>,
    /// Current weights, one per task.
    pub weights: Vec<f32>,
}

impl DwaState {
    /// State for `k` tasks; weights start at 1.
    pub fn new(k: usize, temperature: f32, period: usize) -> Self {
        DwaState {
            temperature,
            period: period.max(1),
            sums: vec![0.0; k],
            count: 0,
            history: vec![],
            weights: vec![1.0; k],
        }
    }

    /// Records one step's task losses; at the end of a period, recomputes the weights.
    pub fn observe(&mut self, losses: &[f32]) {
        for (s, l) in self.sums.iter_mut().zip(losses) {
            *s += *l as f64;
        }
        self.count += 1;
        if self.count < self.period {
            return;
        }
        let means: Vec<f64> = self.sums.iter().map(|s| s / self.count as f64).collect();
        self.sums.iter_mut().for_each(|s| *s = 0.0);
        self.count = 0;
        self.history.push(means);
        let n = self.history.len();
        if n >= 2 {
            let (a, b) = (&self.history[n - 1], &self.history[n - 2]);
            let r: Vec<f64> = a
                .iter()
                .zip(b)
                .map(|(x, y)| if *y > 0.0 { x / y } else { 1.0 })
                .collect();
            let t = self.temperature.max(1e-6) as f64;
            let e: Vec<f64> = r.iter().map(|v| (v / t).exp()).collect();
            let z: f64 = e.iter().sum();
            let k = e.len() as f64;
            self.weights = e.iter().map(|v| (k * v / z) as f32).collect();
        }
    }
}
