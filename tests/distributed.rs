//! Data-parallel training with the in-process communicator (one rank per thread): the same
//! code paths as under MPI (`tests/mpi.rs`), without MPI.

mod skip;

use ndarray::{Array1, ArrayD, IxDyn};
use staticflow::distributed::{
    self, broadcast_variables, check_same_graph, shard_range, Allreduce, DistributedOptimizer,
    InProcessCommunicator, WORLD,
};
use staticflow::models::embedding_mlp::{self, Batch};
use staticflow::mtl::{self, Strategy};
use staticflow::prelude::*;
use staticflow::train::{OptimizerOptions, UpdateRule};
use std::sync::Arc;
use std::time::Duration;

/// Runs `f(rank, world)` on one thread per communicator; results in rank order.
fn run_ranks<R: Send>(
    comms: Vec<InProcessCommunicator>,
    f: impl Fn(usize, &distributed::World) -> R + Sync,
) -> Vec<R> {
    std::thread::scope(|s| {
        let handles: Vec<_> = comms
            .into_iter()
            .enumerate()
            .map(|(rank, c)| {
                let f = &f;
                s.spawn(move || {
                    let world = distributed::World::new(Arc::new(c), true);
                    f(rank, &world)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn variables(sess: &Session, g: &Graph) -> Vec<(String, ArrayD<f32>)> {
    g.trainable_variables()
        .into_iter()
        .map(|v| {
            (
                v.name(),
                sess.variable_value(v).unwrap().as_f32().unwrap().clone(),
            )
        })
        .collect()
}

/// `steps` steps of SGD on the global batch of 32 split over `ranks` ranks.
fn train(rank: usize, ranks: usize, steps: usize) -> Vec<(String, ArrayD<f32>)> {
    let g = Graph::with_seed(3);
    let m = embedding_mlp::build(&g, 8, 1);
    let op = DistributedOptimizer::new(GradientDescent::new(0.3))
        .minimize(m.losses[0])
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    for s in 0..steps {
        let b = Batch::synthetic(s, 32, 1);
        let r = shard_range(32, ranks, rank).unwrap();
        let b = b.rows(r);
        sess.run(&[op.into()], &b.feeds(&m, 1)).unwrap();
    }
    variables(&sess, &g)
}

#[test]
fn two_ranks_of_batch_16_match_one_process_of_batch_32() {
    let steps = 6;
    let single = run_ranks(InProcessCommunicator::world(1), |r, _| train(r, 1, steps)).remove(0);
    let ranks = run_ranks(InProcessCommunicator::world(2), |r, _| train(r, 2, steps));
    // Both ranks hold bit-identical variables.
    assert_eq!(ranks[0], ranks[1]);
    let mut moved = 0.0f32;
    for ((name, a), (_, b)) in ranks[0].iter().zip(&single) {
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-3);
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            diff <= 1e-6 * scale,
            "{name}: max diff {diff} (scale {scale})"
        );
        moved += b.iter().map(|x| x.abs()).sum::<f32>();
    }
    // The single run really trained (not a vacuous comparison of initial values).
    let fresh = {
        let g = Graph::with_seed(3);
        embedding_mlp::build(&g, 8, 1);
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        variables(&sess, &g)
    };
    assert!(fresh.iter().zip(&single).any(|((_, a), (_, b))| a != b));
    assert!(moved > 0.0);
}

#[test]
fn gradients_are_fused_into_one_allreduce_per_step() {
    let kinds = |fused: bool| {
        let g = Graph::with_seed(3);
        let m = embedding_mlp::build(&g, 8, 1);
        let mut opt = DistributedOptimizer::new(GradientDescent::new(0.3));
        if !fused {
            opt = opt.without_fusion();
        }
        let op = opt.minimize(m.losses[0]).unwrap();
        let mut sess = Session::new(&g);
        let b = Batch::synthetic(0, 4, 1);
        let nodes = sess.plan_nodes(&[op.into()], &b.feeds(&m, 1)).unwrap();
        nodes
            .iter()
            .filter(|n| n.rsplit('/').next().unwrap().starts_with("allreduce"))
            .count()
    };
    assert_eq!(kinds(true), 1);
    assert_eq!(
        kinds(false),
        4,
        "one allreduce per variable (emb, w1, b1, head0/w)"
    );
}

#[test]
fn broadcast_makes_variables_and_slots_bit_identical() {
    let out = run_ranks(InProcessCommunicator::world(3), |rank, world| {
        // Different seeds: different initial values on every rank.
        let g = Graph::with_seed(10 + rank as u64);
        let m = embedding_mlp::build(&g, 5, 1);
        // A bool variable too: false on rank 0, true elsewhere.
        let _flags = g.variable(
            "flags",
            init::constant(&[3], rank as f32).with_dtype(DType::Bool),
        );
        let step = get_or_create_global_step(&g).unwrap();
        let op = Adam::new(0.01)
            .with_global_step(step)
            .minimize(m.losses[0])
            .unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        // One local step so the Adam slots and the step counter differ too.
        let b = Batch::synthetic(rank, 4, 1);
        sess.run(&[op.into()], &b.feeds(&m, 1)).unwrap();
        let before: Vec<Value> = g
            .global_variables()
            .into_iter()
            .map(|v| sess.variable_value(v).unwrap().clone())
            .collect();
        broadcast_variables(&mut sess, world.comm(), 0).unwrap();
        let after: Vec<Value> = g
            .global_variables()
            .into_iter()
            .map(|v| sess.variable_value(v).unwrap().clone())
            .collect();
        (before, after)
    });
    let n = out[0].1.len();
    assert!(
        n >= 10,
        "variables, Adam slots, beta powers and the step: {n}"
    );
    assert_eq!(out[0].0, out[0].1, "rank 0 keeps its values");
    for (before, after) in &out[1..] {
        assert_eq!(
            after, &out[0].1,
            "every variable equals rank 0's bit for bit"
        );
        assert_ne!(before, after, "the ranks did start from different values");
    }
}

#[test]
fn mismatched_graphs_name_the_first_differing_node() {
    let out = run_ranks(InProcessCommunicator::world(2), |rank, world| {
        let g = Graph::with_seed(3);
        embedding_mlp::build(&g, if rank == 0 { 8 } else { 9 }, 1);
        check_same_graph(&g, world.comm())
    });
    for r in &out {
        let e = r.as_ref().unwrap_err();
        assert!(matches!(e, Error::GraphMismatch { rank: 1, .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("`w1/Fill`") || msg.contains("`w1`"), "{msg}");
        assert!(msg.contains("rank 1"), "{msg}");
    }
    let same = run_ranks(InProcessCommunicator::world(2), |_, world| {
        let g = Graph::with_seed(3);
        embedding_mlp::build(&g, 8, 1);
        check_same_graph(&g, world.comm())
    });
    assert_eq!(same[0].as_ref().unwrap(), same[1].as_ref().unwrap());
}

/// Rank 0 trains `steps` steps; rank 1 stops after 2 (`leave`: its thread ends; otherwise it
/// stays alive but stops calling collectives). Rank 0 must end with an error, not hang.
fn failing_rank(leave: bool) -> String {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let comms = InProcessCommunicator::world_with_timeout(2, Duration::from_millis(500));
    let out = run_ranks(comms, |rank, _| {
        let g = Graph::with_seed(3);
        let m = embedding_mlp::build(&g, 8, 1);
        let op = DistributedOptimizer::new(GradientDescent::new(0.1))
            .minimize(m.losses[0])
            .unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let steps = if rank == 0 { 10 } else { 2 };
        for s in 0..steps {
            let b = Batch::synthetic(s, 8, 1);
            let r = sess.run(&[op.into()], &b.feeds(&m, 1));
            if let Err(e) = r {
                tx.send(()).unwrap();
                return Some(e.to_string());
            }
        }
        if rank == 1 && !leave {
            // Stay in the group without calling collectives until rank 0 gave up.
            rx.lock().unwrap().recv().unwrap();
        }
        None
    });
    assert!(out[1].is_none(), "rank 1 ran its 2 steps");
    out[0].clone().expect("rank 0 must fail")
}

#[test]
fn a_rank_that_leaves_makes_the_others_fail() {
    let msg = failing_rank(true);
    assert!(
        msg.contains("rank 1 left") || msg.contains("timed out"),
        "{msg}"
    );
    assert!(msg.contains("allreduce"), "{msg}");
}

#[test]
fn a_rank_that_stalls_makes_the_others_time_out() {
    let msg = failing_rank(false);
    assert!(msg.contains("timed out"), "{msg}");
    assert!(msg.contains("[1]"), "names the missing rank: {msg}");
}

#[test]
fn running_a_distributed_op_without_a_communicator_says_so() {
    let g = Graph::with_seed(3);
    let m = embedding_mlp::build(&g, 4, 1);
    let op = DistributedOptimizer::new(GradientDescent::new(0.1))
        .with_group("nobody")
        .minimize(m.losses[0])
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let b = Batch::synthetic(0, 4, 1);
    let e = sess.run(&[op.into()], &b.feeds(&m, 1)).unwrap_err();
    assert!(
        e.to_string()
            .contains("no communicator is registered under `nobody`"),
        "{e}"
    );
}

#[test]
fn per_task_losses_and_gradients_reduce_to_the_same_values_on_every_rank() {
    // The multi-task primitive: losses (scalars) and per-task gradients, averaged.
    let out = run_ranks(InProcessCommunicator::world(2), |rank, _| {
        let g = Graph::with_seed(3);
        let a = g.placeholder("task_losses", [Some(2)]);
        let grads = g.placeholder("task_grads", [Some(2), Some(3)]);
        let red = distributed::allreduce_tensors(&[a, grads], WORLD, true, true).unwrap();
        let mut sess = Session::new(&g);
        let la = Array1::from(vec![1.0f32 + rank as f32, 10.0 * (rank as f32 + 1.0)]).into_dyn();
        let ga = ArrayD::from_elem(IxDyn(&[2, 3]), rank as f32 * 2.0);
        let o = sess
            .run(
                &[red[0].into(), red[1].into()],
                &[(a, (&la).into()), (grads, (&ga).into())],
            )
            .unwrap();
        (o.f32(0).unwrap().clone(), o.f32(1).unwrap().clone())
    });
    assert_eq!(out[0], out[1]);
    assert_eq!(out[0].0.as_slice().unwrap(), &[1.5, 15.0]);
    assert!(out[0].1.iter().all(|&x| x == 1.0));
}

#[test]
fn batches_split_evenly_or_refuse_clearly() {
    assert_eq!(shard_range(32, 2, 0).unwrap(), 0..16);
    assert_eq!(shard_range(32, 2, 1).unwrap(), 16..32);
    assert_eq!(shard_range(7, 3, 2).unwrap(), 4..7);
    let e = shard_range(1, 2, 0).unwrap_err().to_string();
    assert!(e.contains("cannot be split over 2 ranks"), "{e}");
    assert!(shard_range(4, 2, 2).is_err());
}

#[test]
fn dataset_shards_are_disjoint_and_cover_the_data() {
    use staticflow::data::Dataset;
    let ds = Dataset::from_vec((0..10i64).collect());
    let parts: Vec<Vec<i64>> = (0..3)
        .map(|i| {
            ds.clone()
                .shard(3, i)
                .unwrap()
                .iter()
                .collect::<Result<_>>()
                .unwrap()
        })
        .collect();
    assert_eq!(parts[0], vec![0, 3, 6, 9]);
    assert_eq!(parts[1], vec![1, 4, 7]);
    assert_eq!(parts[2], vec![2, 5, 8]);
    assert!(ds.clone().shard(3, 3).is_err());
    assert!(ds.shard(0, 0).is_err());
}

#[test]
fn init_without_mpi_is_a_single_rank() {
    if cfg!(feature = "mpi") {
        skip::skip(
            "init_without_mpi_is_a_single_rank",
            "built with the `mpi` feature (tests/mpi.rs covers init)",
        );
        return;
    }
    let w = distributed::init().unwrap();
    assert_eq!((w.rank(), w.size(), w.is_root()), (0, 1, true));
    w.comm().barrier().unwrap();
}

/// A data-parallel optimizer that hides it (`allreduce()` is `None`): the strategy then
/// aggregates each rank's own per-task gradients and the optimizer averages the aggregates,
/// which is what must NOT happen (it differs for non-linear strategies).
struct HiddenDistributed(DistributedOptimizer<GradientDescent>);

impl Optimizer for HiddenDistributed {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn options(&self) -> &OptimizerOptions {
        self.0.options()
    }
    fn options_mut(&mut self) -> &mut OptimizerOptions {
        self.0.options_mut()
    }
    fn update_rule(&self) -> Result<UpdateRule> {
        self.0.update_rule()
    }
    fn apply_gradients<'g>(&self, gv: &[(Tensor<'g>, Tensor<'g>)]) -> Result<Operation<'g>> {
        self.0.apply_gradients(gv)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Dp {
    /// One process, plain optimizer.
    Single,
    /// `DistributedOptimizer` passed to the strategy.
    Wired,
    /// The same, hidden from the strategy.
    Hidden,
}

/// `steps` steps of `strategy` on the global batch of 32 split over `ranks` ranks; every f32
/// variable (trainable ones and the strategy's state) at the end.
fn train_tasks(
    strategy: &str,
    dp: Dp,
    rank: usize,
    ranks: usize,
    steps: usize,
) -> Vec<(String, ArrayD<f32>)> {
    let g = Graph::with_seed(5);
    let m = embedding_mlp::build(&g, 8, 2);
    let mut tasks = mtl::Tasks::new(&g)
        .task("a", m.losses[0])
        .task("b", m.losses[1]);
    let s: Box<dyn mtl::Strategy> = match strategy {
        "dwa" => Box::new(mtl::Dwa {
            temperature: 2.0,
            period: 2,
        }),
        "mgda_rep" => {
            tasks = tasks.rep_grad(m.h);
            Box::new(mtl::Mgda::default())
        }
        "gradnorm_rep" => {
            tasks = tasks.rep_grad(m.h);
            Box::new(mtl::GradNorm::default())
        }
        name => mtl::by_name(name).unwrap(),
    };
    let sgd = GradientDescent::new(0.2);
    let train = match dp {
        Dp::Single => s.minimize(&sgd, &tasks),
        Dp::Wired => s.minimize(&DistributedOptimizer::new(sgd), &tasks),
        Dp::Hidden => s.minimize(&HiddenDistributed(DistributedOptimizer::new(sgd)), &tasks),
    }
    .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    for st in 0..steps {
        // Task b's target mostly opposes task a's, so the tasks' gradients conflict and the
        // non-linear strategies (PCGrad's projection) act.
        let mut b = Batch::synthetic(st, 32, 2);
        b.targets[1] = &b.targets[1] * 0.3 - &b.targets[0];
        let b = b.rows(shard_range(32, ranks, rank).unwrap());
        sess.run(&[(&train).into()], &b.feeds(&m, 2)).unwrap();
    }
    g.global_variables()
        .into_iter()
        .filter_map(|v| match sess.variable_value(v).unwrap() {
            Value::F32(a) => Some((v.name(), a.clone())),
            _ => None,
        })
        .collect()
}

/// Largest `|a - b| / max(|b|, 1e-3)` over the variables, with the variable's name.
fn max_rel_diff(a: &[(String, ArrayD<f32>)], b: &[(String, ArrayD<f32>)]) -> (f32, String) {
    assert_eq!(a.len(), b.len());
    let mut worst = (0f32, String::new());
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        let diff = x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs())) / scale;
        if diff > worst.0 || diff.is_nan() {
            worst = (diff, name.clone());
        }
    }
    worst
}

#[test]
fn mtl_strategies_reduce_per_task_gradients_and_losses_before_aggregating() {
    let steps = 6;
    for strategy in [
        "pcgrad",
        "mgda",
        "dwa",
        "gls",
        "upgrad",
        "gradnorm",
        "mgda_rep",
        "gradnorm_rep",
    ] {
        let single = run_ranks(InProcessCommunicator::world(1), |r, _| {
            train_tasks(strategy, Dp::Single, r, 1, steps)
        })
        .remove(0);
        let ranks = run_ranks(InProcessCommunicator::world(2), |r, _| {
            train_tasks(strategy, Dp::Wired, r, 2, steps)
        });
        assert_eq!(
            ranks[0], ranks[1],
            "{strategy}: ranks must be bit-identical"
        );
        let (diff, name) = max_rel_diff(&ranks[0], &single);
        assert!(
            diff <= 1e-6,
            "{strategy}: `{name}` differs by {diff} (relative) from one process"
        );
        // Not vacuous: the aggregate of each rank's own gradients, averaged, is another update.
        let hidden = run_ranks(InProcessCommunicator::world(2), |r, _| {
            train_tasks(strategy, Dp::Hidden, r, 2, steps)
        });
        let (naive, name) = max_rel_diff(&hidden[0], &single);
        eprintln!("{strategy}: data-parallel {diff:e}, naive {naive:e} (`{name}`)");
        assert!(
            naive > 1e-4,
            "{strategy}: the naive reduction should differ, got {naive} at `{name}`"
        );
    }
}

#[test]
fn a_data_parallel_optimizer_with_a_local_task_set_is_refused() {
    let g = Graph::with_seed(5);
    let m = embedding_mlp::build(&g, 8, 2);
    let tasks = mtl::Tasks::new(&g)
        .task("a", m.losses[0])
        .task("b", m.losses[1]);
    let s = mtl::Dwa::default();
    let combined = s.combine(&tasks).unwrap();
    let e = s
        .train(
            &DistributedOptimizer::new(GradientDescent::new(0.1)),
            &tasks,
            &combined,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not data-parallel") && e.contains("with_allreduce"),
        "{e}"
    );
    // minimize adopts the optimizer's reduction: no error.
    let t = tasks.clone().with_allreduce(Some(Allreduce::new(WORLD)));
    assert_eq!(t.allreduce().unwrap().group, WORLD);
    s.minimize(
        &DistributedOptimizer::new(GradientDescent::new(0.1)),
        &tasks,
    )
    .unwrap();
}
