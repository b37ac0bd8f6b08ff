//! Graph files (versioned JSON) and DOT export.

use staticflow::io::graph_file::{FORMAT, VERSION};
use staticflow::models::toy::{self, ToyData};
use staticflow::prelude::*;

fn toy_json() -> String {
    let g = Graph::with_seed(toy::SEED);
    toy::build(&g).unwrap();
    g.to_json().unwrap()
}

fn bits(v: &Value) -> Vec<u32> {
    v.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("staticflow-{}-{name}", std::process::id()))
}

#[test]
fn same_graph_writes_same_bytes() {
    let a = toy_json();
    let b = toy_json();
    assert_eq!(a, b);
    assert!(a.starts_with(&format!(
        "{{\n  \"format\": \"{FORMAT}\",\n  \"version\": {VERSION},"
    )));
    // Reading and writing again is the identity on the text.
    let g = Graph::from_json(&a).unwrap();
    assert_eq!(g.to_json().unwrap(), a);
}

#[test]
fn read_graph_restores_names_variables_and_init() {
    let g0 = Graph::with_seed(toy::SEED);
    toy::build(&g0).unwrap();
    let path = tmp("restore.json");
    write_graph(&g0, &path).unwrap();
    let g = read_graph(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(g.len(), g0.len());
    assert_eq!(g.seed(), toy::SEED);
    for name in [
        "x",
        "y1",
        "shared/w",
        "task1/w",
        "task2/w",
        "task1/loss",
        "joint_loss",
    ] {
        let t = g
            .tensor_by_name(name)
            .unwrap_or_else(|| panic!("{name} not found"));
        let t0 = g0.tensor_by_name(name).unwrap();
        assert_eq!(t.info(), t0.info(), "{name}");
    }
    let names =
        |g: &Graph| -> Vec<String> { g.global_variables().iter().map(|v| v.name()).collect() };
    assert_eq!(names(&g), names(&g0));
    let trainable: Vec<String> = g.trainable_variables().iter().map(|v| v.name()).collect();
    assert_eq!(trainable, ["shared/w", "task1/w", "task2/w"]);
    // The restored `init` op is the same node and initialises every variable, including the
    // optimizers' slots, to the same values as the original graph.
    let n = g.len();
    let init = g.global_variables_initializer();
    assert_eq!(init.name(), "init");
    assert_eq!(g.len(), n, "no new init op was added");
    let mut s = Session::new(&g);
    s.run(&[init.into()], &[]).unwrap();
    let mut s0 = Session::new(&g0);
    s0.run(&[g0.global_variables_initializer().into()], &[])
        .unwrap();
    for (v, v0) in g.global_variables().iter().zip(g0.global_variables()) {
        assert_eq!(
            bits(s.variable_value(*v).unwrap()),
            bits(s0.variable_value(v0).unwrap()),
            "{}",
            v.name()
        );
    }
}

#[test]
fn read_graph_runs_bit_identically() {
    let g0 = Graph::with_seed(toy::SEED);
    let m = toy::build(&g0).unwrap();
    let g = Graph::from_json(&g0.to_json().unwrap()).unwrap();
    let data = ToyData::generate(64, 7, 3);
    let mut s0 = Session::new(&g0);
    s0.run(&[m.init.into()], &[]).unwrap();
    // Move the variables away from their initial values, then copy them over.
    for k in 0..5 {
        let (x, y1, y2) = data.batch(k, 8);
        s0.run(
            &[m.joint.into()],
            &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
        )
        .unwrap();
    }
    let mut s = Session::new(&g);
    for v0 in g0.global_variables() {
        let v = g.tensor_by_name(&v0.name()).unwrap();
        s.set_variable(v, s0.variable_value(v0).unwrap().clone())
            .unwrap();
    }
    let names = [
        "shared/Relu",
        "task1/Relu",
        "task2/Relu",
        "task1/loss",
        "task2/loss",
        "joint_loss",
    ];
    fn fetch<'g>(g: &'g Graph, names: &[&str]) -> Vec<Tensor<'g>> {
        names.iter().map(|n| g.tensor_by_name(n).unwrap()).collect()
    }
    let (f0, f) = (fetch(&g0, &names), fetch(&g, &names));
    let feeds0 = [
        (m.x, (&data.x).into()),
        (m.y1, (&data.y1).into()),
        (m.y2, (&data.y2).into()),
    ];
    let feeds = [
        (g.tensor_by_name("x").unwrap(), (&data.x).into()),
        (g.tensor_by_name("y1").unwrap(), (&data.y1).into()),
        (g.tensor_by_name("y2").unwrap(), (&data.y2).into()),
    ];
    let fetches0: Vec<Fetch> = f0.iter().map(Fetch::from).collect();
    let fetches: Vec<Fetch> = f.iter().map(Fetch::from).collect();
    let out0 = s0.run(&fetches0, &feeds0).unwrap();
    let out = s.run(&fetches, &feeds).unwrap();
    for (k, n) in names.iter().enumerate() {
        assert_eq!(bits(out.get(k).unwrap()), bits(out0.get(k).unwrap()), "{n}");
    }
    // One more train step in both: every variable (and slot) stays bit-identical.
    let joint = g.operation_by_name(&m.joint.name()).unwrap();
    s0.run(&[m.joint.into()], &feeds0).unwrap();
    s.run(&[joint.into()], &feeds).unwrap();
    for v0 in g0.global_variables() {
        let v = g.tensor_by_name(&v0.name()).unwrap();
        assert_eq!(
            bits(s.variable_value(v).unwrap()),
            bits(s0.variable_value(v0).unwrap()),
            "{}",
            v0.name()
        );
    }
}

#[test]
fn constants_print_and_control_inputs_round_trip() {
    let g0 = Graph::with_seed(3);
    let x = g0.placeholder("x", [None, Some(3)]);
    let c = g0.constant(ndarray::arr2(&[[0.1f32, -2.5e-8, 3.0]]));
    let ids = g0.placeholder_typed("ids", DType::I64, [Some(2)]);
    let y = print(x * c, "scaled:");
    let w = g0.variable("w", init::random_normal(&[3], 0.0, 1.0));
    let bump = assign_add(w, g0.constant(ndarray::arr1(&[1f32, 1., 1.])));
    let z = {
        let _c = g0.control_dependencies(&[bump]);
        identity(y)
    };
    let _ = ids;
    // f64 attributes (0.999 as f32, widened) must read back to the same bits.
    let _decay = g0.non_trainable_variable("decay", init::constant(&[2], 0.999));
    let text = g0.to_json().unwrap();
    let g = Graph::from_json(&text).unwrap();
    assert_eq!(g.to_json().unwrap(), text);
    let node = g.node(g.tensor_by_name(&z.name()).unwrap().index());
    assert_eq!(node.control_inputs.len(), 1);
    assert_eq!(g.tensor_by_name("ids").unwrap().dtype(), DType::I64);
    let xs = ndarray::arr2(&[[1f32, 2., 3.], [4., 5., 6.]]);
    let mut s0 = Session::new(&g0);
    let mut s = Session::new(&g);
    s0.run(&[g0.global_variables_initializer().into()], &[])
        .unwrap();
    s.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let a = s0.run(&[z.into()], &[(x, (&xs).into())]).unwrap();
    let zt = g.tensor_by_name(&z.name()).unwrap();
    let xt = g.tensor_by_name("x").unwrap();
    let b = s.run(&[zt.into()], &[(xt, (&xs).into())]).unwrap();
    assert_eq!(bits(a.get(0).unwrap()), bits(b.get(0).unwrap()));
    let wt = g.tensor_by_name("w").unwrap();
    assert_eq!(
        bits(s.variable_value(wt).unwrap()),
        bits(s0.variable_value(w).unwrap()),
        "the control input (assign_add) ran in both"
    );
}

fn read_err(text: &str) -> String {
    match Graph::from_json(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            assert!(matches!(e, Error::GraphFile { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn malformed_files_are_typed_errors_naming_file_and_node() {
    let good = toy_json();
    // Not JSON.
    let e = read_err("{ not json");
    assert!(e.starts_with("<string>: not valid JSON"), "{e}");
    // Another format.
    let e = read_err(&good.replacen(FORMAT, "tensorflow-graphdef", 1));
    assert!(e.contains("not a staticflow graph file"), "{e}");
    // Version mismatch.
    let e = read_err(&good.replacen("\"version\": 1", "\"version\": 99", 1));
    assert!(
        e.contains("version 99") && e.contains("reads version 1"),
        "{e}"
    );
    // Unknown op, named with its node.
    let e = read_err(&good.replacen("\"op\": \"MatMul\"", "\"op\": \"FancyMatMul\"", 1));
    assert!(e.contains("node `shared/MatMul`"), "{e}");
    assert!(e.contains("FancyMatMul"), "{e}");
    // An input that is not defined.
    let e = read_err(&good.replacen(
        "\"inputs\": [\"shared/MatMul\"]",
        "\"inputs\": [\"shared/MatMull\"]",
        1,
    ));
    assert!(e.contains("node `shared/Relu`"), "{e}");
    assert!(e.contains("input `shared/MatMull` is not defined"), "{e}");
    // A node that no longer builds: shapes are re-inferred and checked.
    let e = read_err(&good.replacen("\"shape\": [null, 10]", "\"shape\": [null, 11]", 2));
    assert!(e.contains("node `shared/MatMul`"), "{e}");
    assert!(e.contains("does not build"), "{e}");
    // A node with the wrong number of inputs: its rule says how many, or which, it takes.
    for (inputs, wrong, node, want) in [
        (
            r#"["shared/MatMul"]"#,
            r#"["shared/MatMul", "x"]"#,
            "node `shared/Relu`",
            "takes one operand, got 2",
        ),
        (
            r#"["shared/w", "shared/w/initial_value"]"#,
            r#"["shared/w"]"#,
            "Assign",
            "takes (variable, value), got 1 operand",
        ),
    ] {
        let e = read_err(&good.replacen(inputs, wrong, 1));
        assert!(e.contains(node) && e.contains(want), "{e}");
    }
    // The file's path is named when reading from disk.
    let path = tmp("bad.json");
    std::fs::write(&path, good.replacen("\"version\": 1", "\"version\": 2", 1)).unwrap();
    let e = read_graph(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).ok();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    // A missing file is an I/O error naming it.
    let e = read_graph(tmp("missing.json")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}

#[test]
fn a_failed_graph_is_not_written() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let w = g.variable("w", init::zeros(&[4, 2]));
    let _ = matmul(x, w);
    assert!(matches!(g.to_json(), Err(Error::Shape { .. })));
}

#[test]
fn dot_has_scopes_as_clusters_and_dashed_control_edges() {
    let g = Graph::with_seed(toy::SEED);
    toy::build(&g).unwrap();
    let dot = to_dot(&g);
    assert!(dot.starts_with("digraph staticflow {"));
    assert!(dot.trim_end().ends_with('}'));
    assert!(
        dot.contains("label=\"shared\";"),
        "shared scope is a cluster"
    );
    assert!(
        dot.contains("label=\"shared/w\";"),
        "nested scope is a cluster"
    );
    assert!(dot.contains("subgraph cluster_"));
    assert!(dot.contains("label=\"shared/MatMul\\nMatMul [?, 20]\""));
    assert!(dot.contains("label=\"x\\nPlaceholder [?, 10]\""));
    assert!(dot.contains("style=dashed"), "the init op's control edges");
    // Every node appears once.
    assert_eq!(dot.matches("[label=").count(), g.len());
    assert_eq!(dot, to_dot(&g), "deterministic");
}

#[test]
fn initializers_of_scoped_variables_are_named_once_under_the_variable() {
    let g = Graph::new();
    let w = g.with_scope("dense", || g.variable("kernel", init::zeros(&[2, 2])));
    assert_eq!(w.name(), "dense/kernel");
    assert!(g.operation_by_name("dense/kernel/Assign").is_some());
    assert!(g.tensor_by_name("dense/kernel/initial_value").is_some());
    assert!(g.operation_by_name("dense/dense/kernel/Assign").is_none());
}

/// A graph with bool placeholders, constants, comparisons, logic, `where` and casts writes
/// to JSON, reads back to the same text, and computes the same values.
#[test]
fn bool_graphs_round_trip() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let keep = g.placeholder_typed("keep", DType::Bool, [Some(3)]);
    let flags = g.constant(ndarray::array![true, false, true]);
    let pos = greater(x, g.constant(0.0f32)).named("pos");
    let both = logical_and(pos, logical_or(keep, logical_not(flags)));
    let any = reduce_any(both, &[-1], true).named("any");
    let picked = where_(both, x, -x).named("picked");
    let count = reduce_sum_all(cast(both, DType::F32)).named("count");
    let json = g.to_json().unwrap();
    assert!(
        json.contains("\"Bool\"") && json.contains("\"bool\": ["),
        "bool dtype and data"
    );
    let back = Graph::from_json(&json).unwrap();
    assert_eq!(back.to_json().unwrap(), json);
    let xv = ndarray::array![[1.0f32, -2.0, 3.0], [-1.0, 2.0, 0.0]];
    let kv = ndarray::array![false, true, false];
    let run = |g: &Graph| {
        let t = |n: &str| g.tensor_by_name(n).unwrap();
        let mut s = Session::new(g);
        s.run(
            &[t("any").into(), t("picked").into(), t("count").into()],
            &[(t("x"), (&xv).into()), (t("keep"), (&kv).into())],
        )
        .unwrap()
    };
    let (a, b) = (run(&g), run(&back));
    assert_eq!(a, b);
    let _ = (any, picked, count);
    // x > 0 and (keep or !flags): [[F, F, F], [F, T, F]].
    assert_eq!(
        a.bool(0).unwrap(),
        &ndarray::array![[false], [true]].into_dyn()
    );
    assert_eq!(
        a.f32(1).unwrap(),
        &ndarray::array![[-1.0f32, 2.0, -3.0], [1.0, 2.0, -0.0]].into_dyn()
    );
    assert_eq!(a.scalar(2).unwrap(), 1.0);
}
