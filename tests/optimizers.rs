//! Optimizers against TF1's formulas computed by hand, same-run ordering, isolation between
//! tasks, error kinds, global step, schedules and clipping.

use ndarray::{arr1, ArrayD};
use staticflow::prelude::*;
use staticflow::train::compute_gradients;

const W0: [f32; 3] = [1.0, -2.0, 0.5];
const X: [f32; 3] = [0.5, 1.5, -1.0];
const Y: [f32; 3] = [1.0, 0.0, 2.0];

/// `loss = l2_loss(w * x - y)` with `w` starting at `W0`.
fn problem(g: &Graph) -> (Tensor<'_>, Tensor<'_>) {
    let w = g.variable("w", init::from_array(&arr1(&W0).into_dyn()));
    let x = g.constant(arr1(&X));
    let y = g.constant(arr1(&Y));
    (w, l2_loss(w * x - y))
}

/// d loss / d w for the problem, in f64.
fn grad_f64(w: &[f64]) -> Vec<f64> {
    (0..3)
        .map(|i| (w[i] * X[i] as f64 - Y[i] as f64) * X[i] as f64)
        .collect()
}

fn values(sess: &Session<'_>, v: Tensor<'_>) -> Vec<f32> {
    sess.variable_value(v)
        .unwrap()
        .as_f32()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

/// Runs two steps of `opt` on the problem and checks `w` after each against `reference`,
/// which updates f64 weights in place from an f64 gradient (step number `t` from 1).
fn check_two_steps<O: Optimizer>(opt: O, mut reference: impl FnMut(&mut [f64], &[f64], i32)) {
    let g = Graph::new();
    let (w, loss) = problem(&g);
    let train = opt.minimize(loss).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut wr: Vec<f64> = W0.iter().map(|&v| v as f64).collect();
    for t in 1..=2 {
        let gr = grad_f64(&wr);
        reference(&mut wr, &gr, t);
        sess.run(&[train.into()], &[]).unwrap();
        let got = values(&sess, w);
        for (k, (a, b)) in got.iter().zip(&wr).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{}: step {t}, element {k}: got {a}, expected {b}",
                opt.name()
            );
        }
    }
}

#[test]
fn gradient_descent_two_steps() {
    check_two_steps(GradientDescent::new(0.1), |w, g, _| {
        for i in 0..3 {
            w[i] -= 0.1 * g[i];
        }
    });
}

#[test]
fn momentum_two_steps() {
    let mut acc = [0.0f64; 3];
    check_two_steps(Momentum::new(0.1, 0.9), move |w, g, _| {
        for i in 0..3 {
            acc[i] = acc[i] * 0.9 + g[i];
            w[i] -= 0.1 * acc[i];
        }
    });
}

#[test]
fn nesterov_momentum_two_steps() {
    let mut acc = [0.0f64; 3];
    check_two_steps(Momentum::new(0.1, 0.9).nesterov(true), move |w, g, _| {
        for i in 0..3 {
            acc[i] = acc[i] * 0.9 + g[i];
            w[i] -= g[i] * 0.1 + acc[i] * 0.9 * 0.1;
        }
    });
}

/// TF1's Adam in f64: `(lr, beta1, beta2, epsilon)`.
fn adam_reference((lr, b1, b2, eps): (f64, f64, f64, f64)) -> impl FnMut(&mut [f64], &[f64], i32) {
    let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
    move |w, g, t| {
        let lr_t = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        for i in 0..3 {
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            w[i] -= lr_t * m[i] / (v[i].sqrt() + eps);
        }
    }
}

#[test]
fn adam_two_steps() {
    check_two_steps(Adam::new(0.01), adam_reference((0.01, 0.9, 0.999, 1e-8)));
}

#[test]
fn adam_custom_hyper_parameters_two_steps() {
    let opt = Adam::new(0.05).beta1(0.8).beta2(0.99).epsilon(1e-3);
    check_two_steps(opt, adam_reference((0.05, 0.8, 0.99, 1e-3)));
}

#[test]
fn adagrad_two_steps() {
    let mut acc = [0.1f64; 3];
    check_two_steps(Adagrad::new(0.1), move |w, g, _| {
        for i in 0..3 {
            acc[i] += g[i] * g[i];
            w[i] -= 0.1 * g[i] / acc[i].sqrt();
        }
    });
}

#[test]
fn rmsprop_two_steps() {
    let (lr, rho, eps) = (0.01f64, 0.9f64, 1e-10f64);
    let (mut ms, mut mom) = ([1.0f64; 3], [0.0f64; 3]);
    check_two_steps(RMSProp::new(0.01), move |w, g, _| {
        for i in 0..3 {
            ms[i] += (g[i] * g[i] - ms[i]) * (1.0 - rho);
            mom[i] = mom[i] * 0.0 + lr * g[i] / (ms[i] + eps).sqrt();
            w[i] -= mom[i];
        }
    });
}

#[test]
fn rmsprop_with_momentum_two_steps() {
    let (lr, rho, mu, eps) = (0.01f64, 0.8f64, 0.5f64, 1e-6f64);
    let (mut ms, mut mom) = ([1.0f64; 3], [0.0f64; 3]);
    let opt = RMSProp::new(0.01).decay(0.8).momentum(0.5).epsilon(1e-6);
    check_two_steps(opt, move |w, g, _| {
        for i in 0..3 {
            ms[i] += (g[i] * g[i] - ms[i]) * (1.0 - rho);
            mom[i] = mom[i] * mu + lr * g[i] / (ms[i] + eps).sqrt();
            w[i] -= mom[i];
        }
    });
}

#[test]
fn slots_are_named_after_scope_and_variable() {
    let g = Graph::new();
    let ws = g.variable("shared/w", init::ones(&[3]));
    let loss = l2_loss(ws);
    // Optimizers can be chosen at run time (e.g. from a command-line flag).
    let opts: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Adam::new(1e-3)),
        Box::new(Momentum::new(0.1, 0.9)),
        Box::new(RMSProp::new(0.1)),
        Box::new(Adagrad::new(0.1)),
        Box::new(Adam::default()),
    ];
    for opt in &opts {
        opt.minimize(loss).unwrap();
    }
    let names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
    for want in [
        "Adam/beta1_power",
        "Adam/beta2_power",
        "Adam/shared/w/m",
        "Adam/shared/w/v",
        "Momentum/shared/w/momentum",
        "RMSProp/shared/w/rms",
        "RMSProp/shared/w/momentum",
        "Adagrad/shared/w/accumulator",
        "Adam_1/shared/w/m",
        "Adam_1/beta1_power",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert_eq!(g.trainable_variables().len(), 1, "slots are not trainable");
}

/// Two losses sharing `ws`; one grouped train op. The reference fetches every gradient at
/// the start values (with `gradients()` in the same graph), then applies Adam by hand in f32
/// with the kernel's exact expression: every bit must agree.
#[test]
fn same_run_updates_see_start_values_bit_for_bit() {
    for loss2_first in [false, true] {
        let g = Graph::new();
        let ws = g.variable(
            "shared/w",
            init::from_array(&arr1(&[0.3f32, -0.7, 1.1]).into_dyn()),
        );
        let w1 = g.variable(
            "task1/w",
            init::from_array(&arr1(&[1.0f32, 2.0, -1.0]).into_dyn()),
        );
        let w2 = g.variable(
            "task2/w",
            init::from_array(&arr1(&[-0.5f32, 0.25, 2.0]).into_dyn()),
        );
        let y = g.constant(arr1(&[1.0f32, -1.0, 0.5]));
        // Gradient ops read the variables directly (d/dw1 = dy * ws, d/dws = dy * w1,
        // d/dw2 = dy * ws), so an update run before them would be visible.
        let loss1 = l2_loss(ws * w1 - y);
        let loss2 = l2_loss(ws * w2 + y);
        // `ws` is updated only by task 1's op, but task 2's gradient depends on it.
        let adam = Adam::new(0.1);
        let (op1, op2) = if loss2_first {
            let op2 = adam.minimize_with(loss2, &[w2]).unwrap();
            (adam.minimize_with(loss1, &[w1, ws]).unwrap(), op2)
        } else {
            let op1 = adam.minimize_with(loss1, &[ws, w1]).unwrap();
            (op1, adam.minimize_with(loss2, &[w2]).unwrap())
        };
        let train = group(&g, &[op1, op2]);
        let g1 = gradients(&[loss1], &[ws, w1]).unwrap();
        let g2 = gradients(&[loss2], &[w2]).unwrap();
        let grads = [g1[0].unwrap(), g1[1].unwrap(), g2[0].unwrap()];
        let vars = [ws, w1, w2];
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let mut state: Vec<(Vec<f32>, Vec<f32>)> = vec![(vec![0.0; 3], vec![0.0; 3]); 3];
        let (b1, b2, eps, lr) = (0.9f32, 0.999f32, 1e-8f32, 0.1f32);
        let (mut b1p, mut b2p) = (b1, b2);
        for step in 0..3 {
            let fetched: Vec<Fetch> = grads.iter().map(|t| t.into()).collect();
            let out = sess.run(&fetched, &[]).unwrap();
            let mut expected = Vec::new();
            for (k, var) in vars.iter().enumerate() {
                let gk: Vec<f32> = out.f32(k).unwrap().iter().copied().collect();
                let mut x = values(&sess, *var);
                let (m, v) = &mut state[k];
                let alpha = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
                for i in 0..3 {
                    m[i] += (gk[i] - m[i]) * (1.0 - b1);
                    v[i] += (gk[i] * gk[i] - v[i]) * (1.0 - b2);
                    x[i] -= (m[i] * alpha) / (v[i].sqrt() + eps);
                }
                expected.push(x);
            }
            b1p *= b1;
            b2p *= b2;
            sess.run(&[train.into()], &[]).unwrap();
            for (k, var) in vars.iter().enumerate() {
                let got = values(&sess, *var);
                let same = got
                    .iter()
                    .zip(&expected[k])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "loss2_first={loss2_first} step {step} {}: got {got:?}, expected {:?}",
                    var.name(),
                    expected[k]
                );
            }
        }
    }
}

#[test]
fn fetched_loss_is_from_before_the_update() {
    let g = Graph::new();
    let (_, loss) = problem(&g);
    let train = Adam::new(0.1).minimize(loss).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    for _ in 0..3 {
        let before = sess.run(&[loss.into()], &[]).unwrap().scalar(0).unwrap();
        let both = sess.run(&[train.into(), loss.into()], &[]).unwrap();
        assert_eq!(both.scalar(1).unwrap().to_bits(), before.to_bits());
        let after = sess.run(&[loss.into()], &[]).unwrap().scalar(0).unwrap();
        assert!(after < before, "{after} !< {before}");
    }
}

#[test]
fn minimize_touches_only_its_loss_path_and_slots_are_per_call() {
    let g = Graph::new();
    let ws = g.variable(
        "shared/w",
        init::from_array(&arr1(&[0.3f32, -0.7]).into_dyn()),
    );
    let w1 = g.variable(
        "task1/w",
        init::from_array(&arr1(&[1.0f32, 2.0]).into_dyn()),
    );
    let w2 = g.variable(
        "task2/w",
        init::from_array(&arr1(&[-0.5f32, 0.25]).into_dyn()),
    );
    let loss1 = l2_loss(ws * w1 - 1.0);
    let loss2 = l2_loss(ws * w2 + 1.0);
    let op1 = Adam::new(0.1).minimize(loss1).unwrap();
    let op2 = Adam::new(0.1).minimize(loss2).unwrap();
    let names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("Adam/task2")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("Adam_1/task1")),
        "{names:?}"
    );
    let m_a = g.tensor_by_name("Adam/shared/w/m").unwrap();
    let m_b = g.tensor_by_name("Adam_1/shared/w/m").unwrap();
    let b1p_a = g.tensor_by_name("Adam/beta1_power").unwrap();
    let b1p_b = g.tensor_by_name("Adam_1/beta1_power").unwrap();
    assert_ne!(m_a, m_b);
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let w2_before = sess.variable_value(w2).unwrap().clone();
    let ws_before = sess.variable_value(ws).unwrap().clone();
    for _ in 0..2 {
        sess.run(&[op1.into()], &[]).unwrap();
    }
    assert_eq!(
        sess.variable_value(w2).unwrap(),
        &w2_before,
        "bit-identical"
    );
    assert_ne!(sess.variable_value(ws).unwrap(), &ws_before);
    assert!(values(&sess, m_a).iter().any(|&m| m != 0.0));
    assert!(
        values(&sess, m_b).iter().all(|&m| m == 0.0),
        "Adam_1's slot untouched"
    );
    assert!(
        (values(&sess, b1p_a)[0] - 0.729).abs() < 1e-6,
        "0.9 * 0.9 * 0.9"
    );
    assert_eq!(values(&sess, b1p_b)[0], 0.9);
    sess.run(&[op2.into()], &[]).unwrap();
    assert!(values(&sess, m_b).iter().any(|&m| m != 0.0));
}

#[test]
fn error_no_trainable_variable_on_path() {
    let g = Graph::new();
    let _w = g.variable("w", init::ones(&[2]));
    let x = g.placeholder("x", [Some(2)]);
    let loss = l2_loss(x).named("data_loss");
    let err = Adam::new(0.1).minimize(loss).unwrap_err();
    assert!(matches!(err, Error::NoPathToVariables { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("data_loss") && msg.contains("w"), "{msg}");
}

#[test]
fn error_unconnected_variable_in_var_list() {
    let g = Graph::new();
    let w1 = g.variable("task1/w", init::ones(&[2]));
    let w2 = g.variable("task2/w", init::ones(&[2]));
    let loss = l2_loss(w1).named("loss1");
    let err = Adam::new(0.1).minimize_with(loss, &[w1, w2]).unwrap_err();
    assert!(matches!(err, Error::UnconnectedVariable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("task2/w") && msg.contains("loss1"), "{msg}");
    assert!(!g
        .global_variables()
        .iter()
        .any(|v| v.name().contains("Adam")));
}

#[test]
fn error_op_without_gradient_on_path() {
    let g = Graph::new();
    let w = g.variable("w", init::from_array(&arr1(&[1.0f32, -1.0]).into_dyn()));
    // The gradient of relu is a `ReluGrad` node, which itself has no gradient.
    let d = gradients(&[reduce_sum_all(relu(w * 3.0))], &[w]).unwrap()[0].unwrap();
    let loss = reduce_sum_all(d * w);
    let err = Momentum::new(0.1, 0.9).minimize(loss).unwrap_err();
    assert!(matches!(err, Error::NoGradient { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("ReluGrad"), "{msg}");
}

#[test]
fn global_step_increments_after_updates() {
    let g = Graph::new();
    let (w, loss) = problem(&g);
    let step = get_or_create_global_step(&g).unwrap();
    assert_eq!(get_or_create_global_step(&g).unwrap(), step);
    assert_eq!(step.name(), "global_step");
    assert_eq!(step.dtype(), DType::I64);
    let lr = exponential_decay(0.1, step, 1, 0.5, false);
    let train = GradientDescent::new(lr)
        .with_global_step(step)
        .minimize(loss)
        .unwrap();
    assert!(!g.trainable_variables().contains(&step));
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut wr: Vec<f64> = W0.iter().map(|&v| v as f64).collect();
    for t in 0..3 {
        let out = sess.run(&[train.into(), lr.into()], &[]).unwrap();
        let want_lr = 0.1 * 0.5f64.powi(t);
        assert!((out.scalar(1).unwrap() as f64 - want_lr).abs() < 1e-7);
        let gr = grad_f64(&wr);
        for i in 0..3 {
            wr[i] -= want_lr * gr[i];
        }
        let got = values(&sess, w);
        for i in 0..3 {
            assert!((got[i] as f64 - wr[i]).abs() < 1e-5, "{got:?} {wr:?}");
        }
        let s = sess.variable_value(step).unwrap().as_i64().unwrap().clone();
        assert_eq!(s.iter().next(), Some(&(t as i64 + 1)));
    }
}

#[test]
fn schedules_follow_tf1() {
    let g = Graph::new();
    let step = get_or_create_global_step(&g).unwrap();
    let stair = exponential_decay(1.0, step, 10, 0.5, true);
    let smooth = exponential_decay(1.0, step, 10, 0.5, false);
    let pw = piecewise_constant(step, &[5, 10], &[1.0, 0.5, 0.1]);
    let bad = piecewise_constant(step, &[5, 10], &[1.0]);
    assert!(bad.check().is_err());
    let g2 = Graph::new();
    let step2 = get_or_create_global_step(&g2).unwrap();
    let stair2 = exponential_decay(1.0, step2, 10, 0.5, true);
    let pw2 = piecewise_constant(step2, &[5, 10], &[1.0, 0.5, 0.1]);
    let smooth2 = exponential_decay(1.0, step2, 10, 0.5, false);
    let mut sess = Session::new(&g2);
    for (s, want_stair, want_pw) in [
        (0i64, 1.0, 1.0),
        (5, 1.0, 1.0),
        (6, 1.0, 0.5),
        (10, 0.5, 0.5),
        (11, 0.5, 0.1),
        (25, 0.25, 0.1),
    ] {
        sess.set_variable(step2, Value::I64(ndarray::arr0(s).into_dyn()))
            .unwrap();
        let out = sess
            .run(&[stair2.into(), pw2.into(), smooth2.into()], &[])
            .unwrap();
        assert_eq!(out.scalar(0).unwrap(), want_stair, "step {s}");
        assert_eq!(out.scalar(1).unwrap(), want_pw, "step {s}");
        let want_smooth = 0.5f64.powf(s as f64 / 10.0);
        assert!((out.scalar(2).unwrap() as f64 - want_smooth).abs() < 1e-6);
    }
    let _ = (stair, smooth, pw);
}

#[test]
fn cosine_decay_follows_tf1() {
    let g = Graph::new();
    let step = get_or_create_global_step(&g).unwrap();
    let lr = cosine_decay(0.2, step, 100, 0.1);
    let mut sess = Session::new(&g);
    // TF1: 0.2 * ((1 - 0.1) * 0.5 * (1 + cos(pi * min(s, 100) / 100)) + 0.1).
    for s in [0i64, 25, 50, 100, 250] {
        sess.set_variable(step, Value::I64(ndarray::arr0(s).into_dyn()))
            .unwrap();
        let got = sess.run(&[lr.into()], &[]).unwrap().scalar(0).unwrap() as f64;
        let t = (s.min(100) as f64) / 100.0;
        let want = 0.2 * (0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()) + 0.1);
        assert!((got - want).abs() < 1e-6, "step {s}: {got} vs {want}");
    }
    assert!(cosine_decay(0.1, step, 0, 0.0).check().is_err());
}

#[test]
fn clip_by_global_norm_tf_semantics() {
    let g = Graph::new();
    let a = g.constant(arr1(&[3.0f32, 0.0]));
    let b = g.constant(arr1(&[0.0f32, 4.0, 0.0]));
    let (big, norm) = clip_by_global_norm(&[a, b], 2.5).unwrap();
    let (small, norm2) = clip_by_global_norm(&[a, b], 10.0).unwrap();
    assert!(clip_by_global_norm(&[], 1.0).is_err());
    assert!(clip_by_global_norm(&[a], 0.0).is_err());
    let mut sess = Session::new(&g);
    let out = sess
        .run(
            &[
                big[0].into(),
                big[1].into(),
                norm.into(),
                small[0].into(),
                norm2.into(),
            ],
            &[],
        )
        .unwrap();
    assert!((out.scalar(2).unwrap() - 5.0).abs() < 1e-6);
    let c0: Vec<f32> = out.f32(0).unwrap().iter().copied().collect();
    let c1: Vec<f32> = out.f32(1).unwrap().iter().copied().collect();
    assert!((c0[0] - 1.5).abs() < 1e-6 && c0[1] == 0.0, "{c0:?}");
    assert!((c1[1] - 2.0).abs() < 1e-6, "{c1:?}");
    let s0: Vec<f32> = out.f32(3).unwrap().iter().copied().collect();
    assert_eq!(s0, vec![3.0, 0.0], "below the clip norm: unchanged");
}

#[test]
fn with_clip_norm_clips_inside_minimize() {
    // Two variables; the update uses gradients scaled to a global norm of 0.5.
    let g = Graph::new();
    let (w, loss) = problem(&g);
    let v = g.variable("v", init::constant(&[], 2.0));
    let loss = loss + l2_loss(v);
    let train = GradientDescent::new(1.0)
        .with_clip_norm(0.5)
        .minimize(loss)
        .unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    sess.run(&[train.into()], &[]).unwrap();
    let w0: Vec<f64> = W0.iter().map(|&x| x as f64).collect();
    let gw = grad_f64(&w0);
    let gv = 2.0f64;
    let norm = (gw.iter().map(|x| x * x).sum::<f64>() + gv * gv).sqrt();
    let scale = 0.5 / norm.max(0.5);
    let got = values(&sess, w);
    for i in 0..3 {
        assert!((got[i] as f64 - (w0[i] - scale * gw[i])).abs() < 1e-6);
    }
    let gotv = values(&sess, v)[0] as f64;
    assert!((gotv - (2.0 - scale * gv)).abs() < 1e-6);
}

#[test]
fn compute_then_apply_gradients_like_tf1() {
    let g = Graph::new();
    let (w, loss) = problem(&g);
    let gv = compute_gradients(loss, None).unwrap();
    assert_eq!(gv.len(), 1);
    assert_eq!(gv[0].1, w);
    let train = Adagrad::new(0.1).apply_gradients(&gv).unwrap();
    let err = Adagrad::new(0.1)
        .apply_gradients(&[gv[0], gv[0]])
        .unwrap_err();
    assert!(err.to_string().contains("`w`"), "{err}");
    let other = Graph::new();
    let foreign_step = get_or_create_global_step(&other).unwrap();
    let err = Adam::new(0.1)
        .with_global_step(foreign_step)
        .minimize(loss)
        .unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
    // A learning rate must be an f32 scalar of the loss's graph.
    let rates = g.placeholder("rates", [Some(2)]);
    let err = GradientDescent::new(rates).minimize(loss).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("learning rate `rates` must be an f32 scalar") && msg.contains("[2]"),
        "{msg}"
    );
    let err = GradientDescent::new(other.constant(0.1))
        .minimize(loss)
        .unwrap_err();
    assert!(matches!(err, Error::ForeignTensor { .. }), "{err:?}");
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    sess.run(&[train.into()], &[]).unwrap();
    let _: ArrayD<f32> = sess.variable_value(w).unwrap().as_f32().unwrap().clone();
}

#[test]
fn named_optimizers_keep_their_slots_under_their_name() {
    let g = Graph::new();
    let ws = g.variable("shared/w", init::ones(&[3]));
    let wa = g.variable("a/w", init::ones(&[2]));
    let loss_a = l2_loss(ws) + l2_loss(wa);
    let loss_b = l2_loss(ws * 2.0);
    let adam_a = Adam::new(0.1).with_name("task_a_adam");
    let adam_b = Adam::new(0.1).with_name("tasks/b.adam-2");
    assert_eq!(adam_a.name(), "task_a_adam");
    assert_eq!(Adam::new(0.1).name(), "Adam", "default names are unchanged");
    assert_eq!(AdamW::new(0.01, 0.1).name(), "AdamW");
    assert_eq!(adam_a.get_slot(ws, "m"), None, "no slot before applying");
    adam_a.minimize(loss_a).unwrap();
    adam_b.minimize(loss_b).unwrap();
    let m = adam_a.get_slot(ws, "m").expect("slot m of shared/w");
    assert_eq!(m.name(), "task_a_adam/shared/w/m");
    assert_eq!(m.shape(), ws.shape());
    assert_eq!(
        adam_a.get_slot(wa, "v").unwrap().name(),
        "task_a_adam/a/w/v"
    );
    assert_eq!(
        adam_b.get_slot(ws, "v").unwrap().name(),
        "tasks/b.adam-2/shared/w/v"
    );
    // adam_b never updated `a/w`; "velocity" is not a slot of Adam.
    assert_eq!(adam_b.get_slot(wa, "m"), None);
    assert_eq!(adam_a.get_slot(ws, "velocity"), None);
    let names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
    for want in ["task_a_adam/beta1_power", "tasks/b.adam-2/beta2_power"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    // A second application gets its own scope and slots; get_slot answers the latest.
    adam_a.minimize(loss_b).unwrap();
    assert_eq!(
        adam_a.get_slot(ws, "m").unwrap().name(),
        "task_a_adam_1/shared/w/m"
    );
    // A clone remembers the slots made so far, then goes its own way.
    let copy = adam_a.clone();
    assert_eq!(copy.get_slot(wa, "m"), adam_a.get_slot(wa, "m"));
}

#[test]
fn get_slot_reads_the_values_the_update_wrote() {
    let g = Graph::new();
    let (w, loss) = problem(&g);
    let opt = Momentum::new(0.1, 0.9).with_name("mom");
    let train = opt.minimize(loss).unwrap();
    let acc = opt.get_slot(w, "momentum").unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    sess.run(&[train.into()], &[]).unwrap();
    let got = sess
        .run(&[acc.into()], &[])
        .unwrap()
        .f32(0)
        .unwrap()
        .clone();
    let w0: Vec<f64> = W0.iter().map(|&v| v as f64).collect();
    // After one step from zero the accumulator is the gradient at the start.
    for (g, want) in got.iter().zip(grad_f64(&w0)) {
        assert!((*g as f64 - want).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn slot_names_as_tf1() {
    let names = |o: &dyn Optimizer| o.get_slot_names();
    assert_eq!(names(&Adam::new(0.1)), ["m", "v"]);
    assert_eq!(names(&AdamW::new(0.01, 0.1)), ["m", "v"]);
    assert_eq!(names(&Momentum::new(0.1, 0.9)), ["momentum"]);
    assert_eq!(names(&RMSProp::new(0.1)), ["momentum", "rms"]);
    assert_eq!(names(&Adagrad::new(0.1)), ["accumulator"]);
    assert!(names(&GradientDescent::new(0.1)).is_empty());
}

#[test]
fn error_invalid_optimizer_name() {
    for bad in ["", "a b", "/adam", "adam/", "a//b", "adam:0"] {
        let g = Graph::new();
        let (_, loss) = problem(&g);
        let opt = Adam::new(0.1).with_name(bad);
        match opt.minimize(loss) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("optimizer name"), "{m}"),
            other => panic!("name {bad:?}: {other:?}"),
        }
        assert_eq!(opt.get_slot(g.trainable_variables()[0], "m"), None);
    }
}
