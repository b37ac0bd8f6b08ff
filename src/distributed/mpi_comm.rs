//! The MPI communicator (cargo feature `mpi`): rsmpi over the system's Open MPI, one rank per
//! process, `MPI_COMM_WORLD`.
//!
//! MPI calls are serialised by a mutex (MPI is initialised with `MPI_THREAD_SERIALIZED`), so
//! the communicator can be shared between threads. MPI's default error handler is kept: an
//! MPI error, or a rank that exits without finalizing, makes `mpirun` abort the whole job
//! instead of leaving the other ranks waiting in a collective.

use super::Communicator;
use crate::error::{Error, Result};
use crate::ops::collective::Collective;
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::Threading;
use std::sync::Mutex;

/// One rank of `MPI_COMM_WORLD`. Created by [`super::init`]; dropping the last handle
/// finalizes MPI.
pub struct MpiCommunicator {
    rank: usize,
    size: usize,
    /// Serialises MPI calls; holds the send buffer of allreduce (MPI needs distinct buffers).
    scratch: Mutex<Vec<f32>>,
    _universe: Universe,
}

impl MpiCommunicator {
    /// Initializes MPI (thread level `SERIALIZED`). Started without `mpirun`, Open MPI runs
    /// the program as a single rank.
    ///
    /// Errors: MPI was already initialized in this process.
    pub fn init() -> Result<MpiCommunicator> {
        let (universe, _level) =
            mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| {
                Error::Communicator {
                    rank: 0,
                    size: 0,
                    reason:
                        "MPI is already initialized in this process (call distributed::init once)"
                            .into(),
                }
            })?;
        let world = universe.world();
        Ok(MpiCommunicator {
            rank: world.rank() as usize,
            size: world.size() as usize,
            scratch: Mutex::new(Vec::new()),
            _universe: universe,
        })
    }

    fn lock(&self) -> std::result::Result<std::sync::MutexGuard<'_, Vec<f32>>, String> {
        self.scratch
            .lock()
            .map_err(|_| "a previous MPI call panicked".to_string())
    }
}

impl Collective for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn allreduce_sum(&self, buf: &mut [f32]) -> std::result::Result<(), String> {
        let mut send = self.lock()?;
        send.clear();
        send.extend_from_slice(buf);
        SimpleCommunicator::world().all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
}

impl Communicator for MpiCommunicator {
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        let _g = self.lock().map_err(|e| self.error(e))?;
        let world = SimpleCommunicator::world();
        let proc = world.process_at_rank(root as i32);
        let mut len = buf.len() as u64;
        proc.broadcast_into(&mut len);
        buf.resize(len as usize, 0);
        if len > 0 {
            proc.broadcast_into(&mut buf[..]);
        }
        Ok(())
    }
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()> {
        let _g = self.lock().map_err(|e| self.error(e))?;
        let world = SimpleCommunicator::world();
        let mut len = buf.len() as u64;
        world.process_at_rank(root as i32).broadcast_into(&mut len);
        if len as usize != buf.len() {
            return Err(self.error(format!(
                "broadcast of {len} floats from rank {root}, this rank expected {}",
                buf.len()
            )));
        }
        if !buf.is_empty() {
            world.process_at_rank(root as i32).broadcast_into(buf);
        }
        Ok(())
    }
    fn allgather_u64(&self, x: u64) -> Result<Vec<u64>> {
        let _g = self.lock().map_err(|e| self.error(e))?;
        let mut all = vec![0u64; self.size];
        SimpleCommunicator::world().all_gather_into(&x, &mut all[..]);
        Ok(all)
    }
    fn barrier(&self) -> Result<()> {
        let _g = self.lock().map_err(|e| self.error(e))?;
        SimpleCommunicator::world().barrier();
        Ok(())
    }
}

/// Redirects standard output to `/dev/null` (logs from rank 0 only).
#[cfg(unix)]
pub(super) fn silence_stdout() -> Result<()> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("/dev/null", e))?;
    let _ = std::io::stdout().flush();
    // SAFETY: dup2 on two valid descriptors; fd 1 stays open (now /dev/null).
    if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
        return Err(Error::io("/dev/null", std::io::Error::last_os_error()));
    }
    Ok(())
}
