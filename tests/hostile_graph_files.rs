//! Hostile tests, class 6 (issue 10): graph files and checkpoints are untrusted input.
//!
//! A seeded, bounded fuzzer takes the checked-in graphs (`graphs/*.json`) and small graphs
//! built here (one per op family, with their gradients), mutates them structurally (drop,
//! duplicate and move nodes, rewire inputs and control inputs, swap op kinds, initializers)
//! and by attribute (axes, perms, begins, sizes, strides, window sizes, dtypes, shapes, huge
//! and negative numbers), reads each with [`Graph::from_json`] and, when it reads, runs it: the
//! initializer, then every sink of the graph twice (with other sizes for unknown dimensions),
//! then a few random tensors with a random intermediate tensor fed. Every case must end in
//! `Ok` or a typed [`Error`]: a panic fails the test with the case number, seed and mutations
//! (rerun one case with `HOSTILE_GRAPH_CASE=<n>`), and a watchdog fails it if one case stops
//! making progress. The checkpoint half does the same for random byte flips, truncations and
//! edits of the length field and the header of a saved checkpoint: a restore either refuses
//! with the session untouched or restores exactly the saved values.
//!
//! The counts are printed as one summary line per fuzzer (`cargo test --release --test
//! hostile_graph_files -- --nocapture`).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value as J;
use staticflow::ops::aggregate::{aggregate_weights, combine, gram, gram_cosine, Aggregator};
use staticflow::prelude::*;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Base seed of the graph fuzzer; case `k` uses `SEED + k`.
const SEED: u64 = 0x5EED_0006;
/// Mutated cases per corpus graph (the checked-in graphs are larger and slower to run).
const CASES_SMALL: usize = 800;
const CASES_LARGE: usize = 80;
/// Placeholder feeds above this many elements are not built (the case is counted as skipped).
const MAX_FEED: usize = 1 << 16;
/// Graphs whose known tensors hold between these many elements are not run: too slow for a
/// test, yet small enough that an allocator may hand them out (a larger one must fail with
/// an error, which the fuzzer wants to see).
const RUN_LIMIT: u128 = 1 << 22;
const HUGE: u128 = 1 << 40;

// ---------------------------------------------------------------------------------------------
// Corpus

fn checked_in() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphs");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "graphs/*.json not found in {dir:?}");
    out
}

fn json_of(g: &Graph) -> String {
    g.to_json().unwrap()
}

/// Dense layers, reductions, losses, Adam.
fn mlp() -> String {
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [None, Some(3)]);
    let y = g.placeholder_typed("y", DType::I64, [None]);
    let t = g.placeholder("t", [None, Some(2)]);
    let w = g.variable("w", init::glorot_uniform(&[3, 4]));
    let b = g.variable("b", init::constant(&[4], 0.1));
    let h = relu(matmul(x, w) + b);
    let v = g.variable("v", init::random_normal(&[4, 2], 0.0, 0.5));
    let logits = matmul_t(h, v, false, false);
    let l1 = reduce_mean_all(sparse_softmax_cross_entropy_with_logits(y, logits));
    let l2 = reduce_sum(
        softmax_cross_entropy_with_logits(softmax(t), logits),
        &[0],
        true,
    );
    let l3 = reduce_max(square(logits - t), &[-1], false);
    let loss = l1 + reduce_mean_all(l2) + reduce_mean(l3, &[0], false) + l2_loss(w);
    Adam::new(0.01).minimize(loss).unwrap();
    json_of(&g)
}

/// Convolution, bias, pooling, flatten, argmax, momentum.
fn conv() -> String {
    let g = Graph::with_seed(2);
    let x = g.placeholder("img", [None, Some(6), Some(6), Some(2)]);
    let y = g.placeholder_typed("label", DType::I64, [None]);
    let h = conv2d_layer(x, 4, [3, 3], [1, 1], Padding::Same, Activation::Relu, "c1");
    let h = max_pool2d(h, [2, 2], [2, 2], Padding::Valid);
    let k = g.variable("k2", init::glorot_uniform(&[2, 2, 4, 3]));
    let h = conv2d(h, k, [1, 1], Padding::Valid);
    let bb = g.variable("b2", init::zeros(&[3]));
    let h = relu(bias_add(h, bb));
    let f = flatten(h);
    let logits = dense(f, 3, Activation::None, "out");
    let _pred = argmax(logits, -1);
    let loss = reduce_mean_all(sparse_softmax_cross_entropy_with_logits(y, logits));
    Momentum::new(0.1, 0.9).minimize(loss).unwrap();
    json_of(&g)
}

/// Embeddings, LSTM, concat, slice, reshape, transpose, squeeze, one-hot, RMSProp.
fn seq() -> String {
    let g = Graph::with_seed(3);
    let ids = g.placeholder_typed("ids", DType::I64, [None, None]);
    let mask = g.placeholder("mask", [None, None]);
    let emb = g.variable("emb", init::random_uniform(&[6, 3], -1.0, 1.0));
    let e = embedding_lookup(emb, ids);
    let w = g.variable("lstm/w", init::glorot_uniform(&[3 + 2, 8]));
    let b = g.variable("lstm/b", init::zeros(&[8]));
    let fw = lstm(e, mask, w, b);
    let bw = lstm_reverse(e, mask, w, b);
    let both = concat(&[fw, bw], -1);
    let st = stack(&[fw, bw], 1);
    let cut = slice(both, &[0, 0, 1], &[-1, -1, 2]);
    let flat = reshape(cut, &[-1, 2]);
    let tr = transpose(st, &[0, 2, 1, 3]);
    let sq = squeeze(expand_dims(flat, 1), &[1]);
    let oh = one_hot(ids, 6);
    let cnt = cast(reduce_sum(oh, &[0, 1], false), DType::I64);
    let back = cast(cnt, DType::F32);
    let loss = reduce_sum_all(sq) + reduce_mean_all(tr) + l2_loss(back * 0.0 + 1.0);
    RMSProp::new(0.01).minimize(loss).unwrap();
    json_of(&g)
}

/// Element-wise ops, comparisons, logic and `where`, i64 arithmetic, dropout, checks,
/// schedules, assignments, Adagrad.
fn misc() -> String {
    let g = Graph::with_seed(4);
    let x = g.placeholder("x", [Some(2), None]);
    let n = g.placeholder_typed("n", DType::I64, [None]);
    let kp = g.placeholder("keep", Shape::scalar());
    let a = g.variable("a", init::constant(&[2, 1], 0.5));
    let step = get_or_create_global_step(&g).unwrap();
    let lr = exponential_decay(0.1, step, 10, 0.5, true);
    let pc = piecewise_constant(step, &[2, 5], &[1.0, 0.5, 0.1]);
    let d = dropout(x, kp);
    let y = clip_by_value(d * a, -1.0, 1.0);
    let z = pow(abs(y) + 1.0, a) + sqrt(abs(y) + 1.0) + exp(neg(y)) - log(abs(y) + 2.0);
    let cond = logical_or(
        greater(y, a),
        logical_not(less_equal(y, g.constant(0.5f32))),
    );
    let picked = where_(cond, y, d) + cast(reduce_all(cond, &[1], true), DType::F32);
    let z = maximum(z, minimum(y, a)) / (a + 2.0) + cast(equal(y, a), DType::F32) + picked;
    let z = check_numerics(z + sigmoid(y) + tanh(y), "z");
    let one = g.constant(ndarray::arr0(1i64));
    let q = n / (n * n + one) - n;
    let zz = add_n(&[z, z * 2.0, identity(z)])
        + stop_gradient(cast(reduce_sum_all(cast(q, DType::F32)), DType::F32));
    let loss = reduce_mean_all(zz) * pc + mean_squared_error(y, z);
    let opt = Adagrad::new(lr).minimize(loss).unwrap();
    let inc = assign_add(step, g.constant(ndarray::arr0(1i64)));
    let sub = assign_sub(a, g.constant(ndarray::arr2(&[[0.0f32], [0.0]])));
    let _all = group(&g, &[opt, inc, sub, no_op(&g)]);
    json_of(&g)
}

/// Gradient aggregation ops of the MTL toolkit.
fn mtl() -> String {
    let g = Graph::with_seed(5);
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("w", init::random_normal(&[3, 2], 0.0, 1.0));
    let h = matmul(x, w);
    let l1 = reduce_mean_all(square(h));
    let l2 = reduce_mean_all(abs(h - 1.0));
    let g1 = gradients(&[l1], &[w]).unwrap()[0].unwrap();
    let g2 = gradients(&[l2], &[w]).unwrap()[0].unwrap();
    let gm = gram(&[vec![g1], vec![g2]]);
    let _cos = gram_cosine(gm);
    let losses = stack(&[l1, l2], 0);
    let wts = aggregate_weights(Aggregator::mgda(), gm, losses, None);
    let upd = combine(wts, &[g1, g2]);
    let _train = assign_sub(w, upd * 0.1);
    json_of(&g)
}

fn corpus() -> Vec<(String, String)> {
    let mut c = vec![
        ("mlp".to_string(), mlp()),
        ("conv".to_string(), conv()),
        ("seq".to_string(), seq()),
        ("misc".to_string(), misc()),
        ("mtl".to_string(), mtl()),
    ];
    c.extend(checked_in());
    c
}

// ---------------------------------------------------------------------------------------------
// Mutations (on the file's JSON)

/// Numbers worth trying in any numeric attribute.
fn interesting(rng: &mut StdRng, old: Option<&serde_json::Number>) -> J {
    let base = old.and_then(|n| n.as_i64()).unwrap_or(1);
    match rng.gen_range(0..18) {
        0 => J::from(0),
        1 => J::from(1),
        2 => J::from(2),
        3 => J::from(-1),
        4 => J::from(-2),
        5 => J::from(base + 1),
        6 => J::from(base - 1),
        7 => J::from(base.saturating_mul(2)),
        8 => J::from(1u64 << 31),
        9 => J::from(1u64 << 40),
        10 => J::from(1u64 << 62),
        11 => J::from(i64::MAX),
        12 => J::from(u64::MAX),
        13 => J::from(i64::MIN),
        14 => J::from(-(1i64 << 40)),
        15 => J::from(0.5),
        16 => J::from(-1e30),
        _ => J::from(3),
    }
}

/// Every path (object keys and array indices) to a value inside `v`.
fn paths(v: &J, at: &mut Vec<J>, out: &mut Vec<Vec<J>>) {
    out.push(at.clone());
    match v {
        J::Object(m) => {
            for (k, x) in m {
                at.push(J::from(k.clone()));
                paths(x, at, out);
                at.pop();
            }
        }
        J::Array(a) => {
            for (k, x) in a.iter().enumerate().take(12) {
                at.push(J::from(k));
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(v: &'a mut J, path: &[J]) -> &'a mut J {
    path.iter().fold(v, |v, p| match p {
        J::String(k) => &mut v[k.as_str()],
        J::Number(n) => &mut v[n.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// Strings seen in op attributes (enum variants, dtypes, op kinds), to swap in elsewhere.
fn string_pool(file: &J) -> Vec<String> {
    let mut pool: Vec<String> = ["F32", "I64", "Bool", "Bytes", "Same", "Valid", ""]
        .iter()
        .map(|s| s.to_string())
        .collect();
    fn walk(v: &J, pool: &mut Vec<String>) {
        match v {
            J::String(s) if s.len() < 40 => pool.push(s.clone()),
            J::Object(m) => m.values().for_each(|x| walk(x, pool)),
            J::Array(a) => a.iter().take(8).for_each(|x| walk(x, pool)),
            _ => {}
        }
    }
    for n in file["nodes"].as_array().unwrap() {
        walk(&n["op"], &mut pool);
    }
    pool.sort();
    pool.dedup();
    pool
}

fn node_names(file: &J) -> Vec<String> {
    file["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Mutates one attribute of node `i`; returns a description.
fn mutate_attr(file: &mut J, i: usize, rng: &mut StdRng, pool: &[String]) -> String {
    let name = file["nodes"][i]["name"].clone();
    let op = &mut file["nodes"][i]["op"];
    let mut all = Vec::new();
    // Mostly a value inside the attributes (a number, an array, a dtype), sometimes the
    // whole op (its tag, a missing or extra attribute).
    if op["attrs"].is_object() && rng.gen_bool(0.9) {
        paths(&op["attrs"], &mut vec![J::from("attrs")], &mut all);
        all.remove(0);
    }
    if all.is_empty() {
        paths(op, &mut Vec::new(), &mut all);
    }
    let path = all.choose(rng).unwrap().clone();
    let leaf = at_path(op, &path);
    let before = leaf.to_string();
    match leaf {
        J::Number(n) => {
            let n = n.clone();
            *leaf = interesting(rng, Some(&n));
        }
        J::Bool(b) => *b = !*b,
        J::String(_) => *leaf = J::from(pool.choose(rng).unwrap().clone()),
        J::Null => *leaf = interesting(rng, None),
        J::Array(a) => match rng.gen_range(0..6) {
            0 if !a.is_empty() => {
                let k = rng.gen_range(0..a.len());
                let x = a[k].clone();
                a.insert(k, x);
            }
            1 if !a.is_empty() => {
                a.remove(rng.gen_range(0..a.len()));
            }
            2 => a.push(interesting(rng, None)),
            3 => a.shuffle(rng),
            4 => a.clear(),
            _ => a.push(J::Null),
        },
        J::Object(m) => {
            if let Some(k) = m.keys().cloned().collect::<Vec<_>>().choose(rng) {
                m.remove(k);
            }
        }
    }
    let after = at_path(op, &path).to_string();
    let clip = |s: String| s.chars().take(60).collect::<String>();
    format!(
        "attr {name} {}: {} -> {}",
        J::Array(path),
        clip(before),
        clip(after)
    )
}

/// Each node's declared output type (dtype and rank) in the unmutated file.
type Types = std::collections::HashMap<String, (J, usize)>;

fn types_of(file: &J) -> Types {
    file["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["output"].is_object())
        .map(|n| {
            let o = &n["output"];
            let rank = o["shape"].as_array().map_or(0, Vec::len);
            (
                n["name"].as_str().unwrap().to_string(),
                (o["dtype"].clone(), rank),
            )
        })
        .collect()
}

/// One random mutation of the file; returns a description. Rewiring and op swaps mostly
/// pick a node of the same output type (so that the file still reads and its kernels run
/// on other shapes), sometimes any node.
fn mutate(file: &mut J, rng: &mut StdRng, pool: &[String], types: &Types) -> String {
    let names = node_names(file);
    let n = names.len();
    if n == 0 {
        return "empty".into();
    }
    let i = rng.gen_range(0..n);
    let mut other = names[rng.gen_range(0..n)].clone();
    let nodes = file["nodes"].as_array_mut().unwrap();
    // A node before `i` with the type of `like`, if any.
    let same_type = |like: &str, rng: &mut StdRng| -> Option<String> {
        let t = types.get(like)?;
        let c: Vec<&String> = names[..i]
            .iter()
            .filter(|m| m.as_str() != like && types.get(m.as_str()) == Some(t))
            .collect();
        c.choose(rng).map(|s| s.to_string())
    };
    match rng.gen_range(0..24) {
        0 => {
            nodes.remove(i);
            format!("drop {}", names[i])
        }
        1 => {
            let mut copy = nodes[i].clone();
            if rng.gen_bool(0.7) {
                copy["name"] = J::from(format!("{}_dup", names[i]));
            }
            let at = rng.gen_range(0..=n);
            nodes.insert(at, copy);
            format!("duplicate {} at {at}", names[i])
        }
        2 => {
            let j = rng.gen_range(0..n);
            nodes.swap(i, j);
            format!("swap nodes {} and {}", names[i], names[j])
        }
        3 | 4 => {
            let ins = nodes[i]["inputs"].as_array_mut();
            match ins {
                Some(ins) if !ins.is_empty() => {
                    let k = rng.gen_range(0..ins.len());
                    let old = ins[k].as_str().unwrap_or("").to_string();
                    if rng.gen_bool(0.75) {
                        if let Some(m) = same_type(&old, rng) {
                            other = m;
                        }
                    }
                    ins[k] = J::from(other.clone());
                    format!("rewire {} input {k} to {other}", names[i])
                }
                _ => format!("rewire {}: no inputs", names[i]),
            }
        }
        5 => {
            if let Some(ins) = nodes[i]["inputs"].as_array_mut() {
                if !ins.is_empty() && rng.gen_bool(0.5) {
                    ins.remove(rng.gen_range(0..ins.len()));
                    return format!("remove an input of {}", names[i]);
                }
                ins.push(J::from(other.clone()));
            }
            format!("add input {other} to {}", names[i])
        }
        6 | 7 => {
            let mut j = rng.gen_range(0..n);
            if rng.gen_bool(0.75) {
                let arity = |x: &J| x["inputs"].as_array().map_or(0, Vec::len);
                let c: Vec<usize> = (0..n)
                    .filter(|&j| {
                        j != i
                            && arity(&nodes[j]) == arity(&nodes[i])
                            && types.get(&names[j]) == types.get(&names[i])
                    })
                    .collect();
                if let Some(&k) = c.choose(rng) {
                    j = k;
                }
            }
            nodes[i]["op"] = nodes[j]["op"].clone();
            format!("op of {} := op of {}", names[i], names[j])
        }
        8 => {
            if let Some(c) = nodes[i]["control_inputs"].as_array_mut() {
                c.push(J::from(other.clone()));
            }
            format!("control input {other} -> {}", names[i])
        }
        9 => {
            let kind = pool.choose(rng).unwrap().clone();
            nodes[i]["op"]["op"] = J::from(kind.clone());
            format!("op kind of {} := {kind:?}", names[i])
        }
        10 => {
            if let Some(list) = file["initializers"].as_array_mut() {
                if !list.is_empty() && rng.gen_bool(0.5) {
                    list.remove(rng.gen_range(0..list.len()));
                    return "remove an initializer".into();
                }
                list.push(J::from(other.clone()));
            }
            format!("initializer {other}")
        }
        11 => {
            if file["init_op"].is_object() {
                if rng.gen_bool(0.5) {
                    file["init_op"]["name"] = J::from(other.clone());
                } else {
                    file["init_op"]["covers"] = interesting(rng, None);
                }
            }
            "init op".into()
        }
        12 => {
            file["seed"] = interesting(rng, None);
            "seed".into()
        }
        13 => {
            // An input of another dtype (same rank when possible): dtype checks.
            let Some(ins) = nodes[i]["inputs"].as_array_mut().filter(|a| !a.is_empty()) else {
                return format!("retype {}: no inputs", names[i]);
            };
            let k = rng.gen_range(0..ins.len());
            let old = ins[k].as_str().unwrap_or("").to_string();
            let Some((dt, rank)) = types.get(&old) else {
                return format!("retype {}: untyped input", names[i]);
            };
            let c: Vec<&String> = names[..i]
                .iter()
                .filter(|m| types.get(m.as_str()).is_some_and(|(d, _)| d != dt))
                .collect();
            let same_rank: Vec<&String> = c
                .iter()
                .copied()
                .filter(|m| types[m.as_str()].1 == *rank)
                .collect();
            let Some(m) = same_rank.choose(rng).or_else(|| c.choose(rng)) else {
                return format!("retype {}: no other dtype", names[i]);
            };
            ins[k] = J::from(m.to_string());
            format!("retype {} input {k} to {m}", names[i])
        }
        _ => {
            // Mostly a node that has attributes to mutate.
            let with_attrs: Vec<usize> = (0..n)
                .filter(|&j| {
                    nodes[j]["op"]["attrs"]
                        .as_object()
                        .is_some_and(|m| !m.is_empty())
                })
                .collect();
            let j = match with_attrs.choose(rng) {
                Some(&j) if rng.gen_bool(0.8) => j,
                _ => i,
            };
            mutate_attr(file, j, rng, pool)
        }
    }
}

fn strip_outputs(file: &mut J) {
    for n in file["nodes"].as_array_mut().unwrap() {
        if let J::Object(m) = n {
            m.remove("output");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running one case

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Outcome {
    ReadError,
    Skipped,
    RunOk,
    RunError,
}

#[derive(Default)]
struct Tally {
    cases: usize,
    by: BTreeMap<String, usize>,
    read_ok: usize,
    read_err: usize,
    run_ok: usize,
    run_err: usize,
    skipped: usize,
    panics: Vec<String>,
}

/// The error's variant name, for the counts.
fn kind(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_string()
}

/// A value for a tensor of static type `info`: unknown dimensions become `unknown`.
/// With `wild`, some elements are NaN, infinite, huge or out-of-range indices.
fn value_for(info: &TensorInfo, unknown: usize, wild: bool, rng: &mut StdRng) -> Option<Value> {
    let dims: Vec<usize> = info.shape.0.iter().map(|d| d.unwrap_or(unknown)).collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_FEED)?;
    let shape = ndarray::IxDyn(&dims);
    Some(match info.dtype {
        DType::F32 => {
            let data = (0..n)
                .map(|_| match rng.gen_range(0..60) {
                    _ if !wild => rng.gen_range(0.25..=1.0),
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => 1e30,
                    _ => rng.gen_range(-2.0..2.0),
                })
                .collect();
            Value::F32(ndarray::ArrayD::from_shape_vec(shape, data).unwrap())
        }
        DType::I64 => {
            let data = (0..n)
                .map(|_| match rng.gen_range(0..40) {
                    _ if !wild => rng.gen_range(0..2),
                    0 => -1,
                    1 => 1 << 40,
                    2 => i64::MIN,
                    _ => rng.gen_range(0..3),
                })
                .collect();
            Value::I64(ndarray::ArrayD::from_shape_vec(shape, data).unwrap())
        }
        DType::Bool => Value::Bool(
            ndarray::ArrayD::from_shape_vec(shape, (0..n).map(|_| rng.gen()).collect()).unwrap(),
        ),
        DType::Bytes => Value::Bytes(Vec::new()),
    })
}

/// Element count of a static shape with unknown dimensions taken as 1 (u128: no overflow).
fn static_elems(info: &TensorInfo) -> u128 {
    info.shape
        .0
        .iter()
        .map(|d| d.unwrap_or(1) as u128)
        .fold(1u128, |a, d| a.saturating_mul(d))
}

/// The size fed for unknown dimensions: 1 to 3, sometimes 0 (empty tensors).
fn unknown_dim(wild: bool, rng: &mut StdRng) -> usize {
    if wild && rng.gen_bool(0.1) {
        0
    } else {
        rng.gen_range(1..=3)
    }
}

fn run_case(text: &str, wild: bool, rng: &mut StdRng) -> Outcome {
    run_case_msg(text, wild, rng).0
}

/// [`run_case`] with the first error's message.
fn run_case_msg(text: &str, wild: bool, rng: &mut StdRng) -> (Outcome, String) {
    let g = match Graph::from_json(text) {
        Ok(g) => g,
        Err(e) => {
            assert!(
                matches!(e, Error::GraphFile { .. }),
                "a bad graph file must be Error::GraphFile, got {e:?}"
            );
            return (Outcome::ReadError, e.to_string());
        }
    };
    // What to feed and fetch, read off the graph.
    struct N {
        name: String,
        info: Option<TensorInfo>,
        placeholder: bool,
        sink: bool,
    }
    let nodes: Vec<N> = {
        let dag = g.dag();
        dag.node_indices()
            .map(|i| N {
                name: dag[i].name.clone(),
                info: dag[i].output.clone(),
                placeholder: matches!(dag[i].op, staticflow::ops::Op::Placeholder(_)),
                sink: dag
                    .neighbors_directed(i, petgraph_outgoing())
                    .next()
                    .is_none(),
            })
            .collect()
    };
    let biggest = nodes
        .iter()
        .filter_map(|n| n.info.as_ref())
        .map(static_elems)
        .max()
        .unwrap_or(0);
    if biggest > RUN_LIMIT && biggest < HUGE {
        return (Outcome::Skipped, String::new());
    }
    // A value for every placeholder, unknown dimensions `unknown`; None if one has no value.
    let draw = |unknown: usize, rng: &mut StdRng| -> Option<Vec<(Tensor, Value)>> {
        nodes
            .iter()
            .filter(|n| n.placeholder)
            .map(|n| {
                let v = value_for(n.info.as_ref()?, unknown, wild, rng)?;
                Some((g.tensor_by_name(&n.name).unwrap(), v))
            })
            .collect()
    };
    let unknown = unknown_dim(wild, rng);
    let Some(values) = draw(unknown, rng) else {
        return (Outcome::Skipped, String::new());
    };
    let feeds: Vec<_> = values.iter().map(|(t, v)| (*t, v.view())).collect();
    let mut s = Session::new(&g);
    let init = g.global_variables_initializer();
    let mut result = s.run(&[init.into()], &feeds).map(|_| ());
    let fetches: Vec<Fetch> = nodes
        .iter()
        .filter(|n| n.sink)
        .map(|n| match n.info {
            Some(_) => g.tensor_by_name(&n.name).unwrap().into(),
            None => g.operation_by_name(&n.name).unwrap().into(),
        })
        .collect();
    if result.is_ok() {
        result = s.run(&fetches, &feeds).map(|_| ());
    }
    if result.is_ok() {
        // Again with other sizes for the unknown dimensions: cached plan, reused buffers.
        let Some(values) = draw(unknown_dim(wild, rng), rng) else {
            return (Outcome::Skipped, String::new());
        };
        let feeds: Vec<_> = values.iter().map(|(t, v)| (*t, v.view())).collect();
        result = s.run(&fetches, &feeds).map(|_| ());
    }
    // A few random tensors with a random non-placeholder tensor fed (any tensor can be fed).
    let with_value: Vec<&N> = nodes.iter().filter(|n| n.info.is_some()).collect();
    if !with_value.is_empty() {
        let picks: Vec<Fetch> = (0..3)
            .map(|_| {
                let n = with_value.choose(rng).unwrap();
                g.tensor_by_name(&n.name).unwrap().into()
            })
            .collect();
        let fed = with_value.choose(rng).unwrap();
        let mut feeds = feeds;
        let extra = fed
            .info
            .as_ref()
            .and_then(|i| value_for(i, unknown, wild, rng))
            .filter(|_| wild && !fed.placeholder);
        if let Some(v) = &extra {
            feeds.push((g.tensor_by_name(&fed.name).unwrap(), v.view()));
        }
        let r = s.run(&picks, &feeds).map(|_| ());
        if result.is_ok() {
            result = r;
        }
    }
    match result {
        Ok(()) => (Outcome::RunOk, String::new()),
        Err(e) => (Outcome::RunError, e.to_string()),
    }
}

fn petgraph_outgoing() -> petgraph::Direction {
    petgraph::Direction::Outgoing
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// Runs `body` on a worker thread while this thread watches `progress`: if it does not move
/// for `stall`, the test fails naming the case (a hang).
fn with_watchdog<T: Send + 'static>(
    stall: Duration,
    body: impl FnOnce(Arc<AtomicUsize>) -> T + Send + 'static,
) -> T {
    let progress = Arc::new(AtomicUsize::new(0));
    let p = progress.clone();
    let worker = std::thread::spawn(move || body(p));
    let (mut last, mut since) = (usize::MAX, std::time::Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let now = progress.load(Ordering::Relaxed);
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        } else if since.elapsed() > stall {
            panic!("hang: case {now} made no progress for {stall:?}");
        }
    }
    match worker.join() {
        Ok(t) => t,
        Err(p) => std::panic::resume_unwind(p),
    }
}

#[test]
fn fuzzed_graph_files_read_and_run_without_panics() {
    let only: Option<usize> = std::env::var("HOSTILE_GRAPH_CASE")
        .ok()
        .and_then(|s| s.parse().ok());
    let tally = with_watchdog(Duration::from_secs(60), move |progress| {
        let mut t = Tally::default();
        let mut case = 0usize;
        for (name, text) in corpus() {
            let original: J = serde_json::from_str(&text).unwrap();
            let pool = string_pool(&original);
            let types = types_of(&original);
            let count = if name.ends_with(".json") {
                CASES_LARGE
            } else {
                CASES_SMALL
            };
            // Case 0 of every graph is the unmutated file: it must read and run.
            for k in 0..count {
                case += 1;
                progress.store(case, Ordering::Relaxed);
                if only.is_some_and(|o| o != case) {
                    continue;
                }
                let seed = SEED + case as u64;
                let mut rng = StdRng::seed_from_u64(seed);
                let mut file = original.clone();
                let mut log = Vec::new();
                if k > 0 {
                    if rng.gen_bool(0.8) {
                        strip_outputs(&mut file);
                        log.push("strip outputs".to_string());
                    }
                    for _ in 0..if rng.gen_bool(0.6) { 1 } else { 2 } {
                        log.push(mutate(&mut file, &mut rng, &pool, &types));
                    }
                }
                let text = serde_json::to_string(&file).unwrap();
                let r = catch_unwind(AssertUnwindSafe(|| run_case_msg(&text, k > 0, &mut rng)));
                t.cases += 1;
                match r {
                    Ok((o, msg)) => {
                        if k == 0 {
                            assert_eq!(o, Outcome::RunOk, "{name} unmutated must run: {msg}");
                        }
                        match o {
                            Outcome::ReadError => t.read_err += 1,
                            Outcome::Skipped => {
                                t.read_ok += 1;
                                t.skipped += 1
                            }
                            Outcome::RunOk => {
                                t.read_ok += 1;
                                t.run_ok += 1
                            }
                            Outcome::RunError => {
                                t.read_ok += 1;
                                t.run_err += 1
                            }
                        }
                        *t.by.entry(format!("{o:?}")).or_default() += 1;
                    }
                    Err(p) => t.panics.push(format!(
                        "case {case} ({name}, seed {seed}): {log:?}: {}",
                        panic_message(&*p)
                    )),
                }
            }
        }
        t
    });
    println!(
        "hostile_graph_files: cases {}, read ok {}, read error {}, run ok {}, run error {}, skipped (too large for a test) {}, panics {}",
        tally.cases,
        tally.read_ok,
        tally.read_err,
        tally.run_ok,
        tally.run_err,
        tally.skipped,
        tally.panics.len()
    );
    assert!(
        tally.panics.is_empty(),
        "{} panics:\n{}",
        tally.panics.len(),
        tally.panics.join("\n")
    );
    if only.is_none() {
        assert!(
            tally.run_ok > tally.cases / 20,
            "too few cases ran: the fuzzer is too blunt"
        );
        assert!(tally.run_err > 0 && tally.read_err > 0);
    }
}

/// `text` with attribute `key` of the first node of op kind `op` set to `value`, declared
/// outputs removed.
fn edit(text: &str, op: &str, key: &str, value: J) -> String {
    let mut f: J = serde_json::from_str(text).unwrap();
    strip_outputs(&mut f);
    // `Op:Variant` picks a node whose attributes mention `Variant` (e.g. `Reduce:Max`).
    let (op, variant) = op.split_once(':').unwrap_or((op, ""));
    let node = f["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["op"]["op"] == op && n["op"]["attrs"].to_string().contains(variant))
        .unwrap_or_else(|| panic!("no {op} node"));
    node["op"]["attrs"][key] = value;
    serde_json::to_string(&f).unwrap()
}

#[test]
fn targeted_attribute_edits_are_typed_errors() {
    use serde_json::json;
    use Outcome::{ReadError, RunError};
    let (mlp, conv, seq) = (mlp(), conv(), seq());
    // (graph, op, attribute, value, expected outcome, words the message must contain)
    let cases: Vec<(&str, &str, &str, J, Outcome, &str)> = vec![
        (
            &mlp,
            "Reduce:Max",
            "axes",
            json!([1, 1]),
            ReadError,
            "sorted and distinct",
        ),
        (
            &mlp,
            "Reduce:Max",
            "axes",
            json!([5]),
            ReadError,
            "out of range",
        ),
        (
            &mlp,
            "Reduce:Max",
            "axes",
            json!([1, 0]),
            ReadError,
            "sorted and distinct",
        ),
        (
            &seq,
            "Transpose",
            "perm",
            json!([0, 0, 1, 3]),
            ReadError,
            "not a permutation",
        ),
        (
            &seq,
            "Transpose",
            "perm",
            json!([0, 1, 2, 9]),
            ReadError,
            "not a permutation",
        ),
        (
            &seq,
            "Slice",
            "begin",
            json!([-1, 0, 0]),
            ReadError,
            "negative",
        ),
        (
            &seq,
            "SliceGrad",
            "begin",
            json!([0, -1, 0]),
            ReadError,
            "negative",
        ),
        (
            &seq,
            "Reshape",
            "shape",
            json!([1u64 << 40, 1u64 << 40, -1]),
            ReadError,
            "overflows",
        ),
        (
            &seq,
            "Reshape",
            "shape",
            json!([-1, -1]),
            ReadError,
            "more than one -1",
        ),
        (
            &seq,
            "OneHot",
            "depth",
            json!(1u64 << 62),
            ReadError,
            "more than any allocation",
        ),
        (
            &seq,
            "OneHot",
            "depth",
            json!(1u64 << 40),
            RunError,
            "OOM when allocating",
        ),
        (&seq, "Concat", "axis", json!(7), ReadError, "out of range"),
        (
            &seq,
            "ConcatPart",
            "index",
            json!(99),
            ReadError,
            "out of range",
        ),
        (
            &seq,
            "ConcatPart",
            "axis",
            json!(-9),
            ReadError,
            "out of range",
        ),
        (
            &seq,
            "ExpandDims",
            "axis",
            json!(i64::MIN),
            ReadError,
            "out of range",
        ),
        (
            &seq,
            "Cast",
            "dtype",
            json!("Bytes"),
            ReadError,
            "cannot cast",
        ),
        (&seq, "Squeeze", "axes", json!([0]), RunError, "not 1"),
        (
            &conv,
            "Conv2D",
            "strides",
            json!([0, 1]),
            ReadError,
            "strides",
        ),
        (
            &conv,
            "Conv2D",
            "strides",
            json!([1u64 << 40, 1]),
            ReadError,
            "strides",
        ),
        (
            &conv,
            "MaxPool",
            "ksize",
            json!([0, 2]),
            ReadError,
            "window",
        ),
        (
            &conv,
            "MaxPool",
            "strides",
            json!([2, 1u64 << 40]),
            ReadError,
            "window",
        ),
        (
            &conv,
            "MaxPoolGrad",
            "ksize",
            json!([3, 3]),
            ReadError,
            "shape",
        ),
        (&conv, "ArgMax", "axis", json!(2), ReadError, "out of range"),
        (
            &conv,
            "Conv2DBackpropFilter",
            "strides",
            json!([2, 2]),
            ReadError,
            "shape",
        ),
    ];
    for (graph, op, key, value, want, words) in cases {
        let text = edit(graph, op, key, value.clone());
        let desc = format!("{op}.{key} = {value}");
        let mut rng = StdRng::seed_from_u64(1);
        let got = catch_unwind(AssertUnwindSafe(|| run_case(&text, false, &mut rng)))
            .unwrap_or_else(|p| panic!("{desc}: panic {}", panic_message(&*p)));
        assert_eq!(got, want, "{desc}");
        let msg = match Graph::from_json(&text) {
            Err(e) => e.to_string(),
            Ok(g) => run_error(&g),
        };
        assert!(msg.contains(words), "{desc}: {msg}");
        println!("{desc}: {msg}");
    }
}

/// The first error of running every sink of `g` after its initializer, with small feeds.
fn run_error(g: &Graph) -> String {
    let mut rng = StdRng::seed_from_u64(2);
    let mut values = Vec::new();
    let mut sinks: Vec<Fetch> = Vec::new();
    {
        let dag = g.dag();
        for i in dag.node_indices() {
            let n = &dag[i];
            if matches!(n.op, staticflow::ops::Op::Placeholder(_)) {
                let v = value_for(n.output.as_ref().unwrap(), 2, false, &mut rng).unwrap();
                values.push((n.name.clone(), v));
            }
            if dag
                .neighbors_directed(i, petgraph_outgoing())
                .next()
                .is_none()
            {
                sinks.push(match n.output {
                    Some(_) => g.tensor_by_name(&n.name).unwrap().into(),
                    None => g.operation_by_name(&n.name).unwrap().into(),
                });
            }
        }
    }
    let feeds: Vec<_> = values
        .iter()
        .map(|(n, v)| (g.tensor_by_name(n).unwrap(), v.view()))
        .collect();
    let mut s = Session::new(g);
    let init = g.global_variables_initializer();
    s.run(&[init.into()], &feeds)
        .and_then(|_| s.run(&sinks, &feeds))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

fn snapshot(g: &Graph, s: &Session) -> Vec<Vec<u64>> {
    g.global_variables()
        .iter()
        .map(|&v| match s.variable_value(v).unwrap() {
            Value::F32(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
            Value::I64(a) => a.iter().map(|&x| x as u64).collect(),
            Value::Bool(a) => a.iter().map(|&x| x as u64).collect(),
            Value::Bytes(_) => unreachable!("variables hold numbers"),
        })
        .collect()
}

#[test]
fn fuzzed_checkpoints_restore_exactly_or_fail_without_changes() {
    let g = Graph::with_seed(9);
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("enc/w", init::random_normal(&[3, 4], 0.0, 1.0));
    let b = g.variable("enc/b", init::constant(&[4], 0.5));
    let loss = l2_loss(relu(matmul(x, w) + b));
    Adam::new(0.01).minimize(loss).unwrap();
    let _step = get_or_create_global_step(&g).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "staticflow_hostile_ckptfuzz_{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let mut saved = Session::new(&g);
    saved
        .run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    Saver::new(&g).save(&saved, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let want = snapshot(&g, &saved);
    let mut live = Session::new(&g);
    live.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    for v in g.global_variables() {
        let val = match live.variable_value(v).unwrap() {
            Value::F32(a) => Value::F32(a.mapv(|x| x - 7.0)),
            Value::I64(a) => Value::I64(a.mapv(|x| x - 7)),
            Value::Bool(a) => Value::Bool(a.mapv(|x| !x)),
            Value::Bytes(_) => unreachable!(),
        };
        live.set_variable(v, val).unwrap();
    }
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = StdRng::seed_from_u64(SEED ^ 0xC4EC);
    let (mut cases, mut refused, mut exact) = (0, BTreeMap::<String, usize>::new(), 0);
    let mut panics = Vec::new();
    for case in 0..1500 {
        let mut bytes = good.clone();
        let what = match rng.gen_range(0..6) {
            0 => {
                for _ in 0..rng.gen_range(1..=3) {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] ^= rng.gen_range(1..=255u8);
                }
                "byte flips".to_string()
            }
            1 => {
                let n = rng.gen_range(0..bytes.len());
                bytes.truncate(n);
                format!("truncated to {n}")
            }
            2 => {
                let v: u64 = match rng.gen_range(0..6) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => header_len as u64 + rng.gen_range(1..64),
                    3 => (header_len as u64).saturating_sub(rng.gen_range(1..64)),
                    4 => 1 << 40,
                    _ => rng.gen(),
                };
                bytes[..8].copy_from_slice(&v.to_le_bytes());
                format!("length field {v}")
            }
            _ => {
                // A digit of the header changed: offsets, shapes, checksums.
                let digits: Vec<usize> = (8..8 + header_len)
                    .filter(|&i| bytes[i].is_ascii_digit())
                    .collect();
                let i = *digits.choose(&mut rng).unwrap();
                let old = bytes[i];
                let mut new = b'0' + rng.gen_range(0..10);
                if new == old {
                    new = if old == b'9' { b'0' } else { old + 1 };
                }
                bytes[i] = new;
                format!("header digit at {i}: {} -> {}", old as char, new as char)
            }
        };
        std::fs::write(&path, &bytes).unwrap();
        let before = snapshot(&g, &live);
        cases += 1;
        let r = catch_unwind(AssertUnwindSafe(|| {
            Saver::new(&g).restore(&mut live, &path)
        }));
        match r {
            Err(p) => panics.push(format!(
                "checkpoint case {case} ({what}): {}",
                panic_message(&*p)
            )),
            Ok(Err(e)) => {
                assert_eq!(
                    snapshot(&g, &live),
                    before,
                    "case {case} ({what}): refused restore changed the session: {e}"
                );
                *refused.entry(kind(&e)).or_default() += 1;
            }
            Ok(Ok(())) => {
                assert_eq!(
                    snapshot(&g, &live),
                    want,
                    "case {case} ({what}): silently wrong values"
                );
                exact += 1;
                for (v, bits) in g.global_variables().iter().zip(&before) {
                    let val = match live.variable_value(*v).unwrap() {
                        Value::F32(a) => Value::F32(
                            ndarray::ArrayD::from_shape_vec(
                                a.raw_dim(),
                                bits.iter().map(|&b| f32::from_bits(b as u32)).collect(),
                            )
                            .unwrap(),
                        ),
                        Value::I64(a) => Value::I64(
                            ndarray::ArrayD::from_shape_vec(
                                a.raw_dim(),
                                bits.iter().map(|&b| b as i64).collect(),
                            )
                            .unwrap(),
                        ),
                        Value::Bool(a) => Value::Bool(
                            ndarray::ArrayD::from_shape_vec(
                                a.raw_dim(),
                                bits.iter().map(|&b| b != 0).collect(),
                            )
                            .unwrap(),
                        ),
                        Value::Bytes(_) => unreachable!(),
                    };
                    live.set_variable(*v, val).unwrap();
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "hostile checkpoints: cases {cases}, refused {} {refused:?}, restored exactly {exact}, panics {}",
        refused.values().sum::<usize>(),
        panics.len()
    );
    assert!(panics.is_empty(), "{}", panics.join("\n"));
    assert!(refused.values().sum::<usize>() > cases / 2);
}
