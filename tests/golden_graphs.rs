//! The checked-in graph files in `graphs/` must be exactly what the code builds, and must read
//! back into the same graph. After an intended change, regenerate them by running this test
//! with `UPDATE_GOLDEN=1` (or the examples: `toy_two_task`, `pos_chunk -- --epochs 0 --mode
//! joint`), and review the diff.

use staticflow::models::{face_landmarks, tagger, toy};
use staticflow::prelude::*;
use std::path::PathBuf;

fn graphs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphs")
}

/// Fails, naming the file and the first differing line, if `graphs/<file>` is not `built`.
fn check(file: &str, built: &str) {
    let path = graphs_dir().join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, built).unwrap();
    }
    let on_disk =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if on_disk != built {
        let line = on_disk
            .lines()
            .zip(built.lines())
            .position(|(a, b)| a != b)
            .map(|k| k + 1)
            .unwrap_or_else(|| on_disk.lines().count().min(built.lines().count()) + 1);
        panic!(
            "{} differs from what the code builds (first difference at line {line}); \
             regenerate with `UPDATE_GOLDEN=1 cargo test --release --test golden_graphs` \
             if the change is intended",
            path.display()
        );
    }
}

/// Checks both files of a model, then reads the JSON back and checks it writes the same text
/// and has the same variables.
fn check_model(stem: &str, g: &Graph) {
    let json = g.to_json().unwrap();
    check(&format!("{stem}.json"), &json);
    check(&format!("{stem}.dot"), &to_dot(g));
    let back = read_graph(graphs_dir().join(format!("{stem}.json"))).unwrap();
    assert_eq!(
        back.to_json().unwrap(),
        json,
        "{stem}.json does not re-write identically"
    );
    let names =
        |g: &Graph| -> Vec<String> { g.global_variables().iter().map(|v| v.name()).collect() };
    assert_eq!(names(&back), names(g));
}

#[test]
fn toy_two_task_graph_files_match() {
    let g = Graph::with_seed(toy::SEED);
    toy::build(&g).unwrap();
    check_model("toy_two_task", &g);
    let back = read_graph(graphs_dir().join("toy_two_task.json")).unwrap();
    assert!(back.tensor_by_name("joint_loss").is_some());
}

#[test]
fn pos_chunk_graph_files_match() {
    let g = Graph::with_seed(0);
    tagger::Tagger::build(&g, &tagger::TaggerConfig::conll2000_tutorial()).unwrap();
    check_model("pos_chunk", &g);
}

#[test]
fn face_landmarks_graph_files_match() {
    let g = Graph::with_seed(face_landmarks::SEED);
    let (x, spec) = face_landmarks::build_reference(&g).unwrap();
    assert_eq!(x.name(), "x");
    assert!(spec.train_op.is_some());
    check_model("face_landmarks", &g);
    let back = read_graph(graphs_dir().join("face_landmarks.json")).unwrap();
    assert!(back.tensor_by_name("head_pose/class_ids").is_some());
    assert!(back.tensor_by_name("head_nose/labels").is_some());
}
