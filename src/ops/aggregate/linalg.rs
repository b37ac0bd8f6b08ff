//! Small dense linear algebra on row-major `n x n` f64 matrices (`n` is the number of tasks,
//! at most a few dozen): a cyclic Jacobi eigendecomposition of symmetric matrices and a
//! Gaussian-elimination solver. Hand-written because the sizes are tiny and the crate has no
//! LAPACK dependency; both are exact to rounding for well-conditioned input.

/// Eigen-decomposition of the symmetric `n x n` matrix `a` (row-major) by cyclic Jacobi
/// rotations. Returns `(eigenvalues, eigenvectors)` with eigenvectors as COLUMNS of the
/// row-major `n x n` matrix (`a = V diag(λ) Vᵀ`), eigenvalues ascending (like `eigh`).
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    // Symmetrise (rounding in the Gram matrix).
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (m[i * n + j] + m[j * n + i]);
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        let total: f64 = m.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = m[p * n + p];
                let aqq = m[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Rotate rows/columns p and q.
                for k in 0..n {
                    let mkp = m[k * n + p];
                    let mkq = m[k * n + q];
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let mpk = m[p * n + k];
                    let mqk = m[q * n + k];
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| m[a * n + a].total_cmp(&m[b * n + b]));
    let vals = order.iter().map(|&k| m[k * n + k]).collect();
    let mut vecs = vec![0.0; n * n];
    for (col, &k) in order.iter().enumerate() {
        for r in 0..n {
            vecs[r * n + col] = v[r * n + k];
        }
    }
    (vals, vecs)
}

/// Moore-Penrose pseudo-inverse of the symmetric `n x n` matrix `a`: eigenvalues with
/// `|λ| <= rtol * max|λ|` are treated as zero (`torch.linalg.pinv`'s rule with
/// `rtol = n * eps`).
pub fn symmetric_pinv(a: &[f64], n: usize, rtol: f64) -> Vec<f64> {
    let (vals, vecs) = symmetric_eigen(a, n);
    let max = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut out = vec![0.0; n * n];
    for (k, &l) in vals.iter().enumerate() {
        if l.abs() <= rtol * max || l == 0.0 {
            continue;
        }
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] += vecs[i * n + k] * vecs[j * n + k] / l;
            }
        }
    }
    out
}

/// Solves `a x = b` (`a` row-major `n x n`) by Gaussian elimination with partial pivoting.
/// `None` if a pivot is exactly zero or not finite.
pub fn solve(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))?;
        let p = m[piv * n + col];
        if p == 0.0 || !p.is_finite() {
            return None;
        }
        if piv != col {
            for k in 0..n {
                m.swap(piv * n + k, col * n + k);
            }
            x.swap(piv, col);
        }
        for r in col + 1..n {
            let f = m[r * n + col] / p;
            if f != 0.0 {
                for k in col..n {
                    m[r * n + k] -= f * m[col * n + k];
                }
                x[r] -= f * x[col];
            }
        }
    }
    for col in (0..n).rev() {
        let mut s = x[col];
        for k in col + 1..n {
            s -= m[col * n + k] * x[k];
        }
        x[col] = s / m[col * n + col];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// `a x` for row-major `n x n` `a`.
pub fn matvec(a: &[f64], x: &[f64], n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum())
        .collect()
}

/// `xᵀ a y`.
pub fn quad(a: &[f64], x: &[f64], y: &[f64], n: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            s += x[i] * a[i * n + j] * y[j];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_reconstructs_and_orders() {
        let a = [4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (l, v) = symmetric_eigen(&a, 3);
        assert!(l[0] <= l[1] && l[1] <= l[2]);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| v[i * 3 + k] * l[k] * v[j * 3 + k]).sum();
                assert!((r - a[i * 3 + j]).abs() < 1e-12, "{i} {j}: {r}");
            }
        }
        // Trace and determinant are kept.
        assert!((l.iter().sum::<f64>() - 12.0).abs() < 1e-12);
    }

    #[test]
    fn solve_and_pinv() {
        let a = [2.0, 1.0, 1.0, 3.0];
        let x = solve(&a, &[3.0, 5.0], 2).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-14 && (x[1] - 1.4).abs() < 1e-14);
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 1.0], 2).is_none());
        // Rank one: pinv(u uᵀ) = u uᵀ / |u|⁴.
        let p = symmetric_pinv(&[1.0, 2.0, 2.0, 4.0], 2, 1e-12);
        for (k, want) in [1.0, 2.0, 2.0, 4.0].iter().enumerate() {
            assert!((p[k] - want / 25.0).abs() < 1e-14, "{k}: {}", p[k]);
        }
    }
}
