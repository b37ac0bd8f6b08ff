//! GradVac (Wang et al. 2021, "Gradient Vaccine: Investigating and Improving Multi-task
//! Optimization in Massively Multilingual Models"), as TorchJD 0.18's `GradVacWeighting`
//! (`beta = 0.5`, `eps = 1e-8`, whole-model grouping; LibMTL's default grouping too).
//!
//! For each task `i`, `g_i^PC` starts as `g_i`; the other tasks `j` are visited in a random
//! order; with `φ_ij = cos(g_i^PC, g_j)` and the EMA target `φ̂_ij` (the state), if
//! `φ_ij < φ̂_ij` then `g_i^PC += |g_i^PC| (φ̂ √(1-φ²) - φ √(1-φ̂²)) / (|g_j| √(1-φ̂²)) g_j`,
//! and `φ̂_ij ← (1-β) φ̂_ij + β φ_ij`. The direction is `Σ_i g_i^PC`. All quantities come from
//! the Gram matrix (`g_i^PC = Σ_k c_ik g_k`), so the weights are `w = Σ_i c_i`.
//!
//! The state is a variable f32 `[T, T]` (zeros initially; the diagonal is unused). In a graph,
//! [`super::aggregate_weights`] reads it and [`super::gradvac_update`] writes
//! `(1-β) φ̂ + β φ` afterwards, replaying the same visiting orders (see there).
//!
//! A zero gradient row has cosine 0 with everything (the `eps` in the denominator). Its own
//! correction is scaled by its zero norm; other tasks may add a large multiple of it (up to
//! `|g_i| / eps`, as in TorchJD), so its weight can be large while the direction is unchanged:
//! the weights stay finite.
//!
//! Differences: LibMTL 1.1.5 also shuffles the visiting order but reads `φ̂` in the same way;
//! both references keep `φ̂` in Python state, here it is a variable so checkpoints keep it.

use super::random_perms;
use rand::RngCore;

/// TorchJD's `eps` added to the denominators.
pub const EPS: f64 = 1e-8;

/// Random visiting orders: for each task `i`, a permutation of the other tasks (`t * (t-1)`
/// entries, task `i`'s at `[i*(t-1), (i+1)*(t-1))`), as TorchJD's `torch.randperm(t - 1)`
/// applied to `[j for j != i]`.
pub fn random_orders(t: usize, rng: &mut dyn RngCore) -> Vec<usize> {
    if t < 2 {
        return Vec::new();
    }
    let perms = random_perms(t - 1, t, rng);
    let mut out = Vec::with_capacity(t * (t - 1));
    for i in 0..t {
        for &p in &perms[i * (t - 1)..(i + 1) * (t - 1)] {
            out.push(if p < i { p } else { p + 1 });
        }
    }
    out
}

/// One GradVac step on `gram` (`t x t`) with EMA targets `state` (`t x t`) and visiting orders
/// `orders` (see [`random_orders`]). Returns `(weights, φ)` where `φ[i][j]` is the cosine
/// `cos(g_i^PC, g_j)` measured at the visit of `j` (0 on the diagonal); the new state is
/// `(1-β) state + β φ` off the diagonal.
pub fn step(
    gram: &[f64],
    t: usize,
    state: &[f64],
    orders: &[usize],
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut phi = vec![0.0; t * t];
    let mut w = vec![0.0; t];
    let mut c = vec![0.0; t];
    let mut cg = vec![0.0; t];
    for i in 0..t {
        c.fill(0.0);
        c[i] = 1.0;
        cg.copy_from_slice(&gram[i * t..(i + 1) * t]);
        for &j in &orders[i * (t.max(1) - 1)..(i + 1) * (t.max(1) - 1)] {
            let dot = cg[j];
            let norm_i = cg
                .iter()
                .zip(&c)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                .max(0.0)
                .sqrt();
            let norm_j = gram[j * t + j].max(0.0).sqrt();
            let p = dot / (norm_i * norm_j + eps);
            let target = state[i * t + j];
            if p < target {
                let s_p = (1.0 - p * p).max(0.0).sqrt();
                let s_t = (1.0 - target * target).max(0.0).sqrt();
                let coef = norm_i * (target * s_p - p * s_t) / (norm_j * s_t + eps);
                c[j] += coef;
                for k in 0..t {
                    cg[k] += coef * gram[j * t + k];
                }
            }
            phi[i * t + j] = p;
        }
        for k in 0..t {
            w[k] += c[k];
        }
    }
    (w, phi)
}
