//! FTRL-proximal (TF1's `FtrlOptimizer`). Slots `accum` (initialised to
//! `initial_accumulator_value`) and `linear` (zeros).

use super::optimizer::optimizer_common;
use super::options::{LearningRate, OptimizerOptions, UpdateRule};
use super::Optimizer;
use crate::error::{Error, Result};
use crate::ops::apply::ApplyFtrl;

/// FTRL-proximal ("Ad Click Prediction: a View from the Trenches", McMahan et al. 2013) as
/// TF1's `ApplyFtrl` kernel computes it, per coordinate: with `n = accum + g²` and
/// `p = -learning_rate_power`, `linear += g - (n^p - accum^p) / lr * var`, then
/// `var = (l1 * sign(linear) - linear) / (n^p / lr + 2 * l2)` if `|linear| > l1`, else 0;
/// `accum = n`; with L2 shrinkage, `linear` takes `g + 2 * shrinkage * var` instead of `g`.
/// TF1's defaults: learning_rate_power -0.5, initial_accumulator_value 0.1, l1 = l2 =
/// shrinkage = 0.
#[derive(Clone, Debug)]
pub struct Ftrl {
    options: OptimizerOptions,
    /// How the per-coordinate step decays with the accumulated squared gradient (<= 0;
    /// 0 keeps the learning rate fixed). Default -0.5.
    pub learning_rate_power: f32,
    /// Initial value of the `accum` slots (>= 0). Default 0.1.
    pub initial_accumulator_value: f32,
    /// L1 regularization strength (>= 0); drives coordinates to exactly 0. Default 0.
    pub l1_regularization_strength: f32,
    /// L2 regularization strength (>= 0). Default 0.
    pub l2_regularization_strength: f32,
    /// L2 shrinkage strength (>= 0): an L2 penalty on the loss, applied through the
    /// gradient that enters `linear` (`g + 2 * shrinkage * var`), unlike the stabilising
    /// `l2_regularization_strength`. Default 0 (then the kernel is TF1's `ApplyFtrl`, else
    /// `ApplyFtrlV2`).
    pub l2_shrinkage_regularization_strength: f32,
}

impl Ftrl {
    /// FTRL with learning rate `learning_rate` (constant or scalar tensor) and TF1's
    /// defaults for the other hyper-parameters.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Ftrl {
            options: OptimizerOptions::new(learning_rate),
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
        }
    }
    /// Sets learning_rate_power (default -0.5, must be <= 0).
    pub fn learning_rate_power(mut self, power: f32) -> Self {
        self.learning_rate_power = power;
        self
    }
    /// Sets the accumulators' initial value (default 0.1, must be >= 0).
    pub fn initial_accumulator_value(mut self, value: f32) -> Self {
        self.initial_accumulator_value = value;
        self
    }
    /// Sets the L1 regularization strength (default 0, must be >= 0).
    pub fn l1_regularization_strength(mut self, l1: f32) -> Self {
        self.l1_regularization_strength = l1;
        self
    }
    /// Sets the L2 regularization strength (default 0, must be >= 0).
    pub fn l2_regularization_strength(mut self, l2: f32) -> Self {
        self.l2_regularization_strength = l2;
        self
    }
    /// Sets the L2 shrinkage regularization strength (default 0, must be >= 0).
    pub fn l2_shrinkage_regularization_strength(mut self, shrinkage: f32) -> Self {
        self.l2_shrinkage_regularization_strength = shrinkage;
        self
    }
}

/// TF1's checks of `FtrlOptimizer.__init__` (same wording), plus finiteness.
fn check(what: &str, value: f32, ok: bool, needs: &str) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "Ftrl: {what} {value} needs to be {needs}"
        )))
    }
}

impl Optimizer for Ftrl {
    optimizer_common!("Ftrl");
    fn update_rule(&self) -> Result<UpdateRule> {
        let init = self.initial_accumulator_value;
        let power = self.learning_rate_power;
        let (l1, l2) = (
            self.l1_regularization_strength,
            self.l2_regularization_strength,
        );
        check(
            "initial_accumulator_value",
            init,
            init >= 0.0,
            "positive or zero",
        )?;
        check(
            "learning_rate_power",
            power,
            power <= 0.0,
            "negative or zero",
        )?;
        check(
            "l1_regularization_strength",
            l1,
            l1 >= 0.0,
            "positive or zero",
        )?;
        check(
            "l2_regularization_strength",
            l2,
            l2 >= 0.0,
            "positive or zero",
        )?;
        let shrinkage = self.l2_shrinkage_regularization_strength;
        check(
            "l2_shrinkage_regularization_strength",
            shrinkage,
            shrinkage >= 0.0,
            "positive or zero",
        )?;
        Ok(UpdateRule {
            op: ApplyFtrl {
                l1,
                l2,
                lr_power: power,
                l2_shrinkage: shrinkage,
            }
            .into(),
            slots: vec![("accum", init), ("linear", 0.0)],
        })
    }
}
