//! UPGrad (Quinton and Rey 2024, "Jacobian Descent for Multi-Objective Optimization"),
//! TorchJD 0.18's default aggregator (`UPGradWeighting` with the mean preference and its
//! default `QuadprogProjector(norm_eps = 1e-4, reg_eps = 1e-4)`).
//!
//! Each `g_i / t` is projected onto the dual cone of the gradients `{x : <x, g_j> >= 0 ∀j}`;
//! the projections are summed. In the Gram view (Proposition 1 of the paper) the projection
//! of `Jᵀ u` is `Jᵀ v` with `v = argmin_{v >= u} vᵀ G v`, so with `u = e_i / t` for each `i`
//! the weights are `w = Σ_i v^(i)`. As in TorchJD the QP uses `G / tr(G)` (zero if
//! `tr(G) < norm_eps`) plus `reg_eps · I`; it is solved exactly by [`super::qp`]'s active-set
//! method (TorchJD uses `quadprog`, which is also exact: the two agree to rounding).
//!
//! The result has a non-negative inner product with every gradient (up to the `reg_eps`
//! regularisation). All-zero gradients give `w_i = 1/t` (`v = u`).

use super::qp::solve_qp;

/// UPGrad weights for `gram` (`t x t`) with TorchJD's `norm_eps` and `reg_eps`.
pub fn weights(gram: &[f64], t: usize, norm_eps: f64, reg_eps: f64) -> Vec<f64> {
    let trace: f64 = (0..t).map(|i| gram[i * t + i]).sum();
    let mut h: Vec<f64> = if trace < norm_eps {
        vec![0.0; t * t]
    } else {
        gram.iter().map(|v| v / trace).collect()
    };
    for i in 0..t {
        h[i * t + i] += reg_eps;
    }
    let zero = vec![0.0; t];
    let mut w = vec![0.0; t];
    let mut u = vec![0.0; t];
    for i in 0..t {
        u.fill(0.0);
        u[i] = 1.0 / t as f64;
        let v = solve_qp(&h, &zero, &u, None, &u);
        for k in 0..t {
            w[k] += v[k];
        }
    }
    w
}
