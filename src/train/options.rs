//! What every optimizer is configured with: its [`LearningRate`], the shared
//! [`OptimizerOptions`] (name, clipping, global step, frozen variables, learning-rate
//! multipliers, the slots made), and the [`UpdateRule`] naming its update kernel and slots.
//! [`NodeRef`] lets these graph-independent values remember graph nodes.

use super::slots::SlotRegistry;
use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Tensor};
use crate::ops::Op;
use petgraph::graph::NodeIndex;

/// A graph node remembered without borrowing its graph (optimizers are graph-independent
/// values); resolved, and checked to belong to the graph, when the optimizer is applied.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRef {
    graph: u64,
    node: NodeIndex,
    name: String,
}

impl NodeRef {
    pub(crate) fn new(t: Tensor<'_>) -> Self {
        NodeRef {
            graph: t.graph().id(),
            node: t.index(),
            name: t.name(),
        }
    }
    /// The tensor in `g`, or [`Error::ForeignTensor`] if it was taken from another graph.
    pub(crate) fn resolve<'g>(&self, g: &'g Graph, what: &str) -> Result<Tensor<'g>> {
        if self.graph != g.id() {
            return Err(Error::ForeignTensor {
                node: self.name.clone(),
                context: format!("the graph of the loss ({what})"),
            });
        }
        Ok(Tensor::from_index(g, self.node))
    }
    /// True if `t` is the remembered node.
    pub(crate) fn is(&self, t: Tensor<'_>) -> bool {
        self.graph == t.graph().id() && self.node == t.index()
    }
    /// The node as a scalar f32 tensor of `g` (`what` names it in errors).
    pub(crate) fn scalar_f32<'g>(&self, g: &'g Graph, what: &str) -> Result<Tensor<'g>> {
        let t = self.resolve(g, what)?;
        let info = t.check()?.info().expect("checked tensors have a type");
        if info.dtype != DType::F32 || info.shape.rank() != 0 {
            return Err(Error::InvalidArgument(format!(
                "{what} `{}` must be an f32 scalar, got {info}",
                t.name()
            )));
        }
        Ok(t)
    }
}

/// An optimizer's learning rate: a constant, or a scalar f32 tensor of the graph the
/// optimizer is applied in (e.g. [`super::exponential_decay`] of the global step).
#[derive(Clone, Debug, PartialEq)]
pub enum LearningRate {
    /// A fixed value, added to the graph as a constant.
    Constant(f32),
    /// A scalar f32 tensor, evaluated at every step.
    Tensor(NodeRef),
}

impl From<f32> for LearningRate {
    fn from(x: f32) -> Self {
        LearningRate::Constant(x)
    }
}

impl From<Tensor<'_>> for LearningRate {
    fn from(t: Tensor<'_>) -> Self {
        LearningRate::Tensor(NodeRef::new(t))
    }
}

impl LearningRate {
    /// The learning rate as a tensor of `g` (a new constant for [`LearningRate::Constant`]).
    pub fn tensor<'g>(&self, g: &'g Graph) -> Result<Tensor<'g>> {
        match self {
            LearningRate::Constant(x) => Ok(g.constant(*x).named("learning_rate")),
            LearningRate::Tensor(r) => r.scalar_f32(g, "learning rate"),
        }
    }
}

/// Options every optimizer has: name, learning rate, gradient clipping, global step, frozen
/// variables and learning-rate multipliers. Set them with the [`super::Optimizer`] builder methods
/// (`with_name`, `with_learning_rate`, `with_clip_norm`, `with_global_step`, `with_frozen`,
/// `with_lr_multiplier`). They also remember the slots made (see [`super::Optimizer::get_slot`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerOptions {
    /// The learning rate.
    pub learning_rate: LearningRate,
    /// If set, the gradients of one `minimize` call are clipped with
    /// [`super::clip_by_global_norm`] to this norm before being applied.
    pub clip_norm: Option<f32>,
    pub(super) global_step: Option<NodeRef>,
    pub(super) frozen: Vec<NodeRef>,
    pub(super) lr_multipliers: Vec<(NodeRef, f32)>,
    /// The name set by `with_name`, replacing the optimizer's default (`"Adam"`).
    pub name: Option<String>,
    pub(super) slots: SlotRegistry,
}

impl OptimizerOptions {
    /// Options with a learning rate, no clipping and no global step.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        OptimizerOptions {
            learning_rate: learning_rate.into(),
            clip_norm: None,
            global_step: None,
            frozen: Vec::new(),
            lr_multipliers: Vec::new(),
            name: None,
            slots: SlotRegistry::default(),
        }
    }

    pub(super) fn is_frozen(&self, v: Tensor<'_>) -> bool {
        self.frozen.iter().any(|r| r.is(v))
    }

    /// The learning-rate multiplier of `v` (the last one set for it), if any.
    pub(super) fn multiplier(&self, v: Tensor<'_>) -> Option<f32> {
        self.lr_multipliers
            .iter()
            .rev()
            .find(|(r, _)| r.is(v))
            .map(|(_, m)| *m)
    }
}

/// How an optimizer updates one variable: the update kernel (an `Apply*` op, taking
/// `(var, slots..., lr, non-slots..., grad)`) and the slots it keeps per variable.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateRule {
    /// The update op, e.g. [`crate::ops::apply::ApplyAdam`].
    pub op: Op,
    /// `(name, initial value)` of each slot, in the op's input order (e.g. `m`, `v`).
    pub slots: Vec<(&'static str, f32)>,
}
