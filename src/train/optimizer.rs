//! The `Optimizer` trait: `minimize(loss)` = compute gradients for the trainable variables on
//! the loss's path, optionally clip them by their global norm, then apply them with the
//! optimizer's update ops inside a fresh scope (`Adam`, `Adam_1`, ...), grouped into one op
//! that also increments the global step if one was given.
//!
//! Options shared by every optimizer (learning rate, clipping, global step, frozen variables,
//! per-variable learning-rate multipliers) live in one [`OptimizerOptions`] value; the
//! builder methods that set them are provided by the trait.

use super::clip::clip_by_global_norm;
use super::gradients::{compute_gradients, gradients_for};
use super::options::{LearningRate, NodeRef, OptimizerOptions, UpdateRule};
use super::slots::check_name;
use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Operation, Tensor};
use crate::ops::collective::Allreduce;
use crate::ops::state::{group_named, Assign, AssignKind};
use crate::ops::Op;

/// A slot of `var`: a non-trainable variable shaped like it, filled with `init`, named
/// `<scope>/<var name>/<name>` (e.g. `Adam/shared/w/m`; the scope is open).
fn create_slot<'g>(var: Tensor<'g>, name: &str, init: f32) -> Tensor<'g> {
    let g = var.graph();
    let shape = match g.node(var.index()).op {
        Op::Variable(v) => v.shape,
        _ => var.shape().to_vec().unwrap_or_default(),
    };
    g.non_trainable_variable(
        &format!("{}/{name}", var.name()),
        crate::init::constant(&shape, init),
    )
}

/// Implements [`Optimizer::name`] (the name set by `with_name`, else `$name`),
/// [`Optimizer::options`] and [`Optimizer::options_mut`] for a struct with an
/// `options: OptimizerOptions` field.
macro_rules! optimizer_common {
    ($name:literal) => {
        fn name(&self) -> &str {
            self.options.name.as_deref().unwrap_or($name)
        }
        fn options(&self) -> &$crate::train::OptimizerOptions {
            &self.options
        }
        fn options_mut(&mut self) -> &mut $crate::train::OptimizerOptions {
            &mut self.options
        }
    };
}
pub(crate) use optimizer_common;

/// A TF1-style optimizer.
pub trait Optimizer {
    /// Base name of the optimizer's scope and slots: the default, e.g. `"Adam"`, or the name
    /// set with [`Optimizer::with_name`].
    fn name(&self) -> &str;

    /// The shared options (learning rate, clipping, global step).
    fn options(&self) -> &OptimizerOptions;

    /// Mutable access to the shared options.
    fn options_mut(&mut self) -> &mut OptimizerOptions;

    /// The update kernel and slots of one variable.
    fn update_rule(&self) -> Result<UpdateRule>;

    /// `(name, initial value)` of scalar f32 variables shared by all updates of one
    /// application (Adam's `beta1_power`, `beta2_power`), named `<scope>/<name>` and passed
    /// to every update op after the learning rate. Default: none.
    fn non_slots(&self) -> Vec<(&'static str, f32)> {
        Vec::new()
    }

    /// Ops that must run after every update of a step (TF1's `_finish`; Adam advances its
    /// beta powers), given the non-slot variables. They are built under a control
    /// dependency on all updates. Default: none.
    fn finish<'g>(&self, _non_slots: &[Tensor<'g>]) -> Vec<Operation<'g>> {
        Vec::new()
    }

    /// Scalar f32 tensors passed to every update op after the non-slot variables (a
    /// scheduled beta1 or momentum, see [`super::OneCycle`]). Default: none.
    fn scalar_inputs<'g>(&self, _g: &'g Graph) -> Result<Vec<Tensor<'g>>> {
        Ok(Vec::new())
    }

    /// The cross-rank reduction [`Optimizer::apply_gradients`] performs before applying, for
    /// a data-parallel optimizer (`crate::distributed::DistributedOptimizer`); `None` (the
    /// default) for one that applies the gradients it is given. The multi-task strategies
    /// ([`crate::mtl`]) read it to reduce per-task gradients and losses across ranks before
    /// their non-linear aggregation, then call [`Optimizer::apply_reduced_gradients`].
    fn allreduce(&self) -> Option<&Allreduce> {
        None
    }

    /// Applies gradients that are already reduced across ranks: [`Optimizer::apply_gradients`]
    /// without this optimizer's own reduction (see [`Optimizer::allreduce`]). Default:
    /// [`Optimizer::apply_gradients`].
    fn apply_reduced_gradients<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        self.apply_gradients(grads_and_vars)
    }

    /// Freezes `vars` (FastAI's `freeze`): `minimize`, `minimize_with` and `apply_gradients`
    /// leave them out, so their gradients are not even built and their values and slots stay
    /// bit-identical. Select them by scope with [`super::trainable_variables_in`]. Calls
    /// accumulate.
    fn with_frozen(mut self, vars: &[Tensor<'_>]) -> Self
    where
        Self: Sized,
    {
        let o = self.options_mut();
        o.frozen.extend(vars.iter().map(|v| NodeRef::new(*v)));
        self
    }

    /// Discriminative learning rates: the updates of `vars` use `multiplier` times the
    /// learning rate (e.g. 0.1 for a pretrained encoder, 1 for new heads); one optimizer,
    /// slots named per variable as usual. A later call wins for a variable listed twice.
    /// The multiplier must be finite and non-negative (else `apply_gradients` errors).
    fn with_lr_multiplier(mut self, vars: &[Tensor<'_>], multiplier: f32) -> Self
    where
        Self: Sized,
    {
        let o = self.options_mut();
        o.lr_multipliers
            .extend(vars.iter().map(|v| (NodeRef::new(*v), multiplier)));
        self
    }

    /// Names the optimizer (TF1's `AdamOptimizer(name=...)`): its update ops and slots then
    /// live under this scope, e.g. `task_a_adam/shared/w/m` instead of `Adam/shared/w/m`
    /// (a second application gets `task_a_adam_1/...`). The name must be a valid scope name
    /// (letters, digits, `_`, `.`, `-`, parts separated by `/`), else `apply_gradients`
    /// returns [`Error::InvalidArgument`].
    fn with_name(mut self, name: &str) -> Self
    where
        Self: Sized,
    {
        self.options_mut().name = Some(name.to_string());
        self
    }

    /// The slot `name` (one of [`Optimizer::get_slot_names`], e.g. Adam's `"m"`) that this
    /// optimizer made for `var`, shaped like `var` (TF1's `optimizer.get_slot(var, name)`);
    /// `None` if it made none (not applied yet, `var` not updated by it, unknown name). If
    /// the optimizer was applied several times to `var` (each application has its own
    /// scope and slots), the most recent application's slot.
    fn get_slot<'g>(&self, var: Tensor<'g>, name: &str) -> Option<Tensor<'g>> {
        self.options().slots.get(var, name)
    }

    /// The names of the slots this optimizer keeps per variable, sorted (TF1's
    /// `get_slot_names`): `["m", "v"]` for Adam, `["momentum"]` for Momentum, none for
    /// plain gradient descent.
    fn get_slot_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self.update_rule() {
            Ok(rule) => rule.slots.iter().map(|(n, _)| n.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Sets the learning rate: a constant or a scalar f32 tensor (a schedule).
    fn with_learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self
    where
        Self: Sized,
    {
        self.options_mut().learning_rate = learning_rate.into();
        self
    }

    /// Clips the gradients of each `minimize` call with [`clip_by_global_norm`] to
    /// `clip_norm` (> 0) before applying them.
    fn with_clip_norm(mut self, clip_norm: f32) -> Self
    where
        Self: Sized,
    {
        self.options_mut().clip_norm = Some(clip_norm);
        self
    }

    /// Makes the train op increment `step` (an i64 scalar variable, see
    /// [`super::get_or_create_global_step`]) by one after all its updates.
    fn with_global_step(mut self, step: Tensor<'_>) -> Self
    where
        Self: Sized,
    {
        self.options_mut().global_step = Some(NodeRef::new(step));
        self
    }

    /// One op that updates every trainable variable on `loss`'s path, and only those.
    /// Frozen variables ([`Optimizer::with_frozen`]) are left out.
    fn minimize<'g>(&self, loss: Tensor<'g>) -> Result<Operation<'g>> {
        let o = self.options();
        let vars = loss.graph().trainable_variables();
        let vars = vars.into_iter().filter(|v| !o.is_frozen(*v)).collect();
        let gv = gradients_for(loss, vars, false)?;
        self.apply_gradients(&gv)
    }

    /// Like [`Optimizer::minimize`], restricted to `var_list`; each of them must be on the path.
    /// Frozen variables are left out.
    fn minimize_with<'g>(
        &self,
        loss: Tensor<'g>,
        var_list: &[Tensor<'g>],
    ) -> Result<Operation<'g>> {
        let o = self.options();
        let vars: Vec<Tensor<'g>> = var_list
            .iter()
            .copied()
            .filter(|v| !o.is_frozen(*v))
            .collect();
        if vars.is_empty() && !var_list.is_empty() {
            return Err(Error::NoPathToVariables {
                loss: loss.name(),
                candidates: vec!["every variable of var_list is frozen".to_string()],
            });
        }
        let gv = compute_gradients(loss, Some(&vars))?;
        self.apply_gradients(&gv)
    }

    /// Applies `(gradient, variable)` pairs (e.g. from [`compute_gradients`]) inside a fresh,
    /// unique scope named after the optimizer: clips them if `with_clip_norm` was set,
    /// builds the updates, and increments the global step after them if one was set.
    fn apply_gradients<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let Some((first, _)) = grads_and_vars.first() else {
            return Err(Error::InvalidArgument(format!(
                "{}: no (gradient, variable) pairs to apply",
                self.name()
            )));
        };
        let g = first.graph();
        g.check()?;
        check_name(self.name())?;
        check_pairs(g, grads_and_vars)?;
        let opts = self.options();
        if let Some((_, m)) = opts
            .lr_multipliers
            .iter()
            .find(|(_, m)| !m.is_finite() || *m < 0.0)
        {
            return Err(Error::InvalidArgument(format!(
                "{}: learning-rate multipliers must be finite and non-negative, got {m}",
                self.name()
            )));
        }
        let unfrozen: Vec<(Tensor<'g>, Tensor<'g>)> = grads_and_vars
            .iter()
            .copied()
            .filter(|(_, v)| !opts.is_frozen(*v))
            .collect();
        if unfrozen.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{}: every variable to update is frozen",
                self.name()
            )));
        }
        let grads_and_vars = unfrozen.as_slice();
        let step = match &opts.global_step {
            Some(r) => Some(check_step(r.resolve(g, "global step")?)?),
            None => None,
        };
        let scope = g.unique_scope(self.name());
        let op = {
            let _s = g.name_scope(&scope);
            let gv: Vec<(Tensor<'g>, Tensor<'g>)> = match opts.clip_norm {
                Some(c) => {
                    let grads: Vec<Tensor<'g>> = grads_and_vars.iter().map(|p| p.0).collect();
                    let (clipped, _) = clip_by_global_norm(&grads, c)?;
                    clipped
                        .into_iter()
                        .zip(grads_and_vars.iter().map(|p| p.1))
                        .collect()
                }
                None => grads_and_vars.to_vec(),
            };
            let update = build_updates(self, opts.learning_rate.tensor(g)?, &gv)?;
            match step {
                Some(step) => {
                    let _c = g.control_dependencies(&[update]);
                    let one = g.constant(ndarray::arr0(1i64));
                    g.add_op(
                        Assign {
                            kind: AssignKind::Add,
                        },
                        &[step, one],
                        Some("increment_global_step"),
                    )
                }
                None => update,
            }
        };
        g.check()?;
        Ok(op)
    }
}

/// The slots, non-slots and update op of every pair, then the finishing ops after all
/// updates, grouped into one op named `apply` (inside the optimizer's open scope).
fn build_updates<'g, O: Optimizer + ?Sized>(
    opt: &O,
    lr: Tensor<'g>,
    gv: &[(Tensor<'g>, Tensor<'g>)],
) -> Result<Operation<'g>> {
    let g = lr.graph();
    let rule = opt.update_rule()?;
    let extra = opt.scalar_inputs(g)?;
    let opts = opt.options();
    let mut scaled: Vec<(f32, Tensor<'g>)> = Vec::new();
    let mut lr_of = |var: Tensor<'g>| match opts.multiplier(var) {
        None | Some(1.0) => lr,
        Some(m) => match scaled.iter().find(|(k, _)| *k == m) {
            Some((_, t)) => *t,
            None => {
                let t = (lr * m).named("scaled_learning_rate");
                scaled.push((m, t));
                t
            }
        },
    };
    let non_slots: Vec<Tensor<'g>> = opt
        .non_slots()
        .iter()
        .map(|(name, init)| g.non_trainable_variable(name, crate::init::constant(&[], *init)))
        .collect();
    let mut ops: Vec<Operation<'g>> = gv
        .iter()
        .map(|(grad, var)| {
            let mut inputs = vec![*var];
            inputs.extend(rule.slots.iter().map(|(n, init)| {
                let slot = create_slot(*var, n, *init);
                opts.slots.record(*var, n, slot);
                slot
            }));
            inputs.push(lr_of(*var));
            inputs.extend(&non_slots);
            inputs.extend(&extra);
            inputs.push(*grad);
            g.add_op(
                rule.op.clone(),
                &inputs,
                Some(&format!("update_{}", var.name())),
            )
        })
        .collect();
    let finish = {
        let _c = g.control_dependencies(&ops);
        opt.finish(&non_slots)
    };
    ops.extend(finish);
    Ok(group_named(g, &ops, "apply"))
}

/// Every pair belongs to `g`, every variable is a variable and appears once.
fn check_pairs<'g>(g: &'g Graph, gv: &[(Tensor<'g>, Tensor<'g>)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (grad, var) in gv {
        for t in [grad, var] {
            if t.graph().id() != g.id() {
                return Err(Error::ForeignTensor {
                    node: t.name(),
                    context: "the other gradients and variables of `apply_gradients`".into(),
                });
            }
        }
        if !matches!(g.node(var.index()).op, Op::Variable(_)) {
            return Err(Error::InvalidArgument(format!(
                "`{}` is not a variable",
                var.name()
            )));
        }
        if !seen.insert(var.index()) {
            return Err(Error::InvalidArgument(format!(
                "variable `{}` appears twice in grads_and_vars",
                var.name()
            )));
        }
    }
    Ok(())
}

/// The global step must be an i64 scalar variable.
fn check_step(step: Tensor<'_>) -> Result<Tensor<'_>> {
    match step.graph().node(step.index()).op {
        Op::Variable(v) if v.dtype == DType::I64 && v.shape.is_empty() => Ok(step),
        _ => Err(Error::InvalidArgument(format!(
            "global step `{}` must be an i64 scalar variable (see get_or_create_global_step), got {:?}",
            step.name(),
            step.info()
        ))),
    }
}
