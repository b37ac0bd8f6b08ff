//! Partial restores for transfer learning: load the variables of chosen scopes from a
//! checkpoint written by [`super::Saver`], possibly under other names (a name map from the
//! checkpoint's scopes to the graph's), and report what did not line up, like PyTorch's
//! `load_state_dict(strict=False)` and TF1's `init_from_checkpoint(assignment_map)`.
//!
//! ```no_run
//! # use staticflow::prelude::*;
//! # use staticflow::train::PartialRestore;
//! # fn f(sess: &mut Session<'_>) -> staticflow::Result<()> {
//! // The encoder was saved as `encoder/...` by a landmarks-only model; here it is `trunk/...`.
//! let report = PartialRestore::new(&["trunk/*"])
//!     .map_scope("encoder/", "trunk/")
//!     .restore(sess, "pretrained.safetensors")?;
//! println!("restored {}, missing {:?}", report.restored.len(), report.missing);
//! # Ok(()) }
//! ```

use super::saver::decode;
use super::scope::{scope_matches, variables_in};
use crate::error::{Error, Result};
use crate::graph::{DType, Tensor, Value};
use crate::ops::Op;
use crate::session::Session;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// What to restore: graph variables matching scope patterns (see
/// [`super::trainable_variables_in`] for the pattern syntax; optimizer slots are included
/// only if a pattern matches them), and how checkpoint names map to graph names.
#[derive(Clone, Debug, Default)]
pub struct PartialRestore {
    patterns: Vec<String>,
    map: Vec<(String, String)>,
    strict: bool,
}

/// What [`PartialRestore::restore`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestoreReport {
    /// `(graph variable, checkpoint entry)` of every restored variable, in creation order.
    pub restored: Vec<(String, String)>,
    /// Selected graph variables without a checkpoint entry (left as they were), with the
    /// entry name looked for: `trunk/fc/w (checkpoint name encoder/fc/w)`.
    pub missing: Vec<String>,
    /// Checkpoint entries that map into the selected scopes but match no graph variable.
    pub unexpected: Vec<String>,
    /// Checkpoint entries outside the selected scopes (not looked at).
    pub ignored: Vec<String>,
}

impl PartialRestore {
    /// Restores the variables whose names match any of `patterns` (each must match at
    /// least one variable of the graph).
    pub fn new(patterns: &[&str]) -> Self {
        PartialRestore {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            map: Vec::new(),
            strict: false,
        }
    }

    /// Checkpoint entries named `<checkpoint_prefix><rest>` restore graph variables named
    /// `<graph_prefix><rest>` (e.g. `("encoder/", "trunk/")`). The first matching map
    /// applies; names no map covers are used as they are.
    pub fn map_scope(mut self, checkpoint_prefix: &str, graph_prefix: &str) -> Self {
        self.map
            .push((checkpoint_prefix.to_string(), graph_prefix.to_string()));
        self
    }

    /// With `strict`, missing and unexpected names are errors as well (default: reported).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The checkpoint name a graph variable is looked up under.
    pub fn checkpoint_name(&self, graph_name: &str) -> String {
        for (c, g) in &self.map {
            if let Some(rest) = graph_name.strip_prefix(g.as_str()) {
                return format!("{c}{rest}");
            }
        }
        graph_name.to_string()
    }

    /// The graph name a checkpoint entry maps to.
    pub fn graph_name(&self, checkpoint_name: &str) -> String {
        for (c, g) in &self.map {
            if let Some(rest) = checkpoint_name.strip_prefix(c.as_str()) {
                return format!("{g}{rest}");
            }
        }
        checkpoint_name.to_string()
    }

    /// Sets the selected variables in `sess` from the checkpoint at `path`.
    ///
    /// Every entry found must have the variable's dtype and shape; otherwise
    /// [`Error::Mismatch`] lists every such entry (and, if [`PartialRestore::strict`], the
    /// missing and unexpected names) and no variable is changed. A pattern matching no
    /// variable is an [`Error::InvalidArgument`]; an unreadable file an [`Error::Io`].
    pub fn restore<'g>(
        &self,
        sess: &mut Session<'g>,
        path: impl AsRef<Path>,
    ) -> Result<RestoreReport> {
        let path = path.as_ref();
        let g = sess.graph();
        let pats: Vec<&str> = self.patterns.iter().map(String::as_str).collect();
        let vars = variables_in(g, &pats)?;
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&data)
            .map_err(|e| Error::io(path, format!("not a safetensors checkpoint: {e}")))?;
        let entries: BTreeMap<String, TensorView<'_>> = st.tensors().into_iter().collect();

        let mut report = RestoreReport::default();
        let mut mismatches = Vec::new();
        let mut values: Vec<(Tensor<'g>, Value)> = Vec::new();
        for v in &vars {
            let name = v.name();
            let Op::Variable(decl) = g.node(v.index()).op else {
                continue;
            };
            let cname = self.checkpoint_name(&name);
            let Some(t) = entries.get(&cname) else {
                report
                    .missing
                    .push(format!("{name} (checkpoint name {cname})"));
                continue;
            };
            let dtype = match t.dtype() {
                Dtype::F32 => Some(DType::F32),
                Dtype::I64 => Some(DType::I64),
                Dtype::BOOL => Some(DType::Bool),
                _ => None,
            };
            if dtype != Some(decl.dtype) || t.shape() != decl.shape.as_slice() {
                mismatches.push(format!(
                    "`{cname}` -> `{name}`: checkpoint has {:?} {:?}, graph has {:?} {}",
                    t.shape(),
                    t.dtype(),
                    decl.shape,
                    decl.dtype
                ));
                continue;
            }
            values.push((*v, decode(t, decl.dtype)));
            report.restored.push((name, cname));
        }
        let selected: HashSet<String> = vars.iter().map(|v| v.name()).collect();
        for cname in entries.keys() {
            let gname = self.graph_name(cname);
            if selected.contains(&gname) {
                continue;
            }
            if pats.iter().any(|p| scope_matches(p, &gname)) {
                report
                    .unexpected
                    .push(format!("{cname} (graph name {gname})"));
            } else {
                report.ignored.push(cname.clone());
            }
        }
        if self.strict {
            mismatches.extend(report.missing.iter().map(|m| format!("missing {m}")));
            mismatches.extend(report.unexpected.iter().map(|u| format!("unexpected {u}")));
        }
        if !mismatches.is_empty() {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                mismatches,
            });
        }
        for (v, value) in values {
            sess.set_variable(v, value)?;
        }
        Ok(report)
    }
}
