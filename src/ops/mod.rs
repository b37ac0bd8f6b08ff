//! The op set. One op is one small type holding its attributes; its [`OpDef`] impl puts the
//! shape rule, the forward kernel and the gradient (written with graph ops) side by side.
//!
//! `Op` is plain data (serde), so a graph can be written to a file and read back. Public
//! builder functions (`matmul`, `relu`, `reduce_mean`, ...) live next to their op and are
//! re-exported from the crate root.

use crate::graph::{Graph, Tensor, TensorInfo, Value, ValueView};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

pub mod aggregate;
pub mod apply;
pub mod array;
pub mod binary;
pub mod collective;
pub mod compare;
pub mod concat;
pub mod conv;
pub mod debug;
pub mod div_no_nan;
pub mod fill;
pub mod gather;
pub mod gemm;
pub mod init;
pub mod leaky_relu;
pub mod logic;
pub mod lstm;
pub mod matmul;
pub mod nn;
pub mod norm;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod remap;
pub mod scan;
pub mod scatter;
pub mod schedule;
mod scratch;
pub mod select;
pub mod sequence;
pub mod sigmoid_xent;
mod simd;
pub mod split;
pub mod state;
pub mod unary;
pub mod unary_grad;
pub mod weights;

/// What a kernel may use besides its inputs.
pub struct KernelCtx<'a> {
    /// The session's random generator (seeded from the graph seed), for random ops.
    pub rng: &'a mut StdRng,
}

/// What a gradient rule sees: the forward node and the gradient flowing into its output.
pub struct GradCtx<'g> {
    /// The graph gradient ops are added to.
    pub graph: &'g Graph,
    /// The forward node's inputs, in order.
    pub inputs: Vec<Tensor<'g>>,
    /// The forward node's output.
    pub output: Tensor<'g>,
    /// d(ys)/d(output), same shape as the output.
    pub dy: Tensor<'g>,
}

/// The gradient rule's answer: one entry per input (`None`: no gradient flows there), or
/// `Err(())` if the op has no gradient at all.
pub type GradResult<'g> = Result<Vec<Option<Tensor<'g>>>, NoGradient>;

/// Marker: this op has no gradient rule.
#[derive(Debug, Clone, Copy)]
pub struct NoGradient;

/// The behaviour of one op kind.
pub trait OpDef {
    /// The op kind's name, e.g. `"MatMul"`; also the default node name.
    fn kind(&self) -> &'static str;
    /// Build-time shape and dtype rule: the output's info, `None` for ops run only for their
    /// effect, or a message saying what is wrong with the operands.
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<Option<TensorInfo>, String>;
    /// Forward kernel: writes the output into `out`, reusing its buffer.
    fn compute(
        &self,
        ctx: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String>;
    /// Gradient rule, written with graph ops.
    fn gradient<'g>(&self, _ctx: &GradCtx<'g>) -> GradResult<'g> {
        Err(NoGradient)
    }
    /// How many leading inputs are variables this op writes (assign, optimizer updates).
    fn mutated_inputs(&self) -> usize {
        0
    }
    /// Kernel for ops that write variables: `vars` are the first `mutated_inputs()` inputs,
    /// `inputs` the rest.
    fn update(
        &self,
        _ctx: &mut KernelCtx,
        _vars: &mut [&mut Value],
        _inputs: &[ValueView],
    ) -> Result<(), String> {
        Err("internal: op writes no variables".into())
    }
    /// True for ops whose every run draws new random numbers or reads outside state, which
    /// must never be merged or cached.
    fn is_stateful(&self) -> bool {
        self.mutated_inputs() > 0
    }
    /// True for the few ops (summary merging) that accept bytes operands; the graph rejects
    /// bytes operands of every other op when it is added.
    fn takes_bytes(&self) -> bool {
        false
    }
    /// True for the ops that accept bool operands: comparisons, logic ops, `where`, `cast`
    /// and the ops that only move elements (reshape, transpose, concat, slice, gather, ...).
    /// The graph rejects bool operands of every other op when it is added, as TF1 has no
    /// arithmetic on bool.
    fn takes_bool(&self) -> bool {
        false
    }
}

macro_rules! op_set {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every op kind, as serialisable data.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "op", content = "attrs")]
        pub enum Op { $(#[doc = concat!("See [`", stringify!($ty), "`].")] $variant($ty)),* }
        impl Op {
            /// The op's behaviour.
            pub fn def(&self) -> &dyn OpDef {
                match self { $(Op::$variant(o) => o),* }
            }
        }
        $(impl From<$ty> for Op { fn from(o: $ty) -> Op { Op::$variant(o) } })*
    };
}

op_set! {
    Placeholder(state::Placeholder),
    Variable(state::Variable),
    Const(state::Const),
    Fill(state::Fill),
    Assign(state::Assign),
    NoOp(state::NoOp),
    Unary(unary::Unary),
    Binary(binary::Binary),
    MatMul(matmul::MatMul),
    Reduce(reduce::Reduce),
    ReduceToShapeOf(reduce::ReduceToShapeOf),
    BroadcastLike(reduce::BroadcastLike),
    L2Loss(reduce::L2Loss),
    ApplyGradientDescent(apply::ApplyGradientDescent),
    LstmForward(lstm::LstmForward),
    LstmOutput(lstm::LstmOutput),
    LstmOutputGrad(lstm::LstmOutputGrad),
    LstmBackward(lstm::LstmBackward),
    LstmGradPart(lstm::LstmGradPart),
    LstmFinalState(lstm::LstmFinalState),
    LstmFinalStateGrad(lstm::LstmFinalStateGrad),
    Conv2D(conv::Conv2D),
    Conv2DBiasAct(conv::Conv2DBiasAct),
    Conv2DBackpropInput(conv::Conv2DBackpropInput),
    Conv2DBackpropFilter(conv::Conv2DBackpropFilter),
    BiasAdd(conv::BiasAdd),
    BiasAddGrad(conv::BiasAddGrad),
    ReluGradPar(conv::ReluGradPar),
    Invalid(conv::Invalid),
    MaxPool(pool::MaxPool),
    MaxPoolGrad(pool::MaxPoolGrad),
    Reshape(array::Reshape),
    Flatten(array::Flatten),
    ExpandDims(array::ExpandDims),
    Squeeze(array::Squeeze),
    ReshapeLike(array::ReshapeLike),
    Transpose(array::Transpose),
    Cast(array::Cast),
    AddN(array::AddN),
    Concat(concat::Concat),
    ConcatPart(concat::ConcatPart),
    Slice(concat::Slice),
    SliceGrad(concat::SliceGrad),
    Gather(gather::Gather),
    GatherGrad(gather::GatherGrad),
    OneHot(gather::OneHot),
    ArgMax(gather::ArgMax),
    Softmax(nn::Softmax),
    SoftmaxCrossEntropyWithLogits(nn::SoftmaxCrossEntropyWithLogits),
    SparseSoftmaxCrossEntropyWithLogits(nn::SparseSoftmaxCrossEntropyWithLogits),
    SparseXentGrad(nn::SparseXentGrad),
    DropoutMask(random::DropoutMask),
    StatelessRandomNormal(random::StatelessRandomNormal),
    ApplyMomentum(apply::ApplyMomentum),
    ApplyAdam(apply::ApplyAdam),
    ApplyAdagrad(apply::ApplyAdagrad),
    ApplyRMSProp(apply::ApplyRMSProp),
    ApplyAdadelta(apply::ApplyAdadelta),
    ApplyFtrl(apply::ApplyFtrl),
    ApplyAdamScheduled(apply::ApplyAdamScheduled),
    ApplyAdamW(apply::ApplyAdamW),
    ApplyMomentumScheduled(apply::ApplyMomentumScheduled),
    StepSchedule(schedule::StepSchedule),
    Print(debug::Print),
    CheckNumerics(debug::CheckNumerics),
    AllreduceFused(collective::AllreduceFused),
    FusedPart(collective::FusedPart),
    Gram(aggregate::Gram),
    GramNorms(aggregate::GramNorms),
    GramCosine(aggregate::GramCosine),
    Combine(aggregate::Combine),
    AggregateWeights(aggregate::AggregateWeights),
    GradVacUpdate(aggregate::GradVacUpdate),
    UnaryGrad(unary_grad::UnaryGrad),
    LeakyRelu(leaky_relu::LeakyRelu),
    LeakyReluGrad(leaky_relu::LeakyReluGrad),
    ArgMin(gather::ArgMin),
    Cumsum(scan::Cumsum),
    ProdGrad(scan::ProdGrad),
    SigmoidCrossEntropyWithLogits(sigmoid_xent::SigmoidCrossEntropyWithLogits),
    BroadcastWeights(weights::BroadcastWeights),
    DivNoNan(div_no_nan::DivNoNan),
    Compare(compare::Compare),
    Logic(logic::Logic),
    ReduceLogic(logic::ReduceLogic),
    Select(select::Select),
    // Shape ops (issue 11, item 3).
    Remap(remap::Remap),
    RemapGrad(remap::RemapGrad),
    Split(split::Split),
    SplitGrad(split::SplitGrad),
    FillLike(fill::FillLike),
    FillShape(fill::FillShape),
    Range(fill::Range),
    GatherAxis(scatter::GatherAxis),
    SegmentSum(scatter::SegmentSum),
    ScatterNd(scatter::ScatterNd),
    GatherNd(scatter::GatherNd),
    TopK(sequence::TopK),
    TopKGrad(sequence::TopKGrad),
    SequenceMask(sequence::SequenceMask),
    ReverseSequence(sequence::ReverseSequence),
    Summary(crate::summary::SummaryOp),
    MergeSummary(crate::summary::MergeSummary),
}

/// Kernel answer for a bytes (summary) input, which the graph rejects at build time for every
/// op that does not declare [`OpDef::takes_bytes`].
pub(crate) const NO_BYTES: &str = "takes no bytes (summary) values";

/// Kernel answer for a bool input of an op that the graph keeps bool operands from (see
/// [`OpDef::takes_bool`]).
pub(crate) const NO_BOOL: &str = "takes no bool values";

/// Checks that the operand `what` (e.g. "indices") is i64, for op rules.
pub(crate) fn expect_i64(what: &str, i: &TensorInfo) -> Result<(), String> {
    if i.dtype != crate::graph::DType::I64 {
        return Err(format!("{what} must be i64, got {}", i.dtype));
    }
    Ok(())
}

/// Checks that an operand is f32, for op rules.
pub(crate) fn expect_f32(op: &str, i: &TensorInfo) -> Result<(), String> {
    if i.dtype != crate::graph::DType::F32 {
        return Err(format!("{op} needs f32 operands, got {}", i.dtype));
    }
    Ok(())
}

/// Checks the operand count of an op rule: `n` ("takes two operands, got 3").
pub(crate) fn expect_arity(i: &[&TensorInfo], n: usize) -> Result<(), String> {
    if i.len() != n {
        let want = match n {
            0 => "no operands".to_string(),
            1 => "one operand".to_string(),
            2 => "two operands".to_string(),
            3 => "three operands".to_string(),
            _ => format!("{n} operands"),
        };
        return Err(format!("takes {want}, got {}", i.len()));
    }
    Ok(())
}

/// Checks the operand count of an op rule whose operands have roles, named in the error:
/// one per role ("takes (dy, x), got 3 operands").
pub(crate) fn expect_operands(i: &[&TensorInfo], roles: &[&str]) -> Result<(), String> {
    if i.len() != roles.len() {
        let s = if i.len() == 1 { "" } else { "s" };
        return Err(format!(
            "takes ({}), got {} operand{s}",
            roles.join(", "),
            i.len()
        ));
    }
    Ok(())
}
