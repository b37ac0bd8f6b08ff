//! Head API: losses and metrics against hand-computed values, multi-head weighting,
//! uncertainty-weighting gradients, DWA, class weights, and short trainings on drawn faces
//! (a hand-built estimator, and the face-landmark `Recipe`).

mod faces;

use ndarray::{array, Array1, Array2, Axis};
use staticflow::data::image::{ImageOptions, OnError};
use staticflow::data::{mtfl, Dataset};
use staticflow::heads::{
    Batch, Estimator, Head, Mode, MultiClassHead, MultiHead, RegressionHead, Weighting,
};
use staticflow::prelude::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// Logits are placeholders here, so losses can be checked against hand-computed values.
#[test]
fn regression_and_classification_losses_and_metrics() {
    let g = Graph::new();
    let la = g.placeholder("logits_a", [None, Some(2)]);
    let lb = g.placeholder("logits_b", [None, Some(3)]);
    let heads: Vec<Box<dyn Head>> = vec![
        Box::new(RegressionHead::new("head_a", 2)),
        Box::new(MultiClassHead::new("head_b", 3)),
    ];
    let spec = MultiHead::new(heads)
        .with_weights(vec![1.0, 2.0])
        .create_spec(&[la, lb], Mode::Eval, None)
        .unwrap();
    assert_eq!(spec.heads[0].labels.unwrap().name(), "head_a/labels");
    let mut est = Estimator::new(&g, &[("a", la), ("b", lb)], spec).unwrap();
    let batch = Batch::new()
        .feature("a", array![[1f32, 2.], [3., 4.]])
        .feature("b", array![[2f32, 1., 0.], [0., 0., 0.]])
        .label("head_a", array![[1f32, 1.], [1., 1.]])
        .label("head_b", array![0i64, 2]);
    let m = est.evaluate(vec![Ok(batch.clone())]).unwrap();
    // Squared errors 0, 1, 4, 9.
    assert!(close(m["average_loss/head_a"], 3.5, 1e-6), "{m:?}");
    assert!(close(m["loss/head_a"], 3.5, 1e-6));
    assert!(close(m["rmse/head_a"], 3.5f64.sqrt(), 1e-6));
    // Cross-entropies log(1 + e^-1 + e^-2) and log 3; argmax [0, 0] (first on ties).
    let x1 = (1.0 + (-1f64).exp() + (-2f64).exp()).ln();
    let x2 = 3f64.ln();
    assert!(
        close(m["average_loss/head_b"], (x1 + x2) / 2.0, 1e-5),
        "{m:?}"
    );
    assert!(close(m["accuracy/head_b"], 0.5, 1e-9));
    assert!(close(m["loss"], 3.5 + 2.0 * (x1 + x2) / 2.0, 1e-5));
    assert_eq!(m["global_step"], 0.0);
    // Streaming over two batches of different sizes equals one pass over all examples.
    let one = Batch::new()
        .feature("a", array![[1f32, 1.]])
        .feature("b", array![[0f32, 5., 0.]])
        .label("head_a", array![[1f32, 1.]])
        .label("head_b", array![1i64]);
    let m2 = est.evaluate(vec![Ok(batch), Ok(one)]).unwrap();
    assert!(close(m2["average_loss/head_a"], 14.0 / 6.0, 1e-6), "{m2:?}");
    assert!(close(m2["accuracy/head_b"], 2.0 / 3.0, 1e-6));

    let p = est
        .predict(vec![Ok(Batch::new()
            .feature("a", array![[0.5f32, 0.25]])
            .feature("b", array![[0f32, 0., 3.]]))])
        .unwrap();
    assert_eq!(
        p["head_a/predictions"]
            .as_f32()
            .unwrap()
            .as_slice()
            .unwrap(),
        &[0.5, 0.25]
    );
    assert_eq!(p["head_b/class_ids"].as_i64().unwrap()[[0]], 2);
    let probs = p["head_b/probabilities"].as_f32().unwrap();
    assert!((probs.sum() - 1.0).abs() < 1e-6);
    assert_eq!(p["head_b/logits"].as_f32().unwrap()[[0, 2]], 3.0);
    // Missing labels name the head.
    let e = est
        .evaluate(vec![Ok(Batch::new()
            .feature("a", array![[0f32, 0.]])
            .feature("b", array![[0f32, 0., 0.]]))])
        .unwrap_err();
    assert!(e.to_string().contains("head_a"), "{e}");
}

/// `tf.metrics` streamed by the estimator (`eval_metric_ops`): reset before each
/// `evaluate`, updated per batch, read at the end; the accuracy equals the head's own.
#[test]
fn eval_metric_ops_stream_tf_metrics_over_the_batches() {
    use staticflow::metrics;
    let g = Graph::new();
    let lb = g.placeholder("logits_b", [None, Some(2)]);
    let spec = MultiHead::new(vec![
        Box::new(MultiClassHead::new("head_b", 2)) as Box<dyn Head>
    ])
    .create_spec(&[lb], Mode::Eval, None)
    .unwrap();
    let (labels, preds) = (spec.heads[0].labels.unwrap(), &spec.heads[0].predictions);
    let class_ids = preds.iter().find(|(n, _)| n == "class_ids").unwrap().1;
    let p1 = slice(
        preds.iter().find(|(n, _)| n == "probabilities").unwrap().1,
        &[0, 1],
        &[-1, 1],
    );
    let spec = spec
        .with_eval_metric("tf_accuracy", metrics::accuracy(labels, class_ids, 1.0))
        .with_eval_metric("precision", metrics::precision(labels, class_ids, 1.0))
        .with_eval_metric(
            "auc",
            metrics::auc(reshape(labels, &[-1, 1]), p1, 1.0, Default::default()),
        );
    let mut est = Estimator::new(&g, &[("b", lb)], spec).unwrap();
    // Predicted classes 1, 0, 1 | 1, 0; labels 1, 0, 0 | 1, 1.
    let b1 = Batch::new()
        .feature("b", array![[0f32, 2.], [1., 0.], [0., 1.]])
        .label("head_b", array![1i64, 0, 0]);
    let b2 = Batch::new()
        .feature("b", array![[0f32, 3.], [4., 0.]])
        .label("head_b", array![1i64, 1]);
    for _ in 0..2 {
        // The second pass must give the same numbers: the metrics are reset.
        let m = est.evaluate(vec![Ok(b1.clone()), Ok(b2.clone())]).unwrap();
        assert!(close(m["accuracy/head_b"], 3.0 / 5.0, 1e-9), "{m:?}");
        assert!(close(m["tf_accuracy"], m["accuracy/head_b"], 1e-7), "{m:?}");
        // 3 predicted positive, 2 of them right.
        assert!(close(m["precision"], 2.0 / 3.0, 1e-6), "{m:?}");
        // Scores p(class 1) rank: positives 0.881, 0.953, 0.018; negatives 0.269, 0.731:
        // 4 of the 6 positive-negative pairs are ordered right.
        assert!(close(m["auc"], 4.0 / 6.0, 1e-2), "{m:?}");
    }
}

#[test]
fn label_scaling_trains_in_standard_units_and_reports_label_units() {
    let g = Graph::new();
    let l = g.placeholder("l", [None, Some(2)]);
    let head = RegressionHead::new("head_n", 2).with_label_scaling(vec![0.5, 0.4], vec![0.1, 0.2]);
    let spec = MultiHead::new(vec![Box::new(head)])
        .create_spec(&[l], Mode::Eval, None)
        .unwrap();
    let mut est = Estimator::new(&g, &[("l", l)], spec).unwrap();
    // logits 1, -1 -> predictions 0.6, 0.2; labels 0.5, 0.4.
    let b = Batch::new()
        .feature("l", array![[1f32, -1.]])
        .label("head_n", array![[0.5f32, 0.4]]);
    let m = est.evaluate(vec![Ok(b)]).unwrap();
    // Labels equal the means, so standardised labels are 0: loss (1^2 + (-1)^2)/2 = 1.
    assert!(close(m["loss/head_n"], 1.0, 1e-5), "{m:?}");
    // Label units: (0.1^2 + 0.2^2)/2 = 0.025.
    assert!(close(m["average_loss/head_n"], 0.025, 1e-4), "{m:?}");
    assert!(close(m["rmse/head_n"], 0.025f64.sqrt(), 1e-4));
}

#[test]
fn uncertainty_weighting_gradients() {
    for (speed, kind_factor) in [(1.0f32, 0.5f64), (10.0, 0.5)] {
        let g = Graph::new();
        let l = g.placeholder("l", [None, Some(2)]);
        let spec = MultiHead::new(vec![Box::new(RegressionHead::new("head_a", 2))])
            .with_weighting(format!("uncertainty:{speed}").parse().unwrap())
            .create_spec(&[l], Mode::Eval, None)
            .unwrap();
        let total = spec.loss.unwrap();
        let raw = g
            .trainable_variables()
            .into_iter()
            .find(|v| v.name().contains("log_variance"))
            .expect("a log-variance variable per task");
        assert_eq!(raw.name(), "weighting/head_a/log_variance");
        let grad = gradients(&[total], &[raw]).unwrap()[0].unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let labels = spec.heads[0].labels.unwrap();
        let x = array![[1f32, 2.], [3., 4.]];
        let y = array![[1f32, 1.], [1., 1.]];
        let feeds = [(l, (&x).into()), (labels, (&y).into())];
        let out = sess.run(&[total.into(), grad.into()], &feeds).unwrap();
        // s = 0: total = 0.5 * L + 0 with L = 3.5; d total / d raw = speed * (0.5 - 0.5 L).
        assert!(close(
            out.scalar(0).unwrap() as f64,
            kind_factor * 3.5,
            1e-6
        ));
        let expect = speed as f64 * (0.5 - kind_factor * 3.5);
        assert!(
            close(out.scalar(1).unwrap() as f64, expect, 1e-5),
            "{out:?}"
        );
        // At the optimum s = log(2 c L) the gradient vanishes.
        let s_opt = (2.0 * kind_factor * 3.5).ln() as f32 / speed;
        sess.set_variable(raw, ndarray::arr0(s_opt).into()).unwrap();
        let out = sess.run(&[grad.into()], &feeds).unwrap();
        assert!(out.scalar(0).unwrap().abs() < 1e-5, "{out:?}");
    }
    // Classification uses factor 1: gradient at s = 0 is 0.5 - L.
    let g = Graph::new();
    let l = g.placeholder("l", [None, Some(2)]);
    let spec = MultiHead::new(vec![Box::new(MultiClassHead::new("head_c", 2))])
        .with_weighting("uncertainty".parse().unwrap())
        .create_spec(&[l], Mode::Eval, None)
        .unwrap();
    let raw = g.trainable_variables()[0];
    let grad = gradients(&[spec.loss.unwrap()], &[raw]).unwrap()[0].unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let x = array![[0f32, 0.]];
    let y = array![1i64];
    let out = sess
        .run(
            &[grad.into()],
            &[
                (l, (&x).into()),
                (spec.heads[0].labels.unwrap(), (&y).into()),
            ],
        )
        .unwrap();
    assert!(close(out.scalar(0).unwrap() as f64, 0.5 - 2f64.ln(), 1e-5));
}

#[test]
fn weighting_names() {
    assert_eq!(
        "fixed".parse::<Weighting>().unwrap(),
        Weighting::Mtl("fixed".into())
    );
    assert_eq!(
        Weighting::fixed(&[1.0, 100.0]),
        Weighting::Mtl("fixed:1,100".into())
    );
    assert_eq!(Weighting::default().name(), "equal");
    assert_eq!(
        "uncertainty:5".parse::<Weighting>().unwrap().name(),
        "uncertainty"
    );
    assert_eq!(
        "alternate".parse::<Weighting>().unwrap(),
        Weighting::Alternate
    );
    for name in staticflow::mtl::NAMES {
        assert_eq!(name.parse::<Weighting>().unwrap().name(), name);
    }
    let e = "gradnorn".parse::<Weighting>().unwrap_err().to_string();
    assert!(
        e.contains("`gradnorn`") && e.contains("uncertainty") && e.contains("alternate"),
        "{e}"
    );
    assert!("uncertainty:fast".parse::<Weighting>().is_err());
}

#[test]
fn predict_mode_needs_no_labels() {
    let g = Graph::new();
    let l = g.placeholder("l", [None, Some(3)]);
    let spec = MultiClassHead::new("head_p", 3)
        .create_spec(l, Mode::Predict, None)
        .unwrap();
    assert!(spec.labels.is_none() && spec.loss.is_none());
    assert_eq!(spec.predictions.len(), 3);
    let bad = MultiClassHead::new("head_p", 4).create_spec(l, Mode::Eval, None);
    assert!(bad.unwrap_err().to_string().contains("[batch, 4]"));
}

#[test]
fn class_weights_scale_each_examples_loss_but_not_the_metrics() {
    let g = Graph::new();
    let l = g.placeholder("l", [None, Some(3)]);
    let w = [0.5f32, 2.0, 4.0];
    let spec = MultiClassHead::new("head_p", 3)
        .with_class_weights(w.to_vec())
        .unwrap()
        .create_spec(l, Mode::Eval, None)
        .unwrap();
    let logits = ndarray::arr2(&[[1.0f32, 0.0, -1.0], [0.2, 0.3, 0.1], [2.0, -2.0, 0.5]]);
    let labels = ndarray::arr1(&[0i64, 2, 1]);
    let mut sess = Session::new(&g);
    let feeds = [
        (l, (&logits).into()),
        (spec.labels.unwrap(), (&labels).into()),
    ];
    let avg = spec
        .metrics
        .iter()
        .find(|m| m.name == "average_loss")
        .unwrap();
    let out = sess
        .run(&[spec.loss.unwrap().into(), avg.total.into()], &feeds)
        .unwrap();
    let xent = |r: usize| {
        let row = logits.row(r);
        let lse = row.iter().map(|v| (*v as f64).exp()).sum::<f64>().ln();
        lse - row[labels[r] as usize] as f64
    };
    let want: f64 = (0..3)
        .map(|r| w[labels[r] as usize] as f64 * xent(r))
        .sum::<f64>()
        / 3.0;
    let plain: f64 = (0..3).map(xent).sum();
    assert!((out.scalar(0).unwrap() as f64 - want).abs() < 1e-5);
    assert!((out.scalar(1).unwrap() as f64 - plain).abs() < 1e-5);
    let e = MultiClassHead::new("head_p", 3).with_class_weights(vec![1.0, 2.0]);
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("head `head_p`: expected 3 class weights, got 2"));
    let e = MultiClassHead::new("head_p", 2).with_class_weights(vec![1.0, -1.0]);
    assert!(e.unwrap_err().to_string().contains("class weight 1"));
}

#[test]
fn inverse_frequency_weights_balance_the_loss() {
    use staticflow::heads::inverse_frequency_weights;
    // Counts 6, 3, 1 (and one label out of range, ignored).
    let y = ndarray::arr1(&[0i64, 0, 0, 0, 0, 0, 1, 1, 1, 2, 7]);
    let w = inverse_frequency_weights(y.view(), 3, 1.0);
    // Balanced: every class carries the same total weight, examples average to 1.
    let totals = [6.0 * w[0], 3.0 * w[1], w[2]];
    assert!(totals.iter().all(|t| (t - totals[0]).abs() < 1e-5), "{w:?}");
    assert!(((totals.iter().sum::<f32>()) / 10.0 - 1.0).abs() < 1e-5);
    let w = inverse_frequency_weights(y.view(), 3, 0.5);
    assert!((w[2] / w[0] - 6f32.sqrt()).abs() < 1e-4, "{w:?}");
    assert_eq!(inverse_frequency_weights(y.view(), 3, 0.0), vec![1.0; 3]);
}

/// Drawn faces through the real decoding path; a small dense model on 16x16 pixels.
fn synthetic(dir: &std::path::Path, n: usize, seed: u64) -> mtfl::MtflSplit {
    faces::write_split(dir, "training", n, 48, seed);
    let opts = ImageOptions {
        width: 16,
        height: 16,
    };
    mtfl::load_split(dir, "training", &opts, OnError::Fail).unwrap()
}

fn batches(s: &mtfl::MtflSplit, bs: usize, seed: u64) -> Dataset<Batch> {
    let x = s.images.clone();
    let nose = s.landmark(2);
    let pose = s.attribute(3);
    Dataset::from_tensor_slices((x, nose, pose))
        .unwrap()
        .shuffle(1000, seed)
        .repeat(None)
        .batch(bs, true)
        .map(|(x, n, p)| {
            Ok(Batch::new()
                .feature("x", x)
                .label("head_nose", n)
                .label("head_pose", p))
        })
        .prefetch(2)
}

fn eval_batch(s: &mtfl::MtflSplit) -> Batch {
    Batch::new()
        .feature("x", s.images.clone())
        .label("head_nose", s.landmark(2))
        .label("head_pose", s.attribute(3))
}

#[test]
fn short_training_on_drawn_faces_lowers_the_loss() {
    let dir = faces::temp_dir("train");
    let data = synthetic(&dir, 200, 5);
    assert_eq!(data.images.shape(), &[200, 16, 16, 3]);
    for weighting in [
        "fixed",
        "uncertainty:10",
        "alternate",
        "dwa",
        "gls",
        "gradnorm",
        "mean",
        "pcgrad",
        "mgda",
        "upgrad",
    ] {
        let g = Graph::with_seed(1);
        let x = g.placeholder("x", [None, Some(16), Some(16), Some(3)]);
        let w1 = g.variable("fc/w", init::glorot_uniform(&[768, 64]));
        let b1 = g.variable("fc/b", init::zeros(&[64]));
        let h = relu(matmul(flatten(x - 0.5), w1) + b1);
        let mut logits = Vec::new();
        for (name, d) in [("nose", 2usize), ("pose", 5)] {
            let w = g.variable(&format!("{name}/w"), init::glorot_uniform(&[64, d]));
            let b = g.variable(&format!("{name}/b"), init::zeros(&[d]));
            logits.push(matmul(h, w) + b);
        }
        let nose = data.landmark(2);
        let heads: Vec<Box<dyn Head>> = vec![
            Box::new(RegressionHead::new("head_nose", 2).with_label_scaling(
                nose.mean_axis(Axis(0)).unwrap().to_vec(),
                nose.std_axis(Axis(0), 0.0).to_vec(),
            )),
            Box::new(MultiClassHead::new("head_pose", 5)),
        ];
        let opt = Adam::new(3e-3);
        let spec = MultiHead::new(heads)
            .with_weighting(weighting.parse().unwrap())
            .create_spec(&logits, Mode::Train, Some(&opt))
            .unwrap();
        let mut est = Estimator::new(&g, &[("x", x)], spec).unwrap();
        let before = est.evaluate(vec![Ok(eval_batch(&data))]).unwrap();
        let rep = est.train(batches(&data, 32, 3).iter(), 150).unwrap();
        assert_eq!(rep.steps, 150);
        let after = est.evaluate(vec![Ok(eval_batch(&data))]).unwrap();
        assert_eq!(after["global_step"], 150.0, "{weighting}");
        // Alternate training gives each head half the steps;
        // GLS scales each head's gradient by total / (T L_k) < 1 here: it trains slower.
        let factor = match weighting {
            "alternate" => 0.85,
            "gls" => 0.8,
            _ => 0.7,
        };
        for k in ["loss/head_nose", "loss/head_pose"] {
            assert!(
                after[k] < factor * before[k],
                "{weighting}: {k} {} -> {}",
                before[k],
                after[k]
            );
        }
        assert!(after["accuracy/head_pose"] > 0.5, "{weighting}: {after:?}");
        assert!(after["rmse/head_nose"] < before["rmse/head_nose"]);
        if weighting.starts_with("uncertainty") {
            let w = est.head_weights().unwrap();
            assert!(
                w.iter().all(|w| *w != 0.5 && *w != 1.0),
                "weights moved: {w:?}"
            );
        }
    }
}

#[test]
fn batch_size_helper() {
    let b = Batch::new()
        .feature("x", Array2::<f32>::zeros((7, 2)))
        .label("h", Array1::<i64>::zeros(7));
    assert_eq!(b.size(), 7);
}

#[test]
fn face_landmarks_recipe_trains_on_drawn_faces_and_parses_its_options() {
    use staticflow::models::face_landmarks::{ClassWeighting, InputScaling, Recipe, Task};
    let d = faces::temp_dir("recipe");
    faces::write_split(&d, "training", 48, 80, 11);
    faces::write_split(&d, "testing", 16, 80, 12);
    let opts = ImageOptions::default();
    let train = mtfl::load_split(&d, "training", &opts, OnError::Fail).unwrap();
    let test = mtfl::load_split(&d, "testing", &opts, OnError::Fail).unwrap();
    let recipe = Recipe {
        steps: 12,
        batch: 8,
        ..Recipe::default()
    };
    let data = recipe.prepare(train.clone(), test.clone()).unwrap();
    let run = recipe.train_and_evaluate(&data, "dwa").unwrap();
    assert_eq!(run.metrics["global_step"], 12.0);
    for k in ["loss", "rmse/head_nose", "accuracy/head_pose"] {
        assert!(run.metrics[k].is_finite(), "{k}: {:?}", run.metrics);
    }
    assert_eq!(run.predictions["head_pose/class_ids"].shape(), &[16]);
    assert_eq!(run.weights.len(), 2);

    assert_eq!("mouth_left".parse::<Task>().unwrap(), Task::Landmark(3));
    assert_eq!("glasses".parse::<Task>().unwrap(), Task::Attribute(2));
    let e = "ears".parse::<Task>().unwrap_err().to_string();
    assert!(
        e.contains("unknown head `ears`") && e.contains("pose"),
        "{e}"
    );
    assert_eq!(
        "sqrt".parse::<ClassWeighting>().unwrap(),
        ClassWeighting::Sqrt
    );
    let e = "per-image".parse::<InputScaling>().unwrap_err().to_string();
    assert!(
        e.contains("unit|per_image|standardize, got `per-image`"),
        "{e}"
    );
    let none = Recipe {
        tasks: vec![],
        ..Recipe::default()
    };
    assert!(none.prepare(train, test).is_err());
}

/// Batch normalisation under the estimator: train steps feed the training flag `true` and
/// run the moving-average updates (the graph's UPDATE_OPS, which the heads group into the
/// train op as TF1's do); evaluate feeds `false`, so it normalises with the moving
/// statistics and leaves them bit-identical.
#[test]
fn training_flag_and_update_ops_under_the_estimator() {
    use staticflow::layers::BatchNormalization;
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [None, Some(2)]);
    let training = placeholder_with_default(g.constant(false), "training");
    let bn = BatchNormalization::new(x, training, "bn");
    let logits = dense(bn.output, 1, Activation::None, "out");
    let head = Box::new(RegressionHead::new("y", 1)) as Box<dyn Head>;
    let opt = GradientDescent::new(0.1);
    let spec = MultiHead::new(vec![head])
        .create_spec(&[logits], Mode::Train, Some(&opt))
        .unwrap();
    let (loss, labels) = (spec.loss.unwrap(), spec.heads[0].labels.unwrap());
    let mut est = Estimator::new(&g, &[("x", x)], spec)
        .unwrap()
        .with_training_flag(training)
        .unwrap();
    let xs = array![[1f32, 2.], [3., 6.]];
    let ys = array![[1f32], [0.]];
    let b = Batch::new().feature("x", xs.clone()).label("y", ys.clone());
    est.train(vec![Ok(b.clone())], 1).unwrap();
    // One update with momentum 0.99 from 0: 0.01 x the batch mean (2, 4).
    let mm = est
        .session()
        .variable_value(bn.moving_mean)
        .unwrap()
        .clone();
    let mm = mm.as_f32().unwrap();
    assert!(
        (mm[[0]] - 0.02).abs() < 1e-6 && (mm[[1]] - 0.04).abs() < 1e-6,
        "{mm}"
    );
    let m = est.evaluate(vec![Ok(b)]).unwrap();
    let mut loss_with = |flag: bool| {
        let t = ndarray::arr0(flag);
        let feeds = [
            (x, (&xs).into()),
            (labels, (&ys).into()),
            (training, (&t).into()),
        ];
        let out = est.session().run(&[loss.into()], &feeds).unwrap();
        out.scalar(0).unwrap() as f64
    };
    let (eval_loss, train_loss) = (loss_with(false), loss_with(true));
    assert!(close(m["loss"], eval_loss, 1e-6), "{m:?} {eval_loss}");
    assert!(
        (eval_loss - train_loss).abs() > 1e-3,
        "{eval_loss} {train_loss}"
    );
    let after = est.session().variable_value(bn.moving_mean).unwrap();
    assert_eq!(
        after.as_f32().unwrap(),
        mm,
        "evaluate must not move the statistics"
    );

    // The flag must be a bool scalar; the error names the tensor.
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(1)]);
    let spec = MultiHead::new(vec![Box::new(RegressionHead::new("y", 1)) as Box<dyn Head>])
        .create_spec(&[x], Mode::Eval, None)
        .unwrap();
    let e = Estimator::new(&g, &[("x", x)], spec)
        .unwrap()
        .with_training_flag(x)
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("training flag `x`"), "{e}");
}
