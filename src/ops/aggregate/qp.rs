//! A small dense convex QP solver (primal active set) for the problems of the aggregators:
//!
//! `min ½ xᵀ H x + fᵀ x  subject to  x >= lb  (and, optionally, Σ x = total)`
//!
//! with `H` symmetric positive semi-definite, `n` at most a few dozen. Each iteration solves
//! the equality-constrained problem on the free variables (bounded ones held at their bound)
//! by Gaussian elimination; a step that would leave the feasible set stops at the first
//! bound and fixes that variable; at a subproblem minimum the bound with the most negative
//! multiplier is released. The method ends in finitely many steps at the exact optimum (to
//! rounding) — the same answer as `quadprog` (used by TorchJD) for positive definite `H`. A
//! singular subproblem (linearly dependent gradients) is regularised by `1e-12 · max diag(H)`.
//! Hand-written rather than a crate: the problems are tiny and the available QP crates
//! (e.g. `clarabel`, `osqp`) are interior-point / ADMM solvers with much larger dependency
//! trees and only approximate answers.

use super::linalg::solve;

/// Solves the QP above, starting from the feasible point `x0` (`x0 >= lb`, and summing to
/// `total` if given). `h` is row-major `n x n`. Returns the minimiser.
pub fn solve_qp(h: &[f64], f: &[f64], lb: &[f64], total: Option<f64>, x0: &[f64]) -> Vec<f64> {
    let n = f.len();
    let mut x = x0.to_vec();
    let mut bound: Vec<bool> = (0..n).map(|i| x[i] <= lb[i]).collect();
    let scale =
        h.iter().fold(0.0f64, |m, v| m.max(v.abs())) + f.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return x;
    }
    let tol = 1e-13 * scale;
    let max_diag = (0..n).fold(0.0f64, |m, i| m.max(h[i * n + i]));
    let mut last_released = usize::MAX;
    for _ in 0..(20 * n + 100) {
        let free: Vec<usize> = (0..n).filter(|&i| !bound[i]).collect();
        let Some((target, mu)) = subproblem(h, f, lb, total, &bound, &free, max_diag) else {
            break;
        };
        // Largest step toward the subproblem minimum that stays feasible.
        let mut alpha = 1.0;
        let mut blocking = None;
        for (k, &i) in free.iter().enumerate() {
            if target[k] < lb[i] && x[i] > target[k] {
                let a = (x[i] - lb[i]) / (x[i] - target[k]);
                if a < alpha {
                    alpha = a;
                    blocking = Some(i);
                }
            }
        }
        for (k, &i) in free.iter().enumerate() {
            x[i] += alpha * (target[k] - x[i]);
        }
        if let Some(b) = blocking {
            x[b] = lb[b];
            bound[b] = true;
            continue;
        }
        // At the subproblem minimum: multipliers of the bounds λ = (H x + f)_B + μ.
        let mut worst = None;
        let mut worst_val = -tol;
        for i in (0..n).filter(|&i| bound[i]) {
            let g: f64 = (0..n).map(|j| h[i * n + j] * x[j]).sum::<f64>() + f[i] + mu;
            if g < worst_val && i != last_released {
                worst_val = g;
                worst = Some(i);
            }
        }
        match worst {
            Some(i) => {
                bound[i] = false;
                last_released = i;
            }
            None => break,
        }
    }
    x
}

/// Minimum of the QP restricted to the free variables (the others at their bound): the free
/// values and the multiplier of the sum constraint (0 without one). `None` if it cannot be
/// solved even after regularisation.
fn subproblem(
    h: &[f64],
    f: &[f64],
    lb: &[f64],
    total: Option<f64>,
    bound: &[bool],
    free: &[usize],
    max_diag: f64,
) -> Option<(Vec<f64>, f64)> {
    let n = f.len();
    let m = free.len();
    let k = m + usize::from(total.is_some());
    if k == 0 {
        return Some((Vec::new(), 0.0));
    }
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for (r, &i) in free.iter().enumerate() {
        for (c, &j) in free.iter().enumerate() {
            a[r * k + c] = h[i * n + j];
        }
        b[r] = -f[i]
            - (0..n)
                .filter(|&j| bound[j])
                .map(|j| h[i * n + j] * lb[j])
                .sum::<f64>();
    }
    if let Some(s) = total {
        for r in 0..m {
            a[r * k + m] = 1.0;
            a[m * k + r] = 1.0;
        }
        b[m] = s - (0..n).filter(|&j| bound[j]).map(|j| lb[j]).sum::<f64>();
    }
    let sol = solve(&a, &b, k).or_else(|| {
        let reg = 1e-12 * max_diag.max(f64::MIN_POSITIVE);
        for r in 0..m {
            a[r * k + r] += reg;
        }
        solve(&a, &b, k)
    })?;
    let mu = if total.is_some() { sol[m] } else { 0.0 };
    Some((sol[..m].to_vec(), mu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_constrained_matches_hand_solution() {
        // min ½ (x0² + x1²) - x0 + x1, x >= 0: x = (1, 0).
        let x = solve_qp(
            &[1.0, 0.0, 0.0, 1.0],
            &[-1.0, 1.0],
            &[0.0, 0.0],
            None,
            &[0.0, 0.0],
        );
        assert!((x[0] - 1.0).abs() < 1e-14 && x[1] == 0.0, "{x:?}");
    }

    #[test]
    fn simplex_min_norm_point() {
        // Min-norm point of the hull of (1, 0) and (0, 2): weights (0.8, 0.2).
        let g = [1.0, 0.0, 0.0, 4.0];
        let x = solve_qp(&g, &[0.0, 0.0], &[0.0, 0.0], Some(1.0), &[0.5, 0.5]);
        assert!(
            (x[0] - 0.8).abs() < 1e-14 && (x[1] - 0.2).abs() < 1e-14,
            "{x:?}"
        );
        // A vertex: (1, 0) and (2, 0): weight all on the first.
        let g = [1.0, 2.0, 2.0, 4.0];
        let x = solve_qp(&g, &[0.0, 0.0], &[0.0, 0.0], Some(1.0), &[0.5, 0.5]);
        assert!((x[0] - 1.0).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
    }
}
