//! Reverse-mode symbolic differentiation: `gradients(ys, xs)` adds gradient ops to the graph
//! (under the `gradients/` name scope) by walking the nodes between `xs` and `ys` in reverse
//! topological order and applying each op's gradient rule, summing over multiple paths.

use crate::error::{Error, Result};
use crate::graph::{same_graph_pub as same_graph, DType, Edge, Graph, Tensor};
use crate::ops::reduce::BroadcastLike;
use crate::ops::GradCtx;
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::HashMap;

/// Nodes reachable from `start` along data edges in direction `dir`.
pub(crate) fn reachable(g: &Graph, start: &[NodeIndex], dir: Direction) -> Vec<bool> {
    let dag = g.dag();
    let mut seen = vec![false; dag.node_count()];
    let mut stack: Vec<NodeIndex> = start.to_vec();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n.index()], true) {
            continue;
        }
        for e in dag.edges_directed(n, dir) {
            if let Edge::Data(_) = e.weight() {
                let next = if dir == Direction::Incoming {
                    petgraph::visit::EdgeRef::source(&e)
                } else {
                    petgraph::visit::EdgeRef::target(&e)
                };
                stack.push(next);
            }
        }
    }
    seen
}

/// `d(sum of ys)/d(x)` for every `x`: one tensor per `x`, or `None` where no path connects
/// them. Gradient tensors can be fetched like any other.
pub fn gradients<'g>(ys: &[Tensor<'g>], xs: &[Tensor<'g>]) -> Result<Vec<Option<Tensor<'g>>>> {
    gradients_with(ys, xs, None)
}

/// Like [`gradients`] with explicit initial gradients for `ys` (TF1's `grad_ys`): one per
/// `y`, of the `y`'s dtype and a static shape compatible with it.
///
/// Errors: a `y`, `x` or `grad_y` that failed to build (its build error) or belongs to
/// another graph; `grad_ys` of another length than `ys` ([`Error::InvalidArgument`]) or a
/// `grad_y` whose dtype or shape does not fit its `y` ([`Error::GradYsMismatch`]); an op
/// without a gradient on the path. Build errors of nodes elsewhere in the graph are not
/// this call's concern.
pub fn gradients_with<'g>(
    ys: &[Tensor<'g>],
    xs: &[Tensor<'g>],
    grad_ys: Option<&[Tensor<'g>]>,
) -> Result<Vec<Option<Tensor<'g>>>> {
    if let Some(gy) = grad_ys {
        if gy.len() != ys.len() {
            return Err(Error::InvalidArgument(format!(
                "gradients_with: {} grad_ys for {} ys ({}); give one initial gradient per y",
                gy.len(),
                ys.len(),
                ys.iter()
                    .map(|y| format!("`{}`", y.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let Some(first) = ys.first() else {
        return Ok(vec![None; xs.len()]);
    };
    let g = first.graph();
    same_graph(g, ys, "the other ys of `gradients`")?;
    same_graph(g, xs, "the ys of `gradients`")?;
    for t in ys.iter().chain(xs) {
        t.check()?;
    }
    if let Some(gy) = grad_ys {
        same_graph(g, gy, "the ys of `gradients`")?;
        for (y, dy) in ys.iter().zip(gy) {
            let (yi, di) = (y.info(), dy.check()?.info());
            let (Some(yi), Some(di)) = (yi, di) else {
                continue;
            };
            if yi.dtype != di.dtype || !yi.shape.compatible(&di.shape) {
                return Err(Error::GradYsMismatch {
                    y: y.name(),
                    expected: yi.to_string(),
                    grad_y: dy.name(),
                    got: di.to_string(),
                });
            }
        }
    }
    let start = g.len();
    let y_idx: Vec<NodeIndex> = ys.iter().map(|t| t.index()).collect();
    let x_idx: Vec<NodeIndex> = xs.iter().map(|t| t.index()).collect();
    let back = reachable(g, &y_idx, Direction::Incoming);
    let fwd = reachable(g, &x_idx, Direction::Outgoing);
    let on_path = |n: NodeIndex| back[n.index()] && fwd[n.index()];

    let _scope = g.name_scope("gradients");
    let mut pending: HashMap<NodeIndex, Vec<Tensor<'g>>> = HashMap::new();
    for (k, y) in ys.iter().enumerate() {
        let seed = match grad_ys {
            Some(gy) => gy[k],
            // A bool `y` (a comparison, say) has no gradient; as in TF1 it contributes
            // nothing.
            None if y.dtype() == DType::Bool => continue,
            None => ones_like(*y),
        };
        pending.entry(y.index()).or_default().push(seed);
    }
    // Node indices are a topological order: a node's inputs always exist before it.
    let max = y_idx.iter().map(|n| n.index()).max().unwrap_or(0);
    let mut done: HashMap<NodeIndex, Tensor<'g>> = HashMap::new();
    for i in (0..=max).rev() {
        let n = NodeIndex::new(i);
        if !on_path(n) {
            continue;
        }
        let Some(parts) = pending.remove(&n) else {
            continue;
        };
        let dy = add_n(parts);
        done.insert(n, dy);
        let (op, input_idx) = g.op_and_inputs(n);
        let inputs: Vec<Tensor<'g>> = input_idx
            .iter()
            .map(|&i| Tensor::from_index(g, i))
            .collect();
        if !inputs.iter().any(|t| on_path(t.index())) {
            continue;
        }
        let ctx = GradCtx {
            graph: g,
            inputs: inputs.clone(),
            output: Tensor::from_index(g, n),
            dy,
        };
        let grads = op.def().gradient(&ctx).map_err(|_| Error::NoGradient {
            node: g.node_name(n),
            op: op.def().kind().to_string(),
            x: xs
                .iter()
                .find(|x| reaches(g, x.index(), n))
                .map(|x| x.name())
                .unwrap_or_default(),
            y: ys[0].name(),
        })?;
        for (t, gi) in inputs.iter().zip(grads) {
            if let Some(gi) = gi {
                if on_path(t.index()) && t.dtype() == DType::F32 {
                    pending.entry(t.index()).or_default().push(gi);
                }
            }
        }
    }
    let out = x_idx.iter().map(|x| done.get(x).copied()).collect();
    g.check_since(start)?;
    Ok(out)
}

fn reaches(g: &Graph, from: NodeIndex, to: NodeIndex) -> bool {
    reachable(g, &[from], Direction::Outgoing)[to.index()]
}

/// Ones with `y`'s runtime shape.
fn ones_like(y: Tensor<'_>) -> Tensor<'_> {
    let g = y.graph();
    let one = g.constant(1.0f32);
    if y.shape().rank() == 0 {
        return one;
    }
    let axes = (0..y.shape().rank()).collect();
    g.add(
        BroadcastLike {
            axes,
            keep_dims: false,
            mean: false,
        },
        &[one, y],
    )
}

/// Sum of tensors (pairwise adds).
pub(crate) fn add_n(mut parts: Vec<Tensor<'_>>) -> Tensor<'_> {
    let mut acc = parts.remove(0);
    for p in parts {
        acc = acc + p;
    }
    acc
}
