//! MGDA (Sener and Koltun 2018, "Multi-Task Learning as Multi-Objective Optimization"): the
//! minimum-norm point of the convex hull of the gradients, by the Frank-Wolfe loop of
//! TorchJD 0.18's `MGDAWeighting` (Algorithm 2 of the paper), copied step for step so the
//! answer matches TorchJD exactly (including its stop after `max_iters = 100` iterations or
//! when the step size falls below `epsilon = 1e-3`, so the answer is approximate).
//!
//! LibMTL 1.1.5's normalisations (`mgda_gn`) are folded in: the problem is solved on
//! `g_i / n_i` with `n_i` = 1 (`none`), `|g_i|` (`l2`), `loss_i` (`loss`) or
//! `loss_i |g_i|` (`loss+`), and LibMTL applies the solution `α` to the normalised gradients,
//! so the weights on the raw gradients are `w_i = α_i / n_i`.
//!
//! Differences: LibMTL solves the same problem with its own projected-gradient solver (250
//! iterations, tolerance 1e-5) started from the best pair, so its answer differs from
//! TorchJD's by the solvers' tolerances; LibMTL's solver can loop forever on a zero gradient
//! row, this one cannot. A zero normaliser (`|g_i| = 0` or `loss_i = 0`, where LibMTL divides
//! by zero and returns NaN) gives `w_i = 0` and a zero normalised gradient — which makes the
//! minimum norm 0, so every weight is 0 and the update direction is zero.

use super::MgdaNormalization;

/// MGDA weights on the raw gradients for `gram` (`t x t`), `losses` (length `t`, read by the
/// loss normalisations), TorchJD's Frank-Wolfe parameters.
pub fn weights(
    gram: &[f64],
    t: usize,
    losses: &[f64],
    normalization: MgdaNormalization,
    max_iters: u32,
    epsilon: f64,
) -> Vec<f64> {
    let norm = |i: usize| gram[i * t + i].max(0.0).sqrt();
    let n: Vec<f64> = (0..t)
        .map(|i| match normalization {
            MgdaNormalization::None => 1.0,
            MgdaNormalization::L2 => norm(i),
            MgdaNormalization::Loss => losses[i],
            MgdaNormalization::LossPlus => losses[i] * norm(i),
        })
        .collect();
    let inv: Vec<f64> = n
        .iter()
        .map(|&v| if v == 0.0 { 0.0 } else { 1.0 / v })
        .collect();
    let mut g = vec![0.0; t * t];
    for i in 0..t {
        for j in 0..t {
            g[i * t + j] = gram[i * t + j] * inv[i] * inv[j];
        }
    }
    let alpha = frank_wolfe(&g, t, max_iters, epsilon);
    alpha.iter().zip(&inv).map(|(a, s)| a * s).collect()
}

/// TorchJD's Frank-Wolfe loop for `min_{α ∈ simplex} αᵀ G α`, from `α = 1/t`.
pub fn frank_wolfe(g: &[f64], t: usize, max_iters: u32, epsilon: f64) -> Vec<f64> {
    let mut alpha = vec![1.0 / t as f64; t];
    let mut ga = vec![0.0; t];
    for _ in 0..max_iters {
        for i in 0..t {
            ga[i] = (0..t).map(|j| g[i * t + j] * alpha[j]).sum();
        }
        // argmin, first index on ties (torch.argmin).
        let mut s = 0;
        for i in 1..t {
            if ga[i] < ga[s] {
                s = i;
            }
        }
        let a: f64 = ga[s]; // αᵀ G e_s
        let b: f64 = alpha.iter().zip(&ga).map(|(x, y)| x * y).sum(); // αᵀ G α
        let c = g[s * t + s]; // e_sᵀ G e_s
        let gamma = if c <= a {
            1.0
        } else if b <= a {
            0.0
        } else {
            (b - a) / (b + c - 2.0 * a)
        };
        for (k, x) in alpha.iter_mut().enumerate() {
            *x = (1.0 - gamma) * *x + if k == s { gamma } else { 0.0 };
        }
        if gamma < epsilon {
            break;
        }
    }
    alpha
}
