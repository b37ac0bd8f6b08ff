//! Keeping ranks in step: rank 0's variables broadcast to all, the same graph on every rank,
//! checkpoints written once.

use super::Communicator;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor, Value};
use crate::session::Session;
use crate::train::Saver;
use std::path::Path;

/// FNV-1a, 64 bits: a hash that is the same in every build and process.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The graph file's nodes as `(hash, "`name` (Op)")`, and the hash of the whole file.
fn node_digests(g: &Graph) -> Result<(u64, Vec<(u64, String)>)> {
    let text = g.to_json()?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::InvalidArgument(format!("graph JSON does not parse: {e}")))?;
    let nodes = json["nodes"].as_array().cloned().unwrap_or_default();
    let digests = nodes
        .iter()
        .map(|n| {
            let desc = format!(
                "`{}` ({}, output {})",
                n["name"].as_str().unwrap_or("?"),
                n["op"]["op"].as_str().unwrap_or("?"),
                n["output"]
            );
            (fnv1a(n.to_string().as_bytes()), desc)
        })
        .collect();
    Ok((fnv1a(text.as_bytes()), digests))
}

/// A 64-bit hash of the graph file ([`Graph::to_json`]): equal on every rank that built the
/// same graph.
pub fn graph_hash(g: &Graph) -> Result<u64> {
    Ok(node_digests(g)?.0)
}

/// Checks that every rank built the same graph (the same graph file, compared by hash), so
/// that their allreduce ops line up. Returns the hash. Call it on every rank.
///
/// Errors: [`Error::GraphMismatch`] on every rank, naming the lowest rank whose graph differs
/// from rank 0's and the first node where it differs (both ranks' name and op there).
pub fn check_same_graph(g: &Graph, comm: &dyn Communicator) -> Result<u64> {
    let (hash, nodes) = node_digests(g)?;
    let all = comm.allgather_u64(hash)?;
    if all.iter().all(|&h| h == hash) {
        return Ok(hash);
    }
    // Rank 0's per-node hashes to everyone; each rank finds its first differing node.
    let mut root: Vec<u8> = nodes.iter().flat_map(|(h, _)| h.to_le_bytes()).collect();
    comm.broadcast_bytes(&mut root, 0)?;
    let root: Vec<u64> = root
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let first = if all[comm.rank()] == all[0] {
        u64::MAX
    } else {
        (0..root.len().max(nodes.len()))
            .find(|&i| root.get(i) != nodes.get(i).map(|n| &n.0))
            .unwrap_or(nodes.len()) as u64
    };
    let firsts = comm.allgather_u64(first)?;
    let (rank, index) = firsts
        .iter()
        .enumerate()
        .find(|(_, &f)| f != u64::MAX)
        .map(|(r, &f)| (r, f as usize))
        .unwrap_or((1, 0));
    let describe = |i: usize| {
        nodes.get(i).map(|n| n.1.clone()).unwrap_or_else(|| {
            "(no node: the graphs differ in length, seed or initializers)".into()
        })
    };
    let mut root_node = describe(index).into_bytes();
    comm.broadcast_bytes(&mut root_node, 0)?;
    let mut rank_node = describe(index).into_bytes();
    comm.broadcast_bytes(&mut rank_node, rank)?;
    Err(Error::GraphMismatch {
        rank,
        index,
        root_node: String::from_utf8_lossy(&root_node).into_owned(),
        rank_node: String::from_utf8_lossy(&rank_node).into_owned(),
    })
}

/// Sets every variable of the session's graph (trainable ones, optimizer slots, the global
/// step) on every rank to `root`'s value: after the initializer, so all ranks start from the
/// same point, and after a restore on `root`. All f32 variables travel in one broadcast, all
/// i64 and bool ones (as bytes) in another. Call it on every rank.
///
/// Errors: a variable is uninitialized on some rank (every rank gets the error, naming the
/// rank), or the communicator failed.
pub fn broadcast_variables(
    sess: &mut Session<'_>,
    comm: &dyn Communicator,
    root: usize,
) -> Result<()> {
    let g = sess.graph();
    let vars = g.global_variables();
    let missing = vars
        .iter()
        .position(|v| !sess.is_initialized(*v).unwrap_or(false));
    let flags = comm.allgather_u64(missing.map_or(u64::MAX, |i| i as u64))?;
    if let Some((r, &i)) = flags.iter().enumerate().find(|(_, &f)| f != u64::MAX) {
        return Err(comm.error(format!(
            "cannot broadcast variables: `{}` is uninitialized on rank {r} (run the initializer or restore first)",
            vars.get(i as usize).map(|v| v.name()).unwrap_or_default()
        )));
    }
    let mut floats: Vec<f32> = Vec::new();
    let mut ints: Vec<u8> = Vec::new();
    for v in &vars {
        match sess.variable_value(*v)? {
            Value::F32(a) => floats.extend(a.iter()),
            Value::I64(a) => ints.extend(a.iter().flat_map(|x| x.to_le_bytes())),
            Value::Bool(a) => ints.extend(a.iter().map(|&x| x as u8)),
            Value::Bytes(_) => return Err(not_numeric(comm, *v)),
        }
    }
    comm.broadcast_f32(&mut floats, root)?;
    comm.broadcast_bytes(&mut ints, root)?;
    let (mut fi, mut ii) = (0usize, 0usize);
    for v in vars {
        let value = match sess.variable_value(v)? {
            Value::F32(a) => {
                let mut a = a.clone();
                let n = a.len();
                a.iter_mut()
                    .zip(&floats[fi..fi + n])
                    .for_each(|(d, s)| *d = *s);
                fi += n;
                Value::F32(a)
            }
            Value::I64(a) => {
                let mut a = a.clone();
                let n = a.len();
                let bytes = ints.get(ii..ii + 8 * n).ok_or_else(|| {
                    comm.error(format!(
                        "rank {root} sent fewer i64 values than `{}` needs",
                        v.name()
                    ))
                })?;
                a.iter_mut()
                    .zip(bytes.chunks_exact(8))
                    .for_each(|(d, s)| *d = i64::from_le_bytes(s.try_into().expect("8 bytes")));
                ii += 8 * n;
                Value::I64(a)
            }
            Value::Bool(a) => {
                let mut a = a.clone();
                let n = a.len();
                let bytes = ints.get(ii..ii + n).ok_or_else(|| {
                    comm.error(format!(
                        "rank {root} sent fewer bool values than `{}` needs",
                        v.name()
                    ))
                })?;
                a.iter_mut().zip(bytes).for_each(|(d, &s)| *d = s != 0);
                ii += n;
                Value::Bool(a)
            }
            Value::Bytes(_) => return Err(not_numeric(comm, v)),
        };
        sess.set_variable(v, value)?;
    }
    Ok(())
}

/// Writes the checkpoint on rank 0 only, then waits for it on every rank, so no rank reads a
/// half-written file and the file is written once. Call it on every rank.
///
/// Errors: rank 0's save error on rank 0; on the other ranks an [`Error::Communicator`]
/// saying that rank 0 failed to save.
pub fn save_on_root(
    saver: &Saver<'_>,
    sess: &Session<'_>,
    path: impl AsRef<Path>,
    comm: &dyn Communicator,
) -> Result<()> {
    let path = path.as_ref();
    let r = if comm.rank() == 0 {
        saver.save(sess, path)
    } else {
        Ok(())
    };
    let flags = comm.allgather_u64(r.is_err() as u64)?;
    r?;
    if flags[0] != 0 {
        return Err(comm.error(format!(
            "rank 0 failed to save the checkpoint {}",
            path.display()
        )));
    }
    Ok(())
}

/// Variables hold f32 or i64 values; a bytes value (summary ops only) cannot be broadcast.
fn not_numeric(comm: &dyn Communicator, v: Tensor<'_>) -> Error {
    comm.error(format!("variable `{}` holds bytes, not numbers", v.name()))
}
