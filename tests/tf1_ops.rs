//! Math ops, activations and the bool ops (comparisons, logic, `reduce_any`/`reduce_all`,
//! casts, `where`) against TF1's own numbers (issue 11, items 1, 2 and 8).
//!
//! `tests/fixtures/tf1_ops.json` was written by `scripts/tf1_op_fixtures.py` with TF1
//! (`tf.compat.v1`, graph mode, CPU, float32): for every case the op's output on fixed inputs
//! (edge values, ties, zeros, a NaN/inf probe) and its gradient from
//! `tf.gradients(y, x, grad_ys=dy)`. Each case here builds the same op, runs it and its
//! gradient with the same `dy`, and compares element by element: NaN where TF1 has NaN, the
//! same infinity where TF1 has one, else within 1e-6 absolute or 1e-5 relative. A gradient
//! TF1 does not define (`floor`) must be `None` here too. The worst errors per op are printed
//! (`cargo test --release --test tf1_ops -- --nocapture`).

use serde_json::Value as Json;
use staticflow::prelude::*;
use std::collections::BTreeMap;

mod tf1_fixture;
use tf1_fixture::{compare, compare_value, f32_array, i64_array, typed_value, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_ops.json")).expect("fixture parses")
}

/// The op of a case, applied to `x`.
fn build<'g>(case: &Json, x: Tensor<'g>) -> Tensor<'g> {
    let args = &case["args"];
    let rank = x.shape().rank() as i64;
    let axes: Vec<i64> = match args["axes"].as_array() {
        Some(a) => a.iter().map(|v| v.as_i64().unwrap()).collect(),
        None => (0..rank).collect(),
    };
    let keep = args["keep_dims"].as_bool().unwrap_or(false);
    let axis = args["axis"].as_i64().unwrap_or(0);
    match case["name"].as_str().unwrap() {
        "log1p" => log1p(x),
        "expm1" => expm1(x),
        "softplus" => softplus(x),
        "elu" => elu(x),
        "selu" => selu(x),
        "gelu" => gelu(x, false),
        "gelu_approximate" => gelu(x, true),
        "sign" => sign(x),
        "floor" => floor(x),
        "rsqrt" => rsqrt(x),
        "reciprocal" => reciprocal(x),
        "erf" => erf(x),
        "leaky_relu" => leaky_relu(x, args["alpha"].as_f64().unwrap() as f32),
        "reduce_min" => reduce_min(x, &axes, keep),
        "reduce_prod" => reduce_prod(x, &axes, keep),
        "argmin" => argmin(x, axis),
        "cumsum" => cumsum(
            x,
            axis,
            args["exclusive"].as_bool().unwrap(),
            args["reverse"].as_bool().unwrap(),
        ),
        other => panic!("fixture names an unknown op {other}"),
    }
}

#[derive(Default)]
struct Report {
    cases: usize,
    forward: Worst,
    gradient: Option<Worst>,
    no_gradient: bool,
}

/// Runs one case; pushes failures.
fn run_case(case: &Json, report: &mut Report, failures: &mut Vec<String>) {
    let label = format!("{} {}", case["name"], case["args"]);
    let x = f32_array(&case["x"]);
    let g = Graph::with_seed(0);
    let xp = g.placeholder("x", Shape::known(x.shape()));
    let y = build(case, xp);
    let mut fetches: Vec<Fetch> = vec![y.into()];
    let want_grad = case.get("grad");
    if let Some(want) = want_grad {
        let dy = g.constant(f32_array(&case["dy"]));
        let grads = gradients_with(&[y], &[xp], Some(&[dy])).expect("gradients build");
        match (&grads[0], want.is_null()) {
            (Some(gx), false) => fetches.push((*gx).into()),
            (None, true) => report.no_gradient = true,
            (Some(_), true) => failures.push(format!("{label}: TF1 has no gradient, we do")),
            (None, false) => failures.push(format!("{label}: no gradient, TF1 has one")),
        }
    }
    let mut sess = Session::new(&g);
    let out = sess
        .run(&fetches, &[(xp, (&x).into())])
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    report.cases += 1;
    if case["name"] == "argmin" {
        let want = i64_array(&case["y"]);
        if out.i64(0).unwrap() != want {
            failures.push(format!("{label}: {:?}, TF1 {want:?}", out.i64(0).unwrap()));
        }
        return;
    }
    if let Err(e) = compare(
        out.f32(0).unwrap(),
        &f32_array(&case["y"]),
        &mut report.forward,
    ) {
        failures.push(format!("{label} forward on {x:?}: {e}"));
    }
    if fetches.len() == 2 {
        let w = report.gradient.get_or_insert_with(Worst::default);
        let want = f32_array(want_grad.unwrap());
        if let Err(e) = compare(out.f32(1).unwrap(), &want, w) {
            failures.push(format!("{label} gradient on {x:?}: {e}"));
        }
    }
}

#[test]
fn math_ops_and_their_gradients_match_tf1() {
    let doc = fixture();
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in doc["ops"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap().to_string();
        run_case(case, reports.entry(name).or_default(), &mut failures);
    }
    println!(
        "TF1 {}: op, cases, forward max abs / rel error, gradient max abs / rel error \
         (rel over elements beyond 1e-6 abs)",
        doc["versions"]["tensorflow"]
    );
    for (name, r) in &reports {
        let grad = match (r.gradient, r.no_gradient) {
            (Some(w), _) => format!("{:.2e} / {:.2e}", w.abs, w.rel),
            (None, true) => "none (as TF1)".to_string(),
            (None, false) => "not differentiable".to_string(),
        };
        println!(
            "{name:18} {:3}  {:.2e} / {:.2e}  {grad}",
            r.cases, r.forward.abs, r.forward.rel
        );
    }
    assert!(
        reports.len() >= 17,
        "every op has cases: {:?}",
        reports.keys()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Adam and AdamW (TF1's contrib `AdamWOptimizer`) for three steps on
/// `0.5 * sum(a * (w - t)²)`: `w` after every step and the slots `m`, `v` (found with
/// `get_slot`) after the last, against TF1's.
#[test]
fn adam_and_adamw_match_tf1() {
    let doc = fixture();
    for case in doc["optimizers"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let g = Graph::new();
        let w = g.variable("w", init::from_array(&f32_array(&case["w0"])));
        let a = g.constant(f32_array(&case["a"]));
        let t = g.constant(f32_array(&case["t"]));
        let loss = 0.5 * reduce_sum_all(a * square(w - t));
        let lr = case["learning_rate"].as_f64().unwrap() as f32;
        let opt: Box<dyn Optimizer> = match case["weight_decay"].as_f64() {
            None => Box::new(Adam::new(lr)),
            Some(wd) => Box::new(AdamW::new(wd as f32, lr)),
        };
        let train = opt.minimize(loss).unwrap();
        let want_names: Vec<String> = case["slot_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(opt.get_slot_names(), want_names, "{name}");
        let (m, v) = (opt.get_slot(w, "m").unwrap(), opt.get_slot(w, "v").unwrap());
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        let mut worst = Worst::default();
        for (k, want) in case["steps"].as_array().unwrap().iter().enumerate() {
            sess.run(&[train.into()], &[]).unwrap();
            let got = sess.run(&[w.into()], &[]).unwrap().f32(0).unwrap().clone();
            compare(&got, &f32_array(want), &mut worst)
                .unwrap_or_else(|e| panic!("{name} step {}: {e}", k + 1));
        }
        let out = sess.run(&[m.into(), v.into()], &[]).unwrap();
        compare(out.f32(0).unwrap(), &f32_array(&case["m"]), &mut worst)
            .unwrap_or_else(|e| panic!("{name} slot m: {e}"));
        compare(out.f32(1).unwrap(), &f32_array(&case["v"]), &mut worst)
            .unwrap_or_else(|e| panic!("{name} slot v: {e}"));
        println!(
            "{name}: w after 3 steps and slots m, v: max abs {:.2e} / rel {:.2e}",
            worst.abs, worst.rel
        );
    }
}

/// Bad operands are build errors naming the op and the reason; a runtime-only problem
/// (an empty axis) is a run error. Integer cumsum and argmin work.
#[test]
fn bad_operands_are_errors_naming_the_op() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(3)]);
    let i = g.constant(ndarray::arr1(&[1i64, 2, 3]));
    let cases: Vec<(Tensor, &str)> = vec![
        (cumsum(x, 2, false, false), "axis 2"),
        (reduce_prod(x, &[3], false), "invalid reduction dimension 3"),
        (reduce_min(x, &[1, -1], false), "name one dimension twice"),
        (argmin(x, -3), "axis -3"),
        (leaky_relu(i, 0.2), "needs f32"),
        (erf(i), "needs f32"),
        (reduce_prod(i, &[0], false), "needs f32"),
    ];
    for (t, want) in cases {
        let msg = t.check().unwrap_err().to_string();
        assert!(msg.contains(want), "{msg:?} should say {want:?}");
    }
    let g = Graph::new();
    let x = g.placeholder("x", [None, None]);
    let i = g.constant(ndarray::arr1(&[1i64, 2, 3]));
    let (c, r) = (cumsum(i, 0, false, false), cumsum(i, -1, true, true));
    let am = argmin(x, 1);
    let mut sess = Session::new(&g);
    let out = sess.run(&[c.into(), r.into()], &[]).unwrap();
    assert_eq!(out.i64(0).unwrap().as_slice().unwrap(), [1, 3, 6]);
    assert_eq!(out.i64(1).unwrap().as_slice().unwrap(), [5, 3, 0]);
    let empty = ndarray::Array2::<f32>::zeros((2, 0));
    let err = sess
        .run(&[am.into()], &[(x, (&empty).into())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("argmin over empty axis"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Bool dtype: comparisons, logic, reduce_any/all, cast, where (issue 11, item 1)

fn dtype_of(name: &str) -> DType {
    match name {
        "f32" => DType::F32,
        "i64" => DType::I64,
        "bool" => DType::Bool,
        other => panic!("unknown dtype {other}"),
    }
}

/// The bool case's op, applied to its placeholders.
fn build_bool<'g>(case: &Json, x: &[Tensor<'g>]) -> Tensor<'g> {
    let args = &case["args"];
    let keep = args["keep_dims"].as_bool().unwrap_or(false);
    let axes: Option<Vec<i64>> = args["axes"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_i64().unwrap()).collect());
    let reduce = |any: bool| match (&axes, keep, any) {
        (Some(a), _, true) => reduce_any(x[0], a, keep),
        (Some(a), _, false) => reduce_all(x[0], a, keep),
        (None, false, true) => reduce_any_all(x[0]),
        (None, false, false) => reduce_all_all(x[0]),
        (None, true, _) => {
            let all: Vec<i64> = (0..x[0].shape().rank() as i64).collect();
            if any {
                reduce_any(x[0], &all, true)
            } else {
                reduce_all(x[0], &all, true)
            }
        }
    };
    match case["name"].as_str().unwrap() {
        "equal" => equal(x[0], x[1]),
        "not_equal" => not_equal(x[0], x[1]),
        "greater" => greater(x[0], x[1]),
        "greater_equal" => greater_equal(x[0], x[1]),
        "less" => less(x[0], x[1]),
        "less_equal" => less_equal(x[0], x[1]),
        "logical_and" => logical_and(x[0], x[1]),
        "logical_or" => logical_or(x[0], x[1]),
        "logical_not" => logical_not(x[0]),
        "reduce_any" => reduce(true),
        "reduce_all" => reduce(false),
        "cast" => cast(x[0], dtype_of(args["dtype"].as_str().unwrap())),
        "where" => where_(x[0], x[1], x[2]),
        "accuracy" => reduce_mean_all(cast(equal(argmax(x[0], 1), x[1]), DType::F32)),
        other => panic!("fixture names an unknown bool op {other}"),
    }
}

/// Every bool case: the forward value (same dtype and shape, bool and i64 exactly, f32 as
/// the math ops), and where TF1 was asked for gradients, the same `None`s and the same
/// numbers (`where`'s gradient to `x` and `y` with NaN upstream included).
#[test]
fn bool_ops_match_tf1() {
    let doc = fixture();
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    let mut failures = Vec::new();
    let cases = doc["bool_ops"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let label = format!("{name} {} on {}", case["args"], case["inputs"]);
        let report = reports.entry(name.to_string()).or_default();
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
            .map(|(k, v)| {
                g.placeholder_typed(&format!("in{k}"), v.dtype(), Shape::known(v.shape()))
            })
            .collect();
        let y = build_bool(case, &phs);
        let mut fetches: Vec<Fetch> = vec![y.into()];
        let mut want_grads: Vec<&Json> = Vec::new();
        if let Some(of) = case["grad_of"].as_array() {
            let xs: Vec<Tensor> = of
                .iter()
                .map(|k| phs[k.as_u64().unwrap() as usize])
                .collect();
            let yf = if y.dtype() == DType::F32 {
                y
            } else {
                cast(y, DType::F32)
            };
            let dy = g.constant(f32_array(&case["dy"]));
            let grads = gradients_with(&[yf], &xs, Some(&[dy])).expect("gradients build");
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
                    (None, true) => report.no_gradient = true,
                    (Some(_), true) => failures.push(format!(
                        "{label}: TF1 has no gradient for input {}, we do",
                        of[k]
                    )),
                    (None, false) => failures.push(format!(
                        "{label}: no gradient for input {}, TF1 has one",
                        of[k]
                    )),
                }
            }
        }
        let feeds: Vec<staticflow::session::Feed> = phs
            .iter()
            .zip(&inputs)
            .map(|(p, v)| (*p, v.into()))
            .collect();
        let out = Session::new(&g)
            .run(&fetches, &feeds)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        report.cases += 1;
        if let Err(e) = compare_value(
            out.get(0).unwrap(),
            &typed_value(&case["y"]),
            &mut report.forward,
        ) {
            failures.push(format!("{label} forward: {e}"));
        }
        for (k, want) in want_grads.iter().enumerate() {
            let w = report.gradient.get_or_insert_with(Worst::default);
            if let Err(e) = compare(out.f32(k + 1).unwrap(), &f32_array(want), w) {
                failures.push(format!("{label} gradient {k}: {e}"));
            }
        }
    }
    println!(
        "TF1 {}: bool op, cases, forward max abs error (0 = exact), gradient",
        doc["versions"]["tensorflow"]
    );
    for (name, r) in &reports {
        let grad = match (r.gradient, r.no_gradient) {
            (Some(w), _) => format!("max abs {:.2e} (none to cond, as TF1)", w.abs),
            (None, true) => "none (as TF1)".to_string(),
            (None, false) => "not asked".to_string(),
        };
        println!("{name:14} {:3}  {:.2e}  {grad}", r.cases, r.forward.abs);
    }
    assert!(
        reports.len() >= 14,
        "every bool op has cases: {:?}",
        reports.keys()
    );
    assert!(cases.len() >= 90, "{} bool cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Shape-rule violations are build errors (`Error::Shape`) naming the node and saying what
/// is wrong; a runtime-only mismatch (unknown dimensions) is a run error naming the node.
#[test]
fn bool_op_misuse_is_a_typed_error_naming_the_node() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(2), Some(3)]);
    let v = g.placeholder("v", [Some(3)]);
    let i = g.placeholder_typed("i", DType::I64, [Some(2), Some(3)]);
    let c = g.placeholder_typed("c", DType::Bool, [Some(2), Some(3)]);
    let cases: Vec<(Tensor, &str, &str)> = vec![
        (
            greater(x, g.placeholder("y", [Some(4)])),
            "Greater",
            "not broadcastable",
        ),
        (equal(x, i), "Equal", "operand dtypes differ (f32 vs i64)"),
        (less(c, c), "Less", "Less is not defined for bool operands"),
        (
            logical_and(x, c),
            "LogicalAnd",
            "LogicalAnd needs bool operands, operand 0 is f32",
        ),
        (logical_not(i), "LogicalNot", "operand 0 is i64"),
        (reduce_any(x, &[0], false), "Any", "Any needs bool operands"),
        (
            reduce_all(c, &[2], false),
            "All",
            "invalid reduction dimension 2",
        ),
        (where_(x, x, x), "Select", "cond must be bool, got f32"),
        (
            where_(c, x, i),
            "Select",
            "x and y dtypes differ (f32 vs i64)",
        ),
        (
            where_(c, x, g.placeholder("z", [Some(3), Some(2)])),
            "Select",
            "x and y must have the same shape",
        ),
        (
            where_(logical_not(c), v, v),
            "Select",
            "cond of shape [2, 3] must have x's shape [3]",
        ),
        (
            where_(g.placeholder_typed("r", DType::Bool, [Some(3)]), x, x),
            "Select",
            "be a vector of its first dimension",
        ),
        (
            c + c,
            "Add",
            "Add takes no bool operands (cast them to f32 or i64 first)",
        ),
        (reduce_sum_all(c), "Sum", "Sum takes no bool operands"),
        (matmul(c, c), "MatMul", "takes no bool operands"),
        (
            cast(
                g.placeholder_typed("s", DType::Bool, [Some(2)]),
                DType::Bytes,
            ),
            "Cast",
            "cannot cast bool to bytes",
        ),
    ];
    for (t, node, want) in cases {
        let e = t.check().unwrap_err();
        assert!(
            matches!(e, Error::Shape { .. }),
            "{e:?} should be a shape error"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("node `{node}")),
            "{msg:?} should name node {node}"
        );
        assert!(msg.contains(want), "{msg:?} should say {want:?}");
    }
    // Summaries of bool values are refused when built.
    let e = staticflow::summary::scalar(
        "flag",
        g.placeholder_typed("flag", DType::Bool, Shape::scalar()),
    )
    .check()
    .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    assert!(e.to_string().contains("takes no bool operands"), "{e}");
    // Unknown dimensions: the mismatch is found when the op runs.
    let g = Graph::new();
    let c = g.placeholder_typed("c", DType::Bool, [None]);
    let x = g.placeholder("x", [None, Some(2)]);
    let w = where_(c, x, x).named("rows");
    let cv = ndarray::arr1(&[true, false, true]);
    let xv = ndarray::Array2::<f32>::zeros((2, 2));
    let err = Session::new(&g)
        .run(&[w.into()], &[(c, (&cv).into()), (x, (&xv).into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rows") && err.contains("cond of shape [3]"),
        "{err}"
    );
    // An f32 array fed to a bool placeholder is a feed error naming both dtypes.
    let xs = ndarray::arr1(&[1.0f32, 0.0]);
    let e = Session::new(&g)
        .run(&[w.into()], &[(c, (&xs).into()), (x, (&xv).into())])
        .unwrap_err();
    assert!(matches!(e, Error::FeedMismatch { .. }), "{e:?}");
    assert!(
        e.to_string().contains("bool") && e.to_string().contains("f32"),
        "{e}"
    );
}
