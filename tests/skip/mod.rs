//! Visible skip notices for tests that need something the machine may lack (real data,
//! Python, `mpirun`).
//!
//! `cargo test` captures `println!`/`eprintln!` of passing tests, so a skipped test used to
//! look like a pass. [`skip`] instead
//! 1. writes `SKIPPED <test>: <why>` straight to the process's stderr (libtest captures only
//!    the print macros, not direct writes), so it shows as the test runs;
//! 2. ends this test binary, after libtest's `test result:` line, with one line naming every
//!    test it skipped;
//! 3. appends the skip to `target/<profile>/skipped-tests.log`, tagged with the id of the
//!    parent process (the `cargo test` that started this binary).
//!
//! Cargo runs each test target as its own process, unit tests first, then the integration
//! tests in alphabetical order of their names, then the doc-tests. `tests/zz_skipped.rs`
//! (a target without libtest's harness, named to sort last) prints the log's entries of its
//! own `cargo test` run as one line, `SKIPPED in this cargo test run: ...`, and clears the
//! log; entries of an earlier run that stopped before it (a failed binary, or `--test NAME`)
//! are reported as stale and dropped. So the skip summary is the last output before the
//! doc-tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// This test binary's target name (`pos_chunk` for `target/release/deps/pos_chunk-<hash>`).
pub fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .as_ref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .map(|s| s.split('-').next().unwrap_or(s).to_string())
        .unwrap_or_default()
}

/// `target/<profile>/skipped-tests.log`: next to the `deps/` folder holding this binary.
pub fn log_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("skipped-tests.log"))
}

/// The id of the process that started this one (`cargo test`), which tags the log entries.
pub fn run_id() -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::process::parent_id()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

extern "C" fn summary() {
    let skipped = SKIPPED.lock().map(|v| v.clone()).unwrap_or_default();
    if !skipped.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED in tests/{}.rs ({} test(s), reported as ok): {}",
            binary_name(),
            skipped.len(),
            skipped.join("; ")
        );
    }
}

/// One log line: `run id \t binary \t test \t reason` (tabs and newlines in the text become
/// spaces).
fn log_line(test: &str, reason: &str) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!(
        "{}\t{}\t{}\t{}\n",
        run_id(),
        binary_name(),
        clean(test),
        clean(reason)
    )
}

/// Reports that `test` did not run its checks because of `reason`: at once on stderr, in the
/// summary line at the end of this test binary, and in the log that `tests/zz_skipped.rs`
/// prints at the end of the `cargo test` run.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {reason}");
    if let Ok(mut v) = SKIPPED.lock() {
        v.push(format!("{test} ({reason})"));
    }
    if let Some(path) = log_path() {
        // One `write` of one line with O_APPEND: lines of parallel tests do not interleave.
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(log_line(test, reason).as_bytes()));
        if let Err(e) = r {
            let _ = writeln!(
                std::io::stderr(),
                "(could not record the skip in {}: {e})",
                path.display()
            );
        }
    }
    // SAFETY: registers a plain `extern "C"` function with the C runtime once; it only
    // locks a static mutex and writes to stderr.
    AT_EXIT.call_once(|| unsafe {
        atexit(summary);
    });
}

/// The reason for a test that needs data set `name` (`conll2000`, `mtfl`) and did not find
/// it: where it looked (absolute) and how to point at it.
pub fn data_missing(name: &str) -> String {
    let looked: Vec<String> = staticflow::data::data_dir_candidates(name)
        .iter()
        .map(|d| {
            std::path::absolute(d)
                .unwrap_or_else(|_| d.clone())
                .display()
                .to_string()
        })
        .collect();
    format!(
        "{name} not found (looked in {}; set MTL_DATA_DIR to the folder holding {name}/)",
        looked.join(", ")
    )
}

/// A skip read back from the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The id of the `cargo test` process that ran the test ([`run_id`]).
    pub run: u32,
    /// The test binary (`tests/<binary>.rs`).
    pub binary: String,
    /// The test function.
    pub test: String,
    /// Why it skipped.
    pub reason: String,
}

/// Parses the log's lines (malformed lines are dropped).
pub fn parse_log(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, '\t');
            Some(Entry {
                run: f.next()?.parse().ok()?,
                binary: f.next()?.to_string(),
                test: f.next()?.to_string(),
                reason: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The one-line summary of `entries` of run `run`: what was skipped and why, and how many
/// stale entries (of other runs) were dropped.
pub fn summary_line(entries: &[Entry], run: u32) -> String {
    let (ours, stale): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| e.run == run);
    let mut line = if ours.is_empty() {
        "SKIPPED in this cargo test run: nothing (every test that needs real data, Python or \
         mpirun ran)"
            .to_string()
    } else {
        let items: Vec<String> = ours
            .iter()
            .map(|e| format!("tests/{}.rs {} ({})", e.binary, e.test, e.reason))
            .collect();
        format!(
            "SKIPPED in this cargo test run: {} test(s) reported ok without running their \
             checks: {}",
            ours.len(),
            items.join("; ")
        )
    };
    if !stale.is_empty() {
        line.push_str(&format!(
            " [{} stale entr{} from an earlier run that stopped before this summary dropped]",
            stale.len(),
            if stale.len() == 1 { "y" } else { "ies" }
        ));
    }
    line
}
