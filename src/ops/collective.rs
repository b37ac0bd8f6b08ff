//! Collective ops: the fused gradient allreduce that data-parallel training runs inside
//! `Session::run` (Horovod's tensor fusion), and the op that takes one tensor back out of the
//! fused buffer.
//!
//! Ops are plain serde data, so an op cannot hold a communicator. It names one instead: the
//! `group` attribute is a key in a registry of [`Collective`]s (`"world"` by default). The
//! kernel looks the key up when it runs, first among the communicators registered for the
//! calling thread ([`register_collective`] with `thread_local = true`; the in-process
//! communicator of the tests, one rank per thread), then among the process-wide ones (MPI, one
//! rank per process). So every rank builds the same graph (same file, same hash) and each
//! rank's kernel reaches its own communicator. The implementations (MPI, in-process) live in
//! `crate::distributed`; this layer only knows the trait.
//!
//! Sparse gradients: embedding gradients in staticflow are dense (`GatherGrad` scatters into
//! a tensor shaped like the table), so they are fused and reduced like any other gradient.

use super::{KernelCtx, NoGradient, OpDef};
use crate::error::{Error, Result as SfResult};
use crate::graph::{DType, Shape, Tensor, TensorInfo, Value, ValueView};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the allreduce kernel needs from a communicator. `crate::distributed::Communicator`
/// extends it with broadcast, gather and barrier.
pub trait Collective: Send + Sync {
    /// This process's (or thread's) rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Element-wise sum of `buf` over all ranks, written back into `buf` on every rank. Every
    /// rank gets bit-identical results. Errors: a rank failed or left (say which, if known).
    fn allreduce_sum(&self, buf: &mut [f32]) -> Result<(), String>;
}

thread_local! {
    static LOCAL: RefCell<HashMap<String, Arc<dyn Collective>>> = RefCell::new(HashMap::new());
}
static GLOBAL: Mutex<Option<HashMap<String, Arc<dyn Collective>>>> = Mutex::new(None);

/// Registers `c` under `group` for the calling thread only (`thread_local`) or for the whole
/// process; replaces any communicator registered there before.
pub fn register_collective(group: &str, c: Arc<dyn Collective>, thread_local: bool) {
    if thread_local {
        LOCAL.with(|m| m.borrow_mut().insert(group.to_string(), c));
    } else if let Ok(mut g) = GLOBAL.lock() {
        g.get_or_insert_with(HashMap::new)
            .insert(group.to_string(), c);
    }
}

/// Removes what is registered under `group` (for this thread, and for the process if
/// `thread_local` is false).
pub fn unregister_collective(group: &str, thread_local: bool) {
    LOCAL.with(|m| m.borrow_mut().remove(group));
    if !thread_local {
        if let Ok(mut g) = GLOBAL.lock() {
            if let Some(m) = g.as_mut() {
                m.remove(group);
            }
        }
    }
}

/// The communicator registered under `group` (this thread's first, then the process's).
pub fn lookup_collective(group: &str) -> Option<Arc<dyn Collective>> {
    if let Some(c) = LOCAL.with(|m| m.borrow().get(group).cloned()) {
        return Some(c);
    }
    GLOBAL.lock().ok()?.as_ref()?.get(group).cloned()
}

static CALLS: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);
static FLOATS: AtomicU64 = AtomicU64::new(0);

/// Totals over every allreduce kernel this process ran (all threads): what the examples
/// report as "time spent in allreduce".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AllreduceStats {
    /// Allreduce calls (one per fused op run).
    pub calls: u64,
    /// Seconds spent inside the communicator's allreduce (waiting for other ranks included).
    pub seconds: f64,
    /// f32 elements reduced.
    pub floats: u64,
}

/// The totals so far (see [`AllreduceStats`]).
pub fn allreduce_stats() -> AllreduceStats {
    AllreduceStats {
        calls: CALLS.load(Ordering::Relaxed),
        seconds: NANOS.load(Ordering::Relaxed) as f64 * 1e-9,
        floats: FLOATS.load(Ordering::Relaxed),
    }
}

/// Allreduce of all its inputs at once: the inputs (f32, fully known shapes) are copied one
/// after the other into one flat buffer, summed over the ranks of `group` with a single
/// collective call, and divided by the number of ranks if `average`. Output: `[total]` f32,
/// the concatenation of the reduced inputs (take them out with [`FusedPart`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllreduceFused {
    /// Registry key of the communicator (see the module docs).
    pub group: String,
    /// Divide the sum by the number of ranks.
    pub average: bool,
}

impl OpDef for AllreduceFused {
    fn kind(&self) -> &'static str {
        "AllreduceFused"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.is_empty() {
            return Err("AllreduceFused needs at least one operand".into());
        }
        let mut total = 0;
        for t in i {
            super::expect_f32("AllreduceFused", t)?;
            let n = t.shape.num_elements().ok_or_else(|| {
                format!(
                    "AllreduceFused needs fully known shapes (every rank must agree on the \
                     buffer layout), got {}",
                    t.shape
                )
            })?;
            total = usize::checked_add(total, n).ok_or("the fused buffer is too large")?;
        }
        Ok(Some(TensorInfo::new(DType::F32, Shape::known(&[total]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let total: usize = inputs
            .iter()
            .map(|v| v.shape().iter().product::<usize>())
            .sum();
        let buf = out.f32_buffer(&[total]);
        let flat = buf
            .as_slice_mut()
            .ok_or("internal: fused buffer not contiguous")?;
        let mut at = 0;
        for v in inputs {
            let ValueView::F32(a) = v else {
                return Err("AllreduceFused needs f32 inputs".into());
            };
            let n = a.len();
            match a.as_slice() {
                Some(s) => flat[at..at + n].copy_from_slice(s),
                None => flat[at..at + n]
                    .iter_mut()
                    .zip(a.iter())
                    .for_each(|(d, s)| *d = *s),
            }
            at += n;
        }
        let comm = lookup_collective(&self.group).ok_or_else(|| {
            format!(
                "no communicator is registered under `{}`: call staticflow::distributed::init() \
                 (or register one) before running a distributed train op",
                self.group
            )
        })?;
        let t0 = Instant::now();
        let r = comm.allreduce_sum(flat);
        NANOS.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        FLOATS.fetch_add(total as u64, Ordering::Relaxed);
        r.map_err(|e| format!("allreduce over `{}` failed: {e}", self.group))?;
        if self.average && comm.size() > 1 {
            let inv = 1.0 / comm.size() as f32;
            flat.iter_mut().for_each(|x| *x *= inv);
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &super::GradCtx<'g>) -> super::GradResult<'g> {
        Err(NoGradient)
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// One tensor taken back out of a fused buffer: elements `offset..offset + prod(shape)` of a
/// 1-D f32 input, reshaped to `shape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusedPart {
    /// First element in the fused buffer.
    pub offset: usize,
    /// Shape of the part.
    pub shape: Vec<usize>,
}

impl OpDef for FusedPart {
    fn kind(&self) -> &'static str {
        "FusedPart"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        super::expect_arity(i, 1)?;
        super::expect_f32("FusedPart", i[0])?;
        let n = Shape::known(&self.shape).num_elements();
        match (i[0].shape.to_vec().as_deref(), n) {
            (Some([len]), Some(n)) if self.offset.checked_add(n).is_some_and(|e| e <= *len) => {}
            _ => {
                return Err(format!(
                    "FusedPart of shape {:?} at offset {} does not fit in {}",
                    self.shape, self.offset, i[0].shape
                ))
            }
        }
        Ok(Some(TensorInfo::new(DType::F32, Shape::known(&self.shape))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let ValueView::F32(a) = &inputs[0] else {
            return Err("FusedPart needs an f32 input".into());
        };
        let src = a
            .as_slice()
            .ok_or("internal: fused buffer not contiguous")?;
        let n: usize = self.shape.iter().product();
        let part = src
            .get(self.offset..self.offset + n)
            .ok_or("fused buffer shorter than its parts")?;
        let buf = out.f32_buffer(&self.shape);
        buf.as_slice_mut()
            .ok_or("internal: output not contiguous")?
            .copy_from_slice(part);
        Ok(())
    }
}

/// Allreduce of `xs` (f32, fully known shapes) over the communicator registered as `group`,
/// fused into one collective call; returns the reduced tensors, shaped like `xs`, in order.
/// `average` divides the sum by the number of ranks. Every rank must run the same fused ops
/// in the same order (same graph, same train op per step).
pub fn allreduce_fused<'g>(group: &str, xs: &[Tensor<'g>], average: bool) -> Vec<Tensor<'g>> {
    let Some(first) = xs.first() else {
        return Vec::new();
    };
    let g = first.graph();
    let fused = g.add_named(
        AllreduceFused {
            group: group.to_string(),
            average,
        },
        xs,
        Some("allreduce"),
    );
    let mut offset = 0;
    xs.iter()
        .map(|x| {
            let shape = x.shape().to_vec().unwrap_or_default();
            let n: usize = shape.iter().product();
            let part = g.add_named(
                FusedPart {
                    offset,
                    shape: shape.clone(),
                },
                &[fused],
                Some(&format!("{}_reduced", x.name().replace('/', "_"))),
            );
            offset += n;
            part
        })
        .collect()
}

/// How a data-parallel step reduces tensors across ranks: over the communicator registered as
/// `group`, averaged or summed, in one fused collective call or one call per tensor. A
/// data-parallel optimizer (`crate::distributed::DistributedOptimizer`) reports its own
/// through [`crate::train::Optimizer::allreduce`], so that the multi-task strategies
/// ([`crate::mtl`]) reduce per-task gradients and losses the same way before aggregating them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allreduce {
    /// Registry key of the communicator (see the module docs).
    pub group: String,
    /// Divide the sum by the number of ranks (the mean over ranks).
    pub average: bool,
    /// One collective call for all tensors of a step (Horovod's tensor fusion) rather than one
    /// per tensor.
    pub fused: bool,
}

impl Allreduce {
    /// Averaged over the ranks of `group`, fused.
    pub fn new(group: &str) -> Self {
        Allreduce {
            group: group.to_string(),
            average: true,
            fused: true,
        }
    }

    /// The reduced tensors (averaged or summed over the ranks), in order, shaped like `xs`,
    /// built in a fresh scope `allreduce`: one collective call per run if fused, else one per
    /// tensor.
    ///
    /// Errors: `xs` is empty, or a tensor is not f32 or has a shape not fully known at build
    /// time (every rank must agree on the fused buffer's layout).
    pub fn reduce<'g>(&self, xs: &[Tensor<'g>]) -> SfResult<Vec<Tensor<'g>>> {
        let Some(first) = xs.first() else {
            return Err(Error::InvalidArgument(
                "allreduce: no tensors to reduce".into(),
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
        let out = if self.fused {
            allreduce_fused(&self.group, xs, self.average)
        } else {
            xs.iter()
                .flat_map(|x| allreduce_fused(&self.group, &[*x], self.average))
                .collect()
        };
        g.check()?;
        Ok(out)
    }

    /// `(gradient, variable)` pairs with every gradient reduced (see [`Allreduce::reduce`]).
    pub fn reduce_pairs<'g>(
        &self,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> SfResult<Vec<(Tensor<'g>, Tensor<'g>)>> {
        let grads: Vec<Tensor<'g>> = grads_and_vars.iter().map(|p| p.0).collect();
        let reduced = self.reduce(&grads)?;
        Ok(reduced
            .into_iter()
            .zip(grads_and_vars.iter().map(|p| p.1))
            .collect())
    }
}
