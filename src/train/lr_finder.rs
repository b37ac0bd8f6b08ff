//! The learning-rate finder (Smith 2015; FastAI's `lr_find`): train on exponentially
//! increasing learning rates (`start_lr` to `end_lr` over about 100 steps), record the
//! smoothed loss, stop when it diverges (four times the best), suggest a rate, and put
//! every variable and optimizer slot back exactly as it was.
//!
//! The finder drives any training step through a closure `step(session, lr) -> loss`, so
//! the learning rate reaches the graph however the model is built; usually the optimizer's
//! learning rate is `placeholder_with_default(constant, "lr")` and the closure feeds it.
//!
//! Suggestions, on the smoothed losses with the first tenth and last five points cut as in
//! FastAI: `steepest` (where the loss falls fastest per decade of learning rate), `valley`
//! (FastAI's default: two thirds down the longest falling stretch) and `minimum` (a tenth of
//! the rate at the lowest loss).

use crate::error::{Error, Result};
use crate::graph::{Tensor, Value};
use crate::session::Session;
use std::fmt::Write as _;
use std::path::Path;

/// Settings of a learning-rate sweep; [`LrFinder::default`] is FastAI's.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinder {
    /// First learning rate (default 1e-7).
    pub start_lr: f32,
    /// Learning rate reached after `num_steps` (default 10).
    pub end_lr: f32,
    /// Steps of the sweep (default 100).
    pub num_steps: usize,
    /// Smoothing of the recorded loss: an exponential moving average with this decay,
    /// debiased (default 0.98).
    pub beta: f32,
    /// Stop once the smoothed loss exceeds `div_factor` times the best (default 4); 0 or less
    /// never stops early.
    pub div_factor: f32,
}

impl Default for LrFinder {
    fn default() -> Self {
        LrFinder {
            start_lr: 1e-7,
            end_lr: 10.0,
            num_steps: 100,
            beta: 0.98,
            div_factor: 4.0,
        }
    }
}

/// What a sweep recorded and suggests.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFindResult {
    /// The learning rate of each step run.
    pub lrs: Vec<f32>,
    /// The loss of each step, as returned by the step closure.
    pub losses: Vec<f32>,
    /// The smoothed loss after each step.
    pub smoothed: Vec<f32>,
    /// The step at which the sweep stopped because the loss diverged, if it did.
    pub diverged_at: Option<usize>,
    /// Steepest descent of the smoothed loss per decade of learning rate.
    pub steepest: Option<f32>,
    /// FastAI's `valley` suggestion.
    pub valley: Option<f32>,
    /// A tenth of the learning rate at the lowest smoothed loss.
    pub minimum: Option<f32>,
}

impl LrFinder {
    /// The learning rate of step `i` of the sweep: `start_lr * (end_lr / start_lr)^(i /
    /// num_steps)`.
    pub fn lr_at(&self, i: usize) -> f32 {
        let pos = i as f64 / self.num_steps.max(1) as f64;
        (self.start_lr as f64 * (self.end_lr as f64 / self.start_lr as f64).powf(pos)) as f32
    }

    /// Runs the sweep: `step(sess, lr)` must run one training step at learning rate `lr` and
    /// return its loss. Afterwards (also when `step` fails) every variable of the graph that
    /// was initialized is set back to its value before the sweep, bit for bit: weights,
    /// optimizer slots, Adam's beta powers, the global step. (The session's random stream,
    /// e.g. dropout masks, is not rewound.)
    ///
    /// Errors: bad settings ([`Error::InvalidArgument`]), or the first error of `step`.
    pub fn run<'g, F>(&self, sess: &mut Session<'g>, mut step: F) -> Result<LrFindResult>
    where
        F: FnMut(&mut Session<'g>, f32) -> Result<f32>,
    {
        let ok = self.start_lr > 0.0
            && self.end_lr > self.start_lr
            && self.end_lr.is_finite()
            && self.num_steps >= 2
            && (0.0..1.0).contains(&self.beta);
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "lr finder: need 0 < start_lr < end_lr, num_steps >= 2 and beta in [0, 1), got {self:?}"
            )));
        }
        let snapshot = snapshot(sess)?;
        let sweep = self.sweep(sess, &mut step);
        for (v, value) in snapshot {
            sess.set_variable(v, value)?;
        }
        let (lrs, losses, smoothed, diverged_at) = sweep?;
        let (steepest, valley, minimum) = suggestions(&lrs, &smoothed, self.num_steps);
        Ok(LrFindResult {
            lrs,
            losses,
            smoothed,
            diverged_at,
            steepest,
            valley,
            minimum,
        })
    }

    #[allow(clippy::type_complexity)]
    fn sweep<'g, F>(
        &self,
        sess: &mut Session<'g>,
        step: &mut F,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>, Option<usize>)>
    where
        F: FnMut(&mut Session<'g>, f32) -> Result<f32>,
    {
        let (mut lrs, mut losses, mut smoothed) = (vec![], vec![], vec![]);
        let (mut avg, mut best) = (0f64, f64::INFINITY);
        let beta = self.beta as f64;
        for i in 0..self.num_steps {
            let lr = self.lr_at(i);
            let loss = step(sess, lr)?;
            avg = beta * avg + (1.0 - beta) * loss as f64;
            let smooth = avg / (1.0 - beta.powi(i as i32 + 1));
            lrs.push(lr);
            losses.push(loss);
            smoothed.push(smooth as f32);
            if !smooth.is_finite()
                || (self.div_factor > 0.0 && smooth > self.div_factor as f64 * best)
            {
                return Ok((lrs, losses, smoothed, Some(i)));
            }
            best = best.min(smooth);
        }
        Ok((lrs, losses, smoothed, None))
    }
}

/// Every initialized variable of the session's graph with its value.
fn snapshot<'g>(sess: &Session<'g>) -> Result<Vec<(Tensor<'g>, Value)>> {
    let mut out = Vec::new();
    for v in sess.graph().global_variables() {
        if sess.is_initialized(v)? {
            out.push((v, sess.variable_value(v)?.clone()));
        }
    }
    Ok(out)
}

/// FastAI's suggestions on `smoothed[num_steps / 10 .. len - 5]`: (steepest, valley,
/// minimum). `None` where fewer than two points remain.
fn suggestions(
    lrs: &[f32],
    smoothed: &[f32],
    num_steps: usize,
) -> (Option<f32>, Option<f32>, Option<f32>) {
    let lo = num_steps / 10;
    let hi = lrs.len().saturating_sub(5);
    if hi < lo + 2 {
        return (None, None, None);
    }
    let (lrs, losses) = (&lrs[lo..hi], &smoothed[lo..hi]);
    // Steepest: the most negative d(loss) / d(log lr).
    let steep = (0..lrs.len() - 1)
        .map(|i| {
            let d = (losses[i + 1] - losses[i]) as f64
                / ((lrs[i + 1] as f64).ln() - (lrs[i] as f64).ln());
            (i, d)
        })
        .filter(|(_, d)| d.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| lrs[i]);
    // Valley: the longest decreasing subsequence ending latest, two thirds of the way down.
    let n = losses.len();
    let mut lds = vec![1usize; n];
    let (mut max_start, mut max_end) = (0usize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end - lds[max_end];
            }
        }
    }
    let sections = (max_end - max_start) as f64 / 3.0;
    let idx = (max_start + sections as usize + (sections / 2.0) as usize).min(n - 1);
    let valley = Some(lrs[idx]);
    let minimum = losses
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| lrs[i] / 10.0);
    (steep, valley, minimum)
}

impl LrFindResult {
    /// The plot as a small SVG document: smoothed loss (and the raw losses, faint) against the
    /// learning rate on a log scale, the suggestions as vertical lines.
    pub fn to_svg(&self) -> String {
        let (w, h, m) = (640.0f64, 400.0f64, 56.0f64);
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
        );
        let pts: Vec<(f64, f64)> = self
            .lrs
            .iter()
            .zip(&self.smoothed)
            .filter(|(l, y)| **l > 0.0 && y.is_finite())
            .map(|(l, y)| ((*l as f64).log10(), *y as f64))
            .collect();
        if pts.len() < 2 {
            s.push_str("<text x=\"20\" y=\"40\">not enough finite points to plot</text>\n</svg>\n");
            return s;
        }
        let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
        let ymin = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let first = pts[0].1;
        let ymax = pts
            .iter()
            .map(|p| p.1)
            .fold(f64::NEG_INFINITY, f64::max)
            .min(ymin + 2.0 * (first - ymin).abs().max(1e-6));
        let ymax = if ymax > ymin { ymax } else { ymin + 1.0 };
        let sx = |x: f64| m + (x - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * m);
        let sy = |y: f64| h - m - (y.min(ymax) - ymin) / (ymax - ymin) * (h - 2.0 * m);
        let _ = writeln!(
            s,
            "<path d=\"M{m} {m} V{} H{}\" stroke=\"black\" fill=\"none\"/>",
            h - m,
            w - m
        );
        for d in x0.ceil() as i64..=x1.floor() as i64 {
            let x = sx(d as f64);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">1e{d}</text>",
                h - m,
                h - m + 5.0,
                h - m + 20.0
            );
        }
        for k in 0..=4 {
            let y = ymin + (ymax - ymin) * k as f64 / 4.0;
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{y:.3}</text>",
                m - 6.0,
                sy(y) + 4.0
            );
        }
        let raw: Vec<String> = self
            .lrs
            .iter()
            .zip(&self.losses)
            .filter(|(l, y)| **l > 0.0 && y.is_finite())
            .map(|(l, y)| format!("{:.1},{:.1}", sx((*l as f64).log10()), sy(*y as f64)))
            .collect();
        let smooth: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" stroke=\"#bbbbbb\" fill=\"none\"/>\n\
             <polyline points=\"{}\" stroke=\"#1f77b4\" stroke-width=\"2\" fill=\"none\"/>",
            raw.join(" "),
            smooth.join(" ")
        );
        for (name, lr, color) in [
            ("valley", self.valley, "#d62728"),
            ("steepest", self.steepest, "#2ca02c"),
            ("minimum/10", self.minimum, "#9467bd"),
        ] {
            if let Some(lr) = lr.filter(|l| *l > 0.0) {
                let x = sx((lr as f64).log10());
                let _ = writeln!(
                    s,
                    "<line x1=\"{x:.1}\" y1=\"{m}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{color}\" \
                     stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\" fill=\"{color}\">{name} {lr:.2e}</text>",
                    h - m,
                    x + 3.0,
                    m + 14.0 * (1.0 + (name.len() % 3) as f64)
                );
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">learning rate (log scale)</text>\
             <text x=\"{m}\" y=\"{}\">smoothed loss</text>\n</svg>",
            w / 2.0,
            h - 12.0,
            m - 16.0
        );
        s
    }

    /// Writes [`LrFindResult::to_svg`] to `path` atomically (see [`crate::io::write_atomic`]:
    /// a failed or killed write leaves the previous file intact); [`Error::Io`] names the
    /// file on failure.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::atomic::write_atomic(path, self.to_svg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valley_and_steepest_follow_fastai_on_a_known_curve() {
        // A loss that falls, flattens and rises again over lrs 1e-4 .. 1e0.
        let n = 100;
        let lrs: Vec<f32> = (0..n)
            .map(|i| 1e-4 * 10f32.powf(4.0 * i as f32 / n as f32))
            .collect();
        let losses: Vec<f32> = lrs
            .iter()
            .map(|l| {
                let x = l.log10() + 2.0; // 0 at 1e-2
                1.0 - (1.0 / (1.0 + (-3.0 * x).exp())) + 0.05 * x.max(0.0).powi(3)
            })
            .collect();
        let (steep, valley, minimum) = suggestions(&lrs, &losses, n);
        // The sigmoid falls fastest at its centre, 1e-2.
        let steep = steep.unwrap();
        assert!((steep.log10() + 2.0).abs() < 0.1, "{steep}");
        let valley = valley.unwrap();
        assert!(valley > 1e-3 && valley < 1e-1, "{valley}");
        assert!(minimum.unwrap() < lrs[n - 6]);
        // Too few points: no suggestion.
        assert_eq!(suggestions(&lrs[..8], &losses[..8], n), (None, None, None));
    }
}
