//! conv2d, max_pool2d, bias_add and the dense/conv layers: forward values against naive
//! loops, finite-difference gradients, shape inference and build errors.
mod common;
use common::{check_gradients, rand_array};
use ndarray::{ArrayD, IxDyn};
use staticflow::layers::{Conv2DLayer, Dense};
use staticflow::*;

/// TF's output size and padding-before for one axis.
fn tf_out(input: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = input.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(input);
        (out, total / 2)
    } else {
        ((input - k) / s + 1, 0)
    }
}

/// Direct convolution with explicit loops.
fn naive_conv(x: &ArrayD<f32>, f: &ArrayD<f32>, s: [usize; 2], same: bool) -> ArrayD<f32> {
    let (n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (kh, kw, oc) = (f.shape()[0], f.shape()[1], f.shape()[3]);
    let (oh, pt) = tf_out(h, kh, s[0], same);
    let (ow, pl) = tf_out(w, kw, s[1], same);
    let mut y = ArrayD::zeros(IxDyn(&[n, oh, ow, oc]));
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let mut acc = 0.0f64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * s[0] + ky) as isize - pt as isize;
                            let ix = (ox * s[1] + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ci in 0..c {
                                acc += x[[b, iy as usize, ix as usize, ci]] as f64
                                    * f[[ky, kx, ci, o]] as f64;
                            }
                        }
                    }
                    y[[b, oy, ox, o]] = acc as f32;
                }
            }
        }
    }
    y
}

fn naive_pool(x: &ArrayD<f32>, k: [usize; 2], s: [usize; 2], same: bool) -> ArrayD<f32> {
    let (n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, pt) = tf_out(h, k[0], s[0], same);
    let (ow, pl) = tf_out(w, k[1], s[1], same);
    let mut y = ArrayD::from_elem(IxDyn(&[n, oh, ow, c]), f32::NEG_INFINITY);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ci in 0..c {
                    for ky in 0..k[0] {
                        for kx in 0..k[1] {
                            let iy = (oy * s[0] + ky) as isize - pt as isize;
                            let ix = (ox * s[1] + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let v = x[[b, iy as usize, ix as usize, ci]];
                            if v > y[[b, oy, ox, ci]] {
                                y[[b, oy, ox, ci]] = v;
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

fn run1(
    build: impl for<'g> Fn(&'g Graph, Tensor<'g>) -> Tensor<'g>,
    x: &ArrayD<f32>,
) -> ArrayD<f32> {
    let g = Graph::new();
    let p = g.placeholder("x", [None, None, None, Some(x.shape()[3])]);
    let y = build(&g, p).check().unwrap();
    let mut s = Session::new(&g);
    s.run(&[y.into()], &[(p, x.into())])
        .unwrap()
        .f32(0)
        .unwrap()
        .clone()
}

fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>, tol: f32, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!(
            (x - y).abs() <= tol * y.abs().max(1.0),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

fn pad(same: bool) -> Padding {
    if same {
        Padding::Same
    } else {
        Padding::Valid
    }
}

#[test]
fn conv2d_matches_naive_convolution() {
    // (batch, h, w, in_c, kh, kw, out_c, strides)
    let cases = [
        (2, 7, 6, 3, 3, 3, 4, [1, 1]),
        (2, 7, 6, 3, 3, 3, 4, [2, 2]),
        (1, 8, 8, 2, 2, 2, 3, [1, 1]), // even kernel: SAME pads right/bottom only
        (3, 5, 5, 4, 2, 2, 5, [2, 2]),
        (2, 9, 7, 3, 5, 5, 16, [1, 1]),
        (1, 6, 9, 5, 4, 3, 2, [2, 1]),
        (2, 4, 4, 3, 1, 1, 6, [1, 1]),
        (5, 10, 10, 16, 3, 3, 8, [1, 1]), // several images per chunk
        (2, 12, 11, 3, 5, 5, 32, [1, 1]), // direct kernel: full 8-pixel blocks + remainder
        (1, 10, 17, 1, 2, 2, 16, [1, 1]), // direct kernel, even window
    ];
    for (i, &(n, h, w, c, kh, kw, oc, s)) in cases.iter().enumerate() {
        for same in [true, false] {
            let x = rand_array(&[n, h, w, c], 10 + i as u64);
            let f = rand_array(&[kh, kw, c, oc], 20 + i as u64);
            let expect = naive_conv(&x, &f, s, same);
            let fc = f.clone();
            let got = run1(
                move |g, p| conv2d(p, g.constant(fc.clone()), s, pad(same)),
                &x,
            );
            assert_close(&got, &expect, 1e-4, &format!("case {i} same={same}"));
        }
    }
}

#[test]
fn conv2d_2x2_same_pads_right_and_bottom() {
    // A 1-channel 2x2 image and an all-ones 2x2 filter: SAME output [i, j] sums x[i..i+2, j..j+2].
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 1]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let got = run1(
        |g, p| {
            conv2d(
                p,
                g.constant(ArrayD::<f32>::ones(IxDyn(&[2, 2, 1, 1]))),
                [1, 1],
                Padding::Same,
            )
        },
        &x,
    );
    assert_eq!(
        got.iter().copied().collect::<Vec<_>>(),
        vec![10.0, 6.0, 7.0, 4.0]
    );
}

#[test]
fn max_pool_matches_naive() {
    let cases = [
        (2, 8, 8, 3, [2, 2], [2, 2]),
        (2, 7, 5, 4, [2, 2], [2, 2]),
        (1, 7, 7, 2, [3, 3], [2, 2]),
        (2, 6, 5, 70, [3, 2], [1, 2]), // more channels than one block
        (2, 7, 5, 16, [2, 2], [2, 2]), // AVX-512 tiling kernel, partial last windows (SAME)
        (1, 6, 7, 32, [3, 3], [3, 3]),
    ];
    for (i, &(n, h, w, c, k, s)) in cases.iter().enumerate() {
        for same in [true, false] {
            let mut x = rand_array(&[n, h, w, c], 30 + i as u64);
            // Tiling windows: a NaN propagates to its (single) window's output.
            let tiles = s == k;
            if tiles {
                x[[0, 1, 1, 0]] = f32::NAN;
            }
            let mut got = run1(move |_, p| max_pool2d(p, k, s, pad(same)), &x);
            let (oy, ox) = (1 / s[0], 1 / s[1]);
            if tiles {
                assert!(got[[0, oy, ox, 0]].is_nan(), "pool case {i}: NaN lost");
                got[[0, oy, ox, 0]] = 0.0;
                x[[0, 1, 1, 0]] = 0.0;
            }
            let mut want = naive_pool(&x, k, s, same);
            if tiles {
                want[[0, oy, ox, 0]] = 0.0;
            }
            assert_close(&got, &want, 0.0, &format!("pool case {i}"));
        }
    }
}

/// Distinct values at least 0.05 apart, shuffled: finite differences never cross a tie.
fn distinct(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let keys = rand_array(&[n], seed);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| keys[a].partial_cmp(&keys[b]).unwrap());
    let mut v = vec![0.0; n];
    for (rank, &i) in idx.iter().enumerate() {
        v[i] = rank as f32 * 0.05 - n as f32 * 0.025;
    }
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

#[test]
fn conv2d_gradients() {
    for (same, s, k) in [
        (true, [1, 1], [3, 3]),
        (false, [1, 1], [3, 3]),
        (true, [2, 2], [3, 3]),
        (false, [2, 1], [2, 3]),
        (true, [1, 1], [2, 2]),
    ] {
        let x = rand_array(&[2, 5, 6, 3], 40);
        let f = rand_array(&[k[0], k[1], 3, 4], 41);
        check_gradients(&[x, f], |_, t| conv2d(t[0], t[1], s, pad(same)), 1e-2);
    }
}

#[test]
fn max_pool2d_gradients() {
    for (same, k, s) in [
        (false, [2, 2], [2, 2]),
        (true, [2, 2], [2, 2]),
        (true, [3, 3], [2, 2]), // overlapping windows
        (false, [3, 2], [1, 1]),
    ] {
        // 16 channels: the AVX-512 kernel for tiling windows.
        for c in [3, 16] {
            let x = distinct(&[2, 5, 5, c], 50);
            check_gradients(&[x], |_, t| max_pool2d(t[0], k, s, pad(same)), 1e-2);
        }
    }
}

#[test]
fn bias_add_gradients() {
    let x = rand_array(&[2, 3, 3, 4], 60);
    let b = rand_array(&[4], 61);
    check_gradients(&[x, b], |_, t| bias_add(t[0], t[1]), 1e-2);
    let x = rand_array(&[5, 3], 62);
    let b = rand_array(&[3], 63);
    check_gradients(&[x, b], |_, t| bias_add(t[0], t[1]), 1e-2);
}

#[test]
fn dense_layer_gradients() {
    let x = rand_array(&[4, 5], 70);
    let w = rand_array(&[5, 3], 71);
    let b = rand_array(&[3], 72);
    // The layer's own ops on fed kernel and bias, then through the layer builder itself.
    check_gradients(
        &[x.clone(), w, b],
        |_, t| tanh(bias_add(matmul(t[0], t[1]), t[2])),
        1e-2,
    );
    check_layer_gradients(&x, |x| dense(x, 3, Activation::Tanh, "fc"), 1e-2);
}

/// Finite-difference check of a layer stack built on a placeholder: the gradient with
/// respect to the input and to every trainable variable (after running the initializer).
fn check_layer_gradients(
    x: &ArrayD<f32>,
    build: impl for<'g> Fn(Tensor<'g>) -> Tensor<'g>,
    tol: f32,
) {
    let g = Graph::with_seed(3);
    let p = g.placeholder("x", Shape::known(x.shape()));
    let y = build(p).check().unwrap();
    let r = g.constant(rand_array(&y.shape().to_vec().unwrap(), 98));
    let loss = reduce_sum_all(y * r);
    let vars = g.trainable_variables();
    assert!(!vars.is_empty());
    let mut wrt = vec![p];
    wrt.extend(&vars);
    let grads: Vec<Tensor> = gradients(&[loss], &wrt)
        .unwrap()
        .into_iter()
        .map(|t| t.unwrap())
        .collect();
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    // Biases start at zero, which puts relus on their kink: move them off it.
    for v in &vars {
        let val = s.variable_value(*v).unwrap().as_f32().unwrap().clone();
        let val = &val + &(rand_array(val.shape(), 5) * 0.1);
        s.set_variable(*v, val.into()).unwrap();
    }
    let eps = 1e-2f32;
    for (i, gr) in grads.iter().enumerate() {
        let sym = s
            .run(&[gr.into()], &[(p, x.into())])
            .unwrap()
            .f32(0)
            .unwrap()
            .clone();
        let base = if i == 0 {
            x.clone()
        } else {
            s.variable_value(wrt[i]).unwrap().as_f32().unwrap().clone()
        };
        let mut eval = |v: &ArrayD<f32>| -> f64 {
            if i == 0 {
                s.run(&[loss.into()], &[(p, v.into())])
                    .unwrap()
                    .scalar(0)
                    .unwrap() as f64
            } else {
                s.set_variable(wrt[i], v.clone().into()).unwrap();
                s.run(&[loss.into()], &[(p, x.into())])
                    .unwrap()
                    .scalar(0)
                    .unwrap() as f64
            }
        };
        for k in 0..base.len() {
            let mut v = base.clone();
            v.as_slice_mut().unwrap()[k] += eps;
            let up = eval(&v);
            v.as_slice_mut().unwrap()[k] -= 2.0 * eps;
            let down = eval(&v);
            let num = ((up - down) / (2.0 * eps as f64)) as f32;
            let sy = sym.as_slice().unwrap()[k];
            assert!(
                (num - sy).abs() <= tol * num.abs().max(1.0),
                "{}: element {k}: symbolic {sy} vs numeric {num}",
                wrt[i].name()
            );
        }
        if i > 0 {
            s.set_variable(wrt[i], base.into()).unwrap();
        }
    }
}

#[test]
fn conv_layer_stack_gradients() {
    let x = rand_array(&[2, 6, 6, 2], 80);
    check_layer_gradients(
        &x,
        |x| {
            let h = conv2d_layer(x, 3, [3, 3], [1, 1], Padding::Same, Activation::Tanh, "c1");
            let h = conv2d_layer(
                h,
                2,
                [2, 2],
                [1, 1],
                Padding::Same,
                Activation::Sigmoid,
                "c2",
            );
            conv2d_layer(h, 3, [2, 2], [2, 2], Padding::Valid, Activation::None, "c3")
        },
        2e-2,
    );
}

#[test]
fn fused_conv_bias_act_matches_separate_ops() {
    // The layer's fused node against conv2d + bias_add (+ relu): values and all gradients.
    // The second shape takes the direct (few input channels) forward kernel.
    for (xs, oc) in [([3, 7, 7, 4], 5), ([2, 9, 10, 3], 16)] {
        fused_case(&xs, oc);
    }
}

fn fused_case(xs: &[usize], oc: usize) {
    let x = rand_array(xs, 84);
    let f = rand_array(&[3, 3, xs[3], oc], 85);
    let b = rand_array(&[oc], 86);
    for relu_on in [true, false] {
        for (s, p) in [([1, 1], Padding::Same), ([2, 2], Padding::Valid)] {
            let g = Graph::new();
            let (xt, ft, bt) = (
                g.constant(x.clone()),
                g.constant(f.clone()),
                g.constant(b.clone()),
            );
            let fused = staticflow::ops::conv::conv2d_bias_act(xt, ft, bt, s, p, relu_on);
            let plain = bias_add(conv2d(xt, ft, s, p), bt);
            let plain = if relu_on { relu(plain) } else { plain };
            let r = g.constant(rand_array(&fused.shape().to_vec().unwrap(), 87));
            let mut fetch = vec![fused, plain];
            for y in [fused, plain] {
                let gr = gradients(&[reduce_sum_all(y * r)], &[xt, ft, bt]).unwrap();
                fetch.extend(gr.into_iter().map(|t| t.unwrap()));
            }
            let mut sess = Session::new(&g);
            let fetches: Vec<Fetch> = fetch.iter().map(|t| t.into()).collect();
            let out = sess.run(&fetches, &[]).unwrap();
            assert_close(out.f32(0).unwrap(), out.f32(1).unwrap(), 1e-5, "forward");
            for k in 0..3 {
                assert_close(
                    out.f32(2 + k).unwrap(),
                    out.f32(5 + k).unwrap(),
                    1e-5,
                    "gradient",
                );
            }
        }
    }
}

#[test]
fn relu_masked_pool_grad_matches_separate_ops() {
    // A fused relu layer feeding a max pool takes its relu gradient inside MaxPoolGrad; the
    // gradients (and the gradient w.r.t. the relu output itself, which must keep TF's routing
    // of dy into all-zero windows) match conv2d + bias_add + relu + max_pool2d. The bias is
    // pushed negative so that many windows are all zero.
    // 16 channels and tiling windows take the AVX-512 pool-gradient kernel.
    for oc in [5, 16] {
        relu_masked_case(oc);
    }
}

fn relu_masked_case(oc: usize) {
    let x = rand_array(&[3, 8, 9, 4], 90);
    let f = rand_array(&[3, 3, 4, oc], 91);
    let b = rand_array(&[oc], 92).mapv(|v| v - 0.6);
    for (k, s, p) in [
        ([2, 2], [2, 2], Padding::Valid),
        ([3, 3], [2, 2], Padding::Same),
    ] {
        let g = Graph::new();
        let (xt, ft, bt) = (
            g.constant(x.clone()),
            g.constant(f.clone()),
            g.constant(b.clone()),
        );
        let fused = staticflow::ops::conv::conv2d_bias_act(xt, ft, bt, [1, 1], Padding::Same, true);
        let plain = relu(bias_add(conv2d(xt, ft, [1, 1], Padding::Same), bt));
        let pf = max_pool2d(fused, k, s, p);
        let pp = max_pool2d(plain, k, s, p);
        let r = g.constant(rand_array(&pf.shape().to_vec().unwrap(), 93));
        let mut fetch = vec![];
        for (y, h) in [(pf, fused), (pp, plain)] {
            let gr = gradients(&[reduce_sum_all(y * r)], &[xt, ft, bt, h]).unwrap();
            fetch.extend(gr.into_iter().map(|t| t.unwrap()));
        }
        let fused_relu_grads = g
            .dag()
            .node_weights()
            .filter(|n| matches!(n.op, staticflow::ops::Op::ReluGradPar(_)))
            .count();
        assert_eq!(
            fused_relu_grads, 0,
            "the relu gradient is folded into the pool's"
        );
        fetch.push(fused);
        let mut sess = Session::new(&g);
        let fetches: Vec<Fetch> = fetch.iter().map(|t| t.into()).collect();
        let out = sess.run(&fetches, &[]).unwrap();
        let (dh, h) = (out.f32(3).unwrap(), out.f32(8).unwrap());
        let routed_to_zero = dh
            .iter()
            .zip(h.iter())
            .filter(|(d, h)| **h == 0.0 && **d != 0.0);
        assert!(
            routed_to_zero.count() > 0,
            "some dy must go into all-zero windows"
        );
        for i in 0..4 {
            assert_close(
                out.f32(i).unwrap(),
                out.f32(4 + i).unwrap(),
                1e-5,
                "gradient",
            );
        }
    }
}

#[test]
fn static_shapes_with_unknown_batch() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(40), Some(40), Some(3)]);
    let h = conv2d_layer(
        x,
        16,
        [5, 5],
        [1, 1],
        Padding::Same,
        Activation::Relu,
        "conv1",
    );
    assert_eq!(h.shape(), Shape(vec![None, Some(40), Some(40), Some(16)]));
    let h = max_pool2d(h, [2, 2], [2, 2], Padding::Valid);
    assert_eq!(h.shape(), Shape(vec![None, Some(20), Some(20), Some(16)]));
    let h = conv2d_layer(
        h,
        48,
        [3, 3],
        [2, 2],
        Padding::Valid,
        Activation::None,
        "conv2",
    );
    assert_eq!(h.shape(), Shape(vec![None, Some(9), Some(9), Some(48)]));
    let h = max_pool2d(h, [2, 2], [2, 2], Padding::Same);
    assert_eq!(h.shape(), Shape(vec![None, Some(5), Some(5), Some(48)]));
    let h = conv2d_layer(
        h,
        64,
        [2, 2],
        [1, 1],
        Padding::Same,
        Activation::Relu,
        "conv4",
    );
    assert_eq!(h.shape(), Shape(vec![None, Some(5), Some(5), Some(64)]));
    let d = g.placeholder("d", [None, Some(7)]);
    let y = dense(d, 100, Activation::Relu, "fc");
    assert_eq!(y.shape(), Shape(vec![None, Some(100)]));
    let y = dense(flatten(h), 100, Activation::Relu, "fc_on_conv");
    assert_eq!(y.shape(), Shape(vec![None, Some(100)]));
    assert_eq!(
        g.tensor_by_name("fc_on_conv/kernel").unwrap().shape(),
        Shape::known(&[5 * 5 * 64, 100])
    );
    // Unknown spatial size stays unknown.
    let u = g.placeholder("u", [None, None, Some(9), Some(3)]);
    let y = conv2d_layer(u, 4, [3, 3], [2, 2], Padding::Same, Activation::None, "cu");
    assert_eq!(y.shape(), Shape(vec![None, None, Some(5), Some(4)]));
    g.check().unwrap();
}

#[test]
fn layer_variables_are_named_under_their_scope() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(8), Some(8), Some(3)]);
    let c = Conv2DLayer::new(
        x,
        4,
        [3, 3],
        [1, 1],
        Padding::Same,
        Activation::Relu,
        "conv1",
    );
    assert_eq!(c.kernel.name(), "conv1/kernel");
    assert_eq!(c.bias.name(), "conv1/bias");
    assert_eq!(c.kernel.shape(), Shape::known(&[3, 3, 3, 4]));
    let d = g.placeholder("d", [None, Some(5)]);
    let l = Dense::new(d, 2, Activation::None, "fc");
    assert_eq!(l.kernel.name(), "fc/kernel");
    assert_eq!(l.bias.name(), "fc/bias");
    assert_eq!(l.kernel.shape(), Shape::known(&[5, 2]));
    let l2 = Dense::new(d, 2, Activation::None, "fc");
    assert_eq!(l2.kernel.name(), "fc_1/kernel");
    // Glorot kernel, zero bias.
    let mut s = Session::new(&g);
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let k = s
        .variable_value(l.kernel)
        .unwrap()
        .as_f32()
        .unwrap()
        .clone();
    let lim = (6.0f32 / 7.0).sqrt();
    assert!(k.iter().all(|v| v.abs() <= lim) && k.iter().any(|&v| v != 0.0));
    let b = s.variable_value(l.bias).unwrap().as_f32().unwrap().clone();
    assert!(b.iter().all(|&v| v == 0.0));
}

#[test]
fn channel_mismatch_names_both_operands_and_shapes() {
    let g = Graph::new();
    let x = g.placeholder("images", [None, Some(8), Some(8), Some(3)]);
    let f = g.variable("filt", init::zeros(&[3, 3, 4, 8]));
    let err = conv2d(x, f, [1, 1], Padding::Same).check().unwrap_err();
    let msg = err.to_string();
    for part in ["images", "filt", "[?, 8, 8, 3]", "[3, 3, 4, 8]", "channels"] {
        assert!(msg.contains(part), "`{part}` missing from: {msg}");
    }
    assert!(matches!(err, Error::Shape { .. }));
}

#[test]
fn other_build_errors() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(4), Some(4), Some(3)]);
    let f = g.variable("f", init::zeros(&[5, 5, 3, 2]));
    let msg = conv2d(x, f, [1, 1], Padding::Valid)
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("VALID") && msg.contains("`x`"), "{msg}");
    let r3 = g.placeholder("r3", [None, Some(4), Some(3)]);
    let msg = max_pool2d(r3, [2, 2], [2, 2], Padding::Valid)
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("rank 4") && msg.contains("r3"), "{msg}");
    let b = g.variable("b", init::zeros(&[5]));
    let msg = bias_add(x, b).check().unwrap_err().to_string();
    assert!(msg.contains("bias") && msg.contains("[5]"), "{msg}");
    let u = g.placeholder("u", [None, None]);
    let msg = dense(u, 3, Activation::Relu, "fc")
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dense") && msg.contains("`u`"), "{msg}");
    let msg = conv2d_layer(u, 3, [3, 3], [1, 1], Padding::Same, Activation::Relu, "c")
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("NHWC") && msg.contains("`u`"), "{msg}");
}

/// Filter gradient of `sum(conv(x, f) * dy)` with explicit loops.
fn naive_dfilter(
    x: &ArrayD<f32>,
    dy: &ArrayD<f32>,
    k: [usize; 2],
    s: [usize; 2],
    same: bool,
) -> ArrayD<f32> {
    let (n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, ow, oc) = (dy.shape()[1], dy.shape()[2], dy.shape()[3]);
    let pt = tf_out(h, k[0], s[0], same).1;
    let pl = tf_out(w, k[1], s[1], same).1;
    let mut df = ArrayD::<f64>::zeros(IxDyn(&[k[0], k[1], c, oc]));
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky) as isize - pt as isize;
                        let ix = (ox * s[1] + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        for ci in 0..c {
                            let xv = x[[b, iy as usize, ix as usize, ci]] as f64;
                            for o in 0..oc {
                                df[[ky, kx, ci, o]] += xv * dy[[b, oy, ox, o]] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    df.mapv(|v| v as f32)
}

#[test]
fn forward_and_filter_gradient_on_large_batches_match_naive() {
    // Large enough that the kernels cut the batch into many chunks, some splitting images.
    for (shape, k, s, same) in [
        ([40, 12, 12, 3], [5, 5], [1, 1], true),
        ([30, 9, 9, 16], [3, 3], [2, 2], false),
        ([20, 6, 6, 64], [2, 2], [1, 1], true),
    ] {
        let x = rand_array(&shape, 91);
        // 16 outputs take the direct kernels (stride 1).
        let oc = if shape[3] == 16 { 8 } else { 16 };
        let g = Graph::new();
        let xt = g.placeholder("x", Shape::known(&shape));
        let f = g.constant(rand_array(&[k[0], k[1], shape[3], oc], 92));
        let y = conv2d(xt, f, s, pad(same));
        let dy = rand_array(&y.shape().to_vec().unwrap(), 93);
        let dyt = g.constant(dy.clone());
        let df = gradients(&[reduce_sum_all(y * dyt)], &[f]).unwrap()[0].unwrap();
        let mut sess = Session::new(&g);
        let out = sess
            .run(&[df.into(), y.into()], &[(xt, (&x).into())])
            .unwrap();
        let fv = rand_array(&[k[0], k[1], shape[3], oc], 92);
        assert_close(
            out.f32(1).unwrap(),
            &naive_conv(&x, &fv, s, same),
            1e-4,
            "forward",
        );
        assert_close(
            out.f32(0).unwrap(),
            &naive_dfilter(&x, &dy, k, s, same),
            1e-3,
            "dfilter",
        );
    }
}

#[test]
fn runtime_batch_sizes_and_repeated_runs() {
    // Unknown batch: different batch sizes through one plan; buffers are reused.
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(6), Some(6), Some(2)]);
    let f = rand_array(&[3, 3, 2, 5], 90);
    let y = conv2d(x, g.constant(f.clone()), [1, 1], Padding::Same);
    let loss = reduce_sum_all(square(max_pool2d(y, [2, 2], [2, 2], Padding::Valid)));
    let gx = gradients(&[loss], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    for n in [3usize, 1, 70, 3] {
        let xv = rand_array(&[n, 6, 6, 2], n as u64);
        let out = s.run(&[y.into(), gx.into()], &[(x, (&xv).into())]).unwrap();
        assert_close(
            out.f32(0).unwrap(),
            &naive_conv(&xv, &f, [1, 1], true),
            1e-4,
            "y",
        );
        assert_eq!(out.f32(1).unwrap().shape(), &[n, 6, 6, 2]);
    }
}

/// Input gradient of `sum(conv(x, f) * dy)` with explicit loops (`x`'s shape given).
fn naive_dx(
    xshape: &[usize],
    f: &ArrayD<f32>,
    dy: &ArrayD<f32>,
    s: [usize; 2],
    same: bool,
) -> ArrayD<f32> {
    let (n, h, w, c) = (xshape[0], xshape[1], xshape[2], xshape[3]);
    let (kh, kw) = (f.shape()[0], f.shape()[1]);
    let (oh, ow, oc) = (dy.shape()[1], dy.shape()[2], dy.shape()[3]);
    let pt = tf_out(h, kh, s[0], same).1;
    let pl = tf_out(w, kw, s[1], same).1;
    let mut dx = ArrayD::<f64>::zeros(IxDyn(xshape));
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * s[0] + ky) as isize - pt as isize;
                        let ix = (ox * s[1] + kx) as isize - pl as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        for ci in 0..c {
                            let mut acc = 0.0f64;
                            for o in 0..oc {
                                acc += f[[ky, kx, ci, o]] as f64 * dy[[b, oy, ox, o]] as f64;
                            }
                            dx[[b, iy as usize, ix as usize, ci]] += acc;
                        }
                    }
                }
            }
        }
    }
    dx.mapv(|v| v as f32)
}

#[test]
fn winograd_layers_match_naive() {
    // Stride-1 3x3 convolutions with >= 16 input and output channels take the Winograd
    // kernels (forward, fused bias + relu, input gradient): odd and even sizes, same and
    // valid, several images. (`ops::conv::winograd`'s unit test calls them directly on more
    // shapes, including few channels.)
    for (i, &(n, h, w, c, oc)) in [
        (1, 5, 7, 16, 16),
        (3, 6, 4, 48, 64),
        (3, 9, 8, 16, 48),
        (1, 3, 3, 64, 48),
        (2, 11, 10, 16, 32),
    ]
    .iter()
    .enumerate()
    {
        for same in [true, false] {
            let x = rand_array(&[n, h, w, c], 200 + i as u64);
            let f = rand_array(&[3, 3, c, oc], 210 + i as u64);
            let b = rand_array(&[oc], 220 + i as u64);
            let what = format!("{n}x{h}x{w}x{c} -> {oc}, same={same}");
            let y = naive_conv(&x, &f, [1, 1], same);
            let dy = rand_array(y.shape(), 230 + i as u64);
            let g = Graph::new();
            let (xt, ft, bt) = (
                g.constant(x.clone()),
                g.constant(f.clone()),
                g.constant(b.clone()),
            );
            let conv = conv2d(xt, ft, [1, 1], pad(same));
            let fused = staticflow::ops::conv::conv2d_bias_act(xt, ft, bt, [1, 1], pad(same), true);
            let dx = gradients(&[reduce_sum_all(conv * g.constant(dy.clone()))], &[xt]).unwrap()[0]
                .unwrap();
            let mut sess = Session::new(&g);
            let out = sess
                .run(&[conv.into(), fused.into(), dx.into()], &[])
                .unwrap();
            assert_close(out.f32(0).unwrap(), &y, 1e-4, &format!("forward {what}"));
            let yb = (&y + &b).mapv(|v| v.max(0.0));
            assert_close(out.f32(1).unwrap(), &yb, 1e-4, &format!("fused {what}"));
            let want = naive_dx(x.shape(), &f, &dy, [1, 1], same);
            assert_close(out.f32(2).unwrap(), &want, 1e-4, &format!("dx {what}"));
        }
    }
}

#[test]
fn winograd_layer_gradients() {
    // Finite differences through the Winograd forward and input-gradient kernels.
    for same in [true, false] {
        let x = rand_array(&[1, 5, 4, 16], 240);
        let f = rand_array(&[3, 3, 16, 16], 241);
        check_gradients(&[x, f], |_, t| conv2d(t[0], t[1], [1, 1], pad(same)), 1e-2);
    }
}
