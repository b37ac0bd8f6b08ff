//! Forward values of the array, index and softmax ops against hand-computed numbers, and
//! their build-time and runtime errors.
use ndarray::{arr1, arr2, array, ArrayD, IxDyn};
use staticflow::*;

fn close(a: &ArrayD<f32>, b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

fn run_f32<'g>(g: &'g Graph, t: Tensor<'g>) -> ArrayD<f32> {
    let mut s = Session::new(g);
    s.run(&[t.into()], &[]).unwrap().f32(0).unwrap().clone()
}

fn run_i64<'g>(g: &'g Graph, t: Tensor<'g>) -> ArrayD<i64> {
    let mut s = Session::new(g);
    s.run(&[t.into()], &[]).unwrap().i64(0).unwrap().clone()
}

#[test]
fn reshape_infers_minus_one() {
    let g = Graph::new();
    let x = g.constant(ndarray::Array::from_shape_fn((2, 3, 2), |(a, b, c)| {
        (a * 6 + b * 2 + c) as f32
    }));
    let r = reshape(x, &[-1, 4]);
    assert_eq!(r.shape(), Shape::known(&[3, 4]));
    let v = run_f32(&g, r);
    assert_eq!(v.shape(), &[3, 4]);
    close(&v, &(0..12).map(|v| v as f32).collect::<Vec<_>>());
}

#[test]
fn reshape_with_unknown_batch_resolves_at_run_time() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2), Some(3)]);
    let r = reshape(x, &[-1, 3]);
    assert_eq!(r.shape(), Shape(vec![None, Some(3)]));
    let f = flatten(x);
    assert_eq!(f.shape(), Shape(vec![None, Some(6)]));
    let e = expand_dims(f, 1);
    assert_eq!(e.shape(), Shape(vec![None, Some(1), Some(6)]));
    let sq = squeeze(e, &[-2]);
    assert_eq!(sq.shape(), Shape(vec![None, Some(6)]));
    let bad = reshape(x, &[-1, 5]);
    let mut s = Session::new(&g);
    let xs =
        ArrayD::from_shape_vec(IxDyn(&[2, 2, 3]), (0..12).map(|v| v as f32).collect()).unwrap();
    let out = s
        .run(&[r.into(), f.into(), sq.into()], &[(x, (&xs).into())])
        .unwrap();
    assert_eq!(out.f32(0).unwrap().shape(), &[4, 3]);
    assert_eq!(out.f32(1).unwrap().shape(), &[2, 6]);
    assert_eq!(out.f32(2).unwrap(), out.f32(1).unwrap());
    let err = s.run(&[bad.into()], &[(x, (&xs).into())]).unwrap_err();
    match &err {
        Error::Runtime { node, reason, .. } => {
            assert_eq!(node, "Reshape_1");
            assert!(reason.contains("12 elements"), "{err}");
        }
        e => panic!("expected a runtime error, got {e}"),
    }
}

#[test]
fn reshape_wrong_element_count_is_a_build_error() {
    let g = Graph::new();
    let x = g.placeholder("x", [2, 3]);
    let err = reshape(x, &[4]).check().unwrap_err();
    match &err {
        Error::Shape {
            op,
            operands,
            reason,
            ..
        } => {
            assert_eq!(op, "Reshape");
            assert_eq!(operands[0].0, "x");
            assert!(operands[0].1.contains("[2, 3]"), "{err}");
            assert!(reason.contains("6 elements"), "{err}");
        }
        e => panic!("expected a shape error, got {e}"),
    }
    assert!(reshape(x, &[-1, -1]).check().is_err());
    assert!(reshape(x, &[-1, 4]).check().is_err());
    assert!(squeeze(x, &[0]).check().is_err());
    assert!(expand_dims(x, 3).check().is_err());
    assert!(expand_dims(x, 2).check().is_ok());
}

#[test]
fn concat_slice_round_trip() {
    let g = Graph::new();
    let a = g.constant(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
    let b = g.constant(arr2(&[[5.0f32], [6.0]]));
    let c = concat(&[a, b], -1);
    assert_eq!(c.shape(), Shape::known(&[2, 3]));
    let back_a = slice(c, &[0, 0], &[-1, 2]);
    let back_b = slice(c, &[0, 2], &[2, 1]);
    let rows = concat(&[a, a], 0);
    let mut s = Session::new(&g);
    let out = s
        .run(&[c.into(), back_a.into(), back_b.into(), rows.into()], &[])
        .unwrap();
    close(out.f32(0).unwrap(), &[1., 2., 5., 3., 4., 6.]);
    close(out.f32(1).unwrap(), &[1., 2., 3., 4.]);
    close(out.f32(2).unwrap(), &[5., 6.]);
    assert_eq!(out.f32(3).unwrap().shape(), &[4, 2]);
    close(out.f32(3).unwrap(), &[1., 2., 3., 4., 1., 2., 3., 4.]);
}

#[test]
fn concat_of_i64_and_unknown_dims() {
    let g = Graph::new();
    let x = g.placeholder_typed("ids", DType::I64, [None, Some(2)]);
    let y = g.constant(arr2(&[[7i64, 8]]));
    let c = concat(&[x, y], 0);
    assert_eq!(c.shape(), Shape(vec![None, Some(2)]));
    let mut s = Session::new(&g);
    let xs = arr2(&[[1i64, 2], [3, 4]]);
    let out = s.run(&[c.into()], &[(x, (&xs).into())]).unwrap();
    assert_eq!(
        out.i64(0).unwrap(),
        &arr2(&[[1i64, 2], [3, 4], [7, 8]]).into_dyn()
    );
}

#[test]
fn concat_incompatible_shapes_names_operands() {
    let g = Graph::new();
    let a = g.placeholder("a", [2, 3]);
    let b = g.placeholder("b", [4, 5]);
    let err = concat(&[a, b], 1).check().unwrap_err();
    match &err {
        Error::Shape {
            op,
            operands,
            reason,
            ..
        } => {
            assert_eq!(op, "Concat");
            assert_eq!(operands[0].0, "a");
            assert_eq!(operands[1].0, "b");
            assert!(operands[0].1.contains("[2, 3]"), "{err}");
            assert!(operands[1].1.contains("[4, 5]"), "{err}");
            assert!(reason.contains("dimension 0"), "{err}");
        }
        e => panic!("expected a shape error, got {e}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`a` [2, 3] f32") && msg.contains("`b` [4, 5] f32"),
        "{msg}"
    );
    assert!(concat(&[a, g.placeholder("c", [2])], 0).check().is_err());
    assert!(concat(&[a, a], 2).check().is_err());
}

#[test]
fn slice_out_of_bounds() {
    let g = Graph::new();
    let x = g.placeholder("x", [4, 5]);
    assert!(slice(x, &[3, 0], &[2, -1]).check().is_err());
    assert!(slice(x, &[0], &[1]).check().is_err());
    assert!(slice(x, &[-1, 0], &[1, 1]).check().is_err());
    let g = Graph::new();
    let y = g.placeholder("y", [None, Some(5)]);
    let s1 = slice(y, &[3, 0], &[2, -1]);
    assert_eq!(s1.shape(), Shape::known(&[2, 5]));
    let mut s = Session::new(&g);
    let ys = ndarray::Array2::<f32>::zeros((4, 5));
    let err = s.run(&[s1.into()], &[(y, (&ys).into())]).unwrap_err();
    assert!(matches!(err, Error::Runtime { .. }), "{err}");
    assert!(err.to_string().contains("out of bounds"), "{err}");
}

#[test]
fn transpose_values() {
    let g = Graph::new();
    let x = g.constant(arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    let t = transpose(x, &[1, 0]);
    assert_eq!(t.shape(), Shape::known(&[3, 2]));
    close(&run_f32(&g, t), &[1., 4., 2., 5., 3., 6.]);
    assert!(transpose(x, &[0, 0]).check().is_err());
}

#[test]
fn gather_rows() {
    let g = Graph::new();
    let table = g.constant(arr2(&[[0.0f32, 1.0], [10.0, 11.0], [20.0, 21.0]]));
    let ids = g.constant(arr2(&[[2i64, 0], [1, 1]]));
    let e = embedding_lookup(table, ids);
    assert_eq!(e.shape(), Shape::known(&[2, 2, 2]));
    close(&run_f32(&g, e), &[20., 21., 0., 1., 10., 11., 10., 11.]);
}

#[test]
fn gather_index_out_of_range_is_a_runtime_error() {
    let g = Graph::new();
    let table = g.variable("emb", init::zeros(&[3, 2]));
    let ids = g.placeholder_typed("ids", DType::I64, [None]);
    let e = gather(table, ids).named("lookup");
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let bad = arr1(&[0i64, 3]);
    let err = s.run(&[e.into()], &[(ids, (&bad).into())]).unwrap_err();
    match &err {
        Error::Runtime { node, reason, .. } => {
            assert_eq!(node, "lookup");
            assert!(reason.contains("index 3"), "{err}");
            assert!(reason.contains("[0, 3)"), "{err}");
        }
        e => panic!("expected a runtime error, got {e}"),
    }
    let neg = arr1(&[-1i64]);
    assert!(s.run(&[e.into()], &[(ids, (&neg).into())]).is_err());
    let ok = arr1(&[2i64]);
    assert!(s.run(&[e.into()], &[(ids, (&ok).into())]).is_ok());
    // float indices are a build error
    let g2 = Graph::new();
    let fi = g2.placeholder("fi", [2]);
    let err = gather(g2.placeholder("t", [3, 2]), fi).check().unwrap_err();
    assert!(err.to_string().contains("indices must be i64"), "{err}");
}

#[test]
fn gather_gradient_scatter_adds_repeated_rows() {
    let g = Graph::new();
    let table = g.variable("emb", init::ones(&[4, 2]));
    let ids = g.constant(arr1(&[1i64, 3, 1]));
    let loss = reduce_sum_all(gather(table, ids));
    let grad = gradients(&[loss], &[table]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let out = s.run(&[grad.into()], &[]).unwrap();
    close(out.f32(0).unwrap(), &[0., 0., 2., 2., 0., 0., 1., 1.]);
}

#[test]
fn softmax_rows_sum_to_one_and_are_stable() {
    let g = Graph::new();
    let x = g.constant(arr2(&[[1.0f32, 2.0, 3.0], [1000.0, 1000.0, -1000.0]]));
    let p = softmax(x);
    let lp = log_softmax(x);
    let mut s = Session::new(&g);
    let out = s.run(&[p.into(), lp.into()], &[]).unwrap();
    let p = out.f32(0).unwrap();
    let e: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).collect();
    let z: f32 = e.iter().sum();
    close(p, &[e[0] / z, e[1] / z, e[2] / z, 0.5, 0.5, 0.0]);
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-6);
    }
    let lp = out.f32(1).unwrap();
    assert!(lp.iter().all(|v| v.is_finite()));
    close(
        &lp.slice(ndarray::s![0, ..]).to_owned().into_dyn(),
        &[(e[0] / z).ln(), (e[1] / z).ln(), (e[2] / z).ln()],
    );
    // f32 spacing near 1000 is 6e-5
    assert!((lp[[1, 0]] - 0.5f32.ln()).abs() < 1e-3);
}

#[test]
fn cross_entropy_equals_minus_log_p() {
    let g = Graph::new();
    let logits = g.constant(arr2(&[[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]]));
    let labels = g.constant(arr2(&[[0.0f32, 0.0, 1.0], [0.5, 0.5, 0.0]]));
    let dense = softmax_cross_entropy_with_logits(labels, logits);
    let ids = g.constant(arr1(&[2i64, 0]));
    let sparse = sparse_softmax_cross_entropy_with_logits(ids, logits);
    assert_eq!(dense.shape(), Shape::known(&[2]));
    assert_eq!(sparse.shape(), Shape::known(&[2]));
    let big = g.constant(arr2(&[[1000.0f32, 0.0]]));
    let big_loss = sparse_softmax_cross_entropy_with_logits(g.constant(arr1(&[1i64])), big);
    let mut s = Session::new(&g);
    let out = s
        .run(&[dense.into(), sparse.into(), big_loss.into()], &[])
        .unwrap();
    let z: f32 = [1.0f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    let p2 = 3.0f32.exp() / z;
    let third = (1.0f32 / 3.0).ln();
    close(out.f32(0).unwrap(), &[-p2.ln(), -third]);
    close(out.f32(1).unwrap(), &[-p2.ln(), -third]);
    close(out.f32(2).unwrap(), &[1000.0]);
}

#[test]
fn sparse_label_out_of_range_is_a_runtime_error() {
    let g = Graph::new();
    let logits = g.placeholder("logits", [None, Some(3)]);
    let labels = g.placeholder_typed("labels", DType::I64, [None]);
    let loss = sparse_softmax_cross_entropy_with_logits(labels, logits).named("xent");
    let mut s = Session::new(&g);
    let xs = ndarray::Array2::<f32>::zeros((2, 3));
    let ys = arr1(&[0i64, 3]);
    let err = s
        .run(
            &[loss.into()],
            &[(logits, (&xs).into()), (labels, (&ys).into())],
        )
        .unwrap_err();
    match &err {
        Error::Runtime { node, reason, .. } => {
            assert_eq!(node, "xent");
            assert!(reason.contains("label 3"), "{err}");
        }
        e => panic!("expected a runtime error, got {e}"),
    }
    // build-time: labels must match logits without the class axis, and be i64
    let g2 = Graph::new();
    let l = g2.placeholder("logits", [4, 3]);
    let y = g2.placeholder_typed("y", DType::I64, [3]);
    assert!(sparse_softmax_cross_entropy_with_logits(y, l)
        .check()
        .is_err());
    let yf = g2.placeholder("yf", [4]);
    assert!(sparse_softmax_cross_entropy_with_logits(yf, l)
        .check()
        .is_err());
    let dl = g2.placeholder("dl", [4, 2]);
    assert!(softmax_cross_entropy_with_logits(dl, l).check().is_err());
}

#[test]
fn argmax_one_hot_cast() {
    let g = Graph::new();
    let x = g.constant(arr2(&[[1.0f32, 5.0, 5.0], [7.0, -1.0, 0.0]]));
    let am = argmax(x, -1);
    assert_eq!(am.dtype(), DType::I64);
    assert_eq!(am.shape(), Shape::known(&[2]));
    let am0 = argmax(x, 0);
    let oh = one_hot(am, 4);
    assert_eq!(oh.shape(), Shape::known(&[2, 4]));
    let oh_pad = one_hot(g.constant(arr1(&[-1i64, 2])), 3);
    let ci = cast(g.constant(array![1.7f32, -1.7, 2.0]), DType::I64);
    let cf = cast(am, DType::F32);
    let mut s = Session::new(&g);
    let out = s
        .run(
            &[
                am.into(),
                am0.into(),
                oh.into(),
                oh_pad.into(),
                ci.into(),
                cf.into(),
            ],
            &[],
        )
        .unwrap();
    assert_eq!(out.i64(0).unwrap().as_slice().unwrap(), &[1, 0]);
    assert_eq!(out.i64(1).unwrap().as_slice().unwrap(), &[1, 0, 0]);
    close(out.f32(2).unwrap(), &[0., 1., 0., 0., 1., 0., 0., 0.]);
    close(out.f32(3).unwrap(), &[0., 0., 0., 0., 0., 1.]);
    assert_eq!(out.i64(4).unwrap().as_slice().unwrap(), &[1, -1, 2]);
    close(out.f32(5).unwrap(), &[1., 0.]);
    assert!(argmax(x, 2).check().is_err());
    assert!(one_hot(x, 3).check().is_err());
}

#[test]
fn accuracy_from_argmax_equal() {
    let g = Graph::new();
    let logits = g.constant(arr2(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]]));
    let labels = g.constant(arr1(&[1i64, 1, 1]));
    let acc = reduce_mean_all(cast(equal(argmax(logits, 1), labels), DType::F32));
    close(&run_f32(&g, acc), &[2.0 / 3.0]);
}

#[test]
fn add_n_values_and_errors() {
    let g = Graph::new();
    let a = g.constant(arr1(&[1.0f32, 2.0]));
    let b = g.constant(arr1(&[10.0f32, 20.0]));
    let s = add_n(&[a, b, a]);
    close(&run_f32(&g, s), &[12., 24.]);
    let g2 = Graph::new();
    let a = g2.placeholder("a", [2]);
    let c = g2.placeholder("c", [1]);
    assert!(add_n(&[a, c]).check().is_err());
    let g3 = Graph::new();
    let i = g3.constant(arr1(&[1i64, 2]));
    let si = add_n(&[i, i]);
    assert_eq!(run_i64(&g3, si).as_slice().unwrap(), &[2, 4]);
}

#[test]
fn matmul_inner_dim_mismatch_names_operands() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("w", init::zeros(&[4, 2]));
    let err = matmul(x, w).check().unwrap_err();
    match &err {
        Error::Shape { op, operands, .. } => {
            assert_eq!(op, "MatMul");
            assert_eq!(operands[0], ("x".to_string(), "[?, 3] f32".to_string()));
            assert_eq!(operands[1], ("w".to_string(), "[4, 2] f32".to_string()));
        }
        e => panic!("expected a shape error, got {e}"),
    }
    assert!(
        err.to_string().contains("inner dimensions differ (3 vs 4)"),
        "{err}"
    );
}

#[test]
fn dropout_scales_kept_units_and_gradient_reuses_mask() {
    let g = Graph::with_seed(3);
    let x = g.placeholder("x", [100, 50]);
    let keep = placeholder_with_default(g.constant(1.0f32), "keep_prob");
    let y = dropout(x, keep);
    assert_eq!(y.shape(), Shape::known(&[100, 50]));
    let dx = gradients(&[reduce_sum_all(y * 3.0)], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    let xs = ndarray::Array2::<f32>::from_elem((100, 50), 2.0);
    // Default keep_prob = 1: identity.
    let out = s.run(&[y.into()], &[(x, (&xs).into())]).unwrap();
    assert_eq!(out.f32(0).unwrap(), &xs.clone().into_dyn());
    // Training: keep_prob = 0.5 fed.
    let kp = ndarray::arr0(0.5f32);
    let feeds = [(x, (&xs).into()), (keep, (&kp).into())];
    let out = s.run(&[y.into(), dx.into()], &feeds).unwrap();
    let (yv, dxv) = (out.f32(0).unwrap(), out.f32(1).unwrap());
    let kept = yv.iter().filter(|&&v| v != 0.0).count();
    assert!(
        yv.iter().all(|&v| v == 0.0 || v == 4.0),
        "kept units scale by 1/keep_prob"
    );
    assert!((2000..3000).contains(&kept), "about half kept: {kept}");
    // Same mask in the gradient: d(3 * sum(x * mask))/dx = 3 * mask = 1.5 * y here.
    for (a, b) in yv.iter().zip(dxv.iter()) {
        assert_eq!(*b, 1.5 * a);
    }
    // A new mask each run.
    let again = s.run(&[y.into()], &feeds).unwrap();
    assert_ne!(again.f32(0).unwrap(), yv);
    let bad = ndarray::arr0(0.0f32);
    let err = s
        .run(&[y.into()], &[(x, (&xs).into()), (keep, (&bad).into())])
        .unwrap_err();
    assert!(matches!(err, Error::Runtime { .. }), "{err}");
    assert!(err.to_string().contains("keep_prob"), "{err}");
    let g2 = Graph::new();
    let x2 = g2.placeholder("x", [3]);
    assert!(dropout(x2, g2.constant(arr1(&[0.5f32]))).check().is_err());
}

#[test]
fn gradients_with_unknown_batch_use_runtime_shapes() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let c = concat(&[x, x * 2.0], 1);
    let r = reshape(c, &[-1]);
    let sl = slice(flatten(expand_dims(r, 0)), &[0, 0], &[-1, -1]);
    let loss = reduce_sum_all(sl * sl) * 0.5;
    let labels = g.constant(arr1(&[1i64, 0]));
    let xent = reduce_sum_all(sparse_softmax_cross_entropy_with_logits(labels, x));
    let ids = g.placeholder_typed("ids", DType::I64, [None]);
    let gl = reduce_sum_all(gather(x, ids));
    let grads = gradients(&[loss], &[x]).unwrap();
    let gx = gradients(&[xent], &[x]).unwrap()[0].unwrap();
    let gg = gradients(&[gl], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    let xs = arr2(&[[1.0f32, 2.0], [3.0, 4.0]]);
    let idv = arr1(&[1i64, 1, 0]);
    let out = s
        .run(
            &[grads[0].unwrap().into(), gx.into(), gg.into()],
            &[(x, (&xs).into()), (ids, (&idv).into())],
        )
        .unwrap();
    close(out.f32(0).unwrap(), &[5., 10., 15., 20.]);
    let p = 1.0 / (1.0 + (-1.0f32).exp()); // softmax([1, 2])[1] = softmax([3, 4])[1]
    close(out.f32(1).unwrap(), &[1.0 - p, p - 1.0, -p, p]);
    close(out.f32(2).unwrap(), &[1., 1., 2., 2.]);
}

#[test]
fn reshape_like_restores_runtime_shape() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, None, Some(2)]);
    let flat = reshape(x, &[-1, 2]);
    assert_eq!(flat.shape(), Shape(vec![None, Some(2)]));
    let back = reshape_like(flat * 3.0, x);
    assert_eq!(back.shape(), x.shape());
    let dx = gradients(&[reduce_sum_all(back)], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    let xs = ndarray::Array3::<f32>::ones((2, 3, 2));
    let out = s
        .run(&[back.into(), dx.into()], &[(x, (&xs).into())])
        .unwrap();
    assert_eq!(out.f32(0).unwrap(), &(xs.clone() * 3.0).into_dyn());
    assert_eq!(out.f32(1).unwrap(), &(xs * 3.0).into_dyn());
    let g2 = Graph::new();
    let a = g2.placeholder("a", [2, 3]);
    let b = g2.placeholder("b", [5]);
    assert!(reshape_like(a, b).check().is_err());
}

#[test]
fn stack_adds_an_axis() {
    let g = Graph::new();
    let a = g.constant(arr1(&[1.0f32, 2.0]));
    let b = g.constant(arr1(&[3.0f32, 4.0]));
    let s0 = stack(&[a, b], 0);
    let s1 = stack(&[a, b], -1);
    assert_eq!(s0.shape(), Shape::known(&[2, 2]));
    let mut s = Session::new(&g);
    let out = s.run(&[s0.into(), s1.into()], &[]).unwrap();
    close(out.f32(0).unwrap(), &[1., 2., 3., 4.]);
    close(out.f32(1).unwrap(), &[1., 3., 2., 4.]);
}
