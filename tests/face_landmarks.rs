//! End to end: runs the `face_landmarks` example binary, which `cargo test` builds next to
//! this test (`target/<profile>/examples/`), with its default recipe on the real MTFL data,
//! and checks the goals on the test split (nose RMSE <= 0.045, pose accuracy >=
//! 0.70 after 1,000 steps at batch 64), the JSON contract of its last line and the grid
//! image. Without the data it checks that the example explains where to get it and fails.
//! Meant for release mode, about 20 s. `cargo test --release --test face_landmarks` alone
//! does not rebuild the example: build it first if you changed it.

mod skip;
use std::path::PathBuf;
use std::process::Command;

/// The example binary built by this `cargo test` run.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/face_landmarks-<hash> -> target/<profile>/examples/face_landmarks
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir
        .join("examples")
        .join(format!("face_landmarks{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: run the whole `cargo test --release` (which builds the examples) or \
         `cargo build --release --example face_landmarks` first",
        bin.display()
    );
    bin
}

#[test]
fn default_recipe_meets_the_goals_on_real_mtfl() {
    let Some(dir) = staticflow::data::find_data_dir("mtfl", &["training.txt", "testing.txt"])
    else {
        skip::skip(
            "default_recipe_meets_the_goals_on_real_mtfl",
            &skip::data_missing("mtfl"),
        );
        return;
    };
    let grid = std::env::temp_dir().join(format!("staticflow-grid-{}.png", std::process::id()));
    let out = Command::new(example_binary())
        .arg("--data")
        .arg(&dir)
        .arg("--grid")
        .arg(&grid)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "example failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    let j: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    assert_eq!(j["example"], "face_landmarks");
    assert_eq!(j["steps"], 1000);
    assert_eq!(j["weighting"], "fixed");
    let m = &j["metrics"];
    let rmse = m["rmse/head_nose"].as_f64().expect("rmse");
    let acc = m["accuracy/head_pose"].as_f64().expect("accuracy");
    assert!(rmse <= 0.045, "nose RMSE {rmse} > 0.045\n{stdout}");
    assert!(acc >= 0.70, "pose accuracy {acc} < 0.70\n{stdout}");
    for k in ["loss", "average_loss/head_nose"] {
        assert!(m[k].as_f64().is_some_and(f64::is_finite), "metric {k}: {m}");
    }
    assert!(j["steps_per_s"].as_f64().is_some_and(|v| v > 0.0));
    assert!(j["images_per_s"].as_f64().is_some_and(|v| v > 0.0));
    assert!(stdout.contains("pose confusion"), "{stdout}");
    let img = image::open(&grid).expect("the grid is a readable PNG");
    // 4 x 4 faces of 160 px with a 24 px caption each, and the 60 px legend.
    assert_eq!((img.width(), img.height()), (640, 4 * (160 + 24) + 60));
    let _ = std::fs::remove_file(grid);
}

#[test]
fn without_data_the_example_explains_and_fails() {
    let missing = std::env::temp_dir().join("staticflow-no-mtfl-here");
    let out = Command::new(example_binary())
        .arg("--data")
        .arg(&missing)
        .output()
        .expect("run the example");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("staticflow-no-mtfl-here"), "{err}");
    assert!(err.contains("training.txt"), "{err}");
    // ... and where to get the data set.
    assert!(err.contains("mmlab.ie.cuhk.edu.hk"), "{err}");
}
