//! Learning-rate schedule helpers evaluated on the global step (i64 or f32 scalar):
//! the decay exponent `step / decay_steps` (optionally floored), and piecewise-constant
//! values, TF1's cosine decay and FastAI's one-cycle curves. Output: an f32 scalar. No gradient (schedules are not differentiated).

use super::{expect_operands, KernelCtx, OpDef};
use crate::graph::{DType, Shape, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};

/// What a [`StepSchedule`] computes from the step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScheduleKind {
    /// `step / decay_steps` as f32, floored if `staircase` (TF1's `exponential_decay` exponent).
    DecayExponent {
        /// Divisor of the step.
        decay_steps: f32,
        /// Floor the quotient (decay in discrete intervals).
        staircase: bool,
    },
    /// `values[0]` while `step <= boundaries[0]`, `values[i]` while
    /// `boundaries[i-1] < step <= boundaries[i]`, and `values[n]` after the last boundary
    /// (TF1's `piecewise_constant`; `values` has one more entry than `boundaries`).
    Piecewise {
        /// Increasing step boundaries.
        boundaries: Vec<i64>,
        /// The value on each interval.
        values: Vec<f32>,
    },
    /// The factor of TF1's `cosine_decay`: `(1 - alpha) * 0.5 * (1 + cos(pi * t)) + alpha`
    /// with `t = min(step, decay_steps) / decay_steps`, going from 1 to `alpha`.
    CosineDecay {
        /// Steps over which the factor falls from 1 to `alpha`.
        decay_steps: f32,
        /// Final factor (a fraction of the initial learning rate).
        alpha: f32,
    },
    /// FastAI's `combined_cos(pct_start, start, middle, end)` at `pos = min(step,
    /// total_steps) / total_steps`: a cosine from `start` to `middle` over the first
    /// `pct_start` of the run, then a cosine from `middle` to `end`. Each half is FastAI's
    /// `SchedCos(a, b)(p) = a + (1 + cos(pi * (1 - p))) * (b - a) / 2`. One-cycle training
    /// uses it for the learning rate (`lr_max/div -> lr_max -> lr_max/div_final`) and,
    /// inversely, for momentum / Adam's beta1 (`0.95 -> 0.85 -> 0.95`).
    CombinedCosine {
        /// Steps of the whole cycle.
        total_steps: f32,
        /// Fraction of the cycle spent going from `start` to `middle`, in `[0, 1]`.
        pct_start: f32,
        /// Value at step 0.
        start: f32,
        /// Value at `pct_start` of the cycle.
        middle: f32,
        /// Value at the end of the cycle (and after it).
        end: f32,
    },
}

/// FastAI's `SchedCos(a, b)` at position `p` in `[0, 1]`.
fn sched_cos(a: f64, b: f64, p: f64) -> f64 {
    a + (1.0 + (std::f64::consts::PI * (1.0 - p)).cos()) * (b - a) / 2.0
}

/// FastAI's `combined_cos(pct, start, middle, end)` at position `pos` in `[0, 1]`, computed
/// in f64 (the annealing end subtracts nearly equal numbers) and rounded once to f32.
pub fn combined_cosine(pos: f64, pct: f32, start: f32, middle: f32, end: f32) -> f32 {
    let (pos, pct) = (pos.clamp(0.0, 1.0), pct as f64);
    let (start, middle, end) = (start as f64, middle as f64, end as f64);
    let y = if pos < pct {
        sched_cos(start, middle, pos / pct)
    } else if pct >= 1.0 {
        end
    } else {
        sched_cos(middle, end, (pos - pct) / (1.0 - pct))
    };
    y as f32
}

/// A function of the (scalar) global step producing an f32 scalar. Input `(step)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSchedule {
    /// What to compute.
    pub kind: ScheduleKind,
}

impl OpDef for StepSchedule {
    fn kind(&self) -> &'static str {
        match self.kind {
            ScheduleKind::DecayExponent { .. } => "DecayExponent",
            ScheduleKind::Piecewise { .. } => "PiecewiseConstant",
            ScheduleKind::CosineDecay { .. } => "CosineDecay",
            ScheduleKind::CombinedCosine { .. } => "CombinedCosine",
        }
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["step"])?;
        if i[0].shape.rank() != 0 {
            return Err(format!(
                "takes one scalar operand (the step), got {}",
                i[0].shape
            ));
        }
        match &self.kind {
            ScheduleKind::DecayExponent { decay_steps, .. }
            | ScheduleKind::CosineDecay { decay_steps, .. }
                if *decay_steps <= 0.0 =>
            {
                return Err(format!("decay_steps must be positive, got {decay_steps}"))
            }
            ScheduleKind::Piecewise { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return Err(format!(
                        "piecewise_constant needs one more value than boundaries, got {} values for {} boundaries",
                        values.len(),
                        boundaries.len()
                    ));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("boundaries must be increasing, got {boundaries:?}"));
                }
            }
            ScheduleKind::CombinedCosine {
                total_steps,
                pct_start,
                ..
            } => {
                if *total_steps <= 0.0 {
                    return Err(format!("total_steps must be positive, got {total_steps}"));
                }
                if !(0.0..=1.0).contains(pct_start) {
                    return Err(format!("pct_start must be in [0, 1], got {pct_start}"));
                }
            }
            _ => {}
        }
        Ok(Some(TensorInfo::new(DType::F32, Shape::known(&[]))))
    }
    fn compute(&self, _: &mut KernelCtx, i: &[ValueView], out: &mut Value) -> Result<(), String> {
        let (as_f, as_i) = match &i[0] {
            ValueView::I64(a) => {
                let s = a.iter().next().copied().ok_or("empty step")?;
                (s as f32, s)
            }
            ValueView::F32(a) => {
                let s = a.iter().next().copied().ok_or("empty step")?;
                (s, s as i64)
            }
            ValueView::Bool(_) => return Err(super::NO_BOOL.into()),
            ValueView::Bytes(_) => return Err(super::NO_BYTES.into()),
        };
        let y = match &self.kind {
            ScheduleKind::DecayExponent {
                decay_steps,
                staircase,
            } => {
                let p = as_f / decay_steps;
                if *staircase {
                    p.floor()
                } else {
                    p
                }
            }
            ScheduleKind::Piecewise { boundaries, values } => {
                let k = boundaries.iter().take_while(|&&b| as_i > b).count();
                values[k]
            }
            ScheduleKind::CosineDecay { decay_steps, alpha } => {
                let t = as_f.clamp(0.0, *decay_steps) / decay_steps;
                (1.0 - alpha) * 0.5 * (1.0 + (std::f32::consts::PI * t).cos()) + alpha
            }
            ScheduleKind::CombinedCosine {
                total_steps,
                pct_start,
                start,
                middle,
                end,
            } => combined_cosine(
                as_f as f64 / *total_steps as f64,
                *pct_start,
                *start,
                *middle,
                *end,
            ),
        };
        out.f32_buffer(&[]).fill(y);
        Ok(())
    }
}
