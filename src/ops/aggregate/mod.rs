//! Gradient aggregation for multi-task learning, in TorchJD's "weighting" view.
//!
//! Every gradient-level method (PCGrad, MGDA, CAGrad, IMTL-G, Aligned-MTL, UPGrad, GradVac,
//! Nash-MTL, and the plain mean or sum) is a small solver on the `T x T` Gram matrix
//! `G = J Jᵀ` of the per-task gradients `g_i` on the shared parameters (`J`: `T x P`, never
//! materialised). It returns weights `w` (length `T`) and the update direction is
//! `d = Σ_i w_i g_i`. Normalisations (MGDA's l2/loss/loss+, IMTL-G's unit vectors, Aligned-MTL's
//! scaling, PCGrad's projections, CAGrad's `g0 + λ g_w`) are folded into `w`, so `w` always
//! refers to the RAW per-task gradients.
//!
//! The graph ops are
//! - [`gram`]: `T` lists of gradient tensors (one per shared variable) → `G` f32 `[T, T]`;
//! - [`aggregate_weights`]: `(G, losses [T], state?)` → `w` f32 `[T]` for an [`Aggregator`];
//! - [`combine`]: `(w, g_0..g_{T-1})` → `Σ_i w_i g_i` for one variable;
//! - [`gram_norms`], [`gram_cosine`]: diagnostics (gradient norms, pairwise cosines);
//! - [`gradvac_update`]: GradVac's EMA state update (a variable write).
//!
//! The solvers are plain functions on `&[f64]` Gram matrices (row-major, `T x T`), one file
//! per method, so tests and benchmarks call them without a graph: [`Aggregator::weights`]
//! dispatches to them. None of the ops has a gradient (they act like `stop_gradient`).
//!
//! Degenerate input never panics: a non-finite Gram entry (or loss, where the method reads
//! losses) gives all-NaN weights (TF1-style propagation); zero gradient rows give the finite
//! answer documented on each method; `T = 1` gives the method's answer for one task.

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::RngCore;
use serde::{Deserialize, Serialize};

pub mod aligned_mtl;
pub mod cagrad;
mod combine;
pub mod gradvac;
mod gram;
pub mod imtl_g;
pub mod linalg;
pub mod mgda;
pub mod nash_mtl;
pub mod pcgrad;
pub mod qp;
pub mod upgrad;
mod weights_op;

pub use combine::{combine, Combine};
pub use gram::{gram, gram_cosine, gram_norms, Gram, GramCosine, GramNorms};
pub use weights_op::{aggregate_weights, gradvac_update, AggregateWeights, GradVacUpdate};

/// A gradient aggregation method: how the weights `w` (length `T`, on the raw per-task
/// gradients) are computed from the Gram matrix. Each variant names its paper, the reference
/// implementation it matches and the documented differences; the constructors
/// ([`Aggregator::mgda`], [`Aggregator::cagrad`], ...) give the references' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Aggregator {
    /// `w_i = 1/T` (TorchJD `Mean`; LibMTL's EW uses `w_i = 1`, see [`Aggregator::Sum`]).
    Mean,
    /// Equal weights `w_i = 1` (the sum of the gradients; LibMTL `EW`, TorchJD `Sum`).
    Sum,
    /// PCGrad, Yu et al. 2020, "Gradient Surgery for Multi-Task Learning" (Algorithm 1).
    /// Matches TorchJD 0.18 `PCGrad`; see [`pcgrad`] for the projection order and the
    /// differences from the official code and LibMTL.
    PcGrad,
    /// MGDA, Sener and Koltun 2018, "Multi-Task Learning as Multi-Objective Optimization":
    /// the min-norm point of the convex hull of the (normalised) gradients, by TorchJD 0.18's
    /// Frank-Wolfe loop (Algorithm 2), with LibMTL 1.1.5's gradient normalisations folded in.
    /// Defaults ([`Aggregator::mgda`]): no normalisation, `max_iters = 100`, `epsilon = 1e-3`
    /// (TorchJD's). See [`mgda`].
    Mgda {
        /// LibMTL's `mgda_gn`: how each gradient is scaled before the min-norm problem.
        normalization: MgdaNormalization,
        /// Frank-Wolfe iteration cap (TorchJD: 100).
        max_iters: u32,
        /// Stop when the Frank-Wolfe step size falls below this (TorchJD: 1e-3).
        epsilon: f32,
    },
    /// CAGrad, Liu et al. 2021, "Conflict-Averse Gradient Descent for Multi-task Learning".
    /// Matches TorchJD 0.18 `CAGrad(c)` (no output rescaling); `c` is the radius scale
    /// (LibMTL and the official code default to 0.4-0.5; [`Aggregator::cagrad`] uses 0.5).
    /// See [`cagrad`].
    CaGrad {
        /// Radius scale of the ball constraint (`c >= 0`; 0 gives the mean).
        c: f32,
    },
    /// IMTL-G, Liu et al. 2021, "Towards Impartial Multi-task Learning", in TorchJD 0.18's
    /// generalised form (pseudo-inverse, allows linearly dependent rows). See [`imtl_g`].
    ImtlG,
    /// Aligned-MTL, Senushkin et al. 2023, "Independent Component Alignment for Multi-Task
    /// Learning". Matches TorchJD 0.18 `AlignedMTL` (uniform preference, scale mode "min"),
    /// whose output is `1/T` of the original code's. See [`aligned_mtl`].
    AlignedMtl,
    /// UPGrad, Quinton and Rey 2024, "Jacobian Descent for Multi-Objective Optimization":
    /// each `e_i / T` projected onto the dual cone of the gradients (a small QP), summed.
    /// TorchJD 0.18's default aggregator; defaults `norm_eps = reg_eps = 1e-4`. See [`upgrad`].
    UpGrad {
        /// Below this trace the Gram matrix is treated as zero (TorchJD: 1e-4).
        norm_eps: f32,
        /// Added to the diagonal of the trace-normalised Gram matrix (TorchJD: 1e-4).
        reg_eps: f32,
    },
    /// GradVac, Wang et al. 2021, "Gradient Vaccine". Matches TorchJD 0.18 `GradVac(beta)`
    /// (whole-model grouping, `eps = 1e-8`); the EMA of target cosines is the state variable
    /// f32 `[T, T]` updated by [`gradvac_update`]. See [`gradvac`].
    GradVac {
        /// EMA rate of the target cosines (TorchJD and LibMTL: 0.5).
        beta: f32,
    },
    /// Nash-MTL, Navon et al. 2022, "Multi-Task Learning as a Bargaining Game": the solution
    /// of `G α = 1/α` on the Frobenius-normalised Gram matrix, clipped to `|Σ α_i g_i| <=
    /// max_norm`. Solved exactly by damped Newton instead of TorchJD's warm-started convex
    /// approximations. See [`nash_mtl`].
    NashMtl {
        /// Clip the norm of the combined gradient to this (0 disables; TorchJD: 1.0).
        max_norm: f32,
        /// Newton iteration cap (TorchJD's CCP iteration count: 20).
        optim_iters: u32,
    },
}

/// MGDA's gradient normalisation before the min-norm problem (LibMTL's `mgda_gn`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MgdaNormalization {
    /// Raw gradients (TorchJD; LibMTL's default `none`).
    None,
    /// `g_i / |g_i|`.
    L2,
    /// `g_i / loss_i`.
    Loss,
    /// `g_i / (loss_i |g_i|)`.
    LossPlus,
}

/// The largest `max_iters` / `optim_iters` an [`Aggregator`] accepts.
pub const MAX_ITERS: u32 = 100_000;

impl Aggregator {
    /// MGDA with TorchJD's defaults: no normalisation, 100 iterations, `epsilon = 1e-3`.
    pub fn mgda() -> Self {
        Aggregator::Mgda {
            normalization: MgdaNormalization::None,
            max_iters: 100,
            epsilon: 1e-3,
        }
    }
    /// CAGrad with `c = 0.5` (LibMTL's default `calpha`; TorchJD has no default).
    pub fn cagrad() -> Self {
        Aggregator::CaGrad { c: 0.5 }
    }
    /// UPGrad with TorchJD's defaults (`norm_eps = reg_eps = 1e-4`).
    pub fn upgrad() -> Self {
        Aggregator::UpGrad {
            norm_eps: 1e-4,
            reg_eps: 1e-4,
        }
    }
    /// GradVac with `beta = 0.5` (TorchJD's and LibMTL's default).
    pub fn gradvac() -> Self {
        Aggregator::GradVac { beta: 0.5 }
    }
    /// Nash-MTL with TorchJD's defaults (`max_norm = 1`, 20 iterations).
    pub fn nash_mtl() -> Self {
        Aggregator::NashMtl {
            max_norm: 1.0,
            optim_iters: 20,
        }
    }

    /// A short lower-case name (`"mean"`, `"pcgrad"`, `"mgda"`, ...), for messages and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregator::Mean => "mean",
            Aggregator::Sum => "sum",
            Aggregator::PcGrad => "pcgrad",
            Aggregator::Mgda { .. } => "mgda",
            Aggregator::CaGrad { .. } => "cagrad",
            Aggregator::ImtlG => "imtl_g",
            Aggregator::AlignedMtl => "aligned_mtl",
            Aggregator::UpGrad { .. } => "upgrad",
            Aggregator::GradVac { .. } => "gradvac",
            Aggregator::NashMtl { .. } => "nash_mtl",
        }
    }

    /// Whether the method reads the per-task losses (MGDA with a loss normalisation).
    pub fn uses_losses(&self) -> bool {
        matches!(
            self,
            Aggregator::Mgda {
                normalization: MgdaNormalization::Loss | MgdaNormalization::LossPlus,
                ..
            }
        )
    }

    /// Whether the method needs GradVac's state `[T, T]`.
    pub fn uses_state(&self) -> bool {
        matches!(self, Aggregator::GradVac { .. })
    }

    /// Checks the method's parameters (ranges as in the references; iteration counts at most
    /// [`MAX_ITERS`], 1000 times the references' defaults, so that a solver attribute read
    /// from a graph file cannot keep a step busy for minutes).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("{}: {m}", self.name())));
        match *self {
            Aggregator::Mgda {
                max_iters, epsilon, ..
            } if max_iters == 0 || max_iters > MAX_ITERS || epsilon.is_nan() || epsilon <= 0.0 => {
                return bad(format!(
                    "needs max_iters in 1..={MAX_ITERS} and epsilon > 0, got {max_iters} and {epsilon}"
                ))
            }
            Aggregator::CaGrad { c } if c.is_nan() || c < 0.0 => {
                return bad(format!("c must be non-negative, got {c}"))
            }
            Aggregator::UpGrad { norm_eps, reg_eps } if !(norm_eps >= 0.0 && reg_eps >= 0.0) => {
                return bad(format!(
                    "norm_eps and reg_eps must be non-negative, got {norm_eps} and {reg_eps}"
                ))
            }
            Aggregator::GradVac { beta } if !(0.0..=1.0).contains(&beta) => {
                return bad(format!("beta must be in [0, 1], got {beta}"))
            }
            Aggregator::NashMtl {
                max_norm,
                optim_iters,
            } if max_norm.is_nan() || max_norm < 0.0 || optim_iters == 0 || optim_iters > MAX_ITERS => {
                return bad(format!(
                    "needs max_norm >= 0 and optim_iters in 1..={MAX_ITERS}, got {max_norm} and {optim_iters}"
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// The weights `w` (length `t`) on the raw gradients for Gram matrix `gram` (`t x t`,
    /// row-major). `losses` (length `t`) is read only by MGDA's loss normalisations; `state`
    /// (`t x t`) is GradVac's EMA (required for GradVac, ignored otherwise). Random choices
    /// (PCGrad's and GradVac's visiting orders) are drawn from `rng`. `dtype_eps` is the
    /// machine epsilon of the Gram matrix's original dtype (`f32::EPSILON as f64` for the ops),
    /// used by the rank decisions of IMTL-G and Aligned-MTL as TorchJD does.
    ///
    /// Non-finite input gives all-NaN weights.
    pub fn weights(
        &self,
        gram: &[f64],
        t: usize,
        losses: &[f64],
        state: Option<&[f64]>,
        rng: &mut dyn RngCore,
        dtype_eps: f64,
    ) -> Result<Vec<f64>> {
        self.validate()?;
        check_square(gram, t)?;
        if self.uses_losses() && losses.len() != t {
            return Err(Error::InvalidArgument(format!(
                "{}: needs {t} losses, got {}",
                self.name(),
                losses.len()
            )));
        }
        let state = match (self.uses_state(), state) {
            (true, Some(s)) => {
                check_square(s, t)?;
                Some(s)
            }
            (true, None) => {
                return Err(Error::InvalidArgument(format!(
                    "{}: needs its state [{t}, {t}]",
                    self.name()
                )))
            }
            (false, _) => None,
        };
        let non_finite = gram.iter().any(|v| !v.is_finite())
            || (self.uses_losses() && losses.iter().any(|v| !v.is_finite()))
            || state.is_some_and(|s| s.iter().any(|v| !v.is_finite()));
        if non_finite {
            return Ok(vec![f64::NAN; t]);
        }
        if t == 0 {
            return Ok(Vec::new());
        }
        Ok(match *self {
            Aggregator::Mean => vec![1.0 / t as f64; t],
            Aggregator::Sum => vec![1.0; t],
            Aggregator::PcGrad => {
                let perms = random_perms(t, t, rng);
                pcgrad::weights(gram, t, &perms)
            }
            Aggregator::Mgda {
                normalization,
                max_iters,
                epsilon,
            } => mgda::weights(gram, t, losses, normalization, max_iters, epsilon as f64),
            Aggregator::CaGrad { c } => cagrad::weights(gram, t, c as f64, cagrad::NORM_EPS),
            Aggregator::ImtlG => imtl_g::weights(gram, t, dtype_eps),
            Aggregator::AlignedMtl => aligned_mtl::weights(gram, t, dtype_eps),
            Aggregator::UpGrad { norm_eps, reg_eps } => {
                upgrad::weights(gram, t, norm_eps as f64, reg_eps as f64)
            }
            Aggregator::GradVac { .. } => {
                let perms = gradvac::random_orders(t, rng);
                gradvac::step(gram, t, state.expect("checked"), &perms, gradvac::EPS).0
            }
            Aggregator::NashMtl {
                max_norm,
                optim_iters,
            } => nash_mtl::weights(gram, t, max_norm as f64, optim_iters),
        })
    }
}

/// `count` random permutations of `0..t`, concatenated (`count * t` entries).
pub(crate) fn random_perms(t: usize, count: usize, rng: &mut dyn RngCore) -> Vec<usize> {
    let mut out = Vec::with_capacity(t * count);
    for _ in 0..count {
        let start = out.len();
        out.extend(0..t);
        out[start..].shuffle(rng);
    }
    out
}

fn check_square(m: &[f64], t: usize) -> Result<()> {
    if m.len() != t * t {
        return Err(Error::InvalidArgument(format!(
            "expected a {t} x {t} matrix ({} entries), got {} entries",
            t * t,
            m.len()
        )));
    }
    Ok(())
}
