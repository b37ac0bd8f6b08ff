//! Shape ops (issue 11, item 3): finite-difference checks of every gradient, unknown
//! dimensions resolved at run time, and the typed errors of bad specs (the TF1 numbers are
//! in tests/tf1_shape_ops.rs).

mod common;

use common::{check_gradients, rand_array};
use staticflow::prelude::*;

#[test]
fn tile_gradient() {
    check_gradients(&[rand_array(&[2, 3], 1)], |_, x| tile(x[0], &[2, 3]), 1e-2);
    check_gradients(
        &[rand_array(&[2, 1, 3], 2)],
        |_, x| tile(x[0], &[1, 4, 2]),
        1e-2,
    );
}

#[test]
fn pad_gradient_every_mode() {
    for mode in [PadMode::Constant(0.5), PadMode::Reflect, PadMode::Symmetric] {
        check_gradients(
            &[rand_array(&[3, 4], 3)],
            |_, x| pad(x[0], &[[2, 1], [0, 3]], mode),
            1e-2,
        );
        check_gradients(
            &[rand_array(&[2, 3, 4], 4)],
            |_, x| pad(x[0], &[[1, 0], [1, 2], [2, 1]], mode),
            1e-2,
        );
    }
}

#[test]
fn reverse_gradient() {
    check_gradients(
        &[rand_array(&[2, 3, 4], 5)],
        |_, x| reverse(x[0], &[0, -1]),
        1e-2,
    );
}

#[test]
fn split_and_unstack_gradients() {
    // Parts weighted differently, one part unused: its gradient region stays zero.
    check_gradients(
        &[rand_array(&[4, 6], 6)],
        |_, x| {
            let p = split(x[0], [1, -1, 2, 0], 1);
            concat(&[p[0] * 2.0, p[2], p[3]], 1)
        },
        1e-2,
    );
    check_gradients(
        &[rand_array(&[2, 3, 4], 7)],
        |_, x| {
            let p = unstack(x[0], -2);
            assert_eq!(p.len(), 3);
            p[0] * p[2] + p[1]
        },
        1e-2,
    );
}

#[test]
fn fill_gradient_is_the_sum() {
    check_gradients(&[rand_array(&[], 8)], |_, x| fill(&[3, 2], x[0]), 1e-2);
}

#[test]
fn unknown_dimensions_resolve_at_run_time() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(4)]);
    let t = tile(x, &[2, 1]);
    let p = pad(x, &[[1, 1], [0, 0]], PadMode::Reflect);
    let parts = split(x, 2, 0);
    let z = zeros_like(x);
    assert_eq!(t.shape(), Shape(vec![None, Some(4)]));
    assert_eq!(parts[0].shape(), Shape(vec![None, Some(4)]));
    let xs = ndarray::Array2::from_shape_fn((2, 4), |(i, j)| (i * 4 + j) as f32);
    let mut sess = Session::new(&g);
    let out = sess
        .run(
            &[t.into(), p.into(), parts[1].into(), z.into()],
            &[(x, (&xs).into())],
        )
        .unwrap();
    assert_eq!(out.f32(0).unwrap().shape(), &[4, 4]);
    assert_eq!(
        out.f32(1)
            .unwrap()
            .index_axis(ndarray::Axis(0), 0)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![4.0, 5.0, 6.0, 7.0]
    );
    assert_eq!(
        out.f32(2).unwrap().iter().copied().collect::<Vec<_>>(),
        vec![4.0, 5.0, 6.0, 7.0]
    );
    assert!(out.f32(3).unwrap().iter().all(|&v| v == 0.0));
    // A reflection as wide as a runtime dimension, and an uneven split: run errors naming
    // the node.
    let one = ndarray::Array2::<f32>::zeros((1, 4));
    let err = sess.run(&[p.into()], &[(x, (&one).into())]).unwrap_err();
    assert!(
        matches!(&err, Error::Runtime { node, reason, .. }
            if *node == p.name() && reason.contains("less than the dimension 1")),
        "{err}"
    );
    let three = ndarray::Array2::<f32>::zeros((3, 4));
    let err = sess
        .run(&[parts[0].into()], &[(x, (&three).into())])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Runtime { node, reason, .. }
            if *node == parts[0].name() && reason.contains("does not split evenly into 2 parts")),
        "{err}"
    );
}

#[test]
fn bad_specs_are_build_errors_naming_the_node() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(3)]);
    let shape_err = |t: Tensor, want: &str| {
        let err = t.check().unwrap_err();
        match &err {
            Error::Shape { node, reason, .. } => {
                assert_eq!(*node, t.name());
                assert!(reason.contains(want), "{reason} lacks {want:?}");
            }
            other => panic!("expected a shape error, got {other:?}"),
        }
    };
    shape_err(tile(x, &[2]), "one entry per axis (rank 2)");
    shape_err(
        pad(x, &[[0, 0], [3, 0]], PadMode::Reflect),
        "less than the dimension 3",
    );
    shape_err(
        pad(x, &[[0, 0], [0, 4]], PadMode::Symmetric),
        "at most the dimension 3",
    );
    shape_err(
        pad(x, &[[0, 0]], PadMode::Constant(0.0)),
        "one [before, after] per axis",
    );
    shape_err(
        pad(x, &[[0, 0], [1, 1]], PadMode::Constant(f32::NAN)),
        "not finite",
    );
    let i = g.placeholder_typed("i", DType::I64, [Some(2)]);
    shape_err(pad(i, &[[1, 1]], PadMode::Constant(0.5)), "is not a i64");
    shape_err(reverse(x, &[1, -1]), "reversed more than once");
    shape_err(reverse(x, &[2]), "out of range for rank 2");
    shape_err(split(x, 2, 1)[1], "does not split evenly into 2 parts");
    shape_err(split(x, [1, 1], 1)[0], "do not add up to dimension 3");
    shape_err(split(x, [-1, -1, 3], 1)[2], "at most one -1");
    shape_err(split(x, 0, 0)[0], "the number of splits is 0");
    shape_err(split(g.constant(1.0f32), 1, 0)[0], "cannot split a scalar");
    let u = g.placeholder("u", [Some(2), None]);
    let parts = unstack(u, 1);
    assert_eq!(parts.len(), 1);
    shape_err(
        parts[0],
        "unstack needs the axis's size known at build time",
    );
    assert!(unstack(g.placeholder("e", [Some(0), Some(3)]), 0).is_empty());
    shape_err(
        fill(&[2], g.constant(ndarray::arr1(&[1.0f32]))),
        "value must be a scalar",
    );
    shape_err(range(&g, 0.0, 1.0, 0.0), "delta must not be 0");
    shape_err(range(&g, 3i64, 1, 1), "start 3 is past limit 1");
    // Bounds that an f64 comparison would round together.
    shape_err(
        range(&g, (1i64 << 60) + 1, 1 << 60, 1),
        "start 1152921504606846977 is past limit 1152921504606846976",
    );
    shape_err(range(&g, 0.0, f32::INFINITY, 1.0), "must be finite");
}

#[test]
fn range_and_fill_of_every_dtype() {
    let g = Graph::new();
    let r = range(&g, i64::MIN + 1, i64::MAX, i64::MAX);
    let f = range(&g, 0.0f32, 1.0, 0.25);
    let b = fill(&[2], g.constant(ndarray::arr0(true)));
    let o = ones_like(b);
    let z = zeros_like(g.constant(ndarray::arr1(&[3i64, 4])));
    let out = Session::new(&g)
        .run(&[r.into(), f.into(), b.into(), o.into(), z.into()], &[])
        .unwrap();
    assert_eq!(out.i64(0).unwrap().as_slice().unwrap(), &[i64::MIN + 1, 0]);
    assert_eq!(
        out.f32(1).unwrap().as_slice().unwrap(),
        &[0.0, 0.25, 0.5, 0.75]
    );
    assert_eq!(
        out.get(2).unwrap(),
        &Value::Bool(ndarray::arr1(&[true, true]).into_dyn())
    );
    assert_eq!(
        out.get(3).unwrap(),
        &Value::Bool(ndarray::arr1(&[true, true]).into_dyn())
    );
    assert_eq!(out.i64(4).unwrap().as_slice().unwrap(), &[0, 0]);
}

#[test]
fn batched_matmul_gradients_with_broadcast_and_transposes() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let sa = if ta { [2, 4, 3] } else { [2, 3, 4] };
        let sb = if tb { [1, 5, 4] } else { [1, 4, 5] };
        check_gradients(
            &[rand_array(&sa, 11), rand_array(&sb, 12)],
            |_, x| matmul_t(x[0], x[1], ta, tb),
            1e-2,
        );
    }
    check_gradients(
        &[rand_array(&[2, 1, 3, 4], 13), rand_array(&[4, 2], 14)],
        |_, x| matmul(x[0], x[1]),
        1e-2,
    );
}

#[test]
fn tensordot_and_matvec_gradients() {
    check_gradients(
        &[rand_array(&[2, 3, 4], 15), rand_array(&[4, 5, 2], 16)],
        |_, x| tensordot(x[0], x[1], ([0, 2], [2, 0])),
        1e-2,
    );
    check_gradients(
        &[rand_array(&[2, 3], 17), rand_array(&[4], 18)],
        |_, x| tensordot(x[0], x[1], 0),
        1e-2,
    );
    check_gradients(
        &[rand_array(&[2, 3, 4], 19), rand_array(&[4], 20)],
        |_, x| matvec(x[0], x[1]),
        1e-2,
    );
}

#[test]
fn products_with_unknown_dimensions_and_bad_axes() {
    let g = Graph::new();
    let a = g.placeholder("a", [None, Some(3), Some(4)]);
    let b = g.placeholder("b", [Some(4), Some(5)]);
    let y = matmul(a, b);
    assert_eq!(y.shape(), Shape(vec![None, Some(3), Some(5)]));
    let t = tensordot(a, b, 1);
    assert_eq!(t.shape(), Shape(vec![None, Some(3), Some(5)]));
    // a's unknown first axis contracted with b's 4: known output, checked at run time.
    let t0 = tensordot(a, b, ([0], [0]));
    assert_eq!(
        t0.check().map(|t| t.shape()).unwrap(),
        Shape::known(&[3, 4, 5])
    );
    let u = g.placeholder("u", [None, None]);
    let err = tensordot(u, u, 0).check().unwrap_err();
    assert!(
        matches!(&err, Error::Shape { node, reason, .. } if node.starts_with("Tensordot")
            && reason.contains("too many unknown dimensions")),
        "{err}"
    );
    let c = g.placeholder("c", [Some(3), Some(4)]);
    let err = tensordot(c, b, ([0], [0])).check().unwrap_err();
    assert!(
        err.to_string()
            .contains("axis 0 of a (size 3) and axis 0 of b (size 4) differ"),
        "{err}"
    );
    let err = tensordot(c, b, 3).check().unwrap_err();
    assert!(err.to_string().contains("cannot contract 3 axes"), "{err}");
    let err = matmul(a, g.placeholder("d", [Some(2), Some(4), Some(5)])).check();
    assert!(err.is_ok(), "an unknown batch dimension may broadcast");
    let e = g.placeholder("e", [Some(3), Some(3), Some(4)]);
    let err = matmul(e, g.placeholder("f", [Some(2), Some(4), Some(5)]))
        .check()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Shape { op, reason, .. } if op == "MatMul"
            && reason.contains("batch dimensions do not broadcast")),
        "{err}"
    );
    // Nodes are all added: the session freezes the graph.
    let xs = rand_array(&[2, 3, 4], 21);
    let bs = rand_array(&[4, 5], 22);
    let out = Session::new(&g)
        .run(
            &[y.into(), t.into()],
            &[(a, (&xs).into()), (b, (&bs).into())],
        )
        .unwrap();
    assert_eq!(out.f32(0).unwrap(), out.f32(1).unwrap());
}

/// An i64 constant.
fn ids<'g>(g: &'g Graph, v: &[i64], shape: &[usize]) -> Tensor<'g> {
    g.constant(ndarray::ArrayD::from_shape_vec(shape.to_vec(), v.to_vec()).unwrap())
}

#[test]
fn index_op_gradients() {
    check_gradients(
        &[rand_array(&[3, 4, 2], 23)],
        |g, x| gather_axis(x[0], ids(g, &[3, 1, 1, 0], &[2, 2]), 1),
        1e-2,
    );
    check_gradients(
        &[rand_array(&[5, 2], 24)],
        |g, x| unsorted_segment_sum(x[0], ids(g, &[0, 3, 0, -1, 2], &[5]), 4),
        1e-2,
    );
    check_gradients(
        &[rand_array(&[3, 4], 25)],
        |g, x| scatter_nd(ids(g, &[2, 0, 2], &[3, 1]), x[0], &[3, 4]),
        1e-2,
    );
    check_gradients(
        &[rand_array(&[3, 4], 26)],
        |g, x| gather_nd(x[0], ids(g, &[1, 2, 0, 3, 1, 2], &[3, 2])),
        1e-2,
    );
    // Distinct values (no ties), so top_k is differentiable at the point.
    let x = ndarray::Array2::from_shape_fn((2, 5), |(i, j)| ((i * 5 + j) * 7 % 10) as f32 * 0.3)
        .into_dyn();
    check_gradients(&[x], |_, x| top_k(x[0], 3, true).0, 1e-2);
    check_gradients(
        &[rand_array(&[3, 4, 2], 27)],
        |g, x| reverse_sequence(x[0], ids(g, &[4, 0, 2], &[3]), 1, 0),
        1e-2,
    );
}

#[test]
fn index_op_errors_name_the_node() {
    let g = Graph::new();
    let p = g.placeholder("p", [Some(3), Some(4)]);
    let i = g.placeholder_typed("i", DType::I64, [Some(2)]);
    let gathered = gather_axis(p, i, 1);
    let seg = unsorted_segment_sum(g.placeholder("d", [Some(2), Some(4)]), i, 3);
    let (v, _) = top_k(p, 4, true);
    assert!(v.check().is_ok());
    let err = top_k(p, 5, true).0.check().unwrap_err();
    assert!(err.to_string().contains("at least k = 5 entries"), "{err}");
    let err = gather_axis(p, i, 2).check().unwrap_err();
    assert!(err.to_string().contains("axis 2 is out of range"), "{err}");
    let err = reverse_sequence(p, i, -1, 0).check().unwrap_err();
    assert!(err.to_string().contains("must be non-negative"), "{err}");
    let err = reverse_sequence(p, i, 1, 1).check().unwrap_err();
    assert!(err.to_string().contains("both axis 1"), "{err}");
    let err = scatter_nd(
        ids(&g, &[0, 1], &[1, 2]),
        g.constant(ndarray::arr1(&[1.0f32, 2.0])),
        &[3, 4],
    )
    .check()
    .unwrap_err();
    assert!(
        err.to_string().contains("updates [2] must have shape [1]"),
        "{err}"
    );
    let mask = sequence_mask(i, None, DType::F32);
    assert_eq!(mask.shape(), Shape(vec![Some(2), None]));
    let mut sess = Session::new(&g);
    let ps = rand_array(&[3, 4], 28);
    let d = rand_array(&[2, 4], 29);
    let dp = g.tensor_by_name("d").unwrap();
    macro_rules! run {
        ($t:expr, $iv:expr) => {{
            let iv = ndarray::arr1(&$iv);
            let feeds = [(p, (&ps).into()), (i, (&iv).into()), (dp, (&d).into())];
            sess.run(&[$t.into()], &feeds)
        }};
    }
    let err = run!(gathered, [0i64, 4]).unwrap_err();
    assert!(
        matches!(&err, Error::Runtime { node, reason, .. } if *node == gathered.name()
            && reason.contains("index 4 (at flat position 1) is out of range [0, 4)")),
        "{err}"
    );
    let err = run!(seg, [3i64, 0]).unwrap_err();
    assert!(
        matches!(&err, Error::Runtime { node, reason, .. } if *node == seg.name()
            && reason.contains("index 3 (at flat position 0) is out of range [0, 3)")),
        "{err}"
    );
    let out = run!(mask, [3i64, -1]).unwrap();
    assert_eq!(out.f32(0).unwrap().shape(), &[2, 3]);
}
