//! Session behaviour on the two-task toy network: pruning, feeding intermediates, each node
//! once per run, plan caching, and per-task optimizer isolation.

use ndarray::Array2;
use staticflow::models::toy::{self, ToyData};
use staticflow::prelude::*;
use std::collections::HashSet;

fn bits(v: &Value) -> Vec<u32> {
    v.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
}

fn data() -> ToyData {
    ToyData::generate(40, 7, 11)
}

#[test]
fn a_target_that_needs_no_placeholder_runs_without_feeds() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let norm = reduce_sum_all(square(m.ws)).named("ws_norm");
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    // Neither x nor y1/y2 is needed: no feeds, no MissingFeeds error.
    let (out, prof) = sess.run_profiled(&[norm.into()], &[]).unwrap();
    assert!(out.scalar(0).unwrap() > 0.0);
    let ran: Vec<&str> = prof.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        ran,
        ["Square", "ws_norm"],
        "only the norm's own kernels ran"
    );
    assert_eq!(
        sess.plan_nodes(&[norm.into()], &[]).unwrap(),
        ["Square", "ws_norm"]
    );
}

#[test]
fn pruning_keeps_exactly_the_ancestors_of_the_fetches() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let feeds = [(m.x, (&d.x).into()), (m.y1, (&d.y1).into())];
    let plan = sess.plan_nodes(&[m.loss1.into()], &feeds).unwrap();
    assert_eq!(
        plan,
        [
            "shared/MatMul",
            "shared/Relu",
            "task1/MatMul",
            "task1/Relu",
            "task1/Sub",
            "task1/loss"
        ]
    );
    // The profile of a real run names the same kernels: task 2, the gradients, the optimizers
    // and the initializers did not run.
    let (_, prof) = sess.run_profiled(&[m.loss1.into()], &feeds).unwrap();
    let ran: Vec<String> = prof.entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(ran, plan);
    assert!(prof.entries.iter().all(|e| !e.name.starts_with("task2/")));
    // The train op for task 1 needs no y2 either.
    let train = sess.plan_nodes(&[m.op1.into()], &feeds).unwrap();
    assert!(train.iter().all(|n| !n.starts_with("task2/")), "{train:?}");
    assert_eq!(sess.plan_len(&[m.op1.into()], &feeds).unwrap(), train.len());
}

#[test]
fn feeding_an_intermediate_tensor_cuts_off_its_ancestors() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    // Feed the shared layer as zeros: relu(0 · W1) = 0, so loss1 = 0.5 · Σ y1².
    let zeros = Array2::<f32>::zeros((d.len(), toy::HIDDEN));
    let (out, prof) = sess
        .run_profiled(
            &[m.loss1.into()],
            &[(m.shared, (&zeros).into()), (m.y1, (&d.y1).into())],
        )
        .unwrap();
    let expected: f64 = 0.5 * d.y1.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
    let got = out.scalar(0).unwrap() as f64;
    assert!(
        (got - expected).abs() <= 1e-5 * expected,
        "{got} vs {expected}"
    );
    let ran: Vec<&str> = prof.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        ran,
        ["task1/MatMul", "task1/Relu", "task1/Sub", "task1/loss"]
    );
    // x was not fed and not needed; the shared/w variable was not even read.
}

#[test]
fn each_node_runs_once_per_run() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let feeds = [
        (m.x, (&d.x).into()),
        (m.y1, (&d.y1).into()),
        (m.y2, (&d.y2).into()),
    ];
    // The shared layer feeds four fetches and the joint train op; it still runs once.
    let fetches = [
        m.joint.into(),
        m.loss1.into(),
        m.loss2.into(),
        m.joint_loss.into(),
        m.shared.into(),
    ];
    let (_, prof) = sess.run_profiled(&fetches, &feeds).unwrap();
    let mut seen = HashSet::new();
    for e in &prof.entries {
        assert!(seen.insert(e.name.clone()), "`{}` ran twice", e.name);
    }
    assert_eq!(
        prof.entries
            .iter()
            .filter(|e| e.name == "shared/MatMul")
            .count(),
        1
    );
    assert_eq!(prof.entries.len(), sess.plan_len(&fetches, &feeds).unwrap());
}

#[test]
fn plans_are_compiled_once_per_signature() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    for k in 0..5 {
        let (x, y1, _) = d.batch(k, 8);
        sess.run(&[m.op1.into()], &[(m.x, x.into()), (m.y1, y1.into())])
            .unwrap();
        // Same keys in another order: same plan.
        sess.run(&[m.op1.into()], &[(m.y1, y1.into()), (m.x, x.into())])
            .unwrap();
    }
    assert_eq!(sess.num_plans(), 2, "init + op1");
}

#[test]
fn fetches_see_the_values_from_before_the_runs_updates() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let feeds = [(m.x, (&d.x).into()), (m.y1, (&d.y1).into())];
    let before = sess
        .run(&[m.loss1.into()], &feeds)
        .unwrap()
        .scalar(0)
        .unwrap();
    let with_step = sess
        .run(&[m.op1.into(), m.loss1.into()], &feeds)
        .unwrap()
        .scalar(1)
        .unwrap();
    let after = sess
        .run(&[m.loss1.into()], &feeds)
        .unwrap()
        .scalar(0)
        .unwrap();
    assert_eq!(before.to_bits(), with_step.to_bits());
    assert!(after < before, "{after} < {before}");
}

/// `(shared/w, task1/w, task2/w)` bits after `steps` runs of `op` from the initial values,
/// and the initial bits.
fn run_op(
    op: for<'a, 'g> fn(&'a toy::ToyTwoTask<'g>) -> Operation<'g>,
    steps: usize,
) -> [(Vec<u32>, Vec<u32>); 3] {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = data();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let vars = [m.ws, m.w1, m.w2];
    let before: Vec<Vec<u32>> = vars
        .iter()
        .map(|v| bits(sess.variable_value(*v).unwrap()))
        .collect();
    for k in 0..steps {
        let (x, y1, y2) = d.batch(k, 8);
        sess.run(
            &[op(&m).into()],
            &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
        )
        .unwrap();
    }
    let mut out: [(Vec<u32>, Vec<u32>); 3] = Default::default();
    for (k, v) in vars.iter().enumerate() {
        out[k] = (before[k].clone(), bits(sess.variable_value(*v).unwrap()));
    }
    out
}

#[test]
fn task1_op_leaves_task2_weights_bit_identical() {
    let [ws, w1, w2] = run_op(|m| m.op1, 20);
    assert_eq!(w2.0, w2.1, "op1 must not touch task2/w");
    assert_ne!(ws.0, ws.1, "op1 updates shared/w");
    assert_ne!(w1.0, w1.1, "op1 updates task1/w");
}

#[test]
fn task2_op_leaves_task1_weights_bit_identical() {
    let [ws, w1, w2] = run_op(|m| m.op2, 20);
    assert_eq!(w1.0, w1.1, "op2 must not touch task1/w");
    assert_ne!(ws.0, ws.1, "op2 updates shared/w");
    assert_ne!(w2.0, w2.1, "op2 updates task2/w");
}

#[test]
fn joint_op_updates_every_variable_on_both_paths() {
    let [ws, w1, w2] = run_op(|m| m.joint, 1);
    assert_ne!(ws.0, ws.1);
    assert_ne!(w1.0, w1.1);
    assert_ne!(w2.0, w2.1);
}
