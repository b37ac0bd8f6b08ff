//! The checked-in `graphs/face_landmarks.{json,dot}` must be exactly what
//! `staticflow::models::face_landmarks::build_reference` builds. After an intended change,
//! regenerate them by running this test with `UPDATE_GOLDEN=1`.

use staticflow::io::to_dot;
use staticflow::models::face_landmarks;
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
            .map_or(0, |k| k + 1);
        panic!(
            "{} differs from what the code builds (first difference at line {line}); \
             regenerate with UPDATE_GOLDEN=1 cargo test --test golden_face_landmarks",
            path.display()
        );
    }
}

#[test]
fn face_landmarks_graph_files_match() {
    let g = Graph::with_seed(face_landmarks::SEED);
    let (x, spec) = face_landmarks::build_reference(&g).unwrap();
    assert_eq!(x.name(), "x");
    assert!(spec.train_op.is_some());
    check("face_landmarks.json", &g.to_json().unwrap());
    check("face_landmarks.dot", &to_dot(&g));
    let back = staticflow::io::read_graph(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphs/face_landmarks.json"),
    )
    .unwrap();
    assert!(back.tensor_by_name("head_pose/class_ids").is_some());
    assert!(back.tensor_by_name("head_nose/labels").is_some());
}
