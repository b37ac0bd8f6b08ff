//! The fused LSTM op: finite-difference gradients, agreement with an unrolled composition
//! of primitive ops (outputs and gradients), mask semantics, the reverse direction, error
//! reporting and the layer.
mod common;
use common::{check_gradients, rand_array};
use ndarray::{s, Array2, Array3, ArrayD, Ix2, Ix3};
use staticflow::layers::lstm::Lstm;
use staticflow::prelude::*;

/// `[batch, time]` mask with the given real lengths (trailing padding).
fn lengths_mask(lengths: &[usize], time: usize) -> Array2<f32> {
    Array2::from_shape_fn((lengths.len(), time), |(b, t)| {
        if t < lengths[b] {
            1.0
        } else {
            0.0
        }
    })
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn gradients_match_finite_differences() {
    let (batch, time, input, hidden) = (2, 3, 3, 2);
    let x = rand_array(&[batch, time, input], 1);
    let w = rand_array(&[input + hidden, 4 * hidden], 2);
    let b = rand_array(&[4 * hidden], 3) * 0.5;
    let mask = lengths_mask(&[3, 2], time);
    for reverse in [false, true] {
        let m = mask.clone();
        check_gradients(
            &[x.clone(), w.clone(), b.clone()],
            move |g, v| {
                let f = if reverse { lstm_reverse } else { lstm };
                f(v[0], g.constant(m.clone()), v[1], v[2])
            },
            1e-2,
        );
    }
    // A hole inside a sequence is carried like padding.
    let holes = Array2::from_shape_vec((2, 3), vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0]).unwrap();
    check_gradients(
        &[x, w, b],
        move |g, v| lstm(v[0], g.constant(holes.clone()), v[1], v[2]),
        1e-2,
    );
}

/// Builds the LSTM step by step from primitive ops, with per-step inputs and per-gate weights
/// as separate placeholders; returns outputs and gradients in the fused op's layout.
struct Reference {
    h: Array3<f32>,
    dx: Array3<f32>,
    dw: Array2<f32>,
    db: ArrayD<f32>,
}

fn unrolled_reference(
    x: &Array3<f32>,
    mask: &Array2<f32>,
    w: &Array2<f32>,
    b: &ArrayD<f32>,
    r: &Array3<f32>,
    reverse: bool,
) -> Reference {
    let (batch, time, input) = x.dim();
    let hidden = w.ncols() / 4;
    let g = Graph::new();
    let xs: Vec<Tensor> = (0..time)
        .map(|t| g.placeholder(&format!("x{t}"), [batch, input]))
        .collect();
    let wx: Vec<Tensor> = (0..4)
        .map(|k| g.placeholder(&format!("wx{k}"), [input, hidden]))
        .collect();
    let wh: Vec<Tensor> = (0..4)
        .map(|k| g.placeholder(&format!("wh{k}"), [hidden, hidden]))
        .collect();
    let bs: Vec<Tensor> = (0..4)
        .map(|k| g.placeholder(&format!("b{k}"), [hidden]))
        .collect();
    let mut h = g.constant(Array2::<f32>::zeros((batch, hidden)));
    let mut c = g.constant(Array2::<f32>::zeros((batch, hidden)));
    let mut outs = vec![None; time];
    let mut loss = None;
    for step in 0..time {
        let t = if reverse { time - 1 - step } else { step };
        let pre = |k: usize| matmul(xs[t], wx[k]) + matmul(h, wh[k]) + bs[k];
        let (i, j, f, o) = (
            sigmoid(pre(0)),
            tanh(pre(1)),
            sigmoid(pre(2) + 1.0),
            sigmoid(pre(3)),
        );
        let c_new = f * c + i * j;
        let h_new = o * tanh(c_new);
        let m = g.constant(mask.slice(s![.., t..t + 1]).to_owned());
        let keep = 1.0 - m;
        let out = m * h_new;
        h = out + keep * h;
        c = m * c_new + keep * c;
        let term = reduce_sum_all(out * g.constant(r.slice(s![.., t, ..]).to_owned()));
        loss = Some(match loss {
            None => term,
            Some(l) => l + term,
        });
        outs[t] = Some(out);
    }
    let loss = loss.unwrap();
    let mut params = xs.clone();
    params.extend(&wx);
    params.extend(&wh);
    params.extend(&bs);
    let grads: Vec<Tensor> = gradients(&[loss], &params)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let blk = |k: usize| s![.., k * hidden..(k + 1) * hidden];
    let mut feed_vals: Vec<ArrayD<f32>> = (0..time)
        .map(|t| x.slice(s![.., t, ..]).to_owned().into_dyn())
        .collect();
    for k in 0..4 {
        feed_vals.push(w.slice(s![..input, ..]).slice(blk(k)).to_owned().into_dyn());
    }
    for k in 0..4 {
        feed_vals.push(w.slice(s![input.., ..]).slice(blk(k)).to_owned().into_dyn());
    }
    for k in 0..4 {
        feed_vals.push(
            b.slice(s![k * hidden..(k + 1) * hidden])
                .to_owned()
                .into_dyn(),
        );
    }
    let feeds: Vec<_> = params
        .iter()
        .zip(&feed_vals)
        .map(|(p, v)| (*p, v.into()))
        .collect();
    let mut fetches: Vec<Fetch> = outs.iter().map(|o| o.unwrap().into()).collect();
    fetches.extend(grads.iter().map(Fetch::from));
    let mut sess = Session::new(&g);
    let res = sess.run(&fetches, &feeds).unwrap();
    let get2 = |k: usize| {
        res.f32(k)
            .unwrap()
            .clone()
            .into_dimensionality::<Ix2>()
            .unwrap()
    };
    let mut out = Reference {
        h: Array3::zeros((batch, time, hidden)),
        dx: Array3::zeros((batch, time, input)),
        dw: Array2::zeros((input + hidden, 4 * hidden)),
        db: ArrayD::zeros(vec![4 * hidden]),
    };
    for t in 0..time {
        out.h.slice_mut(s![.., t, ..]).assign(&get2(t));
        out.dx.slice_mut(s![.., t, ..]).assign(&get2(time + t));
    }
    for k in 0..4 {
        let base = 2 * time;
        out.dw
            .slice_mut(s![..input, k * hidden..(k + 1) * hidden])
            .assign(&get2(base + k));
        out.dw
            .slice_mut(s![input.., k * hidden..(k + 1) * hidden])
            .assign(&get2(base + 4 + k));
        out.db
            .slice_mut(s![k * hidden..(k + 1) * hidden])
            .assign(res.f32(base + 8 + k).unwrap());
    }
    out
}

/// The fused op's outputs and gradients for the same loss `sum(h * r)`.
fn fused(
    x: &Array3<f32>,
    mask: &Array2<f32>,
    w: &Array2<f32>,
    b: &ArrayD<f32>,
    r: &Array3<f32>,
    reverse: bool,
) -> Reference {
    let g = Graph::new();
    let xp = g.placeholder("x", Shape(vec![None, None, Some(x.dim().2)]));
    let mp = g.placeholder("mask", [None, None]);
    let wp = g.placeholder("w", Shape::known(w.shape()));
    let bp = g.placeholder("b", Shape::known(b.shape()));
    let f = if reverse { lstm_reverse } else { lstm };
    let h = f(xp, mp, wp, bp);
    let loss = reduce_sum_all(h * g.constant(r.clone()));
    let grads: Vec<Tensor> = gradients(&[loss], &[xp, wp, bp])
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let mut sess = Session::new(&g);
    let res = sess
        .run(
            &[h.into(), grads[0].into(), grads[1].into(), grads[2].into()],
            &[
                (xp, x.into()),
                (mp, mask.into()),
                (wp, w.into()),
                (bp, b.into()),
            ],
        )
        .unwrap();
    Reference {
        h: res
            .f32(0)
            .unwrap()
            .clone()
            .into_dimensionality::<Ix3>()
            .unwrap(),
        dx: res
            .f32(1)
            .unwrap()
            .clone()
            .into_dimensionality::<Ix3>()
            .unwrap(),
        dw: res
            .f32(2)
            .unwrap()
            .clone()
            .into_dimensionality::<Ix2>()
            .unwrap(),
        db: res.f32(3).unwrap().clone(),
    }
}

#[test]
fn matches_unrolled_primitive_ops() {
    let (batch, time, input, hidden) = (4, 6, 5, 3);
    let x = rand_array(&[batch, time, input], 11)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let w = rand_array(&[input + hidden, 4 * hidden], 12)
        .into_dimensionality::<Ix2>()
        .unwrap();
    let b = rand_array(&[4 * hidden], 13) * 0.5;
    let r = rand_array(&[batch, time, hidden], 14)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let mut mask = lengths_mask(&[6, 4, 1, 5], time);
    mask[[3, 2]] = 0.0; // a hole
    for reverse in [false, true] {
        let want = unrolled_reference(&x, &mask, &w, &b, &r, reverse);
        let got = fused(&x, &mask, &w, &b, &r, reverse);
        let checks = [
            ("h", max_abs_diff(&want.h.into_dyn(), &got.h.into_dyn())),
            ("dx", max_abs_diff(&want.dx.into_dyn(), &got.dx.into_dyn())),
            ("dw", max_abs_diff(&want.dw.into_dyn(), &got.dw.into_dyn())),
            ("db", max_abs_diff(&want.db, &got.db)),
        ];
        for (name, diff) in checks {
            assert!(diff < 1e-5, "reverse={reverse}: {name} differs by {diff}");
        }
    }
}

#[test]
fn mask_zeroes_padding_and_padding_values_do_not_matter() {
    let (batch, time, input, hidden) = (3, 5, 4, 6);
    let x = rand_array(&[batch, time, input], 21)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let w = rand_array(&[input + hidden, 4 * hidden], 22)
        .into_dimensionality::<Ix2>()
        .unwrap();
    let b = rand_array(&[4 * hidden], 23);
    let r = rand_array(&[batch, time, hidden], 24)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let mask = lengths_mask(&[5, 2, 3], time);
    let mut x2 = x.clone();
    let noise = rand_array(&[batch, time, input], 25) * 50.0;
    for ((bi, t), &m) in mask.indexed_iter() {
        if m == 0.0 {
            for k in 0..input {
                x2[[bi, t, k]] = noise[[bi, t, k]];
            }
        }
    }
    for reverse in [false, true] {
        let a = fused(&x, &mask, &w, &b, &r, reverse);
        let c = fused(&x2, &mask, &w, &b, &r, reverse);
        for ((bi, t), &m) in mask.indexed_iter() {
            let ha = a.h.slice(s![bi, t, ..]);
            if m == 0.0 {
                assert!(
                    ha.iter().all(|&v| v == 0.0),
                    "output at padding ({bi}, {t})"
                );
                let dxa = a.dx.slice(s![bi, t, ..]);
                assert!(dxa.iter().all(|&v| v == 0.0), "dx at padding ({bi}, {t})");
            } else {
                assert!(ha.iter().any(|&v| v != 0.0));
            }
        }
        assert_eq!(
            a.h, c.h,
            "reverse={reverse}: real outputs depend on padding"
        );
        assert_eq!(a.dw, c.dw);
    }
}

#[test]
fn reverse_equals_forward_on_reversed_sequences() {
    let (batch, time, input, hidden) = (3, 5, 4, 3);
    let x = rand_array(&[batch, time, input], 31)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let w = rand_array(&[input + hidden, 4 * hidden], 32)
        .into_dimensionality::<Ix2>()
        .unwrap();
    let b = rand_array(&[4 * hidden], 33);
    let r = Array3::<f32>::zeros((batch, time, hidden));
    let lengths = [5, 2, 4];
    let mask = lengths_mask(&lengths, time);
    let mut xr = Array3::<f32>::zeros(x.dim());
    for (bi, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            xr.slice_mut(s![bi, t, ..])
                .assign(&x.slice(s![bi, len - 1 - t, ..]));
        }
    }
    let back = fused(&x, &mask, &w, &b, &r, true).h;
    let fwd = fused(&xr, &mask, &w, &b, &r, false).h;
    for (bi, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            let d = (&back.slice(s![bi, t, ..]) - &fwd.slice(s![bi, len - 1 - t, ..]))
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(d < 1e-6, "sequence {bi} step {t}: {d}");
        }
    }
}

#[test]
fn shape_errors_are_reported_not_panics() {
    // Build time: w does not have input + hidden rows.
    let g = Graph::new();
    let x = g.placeholder("x", [None, None, Some(4)]);
    let m = g.placeholder("m", [None, None]);
    let w = g.variable("w", init::zeros(&[5, 8]));
    let b = g.variable("b", init::zeros(&[8]));
    let err = lstm(x, m, w, b).check().unwrap_err().to_string();
    assert!(err.contains("input + hidden"), "{err}");
    // Build time: bias of the wrong size.
    let w = g.variable("w2", init::zeros(&[6, 8]));
    let b3 = g.variable("b3", init::zeros(&[7]));
    assert!(lstm(x, m, w, b3).check().is_err());

    // Run time: the mask's [batch, time] disagrees with x's.
    let g = Graph::new();
    let x = g.placeholder("x", [None, None, Some(4)]);
    let m = g.placeholder("m", [None, None]);
    let w = g.placeholder("w", [6, 8]);
    let b = g.placeholder("b", [8]);
    let h = lstm(x, m, w, b).check().unwrap();
    let mut sess = Session::new(&g);
    let xs = Array3::<f32>::zeros((2, 3, 4));
    let ms = Array2::<f32>::ones((2, 4));
    let ws = Array2::<f32>::zeros((6, 8));
    let bs = ndarray::Array1::<f32>::zeros(8);
    let err = sess
        .run(
            &[h.into()],
            &[
                (x, (&xs).into()),
                (m, (&ms).into()),
                (w, (&ws).into()),
                (b, (&bs).into()),
            ],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("mask"), "{err}");
    // Empty batch and zero-length sequences are fine.
    let xs = Array3::<f32>::zeros((0, 3, 4));
    let ms = Array2::<f32>::ones((0, 3));
    let out = sess
        .run(
            &[h.into()],
            &[
                (x, (&xs).into()),
                (m, (&ms).into()),
                (w, (&ws).into()),
                (b, (&bs).into()),
            ],
        )
        .unwrap();
    assert_eq!(out.f32(0).unwrap().shape(), &[0, 3, 2]);
}

#[test]
fn layer_creates_scoped_variables_and_trains() {
    let g = Graph::with_seed(3);
    let x = g.placeholder("x", [None, None, Some(4)]);
    let m = g.placeholder("m", [None, None]);
    let layer = Lstm::new(&g, "enc", 4, 5);
    assert_eq!(layer.w.name(), "enc/kernel");
    assert_eq!(layer.b.name(), "enc/bias");
    assert_eq!(layer.w.shape(), Shape::known(&[9, 20]));
    assert_eq!(layer.b.shape(), Shape::known(&[20]));
    let fwd = layer.apply(x, m);
    let bwd = Lstm::new(&g, "enc", 4, 5).apply_reverse(x, m);
    assert_eq!(g.trainable_variables().len(), 4);
    let target = g.constant(rand_array(&[2, 3, 5], 41) * 0.5);
    let loss = l2_loss(fwd + bwd - target);
    let train = GradientDescent::new(0.05).minimize(loss).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let xs = rand_array(&[2, 3, 4], 42);
    let ms = lengths_mask(&[3, 2], 3);
    let feeds = [(x, (&xs).into()), (m, (&ms).into())];
    let first = sess.run(&[loss.into()], &feeds).unwrap().scalar(0).unwrap();
    for _ in 0..50 {
        sess.run(&[train.into()], &feeds).unwrap();
    }
    let last = sess.run(&[loss.into()], &feeds).unwrap().scalar(0).unwrap();
    assert!(last < first * 0.8, "loss {first} -> {last}");
}

/// The recurrence splits the batch over the rayon pool's threads (contiguous row ranges,
/// one task each): outputs and gradients must be bit-identical to a one-thread run. The
/// batch (37 = 19 + 18 rows) and hidden size (16) are big enough to be split on 2 threads;
/// uneven lengths, a hole and both directions.
#[test]
fn batch_split_over_threads_is_bit_identical() {
    let (batch, time, input, hidden) = (37, 7, 5, 16);
    let x = rand_array(&[batch, time, input], 21)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let w = rand_array(&[input + hidden, 4 * hidden], 22)
        .into_dimensionality::<Ix2>()
        .unwrap()
        * 0.5;
    let b = rand_array(&[4 * hidden], 23) * 0.5;
    let r = rand_array(&[batch, time, hidden], 24)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let lengths: Vec<usize> = (0..batch).map(|k| 1 + (k * 5) % time).collect();
    let mut mask = lengths_mask(&lengths, time);
    mask[[30, 1]] = 0.0; // a hole in the second part
    mask[[3, 0]] = 0.0; // and one in the first
    let run = |threads: usize, reverse: bool| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fused(&x, &mask, &w, &b, &r, reverse))
    };
    for reverse in [false, true] {
        let (one, two) = (run(1, reverse), run(2, reverse));
        assert_eq!(one.h, two.h, "reverse={reverse}: h");
        assert_eq!(one.dx, two.dx, "reverse={reverse}: dx");
        assert_eq!(one.dw, two.dw, "reverse={reverse}: dw");
        assert_eq!(one.db, two.db, "reverse={reverse}: db");
        assert!(one.h.iter().any(|&v| v != 0.0) && one.dw.iter().any(|&v| v != 0.0));
    }
}
