//! The `face_attributes` example end to end on faces this test draws (tests/faces): every
//! workflow flag at once (learning-rate finder, one-cycle, batch normalisation, landmark
//! pretraining with the partial restore, head-first then unfrozen training, single-task
//! comparisons) for a few
//! steps, checking the JSON contract of its last line, the grid, the finder's plot and the
//! transfer report; and the `--help` and bad-flag behaviour. The example binary is built by
//! `cargo test` next to this test (`target/<profile>/examples/`); `cargo test --test
//! face_attributes` alone does not rebuild it.

mod common;
mod faces;

use std::process::Command;

const METRICS: [&str; 5] = [
    "rmse/landmarks",
    "accuracy/gender",
    "accuracy/smile",
    "accuracy/glasses",
    "accuracy/pose",
];

#[test]
fn every_flag_on_drawn_faces_keeps_the_json_contract() {
    let dir = faces::temp_dir("face-attributes");
    faces::write_split(&dir, "training", 40, 80, 1);
    faces::write_split(&dir, "testing", 20, 80, 2);
    let out_dir = dir.join("out");
    let out = Command::new(common::example_binary("face_attributes"))
        .args(["--steps", "6", "--batch", "8", "--lr-find", "--one-cycle"])
        .args(["--batch-norm", "on"])
        .args([
            "--pretrain",
            "landmarks",
            "--pretrain-steps",
            "4",
            "--freeze-steps",
            "2",
        ])
        .arg("--data")
        .arg(&dir)
        .arg("--out")
        .arg(&out_dir)
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
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "example",
            "metrics",
            "single_task",
            "steps_per_s",
            "weighting",
            "weights"
        ]
    );
    assert_eq!(j["example"], "face_attributes");
    assert_eq!(j["weighting"], "uncertainty:10");
    for part in ["metrics", "single_task"] {
        let m = j[part].as_object().unwrap_or_else(|| panic!("{part}: {j}"));
        assert_eq!(m.len(), 5, "{part}: {j}");
        for k in METRICS {
            let v = m[k].as_f64().unwrap_or_else(|| panic!("{part}/{k}: {j}"));
            assert!((0.0..=1.0).contains(&v), "{part}/{k} = {v}");
        }
    }
    let w = j["weights"].as_object().unwrap();
    for t in ["landmarks", "gender", "smile", "glasses", "pose"] {
        assert!(w[t].as_f64().is_some_and(|v| v > 0.0), "weight {t}: {j}");
    }
    assert!(j["steps_per_s"].as_f64().is_some_and(|v| v > 0.0));
    for text in [
        "lr finder:",
        "bit-identical after the sweep",
        // conv1-4 and fc (weights and biases) and, per conv, batch norm's gamma, beta and
        // moving statistics: 10 + 16.
        "transfer: restored 26 trunk variables",
        "missing []; unexpected []",
        "head-first: 2 steps",
        "unfrozen: 4 steps, trunk learning rate x0.1",
        "sigma",
        "single-task landmarks",
        "| pose | accuracy |",
    ] {
        assert!(stdout.contains(text), "`{text}` not in\n{stdout}");
    }
    let img = image::open(out_dir.join("grid.png")).expect("the grid is a readable PNG");
    assert_eq!((img.width(), img.height()), (640, 4 * (160 + 34)));
    let svg = std::fs::read_to_string(out_dir.join("lr_find.svg")).expect("the finder's plot");
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    assert!(out_dir.join("encoder.safetensors").is_file());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_lists_every_flag_and_bad_flags_exit_2() {
    let out = Command::new(common::example_binary("face_attributes"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--steps",
        "--weighting",
        "--lr ",
        "--one-cycle",
        "--schedule",
        "--lr-find",
        "--pretrain ",
        "--pretrain-steps",
        "--freeze-steps",
        "--trunk-lr-mult",
        "--batch-norm",
        "--single-task",
        "--multi-task",
        "--seed",
        "--batch",
        "--data",
        "--out",
    ] {
        // The flag's entry: its line and the indented continuation lines.
        let lines: Vec<&str> = help.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} not in\n{help}"));
        let entry: Vec<&str> = std::iter::once(lines[at])
            .chain(
                lines[at + 1..]
                    .iter()
                    .copied()
                    .take_while(|l| !l.trim_start().starts_with('-')),
            )
            .collect();
        let entry = entry.join(" ");
        assert!(
            entry.contains("default"),
            "{flag} without a default: {entry}"
        );
    }
    assert!(help.contains("per 1,000 training steps"), "{help}");
    for bad in [
        &["--weighting", "nope"][..],
        &["--pretrain", "pose"],
        &["--lr", "-1"],
        &["--single-task", "nose"],
        &["--batch-norm", "yes"],
        &["--schedule", "cosine"],
        &["--frobnicate"],
    ] {
        let out = Command::new(common::example_binary("face_attributes"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(bad[0]), "{bad:?}: {err}");
    }
}
