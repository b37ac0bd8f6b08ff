//! Hostile tests, class 5 (issue 10): every file staticflow writes is written atomically. A
//! writer killed mid-write (a child process, killed with SIGKILL) leaves the old file intact
//! and readable; failed writes leave neither a truncated destination nor a temporary file.

use staticflow::data::{read_conll, write_conll, Sentence};
use staticflow::io::{write_atomic, write_atomic_with, AtomicFile};
use staticflow::prelude::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "STATICFLOW_HOSTILE_CHILD";

fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "staticflow_hostile_files_{}_{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// A graph whose file is a few MB, so that writing it takes a while.
fn big_graph(seed: u64, nodes: usize) -> Graph {
    let g = Graph::with_seed(seed);
    let mut h = g.placeholder("x", [None, Some(4)]);
    for i in 0..nodes {
        h = relu(h + g.constant(i as f32)).named(&format!("layer_{i}_with_a_long_name"));
    }
    g
}

fn sentences(n: usize, tag: &str) -> Vec<Sentence> {
    (0..n)
        .map(|i| Sentence {
            words: vec![format!("w{i}"), "x".into()],
            pos: vec![tag.to_string(), "NN".into()],
            chunks: vec!["B-NP".into(), "I-NP".into()],
        })
        .collect()
}

/// Not a test of its own: the child process body of the kill tests (does nothing unless
/// started by them with `STATICFLOW_HOSTILE_CHILD=<what>:<path>`).
#[test]
fn child_process_body() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (what, path) = spec.split_once(':').unwrap();
    let path = PathBuf::from(path);
    let announce = || {
        println!("WRITING");
        std::io::stdout().flush().unwrap();
    };
    match what {
        // Streams forever into an AtomicFile that is never committed.
        "stream" => {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"new ").unwrap();
            f.flush().unwrap();
            announce();
            loop {
                f.write_all(&[b'n'; 1 << 16]).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Rewrites a big graph file, a checkpoint or a CoNLL file in a loop.
        "graph" | "checkpoint" | "conll" => {
            let g = big_graph(1, 600);
            let w = g.variable("w", init::random_normal(&[256, 256], 0.0, 1.0));
            let mut sess = Session::new(&g);
            sess.run(&[g.global_variables_initializer().into()], &[])
                .unwrap();
            let conll = sentences(20_000, "NEW");
            announce();
            loop {
                match what {
                    "graph" => write_graph(&g, &path).unwrap(),
                    "checkpoint" => Saver::for_variables(&g, &[w]).save(&sess, &path).unwrap(),
                    _ => write_conll(&conll, &path).unwrap(),
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// Starts the child writer, lets it write for `ms` milliseconds, kills it (SIGKILL).
fn kill_child_mid_write(what: &str, path: &Path, ms: u64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_body",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{what}:{}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("WRITING") => break,
            Some(Ok(_)) => continue,
            _ => panic!("child ended before writing"),
        }
    }
    std::thread::sleep(Duration::from_millis(ms));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn killed_stream_leaves_old_file() {
    let dir = test_dir("stream");
    let path = dir.join("events.out");
    std::fs::write(&path, b"old contents").unwrap();
    for ms in [0, 5, 40] {
        kill_child_mid_write("stream", &path, ms);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"old contents",
            "after {ms} ms"
        );
    }
    println!(
        "stray temporary files after 3 SIGKILLs: {:?}",
        temp_files(&dir)
    );
}

#[test]
fn killed_graph_writer_leaves_a_readable_graph() {
    let dir = test_dir("graph");
    let path = dir.join("model.json");
    let old = big_graph(0, 3);
    write_graph(&old, &path).unwrap();
    let old_text = std::fs::read_to_string(&path).unwrap();
    let mut replaced = 0;
    for ms in [0, 3, 17, 60, 150] {
        kill_child_mid_write("graph", &path, ms);
        let text = std::fs::read_to_string(&path).unwrap();
        let g = read_graph(&path).unwrap_or_else(|e| panic!("after {ms} ms: {e}"));
        if text == old_text {
            assert_eq!(g.to_json().unwrap(), old_text);
        } else {
            replaced += 1;
            assert!(g.len() > 600, "a complete new graph");
        }
    }
    println!("graph writer killed 5 times: {replaced} complete new files, the rest old");
}

#[test]
fn killed_checkpoint_writer_leaves_a_restorable_checkpoint() {
    let dir = test_dir("checkpoint");
    let path = dir.join("model.safetensors");
    let g = big_graph(1, 600);
    let w = g.variable("w", init::zeros(&[256, 256]));
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let saver = Saver::for_variables(&g, &[w]);
    saver.save(&sess, &path).unwrap();
    for ms in [0, 10, 50, 120] {
        kill_child_mid_write("checkpoint", &path, ms);
        saver
            .restore(&mut sess, &path)
            .unwrap_or_else(|e| panic!("after {ms} ms: {e}"));
    }
}

#[test]
fn killed_conll_writer_leaves_a_whole_file() {
    let dir = test_dir("conll");
    let path = dir.join("pred.txt");
    write_conll(&sentences(3, "OLD"), &path).unwrap();
    for ms in [0, 5, 30] {
        kill_child_mid_write("conll", &path, ms);
        let back = read_conll(&path).unwrap();
        assert!(
            back.len() == 3 || back.len() == 20_000,
            "{} sentences",
            back.len()
        );
    }
}

#[test]
fn failed_writes_keep_the_old_file_and_leave_no_temporary() {
    let dir = test_dir("failures");
    let path = dir.join("file.csv");
    write_atomic(&path, "old").unwrap();
    // The filler fails half-way.
    let err = write_atomic_with(&path, |w| {
        w.write_all(b"half")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("disk full"));
    assert!(err.to_string().contains("file.csv"), "{err}");
    // An AtomicFile dropped without commit (an early return, a panic).
    {
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"never committed").unwrap();
    }
    // Renaming over a non-empty directory fails.
    let taken = dir.join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("keep"), "x").unwrap();
    assert!(write_atomic(&taken, "new").is_err());
    // A missing parent directory.
    assert!(write_atomic(dir.join("no/such/dir/f"), "new").is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    // A destination name at the file-name limit still gets a temporary within it.
    let long = dir.join("n".repeat(255));
    write_atomic(&long, "long").unwrap();
    assert_eq!(std::fs::read_to_string(&long).unwrap(), "long");
    // Two threads writing the same destination at once: one of the two whole contents wins.
    let shared = dir.join("shared.txt");
    std::thread::scope(|s| {
        for t in 0..4 {
            let shared = &shared;
            s.spawn(move || {
                for _ in 0..20 {
                    write_atomic(shared, format!("thread {t} ").repeat(1000)).unwrap();
                }
            });
        }
    });
    let text = std::fs::read_to_string(&shared).unwrap();
    assert!(
        text.len() == 9000 && text.starts_with("thread "),
        "{}",
        text.len()
    );
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn write_graph_replaces_atomically_and_reports_the_file() {
    let dir = test_dir("graph_errors");
    let path = dir.join("g.json");
    let g = Graph::with_seed(0);
    let x = g.placeholder("x", [None, Some(2)]);
    let _y = relu(x);
    write_graph(&g, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let dir_as_dest = dir.join("d");
    std::fs::create_dir(&dir_as_dest).unwrap();
    std::fs::write(dir_as_dest.join("keep"), "x").unwrap();
    let err = write_graph(&g, &dir_as_dest).unwrap_err();
    assert!(err.to_string().contains("d"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
