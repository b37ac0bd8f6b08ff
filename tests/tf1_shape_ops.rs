//! Shape ops (issue 11, items 3 and 8) against TF1's own numbers: `tile`, `pad`, `reverse`,
//! `split`, `unstack`, `zeros_like`/`ones_like`, `fill`, `range`, batched `matmul`,
//! `tensordot`, `matvec`, `gather` on any axis, `unsorted_segment_sum`, `scatter_nd`,
//! `top_k`, `sequence_mask` and `reverse_sequence`.
//!
//! `tests/fixtures/tf1_shape_ops.json` was written by `scripts/tf1_op_fixtures.py` with TF1
//! (`tf.compat.v1`, graph mode, CPU): for every case the op's outputs on fixed inputs and the
//! gradients of its f32 outputs (upstream `dys`) w.r.t. the inputs listed in `grad_of`, or
//! `error` where TF1 rejects the case (then staticflow must return a typed error: a build
//! error `Error::Shape` or a run error `Error::Runtime`, both naming the node). Outputs are
//! compared as in tests/tf1_ops.rs: i64 and bool exactly, f32 within 1e-6 absolute or 1e-5
//! relative. The worst errors per op are printed
//! (`cargo test --release --test tf1_shape_ops -- --nocapture`).

mod tf1_fixture;

use serde_json::Value as Json;
use staticflow::prelude::*;
use std::collections::BTreeMap;
use tf1_fixture::{compare, compare_value, f32_array, typed_value, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_shape_ops.json")).expect("fixture parses")
}

fn ints(v: &Json) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect()
}

fn usizes(v: &Json) -> Vec<usize> {
    ints(v).into_iter().map(|d| d as usize).collect()
}

/// The case's op on its placeholders: every output, in TF1's order.
fn build<'g>(g: &'g Graph, case: &Json, x: &[Tensor<'g>]) -> Vec<Tensor<'g>> {
    let a = &case["args"];
    let axis = a["axis"].as_i64().unwrap_or(0);
    match case["name"].as_str().unwrap() {
        "tile" => vec![tile(x[0], &usizes(&a["multiples"]))],
        "pad" => {
            let paddings: Vec<[usize; 2]> = a["paddings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let p = usizes(p);
                    [p[0], p[1]]
                })
                .collect();
            let mode = match a["mode"].as_str().unwrap() {
                "CONSTANT" => PadMode::Constant(a["value"].as_f64().unwrap() as f32),
                "REFLECT" => PadMode::Reflect,
                "SYMMETRIC" => PadMode::Symmetric,
                other => panic!("unknown pad mode {other}"),
            };
            vec![pad(x[0], &paddings, mode)]
        }
        "reverse" => vec![reverse(x[0], &ints(&a["axes"]))],
        "split" => match &a["sizes"] {
            Json::Array(_) => split(x[0], ints(&a["sizes"]), axis),
            n => split(x[0], n.as_u64().unwrap() as usize, axis),
        },
        "unstack" => unstack(x[0], axis),
        "zeros_like" => vec![zeros_like(x[0])],
        "ones_like" => vec![ones_like(x[0])],
        "fill" => vec![fill(&usizes(&a["shape"]), x[0])],
        "range" => vec![match a["dtype"].as_str().unwrap() {
            "f32" => {
                let f = |k: &str| a[k].as_f64().unwrap() as f32;
                range(g, f("start"), f("limit"), f("delta"))
            }
            _ => {
                let i = |k: &str| a[k].as_i64().unwrap();
                range(g, i("start"), i("limit"), i("delta"))
            }
        }],
        "matmul" => vec![matmul_t(
            x[0],
            x[1],
            a["transpose_a"].as_bool().unwrap(),
            a["transpose_b"].as_bool().unwrap(),
        )],
        "tensordot" => vec![match &a["axes"] {
            Json::Array(p) => {
                tensordot(x[0], x[1], (ints(&p[0]).as_slice(), ints(&p[1]).as_slice()))
            }
            n => tensordot(x[0], x[1], n.as_u64().unwrap() as usize),
        }],
        "matvec" => vec![matvec(x[0], x[1])],
        "gather_axis" => vec![gather_axis(x[0], x[1], axis)],
        "unsorted_segment_sum" => vec![unsorted_segment_sum(
            x[0],
            x[1],
            a["num_segments"].as_u64().unwrap() as usize,
        )],
        "scatter_nd" => vec![scatter_nd(x[0], x[1], &usizes(&a["shape"]))],
        "gather_nd" => vec![gather_nd(x[0], x[1])],
        "top_k" => {
            let (v, i) = top_k(x[0], a["k"].as_u64().unwrap() as usize, true);
            vec![v, i]
        }
        "sequence_mask" => {
            let dtype = match a["dtype"].as_str().unwrap() {
                "bool" => DType::Bool,
                "f32" => DType::F32,
                _ => DType::I64,
            };
            let maxlen = a["maxlen"].as_u64().map(|m| m as usize);
            vec![sequence_mask(x[0], maxlen, dtype)]
        }
        "reverse_sequence" => vec![reverse_sequence(
            x[0],
            x[1],
            a["seq_axis"].as_i64().unwrap(),
            a["batch_axis"].as_i64().unwrap(),
        )],
        other => panic!("fixture names an unknown shape op {other}"),
    }
}

#[derive(Default)]
struct Report {
    cases: usize,
    errors: usize,
    forward: Worst,
    gradient: Option<Worst>,
}

/// Runs one case; returns what failed.
fn run_case(case: &Json, report: &mut Report) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let label = format!("{name} {} on {}", case["args"], case["inputs"]);
    let inputs: Vec<Value> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(typed_value)
        .collect();
    let g = Graph::new();
    let phs: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(k, v)| g.placeholder_typed(&format!("in{k}"), v.dtype(), Shape::known(v.shape())))
        .collect();
    let ys = build(&g, case, &phs);
    let feeds: Vec<staticflow::session::Feed> = phs
        .iter()
        .zip(&inputs)
        .map(|(p, v)| (*p, v.into()))
        .collect();
    report.cases += 1;
    if case.get("error").is_some() {
        report.errors += 1;
        // TF1 rejects the case: a build error, or else a run error, naming the node.
        let err = match ys.iter().find_map(|y| y.check().err()) {
            Some(e) => e,
            None => {
                let fetches: Vec<Fetch> = ys.iter().map(|&y| y.into()).collect();
                match Session::new(&g).run(&fetches, &feeds) {
                    Ok(_) => return Err(format!("{label}: TF1 raises {}, we run", case["error"])),
                    Err(e) => e,
                }
            }
        };
        let node_named = match &err {
            Error::Shape { node, .. } | Error::Runtime { node, .. } => {
                ys.iter().any(|y| y.name() == *node)
            }
            _ => false,
        };
        if !node_named {
            return Err(format!(
                "{label}: expected a shape or runtime error naming an output, got {err:?}"
            ));
        }
        return Ok(());
    }
    let wants = case["ys"].as_array().unwrap();
    if ys.len() != wants.len() {
        return Err(format!(
            "{label}: {} outputs, TF1 has {}",
            ys.len(),
            wants.len()
        ));
    }
    let mut fetches: Vec<Fetch> = ys.iter().map(|&y| y.into()).collect();
    let mut want_grads = Vec::new();
    if let Some(of) = case["grad_of"].as_array() {
        let xs: Vec<Tensor> = of
            .iter()
            .map(|k| phs[k.as_u64().unwrap() as usize])
            .collect();
        let fys: Vec<Tensor> = ys
            .iter()
            .copied()
            .filter(|y| y.dtype() == DType::F32)
            .collect();
        let dys: Vec<Tensor> = case["dys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| g.constant(f32_array(d)))
            .collect();
        let grads = gradients_with(&fys, &xs, Some(&dys)).map_err(|e| format!("{label}: {e}"))?;
        for (k, (got, want)) in grads
            .iter()
            .zip(case["grads"].as_array().unwrap())
            .enumerate()
        {
            match (got, want.is_null()) {
                (Some(t), false) => {
                    fetches.push((*t).into());
                    want_grads.push(want);
                }
                (None, true) => {}
                (Some(_), true) => return Err(format!("{label}: TF1 has no gradient {k}, we do")),
                (None, false) => return Err(format!("{label}: no gradient {k}, TF1 has one")),
            }
        }
    }
    let out = Session::new(&g)
        .run(&fetches, &feeds)
        .map_err(|e| format!("{label}: {e}"))?;
    for (k, want) in wants.iter().enumerate() {
        compare_value(out.get(k).unwrap(), &typed_value(want), &mut report.forward)
            .map_err(|e| format!("{label} output {k}: {e}"))?;
    }
    for (k, want) in want_grads.iter().enumerate() {
        let w = report.gradient.get_or_insert_with(Worst::default);
        compare(out.f32(ys.len() + k).unwrap(), &f32_array(want), w)
            .map_err(|e| format!("{label} gradient {k}: {e}"))?;
    }
    Ok(())
}

/// Every shape op case: outputs (dtype, shape and values), gradients, and TF1's rejections
/// as typed errors naming the node.
#[test]
fn shape_ops_match_tf1() {
    let doc = fixture();
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    let mut failures = Vec::new();
    let cases = doc["shape_ops"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap().to_string();
        if let Err(e) = run_case(case, reports.entry(name).or_default()) {
            failures.push(e);
        }
    }
    println!(
        "TF1 {}: shape op | cases (TF1 errors) | forward max abs error | gradient max abs error",
        doc["versions"]["tensorflow"]
    );
    for (name, r) in &reports {
        let grad = match r.gradient {
            Some(w) => format!("{:.2e}", w.abs),
            None => "-".to_string(),
        };
        println!(
            "{name:20} {:3} ({:2})  {:.2e}  {grad}",
            r.cases, r.errors, r.forward.abs
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(reports.len() >= 19, "ops with cases: {:?}", reports.keys());
}
