//! The LSTM layer: a TF1 `LSTMCell` kernel and bias as variables, applied with the fused
//! [`lstm`](fn@crate::ops::lstm::lstm) op.

use crate::graph::{DType, Graph, Tensor};
use crate::init;
use crate::ops::array::cast;
use crate::ops::compare::less;
use crate::ops::lstm::{lstm, lstm_reverse, lstm_with_state, LstmRun, LstmState};
use crate::ops::reduce::reduce_sum;
use crate::ops::scan::cumsum;
use crate::ops::unary::{unary, UnaryKind};

/// An LSTM layer's variables: `w` (`kernel`, `[input_dim + hidden, 4*hidden]`, glorot
/// uniform; rows are input weights then recurrent weights, gate columns `i, j, f, o`) and
/// `b` (`bias`, `[4*hidden]`, zeros), created under one name scope.
#[derive(Clone, Copy, Debug)]
pub struct Lstm<'g> {
    /// Kernel `[input_dim + hidden, 4*hidden]`.
    pub w: Tensor<'g>,
    /// Bias `[4*hidden]`.
    pub b: Tensor<'g>,
}

impl<'g> Lstm<'g> {
    /// Creates the variables `name/kernel` and `name/bias` (inside the current scope; `name`
    /// is made unique, `name_1`, ..., if already used).
    pub fn new(g: &'g Graph, name: &str, input_dim: usize, hidden: usize) -> Self {
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let w = g.variable(
            "kernel",
            init::glorot_uniform(&[input_dim + hidden, 4 * hidden]),
        );
        let b = g.variable("bias", init::zeros(&[4 * hidden]));
        Lstm { w, b }
    }

    /// Runs the layer forwards in time: `x [batch, time, input_dim]`, `mask [batch, time]`
    /// (1 real, 0 padding) -> `h [batch, time, hidden]`, 0 at padding. See
    /// [`lstm`](fn@crate::ops::lstm::lstm).
    pub fn apply(&self, x: Tensor<'g>, mask: Tensor<'g>) -> Tensor<'g> {
        lstm(x, mask, self.w, self.b)
    }

    /// Runs the layer backwards in time, each sequence from its last real token (for the
    /// backward half of a bidirectional encoder): `[batch, time, hidden]`. See
    /// [`lstm_reverse`].
    pub fn apply_reverse(&self, x: Tensor<'g>, mask: Tensor<'g>) -> Tensor<'g> {
        lstm_reverse(x, mask, self.w, self.b)
    }
}

impl<'g> Lstm<'g> {
    /// TF1's `dynamic_rnn(cell, x, sequence_length, initial_state)`: `x [batch, time,
    /// input_dim]`; `sequence_length [batch]` (i64 or f32; `None`: every sequence has all
    /// `time` steps); `initial_state` `(c, h)`, each `[batch, hidden]` (`None`: zeros).
    /// Returns the outputs `[batch, time, hidden]`, 0 past each length, and the final state,
    /// copied through past each length; all differentiable (see
    /// [`lstm_with_state`]).
    pub fn dynamic_rnn(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<LstmState<'g>>,
    ) -> LstmRun<'g> {
        lstm_with_state(
            x,
            step_mask(x, sequence_length),
            self.w,
            self.b,
            initial_state,
            false,
        )
    }

    /// Like [`Lstm::dynamic_rnn`] with a `[batch, time]` mask (1 real, 0 padding) instead of
    /// lengths, walking time forwards or (`reverse`) from each sequence's last real step.
    pub fn apply_with_state(
        &self,
        x: Tensor<'g>,
        mask: Tensor<'g>,
        initial_state: Option<LstmState<'g>>,
        reverse: bool,
    ) -> LstmRun<'g> {
        lstm_with_state(x, mask, self.w, self.b, initial_state, reverse)
    }
}

/// The `[batch, time]` f32 mask of `sequence_length [batch]` (i64 or f32) for
/// `x [batch, time, ..]`: 1 where `t < length`, else 0 (TF1's
/// `cast(sequence_mask(length, time), f32)`); all ones without lengths.
pub fn step_mask<'g>(x: Tensor<'g>, sequence_length: Option<Tensor<'g>>) -> Tensor<'g> {
    let ones = reduce_sum(unary(UnaryKind::ZerosLike, x), &[2], false) + 1.0;
    let Some(len) = sequence_length else {
        return ones;
    };
    let t = cumsum(ones, 1, true, false);
    let len = crate::ops::array::expand_dims(cast(len, DType::F32), 1);
    cast(less(t, len), DType::F32)
}

/// What [`bidirectional_dynamic_rnn`] returns, as TF1's: `(outputs_fw, outputs_bw)` and
/// `(state_fw, state_bw)`.
#[derive(Clone, Copy, Debug)]
pub struct BidirectionalRun<'g> {
    /// Forward outputs `[batch, time, hidden_fw]`, 0 past each length.
    pub outputs_fw: Tensor<'g>,
    /// Backward outputs `[batch, time, hidden_bw]` at their original time positions, 0 past
    /// each length.
    pub outputs_bw: Tensor<'g>,
    /// Final forward state (after each sequence's last real step).
    pub state_fw: LstmState<'g>,
    /// Final backward state (after each sequence's first step, the last one it processes).
    pub state_bw: LstmState<'g>,
}

/// TF1's `bidirectional_dynamic_rnn(cell_fw, cell_bw, x, sequence_length, initial_state_fw,
/// initial_state_bw)` with LSTM layers: `fw` runs [`Lstm::dynamic_rnn`]; `bw` runs each
/// sequence backwards from its last real step (TF1 reverses each sequence by its length,
/// runs, and reverses the outputs back). `x [batch, time, input_dim]`, `sequence_length
/// [batch]` (i64 or f32; `None`: full length); initial states `(c, h)` `[batch, hidden]`
/// each, zeros if `None`. Concatenate the two outputs on axis 2 for the usual encoder.
pub fn bidirectional_dynamic_rnn<'g>(
    fw: &Lstm<'g>,
    bw: &Lstm<'g>,
    x: Tensor<'g>,
    sequence_length: Option<Tensor<'g>>,
    initial_state_fw: Option<LstmState<'g>>,
    initial_state_bw: Option<LstmState<'g>>,
) -> BidirectionalRun<'g> {
    let mask = step_mask(x, sequence_length);
    let f = fw.apply_with_state(x, mask, initial_state_fw, false);
    let b = bw.apply_with_state(x, mask, initial_state_bw, true);
    BidirectionalRun {
        outputs_fw: f.outputs,
        outputs_bw: b.outputs,
        state_fw: f.state,
        state_bw: b.state,
    }
}
