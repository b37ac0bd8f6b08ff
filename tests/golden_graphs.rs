//! The checked-in `graphs/toy_two_task.{json,dot}` must be exactly what the code builds.
//! After an intended change, regenerate them with
//! `cargo run --release --example toy_two_task` (or run this test with `UPDATE_GOLDEN=1`).

use staticflow::models::toy;
use staticflow::prelude::*;
use std::path::PathBuf;

fn check(file: &str, built: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("graphs")
        .join(file);
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
             regenerate with `cargo run --release --example toy_two_task` if the change is intended",
            path.display()
        );
    }
}

#[test]
fn toy_two_task_json_matches_checked_in_file() {
    let g = Graph::with_seed(toy::SEED);
    toy::build(&g).unwrap();
    check("toy_two_task.json", &g.to_json().unwrap());
}

#[test]
fn toy_two_task_dot_matches_checked_in_file() {
    let g = Graph::with_seed(toy::SEED);
    toy::build(&g).unwrap();
    check("toy_two_task.dot", &to_dot(&g));
}

#[test]
fn checked_in_json_reads_back_to_the_same_graph() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphs/toy_two_task.json");
    let g = read_graph(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let again = g.to_json().unwrap();
    if again != text {
        let line = again
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |k| k + 1);
        panic!("re-written file differs from the checked-in one at line {line}");
    }
    assert!(g.tensor_by_name("joint_loss").is_some());
}
