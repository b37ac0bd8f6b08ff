//! Data-parallel training under real MPI: `mpirun -np 2` on the `data_parallel` example built
//! with `--features mpi` (plain SGD, and PCGrad on two tasks). Skipped, visibly, when `mpirun` is not installed.
//!
//! CI runs plain `cargo test --release`, so these tests build the feature-enabled example
//! themselves, in their own target directory (`target/mpi-tests`, debug profile: the model is
//! tiny, and a separate directory never waits for the lock of the `cargo test` running us).
//! Every child process is killed if it outlives its time limit, so a hang fails the test
//! instead of blocking CI.

mod skip;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn mpirun_available() -> bool {
    Command::new("mpirun")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `cmd` to completion, killing it after `limit`; `None` if it had to be killed.
fn run_with_limit(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(Output {
                status,
                stdout: t_out.join().unwrap_or_default(),
                stderr: t_err.join().unwrap_or_default(),
            });
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The feature-enabled example, built once per test binary; `None` without `mpirun`.
fn example() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !mpirun_available() {
                return None;
            }
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target").join("mpi-tests");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(&root)
                .env("CARGO_TARGET_DIR", &target)
                .args(["build", "--features", "mpi", "--example", "data_parallel"]);
            let out = run_with_limit(cmd, Duration::from_secs(1800))
                .expect("building the mpi example took more than 30 minutes");
            assert!(
                out.status.success(),
                "cargo build --features mpi --example data_parallel failed (is libopenmpi-dev installed?):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(target.join("debug").join("examples").join("data_parallel"))
        })
        .clone()
}

/// `mpirun -np 2 example mode`, allowed as root, bounded in time.
fn mpirun(mode: &str) -> Option<Output> {
    let Some(exe) = example() else {
        skip::skip(
            &format!("mpi ({mode})"),
            "mpirun not found; install openmpi-bin and libopenmpi-dev to run the MPI tests",
        );
        return None;
    };
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", "2", "--oversubscribe"])
        .arg(&exe)
        .arg(mode)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    Some(
        run_with_limit(cmd, Duration::from_secs(300))
            .unwrap_or_else(|| panic!("mpirun {mode} hung")),
    )
}

fn json_field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    let rest = &line[at + key.len() + 3..];
    rest.split([',', '}']).next().unwrap()
}

#[test]
fn two_mpi_ranks_train_like_one_process_and_stay_identical() {
    let Some(out) = mpirun("train") else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Rank 0 only prints: exactly one JSON line.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let l = lines[0];
    assert_eq!(json_field(l, "ranks"), "2");
    assert_eq!(json_field(l, "identical_across_ranks"), "true");
    let diff: f64 = json_field(l, "max_rel_diff_vs_one_process")
        .parse()
        .unwrap();
    assert!(diff <= 1e-6, "{l}");
    assert_eq!(
        json_field(l, "allreduce_calls"),
        "20",
        "one fused allreduce per step: {l}"
    );
}

#[test]
fn two_mpi_ranks_train_pcgrad_like_one_process() {
    // Per-task gradients (and losses) are averaged across ranks before PCGrad projects them.
    let Some(out) = mpirun("pcgrad") else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    assert_eq!(json_field(l, "identical_across_ranks"), "true");
    let diff: f64 = json_field(l, "max_rel_diff_vs_one_process")
        .parse()
        .unwrap();
    assert!(diff <= 1e-6, "{l}");
    assert_eq!(
        json_field(l, "allreduce_calls"),
        "20",
        "per-task and task-specific gradients and losses in one allreduce per step: {l}"
    );
}

#[test]
fn an_mpi_rank_that_exits_mid_run_ends_the_job_with_an_error() {
    let Some(out) = mpirun("fail") else { return };
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exiting on purpose"), "{stderr}");
}

#[test]
fn mpi_ranks_with_different_graphs_fail_naming_the_node() {
    let Some(out) = mpirun("mismatch") else {
        return;
    };
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rank 1 built a different graph than rank 0") && stderr.contains("`w1`"),
        "{stderr}"
    );
}
