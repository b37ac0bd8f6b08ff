//! Graph files: a versioned, human-readable JSON description of a whole [`Graph`].
//!
//! ```text
//! {
//!   "format": "staticflow-graph",
//!   "version": 1,
//!   "seed": 1,
//!   "nodes": [
//!     {
//!       "name": "x",
//!       "op": {"op": "Placeholder", "attrs": {"dtype": "F32", "shape": [null, 10]}},
//!       "inputs": [],
//!       "control_inputs": [],
//!       "output": {"dtype": "F32", "shape": [null, 10]}
//!     },
//!     ...
//!   ],
//!   "initializers": ["shared/w/Assign", ...],
//!   "init_op": {"name": "init", "covers": 3}
//! }
//! ```
//!
//! A graph with [local variables](Graph::local_variable) (metric accumulators) also has
//! `"local_initializers"` (their `Assign` nodes) and `"local_init_op"`; graphs without them
//! leave both out.
//!
//! Nodes are listed in creation order; `op` is the serde form of [`Op`] (tag `op`, attributes
//! `attrs`); `inputs` and `control_inputs` name other nodes; `output` is the static type the
//! writer inferred (informative: the reader re-infers it and reports a difference). Variables
//! are the `Variable` nodes, in order. Writing the same graph twice gives the same bytes.
//!
//! Reading rebuilds the graph through the normal node-adding path, so every shape is inferred
//! and checked again; names, variables, initializers and the `init` op are restored exactly,
//! and [`Graph::tensor_by_name`] finds every tensor. A graph read back and run with the same
//! variable values gives bit-identical outputs.

use crate::error::{Error, Result};
use crate::graph::{Graph, TensorInfo};
use crate::ops::Op;
use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The `format` field of every graph file.
pub const FORMAT: &str = "staticflow-graph";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'a str,
    version: u32,
    seed: u64,
    nodes: Vec<NodeOut>,
    initializers: Vec<String>,
    init_op: Option<InitRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    local_initializers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_init_op: Option<InitRecord>,
}

#[derive(Serialize)]
struct NodeOut {
    name: String,
    op: Op,
    inputs: Vec<String>,
    control_inputs: Vec<String>,
    output: Option<TensorInfo>,
}

#[derive(Serialize, Deserialize)]
struct InitRecord {
    name: String,
    covers: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    // Checked on the raw JSON before this struct is read.
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u32,
    #[serde(default)]
    seed: u64,
    nodes: Vec<NodeIn>,
    #[serde(default)]
    initializers: Vec<String>,
    #[serde(default)]
    init_op: Option<InitRecord>,
    #[serde(default)]
    local_initializers: Vec<String>,
    #[serde(default)]
    local_init_op: Option<InitRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeIn {
    name: String,
    op: serde_json::Value,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    control_inputs: Vec<String>,
    #[serde(default)]
    output: Option<TensorInfo>,
}

impl Graph {
    /// The graph as pretty, deterministic JSON (see [`crate::io::graph_file`]).
    ///
    /// Errors: the graph has a build error (a failed node cannot be written).
    pub fn to_json(&self) -> Result<String> {
        self.check()?;
        let dag = self.dag();
        let name = |i: &NodeIndex| dag[*i].name.clone();
        let nodes = dag
            .node_indices()
            .map(|i| {
                let n = &dag[i];
                NodeOut {
                    name: n.name.clone(),
                    op: n.op.clone(),
                    inputs: n.inputs.iter().map(name).collect(),
                    control_inputs: n.control_inputs.iter().map(name).collect(),
                    output: n.output.clone(),
                }
            })
            .collect();
        let file = FileOut {
            format: FORMAT,
            version: VERSION,
            seed: self.seed(),
            nodes,
            initializers: self.initializer_indices().iter().map(name).collect(),
            init_op: self.init_op_state().map(|(i, covers)| InitRecord {
                name: name(&i),
                covers,
            }),
            local_initializers: self.local_initializer_indices().iter().map(name).collect(),
            local_init_op: self.local_init_op_state().map(|(i, covers)| InitRecord {
                name: name(&i),
                covers,
            }),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| Error::InvalidArgument(format!("cannot serialise graph: {e}")))?;
        let mut out = inline_scalar_arrays(&text);
        out.push('\n');
        Ok(out)
    }

    /// Rebuilds a graph from the JSON that [`Graph::to_json`] writes. Errors name the node.
    pub fn from_json(text: &str) -> Result<Graph> {
        parse(text, Path::new("<string>"))
    }
}

/// Writes `graph` to `path` as a graph file (creating parent directories), atomically: a
/// failed or killed write leaves the previous file intact (see [`crate::io::write_atomic`]).
pub fn write_graph(graph: &Graph, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let text = graph.to_json()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic::write_atomic(path, text)
}

/// Reads a graph file written by [`write_graph`]. Errors ([`Error::GraphFile`]) name the file
/// and the node: malformed JSON, another format or version, an unknown op, an input that is
/// not defined earlier in the file, or a node that no longer builds.
pub fn read_graph(path: impl AsRef<Path>) -> Result<Graph> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Graph> {
    let err = |node: &str, message: String| Error::GraphFile {
        path: PathBuf::from(path),
        node: node.to_string(),
        message,
    };
    // Check format and version first, so that a future file fails with a clear message.
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err("", format!("not valid JSON: {e}")))?;
    let format = raw.get("format").and_then(|v| v.as_str());
    if format != Some(FORMAT) {
        return Err(err(
            "",
            format!("not a staticflow graph file (format {format:?}, expected \"{FORMAT}\")"),
        ));
    }
    let version = raw.get("version").and_then(|v| v.as_u64());
    if version != Some(VERSION as u64) {
        return Err(err(
            "",
            format!(
                "unsupported graph file version {}; this build reads version {VERSION}",
                version.map_or("(missing)".to_string(), |v| v.to_string())
            ),
        ));
    }
    let file: FileIn =
        serde_json::from_value(raw).map_err(|e| err("", format!("malformed graph file: {e}")))?;

    let g = Graph::with_seed(file.seed);
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    for n in &file.nodes {
        if index.contains_key(n.name.as_str()) {
            return Err(err(&n.name, "name defined twice".into()));
        }
        let op: Op = serde_json::from_value(n.op.clone())
            .map_err(|e| err(&n.name, format!("unknown or malformed op: {e}")))?;
        let inputs = n
            .inputs
            .iter()
            .map(|i| {
                index.get(i.as_str()).copied().ok_or_else(|| {
                    err(
                        &n.name,
                        format!("input `{i}` is not defined before this node"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let idx = g
            .add_node_exact(op, &inputs, &n.name)
            .map_err(|e| err(&n.name, format!("does not build: {e}")))?;
        let built = g.dag()[idx].output.clone();
        if let Some(declared) = &n.output {
            if built.as_ref() != Some(declared) {
                return Err(err(
                    &n.name,
                    format!(
                        "file says the output is {declared}, rebuilding gives {}",
                        built.map_or("no output".to_string(), |b| b.to_string())
                    ),
                ));
            }
        }
        index.insert(&n.name, idx);
    }
    let lookup = |node: &str, what: &str, name: &str| {
        index
            .get(name)
            .copied()
            .ok_or_else(|| err(node, format!("{what} `{name}` is not a node of this file")))
    };
    // Control inputs may point to later nodes: add them once every node exists.
    for n in &file.nodes {
        let from = n
            .control_inputs
            .iter()
            .map(|c| lookup(&n.name, "control input", c))
            .collect::<Result<Vec<_>>>()?;
        g.add_control_inputs(index[n.name.as_str()], &from);
    }
    for name in &file.initializers {
        let i = lookup(name, "initializer", name)?;
        g.register_initializer(i);
    }
    // An init op covers a prefix of its initializer list.
    let covered = |init: &InitRecord, what: &str, listed: usize| {
        let i = lookup(&init.name, &format!("{what} op"), &init.name)?;
        match init.covers <= listed {
            true => Ok((i, init.covers)),
            false => Err(err(
                &init.name,
                format!(
                    "{what} op covers {} {what}ializers, the file lists {listed}",
                    init.covers
                ),
            )),
        }
    };
    if let Some(init) = &file.init_op {
        let (i, covers) = covered(init, "init", file.initializers.len())?;
        g.set_init_op_state(i, covers);
    }
    for name in &file.local_initializers {
        let i = lookup(name, "local initializer", name)?;
        g.register_local_initializer(i)
            .map_err(|e| err(name, e.to_string()))?;
    }
    if let Some(init) = &file.local_init_op {
        let (i, covers) = covered(init, "local init", file.local_initializers.len())?;
        g.set_local_init_op_state(i, covers);
    }
    if petgraph::algo::is_cyclic_directed(&*g.dag()) {
        return Err(err("", "control inputs form a cycle".into()));
    }
    Ok(g)
}

/// Puts arrays that hold only scalars (shapes, name lists, constant data) on one line, so
/// the pretty JSON stays readable. Works on serde_json's pretty output (2-space indent).
fn inline_scalar_arrays(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_string(b, i),
            b'[' => {
                if let Some((end, items)) = scalar_array(text, i) {
                    out.push_str(&text[last..i]);
                    out.push('[');
                    out.push_str(&items.join(", "));
                    out.push(']');
                    i = end + 1;
                    last = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Index just past the string literal starting at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// If the array opening at `start` holds only scalars, its closing index and its items.
fn scalar_array(text: &str, start: usize) -> Option<(usize, Vec<String>)> {
    let b = text.as_bytes();
    let mut i = start + 1;
    let mut items = Vec::new();
    let mut item_start = i;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_string(b, i),
            b'[' | b'{' => return None,
            b',' => {
                items.push(text[item_start..i].trim().to_string());
                i += 1;
                item_start = i;
            }
            b']' => {
                let last = text[item_start..i].trim();
                if !last.is_empty() {
                    items.push(last.to_string());
                }
                return Some((i, items));
            }
            _ => i += 1,
        }
    }
    None
}
