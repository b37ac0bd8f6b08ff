//! Command-line helpers shared by the examples, on top of `lexopt`.
//!
//! Each example parses with a plain `while let Some(arg) = parser.next()?` match and uses
//! these helpers so that every problem is reported the same way: the flag, what was
//! expected and what was given (`--steps: expected a non-negative integer, got `x``),
//! followed by the usage, with exit code 2; `-h`/`--help` prints the usage and exits 0.
#![allow(dead_code)]

pub mod compare;
pub mod draw;

use lexopt::{Arg, Error, Parser};
use std::path::PathBuf;
use std::str::FromStr;

/// Parses the process's arguments with `parse`; on error prints `error: MESSAGE` and the
/// usage to stderr and exits with code 2.
pub fn parse_or_exit<T>(usage: &str, parse: impl FnOnce(&mut Parser) -> Result<T, Error>) -> T {
    match parse(&mut Parser::from_env()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {}\n{usage}", message(e));
            std::process::exit(2);
        }
    }
}

/// `-h`/`--help`: prints the usage to stdout and exits 0.
pub fn help(usage: &str) -> ! {
    println!("{usage}");
    std::process::exit(0);
}

/// `flag: expected EXPECTED, got `GOT``.
pub fn bad(flag: &str, expected: &str, got: &str) -> Error {
    format!("{flag}: expected {expected}, got `{got}`").into()
}

/// An argument no example flag matches.
pub fn unknown(arg: Arg) -> Error {
    let shown = match arg {
        Arg::Long(l) => format!("--{l}"),
        Arg::Short(c) => format!("-{c}"),
        Arg::Value(v) => v.to_string_lossy().into_owned(),
    };
    format!("unknown argument `{shown}`").into()
}

/// The value after `flag` as text; `expected` describes it for the error message.
pub fn string(p: &mut Parser, flag: &str, expected: &str) -> Result<String, Error> {
    let v = p.value().map_err(|_| missing(flag, expected))?;
    v.into_string()
        .map_err(|v| bad(flag, expected, &v.to_string_lossy()))
}

/// The value after `flag` as a path (any bytes).
pub fn path(p: &mut Parser, flag: &str, expected: &str) -> Result<PathBuf, Error> {
    p.value()
        .map(PathBuf::from)
        .map_err(|_| missing(flag, expected))
}

/// The value after `flag` parsed as `T`; `expected` describes `T` for the error message.
pub fn value<T: FromStr>(p: &mut Parser, flag: &str, expected: &str) -> Result<T, Error> {
    let v = string(p, flag, expected)?;
    v.parse().map_err(|_| bad(flag, expected, &v))
}

/// The value after `--weighting`: any name `staticflow::heads::Weighting` parses (the
/// strategies of `staticflow::mtl::NAMES`, with their `name:argument` forms) or `all`.
pub fn weighting(p: &mut Parser) -> Result<String, Error> {
    use staticflow::heads::Weighting;
    let expected = format!(
        "{}|all (or e.g. fixed:1,10, uncertainty:10, dwa:2)",
        Weighting::names().join("|")
    );
    let v = string(p, "--weighting", &expected)?;
    if v != "all" && v.parse::<Weighting>().is_err() {
        return Err(bad("--weighting", &expected, &v));
    }
    Ok(v)
}

/// The value after `flag`, which must be one of `choices`.
pub fn choice(p: &mut Parser, flag: &str, choices: &[&str]) -> Result<String, Error> {
    let expected = choices.join("|");
    let v = string(p, flag, &expected)?;
    if choices.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(bad(flag, &expected, &v))
    }
}

fn missing(flag: &str, expected: &str) -> Error {
    format!("{flag}: expected {expected}, got nothing").into()
}

/// lexopt's own errors (from `parser.next()`) in the same words as the helpers'.
fn message(e: Error) -> String {
    match e {
        Error::UnexpectedValue { option, value } => {
            format!(
                "{option}: expected no value, got `{}`",
                value.to_string_lossy()
            )
        }
        Error::UnexpectedOption(o) => format!("unknown argument `{o}`"),
        Error::UnexpectedArgument(v) => format!("unknown argument `{}`", v.to_string_lossy()),
        e => e.to_string(),
    }
}

/// With the `mpi` feature: `"ranks":N,"allreduce_calls":C,"allreduce_s":S,` for the JSON
/// line (nothing without the feature, so the line is unchanged).
pub fn ranks_fields(world: &staticflow::distributed::World) -> String {
    if cfg!(feature = "mpi") {
        format!("{},", world.json_fields())
    } else {
        String::new()
    }
}

/// `ranks N, allreduce C calls, S s (M ms per call)`: the data-parallel line under the table.
pub fn ranks_line(world: &staticflow::distributed::World) -> String {
    let s = staticflow::distributed::allreduce_stats();
    format!(
        "ranks {}, allreduce {} calls, {:.2} s ({:.3} ms per call, {} floats per call)",
        world.size(),
        s.calls,
        s.seconds,
        1e3 * s.seconds / s.calls.max(1) as f64,
        s.floats / s.calls.max(1)
    )
}

/// The default output directory of `example`: `<project>/target/<example>`, whatever the
/// working directory (the project is where the example was built from).
pub fn default_out(example: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(example)
}

/// `p` as an absolute path (against the working directory), for printing and writing.
pub fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A TensorBoard run directory `<out>/runs/<run>`: older event files of the same run name are
/// removed first (a rerun replaces the run instead of mixing two), then a new writer is opened.
/// Prints the run's absolute path.
pub fn tensorboard_run(
    out: &std::path::Path,
    run: &str,
) -> staticflow::Result<staticflow::summary::FileWriter> {
    let dir = absolute(&out.join("runs").join(run));
    if dir.is_dir() {
        for f in staticflow::summary::event_files(&dir)? {
            std::fs::remove_file(&f).map_err(|e| staticflow::Error::io(&f, e))?;
        }
    }
    let w = staticflow::summary::FileWriter::new(&dir)?;
    println!("TensorBoard run: {}", dir.display());
    Ok(w)
}
