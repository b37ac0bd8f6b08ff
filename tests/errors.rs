//! Every user-facing error kind, with the names, shapes and dtypes its message must carry.

use ndarray::Array2;
use staticflow::models::toy;
use staticflow::prelude::*;

#[test]
fn missing_placeholders_are_all_listed_with_the_target_that_needs_each() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let err = sess
        .run(&[m.loss1.into(), m.loss2.into()], &[])
        .unwrap_err();
    let Error::MissingFeeds { missing } = &err else {
        panic!("{err:?}")
    };
    let mut missing = missing.clone();
    missing.sort();
    assert_eq!(
        missing,
        [
            ("x".to_string(), "task1/loss".to_string()),
            ("y1".to_string(), "task1/loss".to_string()),
            ("y2".to_string(), "task2/loss".to_string()),
        ]
    );
    let msg = err.to_string();
    assert!(msg.contains("`y2` (needed by `task2/loss`)"), "{msg}");
    assert!(msg.contains("`x` (needed by `task1/loss`)"), "{msg}");
    // Feeding x only: y1 and y2 are still both reported, in one error.
    let xs = Array2::<f32>::zeros((2, 10));
    let err = sess
        .run(&[m.loss1.into(), m.loss2.into()], &[(m.x, (&xs).into())])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`y1`") && msg.contains("`y2`") && !msg.contains("`x`"),
        "{msg}"
    );
}

#[test]
fn wrong_feed_shape_names_the_tensor_expected_and_got() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let xs = Array2::<f32>::zeros((4, 9));
    let ys = Array2::<f32>::zeros((4, 1));
    let err = sess
        .run(
            &[m.loss1.into()],
            &[(m.x, (&xs).into()), (m.y1, (&ys).into())],
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::FeedMismatch {
            node: "x".into(),
            expected: "[?, 10]".into(),
            expected_dtype: "f32".into(),
            got: "[4, 9]".into(),
            got_dtype: "f32".into(),
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`x`") && msg.contains("[?, 10]") && msg.contains("[4, 9]"),
        "{msg}"
    );
    // Wrong rank too.
    let flat = ndarray::Array1::<f32>::zeros(10);
    let err = sess
        .run(
            &[m.loss1.into()],
            &[(m.x, (&flat).into()), (m.y1, (&ys).into())],
        )
        .unwrap_err();
    assert!(err.to_string().contains("[10]"), "{err}");
}

#[test]
fn wrong_feed_dtype_names_the_tensor_expected_and_got() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let xs = Array2::<i64>::zeros((4, 10));
    let ys = Array2::<f32>::zeros((4, 1));
    let err = sess
        .run(
            &[m.loss1.into()],
            &[(m.x, (&xs).into()), (m.y1, (&ys).into())],
        )
        .unwrap_err();
    let Error::FeedMismatch {
        node,
        expected_dtype,
        got_dtype,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (node.as_str(), expected_dtype.as_str(), got_dtype.as_str()),
        ("x", "f32", "i64")
    );
    let msg = err.to_string();
    assert!(msg.contains("(i64)") && msg.contains("(f32)"), "{msg}");
}

#[test]
fn fetching_or_feeding_a_tensor_of_another_graph_is_an_error() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let other = Graph::new();
    let foreign = other.placeholder("foreign", [Some(1)]);
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let err = sess.run(&[foreign.into()], &[]).unwrap_err();
    assert!(
        matches!(&err, Error::ForeignTensor { node, .. } if node == "foreign"),
        "{err:?}"
    );
    assert!(err.to_string().contains("another graph"), "{err}");
    let one = ndarray::Array1::<f32>::zeros(1);
    let err = sess
        .run(&[m.ws.into()], &[(foreign, (&one).into())])
        .unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
    // Combining tensors of two graphs while building is caught too.
    let g2 = Graph::new();
    let x2 = g2.placeholder("x", [None, Some(10)]);
    let w = other.variable("w", init::zeros(&[10, 1]));
    let bad = matmul(x2, w);
    assert!(matches!(bad.check(), Err(Error::ForeignTensor { .. })));
}

#[test]
fn using_an_uninitialized_variable_names_it() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let mut sess = Session::new(&g);
    let xs = Array2::<f32>::zeros((2, 10));
    let ys = Array2::<f32>::zeros((2, 1));
    let err = sess
        .run(
            &[m.loss1.into()],
            &[(m.x, (&xs).into()), (m.y1, (&ys).into())],
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::UninitializedVariable {
            variable: "shared/w".into()
        }
    );
    assert!(
        err.to_string()
            .contains("uninitialized variable `shared/w`"),
        "{err}"
    );
    let err = sess.variable_value(m.w2).unwrap_err();
    assert!(err.to_string().contains("`task2/w`"), "{err}");
    // Initialising one variable by hand is not enough for the others.
    sess.set_variable(m.ws, Value::from(Array2::<f32>::zeros((10, 20))))
        .unwrap();
    let err = sess
        .run(
            &[m.loss1.into()],
            &[(m.x, (&xs).into()), (m.y1, (&ys).into())],
        )
        .unwrap_err();
    assert!(err.to_string().contains("`task1/w`"), "{err}");
}

#[test]
fn adding_a_node_after_session_new_is_graph_frozen() {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[m.init.into()], &[]).unwrap();
    let late = relu(m.shared);
    let err = late.check().unwrap_err();
    assert!(
        matches!(&err, Error::GraphFrozen { node } if node == "Relu"),
        "{err:?}"
    );
    assert!(err.to_string().contains("after `Session::new`"), "{err}");
    // Running it is the same error, not a silent recompilation.
    let xs = Array2::<f32>::zeros((2, 10));
    let err = sess
        .run(&[late.into()], &[(m.x, (&xs).into())])
        .unwrap_err();
    assert!(matches!(err, Error::GraphFrozen { .. }), "{err:?}");
}

#[test]
fn shape_mismatch_at_build_names_both_operands_and_shapes() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(10)]);
    let w1 = g.variable("task1/w", init::zeros(&[20, 1]));
    let bad = matmul(x, w1);
    let err = bad.check().unwrap_err();
    let Error::Shape { op, operands, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(op, "MatMul");
    assert_eq!(
        operands,
        &[
            ("x".to_string(), "[?, 10] f32".to_string()),
            ("task1/w".to_string(), "[20, 1] f32".to_string())
        ]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`x` [?, 10]") && msg.contains("`task1/w` [20, 1]"),
        "{msg}"
    );
    // A node built on the failed one reports it, and so does the graph.
    let downstream = relu(bad);
    assert!(matches!(
        downstream.check(),
        Err(Error::PoisonedInput { .. })
    ));
    assert_eq!(g.check().unwrap_err(), err);
    // Broadcasting mismatch and dtype mismatch are build errors too.
    let y = g.placeholder("y", [None, Some(3)]);
    let err = (x + y).check().unwrap_err();
    assert!(
        err.to_string().contains("`x` [?, 10]") && err.to_string().contains("`y` [?, 3]"),
        "{err}"
    );
    let ids = g.placeholder_typed("ids", DType::I64, [None, Some(10)]);
    let err = (x + ids).check().unwrap_err();
    assert!(err.to_string().contains("i64"), "{err}");
}
