//! The state of an LSTM run: the optional initial state operands `(h0, c0)` of
//! [`LstmForward`](super::LstmForward), the final state read from the workspace with its
//! gradient, and the builder [`lstm_with_state`] (TF1's `dynamic_rnn` with
//! `initial_state`, returning the final state).
//!
//! The cell state `c` is carried through padded steps, so the final `c` of every sequence is
//! the `c` block of the last processed step (time `time - 1`, or 0 in reverse). The final
//! `h` is the output of the sequence's last real step (0 if it has none; the builder then
//! substitutes the initial `h`). The gradient places `dy` at those same positions of a
//! workspace-shaped gradient, which [`LstmBackward`](super::LstmBackward) propagates through
//! time like the outputs' gradient.

use super::dims::Dims;
use super::recurrence::time_at;
use super::{workspace_rule, LstmForward, LstmOutput, B_C, WORKSPACE_BLOCKS};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use crate::ops::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use ndarray::Ix3;
use serde::{Deserialize, Serialize};

/// Which part of the final state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatePart {
    /// The cell state `c`.
    C,
    /// The output `h`.
    H,
}

/// The final `c` or `h` of an LSTM run: inputs `(mask [batch, time], workspace
/// [batch, time, 7*hidden])`, output `[batch, hidden]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LstmFinalState {
    /// Whether the run walked time from the end.
    pub reverse: bool,
    /// `c` or `h`.
    pub part: StatePart,
}

/// Gradient of [`LstmFinalState`]: inputs `(dy [batch, hidden], mask, workspace)`, output a
/// workspace-shaped gradient, zero but for `dy` at the final state's positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LstmFinalStateGrad {
    /// Whether the run walked time from the end.
    pub reverse: bool,
    /// `c` or `h`.
    pub part: StatePart,
}

/// For each sequence, the workspace row and block offset holding its final `c` or `h`
/// (`None`: no real step, for `h`).
fn positions(
    mask: &[f32],
    batch: usize,
    time: usize,
    h: usize,
    reverse: bool,
    part: StatePart,
) -> impl Iterator<Item = Option<(usize, usize)>> + '_ {
    (0..batch).map(move |bi| {
        if time == 0 {
            return None;
        }
        match part {
            StatePart::C => Some((bi * time + time_at(time - 1, time, reverse), B_C * h)),
            StatePart::H => (0..time)
                .rev()
                .map(|step| bi * time + time_at(step, time, reverse))
                .find(|&r| mask[r] != 0.0)
                .map(|r| (r, 0)),
        }
    })
}

/// Checks the runtime operands; returns `(batch, time, hidden)`.
fn dims(mask: &[usize], ws: &[usize]) -> Result<(usize, usize, usize), String> {
    match ws {
        [b, t, n] if n % WORKSPACE_BLOCKS == 0 && mask == [*b, *t] => {
            Ok((*b, *t, n / WORKSPACE_BLOCKS))
        }
        _ => Err(format!(
            "needs mask [batch, time] and an LSTM workspace [batch, time, 7*hidden], got {mask:?} and {ws:?}"
        )),
    }
}

fn state_shape(ws: &Shape) -> Shape {
    Shape(vec![ws.dim(0), ws.dim(2).map(|n| n / WORKSPACE_BLOCKS)])
}

impl OpDef for LstmFinalState {
    fn kind(&self) -> &'static str {
        "LstmFinalState"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let ws = workspace_rule("LstmFinalState", i, 2)?;
        Ok(Some(TensorInfo::new(i[1].dtype, state_shape(ws))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (mask, ws) = (inputs[0].f32(), inputs[1].f32());
        let (b, t, h) = dims(mask.shape(), ws.shape())?;
        let mask = mask.as_standard_layout();
        let ws = ws
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(|e| e.to_string())?;
        let ws = ws.as_standard_layout();
        let (mask, ws) = (
            mask.as_slice().expect("standard"),
            ws.as_slice().expect("standard"),
        );
        let o = out.f32_buffer(&[b, h]);
        let o = o.as_slice_mut().expect("f32_buffer is contiguous");
        let row = WORKSPACE_BLOCKS * h;
        for (dst, pos) in
            o.chunks_exact_mut(h.max(1))
                .zip(positions(mask, b, t, h, self.reverse, self.part))
        {
            match pos {
                Some((r, off)) if h > 0 => dst.copy_from_slice(&ws[r * row + off..][..h]),
                _ => dst.fill(0.0),
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let grad = LstmFinalStateGrad {
            reverse: self.reverse,
            part: self.part,
        };
        let d = c.graph.add(grad, &[c.dy, c.inputs[0], c.inputs[1]]);
        Ok(vec![None, Some(d)])
    }
}

impl OpDef for LstmFinalStateGrad {
    fn kind(&self) -> &'static str {
        "LstmFinalStateGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let ws = workspace_rule("LstmFinalStateGrad", i, 3)?;
        let want = state_shape(ws);
        if !i[0].shape.compatible(&want) {
            return Err(format!(
                "the state gradient must be [batch, hidden] = {want}, got {}",
                i[0].shape
            ));
        }
        Ok(Some(i[2].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, mask, ws) = (inputs[0].f32(), inputs[1].f32(), inputs[2].f32());
        let (b, t, h) = dims(mask.shape(), ws.shape())?;
        if dy.shape() != [b, h] {
            return Err(format!(
                "the state gradient must be [batch, hidden] = {:?}, got {:?}",
                [b, h],
                dy.shape()
            ));
        }
        let mask = mask.as_standard_layout();
        let dy = dy.as_standard_layout();
        let (mask, dy) = (
            mask.as_slice().expect("standard"),
            dy.as_slice().expect("standard"),
        );
        let o = out.f32_buffer(&[b, t, WORKSPACE_BLOCKS * h]);
        o.fill(0.0);
        let o = o.as_slice_mut().expect("f32_buffer is contiguous");
        let row = WORKSPACE_BLOCKS * h;
        for (src, pos) in
            dy.chunks_exact(h.max(1))
                .zip(positions(mask, b, t, h, self.reverse, self.part))
        {
            if let Some((r, off)) = pos.filter(|_| h > 0) {
                o[r * row + off..][..h].copy_from_slice(src);
            }
        }
        Ok(())
    }
}

/// The initial state `(h0, c0)` in standard layout, if given.
pub(super) type InitViews<'a> = Option<(
    ndarray::CowArray<'a, f32, ndarray::IxDyn>,
    ndarray::CowArray<'a, f32, ndarray::IxDyn>,
)>;

/// Static rule of the optional initial state `(h0, c0)`: none, or two f32 `[batch, hidden]`.
pub(super) fn infer_init(
    i: &[&TensorInfo],
    batch: Option<usize>,
    hidden: Option<usize>,
) -> Result<(), String> {
    let want = Shape(vec![batch, hidden]);
    for (t, name) in i.iter().zip(["h0", "c0"]) {
        expect_f32("Lstm", t)?;
        if !t.shape.compatible(&want) {
            return Err(format!(
                "the initial state {name} must be [batch, hidden] = {want}, got {}",
                t.shape
            ));
        }
    }
    Ok(())
}

/// The initial state operands `(h0, c0)` in standard layout, checked against `d`.
pub(super) fn init_views<'a>(v: &'a [ValueView], d: Dims) -> Result<InitViews<'a>, String> {
    let [h0, c0] = v else {
        return Ok(None);
    };
    let (h0, c0) = (h0.f32(), c0.f32());
    for (t, name) in [(&h0, "h0"), (&c0, "c0")] {
        if t.shape() != [d.batch, d.hidden] {
            return Err(format!(
                "the initial state {name} must be [batch, hidden] = {:?}, got {:?}",
                [d.batch, d.hidden],
                t.shape()
            ));
        }
    }
    Ok(Some((h0.as_standard_layout(), c0.as_standard_layout())))
}

/// The initial or final state of an LSTM, as TF1's `LSTMStateTuple(c, h)`: each
/// `[batch, hidden]`.
#[derive(Clone, Copy, Debug)]
pub struct LstmState<'g> {
    /// The cell state `c`.
    pub c: Tensor<'g>,
    /// The output `h`.
    pub h: Tensor<'g>,
}

/// What [`lstm_with_state`] returns, as TF1's `dynamic_rnn`: the outputs and the final state.
#[derive(Clone, Copy, Debug)]
pub struct LstmRun<'g> {
    /// Every step's output `h`: `[batch, time, hidden]`, 0 at padding.
    pub outputs: Tensor<'g>,
    /// The state after each sequence's last real step (the initial state for a sequence
    /// with none): `c` and `h`, `[batch, hidden]`.
    pub state: LstmState<'g>,
}

/// [`lstm`](fn@super::lstm) (or, with `reverse`, [`lstm_reverse`](super::lstm_reverse)) from an initial state, returning the
/// final state too, as TF1's `dynamic_rnn(cell, x, sequence_length, initial_state)`.
///
/// `initial_state`: `c0`, `h0`, each `[batch, hidden]` (zeros if `None`); gradients flow
/// to them. The final state is the state after each sequence's last real step (state is
/// copied through padding, so a sequence with no real step keeps its initial state); it is
/// differentiable w.r.t. `x`, `w`, `b` and the initial state, together with the outputs.
/// In reverse, the run starts at each sequence's last real step and the final state is the
/// one after its first step, as the backward half of TF1's `bidirectional_dynamic_rnn`.
pub fn lstm_with_state<'g>(
    x: Tensor<'g>,
    mask: Tensor<'g>,
    w: Tensor<'g>,
    b: Tensor<'g>,
    initial_state: Option<LstmState<'g>>,
    reverse: bool,
) -> LstmRun<'g> {
    let g = x.graph();
    let mut operands = vec![x, mask, w, b];
    if let Some(s) = initial_state {
        operands.extend([s.h, s.c]);
    }
    let ws = g.add(LstmForward { reverse }, &operands);
    let outputs = g.add(LstmOutput, &[ws]);
    let final_part = |part| g.add(LstmFinalState { reverse, part }, &[mask, ws]);
    let c = final_part(StatePart::C);
    let mut h = final_part(StatePart::H);
    if let Some(s) = initial_state {
        // A sequence with no real step keeps its initial h.
        let any = crate::ops::compare::greater(
            crate::ops::reduce::reduce_max(mask, &[1], false),
            g.constant(0.0f32),
        );
        h = crate::ops::select::where_(any, h, s.h);
    }
    LstmRun {
        outputs,
        state: LstmState { c, h },
    }
}
