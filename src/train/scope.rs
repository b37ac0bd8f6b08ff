//! Variables selected by scope pattern, for freezing, discriminative learning rates and
//! partial restores: `trainable_variables_in(&g, &["trunk/*"])` is TF1's
//! `tf.trainable_variables(scope="trunk")` with glob patterns.
//!
//! A pattern matches a whole variable name: `*` matches any run of characters (slashes
//! included), `?` one character; a pattern without wildcards and ending in `/` matches the
//! names under that scope (`trunk/` = `trunk/*`).

use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::ops::Op;

/// True if `name` matches the glob `pattern` (see the module docs).
pub fn scope_matches(pattern: &str, name: &str) -> bool {
    if pattern.ends_with('/') && !pattern.contains(['*', '?']) {
        return name.starts_with(pattern);
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

/// Iterative glob matching with backtracking on the last `*`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

/// The trainable variables whose names match any of `patterns`, in creation order.
/// A pattern that matches no trainable variable is an [`Error::InvalidArgument`] naming it
/// (a typo would otherwise freeze or scale nothing).
pub fn trainable_variables_in<'g>(g: &'g Graph, patterns: &[&str]) -> Result<Vec<Tensor<'g>>> {
    select(g, g.trainable_variables(), patterns, "trainable variable")
}

/// Every variable (trainable or not: optimizer slots, the global step) whose name matches
/// any of `patterns`, in creation order; errors like [`trainable_variables_in`].
pub fn variables_in<'g>(g: &'g Graph, patterns: &[&str]) -> Result<Vec<Tensor<'g>>> {
    select(g, g.global_variables(), patterns, "variable")
}

/// The trainable variables matching none of `patterns` (the complement of
/// [`trainable_variables_in`]; patterns need not match anything).
pub fn trainable_variables_except<'g>(g: &'g Graph, patterns: &[&str]) -> Vec<Tensor<'g>> {
    g.trainable_variables()
        .into_iter()
        .filter(|v| {
            let n = v.name();
            !patterns.iter().any(|p| scope_matches(p, &n))
        })
        .collect()
}

fn select<'g>(
    g: &'g Graph,
    vars: Vec<Tensor<'g>>,
    patterns: &[&str],
    what: &str,
) -> Result<Vec<Tensor<'g>>> {
    debug_assert!(vars
        .iter()
        .all(|v| matches!(g.node(v.index()).op, Op::Variable(_))));
    let names: Vec<String> = vars.iter().map(|v| v.name()).collect();
    if let Some(p) = patterns
        .iter()
        .find(|p| !names.iter().any(|n| scope_matches(p, n)))
    {
        let mut shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        if names.len() > 8 {
            shown.push("...");
        }
        return Err(Error::InvalidArgument(format!(
            "scope pattern `{p}` matches no {what} (variables: {})",
            shown.join(", ")
        )));
    }
    Ok(vars
        .into_iter()
        .zip(&names)
        .filter(|(_, n)| patterns.iter().any(|p| scope_matches(p, n)))
        .map(|(v, _)| v)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::scope_matches;

    #[test]
    fn globs_match_whole_names() {
        assert!(scope_matches("trunk/*", "trunk/conv1/kernel"));
        assert!(scope_matches("trunk/", "trunk/conv1/kernel"));
        assert!(!scope_matches("trunk/", "trunk_2/conv1/kernel"));
        assert!(!scope_matches("trunk/*", "Adam/trunk/conv1/kernel/m"));
        assert!(scope_matches("*/kernel", "trunk/conv1/kernel"));
        assert!(scope_matches("head_?/*", "head_a/w"));
        assert!(!scope_matches("head_?/*", "head_ab/w"));
        assert!(scope_matches("fc/bias", "fc/bias"));
        assert!(!scope_matches("fc/bias", "fc/bias_1"));
        assert!(scope_matches("*a*b*", "xxaxxbxx"));
        assert!(!scope_matches("*a*b", "xxaxxbxx"));
    }
}
