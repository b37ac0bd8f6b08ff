//! Graph building: the `Graph` (a petgraph DAG of op nodes), tensor handles, static shapes and
//! dtypes, name scopes, control dependencies, and build-time shape inference.
//!
//! Building never computes anything. A build error (shape or dtype mismatch, a node added to
//! a frozen graph) is detected when the op is added and recorded on the node; it surfaces at
//! the first fallible call (`Tensor::check`, `gradients`, `minimize`, `Session::new`/`run`),
//! so that expressions like `y - relu(matmul(x, w))` stay free of `?`.

mod collections;
mod dtype;
mod names;
mod shape;
mod tensor;
mod value;

pub use collections::GraphKeys;
pub use dtype::DType;
pub use shape::{broadcast_dims, Dims, Shape};
pub(crate) use tensor::same_graph as same_graph_pub;
pub use tensor::{Fetch, Operation, Tensor};
pub(crate) use value::reserve;
pub use value::{Value, ValueView};

use crate::error::{Error, Result};
use crate::ops::Op;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::cell::{Ref, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

/// Static type of a tensor: dtype and (partially known) shape.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Static shape.
    pub shape: Shape,
}

impl TensorInfo {
    /// Builds an info from a dtype and anything convertible to a shape.
    pub fn new(dtype: DType, shape: impl Into<Shape>) -> Self {
        TensorInfo {
            dtype,
            shape: shape.into(),
        }
    }
}

impl std::fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.shape, self.dtype)
    }
}

/// One node: an op, its ordered inputs, control inputs and static output type.
#[derive(Clone, Debug)]
pub struct Node {
    /// Unique, scoped name, e.g. `shared/MatMul_1`.
    pub name: String,
    /// What the node computes.
    pub op: Op,
    /// Data inputs, in the op's order.
    pub inputs: Vec<NodeIndex>,
    /// Nodes that must run before this one although no data flows.
    pub control_inputs: Vec<NodeIndex>,
    /// The output's static type; `None` for ops run only for effect.
    pub output: Option<TensorInfo>,
    /// Set if the node failed to build.
    pub error: Option<Error>,
}

/// Kind of a petgraph edge: data input number `i`, or a control dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// Data flows into input slot `i` of the target.
    Data(usize),
    /// The target must run after the source.
    Control,
}

#[derive(Default)]
struct Inner {
    dag: DiGraph<Node, Edge>,
    names: names::Names,
    /// The open name scopes as a prefix, e.g. `"shared/dense/"` (empty at top level).
    prefix: String,
    /// Length of `prefix` before each open scope was pushed.
    scopes: Vec<usize>,
    /// Open `control_dependencies` blocks: their ops, and the name of an op from another
    /// graph if one was given (nodes created in the block then fail to build).
    control_deps: Vec<(Vec<NodeIndex>, Option<String>)>,
    first_error: Option<Error>,
    /// Nodes that failed to build, in creation order.
    failed: Vec<NodeIndex>,
    frozen: bool,
    seed: u64,
    variables: Vec<NodeIndex>,
    initializers: Vec<NodeIndex>,
    /// The `init` op and how many initializers it already runs.
    init_op: Option<(NodeIndex, usize)>,
    /// Local variables (TF1's `LOCAL_VARIABLES`: metric accumulators), kept out of
    /// `global_variables`, and their initializers, run by `local_init` only.
    locals: Vec<NodeIndex>,
    local_initializers: Vec<NodeIndex>,
    /// The `local_init` op and how many local initializers it already runs.
    local_init_op: Option<(NodeIndex, usize)>,
    /// `(scope prefix, description)` set by [`Graph::describe_current_scope`].
    scope_descriptions: Vec<(String, String)>,
    /// Named lists of tensors (see `collections.rs`), in creation order.
    collections: Vec<(String, Vec<NodeIndex>)>,
}

/// Picks one list of initializers and the state of the init op that runs them.
type InitsOf =
    for<'a> fn(&'a mut Inner) -> (&'a mut Vec<NodeIndex>, &'a mut Option<(NodeIndex, usize)>);

impl Inner {
    /// The global initializers and the `init` op.
    fn global_inits(&mut self) -> (&mut Vec<NodeIndex>, &mut Option<(NodeIndex, usize)>) {
        (&mut self.initializers, &mut self.init_op)
    }

    /// The local initializers and the `local_init` op.
    fn local_inits(&mut self) -> (&mut Vec<NodeIndex>, &mut Option<(NodeIndex, usize)>) {
        (&mut self.local_initializers, &mut self.local_init_op)
    }

    /// The node named `name`.
    fn index_of(&self, name: &str) -> Option<NodeIndex> {
        let dag = &self.dag;
        self.names.get(name, |i| dag[i].name.as_str())
    }

    /// `base` made unique in this graph: `base`, else `base_1`, `base_2`, ...
    fn unique_name(&mut self, base: String) -> String {
        let Inner { names, dag, .. } = self;
        names.unique_name(base, |i| dag[i].name.as_str())
    }
}

static GRAPH_IDS: AtomicU64 = AtomicU64::new(1);

/// A static computation graph. Tensors borrow it (`Tensor<'g>`), so building only needs `&Graph`.
pub struct Graph {
    id: u64,
    inner: RefCell<Inner>,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Graph({} nodes)", self.len())
    }
}

impl Graph {
    /// An empty graph with graph-level seed 0.
    pub fn new() -> Self {
        Graph {
            id: GRAPH_IDS.fetch_add(1, Ordering::Relaxed),
            inner: RefCell::new(Inner::default()),
        }
    }

    /// An empty graph whose random initialisers and random ops derive from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let g = Self::new();
        g.inner.borrow_mut().seed = seed;
        g
    }

    /// The graph-level seed.
    pub fn seed(&self) -> u64 {
        self.inner.borrow().seed
    }

    /// Sets the graph-level seed (TF1's `tf.set_random_seed`); affects ops created afterwards.
    pub fn set_seed(&self, seed: u64) {
        self.inner.borrow_mut().seed = seed;
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.inner.borrow().dag.node_count()
    }

    /// True if the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Identity used to detect tensors from other graphs.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Read access to the underlying petgraph DAG (for planners, exporters, autodiff).
    pub fn dag(&self) -> Ref<'_, DiGraph<Node, Edge>> {
        Ref::map(self.inner.borrow(), |i| &i.dag)
    }

    /// A copy of node `i`.
    pub fn node(&self, i: NodeIndex) -> Node {
        self.inner.borrow().dag[i].clone()
    }

    /// Node `i`'s data inputs and a copy of its op, without copying the rest of the node.
    pub(crate) fn op_and_inputs(&self, i: NodeIndex) -> (Op, Vec<NodeIndex>) {
        let inner = self.inner.borrow();
        let n = &inner.dag[i];
        (n.op.clone(), n.inputs.clone())
    }

    /// Whether node `i` is a variable (without copying its op).
    pub(crate) fn is_variable(&self, i: NodeIndex) -> bool {
        matches!(self.inner.borrow().dag[i].op, Op::Variable(_))
    }

    /// The op of node `i`.
    pub(crate) fn op(&self, i: NodeIndex) -> Op {
        self.inner.borrow().dag[i].op.clone()
    }

    /// The name of node `i`.
    pub fn node_name(&self, i: NodeIndex) -> String {
        self.inner.borrow().dag[i].name.clone()
    }

    /// The first build error recorded in this graph, if any. O(1): the error is kept when
    /// the failing node is added.
    pub fn check(&self) -> Result<()> {
        match &self.inner.borrow().first_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The first build error of a node created at index `start` or later, if any (e.g. of
    /// the nodes one `gradients` call added). O(log n).
    pub(crate) fn check_since(&self, start: usize) -> Result<()> {
        let inner = self.inner.borrow();
        let k = inner.failed.partition_point(|n| n.index() < start);
        match inner.failed.get(k) {
            Some(&n) => Err(inner.dag[n]
                .error
                .clone()
                .expect("failed nodes have an error")),
            None => Ok(()),
        }
    }

    /// Looks a tensor up by its node name.
    pub fn tensor_by_name(&self, name: &str) -> Option<Tensor<'_>> {
        let inner = self.inner.borrow();
        let i = inner.index_of(name)?;
        inner.dag[i].output.as_ref()?;
        Some(Tensor::from_index(self, i))
    }

    /// Looks an operation (any node) up by name.
    pub fn operation_by_name(&self, name: &str) -> Option<Operation<'_>> {
        let i = self.inner.borrow().index_of(name)?;
        Some(Operation::from_index(self, i))
    }

    /// The global variables (every variable but the [local](Graph::local_variable) ones), in
    /// creation order: what [`Saver`](crate::train::Saver) saves and
    /// [`global_variables_initializer`](Graph::global_variables_initializer) initialises.
    pub fn global_variables(&self) -> Vec<Tensor<'_>> {
        let inner = self.inner.borrow();
        inner
            .variables
            .iter()
            .filter(|i| !inner.locals.contains(i))
            .map(|&i| Tensor::from_index(self, i))
            .collect()
    }

    /// The local variables (TF1's `tf.local_variables()`: the streaming metrics'
    /// accumulators), in creation order. They are neither saved nor initialised by
    /// [`global_variables_initializer`](Graph::global_variables_initializer): run
    /// [`local_variables_initializer`](Graph::local_variables_initializer) to (re)set them.
    pub fn local_variables(&self) -> Vec<Tensor<'_>> {
        let inner = self.inner.borrow();
        inner
            .locals
            .iter()
            .map(|&i| Tensor::from_index(self, i))
            .collect()
    }

    /// One op that (re)initialises every local variable (TF1's
    /// `local_variables_initializer`): run it before streaming metrics over a dataset, and
    /// again to reset them. There is one such op per graph, covering every local variable
    /// created before the first session on this graph (a no-op if there are none).
    pub fn local_variables_initializer(&self) -> Operation<'_> {
        self.covering_init_op("local_init", Inner::local_inits)
    }

    /// Trainable variables, in creation order.
    pub fn trainable_variables(&self) -> Vec<Tensor<'_>> {
        let inner = self.inner.borrow();
        inner
            .variables
            .iter()
            .filter(|&&i| matches!(inner.dag[i].op, Op::Variable(ref var) if var.trainable))
            .map(|&i| Tensor::from_index(self, i))
            .collect()
    }

    /// One op that runs every variable's initializer (TF1's `global_variables_initializer`).
    /// There is one such op per graph; it covers every variable created so far.
    pub fn global_variables_initializer(&self) -> Operation<'_> {
        self.covering_init_op("init", Inner::global_inits)
    }

    /// The init op named `name` over the initializers `inits` picks: created at top level
    /// on first use (a failing node once the graph is frozen), then extended with the
    /// initializers registered since.
    fn covering_init_op(&self, name: &str, inits: InitsOf) -> Operation<'_> {
        let (existing, frozen) = {
            let mut inner = self.inner.borrow_mut();
            (*inits(&mut inner).1, inner.frozen)
        };
        let (op, attached) = match existing {
            Some(x) => x,
            None if frozen => return self.add_op(crate::ops::state::NoOp, &[], Some(name)),
            None => {
                let _top = self.top_level();
                let op = self.add_op(crate::ops::state::NoOp, &[], Some(name));
                (op.index(), 0)
            }
        };
        let new: Vec<NodeIndex> = inits(&mut self.inner.borrow_mut()).0[attached..].to_vec();
        self.add_control_inputs(op, &new);
        *inits(&mut self.inner.borrow_mut()).1 = Some((op, attached + new.len()));
        Operation::from_index(self, op)
    }

    /// Temporarily leaves all name scopes (restored when the guard drops).
    pub(crate) fn top_level(&self) -> TopLevelGuard<'_> {
        let mut inner = self.inner.borrow_mut();
        let saved = (
            std::mem::take(&mut inner.prefix),
            std::mem::take(&mut inner.scopes),
        );
        TopLevelGuard { graph: self, saved }
    }

    /// Runs `f` outside every open [`Graph::control_dependencies`] block (TF1's
    /// `control_dependencies(None)`, as its `init_scope` does for variables): variables and
    /// their initializers created in a block, such as optimizer slots under the
    /// `UPDATE_OPS` pattern, must not wait for the block's ops.
    pub(crate) fn without_control_dependencies<T>(&self, f: impl FnOnce() -> T) -> T {
        let saved = std::mem::take(&mut self.inner.borrow_mut().control_deps);
        let out = f();
        self.inner.borrow_mut().control_deps = saved;
        out
    }

    /// Opens a name scope: nodes created while the guard lives get `name/` in front of their
    /// names. Scopes nest.
    pub fn name_scope(&self, name: &str) -> ScopeGuard<'_> {
        let mut inner = self.inner.borrow_mut();
        let len = inner.prefix.len();
        inner.scopes.push(len);
        inner.prefix.push_str(name.trim_end_matches('/'));
        inner.prefix.push('/');
        ScopeGuard { graph: self }
    }

    /// Runs `f` inside name scope `name`.
    pub fn with_scope<T>(&self, name: &str, f: impl FnOnce() -> T) -> T {
        let _guard = self.name_scope(name);
        f()
    }

    /// Nodes created while the guard lives run only after `ops` (TF1's `control_dependencies`).
    /// An op of another graph makes every node created in the block a build error
    /// ([`Error::ForeignTensor`]).
    pub fn control_dependencies(&self, ops: &[Operation<'_>]) -> ControlGuard<'_> {
        let foreign = ops
            .iter()
            .find(|o| o.graph().id() != self.id)
            .map(|o| o.name());
        let ids = ops
            .iter()
            .filter(|o| o.graph().id() == self.id)
            .map(|o| o.index())
            .collect();
        self.inner.borrow_mut().control_deps.push((ids, foreign));
        ControlGuard { graph: self }
    }

    /// The current scope prefix, e.g. `"shared/dense/"` (empty at top level).
    pub fn current_scope(&self) -> String {
        self.inner.borrow().prefix.clone()
    }

    /// Describes the current name scope in words (e.g. "the gradient of task `pos`"): a
    /// numeric check that fails on a node inside it ([`crate::Session::set_check_numerics`])
    /// says so in its error. Kept in memory only (graph files do not hold it); at top level
    /// it does nothing.
    pub fn describe_current_scope(&self, description: &str) {
        let mut inner = self.inner.borrow_mut();
        if !inner.prefix.is_empty() {
            let prefix = inner.prefix.clone();
            inner
                .scope_descriptions
                .push((prefix, description.to_string()));
        }
    }

    /// The description of the innermost described scope holding the node called `name` (see
    /// [`Graph::describe_current_scope`]).
    pub fn scope_description(&self, name: &str) -> Option<String> {
        let inner = self.inner.borrow();
        inner
            .scope_descriptions
            .iter()
            .filter(|(p, _)| name.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, d)| d.clone())
    }

    /// A scope name based on `base` that no node uses yet (neither as a node name nor as a
    /// scope) inside the current scope: `base`, else `base_1`, ... Amortised O(1).
    pub fn unique_scope(&self, base: &str) -> String {
        let mut inner = self.inner.borrow_mut();
        let Inner {
            names, dag, prefix, ..
        } = &mut *inner;
        let full = names.unique_scope(format!("{prefix}{base}"), |i| dag[i].name.as_str());
        full[prefix.len()..].to_string()
    }

    /// How many candidate names the name allocator has looked up in this graph (a name that
    /// is free costs one look-up; `base_k` costs amortised O(1), not k).
    #[doc(hidden)]
    pub fn name_probes(&self) -> u64 {
        self.inner.borrow().names.probes()
    }

    /// Adds a node. `name` is the node's name inside the current scope (default: the op kind).
    /// Inference errors are recorded on the node and in the graph and returned as `Err` with
    /// the node's index, so callers can still hand out a (poisoned) tensor.
    pub(crate) fn add_node(
        &self,
        op: Op,
        inputs: &[Tensor<'_>],
        name: Option<&str>,
    ) -> std::result::Result<NodeIndex, NodeIndex> {
        let def_kind = op.def().kind();
        let full_name = {
            let mut inner = self.inner.borrow_mut();
            let base = format!("{}{}", inner.prefix, name.unwrap_or(def_kind));
            inner.unique_name(base)
        };
        let mut error = None;
        if self.inner.borrow().frozen {
            error = Some(Error::GraphFrozen {
                node: full_name.clone(),
            });
        }
        if error.is_none() {
            if let Some(t) = inputs.iter().find(|t| t.graph().id() != self.id) {
                error = Some(Error::ForeignTensor {
                    node: t.name(),
                    context: format!("the graph of new node `{full_name}`"),
                });
            }
        }
        if error.is_none() {
            let inner = self.inner.borrow();
            if let Some(name) = inner.control_deps.iter().find_map(|(_, f)| f.as_ref()) {
                error = Some(Error::ForeignTensor {
                    node: name.clone(),
                    context: format!("the graph of new node `{full_name}` (a control dependency)"),
                });
            }
        }
        let inner = self.inner.borrow();
        if error.is_none() {
            if let Some(t) = inputs.iter().find(|t| inner.dag[t.index()].error.is_some()) {
                error = Some(Error::PoisonedInput {
                    node: full_name.clone(),
                    input: t.name_in(&inner),
                    cause: inner.dag[t.index()]
                        .error
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                });
            }
        }
        let mut output = None;
        if error.is_none() {
            // Inputs are of this graph and built (checked above), so each has its info,
            // except ops run only for effect, which are no operands.
            let infos: Option<smallvec::SmallVec<[&TensorInfo; 4]>> = inputs
                .iter()
                .map(|t| inner.dag[t.index()].output.as_ref())
                .collect();
            let result = match &infos {
                Some(refs)
                    if refs.iter().any(|i| i.dtype == DType::Bytes) && !op.def().takes_bytes() =>
                {
                    Err(
                        "bytes (summary) operands are read only by summary ops such as merge"
                            .to_string(),
                    )
                }
                Some(refs)
                    if refs.iter().any(|i| i.dtype == DType::Bool) && !op.def().takes_bool() =>
                {
                    Err(format!(
                        "{} takes no bool operands (cast them to f32 or i64 first)",
                        def_kind
                    ))
                }
                // Every op's output is checked to fit in memory here, once, so that no shape
                // rule or kernel overflows multiplying its known dimensions.
                Some(refs) => op.def().infer(refs).and_then(|o| match o {
                    Some(info) => info
                        .shape
                        .check_size(info.dtype.size())
                        .map(|()| Some(info)),
                    None => Ok(None),
                }),
                None => Err("an operand is an operation without a value".to_string()),
            };
            match result {
                Ok(o) => output = o,
                Err(reason) => {
                    error = Some(Error::Shape {
                        op: def_kind.to_string(),
                        node: full_name.clone(),
                        operands: inputs
                            .iter()
                            .map(|t| {
                                let n = &inner.dag[t.index()];
                                let info = n.output.as_ref().map(|i| i.to_string());
                                (n.name.clone(), info.unwrap_or_default())
                            })
                            .collect(),
                        reason,
                    })
                }
            }
        }
        drop(inner);
        let mut inner = self.inner.borrow_mut();
        let control_inputs: Vec<NodeIndex> = inner
            .control_deps
            .iter()
            .flat_map(|(ids, _)| ids)
            .copied()
            .collect();
        let failed = error.is_some();
        if let (Some(e), None) = (&error, &inner.first_error) {
            inner.first_error = Some(e.clone());
        }
        let is_var = matches!(op, Op::Variable(_));
        let node = Node {
            name: full_name,
            op,
            inputs: if failed {
                vec![]
            } else {
                inputs.iter().map(|t| t.index()).collect()
            },
            control_inputs: if failed {
                vec![]
            } else {
                control_inputs.clone()
            },
            output,
            error,
        };
        let idx = inner.dag.add_node(node);
        let Inner { names, dag, .. } = &mut *inner;
        names.insert(&dag[idx].name, idx);
        if failed {
            inner.failed.push(idx);
            return Err(idx);
        }
        for (k, t) in inputs.iter().enumerate() {
            inner.dag.add_edge(t.index(), idx, Edge::Data(k));
        }
        for c in control_inputs {
            inner.dag.add_edge(c, idx, Edge::Control);
        }
        if is_var {
            inner.variables.push(idx);
        }
        Ok(idx)
    }

    /// Adds a node with an output and returns its tensor (poisoned on a build error).
    pub(crate) fn add<'g>(&'g self, op: impl Into<Op>, inputs: &[Tensor<'g>]) -> Tensor<'g> {
        self.add_named(op, inputs, None)
    }

    /// Like [`Graph::add`] with an explicit node name inside the current scope.
    pub(crate) fn add_named<'g>(
        &'g self,
        op: impl Into<Op>,
        inputs: &[Tensor<'g>],
        name: Option<&str>,
    ) -> Tensor<'g> {
        let idx = self.add_node(op.into(), inputs, name).unwrap_or_else(|i| i);
        Tensor::from_index(self, idx)
    }

    /// Adds a node run only for effect and returns its operation handle.
    pub(crate) fn add_op<'g>(
        &'g self,
        op: impl Into<Op>,
        inputs: &[Tensor<'g>],
        name: Option<&str>,
    ) -> Operation<'g> {
        let idx = self.add_node(op.into(), inputs, name).unwrap_or_else(|i| i);
        Operation::from_index(self, idx)
    }

    /// Adds control edges `from -> to` after the fact (used by `group`).
    pub(crate) fn add_control_inputs(&self, to: NodeIndex, from: &[NodeIndex]) {
        let mut inner = self.inner.borrow_mut();
        for &f in from {
            inner.dag[to].control_inputs.push(f);
            inner.dag.add_edge(f, to, Edge::Control);
        }
    }

    /// Registers `op` as the initializer of a variable.
    pub(crate) fn register_initializer(&self, op: NodeIndex) {
        self.inner.borrow_mut().initializers.push(op);
    }

    /// Registers `op` (an `Assign` whose first input is a variable) as the initializer of a
    /// local variable, which leaves the global variables and joins `LOCAL_VARIABLES`.
    /// Errors (for graph files) if `op` is not such an assignment.
    pub(crate) fn register_local_initializer(&self, op: NodeIndex) -> Result<()> {
        let var = {
            let inner = self.inner.borrow();
            let n = &inner.dag[op];
            match (&n.op, n.inputs.first()) {
                (Op::Assign(_), Some(&v)) if matches!(inner.dag[v].op, Op::Variable(_)) => v,
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "`{}` is not the assignment of a variable, so it cannot initialise a local variable",
                        n.name
                    )))
                }
            }
        };
        {
            let mut inner = self.inner.borrow_mut();
            inner.local_initializers.push(op);
            if !inner.locals.contains(&var) {
                inner.locals.push(var);
            }
        }
        self.add_to_collection(GraphKeys::LOCAL_VARIABLES, Tensor::from_index(self, var));
        Ok(())
    }

    /// Local initializer ops, in registration order (for graph files).
    pub(crate) fn local_initializer_indices(&self) -> Vec<NodeIndex> {
        self.inner.borrow().local_initializers.clone()
    }

    /// The `local_init` op and how many local initializers it covers (for graph files).
    pub(crate) fn local_init_op_state(&self) -> Option<(NodeIndex, usize)> {
        self.inner.borrow().local_init_op
    }

    /// Restores the `local_init` op of a graph read from a file.
    pub(crate) fn set_local_init_op_state(&self, op: NodeIndex, covers: usize) {
        self.inner.borrow_mut().local_init_op = Some((op, covers));
    }

    /// Renames node `i` to `name` inside the scope it was created in (made unique).
    pub(crate) fn rename(&self, i: NodeIndex, name: &str) {
        let mut inner = self.inner.borrow_mut();
        let old = &inner.dag[i].name;
        let scope = match old.rfind('/') {
            Some(p) => &old[..=p],
            None => "",
        };
        let base = format!("{scope}{name}");
        let new = inner.unique_name(base);
        let old = std::mem::replace(&mut inner.dag[i].name, new);
        let Inner { names, dag, .. } = &mut *inner;
        names.remove(&old, i);
        names.insert(&dag[i].name, i);
    }

    /// Adds a node with an exact (already scoped, unique) name and inputs given by index, for
    /// the graph-file reader. Goes through [`Graph::add_node`], so shapes are re-inferred and
    /// checked; a build error is returned as the node's error.
    pub(crate) fn add_node_exact(
        &self,
        op: Op,
        inputs: &[NodeIndex],
        name: &str,
    ) -> std::result::Result<NodeIndex, Error> {
        let _top = self.top_level();
        let ts: Vec<Tensor<'_>> = inputs
            .iter()
            .map(|&i| Tensor::from_index(self, i))
            .collect();
        match self.add_node(op, &ts, Some(name)) {
            Ok(i) => Ok(i),
            Err(i) => Err(self.inner.borrow().dag[i]
                .error
                .clone()
                .expect("failed node has an error")),
        }
    }

    /// Initializer ops, in registration order (for graph files).
    pub(crate) fn initializer_indices(&self) -> Vec<NodeIndex> {
        self.inner.borrow().initializers.clone()
    }

    /// The `init` op and how many initializers it covers, if it was created (for graph files).
    pub(crate) fn init_op_state(&self) -> Option<(NodeIndex, usize)> {
        self.inner.borrow().init_op
    }

    /// Restores the `init` op of a graph read from a file.
    pub(crate) fn set_init_op_state(&self, op: NodeIndex, covers: usize) {
        self.inner.borrow_mut().init_op = Some((op, covers));
    }

    /// Freezes the graph: later node additions become build errors.
    pub(crate) fn freeze(&self) {
        if self.inner.borrow().frozen {
            return;
        }
        self.global_variables_initializer();
        if !self.inner.borrow().locals.is_empty() {
            self.local_variables_initializer();
        }
        self.inner.borrow_mut().frozen = true;
    }

    /// Index of the variable node among all variables (its slot in a session's store).
    pub(crate) fn variable_indices(&self) -> Vec<NodeIndex> {
        self.inner.borrow().variables.clone()
    }

    /// A seed for a new random op: mixes the graph seed with the node count, so each random
    /// op gets its own, reproducible stream.
    pub(crate) fn next_op_seed(&self) -> u64 {
        let inner = self.inner.borrow();
        let mut z =
            inner.seed ^ (inner.dag.node_count() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // splitmix64 finaliser
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Closes a name scope when dropped. See [`Graph::name_scope`].
pub struct ScopeGuard<'g> {
    graph: &'g Graph,
}
impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        let mut inner = self.graph.inner.borrow_mut();
        if let Some(len) = inner.scopes.pop() {
            inner.prefix.truncate(len);
        }
    }
}

pub(crate) struct TopLevelGuard<'g> {
    graph: &'g Graph,
    saved: (String, Vec<usize>),
}
impl Drop for TopLevelGuard<'_> {
    fn drop(&mut self) {
        let mut inner = self.graph.inner.borrow_mut();
        inner.prefix = std::mem::take(&mut self.saved.0);
        inner.scopes = std::mem::take(&mut self.saved.1);
    }
}

/// Ends a control-dependency block when dropped. See [`Graph::control_dependencies`].
pub struct ControlGuard<'g> {
    graph: &'g Graph,
}
impl Drop for ControlGuard<'_> {
    fn drop(&mut self) {
        self.graph.inner.borrow_mut().control_deps.pop();
    }
}
