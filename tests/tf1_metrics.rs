//! `staticflow::metrics` against TF1's streaming metrics (issue 11, item 7), and the local
//! variables they live in.
//!
//! `tests/fixtures/tf1_metrics.json` was written by `scripts/tf1_metric_fixtures.py` with TF1
//! (`tf.compat.v1.metrics`, graph mode, CPU): each case feeds batches of different sizes to
//! one metric's `update_op` after `local_variables_initializer` and records every answer,
//! then the `value`. Here each case is rebuilt (batch dimension known only at run time) and
//! compared within 1e-6 absolute or 1e-5 relative, NaN where TF1 has NaN; the metric's local
//! variables must carry TF1's names. The worst error per metric is printed
//! (`cargo test --release --test tf1_metrics -- --nocapture`).

mod tf1_fixture;

use ndarray::{arr1, ArrayD};
use serde_json::Value as Json;
use staticflow::losses::Weights;
use staticflow::metrics::{self, AucCurve, AucOptions, AucSummation, StreamingMetric};
use staticflow::prelude::*;
use std::collections::BTreeMap;
use tf1_fixture::{compare, f32_array, i64_array, num, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_metrics.json")).expect("fixture parses")
}

/// A fixture input as a value of its TF1 dtype.
fn input(batch: &Json, key: &str) -> Value {
    let t = &batch[key];
    match batch[format!("{key}_dtype")].as_str().unwrap() {
        "float32" => f32_array(t).into(),
        "int64" => i64_array(t).into(),
        "bool" => i64_array(t).mapv(|v| v != 0).into(),
        other => panic!("unknown dtype {other}"),
    }
}

/// A placeholder for `v` with an unknown batch dimension.
fn placeholder<'g>(g: &'g Graph, name: &str, v: &Value) -> Tensor<'g> {
    let mut dims: Vec<Option<usize>> = v.shape().iter().map(|&d| Some(d)).collect();
    dims[0] = None;
    g.placeholder_typed(name, v.dtype(), Shape(dims))
}

fn options(o: &Json) -> AucOptions {
    let mut a = AucOptions::default();
    if let Some(n) = o["num_thresholds"].as_u64() {
        a.num_thresholds = n as usize;
    }
    if o["curve"].as_str() == Some("PR") {
        a.curve = AucCurve::Pr;
    }
    a.summation = match o["summation"].as_str() {
        Some("minoring") => AucSummation::Minoring,
        Some("majoring") => AucSummation::Majoring,
        _ => AucSummation::Trapezoidal,
    };
    a
}

/// Builds and runs one case: the worst error, or a message naming what differs.
fn run_case(case: &Json) -> Result<Worst, String> {
    let g = Graph::new();
    let batches = case["batches"].as_array().unwrap();
    let keys: Vec<&str> = ["labels", "predictions", "values", "weights"]
        .into_iter()
        .filter(|k| batches[0].get(*k).is_some())
        .collect();
    let first: BTreeMap<&str, Value> = keys.iter().map(|k| (*k, input(&batches[0], k))).collect();
    let ph: BTreeMap<&str, Tensor> = keys
        .iter()
        .map(|k| (*k, placeholder(&g, k, &first[k])))
        .collect();
    let w: Weights = match ph.get("weights") {
        Some(&t) => t.into(),
        None => 1.0.into(),
    };
    let m: StreamingMetric = match case["metric"].as_str().unwrap() {
        "mean" => metrics::mean(ph["values"], w),
        "accuracy" => metrics::accuracy(ph["labels"], ph["predictions"], w),
        "precision" => metrics::precision(ph["labels"], ph["predictions"], w),
        "recall" => metrics::recall(ph["labels"], ph["predictions"], w),
        "auc" => metrics::auc(
            ph["labels"],
            ph["predictions"],
            w,
            options(&case["options"]),
        ),
        other => panic!("unknown metric {other}"),
    };
    let mut names: Vec<String> = g.local_variables().iter().map(|v| v.name()).collect();
    names.sort();
    let want: Vec<String> = case["local_variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    if names != want {
        return Err(format!("local variables {names:?}, TF1 {want:?}"));
    }
    let mut sess = Session::new(&g);
    sess.run(&[g.local_variables_initializer().into()], &[])
        .map_err(|e| e.to_string())?;
    let mut worst = Worst::default();
    let scalar = |x: f32| ArrayD::from_elem(ndarray::IxDyn(&[]), x);
    for (b, want) in batches.iter().zip(case["updates"].as_array().unwrap()) {
        let values: Vec<Value> = keys.iter().map(|k| input(b, k)).collect();
        let feeds: Vec<(Tensor, ValueView)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (ph[k], v.into()))
            .collect();
        let out = sess
            .run(&[m.update_op.into()], &feeds)
            .map_err(|e| e.to_string())?;
        let got = out.scalar(0).map_err(|e| e.to_string())?;
        compare(&scalar(got), &scalar(num(want)), &mut worst)
            .map_err(|e| format!("update: {e}"))?;
    }
    let out = sess
        .run(&[m.value.into()], &[])
        .map_err(|e| e.to_string())?;
    let got = out.scalar(0).map_err(|e| e.to_string())?;
    compare(&scalar(got), &scalar(num(&case["value"])), &mut worst)
        .map_err(|e| format!("value: {e}"))?;
    Ok(worst)
}

#[test]
fn metrics_match_tf1() {
    let doc = fixture();
    let mut per_metric: BTreeMap<String, (usize, Worst)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        match run_case(case) {
            Ok(w) => {
                let e = per_metric
                    .entry(case["metric"].as_str().unwrap().to_string())
                    .or_default();
                e.0 += 1;
                e.1 = e.1.max(w);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    println!("metric | TF1 cases | max abs error | max rel error");
    for (m, (n, w)) in &per_metric {
        println!("{m} | {n} | {:.2e} | {:.2e}", w.abs, w.rel);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(per_metric.values().map(|(n, _)| n).sum::<usize>(), 27);
}

/// Re-running the local initializer starts the metric over; global variables and the
/// Saver never see the accumulators.
#[test]
fn local_variables_reset_and_are_not_global_or_saved() {
    let g = Graph::new();
    let w = g.variable("w", staticflow::init::zeros(&[2]));
    let x = g.placeholder("x", [None]);
    let m = metrics::mean(x, 1.0);
    let locals: Vec<String> = g.local_variables().iter().map(|v| v.name()).collect();
    assert_eq!(locals, ["mean/total", "mean/count"]);
    assert_eq!(g.global_variables(), vec![w]);
    assert!(g.trainable_variables() == vec![w]);
    assert_eq!(g.get_collection(GraphKeys::METRIC_VARIABLES).len(), 2);
    assert_eq!(g.get_collection(GraphKeys::LOCAL_VARIABLES).len(), 2);
    let saver = staticflow::train::Saver::new(&g);
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    // The global initializer leaves the accumulators uninitialised, as in TF1.
    let err = sess
        .run(&[m.value.into()], &[])
        .expect_err("reading an uninitialised accumulator fails");
    assert!(err.to_string().contains("mean/"), "{err}");
    let init = g.local_variables_initializer();
    let a = arr1(&[1.0f32, 2.0, 3.0]);
    let b = arr1(&[10.0f32]);
    sess.run(&[init.into()], &[]).unwrap();
    sess.run(&[m.update_op.into()], &[(x, (&a).into())])
        .unwrap();
    sess.run(&[m.update_op.into()], &[(x, (&b).into())])
        .unwrap();
    assert_eq!(
        sess.run(&[m.value.into()], &[]).unwrap().scalar(0).unwrap(),
        4.0
    );
    sess.run(&[init.into()], &[]).unwrap();
    assert_eq!(
        sess.run(&[m.value.into()], &[]).unwrap().scalar(0).unwrap(),
        0.0
    );
    let out = sess
        .run(&[m.update_op.into()], &[(x, (&b).into())])
        .unwrap();
    assert_eq!(out.scalar(0).unwrap(), 10.0);
    // The checkpoint holds `w` alone: a graph of `w` only restores it (extra entries
    // would be refused).
    let dir = std::env::temp_dir().join(format!("sf_metrics_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    saver.save(&sess, &path).unwrap();
    let g2 = Graph::new();
    g2.variable("w", staticflow::init::zeros(&[2]));
    let mut s2 = Session::new(&g2);
    staticflow::train::Saver::new(&g2)
        .restore(&mut s2, &path)
        .expect("the checkpoint holds `w` and nothing else");
    std::fs::remove_dir_all(&dir).ok();
}

/// A graph file keeps which variables are local and the `local_init` op.
#[test]
fn graph_files_keep_local_variables() {
    let g = Graph::new();
    let _w = g.variable("w", staticflow::init::zeros(&[1]));
    let labels = g.placeholder_typed("labels", DType::I64, [None]);
    let pred = g.placeholder_typed("pred", DType::I64, [None]);
    let m = metrics::accuracy(labels, pred, 1.0);
    g.local_variables_initializer();
    let text = g.to_json().unwrap();
    let g2 = Graph::from_json(&text).unwrap();
    assert_eq!(g2.to_json().unwrap(), text);
    let names = |g: &Graph, v: Vec<Tensor>| -> Vec<String> {
        let _ = g;
        v.iter().map(|t| t.name()).collect()
    };
    assert_eq!(
        names(&g2, g2.local_variables()),
        ["accuracy/total", "accuracy/count"]
    );
    assert_eq!(names(&g2, g2.global_variables()), ["w"]);
    let (y, p) = (arr1(&[1i64, 2, 3]), arr1(&[1i64, 0, 3]));
    let mut sess = Session::new(&g2);
    sess.run(&[g2.local_variables_initializer().into()], &[])
        .unwrap();
    let upd = g2.tensor_by_name(&m.update_op.name()).unwrap();
    let (l2, p2) = (
        g2.tensor_by_name("labels").unwrap(),
        g2.tensor_by_name("pred").unwrap(),
    );
    let out = sess
        .run(&[upd.into()], &[(l2, (&y).into()), (p2, (&p).into())])
        .unwrap();
    assert!((out.scalar(0).unwrap() - 2.0 / 3.0).abs() < 1e-7);
    // A local initializer that is not a variable's assignment is refused, named.
    let bad = text.replacen(
        "\"local_initializers\": [",
        "\"local_initializers\": [\"labels\", ",
        1,
    );
    let err = Graph::from_json(&bad).expect_err("labels is no initializer");
    assert!(err.to_string().contains("labels"), "{err}");
}

/// Shapes that do not fit and a curve without two thresholds are build errors naming the
/// metric; nothing broadcasts silently.
#[test]
fn bad_operands_are_build_errors() {
    let g = Graph::new();
    let labels = g.placeholder_typed("labels", DType::I64, [Some(4)]);
    let column = g.placeholder_typed("column", DType::I64, [Some(4), Some(2)]);
    let e = metrics::accuracy(labels, column, 1.0)
        .value
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("accuracy"), "{e}");
    assert!(e.to_string().contains("not compatible"), "{e}");
    let g = Graph::new();
    let labels = g.placeholder_typed("labels", DType::Bool, [Some(4)]);
    let p = g.placeholder("p", [Some(3)]);
    for m in [
        metrics::precision(labels, p, 1.0),
        metrics::recall(labels, p, 1.0),
    ] {
        let e = m.update_op.check().unwrap_err();
        assert!(e.to_string().contains("not compatible"), "{e}");
    }
    let g = Graph::new();
    let labels = g.placeholder_typed("labels", DType::Bool, [Some(4)]);
    let p = g.placeholder("p", [Some(4)]);
    let opts = AucOptions {
        num_thresholds: 1,
        ..AucOptions::default()
    };
    let e = metrics::auc(labels, p, 1.0, opts)
        .value
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("num_thresholds >= 2"), "{e}");
    let w = g.placeholder("w", [Some(3)]);
    for m in [
        metrics::auc(labels, p, w, AucOptions::default()),
        metrics::precision(labels, p, w),
        metrics::mean(p, w),
    ] {
        let e = m.update_op.check().unwrap_err();
        assert!(e.to_string().contains("BroadcastWeights"), "{e}");
        assert!(m.value.check().is_err());
    }
}
