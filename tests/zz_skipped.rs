//! The skip summary of a whole `cargo test` run: one line naming every test that did not run
//! its checks (real data, Python or `mpirun` missing) and why.
//!
//! Cargo runs each test target as its own process, so no test binary sees the others' skips.
//! Each skip is appended to `target/<profile>/skipped-tests.log` by `tests/skip`, tagged with
//! the id of the `cargo test` process. This target has no libtest harness and is named to sort
//! last: cargo runs the integration tests in alphabetical order of their names (after the
//! unit tests, before the doc-tests), so its line comes after every other test binary's
//! output. It prints the entries of its own run, reports and drops stale ones (a run that
//! stopped before reaching this binary), and empties the log.

mod skip;

fn main() {
    let Some(path) = skip::log_path() else {
        println!("SKIPPED in this cargo test run: unknown (the test binary's folder is unknown)");
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            println!(
                "SKIPPED in this cargo test run: unknown ({} unreadable: {e})",
                path.display()
            );
            return;
        }
    };
    let entries = skip::parse_log(&text);
    println!("\n{}", skip::summary_line(&entries, skip::run_id()));
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            println!("(could not clear {}: {e})", path.display());
        }
    }
    self_check();
}

/// The log's parsing and the summary's wording (a harness-less target has no `#[test]`s, so
/// this runs on every call; it panics, failing `cargo test`, on a regression).
fn self_check() {
    let log = "7\tconll\treal_data\tCoNLL-2000 not found\n\
               7\tsummary\ttb_server\tno python3\n\
               3\tmtfl\told\tstale\n\
               garbage line\n";
    let e = skip::parse_log(log);
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(e[1].reason, "no python3");
    let line = skip::summary_line(&e, 7);
    assert_eq!(
        line,
        "SKIPPED in this cargo test run: 2 test(s) reported ok without running their checks: \
         tests/conll.rs real_data (CoNLL-2000 not found); tests/summary.rs tb_server (no \
         python3) [1 stale entry from an earlier run that stopped before this summary dropped]"
    );
    assert!(skip::summary_line(&[], 7).contains("nothing"));
}
