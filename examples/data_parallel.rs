//! Data-parallel SGD on a small model with an embedding (`models::embedding_mlp`), Horovod
//! style; what `tests/mpi.rs` runs under `mpirun -np 2`.
//!
//! ```text
//! cargo build --release --features mpi --example data_parallel
//! mpirun -np 2 --allow-run-as-root target/release/examples/data_parallel [train|fail|mismatch|pcgrad] [--steps N]
//! ```
//!
//! - `train` (default): checks that every rank built the same graph, broadcasts rank 0's
//!   variables (each rank initialises with its own seed first, so the broadcast matters),
//!   trains `--steps` (20) steps of SGD on a global batch of 32 split over the ranks, then
//!   checks that the variables are bit-identical across ranks and, on rank 0, compares them
//!   with one process training on the whole batch. Rank 0 prints one JSON line.
//! - `fail`: rank 1 exits with code 3 after 2 steps; the other ranks must not hang (`mpirun`
//!   aborts the job).
//! - `mismatch`: rank 1 builds a wider hidden layer; every rank fails naming the first
//!   differing node.
//! - `pcgrad`: as `train`, with a second task (another linear head on the same hidden layer)
//!   trained with `mtl::PcGrad` through the `DistributedOptimizer`: per-task gradients are
//!   averaged across ranks before the projection, so the ranks still match one process.
//!
//! Without `mpirun` (or without the feature) it runs as a single rank.

use staticflow::distributed::{self, DistributedOptimizer};
use staticflow::models::embedding_mlp::{self, Batch};
use staticflow::mtl::{self, Strategy};
use staticflow::prelude::*;

/// Trains `steps` steps; `shard`: `(rank, ranks)` of a distributed run, `None`: one process
/// with the whole batch. Returns the trainable variables, flattened.
fn train(
    world: Option<&distributed::World>,
    steps: usize,
    fail_at: Option<usize>,
    hidden: usize,
    pcgrad: bool,
) -> Result<Vec<f32>> {
    let (rank, ranks) = world.map_or((0, 1), |w| (w.rank(), w.size()));
    // Each rank initialises differently: the broadcast must make them agree.
    let g = Graph::with_seed(3);
    let m = embedding_mlp::build(&g, hidden, 2);
    let sgd = GradientDescent::new(0.3);
    let tasks = mtl::Tasks::new(&g)
        .task("a", m.losses[0])
        .task("b", m.losses[1]);
    let op = match (world, pcgrad) {
        (Some(_), false) => DistributedOptimizer::new(sgd).minimize(m.losses[0])?,
        (None, false) => sgd.minimize(m.losses[0])?,
        (Some(_), true) => {
            mtl::PcGrad::default()
                .minimize(&DistributedOptimizer::new(sgd), &tasks)?
                .op
        }
        (None, true) => mtl::PcGrad::default().minimize(&sgd, &tasks)?.op,
    };
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    if let Some(w) = world {
        distributed::check_same_graph(&g, w.comm())?;
        if rank != 0 {
            for v in g.trainable_variables() {
                let a = sess.variable_value(v)?.as_f32()?.mapv(|x| x + 1.0);
                sess.set_variable(v, Value::F32(a))?;
            }
        }
        distributed::broadcast_variables(&mut sess, w.comm(), 0)?;
    }
    for s in 0..steps {
        if fail_at == Some(s) && rank == 1 {
            eprintln!("rank 1: exiting on purpose at step {s}");
            std::process::exit(3);
        }
        let shard = Batch::synthetic(s, 32, 2).rows(distributed::shard_range(32, ranks, rank)?);
        let feeds = shard.feeds(&m, if pcgrad { 2 } else { 1 });
        sess.run(&[op.into()], &feeds)?;
    }
    let mut flat = Vec::new();
    for v in g.trainable_variables() {
        flat.extend(sess.variable_value(v)?.as_f32()?.iter());
    }
    Ok(flat)
}

fn run() -> Result<()> {
    let mut mode = "train".to_string();
    let mut steps = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => {
                steps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Error::InvalidArgument("--steps: expected an integer".into()))?
            }
            "train" | "fail" | "mismatch" | "pcgrad" => mode = a,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown argument `{other}` (usage: data_parallel [train|fail|mismatch|pcgrad] [--steps N])"
                )))
            }
        }
    }
    let world = distributed::init()?;
    let hidden = if mode == "mismatch" && world.rank() == 1 {
        9
    } else {
        8
    };
    let fail_at = (mode == "fail").then_some(2);
    let steps = if mode == "fail" {
        steps.max(1000)
    } else {
        steps
    };
    let t0 = std::time::Instant::now();
    let pcgrad = mode == "pcgrad";
    let mine = train(Some(&world), steps, fail_at, hidden, pcgrad)?;
    let seconds = t0.elapsed().as_secs_f64();
    // Bit-identical across ranks: every rank compares its bytes with rank 0's.
    let bits: Vec<u8> = mine.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut root_bits = bits.clone();
    world.comm().broadcast_bytes(&mut root_bits, 0)?;
    let same = world.comm().allgather_u64((root_bits == bits) as u64)?;
    let identical = same.iter().all(|&s| s == 1);
    if world.is_root() {
        let single = train(None, steps, None, hidden, pcgrad)?;
        let scale = single.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = mine
            .iter()
            .zip(&single)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let stats = distributed::allreduce_stats();
        println!(
            "{{\"example\":\"data_parallel\",\"ranks\":{},\"steps\":{steps},\"identical_across_ranks\":{identical},\
             \"max_rel_diff_vs_one_process\":{:e},\"allreduce_calls\":{},\"allreduce_s\":{:.6},\"seconds\":{seconds:.3}}}",
            world.size(),
            diff / scale.max(1e-12),
            stats.calls,
            stats.seconds
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
