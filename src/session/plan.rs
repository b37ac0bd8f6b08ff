//! Compiling `(fetches, feed keys)` into an execution plan, once: prune to the fetches'
//! ancestors (a fed tensor cuts off its own), order topologically with variable writes as late
//! as possible, and assign every intermediate a reusable buffer slot by liveness.

use crate::error::{Error, Result};
use crate::graph::{Graph, Node, TensorInfo};
use crate::ops::Op;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};

/// Where a kernel input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// An intermediate buffer slot.
    Slot(usize),
    /// A variable in the session's store.
    Var(usize),
    /// The k-th feed (in `Plan::feeds` order).
    Feed(usize),
    /// The k-th constant of the plan.
    Const(usize),
}

/// One kernel launch.
pub(crate) struct Step {
    pub node: NodeIndex,
    pub op: Op,
    pub inputs: SmallVec<[Src; 4]>,
    /// Output slot, `None` for ops run only for effect.
    pub out: Option<usize>,
    /// Variables written (first `mutated_inputs()` inputs), by store index.
    pub writes: SmallVec<[usize; 3]>,
    /// Whether this step assigns its variable without reading it (initializers).
    pub initializes: bool,
}

/// A compiled plan for one `(fetches, feed keys)` signature.
pub(crate) struct Plan {
    pub fetch_key: Vec<NodeIndex>,
    /// Fed nodes, sorted; `Src::Feed(k)` refers to `feeds[k]`.
    pub feeds: Vec<NodeIndex>,
    /// Static type of each fed node, for validation.
    pub feed_infos: Vec<TensorInfo>,
    pub steps: Vec<Step>,
    pub consts: Vec<crate::graph::Value>,
    /// Where each fetch's value is found (`None` for operations).
    pub fetch_srcs: Vec<Option<Src>>,
    /// Reusable buffers, one per slot.
    pub slots: Vec<crate::graph::Value>,
}

impl Plan {
    /// Compiles a plan. `var_of` maps variable nodes to store indices.
    pub fn compile(
        g: &Graph,
        fetches: &[NodeIndex],
        fetch_is_tensor: &[bool],
        fed: &[NodeIndex],
        var_of: &HashMap<NodeIndex, usize>,
    ) -> Result<Plan> {
        let dag = g.dag();
        let mut feeds: Vec<NodeIndex> = fed.to_vec();
        feeds.sort();
        feeds.dedup();
        let is_fed = |n: NodeIndex| feeds.binary_search(&n).is_ok();

        // 1. Prune: reverse reachability from the fetches over data and control edges,
        //    not crossing fed tensors.
        let mut needed = vec![false; dag.node_count()];
        let mut stack: Vec<NodeIndex> = fetches.to_vec();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut needed[n.index()], true) || is_fed(n) {
                continue;
            }
            stack.extend(
                dag.edges_directed(n, Direction::Incoming)
                    .map(|e| e.source()),
            );
        }

        // 2. Placeholders needed but not fed: all of them, each with a fetch that needs it.
        let missing: Vec<NodeIndex> = (0..dag.node_count())
            .map(NodeIndex::new)
            .filter(|&n| needed[n.index()] && !is_fed(n) && matches!(dag[n].op, Op::Placeholder(_)))
            .collect();
        if !missing.is_empty() {
            drop(dag);
            let missing = missing
                .into_iter()
                .map(|p| {
                    let fwd = crate::autodiff::reachable(g, &[p], Direction::Outgoing);
                    let by = fetches
                        .iter()
                        .find(|f| fwd[f.index()])
                        .map(|f| g.node_name(*f))
                        .unwrap_or_default();
                    (g.node_name(p), by)
                })
                .collect();
            return Err(Error::MissingFeeds { missing });
        }

        // 3. Order: Kahn's algorithm, pure nodes before variable writes whenever both are
        //    ready, so every read of a variable that does not depend on a write sees the value
        //    from the start of the run.
        let mut indeg: HashMap<NodeIndex, usize> = HashMap::new();
        let inside = |n: NodeIndex| needed[n.index()] && !is_fed(n);
        for n in (0..dag.node_count())
            .map(NodeIndex::new)
            .filter(|&n| inside(n))
        {
            let d = dag
                .edges_directed(n, Direction::Incoming)
                .filter(|e| inside(e.source()))
                .count();
            indeg.insert(n, d);
        }
        let writes = |n: NodeIndex| dag[n].op.def().mutated_inputs() > 0;
        let (mut pure, mut stateful): (BTreeSet<NodeIndex>, BTreeSet<NodeIndex>) =
            (BTreeSet::new(), BTreeSet::new());
        for (&n, &d) in &indeg {
            if d == 0 {
                if writes(n) {
                    stateful.insert(n)
                } else {
                    pure.insert(n)
                };
            }
        }
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(n) = pure.pop_first().or_else(|| stateful.pop_first()) {
            order.push(n);
            for e in dag.edges_directed(n, Direction::Outgoing) {
                let t = e.target();
                if let Some(d) = indeg.get_mut(&t) {
                    *d -= 1;
                    if *d == 0 {
                        if writes(t) {
                            stateful.insert(t)
                        } else {
                            pure.insert(t)
                        };
                    }
                }
            }
        }

        // 4. Sources and steps.
        let mut src_of: HashMap<NodeIndex, Src> = HashMap::new();
        for (k, &f) in feeds.iter().enumerate() {
            src_of.insert(f, Src::Feed(k));
        }
        let mut consts = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut last_use: HashMap<usize, usize> = HashMap::new(); // slot-producing step -> last consumer step
        let mut producer_step: HashMap<NodeIndex, usize> = HashMap::new();
        for &n in &order {
            let node: &Node = &dag[n];
            match &node.op {
                Op::Variable(_) => {
                    src_of.insert(n, Src::Var(var_of[&n]));
                    continue;
                }
                Op::Const(c) => {
                    src_of.insert(n, Src::Const(consts.len()));
                    consts.push(c.value.clone());
                    continue;
                }
                _ => {}
            }
            let def = node.op.def();
            let k = def.mutated_inputs();
            let mut inputs = SmallVec::new();
            let mut written = SmallVec::new();
            for (j, &i) in node.inputs.iter().enumerate() {
                let src = src_of[&i];
                if j < k {
                    match src {
                        Src::Var(v) => written.push(v),
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "`{}` writes input {j} (`{}`), which is not a variable (or is fed)",
                                node.name, dag[i].name
                            )))
                        }
                    }
                }
                if let Some(&p) = producer_step.get(&i) {
                    last_use.insert(p, steps.len());
                }
                inputs.push(src);
            }
            let initializes =
                matches!(&node.op, Op::Assign(a) if a.kind == crate::ops::state::AssignKind::Set);
            if node.output.is_some() {
                producer_step.insert(n, steps.len());
            }
            steps.push(Step {
                node: n,
                op: node.op.clone(),
                inputs,
                out: None,
                writes: written,
                initializes,
            });
            // The output's source is set once its slot is known (below); record a marker.
            src_of.insert(n, Src::Slot(usize::MAX));
        }

        // 5. Slots by liveness: a slot is reused once its value's last consumer has run.
        //    Fetched values stay alive to the end.
        let fetched: Vec<NodeIndex> = fetches
            .iter()
            .zip(fetch_is_tensor)
            .filter(|(_, t)| **t)
            .map(|(f, _)| *f)
            .collect();
        // Free slots remember the static type of their value: a freed slot is reused only by a
        // later value of the same dtype and static shape (buffers are binned by type, as an
        // allocator bins by size), so in steady state every buffer keeps its runtime shape and
        // `Value::f32_buffer` neither reallocates nor rebuilds the array header.
        let mut free: Vec<(usize, TensorInfo)> = Vec::new();
        let mut num_slots = 0;
        let mut releases: Vec<Vec<(usize, TensorInfo)>> = vec![Vec::new(); steps.len()];
        for (s, step) in steps.iter_mut().enumerate() {
            if let Some(info) = &dag[step.node].output {
                let pick = free.iter().rposition(|(_, i)| i == info);
                let slot = match pick {
                    Some(k) => free.remove(k).0,
                    None => {
                        num_slots += 1;
                        num_slots - 1
                    }
                };
                step.out = Some(slot);
                src_of.insert(step.node, Src::Slot(slot));
                if !fetched.contains(&step.node) {
                    let end = last_use.get(&s).copied().unwrap_or(s);
                    releases[end].push((slot, info.clone()));
                }
            }
            // Patch inputs that referred to not-yet-assigned slots.
            for (j, &i) in dag[step.node].inputs.iter().enumerate() {
                step.inputs[j] = src_of[&i];
            }
            free.append(&mut releases[s]);
        }
        let fetch_srcs = fetches
            .iter()
            .zip(fetch_is_tensor)
            .map(|(f, &t)| if t { Some(src_of[f]) } else { None })
            .collect();
        let feed_infos = feeds
            .iter()
            .map(|f| {
                dag[*f].output.clone().ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "`{}` has no value and cannot be fed",
                        dag[*f].name
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Plan {
            fetch_key: fetches.to_vec(),
            feeds,
            feed_infos,
            steps,
            consts,
            fetch_srcs,
            slots: (0..num_slots).map(|_| Default::default()).collect(),
        })
    }
}
