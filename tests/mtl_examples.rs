//! The examples' strategy comparison (`pos_chunk --mode all`, `face_landmarks --weighting all
//! --heads all`) on tiny data, through the example binaries that `cargo test` builds next to
//! this test: every strategy of `mtl::NAMES` is trained and reported in the last stdout line's
//! `results` with Δm% against `equal` (checked against the formula on the printed metrics),
//! throughput and the mean gradient cosine; unknown names exit with code 2 and list the valid
//! ones. A few seconds each in release mode (`cargo test --release --test mtl_examples` alone
//! does not rebuild the examples: build them first if you changed them).

mod common;
mod faces;

use serde_json::Value;
use staticflow::data::{synthetic_corpus_sized, write_conll};
use staticflow::heads::Weighting;
use staticflow::mtl::NAMES;
use std::path::PathBuf;
use std::process::{Command, Output};

/// `target/<profile>/examples/<name>`, built by this `cargo test` run.
fn example(name: &str) -> Command {
    Command::new(common::example_binary(name))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sf-mtl-examples-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The last stdout line as JSON (the run must have succeeded).
fn last_json(out: &Output) -> (Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    (
        serde_json::from_str(last).expect("last line is JSON"),
        stdout,
    )
}

/// Checks every row's `delta_m_pct` against LibMTL's formula on its printed metrics
/// (`metrics`: key, task, lower is better) and the `equal` row's values, and the cosines.
fn check_results(results: &Value, names: &[&str], metrics: &[(&str, &str, bool)], rate: &str) {
    let obj = results.as_object().expect("results object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want = names.to_vec();
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    let base = &obj["equal"];
    for (name, r) in obj {
        for (k, _, _) in metrics {
            assert!(r[k].as_f64().is_some_and(f64::is_finite), "{name} {k}: {r}");
        }
        assert!(r[rate].as_f64().is_some_and(|v| v > 0.0), "{name}: {r}");
        // Δm%: mean over tasks of the signed relative change (one metric per task here).
        // (relative change, its error bound from the 4-decimal rounding of value and baseline)
        let rel: Option<Vec<(f64, f64)>> = metrics
            .iter()
            .map(|(k, _, lower)| {
                let (v, b) = (r[k].as_f64()?, base[k].as_f64()?);
                let sign = if *lower { -1.0 } else { 1.0 };
                let err = 5e-5 * (1.0 / b.abs() + v.abs() / (b * b));
                (b != 0.0).then(|| (sign * (v - b) / b, err))
            })
            .collect();
        match rel {
            Some(rel) => {
                let n = rel.len() as f64;
                let hand = 100.0 * rel.iter().map(|x| x.0).sum::<f64>() / n;
                let tol = 100.0 * rel.iter().map(|x| x.1).sum::<f64>() / n + 0.006;
                let got = r["delta_m_pct"].as_f64().expect("delta_m_pct");
                assert!(
                    (got - hand).abs() <= tol,
                    "{name}: {got} vs {hand} (tolerance {tol}): {r} vs {base}"
                );
            }
            None => assert!(r["delta_m_pct"].is_null(), "{name}: zero baseline: {r}"),
        }
        let cos = &r["mean_grad_cosine"];
        match name.as_str() {
            "joint" | "alternate" => assert!(cos.is_null(), "{name}: {r}"),
            _ => assert!(
                cos.as_f64().is_some_and(|c| (-1.0..=1.0).contains(&c)),
                "{name}: {r}"
            ),
        }
    }
    if base["delta_m_pct"].is_number() {
        assert_eq!(base["delta_m_pct"].as_f64(), Some(0.0));
    }
}

/// A fresh folder holding a synthetic CoNLL corpus (`train.txt`, `test.txt`) of `train`
/// and `test` sentences.
fn conll_dir(name: &str, train: usize, test: usize) -> PathBuf {
    let d = temp_dir(name);
    let c = synthetic_corpus_sized(train, test);
    write_conll(&c.train, d.join("train.txt")).unwrap();
    write_conll(&c.test, d.join("test.txt")).unwrap();
    d
}

#[test]
fn pos_chunk_mode_all_reports_joint_alternate_and_every_strategy() {
    let d = conll_dir("pos-chunk", 64, 24);
    let out = example("pos_chunk")
        .args([
            "--mode",
            "all",
            "--epochs",
            "1",
            "--log-every",
            "0",
            "--no-graphs",
        ])
        .arg("--data")
        .arg(&d)
        .arg("--out")
        .arg(d.join("out"))
        .output()
        .unwrap();
    let (j, stdout) = last_json(&out);
    assert_eq!(j["example"], "pos_chunk");
    assert_eq!(j["epochs"], 1);
    let mut names = vec!["joint", "alternate"];
    names.extend(NAMES);
    let metrics = [("pos_acc", "pos", false), ("chunk_f1", "chunk", false)];
    check_results(&j["results"], &names, &metrics, "tokens_per_s");
    assert!(stdout.contains("| Δm% vs equal |"), "{stdout}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn face_landmarks_weighting_all_heads_all_reports_every_strategy() {
    let d = faces::temp_dir("mtl-examples");
    faces::write_split(&d, "training", 32, 80, 21);
    faces::write_split(&d, "testing", 12, 80, 22);
    let out = example("face_landmarks")
        .args([
            "--weighting",
            "all",
            "--heads",
            "all",
            "--steps",
            "2",
            "--batch",
            "8",
        ])
        .arg("--data")
        .arg(&d)
        .arg("--grid")
        .arg(d.join("grid.png"))
        .output()
        .unwrap();
    let (j, stdout) = last_json(&out);
    assert_eq!(j["steps"], 2);
    let lm = staticflow::data::mtfl::LANDMARKS;
    let keys: Vec<(String, String, bool)> = lm
        .iter()
        .map(|l| (format!("rmse/head_{l}"), l.to_string(), true))
        .chain(
            ["gender", "smile", "glasses", "pose"]
                .iter()
                .map(|a| (format!("accuracy/head_{a}"), a.to_string(), false)),
        )
        .collect();
    let metrics: Vec<(&str, &str, bool)> = keys
        .iter()
        .map(|(k, t, l)| (k.as_str(), t.as_str(), *l))
        .collect();
    assert_eq!(metrics.len(), 9);
    let names = Weighting::names();
    check_results(&j["results"], &names, &metrics, "steps_per_s");
    assert!(stdout.contains("| Δm% vs equal |"), "{stdout}");
    std::fs::remove_dir_all(&d).ok();
}

/// `--batching random` (the references' batches) trains and says so in the JSON line; a
/// bad value exits 2 naming the flag and both choices.
#[test]
fn pos_chunk_batching_flag() {
    let d = conll_dir("pos-chunk-batching", 48, 16);
    for batching in ["random", "bucketed"] {
        let out = example("pos_chunk")
            .args(["--mode", "joint", "--epochs", "1", "--log-every", "0"])
            .args(["--no-graphs", "--batching", batching, "--data"])
            .arg(&d)
            .arg("--out")
            .arg(d.join("out"))
            .output()
            .unwrap();
        let (j, stdout) = last_json(&out);
        assert_eq!(j["batching"], batching);
        assert!(stdout.contains(&format!("{batching} batches")), "{stdout}");
        assert!(j["results"]["joint"]["pos_acc"].as_f64().unwrap() > 0.0);
    }
    let out = example("pos_chunk")
        .args(["--batching", "sorted"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--batching") && err.contains("random") && err.contains("bucketed"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn unknown_strategy_names_exit_2_listing_the_valid_ones() {
    for (ex, flag) in [("pos_chunk", "--mode"), ("face_landmarks", "--weighting")] {
        let out = example(ex).args([flag, "nope"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{ex}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("`nope`"), "{ex}: {err}");
        for valid in NAMES.iter().chain(&["alternate", "all"]) {
            assert!(err.contains(valid), "{ex}: `{valid}` not listed: {err}");
        }
    }
    // A known strategy with a bad argument is rejected too.
    let out = example("pos_chunk")
        .args(["--mode", "cagrad:x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
