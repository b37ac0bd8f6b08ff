//! The examples' TensorBoard runs, read back with staticflow's own event reader
//! (`summary::read_events`, both CRCs of every record checked): `pos_chunk --mode all` on a
//! tiny corpus writes one run per regime and strategy with the train losses of every step,
//! the test metrics and a histogram of every trainable variable (sized as the graph's
//! variable) after each epoch, the graph, and for each strategy the weights it used and the
//! gradient cosine on its probed steps; a regime that never trains a head logs no metrics of
//! it. The example binary is the one `cargo test` builds next to this test (`cargo test
//! --release --test summary_examples` alone does not rebuild it). A few seconds in release.

use prost::Message;
use staticflow::data::{synthetic_corpus_sized, write_conll};
use staticflow::summary::{self, proto};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/examples/<name>`, built by this `cargo test` run.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: run the whole `cargo test --release` or `cargo build --release --example {name}` first",
        bin.display()
    );
    Command::new(bin)
}

/// A folder holding a tiny CoNLL corpus: 64 training sentences (2 batches of 32 per epoch)
/// and 24 test sentences.
fn corpus(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sf-summary-examples-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let c = synthetic_corpus_sized(64, 24);
    write_conll(&c.train, d.join("train.txt")).unwrap();
    write_conll(&c.test, d.join("test.txt")).unwrap();
    d
}

fn run_pos_chunk(data: &Path, args: &[&str]) {
    let out = example("pos_chunk")
        .args(args)
        .args(["--log-every", "0"])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(data.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pos_chunk failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What one run's event file holds.
#[derive(Default)]
struct Run {
    /// tag -> [(step, value)]
    scalars: BTreeMap<String, Vec<(i64, f32)>>,
    /// tag -> [(step, histogram)]
    histograms: BTreeMap<String, Vec<(i64, proto::HistogramProto)>>,
    /// Text tags.
    texts: Vec<String>,
    graph: Option<proto::GraphDef>,
}

impl Run {
    fn read(dir: &Path) -> Run {
        let files = summary::event_files(dir).unwrap();
        assert_eq!(files.len(), 1, "one event file in {}", dir.display());
        let events = summary::read_events(&files[0]).unwrap();
        assert_eq!(
            events[0].file_version.as_deref(),
            Some("brain.Event:2"),
            "the version event comes first"
        );
        let mut r = Run::default();
        for e in &events {
            if let Some(g) = &e.graph_def {
                assert!(r.graph.is_none(), "one graph");
                r.graph = Some(proto::GraphDef::decode(g.as_slice()).unwrap());
            }
            for v in e.summary.iter().flat_map(|s| &s.value) {
                if let Some(x) = v.simple_value {
                    r.scalars
                        .entry(v.tag.clone())
                        .or_default()
                        .push((e.step, x));
                } else if let Some(h) = &v.histo {
                    let h = h.clone();
                    r.histograms
                        .entry(v.tag.clone())
                        .or_default()
                        .push((e.step, h));
                } else if v.tensor.is_some() {
                    r.texts.push(v.tag.clone());
                }
            }
        }
        r
    }

    fn steps(&self, tag: &str) -> Vec<i64> {
        self.scalars
            .get(tag)
            .map_or(vec![], |v| v.iter().map(|p| p.0).collect())
    }

    /// The number of elements of graph node `name` (its static output shape).
    fn elements(&self, name: &str) -> f64 {
        let g = self.graph.as_ref().expect("graph");
        let n = g
            .node
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no graph node `{name}`"));
        let shapes = n.attr["_output_shapes"].list.as_ref().unwrap();
        shapes.shape[0].dim.iter().map(|d| d.size as f64).product()
    }
}

#[test]
fn pos_chunk_mode_all_logs_weights_cosines_and_variable_histograms() {
    let d = corpus("all");
    run_pos_chunk(&d, &["--mode", "all", "--epochs", "2"]);
    let mut names = vec!["joint", "alternate"];
    names.extend(staticflow::mtl::NAMES);
    let mut hist_tags = BTreeMap::new();
    for name in &names {
        let dir = d.join(format!("out/runs/{name}_conll2000_default_e2_seed0"));
        let r = Run::read(&dir);
        assert!(r.graph.is_some(), "{name}: graph");
        assert_eq!(r.texts, ["about"], "{name}");
        // 2 batches per epoch, 2 epochs: steps 1..=4; each step logs the losses its op
        // computed (alternate: one of the two).
        let (p, c) = (r.steps("train/pos_loss"), r.steps("train/chunk_loss"));
        if *name == "alternate" {
            let mut all: Vec<i64> = p.iter().chain(&c).copied().collect();
            all.sort();
            assert_eq!(all, [1, 2, 3, 4], "{name}");
        } else {
            assert_eq!(
                (p.as_slice(), c.as_slice()),
                (&[1, 2, 3, 4][..], &[1, 2, 3, 4][..]),
                "{name}"
            );
        }
        for tag in [
            "test/pos_accuracy",
            "test/chunk_f1",
            "test/pos_loss",
            "test/chunk_loss",
        ] {
            assert_eq!(r.steps(tag), [2, 4], "{name} {tag}");
        }
        // The strategy's weights and cosine on the probed steps (the first of each epoch).
        let mtl: Vec<&String> = r.scalars.keys().filter(|t| t.starts_with("mtl/")).collect();
        if ["joint", "alternate"].contains(name) {
            assert!(mtl.is_empty(), "{name}: {mtl:?}");
        } else {
            assert_eq!(
                mtl,
                ["mtl/grad_cosine", "mtl/weight/chunk", "mtl/weight/pos"],
                "{name}"
            );
            for tag in &mtl {
                assert_eq!(r.steps(tag), [1, 3], "{name} {tag}");
                for (_, v) in &r.scalars[*tag] {
                    assert!(v.is_finite(), "{name} {tag} {v}");
                }
            }
            for (_, c) in &r.scalars["mtl/grad_cosine"] {
                assert!((-1.0..=1.0).contains(c), "{name} cosine {c}");
            }
            if *name == "equal" {
                for tag in ["mtl/weight/pos", "mtl/weight/chunk"] {
                    assert!(r.scalars[tag].iter().all(|p| p.1 == 1.0), "{name} {tag}");
                }
            }
        }
        // A histogram of every trainable variable after each epoch, of the variable's size.
        assert!(r.histograms.contains_key("variables/word_emb"), "{name}");
        assert!(r.histograms.contains_key("variables/chunk_out/w"), "{name}");
        for (tag, hs) in &r.histograms {
            let var = tag.strip_prefix("variables/").expect("variables/ prefix");
            let n = r.elements(var);
            assert_eq!(
                hs.iter().map(|h| h.0).collect::<Vec<_>>(),
                [2, 4],
                "{name} {tag}"
            );
            for (_, h) in hs {
                assert_eq!(h.num, n, "{name} {tag}");
                assert!(
                    h.min <= h.max && h.bucket.iter().sum::<f64>() == n,
                    "{name} {tag}"
                );
            }
        }
        hist_tags.insert(*name, r.histograms.len());
    }
    // Uncertainty's learned log-variances are trainable variables: they get histograms too.
    assert!(
        hist_tags["uncertainty"] > hist_tags["joint"],
        "{hist_tags:?}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_regime_logs_no_metrics_of_a_head_it_never_trains() {
    let d = corpus("pos-only");
    run_pos_chunk(&d, &["--mode", "pos_only", "--epochs", "1"]);
    let r = Run::read(&d.join("out/runs/pos_only_conll2000_default_e1_seed0"));
    assert_eq!(r.steps("test/pos_accuracy"), [2]);
    assert_eq!(r.steps("train/pos_loss"), [1, 2]);
    for tag in [
        "train/chunk_loss",
        "test/chunk_f1",
        "test/chunk_accuracy",
        "test/chunk_loss",
    ] {
        assert!(!r.scalars.contains_key(tag), "{tag}");
    }
    // The plot: pos_only's curves only in the two POS panels (its legend entry twice), and
    // each panel's x axis labelled with whole epochs only (here `1`).
    let svg = std::fs::read_to_string(d.join("out/pos_chunk_conll2000_default_seed0.svg")).unwrap();
    let texts = svg_texts(&svg);
    let legend = texts.iter().filter(|t| t.1 == "pos_only").count();
    assert_eq!(legend, 2, "{texts:?}");
    let axes: Vec<i64> = texts
        .iter()
        .filter(|t| t.1 == "epoch")
        .map(|t| t.0)
        .collect();
    // Only the two POS panels have a curve, so only they draw axes.
    assert_eq!(axes.len(), 2, "{texts:?}");
    let ticks: Vec<&str> = texts
        .iter()
        .filter(|t| axes.iter().any(|&y| (y - 22..y).contains(&t.0)))
        .map(|t| t.1.as_str())
        .collect();
    assert_eq!(ticks, ["1", "1"], "x tick labels: {texts:?}");
    std::fs::remove_dir_all(&d).ok();
}

/// `(y, text)` of every `<text>` element of a plotters SVG (its text sits on its own line).
fn svg_texts(svg: &str) -> Vec<(i64, String)> {
    svg.split("<text ")
        .skip(1)
        .filter_map(|t| {
            let y = t.split("y=\"").nth(1)?.split('"').next()?.parse().ok()?;
            let body = t.split_once(">\n")?.1.split_once("\n</text>")?.0;
            Some((y, body.to_string()))
        })
        .collect()
}
