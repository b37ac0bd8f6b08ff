//! CAGrad (Liu et al. 2021, "Conflict-Averse Gradient Descent for Multi-task Learning",
//! Algorithm 1), as TorchJD 0.18's `CAGradWeighting(c, norm_eps = 1e-4)`.
//!
//! On the trace-normalised Gram matrix `Ĝ = G / tr(G)` (zero if `tr(G) < norm_eps`), with
//! `g0` the mean gradient, `b = Ĝ 1/t` (`b_i = <g_i, g0>`) and `√φ = c |g0|`, the dual problem
//! is `min_{w ∈ simplex} bᵀ w + √φ |Σ w_i g_i|`; the update is `g0 + (√φ / |g_w|) g_w`, i.e.
//! weights `1/t + (√φ / |g_w|) w` (all zeros if `|g_w| < norm_eps`, as TorchJD).
//!
//! TorchJD solves the dual with cvxpy/Clarabel; here it is solved by alternating
//! minimisation on its variational form `√q = min_τ (q/τ + τ)/2`: for fixed `τ` a simplex QP
//! (exact active set, [`super::qp`]), then `τ = |g_w|`, until `τ` stops changing (relative
//! 1e-12, at most 500 rounds). Differences: the official code and LibMTL 1.1.5 (which only
//! works for 3 tasks) rescale the output by `1 / (1 + c²)` (LibMTL `rescale = 1`) or
//! `1 / (1 + c)`; TorchJD and this implementation do not rescale.
//!
//! Degenerate input, as TorchJD: a zero gradient row (or one far smaller than the others,
//! e.g. norm 1e-3 next to 1e3) is the dual's optimum (`b_i ≈ 0`, `|g_w| ≈ 0`), so
//! `|g_w| < norm_eps` and all weights are 0 — a zero update for that step (fixture cases
//! `zero_row` and `scales_1e-3_1e3`). LibMTL's SLSQP solver instead returns a non-zero update.

use super::linalg::quad;
use super::qp::solve_qp;

/// TorchJD's `norm_eps` for CAGrad.
pub const NORM_EPS: f64 = 1e-4;

/// CAGrad weights for `gram` (`t x t`), radius scale `c` and TorchJD's `norm_eps`.
pub fn weights(gram: &[f64], t: usize, c: f64, norm_eps: f64) -> Vec<f64> {
    let trace: f64 = (0..t).map(|i| gram[i * t + i]).sum();
    let g: Vec<f64> = if trace < norm_eps {
        vec![0.0; t * t]
    } else {
        gram.iter().map(|v| v / trace).collect()
    };
    let tf = t as f64;
    let b: Vec<f64> = (0..t)
        .map(|i| (0..t).map(|j| g[i * t + j]).sum::<f64>() / tf)
        .collect();
    let g0_norm = (g.iter().sum::<f64>().max(0.0)).sqrt() / tf;
    let sqrt_phi = c * g0_norm;
    let lb = vec![0.0; t];
    let mut w = vec![1.0 / tf; t];
    if sqrt_phi > 0.0 {
        let mut tau = quad(&g, &w, &w, t).max(0.0).sqrt().max(1e-300);
        let mut h = vec![0.0; t * t];
        for _ in 0..500 {
            let k = sqrt_phi / tau;
            for (h, g) in h.iter_mut().zip(&g) {
                *h = k * g;
            }
            w = solve_qp(&h, &b, &lb, Some(1.0), &w);
            let next = quad(&g, &w, &w, t).max(0.0).sqrt().max(1e-300);
            let done = (next - tau).abs() <= 1e-12 * tau;
            tau = next;
            if done {
                break;
            }
        }
    } else {
        // c = 0 (or zero gradients): the cost is linear; its minimiser only matters through
        // √φ, which is 0.
        w = vec![0.0; t];
    }
    let gw_norm = quad(&g, &w, &w, t).max(0.0).sqrt();
    if gw_norm >= norm_eps {
        w.iter()
            .map(|x| 1.0 / tf + sqrt_phi / gw_norm * x)
            .collect()
    } else {
        vec![0.0; t]
    }
}
