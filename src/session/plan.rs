//! Compiling `(fetches, feed keys)` into an execution plan, once: prune to the fetches'
//! ancestors (a fed tensor cuts off its own), order topologically with variable writes as late
//! as possible, and assign every intermediate a reusable buffer slot by liveness.
//!
//! Compilation is O(n log n) in the nodes the plan needs (the log from the ready queues that
//! keep the order deterministic), plus O(1) per graph node for the dense index tables; no
//! step looks at the whole graph per node.

use crate::error::{Error, Result};
use crate::graph::{Graph, Node, TensorInfo};
use crate::ops::Op;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

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
    /// The output's static type: every kernel's output is checked against it, so that each
    /// kernel sees inputs of exactly the types its shape rule accepted.
    pub info: Option<TensorInfo>,
}

/// A compiled plan for one `(fetches, feed keys)` signature.
pub(crate) struct Plan {
    pub fetch_key: Vec<NodeIndex>,
    /// Whether each fetch is a tensor (its value is returned) rather than an operation.
    pub fetch_is_tensor: Vec<bool>,
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
    /// Each slot's static type (slots are binned by type) and the first step writing it.
    pub slot_types: Vec<(TensorInfo, usize)>,
    /// Whether the slots with fully known shapes have been allocated (on the first run, so
    /// that an impossible allocation is an error rather than an abort).
    pub reserved: bool,
}

impl Plan {
    /// Compiles a plan. `var_of` maps variable nodes to store indices.
    ///
    /// Errors: a node the fetches need failed to build (its error if it is a fetch, else
    /// [`Error::PoisonedInput`] naming the fetch and the failed node); placeholders needed but
    /// not fed; a cycle among the needed nodes ([`Error::Cycle`]); an op writing something
    /// other than a variable; a fed node without a value.
    pub fn compile(
        g: &Graph,
        fetches: &[NodeIndex],
        fetch_is_tensor: &[bool],
        fed: &[NodeIndex],
        var_of: &HashMap<NodeIndex, usize>,
    ) -> Result<Plan> {
        let dag = g.dag();
        let n_nodes = dag.node_count();
        let mut feeds: Vec<NodeIndex> = fed.to_vec();
        feeds.sort();
        feeds.dedup();
        let mut is_fed = vec![false; n_nodes];
        for f in &feeds {
            is_fed[f.index()] = true;
        }

        // 1. Prune: reverse reachability from the fetches over data and control edges,
        //    not crossing fed tensors. Remember the first failed node a fetch needs: only
        //    build errors of needed nodes fail the plan.
        let mut needed = vec![false; n_nodes];
        let mut failed: Option<(NodeIndex, NodeIndex)> = None;
        let mut stack: Vec<NodeIndex> = Vec::new();
        for &f in fetches {
            stack.push(f);
            while let Some(n) = stack.pop() {
                if std::mem::replace(&mut needed[n.index()], true) {
                    continue;
                }
                if failed.is_none() && dag[n].error.is_some() {
                    failed = Some((f, n));
                }
                if is_fed[n.index()] {
                    continue;
                }
                stack.extend(
                    dag.edges_directed(n, Direction::Incoming)
                        .map(|e| e.source()),
                );
            }
        }
        if let Some((f, n)) = failed {
            let e = dag[n].error.clone().expect("failed nodes have an error");
            return Err(if f == n {
                e
            } else {
                Error::PoisonedInput {
                    node: dag[f].name.clone(),
                    input: dag[n].name.clone(),
                    cause: e.to_string(),
                }
            });
        }
        let inside = |n: NodeIndex| needed[n.index()] && !is_fed[n.index()];
        let members: Vec<NodeIndex> = (0..n_nodes)
            .map(NodeIndex::new)
            .filter(|&n| inside(n))
            .collect();

        // 2. Placeholders needed but not fed: all of them, each with a fetch that needs it.
        let missing: Vec<NodeIndex> = members
            .iter()
            .copied()
            .filter(|&n| matches!(dag[n].op, Op::Placeholder(_)))
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
        //    ready, each queue smallest index first, so every read of a variable that does
        //    not depend on a write sees the value from the start of the run.
        let mut indeg = vec![0u32; n_nodes];
        for &n in &members {
            indeg[n.index()] = dag
                .edges_directed(n, Direction::Incoming)
                .filter(|e| inside(e.source()))
                .count() as u32;
        }
        let writes = |n: NodeIndex| dag[n].op.def().mutated_inputs() > 0;
        let mut pure: BinaryHeap<Reverse<NodeIndex>> = BinaryHeap::new();
        let mut stateful: BinaryHeap<Reverse<NodeIndex>> = BinaryHeap::new();
        for &n in &members {
            if indeg[n.index()] == 0 {
                if writes(n) {
                    stateful.push(Reverse(n))
                } else {
                    pure.push(Reverse(n))
                };
            }
        }
        let mut order = Vec::with_capacity(members.len());
        while let Some(Reverse(n)) = pure.pop().or_else(|| stateful.pop()) {
            order.push(n);
            for e in dag.edges_directed(n, Direction::Outgoing) {
                let t = e.target();
                if inside(t) {
                    let d = &mut indeg[t.index()];
                    *d -= 1;
                    if *d == 0 {
                        if writes(t) {
                            stateful.push(Reverse(t))
                        } else {
                            pure.push(Reverse(t))
                        };
                    }
                }
            }
        }
        if order.len() < members.len() {
            return Err(cycle_error(&dag, &members, &indeg, &inside));
        }

        // 4. Sources and steps.
        let mut src_of: Vec<Option<Src>> = vec![None; n_nodes];
        for (k, &f) in feeds.iter().enumerate() {
            src_of[f.index()] = Some(Src::Feed(k));
        }
        let mut consts = Vec::new();
        let mut steps: Vec<Step> = Vec::with_capacity(order.len());
        const NONE: usize = usize::MAX;
        // Slot-producing step -> its last consumer step.
        let mut last_use: Vec<usize> = Vec::with_capacity(order.len());
        let mut producer_step: Vec<usize> = vec![NONE; n_nodes];
        for &n in &order {
            let node: &Node = &dag[n];
            match &node.op {
                Op::Variable(_) => {
                    let v = var_of.get(&n).copied().ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "`{}` is a variable this session does not know",
                            node.name
                        ))
                    })?;
                    src_of[n.index()] = Some(Src::Var(v));
                    continue;
                }
                Op::Const(c) => {
                    src_of[n.index()] = Some(Src::Const(consts.len()));
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
                let src = src_of[i.index()].expect("inputs are ordered first");
                if j < k {
                    match src {
                        Src::Var(v) if written.contains(&v) => {
                            return Err(Error::InvalidArgument(format!(
                                "`{}` writes variable `{}` twice (as two of its inputs)",
                                node.name, dag[i].name
                            )))
                        }
                        Src::Var(v) => written.push(v),
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "`{}` writes input {j} (`{}`), which is not a variable (or is fed)",
                                node.name, dag[i].name
                            )))
                        }
                    }
                }
                let p = producer_step[i.index()];
                if p != NONE {
                    last_use[p] = steps.len();
                }
                inputs.push(src);
            }
            let initializes =
                matches!(&node.op, Op::Assign(a) if a.kind == crate::ops::state::AssignKind::Set);
            if node.output.is_some() {
                producer_step[n.index()] = steps.len();
            }
            last_use.push(NONE);
            steps.push(Step {
                node: n,
                op: node.op.clone(),
                inputs,
                out: None,
                writes: written,
                initializes,
                info: node.output.clone(),
            });
            // The output's source is set once its slot is known (below); record a marker.
            src_of[n.index()] = Some(Src::Slot(usize::MAX));
        }

        // 5. Slots by liveness: a slot is reused once its value's last consumer has run.
        //    Fetched values stay alive to the end.
        let mut fetched = vec![false; n_nodes];
        for (f, &t) in fetches.iter().zip(fetch_is_tensor) {
            if t {
                fetched[f.index()] = true;
            }
        }
        // Free slots remember the static type of their value: a freed slot is reused only by a
        // later value of the same dtype and static shape (buffers are binned by type, as an
        // allocator bins by size), so in steady state every buffer keeps its runtime shape and
        // `Value::f32_buffer` neither reallocates nor rebuilds the array header. Within a bin
        // the most recently freed slot is reused first.
        let mut free: HashMap<&TensorInfo, Vec<usize>> = HashMap::new();
        let mut num_slots = 0;
        let mut slot_types = Vec::new();
        let mut releases: Vec<Vec<(usize, &TensorInfo)>> = vec![Vec::new(); steps.len()];
        for (s, step) in steps.iter_mut().enumerate() {
            if let Some(info) = &dag[step.node].output {
                let slot = match free.get_mut(info).and_then(Vec::pop) {
                    Some(k) => k,
                    None => {
                        num_slots += 1;
                        slot_types.push((info.clone(), s));
                        num_slots - 1
                    }
                };
                step.out = Some(slot);
                src_of[step.node.index()] = Some(Src::Slot(slot));
                if !fetched[step.node.index()] {
                    let end = if last_use[s] == NONE { s } else { last_use[s] };
                    releases[end].push((slot, info));
                }
            }
            // Patch inputs that referred to not-yet-assigned slots.
            for (j, &i) in dag[step.node].inputs.iter().enumerate() {
                step.inputs[j] = src_of[i.index()].expect("inputs are ordered first");
            }
            for (slot, info) in releases[s].drain(..) {
                free.entry(info).or_default().push(slot);
            }
        }
        let fetch_srcs = fetches
            .iter()
            .zip(fetch_is_tensor)
            .map(|(f, &t)| if t { src_of[f.index()] } else { None })
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
            fetch_is_tensor: fetch_is_tensor.to_vec(),
            feeds,
            feed_infos,
            steps,
            consts,
            fetch_srcs,
            slots: (0..num_slots).map(|_| Default::default()).collect(),
            slot_types,
            reserved: false,
        })
    }
}

/// The nodes left over by Kahn's algorithm (`indeg > 0`) each wait for another left-over
/// node, so walking from one to a waited-for node must come back to a node already seen:
/// that loop is a cycle. Reported in execution order (each node waits for the one before).
fn cycle_error(
    dag: &petgraph::graph::DiGraph<Node, crate::graph::Edge>,
    members: &[NodeIndex],
    indeg: &[u32],
    inside: &impl Fn(NodeIndex) -> bool,
) -> Error {
    let left = |n: NodeIndex| inside(n) && indeg[n.index()] > 0;
    let mut at: HashMap<NodeIndex, usize> = HashMap::new();
    let mut path: Vec<NodeIndex> = Vec::new();
    let mut n = *members
        .iter()
        .find(|&&n| left(n))
        .expect("a node was left over");
    while !at.contains_key(&n) {
        at.insert(n, path.len());
        path.push(n);
        n = dag
            .edges_directed(n, Direction::Incoming)
            .map(|e| e.source())
            .find(|&s| left(s))
            .expect("a left-over node waits for another left-over node");
    }
    let mut cycle: Vec<String> = path[at[&n]..]
        .iter()
        .map(|&i| dag[i].name.clone())
        .collect();
    cycle.reverse();
    Error::Cycle { cycle }
}
