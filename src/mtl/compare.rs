//! Comparing strategies after training: LibMTL's Δm% against a baseline run and the mean
//! pairwise gradient cosine of [`super::Diagnostics::cosines`].

use crate::error::{Error, Result};

/// One metric of one task, for [`delta_m`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskMetric<'a> {
    /// The task the metric belongs to (metrics of one task are averaged first).
    pub task: &'a str,
    /// The metric of the run being compared.
    pub value: f64,
    /// The same metric of the baseline run (equal weighting).
    pub baseline: f64,
    /// Whether a lower value is better (an error, a loss) rather than higher (an accuracy).
    pub lower_is_better: bool,
}

/// LibMTL's Δm% (`count_improvement`, times 100): the mean over tasks of the mean over the
/// task's metrics of `(-1)^lower_is_better * (value - baseline) / baseline`, in percent.
/// Positive means better than the baseline; the baseline itself scores 0. Tasks are taken
/// in order of first appearance. Errors if `metrics` is empty or a baseline is 0 or not
/// finite (naming the task).
pub fn delta_m(metrics: &[TaskMetric<'_>]) -> Result<f64> {
    if metrics.is_empty() {
        return Err(Error::InvalidArgument("delta_m: no metrics".into()));
    }
    let mut tasks: Vec<(&str, f64, usize)> = Vec::new();
    for m in metrics {
        if m.baseline == 0.0 || !m.baseline.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "delta_m: task `{}` has baseline {}; the relative change needs a finite, non-zero baseline",
                m.task, m.baseline
            )));
        }
        let sign = if m.lower_is_better { -1.0 } else { 1.0 };
        let change = sign * (m.value - m.baseline) / m.baseline;
        match tasks.iter_mut().find(|(t, _, _)| *t == m.task) {
            Some((_, sum, n)) => {
                *sum += change;
                *n += 1;
            }
            None => tasks.push((m.task, change, 1)),
        }
    }
    let per_task: f64 = tasks.iter().map(|(_, s, n)| s / *n as f64).sum();
    Ok(100.0 * per_task / tasks.len() as f64)
}

/// The mean of the off-diagonal entries of a row-major `t x t` matrix (the mean pairwise
/// cosine of a [`super::Diagnostics::cosines`] value); `None` if `t < 2` or `m` does not
/// hold `t * t` values.
pub fn mean_off_diagonal(m: &[f32], t: usize) -> Option<f64> {
    if t < 2 || m.len() != t * t {
        return None;
    }
    let sum: f64 = (0..t)
        .flat_map(|i| (0..t).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| m[i * t + j] as f64)
        .sum();
    Some(sum / (t * (t - 1)) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(task: &str, value: f64, baseline: f64, lower_is_better: bool) -> TaskMetric<'_> {
        TaskMetric {
            task,
            value,
            baseline,
            lower_is_better,
        }
    }

    #[test]
    fn delta_m_matches_a_hand_computation() {
        // LibMTL's docstring example: A = [96 -> 93 higher-better, 98 -> 99 lower-better],
        // B = [0.2 -> 0.5 higher-better]. A: (-3/96 - 1/98) / 2 = -0.0207270; B: 0.3/0.2 =
        // 1.5; mean 0.7396365 -> 73.96365 %.
        let d = delta_m(&[
            m("A", 93.0, 96.0, false),
            m("A", 99.0, 98.0, true),
            m("B", 0.5, 0.2, false),
        ])
        .unwrap();
        let hand = 100.0 * ((-3.0 / 96.0 - 1.0 / 98.0) / 2.0 + 1.5) / 2.0;
        assert!((d - hand).abs() < 1e-9, "{d} vs {hand}");
        assert!((d - 73.96365).abs() < 1e-4, "{d}");
        // An RMSE 10% lower and an accuracy 10% lower cancel out; the baseline scores 0.
        let d = delta_m(&[m("nose", 0.9, 1.0, true), m("pose", 0.63, 0.7, false)]).unwrap();
        assert!(d.abs() < 1e-9, "{d}");
        assert_eq!(delta_m(&[m("x", 0.3, 0.3, true)]).unwrap(), 0.0);
    }

    #[test]
    fn delta_m_rejects_empty_and_zero_baselines() {
        assert!(delta_m(&[]).is_err());
        let e = delta_m(&[m("pose", 0.5, 0.0, false)]).unwrap_err();
        assert!(e.to_string().contains("`pose`"), "{e}");
    }

    #[test]
    fn mean_off_diagonal_skips_the_diagonal() {
        let c = [1.0, 0.5, -0.25, 0.5, 1.0, 0.0, -0.25, 0.0, 1.0];
        let got = mean_off_diagonal(&c, 3).unwrap();
        assert!((got - (0.5 + 0.5 - 0.25 - 0.25) / 6.0).abs() < 1e-12);
        assert_eq!(mean_off_diagonal(&[1.0], 1), None);
        assert_eq!(mean_off_diagonal(&c, 2), None);
    }
}
