//! Debugging aids: the per-node profile, the `print` op, and fetching intermediates.

use ndarray::{arr2, Array2};
use staticflow::models::toy::{self, ToyData};
use staticflow::ops::debug::Print;
use staticflow::prelude::*;

#[test]
fn profile_names_op_node_shape_and_time_of_every_kernel() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = ToyData::generate(16, 7, 5);
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let feeds = [(m.x, (&d.x).into()), (m.y1, (&d.y1).into())];
    let (out, prof) = sess
        .run_profiled(&[m.op1.into(), m.loss1.into()], &feeds)
        .unwrap();
    assert!(out.scalar(1).unwrap() > 0.0);
    assert_eq!(
        prof.entries.len(),
        sess.plan_len(&[m.op1.into(), m.loss1.into()], &feeds)
            .unwrap()
    );
    let mm = prof
        .entries
        .iter()
        .find(|e| e.name == "shared/MatMul")
        .expect("shared/MatMul ran");
    assert_eq!(mm.op, "MatMul");
    assert_eq!(mm.shape, [16, toy::HIDDEN]);
    assert!(mm.micros >= 0.0);
    assert!(prof
        .entries
        .iter()
        .any(|e| e.name == "task1/loss" && e.op == "L2Loss"));
    assert!(prof.by_op().iter().any(|(op, _)| op == "MatMul"));
    assert!(prof.total_micros() >= mm.micros);
    let table = prof.to_string();
    assert!(
        table.contains("shared/MatMul") && table.contains("[16, 20]"),
        "{table}"
    );
    assert!(table.contains("total"), "{table}");
}

#[test]
fn print_passes_the_value_through_unchanged_and_the_gradient_too() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let p = print(x * 2.0, "doubled:");
    let y = reduce_sum_all(p * p);
    let dx = gradients(&[y], &[x]).unwrap()[0].unwrap();
    let mut sess = Session::new(&g);
    let xs = arr2(&[[1f32, -2., 3.5], [0.25, 0., -1e-3]]);
    let out = sess
        .run(&[p.into(), dx.into()], &[(x, (&xs).into())])
        .unwrap();
    let doubled = xs.mapv(|v| v * 2.0).into_dyn();
    assert_eq!(out.f32(0).unwrap(), &doubled);
    // d/dx sum((2x)^2) = 8x.
    assert_eq!(out.f32(1).unwrap(), &xs.mapv(|v| 8.0 * v).into_dyn());
    assert_eq!(p.shape(), x.shape());
}

#[test]
fn print_formats_message_shape_and_first_values() {
    let p = Print {
        message: "hidden:".into(),
        first_n: 3,
    };
    let a = Array2::from_shape_fn((2, 4), |(i, j)| (i * 4 + j) as f32);
    assert_eq!(
        p.format(&(&a).into()),
        "hidden: shape=[2, 4] dtype=f32 [0, 1, 2, ...]"
    );
    let ids = ndarray::arr1(&[7i64, 8]);
    assert_eq!(
        p.format(&(&ids).into()),
        "hidden: shape=[2] dtype=i64 [7, 8]"
    );
}

#[test]
fn any_intermediate_can_be_fetched_alongside_a_train_op() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let d = ToyData::generate(8, 7, 5);
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let feeds = [(m.x, (&d.x).into()), (m.y1, (&d.y1).into())];
    let hidden = sess.run(&[m.shared.into()], &feeds).unwrap();
    let with_train = sess.run(&[m.op1.into(), m.shared.into()], &feeds).unwrap();
    // The captured value is the one this run computed, before its update.
    assert_eq!(hidden.get(0).unwrap(), with_train.get(1).unwrap());
    assert_eq!(hidden.f32(0).unwrap().shape(), [8, toy::HIDDEN]);
}
