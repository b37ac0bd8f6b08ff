//! Learning-rate schedules as graph expressions of the global step (TF1's
//! `tf.train.exponential_decay`, `tf.train.piecewise_constant`, `tf.train.cosine_decay`;
//! FastAI's one-cycle policy, [`OneCycle`]).
//! Pass the result as an optimizer's learning rate:
//! `Adam::new(exponential_decay(0.1, step, 1000, 0.96, false))`.

use crate::graph::Tensor;
use crate::ops::binary::pow;
use crate::ops::schedule::{combined_cosine, ScheduleKind, StepSchedule};
use crate::train::{Adam, Momentum};

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

/// The one-cycle policy (Smith 2018) as FastAI's `fit_one_cycle` builds it: over
/// `total_steps`, the learning rate rises from `lr_max / div` to `lr_max` during the first
/// `pct_start` of the steps and anneals to `lr_max / div_final` during the rest, both halves
/// cosine-shaped (FastAI's `combined_cos`); momentum (Adam's beta1) moves inversely,
/// `moms.0 -> moms.1 -> moms.2`. The value at step `t` is taken at position `t /
/// total_steps`, as FastAI's `pct_train`; after `total_steps` it stays at the final value.
///
/// ```
/// use staticflow::prelude::*;
/// use staticflow::train::OneCycle;
/// let g = Graph::new();
/// let step = get_or_create_global_step(&g).unwrap();
/// let oc = OneCycle::new(1e-2, 1000);
/// let opt = oc.adam(step); // lr and beta1 follow the cycle
/// assert_eq!(oc.learning_rate_at(0), 1e-2 / 25.0);
/// assert_eq!(oc.momentum_at(250), 0.85);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycle {
    /// Peak learning rate.
    pub lr_max: f32,
    /// Length of the cycle in steps.
    pub total_steps: u64,
    /// Fraction of the cycle spent warming up (FastAI's default 0.25).
    pub pct_start: f32,
    /// The initial learning rate is `lr_max / div` (default 25).
    pub div: f32,
    /// The final learning rate is `lr_max / div_final` (default 1e5).
    pub div_final: f32,
    /// Momentum (beta1) at the start, the peak of the learning rate and the end (default
    /// `(0.95, 0.85, 0.95)`).
    pub moms: (f32, f32, f32),
}

impl OneCycle {
    /// FastAI's defaults for a cycle of `total_steps` peaking at `lr_max`.
    pub fn new(lr_max: f32, total_steps: u64) -> Self {
        OneCycle {
            lr_max,
            total_steps,
            pct_start: 0.25,
            div: 25.0,
            div_final: 1e5,
            moms: (0.95, 0.85, 0.95),
        }
    }

    fn kind(&self, (start, middle, end): (f32, f32, f32)) -> ScheduleKind {
        ScheduleKind::CombinedCosine {
            total_steps: self.total_steps as f32,
            pct_start: self.pct_start,
            start,
            middle,
            end,
        }
    }

    fn lrs(&self) -> (f32, f32, f32) {
        (
            self.lr_max / self.div,
            self.lr_max,
            self.lr_max / self.div_final,
        )
    }

    /// The learning rate as a scalar f32 tensor of `step` (the i64 global step or an f32
    /// scalar). A zero `total_steps` or a `pct_start` outside `[0, 1]` is a build error.
    pub fn learning_rate<'g>(&self, step: Tensor<'g>) -> Tensor<'g> {
        let g = step.graph();
        let _s = g.name_scope("OneCycle");
        g.add_named(
            StepSchedule {
                kind: self.kind(self.lrs()),
            },
            &[step],
            Some("learning_rate"),
        )
    }

    /// Momentum (Adam's beta1) as a scalar f32 tensor of `step`.
    pub fn momentum<'g>(&self, step: Tensor<'g>) -> Tensor<'g> {
        let g = step.graph();
        let _s = g.name_scope("OneCycle");
        g.add_named(
            StepSchedule {
                kind: self.kind(self.moms),
            },
            &[step],
            Some("momentum"),
        )
    }

    /// The learning rate at step `step` (what [`OneCycle::learning_rate`] computes).
    pub fn learning_rate_at(&self, step: u64) -> f32 {
        let (a, b, c) = self.lrs();
        combined_cosine(self.pos(step), self.pct_start, a, b, c)
    }

    /// The momentum at step `step` (what [`OneCycle::momentum`] computes).
    pub fn momentum_at(&self, step: u64) -> f32 {
        let (a, b, c) = self.moms;
        combined_cosine(self.pos(step), self.pct_start, a, b, c)
    }

    fn pos(&self, step: u64) -> f64 {
        step as f32 as f64 / self.total_steps.max(1) as f32 as f64
    }

    /// Adam whose learning rate and beta1 follow the cycle on `step` (TF1's other defaults).
    pub fn adam<'g>(&self, step: Tensor<'g>) -> Adam {
        Adam::new(self.learning_rate(step)).beta1_tensor(self.momentum(step), self.moms.0)
    }

    /// Momentum SGD whose learning rate and momentum follow the cycle on `step`.
    pub fn momentum_optimizer<'g>(&self, step: Tensor<'g>) -> Momentum {
        Momentum::new(self.learning_rate(step), self.moms.0).momentum_tensor(self.momentum(step))
    }
}
