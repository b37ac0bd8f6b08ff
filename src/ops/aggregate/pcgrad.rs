//! PCGrad (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning", Algorithm 1) on the
//! Gram matrix, as TorchJD 0.18's `PCGradWeighting`.
//!
//! For each task `i`, `g_i^PC` starts as `g_i`; the other tasks `j` are visited in a random
//! order and, whenever `<g_i^PC, g_j> < 0`, `g_i^PC` loses its component along `g_j`
//! (`g_i^PC -= <g_i^PC, g_j> / |g_j|² g_j`). The result is `Σ_i g_i^PC` (a sum, not a mean).
//! Writing `g_i^PC = Σ_k c_ik g_k`, every inner product comes from the Gram matrix, so the
//! weights are `w = Σ_i c_i`.
//!
//! Differences from the other references (documented, not reproduced):
//! - The official code (TF1) projects each task against every task including itself and
//!   does not use its shuffle; TorchJD (followed here) skips `j = i` and draws one order per
//!   `i`. LibMTL 1.1.5 shuffles once per `i` and includes `i` itself. The self-projection
//!   only matters once `<g_i^PC, g_i> < 0`, which cannot happen with two tasks.
//! - A zero gradient `g_j` (`|g_j| = 0`) is never projected on: its inner product with
//!   anything is 0, not negative. (TorchJD divides by `G_jj` only when the product is
//!   negative, so it agrees.)

/// PCGrad weights for Gram matrix `gram` (`t x t`, row-major) with explicit visiting orders:
/// `perms` holds `t` permutations of `0..t` (concatenated, `t * t` entries); task `i` visits
/// the tasks in the order of `perms[i*t..(i+1)*t]`, skipping itself (TorchJD's
/// `torch.randperm(t)` per task).
pub fn weights(gram: &[f64], t: usize, perms: &[usize]) -> Vec<f64> {
    assert_eq!(perms.len(), t * t, "one permutation of 0..t per task");
    let mut w = vec![0.0; t];
    let mut c = vec![0.0; t];
    for i in 0..t {
        c.fill(0.0);
        c[i] = 1.0;
        for &j in &perms[i * t..(i + 1) * t] {
            if j == i {
                continue;
            }
            // <g_i^PC, g_j> = Σ_k c_k G[j][k]
            let inner: f64 = (0..t).map(|k| gram[j * t + k] * c[k]).sum();
            if inner < 0.0 {
                c[j] -= inner / gram[j * t + j];
            }
        }
        for k in 0..t {
            w[k] += c[k];
        }
    }
    w
}
