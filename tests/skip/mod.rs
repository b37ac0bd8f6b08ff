//! Visible skip notices for tests that need something the machine may lack (real data,
//! Python). `cargo test` captures `println!`/`eprintln!` of passing tests, so a skipped test
//! used to look like a pass. [`skip`] writes straight to the process's stderr, which the test
//! harness does not capture, and the binary ends (after libtest's `test result:` line) with
//! one line naming every test it skipped and why.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Mutex, Once};

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn summary() {
    let skipped = SKIPPED.lock().map(|v| v.clone()).unwrap_or_default();
    if !skipped.is_empty() {
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_ref()
            .and_then(|p| p.file_stem())
            .and_then(|s| s.to_str())
            .map(|s| s.split('-').next().unwrap_or(s).to_string())
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED in tests/{name}.rs ({} test(s), reported as ok): {}",
            skipped.len(),
            skipped.join("; ")
        );
    }
}

/// Reports that `test` did not run its checks because of `reason`: at once, and in the
/// summary line at the end of this test binary.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {reason}");
    if let Ok(mut v) = SKIPPED.lock() {
        v.push(format!("{test} ({reason})"));
    }
    // SAFETY: registers a plain `extern "C"` function with the C runtime once; it only
    // locks a static mutex and writes to stderr.
    AT_EXIT.call_once(|| unsafe {
        atexit(summary);
    });
}
