//! `DistributedOptimizer` (Horovod's `hvd.DistributedOptimizer`) and the fused allreduce of
//! any list of tensors it is built on.

use super::WORLD;
use crate::error::{Error, Result};
use crate::graph::{DType, Operation, Tensor};
use crate::ops::collective::allreduce_fused;
use crate::train::{Optimizer, OptimizerOptions, UpdateRule};

/// Allreduce of `xs` over the communicator registered as `group` ([`WORLD`] by default in
/// [`DistributedOptimizer`]), inside the run: the averaged (`average`) or summed tensors, in
/// order, shaped like `xs`. `fused`: one collective call for all of them (Horovod's tensor
/// fusion); otherwise one call per tensor (only to measure what fusion buys).
///
/// This is the multi-task primitive: reduce the per-task gradients (flattened `[T, P]`
/// Jacobian rows or one list per task) before a non-linear aggregator (PCGrad, MGDA, ...) and
/// the per-task losses before a loss-level strategy (DWA, ...), so every rank aggregates the
/// same averaged inputs and computes the same weights.
///
/// Errors: `xs` is empty, or a tensor is not f32 or has a shape not fully known at build time
/// (every rank must agree on the fused buffer's layout).
pub fn allreduce_tensors<'g>(
    xs: &[Tensor<'g>],
    group: &str,
    average: bool,
    fused: bool,
) -> Result<Vec<Tensor<'g>>> {
    let Some(first) = xs.first() else {
        return Err(Error::InvalidArgument(
            "allreduce_tensors: no tensors to reduce".into(),
        ));
    };
    let g = first.graph();
    for x in xs {
        let info = x.check()?.info().expect("checked tensors have a type");
        if info.dtype != DType::F32 || info.shape.to_vec().is_none() {
            return Err(Error::InvalidArgument(format!(
                "allreduce: `{}` must be f32 with a fully known shape, got {info}",
                x.name()
            )));
        }
    }
    let scope = g.unique_scope("allreduce");
    let _s = g.name_scope(&scope);
    let out = if fused {
        allreduce_fused(group, xs, average)
    } else {
        xs.iter()
            .flat_map(|x| allreduce_fused(group, &[*x], average))
            .collect()
    };
    g.check()?;
    Ok(out)
}

/// `(gradient, variable)` pairs with every gradient averaged (`average`) or summed across the
/// ranks of `group`, fused into one allreduce (see [`allreduce_tensors`]).
pub fn allreduce_gradients<'g>(
    grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    group: &str,
    average: bool,
    fused: bool,
) -> Result<Vec<(Tensor<'g>, Tensor<'g>)>> {
    let grads: Vec<Tensor<'g>> = grads_and_vars.iter().map(|p| p.0).collect();
    let reduced = allreduce_tensors(&grads, group, average, fused)?;
    Ok(reduced
        .into_iter()
        .zip(grads_and_vars.iter().map(|p| p.1))
        .collect())
}

/// Wraps any optimizer for data-parallel training: `minimize` / `apply_gradients` average the
/// gradients across ranks (one fused allreduce per step, inside `Session::run`) before the
/// wrapped optimizer applies them, so clipping (`with_clip_norm`) sees the averaged
/// gradients, as one process with the global batch would. Everything else (name, slots,
/// learning rate, global step) is the wrapped optimizer's.
///
/// With equal shard sizes and a loss that is a mean over the examples of the batch, `N`
/// ranks with batch `B` compute the same update as one process with batch `N * B`.
#[derive(Clone, Debug)]
pub struct DistributedOptimizer<O> {
    inner: O,
    group: String,
    average: bool,
    fused: bool,
}

impl<O: Optimizer> DistributedOptimizer<O> {
    /// Wraps `inner`: gradients averaged over [`WORLD`], fused.
    pub fn new(inner: O) -> Self {
        DistributedOptimizer {
            inner,
            group: WORLD.to_string(),
            average: true,
            fused: true,
        }
    }
    /// Reduces over the communicator registered as `group` instead of [`WORLD`].
    pub fn with_group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }
    /// Sums the gradients across ranks instead of averaging them.
    pub fn with_sum(mut self) -> Self {
        self.average = false;
        self
    }
    /// One allreduce per gradient instead of one fused allreduce (to measure fusion).
    pub fn without_fusion(mut self) -> Self {
        self.fused = false;
        self
    }
    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }
}

impl<O: Optimizer> Optimizer for DistributedOptimizer<O> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn options(&self) -> &OptimizerOptions {
        self.inner.options()
    }
    fn options_mut(&mut self) -> &mut OptimizerOptions {
        self.inner.options_mut()
    }
    fn update_rule(&self) -> Result<UpdateRule> {
        self.inner.update_rule()
    }
    fn non_slots(&self) -> Vec<(&'static str, f32)> {
        self.inner.non_slots()
    }
    fn finish<'g>(&self, non_slots: &[Tensor<'g>]) -> Vec<Operation<'g>> {
        self.inner.finish(non_slots)
    }
    /// Averages the gradients across ranks, then applies them with the wrapped optimizer.
    fn apply_gradients<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        if grads_and_vars.is_empty() {
            return self.inner.apply_gradients(grads_and_vars);
        }
        let reduced = allreduce_gradients(grads_and_vars, &self.group, self.average, self.fused)?;
        self.inner.apply_gradients(&reduced)
    }
}
