//! Hostile use of sessions, control dependencies, `gradients_with` and error reporting, as
//! a user trying to break them would: each case expects a typed error naming the culprit, or
//! TF1's answer, and never a panic, a silently wrong value or a plan leak.
//!
//! Classes (issue 10): 1, run signatures; 8, control-dependency cycles and `grad_ys`; 10,
//! messages (build errors only for the nodes a plan needs; empty `var_list`).

use ndarray::{arr0, arr2, Array2};
use staticflow::prelude::*;
use staticflow::train::compute_gradients;

/// `x [2,2]`, `z [2,2]` placeholders, `y = x * 2`, `s = x + z`.
fn small(g: &Graph) -> (Tensor<'_>, Tensor<'_>, Tensor<'_>, Tensor<'_>) {
    let x = g.placeholder("x", [Some(2), Some(2)]);
    let z = g.placeholder("z", [Some(2), Some(2)]);
    let y = x * 2.0;
    let s = x + z;
    (x, z, y, s)
}

fn ones() -> Array2<f32> {
    Array2::ones((2, 2))
}

fn expect_duplicate(err: Error, name: &str) {
    match &err {
        Error::DuplicateFeed { node } => assert_eq!(node, name),
        e => panic!("expected DuplicateFeed({name}), got {e:?}"),
    }
    assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
}

// ---- class 1: run signatures ----------------------------------------------------------

#[test]
fn feeding_a_placeholder_twice_is_an_error_naming_it() {
    let g = Graph::new();
    let (x, _, y, _) = small(&g);
    let mut sess = Session::new(&g);
    let (a, b) = (ones(), ones() * 3.0);
    // Same value, different values, duplicate of an unneeded placeholder too.
    let err = sess
        .run(&[y.into()], &[(x, (&a).into()), (x, (&a).into())])
        .unwrap_err();
    expect_duplicate(err, "x");
    let err = sess
        .run(&[y.into()], &[(x, (&a).into()), (x, (&b).into())])
        .unwrap_err();
    expect_duplicate(err, "x");
    assert_eq!(sess.num_plans(), 0, "a rejected run compiles nothing");
}

#[test]
fn a_duplicate_after_a_valid_signature_of_the_same_size_is_an_error_not_a_panic() {
    let g = Graph::new();
    let (x, z, _, s) = small(&g);
    let mut sess = Session::new(&g);
    let a = ones();
    let out = sess
        .run(&[s.into()], &[(x, (&a).into()), (z, (&a).into())])
        .unwrap();
    assert_eq!(out.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    // [x, x] has the count of [x, z] and every member in it: once a panic.
    let err = sess
        .run(&[s.into()], &[(x, (&a).into()), (x, (&a).into())])
        .unwrap_err();
    expect_duplicate(err, "x");
    let err = sess
        .run(&[s.into()], &[(z, (&a).into()), (z, (&a).into())])
        .unwrap_err();
    expect_duplicate(err, "z");
    assert_eq!(sess.num_plans(), 1);
}

#[test]
fn duplicates_are_found_anywhere_in_the_feed_list() {
    let g = Graph::new();
    let (x, z, _, s) = small(&g);
    let w = g.placeholder("w", [Some(2), Some(2)]);
    let t = s + w;
    let mut sess = Session::new(&g);
    let a = ones();
    for feeds in [
        vec![
            (x, (&a).into()),
            (z, (&a).into()),
            (w, (&a).into()),
            (z, (&a).into()),
        ],
        vec![
            (w, (&a).into()),
            (x, (&a).into()),
            (z, (&a).into()),
            (w, (&a).into()),
        ],
        vec![(x, (&a).into()), (x, (&a).into()), (x, (&a).into())],
    ] {
        let dup = feeds
            .iter()
            .enumerate()
            .find(|(i, (f, _))| feeds[..*i].iter().any(|(e, _)| e == f))
            .map(|(_, (f, _))| f.name())
            .unwrap();
        let err = sess.run(&[t.into()], &feeds).unwrap_err();
        expect_duplicate(err, &dup);
    }
    // Feeding an intermediate twice is the same error.
    let err = sess
        .run(
            &[t.into()],
            &[(s, (&a).into()), (s, (&a).into()), (w, (&a).into())],
        )
        .unwrap_err();
    expect_duplicate(err, "Add");
}

#[test]
fn a_signature_matches_exactly_and_each_is_compiled_once() {
    let g = Graph::new();
    let (x, z, y, _) = small(&g);
    let mut sess = Session::new(&g);
    let (a, b) = (ones(), ones() * 5.0);
    // {x} and {x, z} are two signatures for the same fetch (z unneeded but fed, as TF1
    // allows); each compiles once however often and in whichever feed order it runs.
    for _ in 0..5 {
        let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
        assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
        let o = sess
            .run(&[y.into()], &[(x, (&a).into()), (z, (&b).into())])
            .unwrap();
        assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
        let o = sess
            .run(&[y.into()], &[(z, (&b).into()), (x, (&b).into())])
            .unwrap();
        assert_eq!(o.f32(0).unwrap(), &(ones() * 10.0).into_dyn());
    }
    assert_eq!(sess.num_plans(), 2);
}

#[test]
fn the_same_node_fetched_as_an_operation_then_as_a_tensor_returns_its_value() {
    let g = Graph::new();
    let (x, _, y, _) = small(&g);
    let mut sess = Session::new(&g);
    let a = ones();
    let o = sess.run(&[y.op().into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.0, vec![None]);
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    let o = sess
        .run(&[y.op().into(), y.into()], &[(x, (&a).into())])
        .unwrap();
    assert!(o.0[0].is_none());
    assert_eq!(o.f32(1).unwrap(), &(ones() * 2.0).into_dyn());
    assert_eq!(sess.num_plans(), 3);
}

#[test]
fn fetch_order_and_repeats_are_part_of_the_signature() {
    let g = Graph::new();
    let (x, z, y, s) = small(&g);
    let mut sess = Session::new(&g);
    let (a, b) = (ones(), ones() * 3.0);
    let feeds = [(x, (&a).into()), (z, (&b).into())];
    let o = sess.run(&[y.into(), s.into()], &feeds).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    assert_eq!(o.f32(1).unwrap(), &(ones() * 4.0).into_dyn());
    let o = sess.run(&[s.into(), y.into()], &feeds).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 4.0).into_dyn());
    assert_eq!(o.f32(1).unwrap(), &(ones() * 2.0).into_dyn());
    let o = sess.run(&[y.into(), y.into(), y.into()], &feeds).unwrap();
    for i in 0..3 {
        assert_eq!(o.f32(i).unwrap(), &(ones() * 2.0).into_dyn());
    }
    let o = sess.run(&[y.into(), y.into()], &feeds).unwrap();
    assert_eq!(o.0.len(), 2);
    let o = sess.run(&[], &feeds).unwrap();
    assert!(o.0.is_empty());
    assert_eq!(sess.num_plans(), 5);
}

#[test]
fn hundreds_of_plans_each_answer_right_and_none_is_compiled_twice() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(1)]);
    let outs: Vec<Tensor> = (0..300).map(|k| x * (k as f32)).collect();
    let mut sess = Session::new(&g);
    let a = ndarray::arr1(&[2.0f32]);
    for round in 0..3 {
        for (k, t) in outs.iter().enumerate() {
            let o = sess.run(&[(*t).into()], &[(x, (&a).into())]).unwrap();
            assert_eq!(o.f32(0).unwrap()[[0]], 2.0 * k as f32, "round {round}");
        }
        assert_eq!(sess.num_plans(), 300);
    }
}

#[test]
fn a_foreign_fetch_or_feed_is_an_error_even_when_its_index_has_a_plan() {
    let g = Graph::new();
    let (x, _, y, _) = small(&g);
    let other = Graph::new();
    let (ox, _, oy, _) = small(&other);
    let mut sess = Session::new(&g);
    let a = ones();
    sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!((ox.index(), oy.index()), (x.index(), y.index()));
    let err = sess.run(&[oy.into()], &[(x, (&a).into())]).unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
    let err = sess.run(&[y.into()], &[(ox, (&a).into())]).unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
    assert_eq!(sess.num_plans(), 1);
}

#[test]
fn a_bad_feed_value_fails_without_spoiling_the_cached_plan() {
    let g = Graph::new();
    let (x, _, y, _) = small(&g);
    let mut sess = Session::new(&g);
    let a = ones();
    let wrong = Array2::<f32>::ones((3, 2));
    sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    let err = sess.run(&[y.into()], &[(x, (&wrong).into())]).unwrap_err();
    assert!(
        matches!(err, Error::FeedMismatch { ref node, .. } if node == "x"),
        "{err:?}"
    );
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    assert_eq!(sess.num_plans(), 1);
}

// ---- class 8: control-dependency cycles and grad_ys ------------------------------------

/// Variables made inside a `control_dependencies` block are made outside it, as TF1's
/// `init_scope` does: their initializers never wait on the block's ops, so a variable
/// created under a dependency on `init` is simply initialised by `init` (no cycle, no feed).
#[test]
fn a_variable_created_under_control_dependencies_on_init_is_initialised_by_it() {
    let g = Graph::with_seed(1);
    let a = g.variable("a", init::ones(&[2]));
    let init = g.global_variables_initializer();
    let b = {
        let _c = g.control_dependencies(&[init]);
        g.variable("b", init::ones(&[2]))
    };
    let b_assign = g.operation_by_name("b/Assign").unwrap();
    assert!(
        !g.dag()[b_assign.index()]
            .control_inputs
            .contains(&init.index()),
        "the initializer must not wait on init"
    );
    let init = g.global_variables_initializer();
    let mut sess = Session::new(&g);
    sess.run(&[init.into()], &[]).unwrap();
    assert!(sess.is_initialized(a).unwrap());
    let o = sess.run(&[b.into()], &[]).unwrap();
    assert_eq!(o.f32(0).unwrap().as_slice().unwrap(), &[1.0, 1.0]);
}

/// Ops other than variables keep the block's dependencies: a chain of groups and no-ops
/// behind `init` still runs after it, and a variable made at its end initialises.
#[test]
fn ops_in_a_block_keep_their_dependencies_while_variables_escape_it() {
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [Some(2)]);
    let init = g.global_variables_initializer();
    let ready = group(&g, &[init]);
    let later = {
        let _c = g.control_dependencies(&[ready]);
        no_op(&g)
    };
    let (v, y) = {
        let _c = g.control_dependencies(&[later]);
        (g.variable("deep", init::zeros(&[1])), x * 3.0)
    };
    let dag = g.dag();
    assert!(dag[later.index()].control_inputs.contains(&ready.index()));
    assert!(dag[y.index()].control_inputs.contains(&later.index()));
    drop(dag);
    let init = g.global_variables_initializer();
    let mut sess = Session::new(&g);
    let a = ndarray::arr1(&[1.0f32, 2.0]);
    // `y` waits for `later`, which waits for `init`: fetching it initialises everything.
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap().as_slice().unwrap(), &[3.0, 6.0]);
    assert!(sess.is_initialized(v).unwrap());
    sess.run(&[init.into()], &[]).unwrap();
    assert_eq!(
        sess.run(&[v.into()], &[]).unwrap().f32(0).unwrap()[[0]],
        0.0
    );
}

/// The TF1 pattern that needs it: a train op with slot variables (Adam) built under a
/// control dependency initialises without feeds and trains.
#[test]
fn variables_and_a_train_op_built_under_a_dependency_on_init_run() {
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [None, Some(2)]);
    let init = g.global_variables_initializer();
    let (w1, w2, train, loss) = {
        let _c = g.control_dependencies(&[init]);
        let w1 = g.variable("w1", init::ones(&[2, 2]));
        let w2 = g.variable("w2", init::ones(&[2, 1]));
        let loss = reduce_sum_all(matmul(matmul(x, w1), w2));
        let train = Adam::new(0.1).minimize(loss).unwrap();
        (w1, w2, train, loss)
    };
    let init = g.global_variables_initializer();
    let mut sess = Session::new(&g);
    sess.run(&[init.into()], &[]).unwrap();
    let a = Array2::<f32>::ones((3, 2));
    let before = sess
        .run(&[loss.into()], &[(x, (&a).into())])
        .unwrap()
        .scalar(0)
        .unwrap();
    assert_eq!(before, 12.0);
    // Every op of the block runs `init` first (as in TF1), so each step starts from the
    // initial values: one Adam step moves every weight by the learning rate.
    sess.run(&[train.into()], &[(x, (&a).into())]).unwrap();
    let w = sess.run(&[w1.into()], &[]).unwrap();
    for &v in w.f32(0).unwrap().iter() {
        assert!((v - 0.9).abs() < 1e-6, "{v}");
    }
    for w in [w1, w2] {
        assert!(sess.is_initialized(w).unwrap());
    }
}

#[test]
fn control_dependencies_on_an_op_of_another_graph_is_a_build_error() {
    let g = Graph::new();
    let other = Graph::new();
    let foreign = no_op(&other);
    let x = g.placeholder("x", [Some(2)]);
    let y = {
        let _c = g.control_dependencies(&[foreign]);
        x * 2.0
    };
    let err = y.check().unwrap_err();
    assert!(
        matches!(err, Error::ForeignTensor { ref node, .. } if node == "NoOp"),
        "{err:?}"
    );
    // After the block, building is fine again.
    let z = x * 3.0;
    assert!(z.check().is_ok());
}

#[test]
fn grad_ys_of_the_wrong_count_is_an_error() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2)]);
    let y1 = x * 2.0;
    let y2 = x * 3.0;
    let one = g.constant(ndarray::arr1(&[1.0f32, 1.0]).into_dyn());
    for (ys, gys) in [
        (vec![y1, y2], vec![one]),
        (vec![y1], vec![one, one]),
        (vec![y1], vec![]),
        (vec![], vec![one]),
    ] {
        let err = gradients_with(&ys, &[x], Some(&gys)).unwrap_err();
        let Error::InvalidArgument(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(
            msg.contains(&format!("{} grad_ys for {} ys", gys.len(), ys.len())),
            "{msg}"
        );
    }
}

#[test]
fn grad_ys_of_the_wrong_shape_or_dtype_is_an_error_naming_both() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(3)]);
    let y = x * 2.0;
    let c = |v: Array2<f32>| g.constant(v.into_dyn());
    let cases = [
        c(Array2::ones((3, 2))),
        c(Array2::ones((2, 4))),
        g.constant(ndarray::arr1(&[1.0f32, 1.0]).into_dyn()),
        g.constant(arr0(1.0f32).into_dyn()),
        g.placeholder("gy_wrong", [None, Some(2)]),
        g.placeholder_typed("gy_int", DType::I64, [Some(2), Some(3)]),
    ];
    for gy in cases {
        let err = gradients_with(&[y], &[x], Some(&[gy])).unwrap_err();
        let Error::GradYsMismatch {
            y: yn,
            grad_y,
            expected,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(yn, &y.name());
        assert_eq!(grad_y, &gy.name());
        assert_eq!(expected, "[2, 3] f32");
        assert!(err.to_string().contains(&gy.name()), "{err}");
    }
}

#[test]
fn grad_ys_that_fit_are_used_as_the_initial_gradient() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let y = x * 3.0;
    let gy = g.placeholder("gy", [None, Some(2)]);
    let gx = gradients_with(&[y], &[x], Some(&[gy])).unwrap()[0].unwrap();
    let mut sess = Session::new(&g);
    let xs = arr2(&[[1.0f32, 2.0], [3.0, 4.0]]);
    let gys = arr2(&[[1.0f32, -1.0], [0.5, 2.0]]);
    let o = sess
        .run(&[gx.into()], &[(x, (&xs).into()), (gy, (&gys).into())])
        .unwrap();
    assert_eq!(o.f32(0).unwrap(), &(gys * 3.0).into_dyn());
}

#[test]
fn a_failed_or_foreign_grad_y_is_an_error() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(3)]);
    let y = x * 2.0;
    let bad = matmul(x, x);
    let err = gradients_with(&[y], &[x], Some(&[bad])).unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node == "MatMul"),
        "{err:?}"
    );
    let other = Graph::new();
    let foreign = other.placeholder("gy", [Some(2), Some(3)]);
    let err = gradients_with(&[y], &[x], Some(&[foreign])).unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
}

// ---- class 10: messages ------------------------------------------------------------------

/// `x`, `y = x * 2`, and a node that failed to build (`MatMul` of mismatched shapes).
fn with_bad_node(g: &Graph) -> (Tensor<'_>, Tensor<'_>, Tensor<'_>) {
    let x = g.placeholder("x", [Some(2), Some(2)]);
    let y = x * 2.0;
    let w = g.placeholder("w", [Some(3), Some(1)]);
    let bad = matmul(x, w);
    assert!(bad.check().is_err());
    (x, y, bad)
}

#[test]
fn a_bad_node_does_not_fail_plans_that_do_not_need_it() {
    let g = Graph::new();
    let (x, y, bad) = with_bad_node(&g);
    let v = g.variable("v", init::ones(&[2]));
    let init = g.global_variables_initializer();
    let mut sess = Session::new(&g);
    let a = ones();
    // The graph as a whole still reports its first error ...
    assert!(g.check().is_err());
    // ... but runs that do not touch it work, before and after one that does.
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    let w = Array2::<f32>::ones((3, 1));
    let err = sess
        .run(
            &[bad.into()],
            &[
                (x, (&a).into()),
                (g.tensor_by_name("w").unwrap(), (&w).into()),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref node, .. } if node == "MatMul"),
        "{err:?}"
    );
    sess.run(&[init.into()], &[]).unwrap();
    let o = sess.run(&[v.into()], &[]).unwrap();
    assert_eq!(o.f32(0).unwrap().as_slice().unwrap(), &[1.0, 1.0]);
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
}

#[test]
fn a_fetch_that_needs_a_failed_node_names_both() {
    let g = Graph::new();
    let (x, y, bad) = with_bad_node(&g);
    // Through a group (control edge) and through a control-dependency block.
    let both = group(&g, &[y.op(), bad.op()]);
    let after = {
        let _c = g.control_dependencies(&[bad.op()]);
        x * 5.0
    };
    let mut sess = Session::new(&g);
    let a = ones();
    for (fetch, name) in [
        (Fetch::from(both), both.name()),
        (after.into(), after.name()),
    ] {
        let err = sess.run(&[fetch], &[(x, (&a).into())]).unwrap_err();
        let Error::PoisonedInput { node, input, cause } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(node, &name);
        assert_eq!(input, "MatMul");
        assert!(cause.contains("cannot add `MatMul`"), "{cause}");
        assert!(
            err.to_string().contains(&format!("`{name}` uses `MatMul`")),
            "{err}"
        );
    }
    // A node built on the failed one reports its own error, which names the failed input.
    let down = relu(bad);
    let err = sess.run(&[down.into()], &[(x, (&a).into())]).unwrap_err();
    assert!(
        matches!(err, Error::GraphFrozen { .. } | Error::PoisonedInput { .. }),
        "{err:?}"
    );
}

#[test]
fn downstream_of_a_failed_node_reports_the_poisoned_input() {
    let g = Graph::new();
    let (x, _, bad) = with_bad_node(&g);
    let down = relu(bad) * 2.0;
    let mut sess = Session::new(&g);
    let a = ones();
    let err = sess.run(&[down.into()], &[(x, (&a).into())]).unwrap_err();
    let Error::PoisonedInput { node, input, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(node, &down.name());
    assert_eq!(input, "Relu");
}

#[test]
fn nodes_added_after_the_session_do_not_fail_earlier_fetches() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(2)]);
    let y = x * 2.0;
    let mut sess = Session::new(&g);
    let late = relu(y);
    assert!(matches!(late.check(), Err(Error::GraphFrozen { .. })));
    let a = ones();
    let o = sess.run(&[y.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
    let err = sess.run(&[late.into()], &[(x, (&a).into())]).unwrap_err();
    assert!(
        matches!(err, Error::GraphFrozen { ref node } if node == "Relu"),
        "{err:?}"
    );
}

#[test]
fn gradients_ignore_failed_nodes_off_their_path() {
    let g = Graph::new();
    let (x, y, _bad) = with_bad_node(&g);
    let gx = gradients(&[y], &[x]).unwrap()[0].unwrap();
    let mut sess = Session::new(&g);
    let a = ones();
    let o = sess.run(&[gx.into()], &[(x, (&a).into())]).unwrap();
    assert_eq!(o.f32(0).unwrap(), &(ones() * 2.0).into_dyn());
}

#[test]
fn gradients_of_a_failed_y_or_x_report_its_error() {
    let g = Graph::new();
    let (x, _, bad) = with_bad_node(&g);
    let err = gradients(&[bad], &[x]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    let err = gradients(&[x * 2.0], &[bad]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
}

#[test]
fn an_empty_var_list_is_not_reported_as_a_graph_without_variables() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let w = g.variable("w", init::ones(&[2, 1]));
    let loss = reduce_sum_all(matmul(x, w));
    let err = compute_gradients(loss, Some(&[])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(msg.contains("var_list is empty"), "{msg}");
    assert!(!msg.contains("has none"), "{msg}");
    assert_eq!(compute_gradients(loss, None).unwrap().len(), 1);
    let err = GradientDescent::new(0.1)
        .minimize_with(loss, &[])
        .unwrap_err();
    assert!(err.to_string().contains("var_list is empty"), "{err}");
    let err = Adam::new(0.1).minimize_with(loss, &[]).unwrap_err();
    assert!(err.to_string().contains("var_list is empty"), "{err}");
}

#[test]
fn a_graph_without_variables_still_says_so() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let loss = reduce_sum_all(x * 2.0);
    let err = GradientDescent::new(0.1).minimize(loss).unwrap_err();
    assert!(err.to_string().contains("(the graph has none)"), "{err}");
}
