//! TensorBoard event files: what staticflow writes is read back by its own reader and by the
//! real `tensorboard` Python package (pinned, in a venv under `target/`), whose
//! `EventAccumulator` must return every scalar, histogram, image, text and the graph, and
//! whose HTTP server must serve the scalars. Without Python the Python tests say SKIPPED.

mod skip;

use ndarray::{Array4, ArrayD, IxDyn};
use prost::Message;
use staticflow::prelude::*;
use staticflow::summary::{self, proto, FileWriter};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The tensorboard version the tests (and `.ci/run`) install.
const TENSORBOARD_PIN: &str = "tensorboard==2.20.0";

/// What the fixture wrote, to compare with what is read back.
struct Written {
    /// `(tag, step, value)`.
    scalars: Vec<(String, i64, f32)>,
    /// `(tag, step, values)`.
    histograms: Vec<(String, i64, Vec<f32>)>,
    /// `(tag, step, width, height, png)`.
    images: Vec<(String, i64, i32, i32, Vec<u8>)>,
    /// Node names of the graph.
    nodes: Vec<String>,
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sf_summary_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A two-task graph with scalar, histogram, image and text summaries, run for 4 steps and
/// logged to `logdir/run1`; plus scalars logged directly.
fn write_fixture(logdir: &Path) -> Written {
    let g = Graph::with_seed(3);
    let x = g.placeholder("x", [None, Some(4)]);
    let img = g.placeholder("img", [None, Some(6), Some(5), Some(3)]);
    let (loss1, w) = g.with_scope("shared", || {
        let w = g.variable("w", init::glorot_uniform(&[4, 3]));
        (reduce_mean_all(square(matmul(x, w))), w)
    });
    let loss2 = g.with_scope("task2", || reduce_sum_all(x));
    let train = GradientDescent::new(0.1).minimize(loss1).unwrap();
    g.with_scope("train", || {
        summary::scalar("loss1", loss1);
        summary::scalar("loss2", loss2);
        summary::histogram("w", w);
        summary::image("faces", img, 2);
    });
    summary::text(&g, "notes", "**hello** tensorboard");
    let merged = summary::merge_all(&g).unwrap();
    let run = logdir.join("run1");
    let mut writer = FileWriter::new(&run).unwrap();
    writer.add_graph(&g).unwrap();
    let nodes: Vec<String> = g.dag().node_weights().map(|n| n.name.clone()).collect();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let mut w_ = Written {
        scalars: vec![],
        histograms: vec![],
        images: vec![],
        nodes,
    };
    for step in 0..4i64 {
        let xs = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| {
            (i[0] + 2 * i[1]) as f32 * 0.1 + step as f32
        });
        let ims = Array4::from_shape_fn((3, 6, 5, 3), |(n, h, w, c)| {
            (n * 7 + h * 3 + w + c) as f32 * 0.05 - 0.5 + step as f32 * 0.01
        });
        let out = sess
            .run(
                &[merged.into(), loss1.into(), loss2.into(), w.into()],
                &[(x, (&xs).into()), (img, (&ims).into())],
            )
            .unwrap();
        let bytes = out.get(0).unwrap().as_bytes().unwrap().to_vec();
        writer.add_summary(&bytes, step).unwrap();
        let s = proto::Summary::decode(bytes.as_slice()).unwrap();
        for v in &s.value {
            if let Some(im) = &v.image {
                w_.images.push((
                    v.tag.clone(),
                    step,
                    im.width,
                    im.height,
                    im.encoded_image_string.clone(),
                ));
            }
        }
        w_.scalars
            .push(("train/loss1".into(), step, out.scalar(1).unwrap()));
        w_.scalars
            .push(("train/loss2".into(), step, out.scalar(2).unwrap()));
        let wv: Vec<f32> = out
            .get(3)
            .unwrap()
            .as_f32()
            .unwrap()
            .iter()
            .copied()
            .collect();
        w_.histograms.push(("train/w".into(), step, wv));
        sess.run(&[train.into()], &[(x, (&xs).into())]).unwrap();
        let acc = 0.5 + step as f32 / 10.0;
        writer.add_scalar("test/accuracy", acc, step).unwrap();
        w_.scalars.push(("test/accuracy".into(), step, acc));
    }
    writer.close().unwrap();
    w_
}

#[test]
fn own_reader_round_trip() {
    let dir = temp_dir("own");
    let w = write_fixture(&dir);
    let files = summary::event_files(dir.join("run1")).unwrap();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    let events = summary::read_events(&files[0]).unwrap();
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let gd = proto::GraphDef::decode(events[1].graph_def.as_deref().unwrap()).unwrap();
    let names: Vec<&str> = gd.node.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        w.nodes.iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
    let mm = gd.node.iter().find(|n| n.op == "MatMul").unwrap();
    assert_eq!(mm.name, "shared/MatMul");
    assert_eq!(mm.input, vec!["x".to_string(), "shared/w".to_string()]);
    assert_eq!(mm.attr["dtype"].r#type, Some(1));
    let dims: Vec<i64> = mm.attr["_output_shapes"].list.as_ref().unwrap().shape[0]
        .dim
        .iter()
        .map(|d| d.size)
        .collect();
    assert_eq!(dims, vec![-1, 3]);
    assert!(
        gd.node
            .iter()
            .any(|n| n.input.iter().any(|i| i.starts_with('^'))),
        "control inputs as ^name"
    );
    let mut scalars = vec![];
    let mut hists = vec![];
    let mut texts = vec![];
    for e in &events[2..] {
        for v in &e.summary.as_ref().unwrap().value {
            if let Some(x) = v.simple_value {
                scalars.push((v.tag.clone(), e.step, x));
            }
            if let Some(h) = &v.histo {
                hists.push((v.tag.clone(), e.step, h.clone()));
            }
            if let Some(t) = &v.tensor {
                texts.push(String::from_utf8(t.string_val[0].clone()).unwrap());
            }
        }
    }
    let mut want = w.scalars.clone();
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    scalars.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(scalars, want);
    assert_eq!(hists.len(), 4);
    for ((tag, step, h), (wt, ws, vals)) in hists.iter().zip(&w.histograms) {
        assert_eq!((tag, step), (wt, ws));
        assert_eq!(h.num, vals.len() as f64);
        let min = vals.iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(h.min, min as f64);
        assert_eq!(h.bucket.iter().sum::<f64>(), 12.0);
    }
    assert_eq!(texts, vec!["**hello** tensorboard"; 4]);
    assert_eq!(w.images.len(), 8, "two images per step");
    assert_eq!(w.images[0].0, "train/faces/image/0");
    let png = image::load_from_memory(&w.images[0].4).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), (5, 6));
    // Mixed-sign image: 127/max|x| around 128; pixel (0,0,0) is -0.5, max|x| is 0.55
    // (at h=5, w=4, c=2): -0.5 * 127/0.55 + 128 = 12.55 -> 13.
    assert_eq!(png.get_pixel(0, 0).0[0], 13);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn summary_errors_name_the_culprit() {
    let g = Graph::new();
    let v = g.placeholder("v", [Some(3)]);
    let e = summary::scalar("s", v).check().unwrap_err().to_string();
    assert!(e.contains("one-element") && e.contains("`v`"), "{e}");
    let im = g.placeholder("im", [None, Some(4), Some(4), Some(2)]);
    let e = summary::image("im_s", im, 1)
        .check()
        .unwrap_err()
        .to_string();
    assert!(e.contains("1, 3 or 4 channels, got 2"), "{e}");
    let s = summary::scalar("ok", reduce_sum_all(v));
    let e = relu(s).check().unwrap_err().to_string();
    assert!(e.contains("bytes (summary) operands"), "{e}");
    let e = summary::merge(&g, &[v]).check().unwrap_err().to_string();
    assert!(e.contains("merges summaries (bytes), got f32"), "{e}");
    // The same tag twice: a run-time error naming it (in a graph without build errors).
    let g = Graph::new();
    let v = g.placeholder("v", [Some(3)]);
    let s = summary::scalar("ok", reduce_sum_all(v));
    let s2 = summary::scalar("ok", reduce_mean_all(v));
    assert_eq!(s2.name(), "ok_1");
    let m = summary::merge(&g, &[s, s2]);
    let mut sess = Session::new(&g);
    let xs = ndarray::arr1(&[1.0f32, 2.0, 3.0]);
    let e = sess
        .run(&[m.into()], &[(v, (&xs).into())])
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate tag `ok`"), "{e}");
    // Bytes that are not a summary, and a log directory that is a file.
    let dir = temp_dir("errors");
    let mut w = FileWriter::new(&dir).unwrap();
    let e = w
        .add_summary(&[0xff, 0xff, 0xff], 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a serialized summary"), "{e}");
    let file = dir.join("plain_file");
    std::fs::write(&file, b"x").unwrap();
    let e = FileWriter::new(file.join("sub")).err().unwrap().to_string();
    assert!(e.contains("plain_file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The venv's python with the pinned tensorboard, created on first use when `python3` exists;
/// `Err(reason)` when it cannot be had.
fn tensorboard_python() -> Result<PathBuf, String> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let venv = target.join("tb-venv");
        let py = venv.join("bin").join("python");
        let has_tb = |py: &Path| {
            Command::new(py)
                .args(["-c", "import tensorboard"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if has_tb(&py) {
            return Ok(py);
        }
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        if !py.exists() && !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
            return Err(format!("no python3 with venv to create {}", venv.display()));
        }
        let pip = ok(Command::new(&py)
            .args(["-m", "pip", "install", "-q", TENSORBOARD_PIN])
            .stdout(Stdio::null()));
        if pip && has_tb(&py) {
            Ok(py)
        } else {
            Err(format!(
                "could not pip install {TENSORBOARD_PIN} into {}",
                venv.display()
            ))
        }
    })
    .clone()
}

const READ_BACK: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
ea.Reload()
t = ea.Tags()
out = {
    "mask": masked_crc32c(b"123456789"),
    "scalars": [[k, e.step, e.value] for k in t["scalars"] for e in ea.Scalars(k)],
    "histograms": [[k, e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max,
                    e.histogram_value.sum, list(e.histogram_value.bucket)]
                   for k in t["histograms"] for e in ea.Histograms(k)],
    "images": [[k, e.step, e.width, e.height, e.encoded_image_string.hex()]
               for k in t["images"] for e in ea.Images(k)],
    "texts": [[k, e.step, [s.decode() for s in e.tensor_proto.string_val]]
              for k in t["tensors"] for e in ea.Tensors(k)],
    "graph": [[n.name, n.op, list(n.input)] for n in ea.Graph().node],
}
print(json.dumps(out))
"#;

#[test]
fn tensorboard_event_accumulator_reads_everything() {
    let py = match tensorboard_python() {
        Ok(p) => p,
        Err(why) => return skip::skip("tensorboard_event_accumulator_reads_everything", &why),
    };
    let dir = temp_dir("accumulator");
    let w = write_fixture(&dir);
    let out = Command::new(&py)
        .args(["-c", READ_BACK])
        .arg(dir.join("run1"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["mask"].as_u64(),
        Some(summary::masked_crc32c(b"123456789") as u64)
    );
    let mut got: Vec<(String, i64, f32)> = j["scalars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().into(),
                r[1].as_i64().unwrap(),
                r[2].as_f64().unwrap() as f32,
            )
        })
        .collect();
    let mut want = w.scalars.clone();
    got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(got, want);
    let hists = j["histograms"].as_array().unwrap();
    assert_eq!(hists.len(), w.histograms.len());
    for (h, (tag, step, vals)) in hists.iter().zip(&w.histograms) {
        assert_eq!(h[0].as_str(), Some(tag.as_str()));
        assert_eq!(h[1].as_i64(), Some(*step));
        assert_eq!(h[2].as_f64(), Some(vals.len() as f64));
        let min = vals.iter().copied().fold(f32::INFINITY, f32::min) as f64;
        let max = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        assert_eq!((h[3].as_f64(), h[4].as_f64()), (Some(min), Some(max)));
        let sum: f64 = vals.iter().map(|&v| v as f64).sum();
        assert!((h[5].as_f64().unwrap() - sum).abs() < 1e-9);
        let counts: f64 = h[6]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .sum();
        assert_eq!(counts, vals.len() as f64);
    }
    let imgs = j["images"].as_array().unwrap();
    assert_eq!(imgs.len(), w.images.len());
    for (tag, step, width, height, png) in &w.images {
        let hex: String = png.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            imgs.iter().any(|r| r[0].as_str() == Some(tag.as_str())
                && r[1].as_i64() == Some(*step)
                && r[2].as_i64() == Some(*width as i64)
                && r[3].as_i64() == Some(*height as i64)
                && r[4].as_str() == Some(hex.as_str())),
            "image {tag} step {step} not read back"
        );
    }
    let texts = j["texts"].as_array().unwrap();
    assert_eq!(texts.len(), 4);
    assert_eq!(texts[0][0].as_str(), Some("notes"));
    assert_eq!(texts[0][2][0].as_str(), Some("**hello** tensorboard"));
    let graph = j["graph"].as_array().unwrap();
    let names: Vec<&str> = graph.iter().map(|n| n[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        w.nodes.iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
    let mm = graph.iter().find(|n| n[0] == "shared/MatMul").unwrap();
    assert_eq!(mm[1], "MatMul");
    assert_eq!(mm[2], serde_json::json!(["x", "shared/w"]));
    std::fs::remove_dir_all(&dir).ok();
}

/// A `tensorboard` server process, killed (and reaped) when dropped, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:port: the status code and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u32, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, resp[(split + 4).min(resp.len())..].to_vec()))
}

#[test]
fn tensorboard_server_serves_our_scalars() {
    let py = match tensorboard_python() {
        Ok(p) => p,
        Err(why) => return skip::skip("tensorboard_server_serves_our_scalars", &why),
    };
    let dir = temp_dir("server");
    let w = write_fixture(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let server = Server(
        Command::new(&py)
            .args(["-m", "tensorboard.main", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--logdir")
            .arg(&dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let want: Vec<(i64, f32)> = w
        .scalars
        .iter()
        .filter(|s| s.0 == "train/loss1")
        .map(|s| (s.1, s.2))
        .collect();
    let path = "/data/plugin/scalars/scalars?run=run1&tag=train%2Floss1";
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    let got = loop {
        if let Ok((200, body)) = http_get(port, path) {
            if let Ok(serde_json::Value::Array(rows)) = serde_json::from_slice(&body) {
                let got: Vec<(i64, f32)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r[1].as_i64().unwrap_or(-1),
                            r[2].as_f64().unwrap_or(f64::NAN) as f32,
                        )
                    })
                    .collect();
                if got.len() >= want.len() {
                    break got;
                }
            }
            last = String::from_utf8_lossy(&body).chars().take(300).collect();
        }
        assert!(
            Instant::now() < deadline,
            "tensorboard did not serve {path} within 120 s (last body: {last}); log: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(server);
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn to_dot_forward_leaves_out_training_nodes() {
    let g = Graph::with_seed(0);
    let x = g.placeholder("x", [None, Some(4)]);
    let loss = g.with_scope("shared", || {
        let w = g.variable("w", init::glorot_uniform(&[4, 3]));
        reduce_mean_all(square(matmul(x, w)))
    });
    Adam::new(0.1).minimize(loss).unwrap();
    g.global_variables_initializer();
    let full = to_dot(&g);
    let fwd = to_dot_forward(&g);
    for kept in ["shared/MatMul", "shared/w\\nVariable", "\"x\\nPlaceholder"] {
        assert!(fwd.contains(kept), "{kept} missing:\n{fwd}");
    }
    for gone in [
        "gradients",
        "Adam",
        "Assign",
        "initial_value",
        "\"init\\nNoOp",
    ] {
        assert!(full.contains(gone), "{gone} not in the full graph");
        assert!(!fwd.contains(gone), "{gone} left in:\n{fwd}");
    }
    // Every edge joins two nodes that are drawn.
    for line in fwd.lines().filter(|l| l.contains(" -> ")) {
        for id in line.trim().trim_end_matches(';').split(" -> ") {
            let id = id.split_whitespace().next().unwrap();
            assert!(
                fwd.contains(&format!("{id} [label=")),
                "edge to a left-out node: {line}"
            );
        }
    }
}
