//! `staticflow::losses` against TF1's `tf.losses` (issue 11, item 4).
//!
//! `tests/fixtures/tf1_losses.json` was written by `scripts/tf1_loss_fixtures.py` with TF1
//! (`tf.compat.v1`, graph mode, CPU, float32): every loss with every reduction and several
//! weightings (none, a float, a zero float, per-element and per-example tensors with zeros,
//! all-zero weights), its value and its gradient w.r.t. the predictions (logits) for a fixed
//! upstream `dy`; `sigmoid_cross_entropy_with_logits` alone with gradients w.r.t. both
//! operands; and the regularization sums. Each case is rebuilt here twice (static shapes,
//! and a batch dimension known only at run time) and compared within 1e-6 absolute or 1e-5
//! relative. The worst errors per loss are printed
//! (`cargo test --release --test tf1_losses -- --nocapture`).

mod tf1_fixture;

use ndarray::ArrayD;
use serde_json::Value as Json;
use staticflow::losses::{self, Reduction, Weights};
use staticflow::prelude::*;
use std::collections::BTreeMap;
use tf1_fixture::{compare, f32_array, i64_array, is_integer, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_losses.json")).expect("fixture parses")
}

fn reduction(name: &str) -> Reduction {
    match name {
        "none" => Reduction::None,
        "sum" => Reduction::Sum,
        "mean" => Reduction::Mean,
        "sum_over_batch_size" => Reduction::SumOverBatchSize,
        "sum_by_nonzero_weights" => Reduction::SumByNonzeroWeights,
        other => panic!("unknown reduction {other}"),
    }
}

/// The shape of a placeholder for `a`: fully known, or with the first dimension unknown.
fn shape_of(a: &[usize], dynamic: bool) -> Shape {
    Shape(
        a.iter()
            .enumerate()
            .map(|(k, &d)| if dynamic && k == 0 { None } else { Some(d) })
            .collect(),
    )
}

/// The loss of a case, built from its inputs.
fn build<'g>(
    case: &Json,
    labels: Tensor<'g>,
    x: Tensor<'g>,
    weights: Weights<'g>,
    r: Reduction,
) -> Tensor<'g> {
    let args = &case["args"];
    let arg = |k: &str| args[k].as_f64().unwrap() as f32;
    match case["loss"].as_str().unwrap() {
        "mean_squared_error" => losses::mean_squared_error(labels, x, weights, r),
        "absolute_difference" => losses::absolute_difference(labels, x, weights, r),
        "huber_loss" => losses::huber_loss(labels, x, weights, arg("delta"), r),
        "log_loss" => losses::log_loss(labels, x, weights, arg("epsilon"), r),
        "cosine_distance" => {
            losses::cosine_distance(labels, x, args["axis"].as_i64().unwrap(), weights, r)
        }
        "sigmoid_cross_entropy" => {
            losses::sigmoid_cross_entropy(labels, x, weights, arg("label_smoothing"), r)
        }
        "softmax_cross_entropy" => {
            losses::softmax_cross_entropy(labels, x, weights, arg("label_smoothing"), r)
        }
        "sparse_softmax_cross_entropy" => {
            losses::sparse_softmax_cross_entropy(labels, x, weights, r)
        }
        other => panic!("fixture names an unknown loss {other}"),
    }
}

/// Builds and runs one case; returns the worst errors of the value and of the gradient.
fn run_case(doc: &Json, case: &Json, dynamic: bool) -> Result<(Worst, Worst), String> {
    let inputs = &doc["inputs"];
    let (lj, xj) = (
        &inputs[case["labels"].as_str().unwrap()],
        &inputs[case["x"].as_str().unwrap()],
    );
    let g = Graph::new();
    let xv = f32_array(xj);
    let x = g.placeholder("x", shape_of(xv.shape(), dynamic));
    let (labels, lv_f, lv_i) = if is_integer(lj) {
        let a = i64_array(lj);
        let p = g.placeholder_typed("labels", DType::I64, shape_of(a.shape(), dynamic));
        (p, None, Some(a))
    } else {
        let a = f32_array(lj);
        let p = g.placeholder("labels", shape_of(a.shape(), dynamic));
        (p, Some(a), None)
    };
    let weights = match &case["weights"] {
        Json::String(name) => Weights::Tensor(g.constant(f32_array(&inputs[name.as_str()]))),
        w => Weights::Constant(w.as_f64().unwrap() as f32),
    };
    let y = build(
        case,
        labels,
        x,
        weights,
        reduction(case["reduction"].as_str().unwrap()),
    );
    assert_eq!(
        losses::get_losses(&g, None),
        vec![y],
        "the loss is collected"
    );
    let dy = g.constant(f32_array(&case["dy"]));
    let grads = gradients_with(&[y], &[x], Some(&[dy])).map_err(|e| e.to_string())?;
    let gx = grads[0].ok_or("no gradient w.r.t. the predictions")?;
    let mut sess = Session::new(&g);
    let label_feed: Value = match (lv_f, lv_i) {
        (Some(a), _) => a.into(),
        (_, Some(a)) => a.into(),
        _ => unreachable!(),
    };
    let out = sess
        .run(
            &[y.into(), gx.into()],
            &[(x, (&xv).into()), (labels, label_feed.view())],
        )
        .map_err(|e| e.to_string())?;
    let (mut fw, mut gw) = (Worst::default(), Worst::default());
    compare(out.f32(0).unwrap(), &f32_array(&case["y"]), &mut fw)
        .map_err(|e| format!("value: {e}"))?;
    compare(out.f32(1).unwrap(), &f32_array(&case["grad"]), &mut gw)
        .map_err(|e| format!("gradient: {e}"))?;
    Ok((fw, gw))
}

/// Every loss, reduction and weighting of the fixture, value and gradient, with static
/// and with run-time batch sizes.
#[test]
fn losses_match_tf1() {
    let doc = fixture();
    let cases = doc["losses"].as_array().unwrap();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let mut table: BTreeMap<String, (usize, Worst, Worst)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases {
        let key = format!("{} {}", case["loss"].as_str().unwrap(), case["args"]);
        for dynamic in [false, true] {
            match run_case(&doc, case, dynamic) {
                Ok((f, gr)) => {
                    let e = table.entry(key.clone()).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(f);
                    e.2 = e.2.max(gr);
                }
                Err(e) => failures.push(format!(
                    "{key} weights {} reduction {} (dynamic batch: {dynamic}): {e}",
                    case["weights"], case["reduction"]
                )),
            }
        }
    }
    println!("loss (args) | runs | value max abs / rel | gradient max abs / rel");
    for (k, (n, f, gr)) in &table {
        println!(
            "{k} | {n} | {:.2e} / {:.2e} | {:.2e} / {:.2e}",
            f.abs, f.rel, gr.abs, gr.rel
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `sigmoid_cross_entropy_with_logits` on edge logits (±100, ±0, tiny) with soft labels:
/// the value and the gradients w.r.t. both operands.
#[test]
fn sigmoid_cross_entropy_with_logits_matches_tf1() {
    let doc = fixture();
    let c = &doc["sigmoid_cross_entropy_with_logits"];
    let g = Graph::new();
    let labels = g.constant(f32_array(&c["labels"]));
    let logits = g.constant(f32_array(&c["logits"]));
    let y = sigmoid_cross_entropy_with_logits(labels, logits);
    let dy = g.constant(f32_array(&c["dy"]));
    let grads = gradients_with(&[y], &[labels, logits], Some(&[dy])).unwrap();
    let (gl, gx) = (grads[0].unwrap(), grads[1].unwrap());
    let out = Session::new(&g)
        .run(&[y.into(), gl.into(), gx.into()], &[])
        .unwrap();
    let mut worst = [Worst::default(); 3];
    for (k, key) in ["y", "grad_labels", "grad_logits"].iter().enumerate() {
        compare(out.f32(k).unwrap(), &f32_array(&c[*key]), &mut worst[k])
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    println!(
        "sigmoid_cross_entropy_with_logits: value {:.2e}/{:.2e}, d/dlabels {:.2e}/{:.2e}, \
         d/dlogits {:.2e}/{:.2e} (max abs / rel)",
        worst[0].abs, worst[0].rel, worst[1].abs, worst[1].rel, worst[2].abs, worst[2].rel
    );
}

/// contrib's `l2_regularizer` / `l1_regularizer` terms, `get_regularization_loss`,
/// `get_total_loss` (with an MSE loss) and its gradient, against TF1.
#[test]
fn regularization_losses_match_tf1() {
    let doc = fixture();
    let c = &doc["regularization"];
    let g = Graph::new();
    let w1 = g.variable("w1", init::from_array(&f32_array(&c["w1"])));
    let w2 = g.variable("w2", init::from_array(&f32_array(&c["w2"])));
    let l2 = losses::l2_regularizer(0.01).unwrap();
    l2.apply(w1).unwrap();
    l2.apply(w2).unwrap();
    losses::l1_regularizer(0.02).unwrap().apply(w1).unwrap();
    let pred = matmul(g.constant(f32_array(&c["x"])), w1) + w2;
    let t = g.constant(f32_array(&c["t"]));
    losses::mean_squared_error(t, pred, 1.0, Reduction::default());
    let terms = losses::get_regularization_losses(&g, None);
    assert_eq!(terms.len(), 3);
    let reg = losses::get_regularization_loss(&g);
    let total = losses::get_total_loss(&g, true).unwrap();
    let gw1 = gradients(&[total], &[w1]).unwrap()[0].unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut fetches: Vec<Fetch> = terms.iter().map(|t| (*t).into()).collect();
    fetches.extend([Fetch::from(reg), total.into(), gw1.into()]);
    let out = sess.run(&fetches, &[]).unwrap();
    let mut worst = Worst::default();
    let scalar = |v: f32| ArrayD::from_elem(ndarray::IxDyn(&[]), v);
    let want_terms = c["terms"].as_array().unwrap();
    for (k, w) in want_terms.iter().enumerate() {
        compare(
            out.f32(k).unwrap(),
            &scalar(w.as_f64().unwrap() as f32),
            &mut worst,
        )
        .unwrap_or_else(|e| panic!("term {k}: {e}"));
    }
    for (k, key) in ["regularization_loss", "total_loss"].iter().enumerate() {
        let want = scalar(c[*key].as_f64().unwrap() as f32);
        compare(out.f32(3 + k).unwrap(), &want, &mut worst)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    compare(out.f32(5).unwrap(), &f32_array(&c["grad_w1"]), &mut worst)
        .unwrap_or_else(|e| panic!("grad_w1: {e}"));
    println!(
        "regularization terms, sums and d(total)/d(w1): max abs {:.2e} / rel {:.2e}",
        worst.abs, worst.rel
    );
}
