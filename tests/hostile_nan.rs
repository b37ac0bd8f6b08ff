//! Hostile tests, class 2 (issue 10): NaN is never turned into a number. Every expected
//! value below was printed by TF1 (`tf.compat.v1`, CPU) for the same inputs, except max
//! pooling, where staticflow propagates NaN on purpose (TF1's CPU kernel skips it; see
//! `ops::pool`).

use ndarray::{Array, ArrayD, IxDyn};
use staticflow::ops::conv::conv2d_bias_act;
use staticflow::prelude::*;

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

/// `[nan, -1, 0, 2, inf, -inf]`, the probe vector of the TF1 runs.
fn probe() -> ArrayD<f32> {
    ndarray::arr1(&[NAN, -1.0, 0.0, 2.0, INF, -INF]).into_dyn()
}

/// Bitwise-equal up to NaN payloads: NaN where `want` is NaN, equal elsewhere.
fn same(got: &ArrayD<f32>, want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.is_nan() && w.is_nan()) || g == w,
            "got {got:?}, TF1 gives {want:?}"
        );
    }
}

fn run1<'g>(g: &'g Graph, t: Tensor<'g>) -> ArrayD<f32> {
    run_all(g, &[t]).remove(0)
}

/// Runs every tensor in one session (the graph is complete: a session freezes it).
fn run_all<'g>(g: &'g Graph, ts: &[Tensor<'g>]) -> Vec<ArrayD<f32>> {
    let init = g.global_variables_initializer();
    let mut s = Session::new(g);
    s.run(&[init.into()], &[]).unwrap();
    let fetches: Vec<Fetch> = ts.iter().map(|&t| t.into()).collect();
    let out = s.run(&fetches, &[]).unwrap();
    (0..ts.len()).map(|i| out.f32(i).unwrap().clone()).collect()
}

#[test]
fn elementwise_functions_match_tf1() {
    type Build = for<'g> fn(Tensor<'g>) -> Tensor<'g>;
    let cases: Vec<(&str, Build, [f32; 6])> = vec![
        ("relu", |x| relu(x), [NAN, 0.0, 0.0, 2.0, INF, 0.0]),
        (
            "maximum(x, 0)",
            |x| maximum(x, x.graph().constant(0.0)),
            [NAN, 0.0, 0.0, 2.0, INF, 0.0],
        ),
        (
            "maximum(0, x)",
            |x| maximum(x.graph().constant(0.0), x),
            [NAN, 0.0, 0.0, 2.0, INF, 0.0],
        ),
        (
            "minimum(x, 0)",
            |x| minimum(x, x.graph().constant(0.0)),
            [NAN, -1.0, 0.0, 0.0, 0.0, -INF],
        ),
        (
            "minimum(0, x)",
            |x| minimum(x.graph().constant(0.0), x),
            [NAN, -1.0, 0.0, 0.0, 0.0, -INF],
        ),
        (
            "maximum(x, x)",
            |x| maximum(x, x),
            [NAN, -1.0, 0.0, 2.0, INF, -INF],
        ),
        (
            "clip_by_value(x, -0.5, 0.5)",
            |x| clip_by_value(x, -0.5, 0.5),
            [NAN, -0.5, 0.0, 0.5, 0.5, -0.5],
        ),
        (
            "clip_by_value(x, 6, 4) (lo > hi)",
            |x| clip_by_value(x, 6.0, 4.0),
            [NAN, 6.0, 6.0, 6.0, 6.0, 6.0],
        ),
        (
            "sigmoid",
            |x| sigmoid(x),
            [NAN, 0.268_941_43, 0.5, 0.880_797_1, 1.0, 0.0],
        ),
        (
            "tanh",
            |x| tanh(x),
            [NAN, -0.761_594_2, 0.0, 0.964_027_6, 1.0, -1.0],
        ),
    ];
    for (name, f, want) in cases {
        let g = Graph::new();
        let x = g.constant(probe());
        let got = run1(&g, f(x));
        for (a, b) in got.iter().zip(&want) {
            let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6 || a == b;
            assert!(ok, "{name}: got {got:?}, TF1 gives {want:?}");
        }
    }
}

#[test]
fn reduce_max_propagates_nan_on_every_path() {
    let g = Graph::new();
    // [2, 3, 4] with one NaN at [1, 2, 3].
    let mut v = Array::from_shape_fn((2, 3, 4), |(a, b, c)| (a * 12 + b * 4 + c) as f32);
    v[[1, 2, 3]] = NAN;
    let x = g.constant(v.into_dyn());
    let r = run_all(
        &g,
        &[
            reduce_max_all(x),
            reduce_max(x, &[2], false),
            reduce_max(x, &[0], false),
            reduce_max(x, &[1, 2], true),
            reduce_max(x, &[0, 1, 2], false),
        ],
    );
    same(&r[0], &[NAN]);
    same(&r[1], &[3.0, 7.0, 11.0, 15.0, 19.0, NAN]);
    same(
        &r[2],
        &[12., 13., 14., 15., 16., 17., 18., 19., 20., 21., 22., NAN],
    );
    same(&r[3], &[11.0, NAN]);
    same(&r[4], &[NAN]);
    // NaN first in a lane, then numbers: still NaN (a fold starting at -inf that skips NaN
    // would answer 3).
    let g = Graph::new();
    let y = g.constant(ndarray::arr1(&[NAN, 1.0, 3.0]).into_dyn());
    same(&run1(&g, reduce_max_all(y)), &[NAN]);
}

#[test]
fn gradients_carry_nan_like_tf1() {
    // relu's gradient with a NaN upstream gradient is NaN even where the unit is off.
    let g = Graph::new();
    let x = g.constant(ndarray::arr1(&[1.0f32, -1.0, 0.0]).into_dyn());
    let dy = g.constant(ndarray::arr1(&[NAN, NAN, NAN]).into_dyn());
    let dx = gradients_with(&[relu(x)], &[x], Some(&[dy])).unwrap()[0].unwrap();
    same(&run1(&g, dx), &[NAN, NAN, NAN]);
    // reduce_max's gradient when the maximum is NaN: NaN everywhere (0/0, as in TF1).
    let g = Graph::new();
    let x = g.constant(probe());
    let dx = gradients(&[reduce_max_all(x)], &[x]).unwrap()[0].unwrap();
    same(&run1(&g, dx), &[NAN; 6]);
    // relu and maximum gradients at NaN: TF1 gives 0 to x (NaN > 0 is false).
    let g = Graph::new();
    let x = g.constant(probe());
    let d = gradients(&[relu(x)], &[x]).unwrap()[0].unwrap();
    same(&run1(&g, d), &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    let g = Graph::new();
    let x = g.constant(probe());
    let d = gradients(&[maximum(x, g.constant(0.0))], &[x]).unwrap()[0].unwrap();
    same(&run1(&g, d), &[0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
}

/// `[1, 6, 6, c]` input, filled with `fill` except a NaN at pixel (2, 3) when `nan_pixel`.
fn image(c: usize, fill: f32, nan_pixel: bool) -> ArrayD<f32> {
    let mut x = Array::from_shape_fn((1, 6, 6, c), |(_, i, j, k)| {
        fill * ((i + 2 * j + 3 * k) % 5) as f32 / 5.0
    });
    if nan_pixel {
        x[[0, 2, 3, 0]] = NAN;
    }
    x.into_dyn()
}

#[test]
fn fused_conv_bias_relu_propagates_nan_on_every_kernel_path() {
    // Shapes that take the direct, Winograd and im2col kernels (each with and without AVX-512
    // depending on the machine).
    for &(k, in_c, out_c) in &[
        (1, 16, 16),
        (3, 16, 16),
        (3, 3, 48),
        (5, 3, 16),
        (2, 5, 7),
        (3, 48, 64),
    ] {
        let g = Graph::new();
        let x = g.constant(image(in_c, 1.0, true));
        let f = g.constant(ArrayD::from_elem(IxDyn(&[k, k, in_c, out_c]), 0.1f32));
        // A NaN bias in channel 1, a large negative bias elsewhere (relu off everywhere).
        let mut b = ArrayD::from_elem(IxDyn(&[out_c]), -1e6f32);
        b[[1]] = NAN;
        let b = g.constant(b);
        let y = run1(&g, conv2d_bias_act(x, f, b, [1, 1], Padding::Same, true));
        for ((_, i, j, c), &v) in y
            .view()
            .into_dimensionality::<ndarray::Ix4>()
            .unwrap()
            .indexed_iter()
        {
            let touches_nan_pixel = {
                // SAME padding: the window around (i, j) covers rows i - (k-1)/2 ..
                let (lo, hi) = ((k as isize - 1) / 2, k as isize / 2);
                let (di, dj) = (2 - i as isize, 3 - j as isize);
                -lo <= di && di <= hi && -lo <= dj && dj <= hi
            };
            if c == 1 || touches_nan_pixel {
                assert!(
                    v.is_nan(),
                    "k={k} in_c={in_c} out_c={out_c}: [{i},{j},{c}] = {v}"
                );
            } else {
                assert_eq!(v, 0.0, "k={k} in_c={in_c} out_c={out_c}: [{i},{j},{c}]");
            }
        }
    }
}

#[test]
fn relu_gradient_folded_into_max_pool_keeps_nan() {
    // conv layer (relu) -> max pool, the shape the fused gradients are made for. Every
    // unit is off (bias -100), the upstream gradient is NaN: TF1's ReluGrad gives NaN * 0 =
    // NaN, so every bias gradient is NaN (0 before the fix).
    for &(c, k) in &[(16, 3), (5, 3), (32, 1)] {
        let g = Graph::new();
        let x = g.constant(image(3, 1.0, false));
        let f = g.variable("f", init::constant(&[k, k, 3, c], 0.1));
        let b = g.variable("b", init::constant(&[c], -100.0));
        let h = conv2d_bias_act(x, f, b, [1, 1], Padding::Same, true);
        let p = max_pool2d(h, [2, 2], [2, 2], Padding::Valid);
        let dy = g.constant(ArrayD::from_elem(IxDyn(&[1, 3, 3, c]), NAN));
        let db = gradients_with(&[p], &[b], Some(&[dy])).unwrap()[0].unwrap();
        // With a finite upstream gradient the same units give exactly 0.
        let one = g.constant(ArrayD::from_elem(IxDyn(&[1, 3, 3, c]), 1.0f32));
        let db1 = gradients_with(&[p], &[b], Some(&[one])).unwrap()[0].unwrap();
        let r = run_all(&g, &[db, db1]);
        assert!(r[0].iter().all(|v| v.is_nan()), "c={c} k={k}: {:?}", r[0]);
        assert!(r[1].iter().all(|&v| v == 0.0), "c={c} k={k}: {:?}", r[1]);
    }
}

#[test]
fn max_pool_keeps_nan_and_routes_its_gradient_to_it() {
    for c in [1usize, 16] {
        let g = Graph::new();
        let mut v = ArrayD::from_elem(IxDyn(&[1, 2, 2, c]), 1.0f32);
        v[[0, 0, 1, 0]] = NAN;
        v[[0, 1, 0, 0]] = 3.0;
        let x = g.constant(v);
        let p = max_pool2d(x, [2, 2], [2, 2], Padding::Valid);
        let dx = gradients(&[p], &[x]).unwrap()[0].unwrap();
        let r = run_all(&g, &[p, dx]);
        let (y, d) = (&r[0], &r[1]);
        assert!(y[[0, 0, 0, 0]].is_nan(), "c={c}: {y:?}");
        // The NaN position takes the gradient; the other channels pick their maximum.
        assert_eq!(d[[0, 0, 1, 0]], 1.0, "c={c}: {d:?}");
        assert_eq!(d[[0, 1, 0, 0]], 0.0, "c={c}: {d:?}");
        if c > 1 {
            assert_eq!(d[[0, 0, 0, 1]], 1.0, "first of the tied maxima");
        }
    }
}

#[test]
fn argmax_and_softmax_nan_like_tf1() {
    let g = Graph::new();
    let a = g.constant(ndarray::arr1(&[NAN, 1.0f32, 3.0]).into_dyn());
    let b = g.constant(ndarray::arr1(&[1.0f32, NAN, 3.0]).into_dyn());
    let c = g.constant(ndarray::arr1(&[NAN, NAN, NAN]).into_dyn());
    let fetches = [
        argmax(a, 0).into(),
        argmax(b, 0).into(),
        argmax(c, 0).into(),
    ];
    let mut s = Session::new(&g);
    let out = s.run(&fetches, &[]).unwrap();
    // TF1's CPU argmax skips NaN.
    assert_eq!(out.i64(0).unwrap().iter().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(out.i64(1).unwrap().iter().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(out.i64(2).unwrap().iter().copied().collect::<Vec<_>>(), [0]);
    let g = Graph::new();
    let l = g.constant(ndarray::arr2(&[[1.0f32, NAN], [1.0, INF]]).into_dyn());
    same(&run1(&g, softmax(l)), &[NAN, NAN, NAN, NAN]);
}

#[test]
fn lstm_and_losses_report_nan() {
    let g = Graph::new();
    let mut xv = ArrayD::from_elem(IxDyn(&[2, 3, 4]), 0.5f32);
    xv[[0, 1, 2]] = NAN;
    let x = g.constant(xv);
    let mask = g.constant(ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32));
    let w = g.variable("w", init::constant(&[4 + 5, 20], 0.1));
    let b = g.variable("b", init::zeros(&[20]));
    let h = lstm(x, mask, w, b);
    // A diverged model's loss is NaN, never a healthy-looking number.
    let loss = reduce_mean_all(relu(h)) + l2_loss(h) + reduce_max_all(h);
    let dw = gradients(&[reduce_sum_all(relu(h))], &[w]).unwrap()[0].unwrap();
    let r = run_all(&g, &[h, loss, dw]);
    let hv = &r[0];
    // Sequence 0 is NaN from step 1 on; sequence 1 is finite.
    for t in 0..3 {
        for k in 0..5 {
            assert_eq!(
                hv[[0, t, k]].is_nan(),
                t >= 1,
                "h[0,{t},{k}] = {}",
                hv[[0, t, k]]
            );
            assert!(hv[[1, t, k]].is_finite());
        }
    }
    assert!(r[1][[]].is_nan());
    assert!(r[2].iter().any(|v| v.is_nan()));
}
