//! Optimizer update kernels (TF1's `ApplyGradientDescent`, `ApplyMomentum`, `ApplyAdam`,
//! `ApplyAdagrad`, `ApplyRMSProp`, `ApplyAdadelta`, `ApplyFtrl`, and contrib's AdamW as
//! `ApplyAdamW`): each writes a variable (and its slots) in place from a
//! gradient, with exactly the arithmetic of `tensorflow/core/kernels/training_ops.cc`.
//!
//! Inputs: the written variables first (the variable, then its slots, all shaped like it),
//! then the learning rate (an f32 scalar tensor, so schedules work), then any other scalar
//! inputs (Adam's `beta1_power`, `beta2_power`), then the gradient. Other hyper-parameters
//! are attributes.

use super::{expect_arity, expect_f32, KernelCtx, OpDef};
use crate::graph::{TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};

/// Checks `(vars..., lr, scalars..., grad)` operands: `n_vars` written tensors of one shape,
/// `1 + n_scalars` scalars (the learning rate first), and a gradient shaped like the
/// variable; f32 everywhere.
pub(crate) fn check_apply(
    name: &str,
    i: &[&TensorInfo],
    n_vars: usize,
    n_scalars: usize,
) -> Result<Option<TensorInfo>, String> {
    let want = n_vars + n_scalars + 2;
    expect_arity(i, want)?;
    for t in i {
        expect_f32(name, t)?;
    }
    if let Some(s) = i[1..n_vars]
        .iter()
        .find(|s| !s.shape.compatible(&i[0].shape))
    {
        return Err(format!(
            "slot shape {} differs from variable shape {}",
            s.shape, i[0].shape
        ));
    }
    if let Some(s) = i[n_vars..n_vars + 1 + n_scalars]
        .iter()
        .find(|s| s.shape.rank() != 0)
    {
        return Err(format!(
            "learning rate and hyper-parameter inputs must be scalars, got {}",
            s.shape
        ));
    }
    let grad = i[i.len() - 1];
    if !grad.shape.compatible(&i[0].shape) {
        return Err(format!(
            "gradient shape {} differs from variable shape {}",
            grad.shape, i[0].shape
        ));
    }
    Ok(None)
}

/// The single element of a scalar f32 input.
fn scalar_of(v: &ValueView) -> Result<f32, String> {
    match v {
        ValueView::F32(a) if a.len() == 1 => Ok(a.iter().next().copied().unwrap_or_default()),
        _ => Err(format!(
            "expected an f32 scalar input, got {} {:?}",
            v.dtype(),
            v.shape()
        )),
    }
}

/// The gradient as a flat slice.
fn grad_slice<'a>(grad: &'a ValueView) -> Result<&'a [f32], String> {
    match grad {
        ValueView::F32(g) => g
            .as_slice()
            .ok_or_else(|| "gradient is not contiguous".into()),
        _ => Err("optimizer updates need an f32 gradient".into()),
    }
}

/// A written variable (or slot) as a flat slice with the gradient's shape.
fn var_slice<'a>(v: &'a mut Value, grad: &ValueView) -> Result<&'a mut [f32], String> {
    let Value::F32(v) = v else {
        return Err("optimizer updates need f32 variables".into());
    };
    if v.shape() != grad.shape() {
        return Err(format!(
            "gradient shape {:?} differs from variable or slot shape {:?}",
            grad.shape(),
            v.shape()
        ));
    }
    v.as_slice_mut()
        .ok_or_else(|| "variable is not contiguous".into())
}

/// The written variable and its slots as flat slices shaped like the gradient.
fn var_slices<'a, const N: usize>(
    vars: &'a mut [&mut Value],
    grad: &ValueView,
) -> Result<[&'a mut [f32]; N], String> {
    if vars.len() != N {
        return Err(format!(
            "internal: expected {N} variables, got {}",
            vars.len()
        ));
    }
    let mut err = None;
    let mut it = vars.iter_mut();
    let slices: [Option<&'a mut [f32]>; N] =
        std::array::from_fn(|_| match it.next().map(|v| var_slice(v, grad)) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                err = Some(e);
                None
            }
            None => None,
        });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(slices.map(|s| s.expect("length checked above")))
}

/// Implements an update op's `OpDef` (`kind`, `infer`, `mutated_inputs`, an unused
/// `compute`, and `update`, which unpacks the operands); the op supplies
/// `fn apply(&self, lr, scalars: &[f32; S], vars: [&mut [f32]; N], grad: &[f32])`.
macro_rules! update_op {
    ($ty:ty, $kind:literal, vars = $n_vars:literal, scalars = $n_scalars:literal) => {
        impl OpDef for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
                check_apply($kind, i, $n_vars, $n_scalars)
            }
            fn mutated_inputs(&self) -> usize {
                $n_vars
            }
            fn compute(
                &self,
                _: &mut KernelCtx,
                _: &[ValueView],
                _: &mut Value,
            ) -> Result<(), String> {
                Err("internal: runs through update".into())
            }
            fn update(
                &self,
                _: &mut KernelCtx,
                vars: &mut [&mut Value],
                inputs: &[ValueView],
            ) -> Result<(), String> {
                if inputs.len() != $n_scalars + 2 {
                    return Err(format!("internal: {} got {} inputs", $kind, inputs.len()));
                }
                let lr = scalar_of(&inputs[0])?;
                let mut scalars = [0.0f32; $n_scalars];
                for (k, s) in scalars.iter_mut().enumerate() {
                    *s = scalar_of(&inputs[1 + k])?;
                }
                let grad = &inputs[$n_scalars + 1];
                let g = grad_slice(grad)?;
                let vars = var_slices::<$n_vars>(vars, grad)?;
                self.apply(lr, &scalars, vars, g);
                Ok(())
            }
        }
    };
}

/// `var -= lr * grad`. Inputs `(var, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyGradientDescent;

update_op!(
    ApplyGradientDescent,
    "ApplyGradientDescent",
    vars = 1,
    scalars = 0
);

impl ApplyGradientDescent {
    fn apply(&self, lr: f32, _: &[f32; 0], [var]: [&mut [f32]; 1], g: &[f32]) {
        var.iter_mut().zip(g).for_each(|(v, g)| *v -= lr * g);
    }
}

/// TF1's `ApplyMomentum`: `accum = accum * momentum + grad`, then `var -= lr * accum`, or
/// with Nesterov `var -= grad * lr + accum * momentum * lr`. Inputs `(var, accum, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyMomentum {
    /// Momentum coefficient.
    pub momentum: f32,
    /// Nesterov momentum.
    pub use_nesterov: bool,
}

update_op!(ApplyMomentum, "ApplyMomentum", vars = 2, scalars = 0);

impl ApplyMomentum {
    fn apply(&self, lr: f32, _: &[f32; 0], [var, accum]: [&mut [f32]; 2], g: &[f32]) {
        let m = self.momentum;
        for ((v, a), &g) in var.iter_mut().zip(accum.iter_mut()).zip(g) {
            *a = *a * m + g;
            if self.use_nesterov {
                *v -= g * lr + *a * m * lr;
            } else {
                *v -= *a * lr;
            }
        }
    }
}

/// TF1's `ApplyAdam`: with `lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)`,
/// `m += (g - m) * (1 - beta1)`, `v += (g² - v) * (1 - beta2)`,
/// `var -= m * lr_t / (sqrt(v) + epsilon)` (Nesterov: `(g * (1 - beta1) + beta1 * m)` in
/// place of `m`). Inputs `(var, m, v, lr, beta1_power, beta2_power, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAdam {
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// The "epsilon hat" added to `sqrt(v)`.
    pub epsilon: f32,
    /// Nesterov-style first moment.
    pub use_nesterov: bool,
}

update_op!(ApplyAdam, "ApplyAdam", vars = 3, scalars = 2);

impl ApplyAdam {
    fn apply(&self, lr: f32, [b1p, b2p]: &[f32; 2], [var, m, v]: [&mut [f32]; 3], g: &[f32]) {
        let (b1, b2, eps) = (self.beta1, self.beta2, self.epsilon);
        let alpha = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        for (((x, m), v), &g) in var.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            *m += (g - *m) * (1.0 - b1);
            *v += (g * g - *v) * (1.0 - b2);
            if self.use_nesterov {
                *x -= ((g * (1.0 - b1) + b1 * *m) * alpha) / (v.sqrt() + eps);
            } else {
                *x -= (*m * alpha) / (v.sqrt() + eps);
            }
        }
    }
}

/// Adam with decoupled weight decay (TF1's `tf.contrib.opt.AdamWOptimizer`, TF Addons'
/// `AdamW`): first `var -= weight_decay * var` (not scaled by the learning rate, as in
/// contrib), then [`ApplyAdam`]'s update from the gradient (taken at the old value). Inputs
/// `(var, m, v, lr, beta1_power, beta2_power, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAdamW {
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// The "epsilon hat" added to `sqrt(v)`.
    pub epsilon: f32,
    /// The decoupled weight decay rate.
    pub weight_decay: f32,
}

update_op!(ApplyAdamW, "ApplyAdamW", vars = 3, scalars = 2);

impl ApplyAdamW {
    fn apply(&self, lr: f32, powers: &[f32; 2], [var, m, v]: [&mut [f32]; 3], g: &[f32]) {
        let wd = self.weight_decay;
        var.iter_mut().for_each(|x| *x -= wd * *x);
        let adam = ApplyAdam {
            beta1: self.beta1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            use_nesterov: false,
        };
        adam.apply(lr, powers, [var, m, v], g);
    }
}

/// [`ApplyAdam`] with beta1 as a scalar input instead of an attribute, so that a schedule can
/// cycle it (one-cycle training): inputs `(var, m, v, lr, beta1_power, beta2_power, beta1,
/// grad)`. TF1's `ApplyAdam` takes beta1 as an input in the same way; this op keeps
/// [`ApplyAdam`]'s graph form unchanged for constant hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAdamScheduled {
    /// Decay of the second moment.
    pub beta2: f32,
    /// The "epsilon hat" added to `sqrt(v)`.
    pub epsilon: f32,
    /// Nesterov-style first moment.
    pub use_nesterov: bool,
}

update_op!(
    ApplyAdamScheduled,
    "ApplyAdamScheduled",
    vars = 3,
    scalars = 3
);

impl ApplyAdamScheduled {
    fn apply(&self, lr: f32, [b1p, b2p, b1]: &[f32; 3], vars: [&mut [f32]; 3], g: &[f32]) {
        let adam = ApplyAdam {
            beta1: *b1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            use_nesterov: self.use_nesterov,
        };
        adam.apply(lr, &[*b1p, *b2p], vars, g);
    }
}

/// [`ApplyMomentum`] with the momentum coefficient as a scalar input (as in TF1's
/// `ApplyMomentum`), so that a schedule can cycle it: inputs `(var, accum, lr, momentum,
/// grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyMomentumScheduled {
    /// Nesterov momentum.
    pub use_nesterov: bool,
}

update_op!(
    ApplyMomentumScheduled,
    "ApplyMomentumScheduled",
    vars = 2,
    scalars = 1
);

impl ApplyMomentumScheduled {
    fn apply(&self, lr: f32, [m]: &[f32; 1], vars: [&mut [f32]; 2], g: &[f32]) {
        let op = ApplyMomentum {
            momentum: *m,
            use_nesterov: self.use_nesterov,
        };
        op.apply(lr, &[], vars, g);
    }
}

/// TF1's `ApplyAdagrad`: `accum += g²`, `var -= g * lr / sqrt(accum)`.
/// Inputs `(var, accum, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAdagrad;

update_op!(ApplyAdagrad, "ApplyAdagrad", vars = 2, scalars = 0);

impl ApplyAdagrad {
    fn apply(&self, lr: f32, _: &[f32; 0], [var, accum]: [&mut [f32]; 2], g: &[f32]) {
        for ((x, a), &g) in var.iter_mut().zip(accum.iter_mut()).zip(g) {
            *a += g * g;
            *x -= g * lr * (1.0 / a.sqrt());
        }
    }
}

/// TF1's `ApplyRMSProp` (not centered): `ms += (g² - ms) * (1 - rho)`,
/// `mom = mom * momentum + g * lr / sqrt(ms + epsilon)`, `var -= mom`.
/// Inputs `(var, ms, mom, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyRMSProp {
    /// Decay of the mean square (TF1's `decay`, the kernel's `rho`).
    pub rho: f32,
    /// Momentum coefficient.
    pub momentum: f32,
    /// Added to the mean square under the square root.
    pub epsilon: f32,
}

update_op!(ApplyRMSProp, "ApplyRMSProp", vars = 3, scalars = 0);

impl ApplyRMSProp {
    fn apply(&self, lr: f32, _: &[f32; 0], [var, ms, mom]: [&mut [f32]; 3], g: &[f32]) {
        let (rho, momentum, eps) = (self.rho, self.momentum, self.epsilon);
        for (((x, ms), mom), &g) in var.iter_mut().zip(ms.iter_mut()).zip(mom.iter_mut()).zip(g) {
            *ms += (g * g - *ms) * (1.0 - rho);
            *mom = *mom * momentum + (g * lr) / (*ms + eps).sqrt();
            *x -= *mom;
        }
    }
}

/// TF1's `ApplyAdadelta`: `accum = accum * rho + g² * (1 - rho)`,
/// `update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g`, `var -= update * lr`,
/// `accum_update = accum_update * rho + update² * (1 - rho)`.
/// Inputs `(var, accum, accum_update, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAdadelta {
    /// Decay of both running averages.
    pub rho: f32,
    /// Added under both square roots.
    pub epsilon: f32,
}

update_op!(ApplyAdadelta, "ApplyAdadelta", vars = 3, scalars = 0);

impl ApplyAdadelta {
    fn apply(&self, lr: f32, _: &[f32; 0], [var, accum, upd]: [&mut [f32]; 3], g: &[f32]) {
        let (rho, eps) = (self.rho, self.epsilon);
        for (((x, a), u), &g) in var
            .iter_mut()
            .zip(accum.iter_mut())
            .zip(upd.iter_mut())
            .zip(g)
        {
            *a = *a * rho + g * g * (1.0 - rho);
            let update = (*u + eps).sqrt() * (1.0 / (*a + eps).sqrt()) * g;
            *x -= update * lr;
            *u = *u * rho + update * update * (1.0 - rho);
        }
    }
}

/// TF1's `ApplyFtrl` (FTRL-proximal): with `n = accum + g²` and `p = -lr_power`,
/// `linear += g - (n^p - accum^p) / lr * var`, then
/// `var = (l1 * sign(linear) - linear) / (n^p / lr + 2 * l2)` where `|linear| > l1`, else 0,
/// and `accum = n` (square roots when `lr_power` is -0.5, as TF1's kernel).
/// With `l2_shrinkage > 0` it is TF1's `ApplyFtrlV2`: `linear` takes the shrunk gradient
/// `g + 2 * l2_shrinkage * var` (the accumulator still takes `g²`).
/// Inputs `(var, accum, linear, lr, grad)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyFtrl {
    /// L1 regularization strength (>= 0).
    pub l1: f32,
    /// L2 regularization strength (>= 0).
    pub l2: f32,
    /// How the per-coordinate learning rate decays with the accumulator (<= 0).
    pub lr_power: f32,
    /// L2 shrinkage regularization strength (>= 0; 0 for `ApplyFtrl`).
    #[serde(default)]
    pub l2_shrinkage: f32,
}

update_op!(ApplyFtrl, "ApplyFtrl", vars = 3, scalars = 0);

impl ApplyFtrl {
    fn apply(&self, lr: f32, _: &[f32; 0], [var, accum, linear]: [&mut [f32]; 3], g: &[f32]) {
        let (l1, l2, p, shrink) = (self.l1, self.l2, self.lr_power, self.l2_shrinkage);
        let pow = |v: f32| if p == -0.5 { v.sqrt() } else { v.powf(-p) };
        for (((x, a), l), &g) in var
            .iter_mut()
            .zip(accum.iter_mut())
            .zip(linear.iter_mut())
            .zip(g)
        {
            let n = *a + g * g;
            let gs = if shrink == 0.0 {
                g
            } else {
                g + 2.0 * shrink * *x
            };
            *l += gs - (pow(n) - pow(*a)) / lr * *x;
            let sign = if *l > 0.0 {
                1.0
            } else if *l < 0.0 {
                -1.0
            } else {
                0.0
            };
            let shrunk = (l1 * sign - *l) / (pow(n) / lr + 2.0 * l2);
            *x = if l.abs() > l1 { shrunk } else { 0.0 };
            *a = n;
        }
    }
}
