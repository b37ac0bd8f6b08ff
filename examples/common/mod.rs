//! Command-line helpers shared by the examples, on top of `lexopt`.
//!
//! Each example parses with a plain `while let Some(arg) = parser.next()?` match and uses
//! these helpers so that every problem is reported the same way: the flag, what was
//! expected and what was given (`--steps: expected a non-negative integer, got `x``),
//! followed by the usage, with exit code 2; `-h`/`--help` prints the usage and exits 0.
#![allow(dead_code)]

pub mod compare;

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
