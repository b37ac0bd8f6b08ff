//! Nash-MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game", Algorithm 1):
//! the Nash bargaining solution `α > 0` with `G α = 1/α` (element-wise) on the raw Gram
//! matrix; the update `Σ α_i g_i` is then clipped to norm `max_norm` (TorchJD: 1; 0
//! disables). As in TorchJD the equation is solved on `Ĝ = G / |G|_F` (for conditioning) and
//! mapped back by `α = α̂ / sqrt(|G|_F)`.
//!
//! `Ĝ α̂ = 1/α̂` is the stationarity condition of the strictly convex
//! `f(α) = ½ αᵀ Ĝ α - Σ log α_i` on `α > 0`, so it is solved exactly by damped Newton
//! (backtracking line search that keeps `α > 0`) from `α_i = 1/sqrt(Ĝ_ii)` (exact for
//! orthogonal gradients), at most `optim_iters` iterations, stopping when the Newton decrement
//! is below 1e-20. The references (official code, TorchJD, LibMTL) instead run up to 20
//! sequential convex approximations with cvxpy/ECOS, warm-started from the previous step's
//! `α`, so their answer depends on the previous steps; this one is stateless and is the
//! converged solution of the same equation.
//!
//! Degenerate input: a zero gradient (`G_ii = 0`) makes `Ĝ α = 1/α` unsolvable; such tasks get
//! weight 0 and the others are solved alone. Linearly dependent gradients (e.g. opposite ones)
//! can also leave it without a solution; `Ĝ` is therefore regularised by `1e-9 · diag(Ĝ)`
//! (relative to each task's own scale, so it does not swamp a small gradient), which gives a
//! large but finite `α` that the norm clipping then scales down.

use super::linalg::solve;

/// Relative diagonal regularisation of `Ĝ`.
const REG: f64 = 1e-9;

/// Nash-MTL weights for `gram` (`t x t`), TorchJD's `max_norm` and a Newton iteration cap.
pub fn weights(gram: &[f64], t: usize, max_norm: f64, optim_iters: u32) -> Vec<f64> {
    let max_diag = (0..t).fold(0.0f64, |m, i| m.max(gram[i * t + i]));
    let active: Vec<usize> = (0..t)
        .filter(|&i| gram[i * t + i] > 1e-30 * max_diag && gram[i * t + i] > 0.0)
        .collect();
    let mut w = vec![0.0; t];
    if active.is_empty() {
        return w;
    }
    let n = active.len();
    let frob = gram.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut g = vec![0.0; n * n];
    for (r, &i) in active.iter().enumerate() {
        for (c, &j) in active.iter().enumerate() {
            g[r * n + c] = gram[i * t + j] / frob;
        }
        g[r * n + r] *= 1.0 + REG;
    }
    let alpha = solve_nash(&g, n, optim_iters);
    // Ĝ α̂ = 1/α̂ with Ĝ = G / |G|_F gives G α = 1/α for α = α̂ / sqrt(|G|_F).
    let back = 1.0 / frob.sqrt();
    for (r, &i) in active.iter().enumerate() {
        w[i] = alpha[r] * back;
    }
    if max_norm > 0.0 {
        let norm = (0..t)
            .flat_map(|i| (0..t).map(move |j| (i, j)))
            .map(|(i, j)| w[i] * gram[i * t + j] * w[j])
            .sum::<f64>()
            .max(0.0)
            .sqrt();
        if norm > max_norm {
            w.iter_mut().for_each(|x| *x *= max_norm / norm);
        }
    }
    w
}

/// `f(α) = ½ αᵀ G α - Σ log α_i`.
fn objective(g: &[f64], a: &[f64], n: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            s += 0.5 * a[i] * g[i * n + j] * a[j];
        }
        s -= a[i].ln();
    }
    s
}

/// Damped Newton for `G α = 1/α`, `α > 0`, from `α_i = 1/sqrt(G_ii)`.
fn solve_nash(g: &[f64], n: usize, iters: u32) -> Vec<f64> {
    let mut a: Vec<f64> = (0..n).map(|i| 1.0 / g[i * n + i].sqrt()).collect();
    let mut h = vec![0.0; n * n];
    let mut grad = vec![0.0; n];
    let mut trial = vec![0.0; n];
    for _ in 0..iters {
        for i in 0..n {
            grad[i] = (0..n).map(|j| g[i * n + j] * a[j]).sum::<f64>() - 1.0 / a[i];
            for j in 0..n {
                h[i * n + j] = g[i * n + j];
            }
            h[i * n + i] += 1.0 / (a[i] * a[i]);
        }
        let neg: Vec<f64> = grad.iter().map(|v| -v).collect();
        let Some(step) = solve(&h, &neg, n) else {
            break;
        };
        let decrement: f64 = -grad.iter().zip(&step).map(|(g, s)| g * s).sum::<f64>();
        if decrement.is_nan() || decrement <= 1e-20 {
            break;
        }
        // Largest step keeping α > 0, then backtracking (Armijo).
        let mut s = 1.0f64;
        for i in 0..n {
            if step[i] < 0.0 {
                s = s.min(0.99 * a[i] / -step[i]);
            }
        }
        let f0 = objective(g, &a, n);
        loop {
            for i in 0..n {
                trial[i] = a[i] + s * step[i];
            }
            if objective(g, &trial, n) <= f0 - 0.25 * s * decrement || s < 1e-12 {
                break;
            }
            s *= 0.5;
        }
        a.copy_from_slice(&trial);
    }
    a
}
