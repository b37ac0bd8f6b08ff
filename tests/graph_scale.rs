//! Graphs of any size (issue 8): names stay exactly what they were, and building,
//! differentiating and planning cost O(1) name look-ups per node (counted, not timed).

use ndarray::Array2;
use staticflow::prelude::*;

/// The benchmark's chain: `x[4,8] @ w`, then `n` ops alternating `tanh(h)` and `h * 0.99`.
fn chain(g: &Graph, n: usize) -> (Tensor<'_>, Tensor<'_>) {
    let x = g.placeholder("x", [Some(4), Some(8)]);
    let w = g.variable("w", init::glorot_uniform(&[8, 8]));
    let mut h = matmul(x, w);
    for i in 0..n {
        h = if i % 2 == 0 { tanh(h) } else { h * 0.99 };
    }
    (x, reduce_sum_all(h))
}

fn names(g: &Graph) -> Vec<String> {
    g.dag().node_weights().map(|n| n.name.clone()).collect()
}

#[test]
fn chain_names_are_the_ones_probing_gave() {
    let g = Graph::new();
    let (_, loss) = chain(&g, 6);
    GradientDescent::new(0.1).minimize(loss).unwrap();
    let got = names(&g);
    // Exactly the names of the code before per-base counters.
    let expected = [
        "x",
        "w",
        "w/initial_value",
        "w/Assign",
        "MatMul",
        "Tanh",
        "Const",
        "Mul",
        "Tanh_1",
        "Const_1",
        "Mul_1",
        "Tanh_2",
        "Const_2",
        "Mul_2",
        "Sum",
        "gradients/Const",
        "gradients/BroadcastLike",
        "gradients/Mul",
        "gradients/Mul_1",
        "gradients/ReduceToShapeOf",
        "gradients/TanhGrad",
        "gradients/Mul_2",
        "gradients/Mul_3",
        "gradients/ReduceToShapeOf_1",
        "gradients/TanhGrad_1",
        "gradients/Mul_4",
        "gradients/Mul_5",
        "gradients/ReduceToShapeOf_2",
        "gradients/TanhGrad_2",
        "gradients/MatMul",
        "gradients/MatMul_1",
        "GradientDescent/learning_rate",
        "GradientDescent/update_w",
        "GradientDescent/apply",
    ];
    assert_eq!(got, expected);
    // Every name is unique.
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len());
}

#[test]
fn renamed_nodes_free_their_names_for_later_nodes() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2)]);
    let a = x * 2.0; // Mul (and Const)
    let b = x * 3.0; // Mul_1
    let c = x * 4.0; // Mul_2
    assert_eq!(
        (a.name(), b.name(), c.name()),
        ("Mul".into(), "Mul_1".into(), "Mul_2".into())
    );
    let b = b.named("three");
    assert_eq!(b.name(), "three");
    // `Mul_1` is free again: the next Mul takes it, as probing from 1 did.
    assert_eq!((x * 5.0).name(), "Mul_1");
    assert_eq!((x * 6.0).name(), "Mul_3");
    // Renaming to a taken name gets the next suffix; the old name is free.
    let d = c.named("three");
    assert_eq!(d.name(), "three_1");
    assert_eq!((x * 7.0).name(), "Mul_2");
    assert!(g.operation_by_name("Mul_2").is_some());
    assert_eq!(g.tensor_by_name("three_1").unwrap(), d);
    assert!(g.tensor_by_name("no_such").is_none());
}

#[test]
fn unique_scopes_count_nodes_and_scopes_of_every_depth() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(4)]);
    let mut h = x;
    for _ in 0..5 {
        h = dense(h, 4, Activation::Relu, "dense");
    }
    let scopes: Vec<String> = (0..5)
        .map(|k| {
            if k == 0 {
                "dense".into()
            } else {
                format!("dense_{k}")
            }
        })
        .collect();
    for s in &scopes {
        assert!(
            names(&g).iter().any(|n| n.starts_with(&format!("{s}/"))),
            "{s} missing"
        );
    }
    assert_eq!(g.unique_scope("dense"), "dense_5");
    assert_eq!(g.unique_scope("x"), "x_1");
    {
        let _s = g.name_scope("outer");
        assert_eq!(g.unique_scope("dense"), "dense");
        let _ = dense(h, 2, Activation::Relu, "dense");
        assert_eq!(g.unique_scope("dense"), "dense_1");
        assert_eq!(g.current_scope(), "outer/");
    }
    assert_eq!(g.current_scope(), "");
    assert_eq!(g.unique_scope("outer"), "outer_1");
}

#[test]
fn building_differentiating_and_planning_n_nodes_costs_o_n_name_lookups() {
    for n in [2_000, 20_000] {
        let g = Graph::new();
        let (x, loss) = chain(&g, n);
        let built = g.name_probes();
        let nodes = g.len() as u64;
        // Probing `Mul`, `Mul_1`, ... one by one would cost ~n²/8 look-ups here.
        assert!(
            built <= 3 * nodes,
            "{n}: {built} look-ups for {nodes} nodes"
        );
        let train = GradientDescent::new(0.01).minimize(loss).unwrap();
        let all = g.name_probes();
        let nodes = g.len() as u64;
        assert!(all <= 3 * nodes, "{n}: {all} look-ups for {nodes} nodes");
        // The plan of the whole graph compiles and runs (no recursion depth limit).
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let xs = Array2::<f32>::ones((4, 8));
        let o = sess
            .run(&[train.into(), loss.into()], &[(x, (&xs).into())])
            .unwrap();
        assert!(o.scalar(1).unwrap().is_finite());
        assert!(
            sess.plan_len(&[train.into(), loss.into()], &[(x, (&xs).into())])
                .unwrap()
                > 2 * n
        );
    }
}

#[test]
fn many_layers_with_the_same_scope_cost_o_1_lookups_each() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let outs: Vec<Tensor> = (0..2000)
        .map(|_| dense(x, 1, Activation::None, "head"))
        .collect();
    assert!(outs.iter().all(|t| t.check().is_ok()));
    let probes = g.name_probes();
    let nodes = g.len() as u64;
    assert!(probes <= 4 * nodes, "{probes} look-ups for {nodes} nodes");
    assert_eq!(g.unique_scope("head"), "head_2000");
}
