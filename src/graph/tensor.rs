//! Handles to graph nodes: `Tensor` (a node's output) and `Operation` (any node, including
//! those run only for effect), plus operator overloading on tensors.

use super::{Graph, Inner, Shape, TensorInfo};
use crate::error::{Error, Result};
use crate::graph::DType;
use petgraph::graph::NodeIndex;
use std::fmt;

/// A symbolic tensor: the output of one node of a [`Graph`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Tensor<'g> {
    graph: &'g Graph,
    index: NodeIndex,
}

/// Any node of a graph, e.g. a train op or an initializer, fetched to run it for effect.
#[derive(Clone, Copy)]
pub struct Operation<'g> {
    graph: &'g Graph,
    index: NodeIndex,
}

/// Something `Session::run` can be asked for: a tensor (its value is returned) or an
/// operation (run for effect).
#[derive(Clone, Copy, Debug)]
pub enum Fetch<'g> {
    /// Return this tensor's value.
    Tensor(Tensor<'g>),
    /// Run this operation.
    Op(Operation<'g>),
}

impl<'g> Fetch<'g> {
    /// The node behind the fetch.
    pub fn index(&self) -> NodeIndex {
        match self {
            Fetch::Tensor(t) => t.index(),
            Fetch::Op(o) => o.index(),
        }
    }
    /// The graph the node belongs to.
    pub fn graph(&self) -> &'g Graph {
        match self {
            Fetch::Tensor(t) => t.graph(),
            Fetch::Op(o) => o.graph(),
        }
    }
}

impl<'g> From<Tensor<'g>> for Fetch<'g> {
    fn from(t: Tensor<'g>) -> Self {
        Fetch::Tensor(t)
    }
}
impl<'g> From<Operation<'g>> for Fetch<'g> {
    fn from(o: Operation<'g>) -> Self {
        Fetch::Op(o)
    }
}
impl<'g> From<&Tensor<'g>> for Fetch<'g> {
    fn from(t: &Tensor<'g>) -> Self {
        Fetch::Tensor(*t)
    }
}
impl<'g> From<&Operation<'g>> for Fetch<'g> {
    fn from(o: &Operation<'g>) -> Self {
        Fetch::Op(*o)
    }
}

impl<'g> Tensor<'g> {
    pub(crate) fn from_index(graph: &'g Graph, index: NodeIndex) -> Self {
        Tensor { graph, index }
    }
    /// The graph this tensor lives in.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }
    /// The node index in the graph.
    pub fn index(&self) -> NodeIndex {
        self.index
    }
    /// The node's unique name, e.g. `shared/MatMul`.
    pub fn name(&self) -> String {
        self.graph.node_name(self.index)
    }
    pub(super) fn name_in(&self, inner: &Inner) -> String {
        inner.dag[self.index].name.clone()
    }
    /// Static type, if the node built (a failed node has none).
    pub fn info(&self) -> Option<TensorInfo> {
        self.graph.inner.borrow().dag[self.index].output.clone()
    }
    /// Static shape (empty rank-0 shape for a failed node).
    pub fn shape(&self) -> Shape {
        self.info().map(|i| i.shape).unwrap_or_default()
    }
    /// Element type (f32 for a failed node).
    pub fn dtype(&self) -> DType {
        self.info().map(|i| i.dtype).unwrap_or(DType::F32)
    }
    /// The node as an operation, e.g. to use as a control dependency.
    pub fn op(&self) -> Operation<'g> {
        Operation::from_index(self.graph, self.index)
    }
    /// `Ok(self)` if this tensor and everything it was built from built without error;
    /// otherwise the build error (e.g. the shape mismatch, naming both operands).
    pub fn check(self) -> Result<Self> {
        match &self.graph.inner.borrow().dag[self.index].error {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }
    /// Renames the node (within the scope it was created in) and returns it, like TF's
    /// `name=` argument: `matmul(x, w).named("logits")`.
    pub fn named(self, name: &str) -> Self {
        self.graph.rename(self.index, name);
        self
    }
}

impl<'g> Operation<'g> {
    pub(crate) fn from_index(graph: &'g Graph, index: NodeIndex) -> Self {
        Operation { graph, index }
    }
    /// The graph this operation lives in.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }
    /// The node index in the graph.
    pub fn index(&self) -> NodeIndex {
        self.index
    }
    /// The node's unique name.
    pub fn name(&self) -> String {
        self.graph.node_name(self.index)
    }
    /// `Ok(self)` if the node built; otherwise its build error.
    pub fn check(self) -> Result<Self> {
        match &self.graph.inner.borrow().dag[self.index].error {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }
}

impl fmt::Debug for Tensor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(i) => write!(f, "Tensor(\"{}\", {i})", self.name()),
            None => write!(f, "Tensor(\"{}\", failed)", self.name()),
        }
    }
}
impl fmt::Debug for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operation(\"{}\")", self.name())
    }
}
impl PartialEq for Tensor<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.graph.id() == o.graph.id() && self.index == o.index
    }
}
impl PartialEq for Operation<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.graph.id() == o.graph.id() && self.index == o.index
    }
}

/// Checks that all tensors belong to `graph`.
pub(crate) fn same_graph(graph: &Graph, ts: &[Tensor<'_>], context: &str) -> Result<()> {
    match ts.iter().find(|t| t.graph().id() != graph.id()) {
        Some(t) => Err(Error::ForeignTensor {
            node: t.name(),
            context: context.to_string(),
        }),
        None => Ok(()),
    }
}

macro_rules! binary_operator {
    ($tr:ident, $method:ident, $kind:ident) => {
        impl<'g> std::ops::$tr for Tensor<'g> {
            type Output = Tensor<'g>;
            fn $method(self, rhs: Tensor<'g>) -> Tensor<'g> {
                crate::ops::binary::binary(crate::ops::binary::BinaryKind::$kind, self, rhs)
            }
        }
        impl<'g> std::ops::$tr<f32> for Tensor<'g> {
            type Output = Tensor<'g>;
            fn $method(self, rhs: f32) -> Tensor<'g> {
                let c = crate::ops::state::scalar(self.graph(), rhs);
                crate::ops::binary::binary(crate::ops::binary::BinaryKind::$kind, self, c)
            }
        }
        impl<'g> std::ops::$tr<Tensor<'g>> for f32 {
            type Output = Tensor<'g>;
            fn $method(self, rhs: Tensor<'g>) -> Tensor<'g> {
                let c = crate::ops::state::scalar(rhs.graph(), self);
                crate::ops::binary::binary(crate::ops::binary::BinaryKind::$kind, c, rhs)
            }
        }
    };
}
binary_operator!(Add, add, Add);
binary_operator!(Sub, sub, Sub);
binary_operator!(Mul, mul, Mul);
binary_operator!(Div, div, Div);

impl<'g> std::ops::Neg for Tensor<'g> {
    type Output = Tensor<'g>;
    fn neg(self) -> Tensor<'g> {
        crate::ops::unary::neg(self)
    }
}
