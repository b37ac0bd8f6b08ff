//! Hostile tests, class 3 (issue 10): `check_numerics` (TF1's messages) and the session's
//! check of every float output (TF1's `add_check_numerics_ops`), which names the first node
//! that produced NaN or Inf, its op, its name scope and the input that was already bad.

use ndarray::{arr1, arr2, ArrayD};
use staticflow::prelude::*;

fn runtime_reason(e: &Error) -> (&str, &str) {
    match e {
        Error::Runtime { node, reason, .. } => (node, reason),
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[test]
fn check_numerics_op_has_tf1_messages() {
    let g = Graph::new();
    let x = g.placeholder("x", [None]);
    let y = check_numerics(x, "my message").named("guard");
    let mut s = Session::new(&g);
    let cases: [(&[f32], Option<&str>); 5] = [
        (&[1.0, 2.0], None),
        (&[1.0, f32::NAN], Some("my message : Tensor had NaN values")),
        (
            &[1.0, f32::INFINITY],
            Some("my message : Tensor had Inf values"),
        ),
        (
            &[f32::NEG_INFINITY],
            Some("my message : Tensor had Inf values"),
        ),
        (
            &[f32::NAN, -1.0, f32::INFINITY],
            Some("my message : Tensor had Inf and NaN values"),
        ),
    ];
    for (v, want) in cases {
        let xs = arr1(v).into_dyn();
        let r = s.run(&[y.into()], &[(x, (&xs).into())]);
        match want {
            None => assert_eq!(r.unwrap().f32(0).unwrap(), &xs),
            Some(msg) => {
                let e = r.unwrap_err();
                let (node, reason) = runtime_reason(&e);
                assert_eq!(node, "guard");
                assert_eq!(reason, msg);
            }
        }
    }
    // An empty tensor is fine; an i64 operand is a build error.
    let xs = ArrayD::<f32>::zeros(ndarray::IxDyn(&[0]));
    assert!(s.run(&[y.into()], &[(x, (&xs).into())]).is_ok());
    let g = Graph::new();
    let i = g.placeholder_typed("i", DType::I64, [Some(2)]);
    let e = check_numerics(i, "m").check().unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
}

#[test]
fn check_numerics_checks_the_gradient_too() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2)]);
    let y = check_numerics(x, "fwd");
    let loss = reduce_sum_all(sqrt(y));
    let dx = gradients(&[loss], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    // sqrt'(0) = inf: the forward value is fine, the gradient is not.
    let xs = arr1(&[0.0f32, 4.0]).into_dyn();
    let e = s.run(&[dx.into()], &[(x, (&xs).into())]).unwrap_err();
    let (_, reason) = runtime_reason(&e);
    assert_eq!(
        reason,
        "Not a number (NaN) or infinity (Inf) values detected in gradient. fwd : Tensor had Inf values"
    );
}

#[test]
fn session_check_names_the_first_producer() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let w = g.variable("w", init::constant(&[2, 2], 1.0));
    let (h, out) = {
        let _s = g.name_scope("encoder");
        let h = log(matmul(x, w));
        (h, relu(h) * 2.0)
    };
    let loss = reduce_mean_all(out);
    let init = g.global_variables_initializer();
    let mut s = Session::new(&g);
    s.run(&[init.into()], &[]).unwrap();

    // Off: the run succeeds and the loss is NaN, as in TF1 without the check.
    let xs = arr2(&[[-1.0f32, 0.5], [1.0, 1.0]]).into_dyn();
    let out_off = s.run(&[loss.into()], &[(x, (&xs).into())]).unwrap();
    assert!(out_off.scalar(0).unwrap().is_nan());

    s.set_check_numerics(true);
    // log of a negative sum: NaN made by the Log node itself.
    let e = s.run(&[loss.into()], &[(x, (&xs).into())]).unwrap_err();
    let Error::Numerics {
        node,
        op,
        scope,
        found,
        bad_input,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((node.as_str(), op.as_str()), (h.name().as_str(), "Log"));
    assert_eq!(scope, "encoder");
    assert_eq!(found, "NaN");
    assert_eq!(bad_input, &None);
    let msg = e.to_string();
    assert!(
        msg.contains("encoder/Log") && msg.contains("produced it"),
        "{msg}"
    );

    // log(0) = -inf.
    let zero = arr2(&[[0.0f32, 0.0]]).into_dyn();
    let e = s.run(&[loss.into()], &[(x, (&zero).into())]).unwrap_err();
    assert!(
        matches!(&e, Error::Numerics { found, .. } if found == "Inf"),
        "{e:?}"
    );

    // A NaN fed in: the first consumer is named, with the placeholder as the bad input.
    let fed = arr2(&[[f32::NAN, 1.0]]).into_dyn();
    let e = s.run(&[loss.into()], &[(x, (&fed).into())]).unwrap_err();
    let Error::Numerics { op, bad_input, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(op, "MatMul");
    assert_eq!(bad_input.as_deref(), Some("x"));
    assert!(
        e.to_string()
            .contains("its input `x` already held NaN or Inf"),
        "{e}"
    );

    // A variable holding Inf: named as the bad input.
    s.set_variable(
        w,
        arr2(&[[f32::INFINITY, 1.0], [1.0, 1.0]]).into_dyn().into(),
    )
    .unwrap();
    let ok = arr2(&[[1.0f32, 1.0]]).into_dyn();
    let e = s.run(&[loss.into()], &[(x, (&ok).into())]).unwrap_err();
    assert!(
        matches!(&e, Error::Numerics { bad_input: Some(b), .. } if b == "w"),
        "{e:?}"
    );
    // Finite again: the checked run gives the same answer as an unchecked one.
    s.set_variable(w, arr2(&[[1.0f32, 1.0], [1.0, 1.0]]).into_dyn().into())
        .unwrap();
    let a = s
        .run(&[loss.into()], &[(x, (&ok).into())])
        .unwrap()
        .scalar(0)
        .unwrap();
    s.set_check_numerics(false);
    let b = s
        .run(&[loss.into()], &[(x, (&ok).into())])
        .unwrap()
        .scalar(0)
        .unwrap();
    assert_eq!(a.to_bits(), b.to_bits());
}

#[test]
fn session_check_catches_a_diverging_training_step() {
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("w", init::random_normal(&[3, 1], 0.0, 1.0));
    let loss = reduce_mean_all(exp(matmul(x, w) * 40.0));
    let train = GradientDescent::new(1e3).minimize(loss).unwrap();
    let init = g.global_variables_initializer();
    let mut s = Session::new(&g);
    s.run(&[init.into()], &[]).unwrap();
    s.set_check_numerics(true);
    let xs = arr2(&[[1.0f32, 2.0, 3.0], [0.5, -1.0, 2.0]]).into_dyn();
    let mut steps = 0;
    let err = loop {
        match s.run(&[train.into(), loss.into()], &[(x, (&xs).into())]) {
            Ok(_) => steps += 1,
            Err(e) => break e,
        }
        assert!(steps < 100, "never diverged");
    };
    assert!(matches!(err, Error::Numerics { .. }), "{err:?}");
    println!("diverged after {steps} steps: {err}");
}
