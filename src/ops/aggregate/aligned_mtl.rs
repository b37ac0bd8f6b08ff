//! Aligned-MTL (Senushkin et al. 2023, "Independent Component Alignment for Multi-Task
//! Learning", Algorithm 1), as TorchJD 0.18's `AlignedMTLWeighting` with the default uniform
//! preference vector and scale mode `"min"`.
//!
//! With the eigendecomposition `G = V Λ Vᵀ` restricted to the `r` eigenvalues above
//! `max λ · t · eps` (`eps`: the machine epsilon of the Gram matrix's dtype), the balance
//! transformation is `B = sqrt(λ_min) V Λ^{-1/2} Vᵀ` and the weights are `w = B · (1/t)`;
//! the aligned gradients `Σ_i w_i g_i` have equal, orthogonal principal components. If no
//! eigenvalue is above the threshold (all gradients zero), `B = I` and `w_i = 1/t`.
//!
//! A zero gradient row only adds a zero eigenvalue, which is dropped: the weights stay finite
//! (fixture case `zero_row`).
//!
//! Difference: TorchJD's output (followed here) is `1/t` of the original code's, which
//! applies `B` to a preference vector of ones.

use super::linalg::symmetric_eigen;

/// Aligned-MTL weights for `gram` (`t x t`); `dtype_eps` is the machine epsilon of its dtype.
pub fn weights(gram: &[f64], t: usize, dtype_eps: f64) -> Vec<f64> {
    let (vals, vecs) = symmetric_eigen(gram, t);
    let max = vals.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let tol = max * t as f64 * dtype_eps;
    let kept: Vec<usize> = (0..t).filter(|&k| vals[k] > tol).collect();
    let pref = 1.0 / t as f64;
    if kept.is_empty() {
        return vec![pref; t];
    }
    let scale = kept.iter().map(|&k| vals[k]).fold(f64::INFINITY, f64::min);
    // w = sqrt(scale) Σ_k v_k (v_kᵀ 1/t) / sqrt(λ_k)
    let mut w = vec![0.0; t];
    for &k in &kept {
        let proj: f64 = (0..t).map(|i| vecs[i * t + k]).sum::<f64>() * pref;
        let f = scale.sqrt() * proj / vals[k].sqrt();
        for i in 0..t {
            w[i] += f * vecs[i * t + k];
        }
    }
    w
}
