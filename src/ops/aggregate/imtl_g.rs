//! IMTL-G (Liu et al. 2021, "Towards Impartial Multi-task Learning"), in the generalised
//! form of TorchJD 0.18's `IMTLGWeighting` (Quinton and Rey 2024): with `d_i = |g_i|`,
//! `v = G⁺ d` and `w = v / Σ v` (all zeros if `|Σ v| < 1e-12`). For linearly independent
//! gradients this is the paper's closed form: the combined gradient has equal projections on
//! every unit gradient `g_i / |g_i|`.
//!
//! The pseudo-inverse drops eigenvalues `<= t · eps · max|λ|` with `eps` the machine epsilon of
//! the Gram matrix's dtype (`torch.linalg.pinv`'s default), so an f32 Gram matrix gets the
//! f32 threshold. A zero gradient row gets weight 0 (its `d_i` is 0 and it lies in the null
//! space); all rows zero gives all-zero weights.

use super::linalg::{matvec, symmetric_pinv};

/// IMTL-G weights for `gram` (`t x t`); `dtype_eps` is the machine epsilon of its dtype.
pub fn weights(gram: &[f64], t: usize, dtype_eps: f64) -> Vec<f64> {
    let d: Vec<f64> = (0..t).map(|i| gram[i * t + i].max(0.0).sqrt()).collect();
    let pinv = symmetric_pinv(gram, t, t as f64 * dtype_eps);
    let v = matvec(&pinv, &d, t);
    let s: f64 = v.iter().sum();
    if s.abs() < 1e-12 {
        return vec![0.0; t];
    }
    v.iter().map(|x| x / s).collect()
}
