//! Data-parallel training, Horovod style: every rank builds the same graph, starts from rank
//! 0's variables, trains on its own shard of each global batch, and averages its gradients
//! with the other ranks' inside `Session::run`, in one fused allreduce per step.
//!
//! - [`Communicator`]: rank, size, allreduce (f32 sum in place), broadcast, gather, barrier.
//!   `MpiCommunicator` (cargo feature `mpi`, rsmpi over the system's Open MPI) runs one rank
//!   per process under `mpirun`; [`InProcessCommunicator`] runs one rank per thread (tests,
//!   and the single rank of a program started without `mpirun` or built without the feature).
//! - [`init`] starts the process's communicator ([`World`]) and registers it under
//!   [`WORLD`], the key the allreduce op names (ops are plain data: see
//!   [`crate::ops::collective`] for the registry).
//! - [`DistributedOptimizer`] wraps any optimizer: `compute_gradients` -> fused allreduce
//!   (average) -> the wrapped `apply_gradients`. [`allreduce_tensors`] is the same primitive
//!   for any list of tensors: per-task gradients before a gradient-level aggregator (PCGrad,
//!   MGDA, ...) and per-task losses before a loss-level strategy (DWA), so every rank
//!   aggregates the same averaged inputs and computes the same weights.
//! - [`broadcast_variables`] (rank 0's values, optimizer slots included: call it after the
//!   initializer or after a restore), [`check_same_graph`] (a hash of the graph file; on a
//!   mismatch an error naming the first differing node), [`save_on_root`] (checkpoints by
//!   rank 0 only), [`World::quiet_unless_root`] (logs from rank 0 only).
//!
//! With `crate::mtl`: a strategy given a [`DistributedOptimizer`] (or a task set given an
//! [`Allreduce`] with [`crate::mtl::Tasks::with_allreduce`]) is data-parallel: gradient-level
//! strategies (PCGrad, MGDA, ...) reduce the per-task gradients, task-specific gradients and
//! losses in one fused allreduce *before* aggregating (a reduction of the aggregate would
//! differ for non-linear aggregators), loss-level ones compute their weights and state (DWA's
//! history, GLS's weights, GradNorm's norms) from the reduced losses, so every rank computes
//! the same weights and update as one process with the global batch. The examples pass
//! [`World::optimizer`] to the models, so the same code trains on one rank or many.
//!
//! Sparse gradients: embedding gradients are dense tensors shaped like the table (see
//! [`crate::ops::gather`]), so they are reduced densely, like every other gradient: correct,
//! and for this project's vocabularies (12k x 100) cheaper than an allgather of rows.
//!
//! ```
//! use staticflow::distributed::{self, DistributedOptimizer};
//! use staticflow::prelude::*;
//! let world = distributed::init().unwrap(); // one rank without mpirun / without `mpi`
//! let g = Graph::with_seed(0);
//! let x = g.placeholder("x", &[None, Some(3)]);
//! let w = g.variable("w", init::glorot_uniform(&[3, 1]));
//! let loss = reduce_mean_all(square(matmul(x, w)));
//! let train = DistributedOptimizer::new(GradientDescent::new(0.1)).minimize(loss).unwrap();
//! distributed::check_same_graph(&g, world.comm()).unwrap();
//! let mut sess = Session::new(&g);
//! sess.run(&[g.global_variables_initializer().into()], &[]).unwrap();
//! distributed::broadcast_variables(&mut sess, world.comm(), 0).unwrap();
//! let xs = ndarray::Array2::<f32>::ones((4, 3));
//! sess.run(&[train.into()], &[(x, (&xs).into())]).unwrap();
//! ```

mod local;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod optimizer;
mod sync;

pub use crate::data::shard_range;
pub use crate::ops::collective::{allreduce_stats, Allreduce, AllreduceStats, Collective};
pub use local::InProcessCommunicator;
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiCommunicator;
pub use optimizer::{allreduce_gradients, allreduce_tensors, DistributedOptimizer};
pub use sync::{broadcast_variables, check_same_graph, graph_hash, save_on_root};

use crate::error::{Error, Result};
use crate::ops::collective::{register_collective, unregister_collective};
use crate::session::Session;
use crate::train::Optimizer;
use std::sync::Arc;

/// The registry key of the process's communicator, used by default by the allreduce ops.
pub const WORLD: &str = "world";

/// A communicator between ranks. All collectives must be called by every rank, in the same
/// order; an error on one rank (a rank left, a timeout) is reported as
/// [`Error::Communicator`].
pub trait Communicator: Collective {
    /// Replaces `buf` on every rank by `root`'s (any length: it is sent first).
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Replaces `buf` on every rank by `root`'s; every rank passes the same length.
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()>;
    /// Every rank's `x`, in rank order.
    fn allgather_u64(&self, x: u64) -> Result<Vec<u64>>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
    /// [`Collective::allreduce_sum`] with a typed error.
    fn allreduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.allreduce_sum(buf).map_err(|reason| self.error(reason))
    }
    /// An [`Error::Communicator`] naming this rank.
    fn error(&self, reason: String) -> Error {
        Error::Communicator {
            rank: self.rank(),
            size: self.size(),
            reason,
        }
    }
}

/// Registers `comm` under `group` for the allreduce ops run by the calling thread
/// (`thread_local`, one rank per thread) or by the whole process.
pub fn register(group: &str, comm: Arc<dyn Communicator>, thread_local: bool) {
    register_collective(group, comm, thread_local);
}

/// The process's communicator, registered under [`WORLD`] while it lives. Dropping it
/// unregisters it (and, with MPI, finalizes MPI): keep it alive until training is over.
pub struct World {
    comm: Arc<dyn Communicator>,
    thread_local: bool,
    fused: bool,
}

impl World {
    /// Wraps `comm` and registers it under [`WORLD`] (for this thread only if
    /// `thread_local`, else for the process).
    pub fn new(comm: Arc<dyn Communicator>, thread_local: bool) -> World {
        register(WORLD, Arc::clone(&comm), thread_local);
        let fused = std::env::var("STATICFLOW_ALLREDUCE_FUSION").as_deref() != Ok("0");
        World {
            comm,
            thread_local,
            fused,
        }
    }
    /// Tensor fusion on (the default: one allreduce per step) or off (one per gradient) for
    /// [`World::optimizer`] and [`World::allreduce`]. The environment variable
    /// `STATICFLOW_ALLREDUCE_FUSION=0` turns it off by default.
    pub fn with_fusion(mut self, on: bool) -> World {
        self.fused = on;
        self
    }
    /// How this world reduces across ranks ([`WORLD`], averaged, fused as set by
    /// [`World::with_fusion`]); `None` with a single rank. For
    /// [`crate::mtl::Tasks::with_allreduce`].
    pub fn allreduce(&self) -> Option<Allreduce> {
        (self.size() > 1).then(|| Allreduce {
            fused: self.fused,
            ..Allreduce::new(WORLD)
        })
    }
    /// This rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }
    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.comm.size()
    }
    /// True on rank 0, the rank that logs and writes checkpoints.
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }
    /// The communicator.
    pub fn comm(&self) -> &dyn Communicator {
        &*self.comm
    }
    /// A shared handle to the communicator.
    pub fn comm_arc(&self) -> Arc<dyn Communicator> {
        Arc::clone(&self.comm)
    }
    /// `opt` wrapped in a [`DistributedOptimizer`] when there are several ranks, `opt` itself
    /// otherwise (so a single rank builds exactly the graph it would without this module).
    /// Fused unless [`World::with_fusion`] turned fusion off. Pass it to the multi-task
    /// strategies too: they then reduce per-task gradients and losses before aggregating.
    pub fn optimizer<O: Optimizer + 'static>(&self, opt: O) -> Box<dyn Optimizer> {
        if self.size() > 1 {
            Box::new(DistributedOptimizer::new(opt).fusion(self.fused))
        } else {
            Box::new(opt)
        }
    }
    /// With several ranks: [`check_same_graph`], then [`broadcast_variables`] from rank 0.
    /// Call it on every rank after the initializer (or a restore), before training.
    pub fn sync_session(&self, sess: &mut Session<'_>) -> Result<()> {
        if self.size() > 1 {
            check_same_graph(sess.graph(), self.comm())?;
            broadcast_variables(sess, self.comm(), 0)?;
        }
        Ok(())
    }
    /// `"ranks":N,"allreduce_calls":C,"allreduce_s":S` (this process's allreduce totals so
    /// far), for the examples' JSON lines.
    pub fn json_fields(&self) -> String {
        let s = allreduce_stats();
        format!(
            "\"ranks\":{},\"allreduce_calls\":{},\"allreduce_s\":{:.3}",
            self.size(),
            s.calls,
            s.seconds
        )
    }
    /// Logs from rank 0 only: on other ranks, redirects this process's standard output to
    /// `/dev/null` (errors still reach stderr). A no-op on rank 0, without the `mpi` feature
    /// and off Unix.
    pub fn quiet_unless_root(&self) -> Result<()> {
        #[cfg(all(feature = "mpi", unix))]
        if !self.is_root() {
            mpi_comm::silence_stdout()?;
        }
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        unregister_collective(WORLD, self.thread_local);
    }
}

/// Starts this process's communicator and registers it under [`WORLD`].
///
/// With the `mpi` feature: initializes MPI (rank and size from `mpirun`; started without
/// `mpirun`, Open MPI runs the program as a single rank). Without it: a single rank. Call it
/// once, before building the graph; keep the [`World`] alive while training.
///
/// Errors: MPI was already initialized in this process.
pub fn init() -> Result<World> {
    #[cfg(feature = "mpi")]
    {
        let comm = MpiCommunicator::init()?;
        Ok(World::new(Arc::new(comm), false))
    }
    #[cfg(not(feature = "mpi"))]
    {
        let comm = InProcessCommunicator::world(1).remove(0);
        Ok(World::new(Arc::new(comm), false))
    }
}
