//! Learning-rate schedules as graph expressions of the global step (TF1's
//! `tf.train.exponential_decay`, `tf.train.piecewise_constant`, `tf.train.cosine_decay`).
//! Pass the result as an optimizer's learning rate:
//! `Adam::new(exponential_decay(0.1, step, 1000, 0.96, false))`.

use crate::graph::Tensor;
use crate::ops::binary::pow;
use crate::ops::schedule::{ScheduleKind, StepSchedule};

/// `learning_rate * decay_rate ^ (step / decay_steps)`, the exponent floored if `staircase`.
/// `step` is a scalar (the i64 global step, or an f32 scalar). A scalar f32 tensor.
pub fn exponential_decay<'g>(
    learning_rate: f32,
    step: Tensor<'g>,
    decay_steps: u64,
    decay_rate: f32,
    staircase: bool,
) -> Tensor<'g> {
    let g = step.graph();
    let _s = g.name_scope("ExponentialDecay");
    let p = g.add(
        StepSchedule {
            kind: ScheduleKind::DecayExponent {
                decay_steps: decay_steps as f32,
                staircase,
            },
        },
        &[step],
    );
    let lr = g.constant(learning_rate);
    (lr * pow(g.constant(decay_rate), p)).named("learning_rate")
}

/// `values[0]` while `step <= boundaries[0]`, `values[i]` while
/// `boundaries[i-1] < step <= boundaries[i]`, `values[n]` after `boundaries[n-1]`.
/// `values` must have one more entry than `boundaries` (a build error otherwise).
pub fn piecewise_constant<'g>(step: Tensor<'g>, boundaries: &[i64], values: &[f32]) -> Tensor<'g> {
    step.graph().add_named(
        StepSchedule {
            kind: ScheduleKind::Piecewise {
                boundaries: boundaries.to_vec(),
                values: values.to_vec(),
            },
        },
        &[step],
        Some("PiecewiseConstant"),
    )
}

/// TF1's `tf.train.cosine_decay`: `learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * t)) +
/// alpha)` with `t = min(step, decay_steps) / decay_steps`, so the rate falls smoothly from
/// `learning_rate` to `alpha * learning_rate` over `decay_steps` and then stays there.
/// `step` is a scalar (the i64 global step, or an f32 scalar). A scalar f32 tensor.
pub fn cosine_decay<'g>(
    learning_rate: f32,
    step: Tensor<'g>,
    decay_steps: u64,
    alpha: f32,
) -> Tensor<'g> {
    let g = step.graph();
    let _s = g.name_scope("CosineDecay");
    let f = g.add(
        StepSchedule {
            kind: ScheduleKind::CosineDecay {
                decay_steps: decay_steps as f32,
                alpha,
            },
        },
        &[step],
    );
    (g.constant(learning_rate) * f).named("learning_rate")
}
