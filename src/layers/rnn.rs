//! What the recurrent layers share: the [`RnnLayer`] interface (TF1's `dynamic_rnn` on a
//! cell: sequence lengths, initial state, final state) and [`bidirectional_dynamic_rnn`].

use crate::graph::{DType, Tensor};
use crate::ops::array::{cast, expand_dims};
use crate::ops::compare::less;
use crate::ops::reduce::reduce_sum;
use crate::ops::scan::cumsum;
use crate::ops::unary::{unary, UnaryKind};

/// A recurrent layer run like TF1's `dynamic_rnn(cell, x, sequence_length, initial_state)`.
pub trait RnnLayer<'g> {
    /// The state carried between steps (`LstmState` `(c, h)` for the LSTM, `h` for the GRU),
    /// each part `[batch, hidden]`.
    type State: Copy;

    /// Runs over `x [batch, time, input_dim]`: forwards, or (`reverse`) each sequence from
    /// its last real step to its first (TF1's `reverse_sequence` -> run -> `reverse_sequence`,
    /// the backward half of `bidirectional_dynamic_rnn`). `sequence_length [batch]` (i64 or
    /// f32; `None`: all `time` steps); `initial_state` (`None`: zeros). Returns the outputs
    /// `[batch, time, hidden]` at their time positions, 0 past each length, and the final
    /// state, copied through past each length (so a zero length keeps the initial state).
    fn run(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<Self::State>,
        reverse: bool,
    ) -> (Tensor<'g>, Self::State);
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
    cast(less(t, expand_dims(cast(len, DType::F32), 1)), DType::F32)
}

/// What [`bidirectional_dynamic_rnn`] returns, as TF1's: `(outputs_fw, outputs_bw)` and
/// `(state_fw, state_bw)`.
#[derive(Clone, Copy, Debug)]
pub struct BidirectionalRun<'g, S> {
    /// Forward outputs `[batch, time, hidden_fw]`, 0 past each length.
    pub outputs_fw: Tensor<'g>,
    /// Backward outputs `[batch, time, hidden_bw]` at their original time positions, 0 past
    /// each length.
    pub outputs_bw: Tensor<'g>,
    /// Final forward state (after each sequence's last real step).
    pub state_fw: S,
    /// Final backward state (after each sequence's first step, the last one it processes).
    pub state_bw: S,
}

/// TF1's `bidirectional_dynamic_rnn(cell_fw, cell_bw, x, sequence_length, initial_state_fw,
/// initial_state_bw)`: `fw` runs forwards, `bw` runs each sequence backwards from its last
/// real step (see [`RnnLayer::run`]). `x [batch, time, input_dim]`, `sequence_length
/// [batch]` (i64 or f32; `None`: full length); initial states zeros if `None`. Concatenate
/// the two outputs on axis 2 for the usual encoder.
pub fn bidirectional_dynamic_rnn<'g, L: RnnLayer<'g>>(
    fw: &L,
    bw: &L,
    x: Tensor<'g>,
    sequence_length: Option<Tensor<'g>>,
    initial_state_fw: Option<L::State>,
    initial_state_bw: Option<L::State>,
) -> BidirectionalRun<'g, L::State> {
    let (outputs_fw, state_fw) = fw.run(x, sequence_length, initial_state_fw, false);
    let (outputs_bw, state_bw) = bw.run(x, sequence_length, initial_state_bw, true);
    BidirectionalRun {
        outputs_fw,
        outputs_bw,
        state_fw,
        state_bw,
    }
}
