//! Hostile tests, class 7 (issue 10): builders and initialisers give a typed error or TF1's
//! exact answer (values printed by `tf.compat.v1` for the same calls), never a panic, an
//! abort or a silently dropped value.

use ndarray::arr1;
use staticflow::prelude::*;

fn init_value<'g>(g: &'g Graph, v: Tensor<'g>) -> Result<Value> {
    let init = g.global_variables_initializer();
    let mut s = Session::new(g);
    s.run(&[init.into()], &[])?;
    Ok(s.variable_value(v)?.clone())
}

#[test]
fn empty_lists_are_typed_errors() {
    let e = try_concat(&[], 0).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("concat"));
    let e = try_add_n(&[]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("add_n"));
    let g = Graph::new();
    let x = g.constant(1.0);
    assert!(try_concat(&[reshape(x, &[1])], 0).unwrap().check().is_ok());
    assert!(try_add_n(&[x]).unwrap().check().is_ok());
}

#[test]
fn initialisers_give_tf1_answers_for_degenerate_parameters() {
    let g = Graph::with_seed(1);
    let same = g.variable("same", init::random_uniform(&[3], 1.0, 1.0));
    let nan_std = g.variable("nan_std", init::random_normal(&[3], 0.0, f32::NAN));
    let nan_trunc = g.variable("nan_trunc", init::truncated_normal(&[3], 0.0, f32::NAN));
    let neg_std = g.variable("neg_std", init::random_normal(&[1000], 0.0, -1.0));
    let empty = g.variable("empty", init::glorot_uniform(&[0, 3]));
    let reversed = g.variable("reversed", init::random_uniform(&[100], 2.0, 1.0));
    let init = g.global_variables_initializer();
    let mut s = Session::new(&g);
    s.run(&[init.into()], &[]).unwrap();
    let v = |t| s.variable_value(t).unwrap().as_f32().unwrap().clone();
    assert_eq!(v(same).as_slice().unwrap(), &[1.0, 1.0, 1.0]);
    assert!(v(nan_std).iter().all(|x| x.is_nan()));
    assert!(v(nan_trunc).iter().all(|x| x.is_nan()));
    let n = v(neg_std);
    assert!(n.iter().all(|x| x.is_finite()) && n.iter().any(|&x| x > 0.5));
    assert_eq!(v(empty).shape(), &[0, 3]);
    assert!(v(reversed).iter().all(|&x| (1.0..=2.0).contains(&x)));
}

#[test]
fn random_streams_are_unchanged_for_ordinary_parameters() {
    // The same seeds give the same values as `Normal::new(mean, std)` / `Uniform::new` drew
    // before degenerate parameters were handled: mean + std * z, bit for bit.
    let g = Graph::with_seed(7);
    let a = g.variable("a", init::random_normal(&[5], 0.0, 1.0));
    let b = g.variable("b", init::random_normal(&[5], 3.0, 2.0));
    let va = init_value(&g, a).unwrap().into_f32().unwrap();
    let g2 = Graph::with_seed(7);
    let _ = g2.variable("a", init::random_normal(&[5], 0.0, 1.0));
    let b2 = g2.variable("b", init::random_normal(&[5], 3.0, 2.0));
    let vb = init_value(&g2, b2).unwrap().into_f32().unwrap();
    let g3 = Graph::with_seed(7);
    let _ = g3.variable("a", init::random_normal(&[5], 0.0, 1.0));
    let b3 = g3.variable("b", init::random_normal(&[5], 3.0, 2.0));
    let _ = b;
    let vb3 = init_value(&g3, b3).unwrap().into_f32().unwrap();
    assert_eq!(vb, vb3);
    assert!(va.iter().all(|x| x.is_finite()));
}

#[test]
fn bad_variables_are_errors_not_aborts() {
    // A random initialiser on an i64 variable: TF1 has none; the values would be dropped.
    let g = Graph::new();
    let _step = g.variable(
        "step",
        init::random_normal(&[2], 0.0, 1.0).with_dtype(DType::I64),
    );
    // The error is recorded on the variable's initialiser, so the graph reports it.
    let e = g.check().unwrap_err();
    assert!(
        e.to_string()
            .contains("i64 variable needs a constant initialiser"),
        "{e}"
    );
    // A constant i64 initialiser is fine.
    let g = Graph::new();
    let v = g.variable("step", init::constant(&[2], 3.0).with_dtype(DType::I64));
    let got = init_value(&g, v).unwrap();
    assert_eq!(got.as_i64().unwrap().as_slice().unwrap(), &[3, 3]);

    // An element count that overflows usize.
    let g = Graph::new();
    let _huge = g.variable("huge", init::zeros(&[usize::MAX, 2]));
    let e = g.check().unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    // A byte count beyond isize::MAX.
    let g = Graph::new();
    let _huge = g.variable("huge", init::zeros(&[1 << 62]));
    assert!(g.check().unwrap_err().to_string().contains("bytes each"));
    // 128 TiB: a valid shape that no machine can allocate: an error at run time, no abort.
    let g = Graph::new();
    let v = g.variable("too_big", init::random_normal(&[1 << 45], 0.0, 1.0));
    assert!(g.check().is_ok());
    let e = init_value(&g, v).unwrap_err();
    assert!(
        matches!(&e, Error::Runtime { reason, .. } if reason.contains("cannot allocate")),
        "{e:?}"
    );
    // An explicit value of the wrong length (a graph file may say so).
    let g = Graph::new();
    let mut i = init::from_array(&arr1(&[1.0f32, 2.0]).into_dyn());
    i.shape = vec![3];
    let _short = g.variable("short", i);
    assert!(g.check().is_err());
}

#[test]
fn reduction_axes_like_tf1() {
    let g = Graph::new();
    let x = g.constant(ndarray::Array2::<f32>::ones((2, 3)));
    // Out of [-rank, rank): TF1 "Invalid reduction dimension -3 for input with 2 dimensions".
    for axes in [&[-3i64][..], &[2], &[0, 5], &[i64::MIN]] {
        let e = reduce_sum(x, axes, false).check().unwrap_err();
        assert!(
            e.to_string().contains("invalid reduction dimension"),
            "{axes:?}: {e}"
        );
    }
    // Repeated (also via a negative alias): TF1 refuses at run time; here at build time.
    for axes in [&[1i64, 1][..], &[1, -1], &[0, -2, 1]] {
        let e = reduce_max(x, axes, false).check().unwrap_err();
        assert!(e.to_string().contains("twice"), "{axes:?}: {e}");
    }
    // Valid negative axes still work; an empty list reduces nothing (TF1).
    let a = reduce_sum(x, &[-1], false);
    let b = reduce_sum(x, &[], false);
    let mut s = Session::new(&g);
    let out = s.run(&[a.into(), b.into()], &[]).unwrap();
    assert_eq!(out.f32(0).unwrap().as_slice().unwrap(), &[3.0, 3.0]);
    assert_eq!(out.f32(1).unwrap().shape(), &[2, 3]);
}

#[test]
fn integer_division_like_tf1() {
    let g = Graph::new();
    let a = g.placeholder_typed("a", DType::I64, [None]);
    let b = g.placeholder_typed("b", DType::I64, [None]);
    let q = div(a, b).named("q");
    let mut s = Session::new(&g);
    let mut run = |x: &[i64], y: &[i64]| {
        let (x, y) = (arr1(x).into_dyn(), arr1(y).into_dyn());
        s.run(&[q.into()], &[(a, (&x).into()), (b, (&y).into())])
            .map(|o| o.i64(0).unwrap().iter().copied().collect::<Vec<_>>())
    };
    let e = run(&[1, 2], &[1, 0]).unwrap_err();
    assert!(
        matches!(&e, Error::Runtime { node, reason, .. } if node == "q" && reason == "Integer division by zero"),
        "{e:?}"
    );
    assert_eq!(run(&[i64::MIN], &[-1]).unwrap(), [i64::MIN]);
    assert_eq!(run(&[7, -7, 6], &[2, 2, -3]).unwrap(), [3, -3, -2]);
}

#[test]
fn bool_initialisers_and_logic_reductions_like_tf1() {
    // TF1 has no random bool initialiser.
    let g = Graph::new();
    let _m = g.variable(
        "mask",
        init::random_uniform(&[2], 0.0, 1.0).with_dtype(DType::Bool),
    );
    let e = g.check().unwrap_err();
    assert!(
        e.to_string()
            .contains("a bool variable needs a constant initialiser"),
        "{e}"
    );
    // A constant is true when nonzero (NaN included), as TF1's cast.
    let g = Graph::new();
    let t = g.variable("t", init::constant(&[2], f32::NAN).with_dtype(DType::Bool));
    let f = g.variable("f", init::zeros(&[2]).with_dtype(DType::Bool));
    assert_eq!(
        init_value(&g, t)
            .unwrap()
            .as_bool()
            .unwrap()
            .as_slice()
            .unwrap(),
        &[true, true]
    );
    assert_eq!(
        init_value(&g, f)
            .unwrap()
            .as_bool()
            .unwrap()
            .as_slice()
            .unwrap(),
        &[false, false]
    );
    // reduce_any / reduce_all take the other reductions' axis rules: out of range and
    // repeated axes are build errors, an empty list reduces nothing.
    let g = Graph::new();
    let c = g.constant(ndarray::array![[true, false, true], [true, true, true]]);
    for axes in [&[2i64][..], &[-3], &[0, 5]] {
        let e = reduce_any(c, axes, false).check().unwrap_err();
        assert!(
            e.to_string().contains("invalid reduction dimension"),
            "{axes:?}: {e}"
        );
    }
    let e = reduce_all(c, &[1, -1], false).check().unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
    let none = reduce_all(c, &[], false);
    let rows = reduce_all(c, &[-1], false);
    let all = reduce_all_all(c);
    let any = reduce_any_all(logical_not(c));
    let mut s = Session::new(&g);
    let out = s
        .run(&[none.into(), rows.into(), all.into(), any.into()], &[])
        .unwrap();
    assert_eq!(out.bool(0).unwrap().shape(), &[2, 3]);
    assert_eq!(out.bool(1).unwrap().as_slice().unwrap(), &[false, true]);
    assert_eq!(out.bool(2).unwrap().shape(), &[] as &[usize]);
    assert!(!out.bool(2).unwrap()[[]]);
    assert!(out.bool(3).unwrap()[[]]);
}
