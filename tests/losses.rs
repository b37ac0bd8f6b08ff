//! The `losses` module beyond TF1's numbers (those are in tests/tf1_losses.rs): finite
//! differences of the new ops and of the composite losses, typed errors naming the node for
//! bad operands, the graph collections, and `get_total_loss` / regularizers.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod common;

use common::{check_gradients, rand_array};
use ndarray::{array, ArrayD, IxDyn};
use staticflow::losses::{self, Reduction};
use staticflow::ops::weights::broadcast_weights;
use staticflow::prelude::*;

#[test]
fn new_ops_have_finite_difference_gradients() {
    let x = rand_array(&[3, 4], 1).mapv(|v| 3.0 * v);
    let z = rand_array(&[3, 4], 2).mapv(|v| v.abs().min(1.0));
    check_gradients(
        &[z.clone(), x.clone()],
        |_, t| sigmoid_cross_entropy_with_logits(t[0], t[1]),
        1e-2,
    );
    // div_no_nan away from b = 0 is a division; with broadcasting.
    let b = rand_array(&[4], 3).mapv(|v| v.abs() + 0.5);
    check_gradients(&[x.clone(), b], |_, t| div_no_nan(t[0], t[1]), 1e-2);
    // Weights [3, 1] broadcast to [3, 4]: the gradient sums over the broadcast axis.
    let w = rand_array(&[3, 1], 4);
    check_gradients(
        &[w, x.clone()],
        |_, t| broadcast_weights(t[0], t[1]) * t[1],
        1e-2,
    );
}

#[test]
fn composite_losses_have_finite_difference_gradients() {
    let labels = rand_array(&[3, 4], 5);
    // Errors away from Huber's kinks (0 and delta).
    let preds =
        labels.clone() + rand_array(&[3, 4], 6).mapv(|v| if v >= 0.0 { v + 0.2 } else { v - 0.2 });
    let w = rand_array(&[3, 1], 7).mapv(|v| v.abs() + 0.1);
    for r in [
        Reduction::Sum,
        Reduction::Mean,
        Reduction::SumByNonzeroWeights,
    ] {
        check_gradients(
            &[labels.clone(), preds.clone(), w.clone()],
            |_, t| losses::huber_loss(t[0], t[1], t[2], 0.5, r),
            2e-2,
        );
        check_gradients(
            &[labels.clone(), preds.clone(), w.clone()],
            |_, t| losses::mean_squared_error(t[0], t[1], t[2], r),
            2e-2,
        );
    }
    let probs = rand_array(&[3, 4], 8).mapv(|v| 0.5 + 0.4 * v.clamp(-1.0, 1.0));
    let soft = rand_array(&[3, 4], 9).mapv(|v| v.abs().min(1.0));
    check_gradients(
        &[soft.clone(), probs],
        |_, t| losses::log_loss(t[0], t[1], 1.0, 1e-7, Reduction::SumOverBatchSize),
        2e-2,
    );
    check_gradients(
        &[soft, labels.clone()],
        |_, t| losses::sigmoid_cross_entropy(t[0], t[1], 1.0, 0.1, Reduction::Mean),
        2e-2,
    );
    check_gradients(
        &[labels, preds],
        |_, t| losses::cosine_distance(t[0], t[1], 1, 1.0, Reduction::None),
        2e-2,
    );
}

fn run(g: &Graph, t: Tensor<'_>) -> ArrayD<f32> {
    Session::new(g)
        .run(&[t.into()], &[])
        .unwrap()
        .f32(0)
        .unwrap()
        .clone()
}

#[test]
fn div_no_nan_is_zero_where_the_denominator_is() {
    let g = Graph::new();
    let a = g.constant(array![1.0f32, f32::NAN, 0.0, 6.0].into_dyn());
    let b = g.constant(array![0.0f32, 0.0, 0.0, 3.0].into_dyn());
    let y = div_no_nan(a, b);
    let da = gradients(&[y], &[a, b]).unwrap();
    let out = Session::new(&g)
        .run(
            &[y.into(), da[0].unwrap().into(), da[1].unwrap().into()],
            &[],
        )
        .unwrap();
    assert_eq!(
        out.f32(0).unwrap().as_slice().unwrap(),
        &[0.0, 0.0, 0.0, 2.0]
    );
    assert_eq!(
        out.f32(1).unwrap().as_slice().unwrap(),
        &[0.0, 0.0, 0.0, 1.0 / 3.0]
    );
    assert_eq!(
        out.f32(2).unwrap().as_slice().unwrap(),
        &[0.0, 0.0, 0.0, -6.0 / 9.0]
    );
}

#[test]
fn reductions_follow_tf1_by_hand() {
    // losses [[1, 4], [9, 16]] (squared errors), weights [[0], [2]] per row.
    let g = Graph::new();
    let labels = g.constant(ArrayD::<f32>::zeros(IxDyn(&[2, 2])));
    let preds = g.constant(array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
    let w = g.constant(array![[0.0f32], [2.0]].into_dyn());
    let want = [
        (Reduction::Sum, 50.0),
        (Reduction::Mean, 50.0 / 4.0),
        (Reduction::SumOverBatchSize, 50.0 / 4.0),
        (Reduction::SumByNonzeroWeights, 50.0 / 2.0),
    ];
    let built: Vec<_> = want
        .iter()
        .map(|(r, _)| losses::mean_squared_error(labels, preds, w, *r))
        .collect();
    let none = losses::mean_squared_error(labels, preds, w, Reduction::None);
    // All weights 0: TF1's safe mean gives 0, not NaN.
    let zero = losses::mean_squared_error(labels, preds, 0.0, Reduction::default());
    let mut fetches: Vec<Fetch> = built.iter().map(|t| (*t).into()).collect();
    fetches.extend([Fetch::from(none), zero.into()]);
    let out = Session::new(&g).run(&fetches, &[]).unwrap();
    for (k, (r, v)) in want.iter().enumerate() {
        assert_eq!(out.scalar(k).unwrap(), *v, "{r:?}");
    }
    assert_eq!(
        out.f32(4).unwrap(),
        &array![[0.0f32, 0.0], [18.0, 32.0]].into_dyn()
    );
    assert_eq!(out.scalar(5).unwrap(), 0.0);
    assert_eq!(losses::get_losses(&g, None).len(), 6);
    // TF1's names: the loss scope, then `weighted_loss/value`.
    assert_eq!(
        losses::get_losses(&g, None)[3].name(),
        "mean_squared_error_3/weighted_loss/value"
    );
    assert_eq!(
        losses::get_losses(&g, Some("mean_squared_error_4")),
        vec![none]
    );
}

#[test]
fn weights_that_do_not_broadcast_are_build_errors_naming_the_node() {
    let g = Graph::new();
    let labels = g.placeholder("labels", [Some(4), Some(3)]);
    let preds = g.placeholder("preds", [Some(4), Some(3)]);
    // [4] against [4, 3]: NumPy would broadcast [3]-wise only, TF1 refuses the rank.
    let w = g.placeholder("w", [Some(4)]);
    let loss = losses::absolute_difference(labels, preds, w, Reduction::Sum);
    let err = loss.check().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("absolute_difference/weighted_loss/BroadcastWeights"),
        "{msg}"
    );
    assert!(msg.contains("weights can not be broadcast"), "{msg}");
    match g.check().unwrap_err() {
        staticflow::Error::Shape {
            op, node, operands, ..
        } => {
            assert_eq!(op, "BroadcastWeights");
            assert_eq!(node, "absolute_difference/weighted_loss/BroadcastWeights");
            assert_eq!(operands[0].0, "w");
        }
        other => panic!("{other}"),
    }
    // Same rank, a dimension neither 1 nor equal.
    let g = Graph::new();
    let x = g.placeholder("x", [Some(4), Some(3)]);
    let w = g.placeholder("w", [Some(4), Some(2)]);
    let msg = losses::mean_squared_error(x, x, w, Reduction::Sum)
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("weights.shape=[4, 2]") || msg.contains("weights.shape"),
        "{msg}"
    );
}

#[test]
fn weights_known_only_at_run_time_are_checked_when_run() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.placeholder("w", [None, None]);
    let loss = losses::mean_squared_error(x, x, w, Reduction::Sum);
    let xs = ArrayD::<f32>::zeros(IxDyn(&[4, 3]));
    let ws = ArrayD::<f32>::ones(IxDyn(&[4, 2]));
    let err = Session::new(&g)
        .run(&[loss.into()], &[(x, (&xs).into()), (w, (&ws).into())])
        .unwrap_err();
    match err {
        staticflow::Error::Runtime { node, reason, .. } => {
            assert_eq!(node, "mean_squared_error/weighted_loss/BroadcastWeights");
            assert!(reason.contains("weights can not be broadcast"), "{reason}");
        }
        other => panic!("{other}"),
    }
    // A fitting run-time shape works: [4, 1] per example.
    let ws = ArrayD::<f32>::ones(IxDyn(&[4, 1]));
    Session::new(&g)
        .run(&[loss.into()], &[(x, (&xs).into()), (w, (&ws).into())])
        .unwrap();
}

#[test]
fn labels_and_logits_of_other_shapes_are_build_errors_naming_the_loss() {
    let g = Graph::new();
    let logits = g.placeholder("logits", [Some(4), Some(3)]);
    let labels = g.placeholder("labels", [Some(4), Some(5)]);
    for (loss, name) in [
        (
            losses::softmax_cross_entropy(labels, logits, 1.0, 0.0, Reduction::default()),
            "softmax_cross_entropy_loss",
        ),
        (
            losses::sigmoid_cross_entropy(labels, logits, 1.0, 0.0, Reduction::default()),
            "sigmoid_cross_entropy_loss",
        ),
        (
            losses::huber_loss(labels, logits, 1.0, 1.0, Reduction::default()),
            "huber_loss",
        ),
    ] {
        match loss.check().unwrap_err() {
            staticflow::Error::Shape {
                node,
                reason,
                operands,
                ..
            } => {
                assert_eq!(node, name);
                assert!(
                    reason.contains("[4, 3]") && reason.contains("[4, 5]"),
                    "{reason}"
                );
                assert_eq!(operands[0].0, "labels");
            }
            other => panic!("{name}: {other}"),
        }
    }
    // The op itself refuses different shapes too.
    let err = sigmoid_cross_entropy_with_logits(labels, logits)
        .check()
        .unwrap_err();
    assert!(
        err.to_string().contains("SigmoidCrossEntropyWithLogits"),
        "{err}"
    );
    // Smoothing outside [0, 1], float class labels for the sparse loss.
    let bad = losses::sigmoid_cross_entropy(logits, logits, 1.0, 1.5, Reduction::Sum);
    assert!(bad
        .check()
        .unwrap_err()
        .to_string()
        .contains("label_smoothing"));
    let bad = losses::sparse_softmax_cross_entropy(logits, logits, 1.0, Reduction::Sum);
    assert!(bad.check().unwrap_err().to_string().contains("i64"));
}

#[test]
fn collections_and_total_loss() {
    let empty = Graph::new();
    assert!(empty.get_collection(GraphKeys::LOSSES).is_empty());
    let err = losses::get_total_loss(&empty, true).unwrap_err();
    assert!(
        matches!(err, staticflow::Error::InvalidArgument(_)),
        "{err}"
    );
    // No regularization terms: the constant 0.
    let reg = losses::get_regularization_loss(&empty);
    assert_eq!(run(&empty, reg).into_raw_vec_and_offset().0, vec![0.0]);

    let g = Graph::new();

    let w = g.variable(
        "w",
        init::from_array(&array![[1.0f32, -2.0], [3.0, 0.5]].into_dyn()),
    );
    let v = g.variable("v", init::from_array(&array![2.0f32].into_dyn()));
    assert!(losses::l2_regularizer(0.0).unwrap().apply(w).is_none());
    assert!(losses::l2_regularizer(-1.0).is_err());
    assert!(losses::l1_regularizer(f32::NAN).is_err());
    let both = losses::l1_l2_regularizer(0.1, 0.5).unwrap();
    let sum = both.apply_all(&[w, v]).unwrap();
    // Collected once, as contrib's apply_regularization: l1 (6.5 + 2) * 0.1 + l2 (14.25 + 4) / 2 * 0.5.
    assert_eq!(losses::get_regularization_losses(&g, None), vec![sum]);
    let x = g.placeholder("x", [Some(2)]);
    let task = losses::absolute_difference(x, v * x, 1.0, Reduction::Sum);
    let total = losses::get_total_loss(&g, true).unwrap();
    let only = losses::get_total_loss(&g, false).unwrap();
    // A named collection of one's own, and clearing.
    g.add_to_collection("mine", x);
    g.add_to_collection("mine", x);
    assert_eq!(g.get_collection("mine"), vec![x, x]);
    assert_eq!(
        g.collection_keys(),
        vec!["regularization_losses", "losses", "mine"]
    );
    g.clear_collection("mine");
    assert!(g.get_collection("mine").is_empty());
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    assert_eq!(total.name(), "total_loss");
    let xs = array![1.0f32, -1.0].into_dyn();
    let out = sess
        .run(
            &[total.into(), only.into(), task.into()],
            &[(x, (&xs).into())],
        )
        .unwrap();
    let want_reg = 0.1 * 8.5 + 0.5 * 18.25 / 2.0;
    assert!((out.scalar(0).unwrap() - (2.0 + want_reg)).abs() < 1e-5);
    assert_eq!(out.scalar(1).unwrap(), 2.0);
    // A tensor of another graph is a build error, not a silent entry.
    let other = Graph::new();
    other.add_to_collection("mine", x);
    assert!(matches!(
        other.check(),
        Err(staticflow::Error::ForeignTensor { .. })
    ));
    assert!(other.get_collection("mine").is_empty());
}

/// A weighted multi-task loss trains: per-example weights mask one task's examples.
#[test]
fn weighted_losses_train_with_a_named_optimizer() {
    let g = Graph::with_seed(3);
    let x = g.placeholder("x", [None, Some(2)]);
    let y = g.placeholder("y", [None, Some(1)]);
    let c = g.placeholder_typed("c", DType::I64, [None]);
    let mask = g.placeholder("mask", [None, Some(1)]);
    let w = g.variable("w", init::zeros(&[2, 1]));
    let k = g.variable("k", init::zeros(&[2, 2]));
    let reg = losses::mean_squared_error(y, matmul(x, w), mask, Reduction::default());
    let cls = losses::sparse_softmax_cross_entropy(c, matmul(x, k), 1.0, Reduction::default());
    losses::l2_regularizer(1e-3).unwrap().apply(k);
    let total = losses::get_total_loss(&g, true).unwrap();
    let opt = Ftrl::new(0.5).with_name("joint");
    let train = opt.minimize(total).unwrap();
    assert_eq!(opt.get_slot(w, "linear").unwrap().name(), "joint/w/linear");
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let xs = array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]].into_dyn();
    let ys = array![[2.0f32], [-1.0], [1.0], [100.0]].into_dyn();
    let cs = array![0i64, 1, 1, 1].into_dyn(); // separable: k[:, 1] - k[:, 0] = (-1, 2)
    let ms = array![[1.0f32], [1.0], [1.0], [0.0]].into_dyn(); // the outlier is masked
    let feeds = [
        (x, (&xs).into()),
        (y, (&ys).into()),
        (c, (&cs).into()),
        (mask, (&ms).into()),
    ];
    let out = sess.run(&[reg.into(), cls.into()], &feeds).unwrap();
    let before = (out.scalar(0).unwrap(), out.scalar(1).unwrap());
    for _ in 0..200 {
        sess.run(&[train.into()], &feeds).unwrap();
    }
    let out = sess.run(&[reg.into(), cls.into()], &feeds).unwrap();
    let after = (out.scalar(0).unwrap(), out.scalar(1).unwrap());
    assert!(after.0 < 0.1 * before.0, "{before:?} -> {after:?}");
    assert!(after.1 < 0.5 * before.1, "{before:?} -> {after:?}");
}

/// Softmax label smoothing needs the class count: a constant when the shape says it, else
/// counted at run time; both give the same loss.
#[test]
fn softmax_label_smoothing_with_a_class_count_known_only_at_run_time() {
    let g = Graph::new();
    let labels_v = array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0]].into_dyn();
    let logits_v = array![[2.0f32, -1.0, 0.5], [0.0, 1.0, 3.0]].into_dyn();
    let (ls, xs) = (g.constant(labels_v.clone()), g.constant(logits_v.clone()));
    let known = losses::softmax_cross_entropy(ls, xs, 1.0, 0.3, Reduction::None);
    let lp = g.placeholder("labels", [None, None]);
    let xp = g.placeholder("logits", [None, None]);
    let unknown = losses::softmax_cross_entropy(lp, xp, 1.0, 0.3, Reduction::None);
    let out = Session::new(&g)
        .run(
            &[known.into(), unknown.into()],
            &[(lp, (&labels_v).into()), (xp, (&logits_v).into())],
        )
        .unwrap();
    assert_eq!(out.f32(0).unwrap(), out.f32(1).unwrap());
    // By hand for row 0: labels (0.8, 0.1, 0.1) against log_softmax(2, -1, 0.5).
    let lse = (2.0f32.exp() + (-1.0f32).exp() + 0.5f32.exp()).ln();
    let want = 0.8 * (lse - 2.0) + 0.1 * (lse + 1.0) + 0.1 * (lse - 0.5);
    assert!((out.f32(0).unwrap()[[0]] - want).abs() < 1e-6);
}
