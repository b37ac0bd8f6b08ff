//! `Session`: owns variable values, compiles each `(fetches, feed keys)` signature into a plan
//! once, validates feeds, runs plans, and profiles them.

mod plan;
mod profile;

pub use profile::{Profile, ProfileEntry};

use crate::error::{Error, Result};
use crate::graph::{Fetch, Graph, Tensor, TensorInfo, Value, ValueView};
use crate::ops::debug::non_finite;
use crate::ops::{KernelCtx, Op};
use petgraph::graph::NodeIndex;
use plan::{Plan, Src};
use rand::rngs::StdRng;
use rand::SeedableRng;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::time::Instant;

/// The values `Session::run` returns: one entry per fetch, `None` for operations.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs(pub Vec<Option<Value>>);

impl Outputs {
    /// The value of fetch `i`; an error if it was an operation or out of range.
    pub fn get(&self, i: usize) -> Result<&Value> {
        self.0.get(i).and_then(Option::as_ref).ok_or_else(|| {
            Error::Value(format!(
                "fetch {i} has no value (an operation, or out of range)"
            ))
        })
    }
    /// The single f32 element of fetch `i` (a loss, say).
    pub fn scalar(&self, i: usize) -> Result<f32> {
        self.get(i)?.scalar()
    }
    /// The f32 array of fetch `i`.
    pub fn f32(&self, i: usize) -> Result<&ndarray::ArrayD<f32>> {
        self.get(i)?.as_f32()
    }
    /// The i64 array of fetch `i`.
    pub fn i64(&self, i: usize) -> Result<&ndarray::ArrayD<i64>> {
        self.get(i)?.as_i64()
    }
    /// The bool array of fetch `i` (a comparison or logic op's answer).
    pub fn bool(&self, i: usize) -> Result<&ndarray::ArrayD<bool>> {
        self.get(i)?.as_bool()
    }
}

/// A feed: a tensor (usually a placeholder, but any tensor can be fed) and its value.
pub type Feed<'g, 'a> = (Tensor<'g>, ValueView<'a>);

/// Runs a frozen graph. Variable values (and optimizer slots) live here, not in the graph.
pub struct Session<'g> {
    graph: &'g Graph,
    var_nodes: Vec<NodeIndex>,
    var_of: HashMap<NodeIndex, usize>,
    /// Each variable's static type: writes must keep it.
    var_infos: Vec<TensorInfo>,
    vars: Vec<Value>,
    initialized: Vec<bool>,
    plans: Vec<Plan>,
    /// Hash of a run signature -> the plans with that hash (one, but for collisions).
    plan_of: HashMap<u64, SmallVec<[usize; 1]>>,
    rng: StdRng,
    /// Scratch value swapped with an output slot while its kernel runs.
    spare: Value,
    /// Check every f32 output for NaN/Inf (see [`Session::set_check_numerics`]).
    check_numerics: bool,
}

impl<'g> Session<'g> {
    /// A session on `graph`, which it freezes: adding nodes afterwards is an error.
    pub fn new(graph: &'g Graph) -> Self {
        graph.freeze();
        let var_nodes = graph.variable_indices();
        let var_of = var_nodes.iter().enumerate().map(|(k, &n)| (n, k)).collect();
        let var_infos = {
            let dag = graph.dag();
            var_nodes
                .iter()
                .map(|&n| dag[n].output.clone().expect("variables have an output"))
                .collect()
        };
        Session {
            graph,
            var_infos,
            vars: vec![Value::default(); var_nodes.len()],
            initialized: vec![false; var_nodes.len()],
            var_nodes,
            var_of,
            plans: Vec::new(),
            plan_of: HashMap::new(),
            rng: StdRng::seed_from_u64(graph.seed() ^ 0x5EED),
            spare: Value::default(),
            check_numerics: false,
        }
    }

    /// Checks every f32 output of every kernel of later runs for NaN and Inf, like TF1's
    /// `add_check_numerics_ops`: the first node (in execution order) whose output holds one
    /// fails the run with [`Error::Numerics`], naming the node, its op kind and name scope,
    /// and its first input that already held NaN or Inf (fed or read from a variable), if
    /// any. Costs one pass over each output (a few percent of a conv or LSTM step).
    pub fn set_check_numerics(&mut self, on: bool) {
        self.check_numerics = on;
    }

    /// The graph this session runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs the subgraph that `fetches` need, with `feeds`, and returns the fetched tensors'
    /// values (taken before any variable update of this run, unless they depend on one).
    pub fn run(&mut self, fetches: &[Fetch<'g>], feeds: &[Feed<'g, '_>]) -> Result<Outputs> {
        self.run_inner(fetches, feeds, None)
    }

    /// Like [`Session::run`], also timing every kernel.
    pub fn run_profiled(
        &mut self,
        fetches: &[Fetch<'g>],
        feeds: &[Feed<'g, '_>],
    ) -> Result<(Outputs, Profile)> {
        let mut p = Profile::default();
        let out = self.run_inner(fetches, feeds, Some(&mut p))?;
        Ok((out, p))
    }

    /// The plan for the run signature `(fetches in order, each a tensor or an operation; the
    /// set of fed tensors)`, compiled on first use. The look-up hashes the signature, so it
    /// costs the same however many plans exist. A tensor fed twice is an error.
    fn plan_index(&mut self, fetches: &[Fetch<'g>], feeds: &[Feed<'g, '_>]) -> Result<usize> {
        let g = self.graph;
        for f in fetches {
            if f.graph().id() != g.id() {
                return Err(Error::ForeignTensor {
                    node: g_name(f),
                    context: "this session's graph (fetch)".into(),
                });
            }
        }
        for (t, _) in feeds {
            if t.graph().id() != g.id() {
                return Err(Error::ForeignTensor {
                    node: t.name(),
                    context: "this session's graph (feed)".into(),
                });
            }
        }
        let mut fed_sorted: SmallVec<[NodeIndex; 8]> =
            feeds.iter().map(|(t, _)| t.index()).collect();
        fed_sorted.sort_unstable();
        if let Some(w) = fed_sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateFeed {
                node: g.node_name(w[0]),
            });
        }
        let hash = signature_hash(fetches, &fed_sorted);
        if let Some(cands) = self.plan_of.get(&hash) {
            for &i in cands {
                let p = &self.plans[i];
                if p.feeds[..] == fed_sorted[..]
                    && p.fetch_key.len() == fetches.len()
                    && p.fetch_key
                        .iter()
                        .zip(&p.fetch_is_tensor)
                        .zip(fetches)
                        .all(|((&k, &t), f)| k == f.index() && t == matches!(f, Fetch::Tensor(_)))
                {
                    return Ok(i);
                }
            }
        }
        let keys: Vec<NodeIndex> = fetches.iter().map(|f| f.index()).collect();
        let is_tensor: Vec<bool> = fetches
            .iter()
            .map(|f| matches!(f, Fetch::Tensor(_)))
            .collect();
        let fed: Vec<NodeIndex> = feeds.iter().map(|(t, _)| t.index()).collect();
        let plan = Plan::compile(g, &keys, &is_tensor, &fed, &self.var_of)?;
        self.plans.push(plan);
        let i = self.plans.len() - 1;
        self.plan_of.entry(hash).or_default().push(i);
        Ok(i)
    }

    fn run_inner(
        &mut self,
        fetches: &[Fetch<'g>],
        feeds: &[Feed<'g, '_>],
        mut prof: Option<&mut Profile>,
    ) -> Result<Outputs> {
        let pi = self.plan_index(fetches, feeds)?;
        let Session {
            graph,
            plans,
            vars,
            initialized,
            var_nodes,
            rng,
            spare,
            check_numerics,
            var_infos,
            ..
        } = self;
        let plan = &mut plans[pi];
        if !plan.reserved {
            reserve_slots(graph, plan)?;
        }

        // Feeds in plan order, validated against their static types.
        let mut fed: SmallVec<[ValueView; 8]> = SmallVec::new();
        for (k, &node) in plan.feeds.iter().enumerate() {
            let Some((_, v)) = feeds.iter().find(|(t, _)| t.index() == node) else {
                return Err(Error::InvalidArgument(format!(
                    "internal: the plan for this run expects a feed for `{}`",
                    graph.node_name(node)
                )));
            };
            let info = &plan.feed_infos[k];
            if v.dtype() != info.dtype || !info.shape.admits(v.shape()) {
                return Err(Error::FeedMismatch {
                    node: graph.node_name(node),
                    expected: info.shape.to_string(),
                    expected_dtype: info.dtype.to_string(),
                    got: format!("{:?}", v.shape()),
                    got_dtype: v.dtype().to_string(),
                });
            }
            fed.push(v.clone());
        }

        let mut ctx = KernelCtx { rng };
        let slots = &mut plan.slots;
        for step in &plan.steps {
            let t0 = prof.as_ref().map(|_| Instant::now());
            if step.writes.is_empty() {
                // Swap the output buffer out of its slot (a struct move, no allocation) so the
                // kernel can write it while reading other slots.
                if let Some(s) = step.out {
                    std::mem::swap(&mut slots[s], spare);
                }
                let out = &mut *spare;
                let mut views: SmallVec<[ValueView; 4]> = SmallVec::new();
                for src in &step.inputs {
                    views.push(view_of(
                        *src,
                        slots,
                        vars,
                        initialized,
                        &fed,
                        &plan.consts,
                        var_nodes,
                        graph,
                    )?);
                }
                let r = step.op.def().compute(&mut ctx, &views, out);
                drop(views);
                if let Some(s) = step.out {
                    std::mem::swap(&mut slots[s], spare);
                }
                r.map_err(|reason| runtime_error(graph, step.node, &step.op, reason))?;
                if let (Some(s), Some(info)) = (step.out, &step.info) {
                    let v = &slots[s];
                    if v.dtype() != info.dtype || !info.shape.admits(v.shape()) {
                        return Err(runtime_error(
                            graph,
                            step.node,
                            &step.op,
                            format!(
                                "internal: the kernel produced {} {:?}, its shape rule promised {info}",
                                v.dtype(),
                                v.shape()
                            ),
                        ));
                    }
                }
                if *check_numerics {
                    if let Some(found) = step.out.and_then(|s| non_finite(&slots[s].view())) {
                        let ins = graph.node(step.node).inputs;
                        let bad = step.inputs.iter().zip(ins).find_map(|(src, n)| {
                            let v = view_of(
                                *src,
                                slots,
                                vars,
                                initialized,
                                &fed,
                                &plan.consts,
                                var_nodes,
                                graph,
                            );
                            v.ok().and_then(|v| non_finite(&v)).map(|_| n)
                        });
                        return Err(numerics_error(graph, step.node, &step.op, found, bad));
                    }
                }
            } else {
                let k = step.writes.len();
                for &v in &step.writes {
                    if !step.initializes && !initialized[v] {
                        return Err(Error::UninitializedVariable {
                            variable: graph.node_name(var_nodes[v]),
                        });
                    }
                }
                // Inputs read by the op that are also written by it are copied first.
                let copies: SmallVec<[Value; 1]> = step.inputs[k..]
                    .iter()
                    .filter_map(|s| match s {
                        Src::Var(v) if step.writes.contains(v) => Some(vars[*v].clone()),
                        _ => None,
                    })
                    .collect();
                let mut taken: SmallVec<[Value; 4]> = step
                    .writes
                    .iter()
                    .map(|&v| std::mem::take(&mut vars[v]))
                    .collect();
                let r = {
                    let mut views: SmallVec<[ValueView; 6]> = SmallVec::new();
                    let mut c = 0;
                    for src in &step.inputs[k..] {
                        match src {
                            Src::Var(v) if step.writes.contains(v) => {
                                views.push(copies[c].view());
                                c += 1;
                            }
                            _ => views.push(view_of(
                                *src,
                                slots,
                                vars,
                                initialized,
                                &fed,
                                &plan.consts,
                                var_nodes,
                                graph,
                            )?),
                        }
                    }
                    // An initializer (TF1's `assign` with `validate_shape`) must give the
                    // variable a value of its declared type.
                    let fits = |v: &ValueView, info: &TensorInfo| {
                        v.dtype() == info.dtype && info.shape.admits(v.shape())
                    };
                    match views.first() {
                        Some(src) if step.initializes && !fits(src, &var_infos[step.writes[0]]) => {
                            Err(format!(
                                "cannot assign a value of shape {:?} ({}) to variable `{}` of shape {}",
                                src.shape(),
                                src.dtype(),
                                graph.node_name(var_nodes[step.writes[0]]),
                                var_infos[step.writes[0]]
                            ))
                        }
                        _ => {
                            let mut refs: SmallVec<[&mut Value; 4]> =
                                taken.iter_mut().collect();
                            step.op.def().update(&mut ctx, &mut refs, &views)
                        }
                    }
                };
                for (&v, val) in step.writes.iter().zip(taken.drain(..)) {
                    let ok = fits_info(&val, &var_infos[v]);
                    vars[v] = val;
                    if r.is_ok() {
                        // A write that broke the variable's type leaves it unreadable.
                        initialized[v] = ok;
                    }
                }
                if let Some(&v) = step.writes.iter().find(|&&v| r.is_ok() && !initialized[v]) {
                    return Err(runtime_error(
                        graph,
                        step.node,
                        &step.op,
                        format!(
                            "internal: the update left variable `{}` with {} {:?}, declared {}",
                            graph.node_name(var_nodes[v]),
                            vars[v].dtype(),
                            vars[v].shape(),
                            var_infos[v]
                        ),
                    ));
                }
                r.map_err(|reason| runtime_error(graph, step.node, &step.op, reason))?;
            }
            if let (Some(p), Some(t0)) = (prof.as_deref_mut(), t0) {
                let shape = step
                    .out
                    .map(|s| slots[s].shape().to_vec())
                    .unwrap_or_default();
                p.entries.push(ProfileEntry {
                    op: step.op.def().kind().to_string(),
                    name: graph.node_name(step.node),
                    shape,
                    micros: t0.elapsed().as_secs_f64() * 1e6,
                });
            }
        }
        let mut out = Vec::with_capacity(plan.fetch_srcs.len());
        for src in &plan.fetch_srcs {
            out.push(match src {
                Some(s) => Some(
                    view_of(
                        *s,
                        slots,
                        vars,
                        initialized,
                        &fed,
                        &plan.consts,
                        var_nodes,
                        graph,
                    )?
                    .to_owned(),
                ),
                None => None,
            });
        }
        Ok(Outputs(out))
    }

    /// The current value of variable `var`.
    pub fn variable_value(&self, var: Tensor<'g>) -> Result<&Value> {
        let k = self.var_index(var)?;
        if !self.initialized[k] {
            return Err(Error::UninitializedVariable {
                variable: var.name(),
            });
        }
        Ok(&self.vars[k])
    }

    /// Sets variable `var` (marks it initialized). The value must match its shape and dtype.
    pub fn set_variable(&mut self, var: Tensor<'g>, value: Value) -> Result<()> {
        let k = self.var_index(var)?;
        let info = var.info().expect("variables have an output");
        if value.dtype() != info.dtype || !info.shape.admits(value.shape()) {
            return Err(Error::FeedMismatch {
                node: var.name(),
                expected: info.shape.to_string(),
                expected_dtype: info.dtype.to_string(),
                got: format!("{:?}", value.shape()),
                got_dtype: value.dtype().to_string(),
            });
        }
        self.vars[k] = value;
        self.initialized[k] = true;
        Ok(())
    }

    /// Whether `var` holds a value in this session.
    pub fn is_initialized(&self, var: Tensor<'g>) -> Result<bool> {
        Ok(self.initialized[self.var_index(var)?])
    }

    fn var_index(&self, var: Tensor<'g>) -> Result<usize> {
        if var.graph().id() != self.graph.id() {
            return Err(Error::ForeignTensor {
                node: var.name(),
                context: "this session's graph".into(),
            });
        }
        self.var_of
            .get(&var.index())
            .copied()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` is not a variable", var.name())))
    }

    /// Number of compiled plans (one per distinct `(fetches, feed keys)` signature).
    pub fn num_plans(&self) -> usize {
        self.plans.len()
    }

    /// Number of kernels the plan for this signature runs (compiling it if needed): shows
    /// what pruning kept.
    pub fn plan_len(&mut self, fetches: &[Fetch<'g>], feeds: &[Feed<'g, '_>]) -> Result<usize> {
        let i = self.plan_index(fetches, feeds)?;
        Ok(self.plans[i].steps.len())
    }

    /// Names of the nodes the plan for this signature runs, in execution order.
    pub fn plan_nodes(
        &mut self,
        fetches: &[Fetch<'g>],
        feeds: &[Feed<'g, '_>],
    ) -> Result<Vec<String>> {
        let i = self.plan_index(fetches, feeds)?;
        Ok(self.plans[i]
            .steps
            .iter()
            .map(|s| self.graph.node_name(s.node))
            .collect())
    }
}

/// A hash of a run signature: fetches in order with their kind, then the sorted fed nodes.
/// A multiply-rotate fold (as rustc's FxHash): a few ns per run, where SipHash over the
/// same words would be a visible part of a small step. Collisions only cost a comparison.
fn signature_hash(fetches: &[Fetch<'_>], fed_sorted: &[NodeIndex]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, x: u64| (h.rotate_left(5) ^ x).wrapping_mul(K);
    let mut h = mix(0, fetches.len() as u64);
    for f in fetches {
        h = mix(
            h,
            (f.index().index() as u64) << 1 | matches!(f, Fetch::Tensor(_)) as u64,
        );
    }
    for n in fed_sorted {
        h = mix(h, n.index() as u64);
    }
    h
}

fn g_name(f: &Fetch<'_>) -> String {
    match f {
        Fetch::Tensor(t) => t.name(),
        Fetch::Op(o) => o.name(),
    }
}

fn numerics_error(
    g: &Graph,
    node: NodeIndex,
    op: &Op,
    found: &'static str,
    bad_input: Option<NodeIndex>,
) -> Error {
    let name = g.node_name(node);
    let mut message = "check_numerics (Session::set_check_numerics)".to_string();
    if let Some(d) = g.scope_description(&name) {
        message.push_str(" in ");
        message.push_str(&d);
    }
    Error::Numerics {
        node: name,
        op: op.def().kind(),
        found,
        bad_input: bad_input.map(|n| g.node_name(n)),
        message,
    }
}

/// Whether a value has a static type's dtype and an admitted shape.
fn fits_info(v: &Value, info: &TensorInfo) -> bool {
    v.dtype() == info.dtype && info.shape.admits(v.shape())
}

/// Allocates (fallibly) every slot of `plan` whose static shape is fully known, so that a
/// tensor too large for memory is an error naming the node that makes it (TF1's "OOM when
/// allocating tensor") instead of an abort. Done once, before the plan's first run.
fn reserve_slots(g: &Graph, plan: &mut Plan) -> Result<()> {
    for (slot, (info, step)) in plan.slots.iter_mut().zip(&plan.slot_types) {
        if let Some(dims) = info.shape.to_vec() {
            crate::graph::reserve(slot, info.dtype, &dims).map_err(|reason| {
                let st = &plan.steps[*step];
                runtime_error(g, st.node, &st.op, reason)
            })?;
        }
    }
    plan.reserved = true;
    Ok(())
}

fn runtime_error(g: &Graph, node: NodeIndex, op: &Op, reason: String) -> Error {
    Error::Runtime {
        node: g.node_name(node),
        op: op.def().kind().to_string(),
        reason,
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn view_of<'a, 'f>(
    src: Src,
    slots: &'a [Value],
    vars: &'a [Value],
    initialized: &[bool],
    fed: &'a [ValueView<'f>],
    consts: &'a [Value],
    var_nodes: &[NodeIndex],
    g: &Graph,
) -> Result<ValueView<'a>> {
    Ok(match src {
        Src::Slot(s) => slots[s].view(),
        Src::Var(v) => {
            if !initialized[v] {
                return Err(Error::UninitializedVariable {
                    variable: g.node_name(var_nodes[v]),
                });
            }
            vars[v].view()
        }
        Src::Feed(k) => fed[k].reborrow(),
        Src::Const(c) => consts[c].view(),
    })
}
