//! Gradient aggregation ops (`staticflow::ops::aggregate`): the Gram/combine/diagnostic ops
//! against hand computation, every aggregator against the TorchJD / LibMTL fixture
//! (`tests/fixtures/aggregators.json`, made by `scripts/aggregator_fixtures.py`), property
//! tests, session runs against the pure solvers, and graph-file round trips.

mod common;

use ndarray::{arr1, arr2, ArrayD, IxDyn};
use staticflow::ops::aggregate::{
    aggregate_weights, combine, gram, gram_cosine, gram_norms, Aggregator,
};
use staticflow::prelude::*;

fn run1(g: &Graph, t: Tensor<'_>, feeds: &[(Tensor<'_>, ValueView<'_>)]) -> ArrayD<f32> {
    let mut sess = Session::new(g);
    sess.run(&[t.into()], feeds)
        .unwrap()
        .f32(0)
        .unwrap()
        .clone()
}

#[test]
fn gram_matches_hand_computation_over_several_variables() {
    // Task gradients over two variables: a [2, 3] matrix and a [2] vector.
    let a = [
        arr2(&[[1.0f32, 2.0, 0.5], [-1.0, 0.0, 3.0]]).into_dyn(),
        arr2(&[[0.5f32, -2.0, 1.0], [2.0, 1.0, -1.0]]).into_dyn(),
        arr2(&[[0.0f32, 0.0, 0.0], [0.0, 0.0, 0.0]]).into_dyn(),
    ];
    let b = [
        arr1(&[4.0f32, -1.0]).into_dyn(),
        arr1(&[0.25f32, 2.0]).into_dyn(),
        arr1(&[1.0f32, 1.0]).into_dyn(),
    ];
    let g = Graph::new();
    let task_grads: Vec<Vec<Tensor>> = (0..3)
        .map(|i| vec![g.constant(a[i].clone()), g.constant(b[i].clone())])
        .collect();
    let gm = gram(&task_grads);
    let norms = gram_norms(gm);
    let cos = gram_cosine(gm);
    let mut sess = Session::new(&g);
    let out = sess
        .run(&[gm.into(), norms.into(), cos.into()], &[])
        .unwrap();
    let flat =
        |i: usize| -> Vec<f64> { a[i].iter().chain(b[i].iter()).map(|&v| v as f64).collect() };
    let got = out.f32(0).unwrap();
    assert_eq!(got.shape(), &[3, 3]);
    for i in 0..3 {
        for j in 0..3 {
            let want: f64 = flat(i).iter().zip(flat(j)).map(|(x, y)| x * y).sum();
            assert!((got[[i, j]] as f64 - want).abs() < 1e-6, "G[{i}][{j}]");
        }
        let n = out.f32(1).unwrap()[[i]] as f64;
        let want = flat(i).iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((n - want).abs() < 1e-6, "norm {i}: {n} vs {want}");
    }
    let c = out.f32(2).unwrap();
    let g01: f64 = flat(0).iter().zip(flat(1)).map(|(x, y)| x * y).sum();
    let n0 = flat(0).iter().map(|x| x * x).sum::<f64>().sqrt();
    let n1 = flat(1).iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((c[[0, 1]] as f64 - g01 / (n0 * n1)).abs() < 1e-6);
    assert!((c[[0, 0]] - 1.0).abs() < 1e-6);
    // Task 2's first gradient is zero but the second is not: its cosine is defined.
    assert!(c.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
}

#[test]
fn gram_is_accurate_on_long_vectors() {
    // 100,003 elements (not a multiple of the block or lane widths).
    let n = 100_003;
    let x = common::rand_array(&[n], 1);
    let y = common::rand_array(&[n], 2);
    let g = Graph::new();
    let gm = gram(&[vec![g.constant(x.clone())], vec![g.constant(y.clone())]]);
    let got = run1(&g, gm, &[]);
    let want: f64 = x
        .iter()
        .zip(y.iter())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum();
    let xx: f64 = x.iter().map(|&a| a as f64 * a as f64).sum();
    assert!(
        ((got[[0, 1]] as f64 - want) / xx).abs() < 1e-6,
        "{} vs {want}",
        got[[0, 1]]
    );
    assert!(((got[[0, 0]] as f64 - xx) / xx).abs() < 1e-6);
    assert_eq!(got[[0, 1]], got[[1, 0]]);
}

#[test]
fn gram_with_a_zero_row_has_zero_norm_and_cosine() {
    let g = Graph::new();
    let gm = gram(&[
        vec![g.constant(arr1(&[3.0f32, 4.0]))],
        vec![g.constant(arr1(&[0.0f32, 0.0]))],
    ]);
    let (cos, norms) = (gram_cosine(gm), gram_norms(gm));
    let mut sess = Session::new(&g);
    let out = sess.run(&[cos.into(), norms.into()], &[]).unwrap();
    let cos = out.f32(0).unwrap();
    assert_eq!(cos[[0, 1]], 0.0);
    assert_eq!(cos[[1, 1]], 0.0);
    assert_eq!(cos[[0, 0]], 1.0);
    assert_eq!(out.f32(1).unwrap().as_slice().unwrap(), &[5.0, 0.0]);
}

#[test]
fn combine_is_the_weighted_sum() {
    let n = 5000; // more than one block
    let xs: Vec<ArrayD<f32>> = (0..3)
        .map(|k| common::rand_array(&[n / 50, 50], k))
        .collect();
    let w = arr1(&[0.5f32, -2.0, 1.25]);
    let g = Graph::new();
    let wt = g.constant(w.clone());
    let gs: Vec<Tensor> = xs.iter().map(|x| g.constant(x.clone())).collect();
    let got = run1(&g, combine(wt, &gs), &[]);
    assert_eq!(got.shape(), &[n / 50, 50]);
    for (k, v) in got.iter().enumerate() {
        let want: f32 = (0..3).map(|i| w[i] * xs[i].as_slice().unwrap()[k]).sum();
        assert!((v - want).abs() < 1e-5, "{k}: {v} vs {want}");
    }
}

#[test]
fn combine_propagates_nan_weights() {
    let g = Graph::new();
    let w = g.constant(arr1(&[f32::NAN, 1.0]));
    let d = combine(
        w,
        &[
            g.constant(arr1(&[1.0f32, 2.0])),
            g.constant(arr1(&[3.0f32, 4.0])),
        ],
    );
    assert!(run1(&g, d, &[]).iter().all(|v| v.is_nan()));
}

#[test]
fn shape_errors_name_the_culprit() {
    let g = Graph::new();
    let a = g.constant(arr1(&[1.0f32, 2.0]));
    let b = g.constant(arr1(&[1.0f32, 2.0, 3.0]));
    let err = gram(&[vec![a], vec![b]]).check().unwrap_err().to_string();
    assert!(err.contains("task 1") && err.contains("[3]"), "{err}");
    let err = gram(&[vec![a, a], vec![a]])
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task 1 has 1 gradients, task 0 has 2"),
        "{err}"
    );
    let w = g.constant(arr1(&[1.0f32, 2.0, 3.0]));
    let err = combine(w, &[a, a]).check().unwrap_err().to_string();
    assert!(err.contains("weights must have shape [2]"), "{err}");
    let gm = gram(&[vec![a], vec![a]]);
    let losses = g.constant(arr1(&[1.0f32, 2.0]));
    let err = aggregate_weights(Aggregator::gradvac(), gm, losses, None)
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("(gram, losses, state)"), "{err}");
    let err = aggregate_weights(Aggregator::CaGrad { c: -1.0 }, gm, losses, None)
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cagrad: c must be non-negative"), "{err}");
    let bad_losses = g.constant(arr1(&[1.0f32, 2.0, 3.0]));
    let err = aggregate_weights(Aggregator::Mean, gm, bad_losses, None)
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("losses must have shape [T] (T = 2)"), "{err}");
}

#[test]
fn mean_and_sum_weights_in_a_session() {
    let g = Graph::new();
    let gm = g.constant(arr2(&[
        [1.0f32, 0.5, 0.0],
        [0.5, 2.0, 0.0],
        [0.0, 0.0, 0.0],
    ]));
    let losses = g.constant(arr1(&[1.0f32, 1.0, 1.0]));
    let mean = aggregate_weights(Aggregator::Mean, gm, losses, None);
    let sum = aggregate_weights(Aggregator::Sum, gm, losses, None);
    let mut sess = Session::new(&g);
    let out = sess.run(&[mean.into(), sum.into()], &[]).unwrap();
    assert_eq!(
        out.f32(0).unwrap(),
        ArrayD::from_elem(IxDyn(&[3]), 1.0f32 / 3.0)
    );
    assert_eq!(out.f32(1).unwrap(), ArrayD::from_elem(IxDyn(&[3]), 1.0f32));
}
