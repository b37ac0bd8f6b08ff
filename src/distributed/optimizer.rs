//! `DistributedOptimizer` (Horovod's `hvd.DistributedOptimizer`) and the fused allreduce of
//! any list of tensors it is built on.

use super::WORLD;
use crate::error::Result;
use crate::graph::{Graph, Operation, Tensor};
use crate::ops::collective::Allreduce;
use crate::train::{Optimizer, OptimizerOptions, UpdateRule};

/// Allreduce of `xs` over the communicator registered as `group` ([`WORLD`] by default in
/// [`DistributedOptimizer`]), inside the run: the averaged (`average`) or summed tensors, in
/// order, shaped like `xs`. `fused`: one collective call for all of them (Horovod's tensor
/// fusion); otherwise one call per tensor (only to measure what fusion buys). The same as
/// [`Allreduce::reduce`].
///
/// The multi-task strategies use it through [`Allreduce`] (see [`crate::mtl::Tasks::with_allreduce`]):
/// per-task gradients are reduced before a non-linear aggregator (PCGrad, MGDA, ...) and
/// per-task losses before a loss-level strategy (DWA, GLS, ...), so every rank aggregates the
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
    Allreduce {
        group: group.to_string(),
        average,
        fused,
    }
    .reduce(xs)
}

/// `(gradient, variable)` pairs with every gradient averaged (`average`) or summed across the
/// ranks of `group`, fused into one allreduce (see [`allreduce_tensors`]).
pub fn allreduce_gradients<'g>(
    grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    group: &str,
    average: bool,
    fused: bool,
) -> Result<Vec<(Tensor<'g>, Tensor<'g>)>> {
    Allreduce {
        group: group.to_string(),
        average,
        fused,
    }
    .reduce_pairs(grads_and_vars)
}

/// Wraps any optimizer for data-parallel training: `minimize` / `apply_gradients` average the
/// gradients across ranks (one fused allreduce per step, inside `Session::run`) before the
/// wrapped optimizer applies them, so clipping (`with_clip_norm`) sees the averaged
/// gradients, as one process with the global batch would. Everything else (name, slots,
/// learning rate, global step) is the wrapped optimizer's.
///
/// With equal shard sizes and a loss that is a mean over the examples of the batch, `N`
/// ranks with batch `B` compute the same update as one process with batch `N * B`.
///
/// Passed to a multi-task strategy (`mtl::PcGrad::default().minimize(&opt, &tasks)`), it
/// makes the strategy data-parallel: per-task gradients and losses are reduced with this
/// optimizer's [`Allreduce`] before the aggregation (see [`Optimizer::allreduce`]).
#[derive(Clone, Debug)]
pub struct DistributedOptimizer<O> {
    inner: O,
    allreduce: Allreduce,
}

impl<O: Optimizer> DistributedOptimizer<O> {
    /// Wraps `inner`: gradients averaged over [`WORLD`], fused.
    pub fn new(inner: O) -> Self {
        DistributedOptimizer {
            inner,
            allreduce: Allreduce::new(WORLD),
        }
    }
    /// Reduces over the communicator registered as `group` instead of [`WORLD`].
    pub fn with_group(mut self, group: &str) -> Self {
        self.allreduce.group = group.to_string();
        self
    }
    /// Sums the gradients across ranks instead of averaging them.
    pub fn with_sum(mut self) -> Self {
        self.allreduce.average = false;
        self
    }
    /// Tensor fusion on (the default: one allreduce of one flat buffer per step) or off (one
    /// allreduce per gradient, to measure what fusion buys).
    pub fn fusion(mut self, on: bool) -> Self {
        self.allreduce.fused = on;
        self
    }
    /// `fusion(false)`.
    pub fn without_fusion(self) -> Self {
        self.fusion(false)
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
    fn scalar_inputs<'g>(&self, g: &'g Graph) -> Result<Vec<Tensor<'g>>> {
        self.inner.scalar_inputs(g)
    }
    fn allreduce(&self) -> Option<&Allreduce> {
        Some(&self.allreduce)
    }
    /// Averages the gradients across ranks, then applies them with the wrapped optimizer.
    fn apply_gradients<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        if grads_and_vars.is_empty() {
            return self.inner.apply_gradients(grads_and_vars);
        }
        let reduced = self.allreduce.reduce_pairs(grads_and_vars)?;
        self.inner.apply_gradients(&reduced)
    }
    /// The wrapped optimizer's `apply_gradients`, without reducing.
    fn apply_reduced_gradients<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        self.inner.apply_gradients(grads_and_vars)
    }
}
