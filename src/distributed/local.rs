//! The in-process communicator: one rank per thread, collectives through shared memory. Used
//! by the tests (the same code paths as MPI, without MPI) and as the single rank of a program
//! built without the `mpi` feature.

use super::Communicator;
use crate::error::Result;
use crate::ops::collective::Collective;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One round of contributions (one collective call on every rank).
struct Round {
    parts: Vec<Option<Arc<Vec<u8>>>>,
    taken: usize,
}

#[derive(Default)]
struct State {
    rounds: HashMap<u64, Round>,
    left: Vec<bool>,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

/// One rank of an in-process group (see the module docs). Every collective is an allgather of
/// bytes: each rank deposits its part and waits for the others'. Reductions sum the parts in
/// rank order, so every rank gets bit-identical results.
///
/// A rank whose communicator is dropped (its thread ended or failed) makes the others' pending
/// and later collectives fail at once; a rank that stops calling collectives without leaving
/// makes them fail after the timeout (60 s unless set with
/// [`InProcessCommunicator::world_with_timeout`]).
pub struct InProcessCommunicator {
    rank: usize,
    size: usize,
    round: AtomicU64,
    timeout: Duration,
    shared: Arc<Shared>,
}

impl InProcessCommunicator {
    /// `size` connected ranks (give one to each thread), with a 60 s timeout.
    pub fn world(size: usize) -> Vec<InProcessCommunicator> {
        Self::world_with_timeout(size, Duration::from_secs(60))
    }

    /// `size` connected ranks whose collectives fail after waiting `timeout` for the others.
    pub fn world_with_timeout(size: usize, timeout: Duration) -> Vec<InProcessCommunicator> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rounds: HashMap::new(),
                left: vec![false; size],
            }),
            cv: Condvar::new(),
        });
        (0..size)
            .map(|rank| InProcessCommunicator {
                rank,
                size,
                round: AtomicU64::new(0),
                timeout,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    /// Deposits `data` for this rank's next collective and returns every rank's part.
    fn exchange(&self, data: Vec<u8>) -> std::result::Result<Vec<Arc<Vec<u8>>>, String> {
        let r = self.round.fetch_add(1, Ordering::SeqCst);
        if self.size == 1 {
            return Ok(vec![Arc::new(data)]);
        }
        let n = self.size;
        let mut st = self.shared.state.lock().map_err(|_| "poisoned lock")?;
        st.rounds
            .entry(r)
            .or_insert_with(|| Round {
                parts: vec![None; n],
                taken: 0,
            })
            .parts[self.rank] = Some(Arc::new(data));
        self.shared.cv.notify_all();
        let deadline = Instant::now() + self.timeout;
        loop {
            let round = &st.rounds[&r];
            if round.parts.iter().all(Option::is_some) {
                break;
            }
            let missing: Vec<usize> = (0..n).filter(|&k| round.parts[k].is_none()).collect();
            if let Some(k) = missing.iter().find(|&&k| st.left[k]) {
                return Err(format!("rank {k} left before collective #{r}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {:.1} s waiting for rank(s) {missing:?} at collective #{r}",
                    self.timeout.as_secs_f64()
                ));
            }
            st = self
                .shared
                .cv
                .wait_timeout(st, deadline - now)
                .map_err(|_| "poisoned lock")?
                .0;
        }
        let round = st.rounds.get_mut(&r).expect("round exists");
        let parts: Vec<Arc<Vec<u8>>> = round.parts.iter().flatten().cloned().collect();
        round.taken += 1;
        if round.taken == n {
            st.rounds.remove(&r);
        }
        Ok(parts)
    }
}

impl Drop for InProcessCommunicator {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            if let Some(l) = st.left.get_mut(self.rank) {
                *l = true;
            }
        }
        self.shared.cv.notify_all();
    }
}

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}

impl Collective for InProcessCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn allreduce_sum(&self, buf: &mut [f32]) -> std::result::Result<(), String> {
        let parts = self.exchange(f32_bytes(buf))?;
        if let Some((k, p)) = parts
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() != 4 * buf.len())
        {
            return Err(format!(
                "rank {k} reduced {} floats, rank {} {}",
                p.len() / 4,
                self.rank,
                buf.len()
            ));
        }
        for (i, x) in buf.iter_mut().enumerate() {
            let mut s = f32_at(&parts[0], i);
            for p in &parts[1..] {
                s += f32_at(p, i);
            }
            *x = s;
        }
        Ok(())
    }
}

impl Communicator for InProcessCommunicator {
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        let parts = self
            .exchange(if self.rank == root {
                buf.clone()
            } else {
                Vec::new()
            })
            .map_err(|e| self.error(e))?;
        let p = parts
            .get(root)
            .ok_or_else(|| self.error(format!("no rank {root}")))?;
        buf.clear();
        buf.extend_from_slice(p);
        Ok(())
    }
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()> {
        let mut bytes = f32_bytes(buf);
        self.broadcast_bytes(&mut bytes, root)?;
        if bytes.len() != 4 * buf.len() {
            return Err(self.error(format!(
                "broadcast of {} floats from rank {root}, rank {} expected {}",
                bytes.len() / 4,
                self.rank,
                buf.len()
            )));
        }
        for (i, x) in buf.iter_mut().enumerate() {
            *x = f32_at(&bytes, i);
        }
        Ok(())
    }
    fn allgather_u64(&self, x: u64) -> Result<Vec<u64>> {
        let parts = self
            .exchange(x.to_le_bytes().to_vec())
            .map_err(|e| self.error(e))?;
        parts
            .iter()
            .enumerate()
            .map(|(k, p)| match p.as_slice().try_into() {
                Ok(b) => Ok(u64::from_le_bytes(b)),
                Err(_) => Err(self.error(format!(
                    "rank {k} called another collective than allgather (collectives out of order)"
                ))),
            })
            .collect()
    }
    fn barrier(&self) -> Result<()> {
        self.exchange(Vec::new()).map_err(|e| self.error(e))?;
        Ok(())
    }
}
