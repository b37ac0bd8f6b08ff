//! Sources and state: placeholders, constants, variables with their initialisers, assignment
//! and grouping (no-op with control inputs).

use super::{expect_arity, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Graph, Operation, Shape, Tensor, TensorInfo, Value, ValueView};
use crate::init::Init;
use serde::{Deserialize, Serialize};

/// A value that must be fed at run time (TF1's `tf.placeholder`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placeholder {
    /// Declared element type.
    pub dtype: DType,
    /// Declared, possibly partially known, shape.
    pub shape: Shape,
}

impl OpDef for Placeholder {
    fn kind(&self) -> &'static str {
        "Placeholder"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        // Sources and no-ops take no data operands (a graph file may list some).
        expect_arity(i, 0)?;
        Ok(Some(TensorInfo::new(self.dtype, self.shape.clone())))
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err("placeholder was not fed".into())
    }
}

/// A mutable tensor whose value lives in the session (TF1's `tf.Variable`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Element type.
    pub dtype: DType,
    /// Fully known shape.
    pub shape: Vec<usize>,
    /// Whether `minimize` may update it (false for optimizer slots and step counters).
    pub trainable: bool,
}

impl OpDef for Variable {
    fn kind(&self) -> &'static str {
        "Variable"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 0)?;
        Ok(Some(TensorInfo::new(self.dtype, Shape::known(&self.shape))))
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err("internal: variables are read from the session's store".into())
    }
}

/// A constant value stored in the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Const {
    /// The value.
    #[serde(with = "crate::io::value_serde")]
    pub value: Value,
}

impl OpDef for Const {
    fn kind(&self) -> &'static str {
        "Const"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 0)?;
        Ok(Some(TensorInfo::new(
            self.value.dtype(),
            Shape::known(self.value.shape()),
        )))
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], out: &mut Value) -> Result<(), String> {
        out.assign_from(&self.value.view());
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![])
    }
}

/// Produces an initial value (zeros, random normal, glorot uniform, ...) from its own seed,
/// so re-running an initializer gives the same value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// What to produce.
    pub init: Init,
    /// Seed of this op's random stream (derived from the graph seed).
    pub seed: u64,
}

impl OpDef for Fill {
    fn kind(&self) -> &'static str {
        "Fill"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 0)?;
        self.init.validate()?;
        Ok(Some(TensorInfo::new(
            self.init.dtype,
            Shape::known(&self.init.shape),
        )))
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], out: &mut Value) -> Result<(), String> {
        *out = self.init.sample(self.seed)?;
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![])
    }
}

/// How [`Assign`] combines the new value with the old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignKind {
    /// `var = value`
    Set,
    /// `var += value`
    Add,
    /// `var -= value`
    Sub,
}

/// Writes a variable: inputs `(variable, value)`; run for effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assign {
    /// Set, add or subtract.
    pub kind: AssignKind,
}

impl OpDef for Assign {
    fn kind(&self) -> &'static str {
        match self.kind {
            AssignKind::Set => "Assign",
            AssignKind::Add => "AssignAdd",
            AssignKind::Sub => "AssignSub",
        }
    }
    fn takes_bool(&self) -> bool {
        self.kind == AssignKind::Set
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["variable", "value"])?;
        if i[0].dtype != i[1].dtype {
            return Err(format!(
                "dtype {} cannot be assigned to a {} variable",
                i[1].dtype, i[0].dtype
            ));
        }
        if !i[0].shape.compatible(&i[1].shape) {
            return Err(format!(
                "value shape {} differs from variable shape {}",
                i[1].shape, i[0].shape
            ));
        }
        Ok(None)
    }
    fn mutated_inputs(&self) -> usize {
        1
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err("internal: assign runs through update".into())
    }
    fn update(
        &self,
        _: &mut KernelCtx,
        vars: &mut [&mut Value],
        inputs: &[ValueView],
    ) -> Result<(), String> {
        let var = &mut *vars[0];
        let src = &inputs[0];
        if self.kind == AssignKind::Set {
            var.assign_from(src);
            return Ok(());
        }
        if var.shape() != src.shape() {
            return Err(format!(
                "value shape {:?} differs from variable shape {:?}",
                src.shape(),
                var.shape()
            ));
        }
        match (var, src) {
            (Value::F32(v), ValueView::F32(s)) if self.kind == AssignKind::Add => *v += s,
            (Value::F32(v), ValueView::F32(s)) => *v -= s,
            (Value::I64(v), ValueView::I64(s)) if self.kind == AssignKind::Add => *v += s,
            (Value::I64(v), ValueView::I64(s)) => *v -= s,
            _ => return Err("dtype mismatch".into()),
        }
        Ok(())
    }
}

/// Does nothing; with control inputs it groups ops (TF1's `tf.group`, `tf.no_op`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoOp;

impl OpDef for NoOp {
    fn kind(&self) -> &'static str {
        "NoOp"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 0)?;
        Ok(None)
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Ok(())
    }
}

impl Graph {
    /// An f32 placeholder with a partially known shape: `g.placeholder("x", &[None, Some(10)])`.
    pub fn placeholder(&self, name: &str, shape: impl Into<Shape>) -> Tensor<'_> {
        self.placeholder_typed(name, DType::F32, shape)
    }

    /// A placeholder of any dtype (use `DType::I64` for labels and word ids).
    pub fn placeholder_typed(
        &self,
        name: &str,
        dtype: DType,
        shape: impl Into<Shape>,
    ) -> Tensor<'_> {
        self.add_named(
            Placeholder {
                dtype,
                shape: shape.into(),
            },
            &[],
            Some(name),
        )
    }

    /// A constant.
    pub fn constant(&self, value: impl Into<Value>) -> Tensor<'_> {
        self.add(
            Const {
                value: value.into(),
            },
            &[],
        )
    }

    /// A trainable variable named `name` (inside the current scope), initialised by `init`
    /// when the initializer runs. The name is made unique (`w`, `w_1`, ...) on clashes.
    pub fn variable(&self, name: &str, init: Init) -> Tensor<'_> {
        self.variable_with(name, init, true)
    }

    /// A variable that optimizers never update unless named explicitly (slots, counters).
    pub fn non_trainable_variable(&self, name: &str, init: Init) -> Tensor<'_> {
        self.variable_with(name, init, false)
    }

    /// A local variable (TF1's `tf.local_variables()` member, e.g. a metric's counter): not
    /// trainable, not among [`global_variables`](Graph::global_variables) (so neither saved
    /// nor set by the global initializer), set by
    /// [`local_variables_initializer`](Graph::local_variables_initializer), and listed in
    /// the `LOCAL_VARIABLES` collection.
    pub fn local_variable(&self, name: &str, init: Init) -> Tensor<'_> {
        let (var, init_op) = self.variable_nodes(name, init, false);
        // A failed variable leaves a failed Assign, which the graph's build error reports;
        // a good one is this variable's own Assign, which registers.
        self.register_local_initializer(init_op).ok();
        var
    }

    fn variable_with(&self, name: &str, init: Init, trainable: bool) -> Tensor<'_> {
        let (var, init_op) = self.variable_nodes(name, init, trainable);
        self.register_initializer(init_op);
        var
    }

    /// The variable node and its `Assign` initializer, created outside any open
    /// `control_dependencies` block (as TF1's `init_scope`): initializing a variable never
    /// waits for the block's ops.
    fn variable_nodes(
        &self,
        name: &str,
        init: Init,
        trainable: bool,
    ) -> (Tensor<'_>, petgraph::graph::NodeIndex) {
        self.without_control_dependencies(|| self.variable_nodes_here(name, init, trainable))
    }

    fn variable_nodes_here(
        &self,
        name: &str,
        init: Init,
        trainable: bool,
    ) -> (Tensor<'_>, petgraph::graph::NodeIndex) {
        let var = self.add_named(
            Variable {
                dtype: init.dtype,
                shape: init.shape.clone(),
                trainable,
            },
            &[],
            Some(name),
        );
        // Initializer nodes live under the variable's own name (`w/initial_value`, `w/Assign`):
        // push only the part after the current scope, which is already open.
        let full = var.name();
        let local = full
            .strip_prefix(&self.current_scope())
            .unwrap_or(&full)
            .to_string();
        let _s = self.name_scope(&local);
        let seed = self.next_op_seed();
        let value = self.add_named(Fill { init, seed }, &[], Some("initial_value"));
        let op = self.add_op(
            Assign {
                kind: AssignKind::Set,
            },
            &[var, value],
            Some("Assign"),
        );
        (var, op.index())
    }
}

/// A scalar f32 constant.
pub fn scalar(g: &Graph, x: f32) -> Tensor<'_> {
    g.constant(x)
}

/// `var = value`, run for effect.
pub fn assign<'g>(var: Tensor<'g>, value: Tensor<'g>) -> Operation<'g> {
    var.graph().add_op(
        Assign {
            kind: AssignKind::Set,
        },
        &[var, value],
        None,
    )
}

/// `var += value`, run for effect.
pub fn assign_add<'g>(var: Tensor<'g>, value: Tensor<'g>) -> Operation<'g> {
    var.graph().add_op(
        Assign {
            kind: AssignKind::Add,
        },
        &[var, value],
        None,
    )
}

/// `var -= value`, run for effect.
pub fn assign_sub<'g>(var: Tensor<'g>, value: Tensor<'g>) -> Operation<'g> {
    var.graph().add_op(
        Assign {
            kind: AssignKind::Sub,
        },
        &[var, value],
        None,
    )
}

/// One op that runs all `ops` (TF1's `tf.group`).
pub fn group<'g>(g: &'g Graph, ops: &[Operation<'g>]) -> Operation<'g> {
    group_named(g, ops, "group_deps")
}

pub(crate) fn group_named<'g>(g: &'g Graph, ops: &[Operation<'g>], name: &str) -> Operation<'g> {
    let op = g.add_op(NoOp, &[], Some(name));
    if op.check().is_ok() {
        g.add_control_inputs(
            op.index(),
            &ops.iter().map(|o| o.index()).collect::<Vec<_>>(),
        );
    }
    op
}

/// An op that does nothing (TF1's `tf.no_op`).
pub fn no_op(g: &Graph) -> Operation<'_> {
    g.add_op(NoOp, &[], None)
}
