//! The FastAI-style workflow pieces of `train`: the one-cycle schedule against FastAI's
//! formula, Adam / Momentum with a scheduled beta1 against hand-computed updates, freezing
//! (frozen variables bit-identical), discriminative learning rates, the learning-rate
//! finder (restores every variable bit for bit) and partial restores with a name map.

mod common;

use common::variable_bits as snapshot;
use ndarray::{arr1, array};
use staticflow::prelude::*;
use staticflow::train::{
    trainable_variables_except, trainable_variables_in, LrFinder, OneCycle, PartialRestore,
};

/// FastAI's `SchedCos(start, end)` at `pos`, in f64.
fn sched_cos(start: f64, end: f64, pos: f64) -> f64 {
    start + (1.0 + (std::f64::consts::PI * (1.0 - pos)).cos()) * (end - start) / 2.0
}

/// FastAI's `combine_scheds([pct, 1 - pct], [SchedCos(a, b), SchedCos(b, c)])` at `pos`.
fn combined_cos(pos: f64, pct: f64, a: f64, b: f64, c: f64) -> f64 {
    if pos >= 1.0 {
        return sched_cos(b, c, 1.0);
    }
    if pos < pct {
        sched_cos(a, b, pos / pct)
    } else {
        sched_cos(b, c, (pos - pct) / (1.0 - pct))
    }
}

fn f32s(sess: &Session<'_>, v: Tensor<'_>) -> Vec<f32> {
    sess.variable_value(v)
        .unwrap()
        .as_f32()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn init(g: &Graph) -> Session<'_> {
    let mut sess = Session::new(g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    sess
}

#[test]
fn one_cycle_matches_fastai_fit_one_cycle() {
    let g = Graph::new();
    let step = g.placeholder("step", Shape::known(&[]));
    let total = 1000u64;
    let oc = OneCycle::new(3e-3, total);
    let (lr, mom) = (oc.learning_rate(step), oc.momentum(step));
    let mut sess = Session::new(&g);
    for t in [0u64, 1, 50, 125, 249, 250, 251, 400, 625, 999, 1000, 1500] {
        let s = Value::from(t as f32);
        let out = sess
            .run(&[lr.into(), mom.into()], &[(step, s.view())])
            .unwrap();
        let pos = (t as f64 / total as f64).min(1.0);
        let want_lr = combined_cos(pos, 0.25, 3e-3 / 25.0, 3e-3, 3e-3 / 1e5);
        let want_mom = combined_cos(pos, 0.25, 0.95, 0.85, 0.95);
        let (got_lr, got_mom) = (out.scalar(0).unwrap() as f64, out.scalar(1).unwrap() as f64);
        assert!(
            (got_lr - want_lr).abs() <= 1e-6 * want_lr.max(1e-6),
            "lr at {t}: {got_lr} vs {want_lr}"
        );
        assert!(
            (got_mom - want_mom).abs() <= 1e-6,
            "mom at {t}: {got_mom} vs {want_mom}"
        );
        assert_eq!(got_lr as f32, oc.learning_rate_at(t), "host formula at {t}");
        assert_eq!(got_mom as f32, oc.momentum_at(t), "host formula at {t}");
    }
    // The landmarks of the cycle.
    assert!((oc.learning_rate_at(0) - 3e-3 / 25.0).abs() < 1e-9);
    assert_eq!(oc.learning_rate_at(250), 3e-3);
    assert!((oc.learning_rate_at(1000) - 3e-8).abs() < 1e-12);
    assert_eq!(oc.momentum_at(0), 0.95);
    assert_eq!(oc.momentum_at(250), 0.85);
    // Halfway up the warm-up the cosine is at the mean of its ends.
    let mid = oc.learning_rate_at(125) as f64;
    assert!((mid - (3e-3 / 25.0 + 3e-3) / 2.0).abs() < 1e-8, "{mid}");
    // An i64 global step gives the same values.
    let g2 = Graph::new();
    let gs = get_or_create_global_step(&g2).unwrap();
    let lr2 = oc.learning_rate(gs);
    let mut s2 = init(&g2);
    s2.set_variable(gs, Value::I64(ndarray::arr0(400i64).into_dyn()))
        .unwrap();
    assert_eq!(
        s2.run(&[lr2.into()], &[]).unwrap().scalar(0).unwrap(),
        oc.learning_rate_at(400)
    );
}

#[test]
fn one_cycle_rejects_bad_settings() {
    let g = Graph::new();
    let step = g.placeholder("step", Shape::known(&[]));
    let mut oc = OneCycle::new(1e-3, 100);
    oc.pct_start = 1.5;
    let err = oc.learning_rate(step).check().unwrap_err().to_string();
    assert!(err.contains("pct_start"), "{err}");
    let g = Graph::new();
    let step = g.placeholder("step", Shape::known(&[]));
    let err = OneCycle::new(1e-3, 0)
        .momentum(step)
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("total_steps"), "{err}");
}

const W0: [f32; 3] = [1.0, -2.0, 0.5];
const X: [f32; 3] = [0.5, 1.5, -1.0];
const Y: [f32; 3] = [1.0, 0.0, 2.0];

/// `loss = l2_loss(w * x - y)`: gradient `(w x - y) x`.
fn grad_f64(w: &[f64]) -> Vec<f64> {
    (0..3)
        .map(|i| (w[i] * X[i] as f64 - Y[i] as f64) * X[i] as f64)
        .collect()
}

#[test]
fn adam_with_one_cycle_beta1_follows_tf1_with_a_tensor_beta1() {
    let g = Graph::new();
    let w = g.variable("w", init::from_array(&arr1(&W0).into_dyn()));
    let loss = l2_loss(w * g.constant(arr1(&X)) - g.constant(arr1(&Y)));
    let step = get_or_create_global_step(&g).unwrap();
    let oc = OneCycle::new(0.1, 8);
    let train = oc.adam(step).with_global_step(step).minimize(loss).unwrap();
    assert!(g.tensor_by_name("Adam/beta1_power").is_some());
    let mut sess = init(&g);
    let (b2, eps) = (0.999f64, 1e-8f64);
    let mut wr: Vec<f64> = W0.iter().map(|v| *v as f64).collect();
    let (mut m, mut v) = ([0f64; 3], [0f64; 3]);
    let (mut b1p, mut b2p) = (0.95f64, b2);
    for t in 0..6u64 {
        let lr = oc.learning_rate_at(t) as f64;
        let b1 = oc.momentum_at(t) as f64;
        let gr = grad_f64(&wr);
        let lr_t = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        for i in 0..3 {
            m[i] += (gr[i] - m[i]) * (1.0 - b1);
            v[i] += (gr[i] * gr[i] - v[i]) * (1.0 - b2);
            wr[i] -= lr_t * m[i] / (v[i].sqrt() + eps);
        }
        b1p *= b1;
        b2p *= b2;
        sess.run(&[train.into()], &[]).unwrap();
        for (k, (a, b)) in f32s(&sess, w).iter().zip(&wr).enumerate() {
            assert!(
                (*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0),
                "step {t}, w[{k}]: {a} vs {b}"
            );
        }
        let got_b1p = f32s(&sess, g.tensor_by_name("Adam/beta1_power").unwrap())[0] as f64;
        assert!(
            (got_b1p - b1p).abs() < 1e-6,
            "beta1_power after step {t}: {got_b1p} vs {b1p}"
        );
    }
}

#[test]
fn momentum_with_a_scheduled_coefficient() {
    let g = Graph::new();
    let w = g.variable("w", init::from_array(&arr1(&W0).into_dyn()));
    let loss = l2_loss(w * g.constant(arr1(&X)) - g.constant(arr1(&Y)));
    let step = get_or_create_global_step(&g).unwrap();
    let oc = OneCycle::new(0.05, 6);
    let train = oc
        .momentum_optimizer(step)
        .with_global_step(step)
        .minimize(loss)
        .unwrap();
    let mut sess = init(&g);
    let mut wr: Vec<f64> = W0.iter().map(|v| *v as f64).collect();
    let mut acc = [0f64; 3];
    for t in 0..5u64 {
        let (lr, mu) = (oc.learning_rate_at(t) as f64, oc.momentum_at(t) as f64);
        let gr = grad_f64(&wr);
        for i in 0..3 {
            acc[i] = acc[i] * mu + gr[i];
            wr[i] -= lr * acc[i];
        }
        sess.run(&[train.into()], &[]).unwrap();
        for (a, b) in f32s(&sess, w).iter().zip(&wr) {
            assert!(
                (*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0),
                "step {t}: {a} vs {b}"
            );
        }
    }
    // A non-scalar momentum tensor is a typed error naming it.
    let g = Graph::new();
    let w = g.variable("w", init::zeros(&[3]));
    let loss = l2_loss(w - 1.0);
    let bad = g.constant(arr1(&[0.9f32, 0.9])).named("bad_momentum");
    let err = Momentum::new(0.1, 0.9)
        .momentum_tensor(bad)
        .minimize(loss)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad_momentum") && err.contains("scalar"),
        "{err}"
    );
}

/// `trunk/w [3, 2]` shared, heads `head_a/w`, `head_b/w` `[2, 1]`; the summed loss.
fn two_heads(g: &Graph) -> Tensor<'_> {
    let ws = g.variable("trunk/w", init::glorot_uniform(&[3, 2]));
    let wa = g.variable("head_a/w", init::glorot_uniform(&[2, 1]));
    let wb = g.variable("head_b/w", init::glorot_uniform(&[2, 1]));
    let x = g.constant(array![[1.0f32, 2.0, -1.0], [0.5, -0.5, 0.25]]);
    let h = tanh(matmul(x, ws));
    l2_loss(matmul(h, wa) - 1.0) + l2_loss(matmul(h, wb) + 0.5)
}

#[test]
fn frozen_variables_stay_bit_identical_and_get_no_slots() {
    let g = Graph::with_seed(1);
    let loss = two_heads(&g);
    let trunk = trainable_variables_in(&g, &["trunk/*"]).unwrap();
    assert_eq!(
        trunk.iter().map(|v| v.name()).collect::<Vec<_>>(),
        ["trunk/w"]
    );
    let heads = trainable_variables_except(&g, &["trunk/"]);
    assert_eq!(heads.len(), 2);
    let train = Adam::new(0.1).with_frozen(&trunk).minimize(loss).unwrap();
    assert!(
        g.tensor_by_name("Adam/trunk/w/m").is_none(),
        "frozen variables get no slots"
    );
    assert!(g.tensor_by_name("Adam/head_a/w/m").is_some());
    let mut sess = init(&g);
    let before = snapshot(&g, &sess);
    for _ in 0..3 {
        sess.run(&[train.into()], &[]).unwrap();
    }
    let after = snapshot(&g, &sess);
    let get = |s: &[(String, Vec<u64>)], n: &str| s.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(get(&before, "trunk/w"), get(&after, "trunk/w"));
    assert_ne!(get(&before, "head_a/w"), get(&after, "head_a/w"));
    assert_ne!(get(&before, "head_b/w"), get(&after, "head_b/w"));

    // minimize_with drops frozen variables too; all frozen is an error.
    let g = Graph::with_seed(1);
    let loss = two_heads(&g);
    let all = g.trainable_variables();
    let err = GradientDescent::new(0.1)
        .with_frozen(&all)
        .minimize(loss)
        .unwrap_err();
    assert!(matches!(err, Error::NoPathToVariables { .. }), "{err}");
    // A pattern that matches nothing names itself.
    let err = trainable_variables_in(&g, &["encoder/*"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder/*") && err.contains("trunk/w"),
        "{err}"
    );
}

#[test]
fn discriminative_learning_rates_scale_each_group() {
    let g = Graph::with_seed(2);
    let loss = two_heads(&g);
    let trunk = trainable_variables_in(&g, &["trunk/*"]).unwrap();
    let head_a = trainable_variables_in(&g, &["head_a/*"]).unwrap();
    let vars = g.trainable_variables();
    let grads = gradients(&[loss], &vars).unwrap();
    let train = GradientDescent::new(0.5)
        .with_lr_multiplier(&trunk, 0.1)
        .with_lr_multiplier(&head_a, 2.0)
        .minimize(loss)
        .unwrap();
    let mut sess = init(&g);
    let before: Vec<Vec<f32>> = vars.iter().map(|v| f32s(&sess, *v)).collect();
    let mut fetches: Vec<Fetch<'_>> = vec![train.into()];
    fetches.extend(grads.iter().map(|t| Fetch::from(t.unwrap())));
    let out = sess.run(&fetches, &[]).unwrap();
    for (k, v) in vars.iter().enumerate() {
        let lr = match v.name().as_str() {
            "trunk/w" => 0.05,
            "head_a/w" => 1.0,
            _ => 0.5,
        };
        let gr = out.f32(1 + k).unwrap();
        for ((b, a), g) in before[k].iter().zip(f32s(&sess, *v)).zip(gr.iter()) {
            let want = b - lr * g;
            assert!(
                (a - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{}: {a} vs {want}",
                v.name()
            );
        }
    }
    // Adam with multipliers: one optimizer, slots named per variable as usual.
    let g = Graph::with_seed(2);
    let loss = two_heads(&g);
    let trunk = trainable_variables_in(&g, &["trunk/*"]).unwrap();
    Adam::new(1e-3)
        .with_lr_multiplier(&trunk, 0.1)
        .minimize(loss)
        .unwrap();
    for n in [
        "Adam/trunk/w/m",
        "Adam/head_a/w/v",
        "Adam/beta1_power",
        "Adam/scaled_learning_rate",
    ] {
        assert!(g.operation_by_name(n).is_some(), "{n}");
    }
    assert!(g.operation_by_name("Adam_1/beta1_power").is_none());
    // Negative multipliers are rejected.
    let g = Graph::new();
    let loss = two_heads(&g);
    let trunk = trainable_variables_in(&g, &["trunk/*"]).unwrap();
    let err = Adam::new(1e-3)
        .with_lr_multiplier(&trunk, -1.0)
        .minimize(loss)
        .unwrap_err();
    assert!(err.to_string().contains("-1"), "{err}");
}

/// A regression whose loss falls for small learning rates and diverges for large ones; Adam
/// with a global step, its learning rate a feedable `lr`.
fn finder_model(g: &Graph) -> (Tensor<'_>, Tensor<'_>, Operation<'_>) {
    let x = g.constant(array![[1.0f32, 2.0], [0.5, -1.0], [-1.5, 0.3], [2.0, 1.0]]);
    let y = g.constant(array![[1.0f32], [-0.5], [0.2], [2.0]]);
    let w = g.variable("dense/w", init::glorot_uniform(&[2, 8]));
    let v = g.variable("out/w", init::glorot_uniform(&[8, 1]));
    let loss = reduce_mean_all(square(matmul(tanh(matmul(x, w)), v) - y));
    let lr = placeholder_with_default(g.constant(1e-3f32), "lr");
    let step = get_or_create_global_step(g).unwrap();
    let train = Momentum::new(lr, 0.9)
        .with_global_step(step)
        .minimize(loss)
        .unwrap();
    (loss, lr, train)
}

#[test]
fn lr_finder_sweeps_stops_at_divergence_and_restores_every_variable() {
    let g = Graph::with_seed(4);
    let (loss, lr, train) = finder_model(&g);
    let mut sess = init(&g);
    for _ in 0..3 {
        sess.run(&[train.into()], &[]).unwrap(); // slots and global step away from zero
    }
    let before = snapshot(&g, &sess);
    assert!(before.iter().any(|(n, _)| n == "Momentum/dense/w/momentum"));
    let finder = LrFinder::default();
    let res = finder
        .run(&mut sess, |s, rate| {
            let r = Value::from(rate);
            s.run(&[train.into(), loss.into()], &[(lr, r.view())])?
                .scalar(1)
        })
        .unwrap();
    assert_eq!(
        snapshot(&g, &sess),
        before,
        "the finder must leave no trace"
    );
    let n = res.lrs.len();
    assert!(n > 20, "{n} steps");
    assert_eq!(res.lrs[0], 1e-7);
    for i in 1..n {
        let ratio = res.lrs[i] / res.lrs[i - 1];
        assert!(
            (ratio - 10f32.powf(8.0 / 100.0)).abs() < 1e-4,
            "ratio {ratio} at {i}"
        );
    }
    let stop = res
        .diverged_at
        .expect("lr up to 10 diverges on this problem");
    assert_eq!(stop, n - 1);
    let best = res.smoothed[..n - 1]
        .iter()
        .cloned()
        .fold(f32::INFINITY, f32::min);
    assert!(
        res.smoothed[n - 1] > 4.0 * best || res.smoothed[n - 1].is_nan(),
        "stopped at a smoothed loss above 4x the best"
    );
    // The first smoothed value is the first loss (debiased average).
    assert!((res.smoothed[0] - res.losses[0]).abs() <= 1e-6 * res.losses[0].abs());
    let valley = res.valley.expect("a suggestion");
    let steepest = res.steepest.expect("a suggestion");
    let diverged_lr = res.lrs[stop];
    assert!(valley < diverged_lr && steepest < diverged_lr);
    // The plot.
    let svg = res.to_svg();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("valley"));
    let path = std::env::temp_dir().join(format!("staticflow-lrfind-{}.svg", std::process::id()));
    res.write_svg(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), svg);
    let _ = std::fs::remove_file(path);

    // A failing step still leaves the variables as they were, and its error comes back.
    let mut calls = 0;
    let err = finder
        .run(&mut sess, |s, rate| {
            calls += 1;
            if calls == 5 {
                return Err(Error::InvalidArgument("step five fails".into()));
            }
            let r = Value::from(rate);
            s.run(&[train.into(), loss.into()], &[(lr, r.view())])?
                .scalar(1)
        })
        .unwrap_err();
    assert!(err.to_string().contains("step five fails"));
    assert_eq!(snapshot(&g, &sess), before);
    // Bad settings.
    let bad = LrFinder {
        start_lr: 1.0,
        end_lr: 0.1,
        ..LrFinder::default()
    };
    assert!(bad.run(&mut sess, |_, _| Ok(0.0)).is_err());
}

#[test]
fn partial_restore_maps_names_and_reports_what_did_not_line_up() {
    let dir = std::env::temp_dir().join(format!("staticflow-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("encoder.safetensors");
    // The pretrained model: an encoder and a head of its own.
    let src = Graph::with_seed(5);
    src.variable("encoder/w", init::glorot_uniform(&[3, 2]));
    src.variable("encoder/b", init::constant(&[2], 0.25));
    src.variable("encoder/old", init::zeros(&[4]));
    src.variable("landmarks/w", init::glorot_uniform(&[2, 10]));
    let s0 = init(&src);
    Saver::new(&src).save(&s0, &path).unwrap();
    let bits = |sess: &Session<'_>, g: &Graph, n: &str| {
        f32s(sess, g.tensor_by_name(n).unwrap())
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };

    // The new model: the encoder under `trunk/`, one more trunk variable, new heads.
    let g = Graph::with_seed(6);
    g.variable("trunk/w", init::zeros(&[3, 2]));
    g.variable("trunk/b", init::zeros(&[2]));
    g.variable("trunk/extra", init::constant(&[2], 7.0));
    g.variable("gender/w", init::constant(&[2, 2], 3.0));
    let mut sess = init(&g);
    let before = snapshot(&g, &sess);
    let restore = PartialRestore::new(&["trunk/*"]).map_scope("encoder/", "trunk/");
    assert_eq!(restore.checkpoint_name("trunk/w"), "encoder/w");
    assert_eq!(restore.graph_name("encoder/w"), "trunk/w");
    let report = restore.restore(&mut sess, &path).unwrap();
    assert_eq!(
        report.restored,
        vec![
            ("trunk/w".to_string(), "encoder/w".to_string()),
            ("trunk/b".to_string(), "encoder/b".to_string())
        ]
    );
    assert_eq!(
        report.missing,
        ["trunk/extra (checkpoint name encoder/extra)"]
    );
    assert_eq!(report.unexpected, ["encoder/old (graph name trunk/old)"]);
    assert_eq!(report.ignored, ["landmarks/w"]);
    assert_eq!(bits(&sess, &g, "trunk/w"), bits(&s0, &src, "encoder/w"));
    assert_eq!(bits(&sess, &g, "trunk/b"), bits(&s0, &src, "encoder/b"));
    let after = snapshot(&g, &sess);
    for name in ["trunk/extra", "gender/w"] {
        let find = |s: &[(String, Vec<u64>)]| s.iter().find(|(k, _)| k == name).unwrap().1.clone();
        assert_eq!(find(&before), find(&after), "{name} untouched");
    }

    // Strict: missing and unexpected names are errors, and nothing changes.
    let g2 = Graph::with_seed(6);
    g2.variable("trunk/w", init::zeros(&[3, 2]));
    g2.variable("trunk/extra", init::zeros(&[2]));
    let mut s2 = init(&g2);
    let before2 = snapshot(&g2, &s2);
    let err = PartialRestore::new(&["trunk/*"])
        .map_scope("encoder/", "trunk/")
        .strict(true)
        .restore(&mut s2, &path)
        .unwrap_err();
    match &err {
        Error::Mismatch { mismatches, .. } => {
            let all = mismatches.join("\n");
            assert!(all.contains("missing trunk/extra"), "{all}");
            assert!(all.contains("unexpected encoder/b"), "{all}");
        }
        e => panic!("expected a mismatch, got {e}"),
    }
    assert_eq!(snapshot(&g2, &s2), before2);

    // A shape mismatch is an error naming both sides; nothing changes.
    let g3 = Graph::new();
    g3.variable("trunk/w", init::zeros(&[3, 3]));
    g3.variable("trunk/b", init::zeros(&[2]));
    let mut s3 = init(&g3);
    let before3 = snapshot(&g3, &s3);
    let err = PartialRestore::new(&["trunk/"])
        .map_scope("encoder/", "trunk/")
        .restore(&mut s3, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder/w") && err.contains("[3, 2]") && err.contains("[3, 3]"),
        "{err}"
    );
    assert_eq!(
        snapshot(&g3, &s3),
        before3,
        "trunk/b must not be restored either"
    );
    // A scope that matches no variable.
    let err = PartialRestore::new(&["encoder/*"])
        .restore(&mut s3, &path)
        .unwrap_err();
    assert!(err.to_string().contains("encoder/*"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// FastAI's `valley` on a list, in f64 (its Python, transcribed).
fn fastai_valley(lrs: &[f64], losses: &[f64]) -> f64 {
    let n = losses.len();
    let (mut max_start, mut max_end) = (0usize, 0usize);
    let mut lds = vec![1usize; n];
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end - lds[max_end];
            }
        }
    }
    let sections = (max_end - max_start) as f64 / 3.0;
    lrs[max_start + sections as usize + (sections / 2.0) as usize]
}

#[test]
fn lr_finder_suggestions_on_a_known_curve() {
    // Unsmoothed (beta 0), no early stop: the suggestions see the curve itself, a sigmoid
    // falling around 1e-2 plus a cubic rise past it.
    let curve = |lr: f32| {
        let x = lr.log10() + 2.0;
        1.0 - 1.0 / (1.0 + (-3.0 * x).exp()) + 0.05 * x.max(0.0).powi(3)
    };
    let finder = LrFinder {
        start_lr: 1e-4,
        end_lr: 1.0,
        num_steps: 100,
        beta: 0.0,
        div_factor: 0.0,
    };
    let g = Graph::new();
    let mut sess = Session::new(&g);
    let res = finder.run(&mut sess, |_, lr| Ok(curve(lr))).unwrap();
    assert_eq!(res.lrs.len(), 100);
    assert_eq!(res.diverged_at, None);
    assert_eq!(res.smoothed, res.losses);
    let steep = res.steepest.unwrap();
    assert!((steep.log10() + 2.0).abs() < 0.1, "steepest {steep}");
    // valley as FastAI computes it on lrs[num_steps / 10 .. len - 5].
    let lrs: Vec<f64> = res.lrs[10..95].iter().map(|v| *v as f64).collect();
    let losses: Vec<f64> = res.smoothed[10..95].iter().map(|v| *v as f64).collect();
    assert_eq!(res.valley.unwrap() as f64, fastai_valley(&lrs, &losses));
    let (imin, _) = losses
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    assert_eq!(res.minimum.unwrap(), res.lrs[10 + imin] / 10.0);
    // Too few steps for the FastAI window: no suggestions.
    let short = LrFinder {
        num_steps: 6,
        ..finder
    };
    let res = short.run(&mut sess, |_, lr| Ok(curve(lr))).unwrap();
    assert_eq!((res.steepest, res.valley, res.minimum), (None, None, None));
}
