//! Graphviz DOT export: `dot -Tsvg graph.dot > graph.svg`.
//!
//! Name scopes become nested `subgraph cluster_*` boxes (a node `shared/w/Assign` sits in
//! cluster `shared/w` inside cluster `shared`); each node is labelled `name\nOp shape`; data
//! edges are solid, control edges dashed. Output is deterministic.

use crate::graph::{DType, Edge, Graph};
use crate::ops::Op;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One name scope: its nodes and nested scopes.
#[derive(Default)]
struct Scope {
    nodes: Vec<NodeIndex>,
    children: BTreeMap<String, Scope>,
}

/// The graph in Graphviz DOT, with name scopes as clusters and control edges dashed.
pub fn to_dot(graph: &Graph) -> String {
    dot_of(graph, &|_| true)
}

/// Like [`to_dot`] for the forward graph only: leaves out gradient nodes (`gradients*/`
/// scopes), optimizer scopes (the top-level scopes holding an `Apply*` op, with their slots),
/// and variable initialization (`Assign` ops, `*/initial_value`, the `init` op), which make
/// the full graph of a model many times wider than the model.
pub fn to_dot_forward(graph: &Graph) -> String {
    let skip: std::collections::HashSet<NodeIndex> = {
        let dag = graph.dag();
        let top = |i: NodeIndex| dag[i].name.split('/').next().unwrap_or("").to_string();
        let opt_scopes: std::collections::HashSet<String> = dag
            .node_indices()
            .filter(|&i| dag[i].op.def().kind().starts_with("Apply") && dag[i].name.contains('/'))
            .map(top)
            .collect();
        dag.node_indices()
            .filter(|&i| {
                let n = &dag[i];
                let t = top(i);
                t.starts_with("gradients")
                    || (n.name.contains('/') && opt_scopes.contains(&t))
                    || matches!(n.op, Op::Assign(_))
                    || n.name.ends_with("/initial_value")
                    || (n.name == "init" && matches!(n.op, Op::NoOp(_)))
            })
            .collect()
    };
    dot_of(graph, &|i| !skip.contains(&i))
}

fn dot_of(graph: &Graph, keep: &dyn Fn(NodeIndex) -> bool) -> String {
    let dag = graph.dag();
    let mut root = Scope::default();
    for i in dag.node_indices().filter(|&i| keep(i)) {
        let name = &dag[i].name;
        let parts: Vec<&str> = name.split('/').collect();
        let mut s = &mut root;
        for p in &parts[..parts.len() - 1] {
            s = s.children.entry((*p).to_string()).or_default();
        }
        s.nodes.push(i);
    }
    let mut out = String::new();
    out.push_str("digraph staticflow {\n");
    out.push_str("  rankdir=TB;\n  compound=true;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=8];\n");
    let mut counter = 0usize;
    write_scope(graph, &root, "", 1, &mut counter, &mut out);
    for e in dag
        .edge_references()
        .filter(|e| keep(e.source()) && keep(e.target()))
    {
        let style = match e.weight() {
            Edge::Data(_) => "",
            Edge::Control => " [style=dashed, color=gray40]",
        };
        let _ = writeln!(
            out,
            "  n{} -> n{}{style};",
            e.source().index(),
            e.target().index()
        );
    }
    out.push_str("}\n");
    out
}

fn write_scope(
    graph: &Graph,
    scope: &Scope,
    path: &str,
    depth: usize,
    counter: &mut usize,
    out: &mut String,
) {
    let pad = "  ".repeat(depth);
    let dag = graph.dag();
    for &i in &scope.nodes {
        let n = &dag[i];
        let mut label = format!("{}\\n{}", escape(&n.name), escape(n.op.def().kind()));
        if let Some(info) = &n.output {
            let _ = write!(label, " {}", info.shape);
            if info.dtype != DType::F32 {
                let _ = write!(label, " {}", info.dtype);
            }
        }
        let style = match &n.op {
            Op::Placeholder(_) => ", shape=ellipse, fillcolor=\"#fff2cc\"",
            Op::Variable(_) => ", fillcolor=\"#dae8fc\"",
            Op::Const(_) | Op::Fill(_) => ", fillcolor=\"#eeeeee\"",
            _ if n.output.is_none() => ", shape=octagon, fillcolor=\"#f8cecc\"",
            _ => "",
        };
        let _ = writeln!(out, "{pad}n{} [label=\"{label}\"{style}];", i.index());
    }
    for (name, child) in &scope.children {
        let full = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        *counter += 1;
        let id: String = full
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(out, "{pad}subgraph cluster_{}_{id} {{", *counter);
        let _ = writeln!(
            out,
            "{pad}  label=\"{}\"; style=\"rounded\"; color=gray60;",
            escape(&full)
        );
        write_scope(graph, child, &full, depth + 1, counter, out);
        let _ = writeln!(out, "{pad}}}");
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
