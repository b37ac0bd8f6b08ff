//! The LSTM layer: a TF1 `LSTMCell` kernel and bias as variables, applied with the fused
//! [`lstm`](fn@crate::ops::lstm::lstm) op.

use super::rnn::{step_mask, RnnLayer};
use crate::graph::{Graph, Tensor};
use crate::init;
use crate::ops::lstm::{lstm, lstm_reverse, lstm_with_state, LstmRun, LstmState};

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

impl<'g> RnnLayer<'g> for Lstm<'g> {
    type State = LstmState<'g>;
    fn run(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<LstmState<'g>>,
        reverse: bool,
    ) -> (Tensor<'g>, LstmState<'g>) {
        let r = self.apply_with_state(x, step_mask(x, sequence_length), initial_state, reverse);
        (r.outputs, r.state)
    }
}
