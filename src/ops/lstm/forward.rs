//! The forward driver: one `sgemm` writes the input projection of every step into the
//! workspace's gate blocks, then the recurrence (recurrent product + cell kernel per step)
//! runs on row ranges of the batch in parallel.

use super::cell::cell_forward;
use super::dims::Dims;
use super::recurrence::{part_rows, time_at, SCRATCH};
use super::{B_C, B_GATES, B_TC, WORKSPACE_BLOCKS};
use crate::ops::gemm::{sgemm, sgemm_serial};
use crate::ops::scratch::with_zeroed_scratch;
use crate::ops::simd::Isa;
use ndarray::{s, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

/// Runs the forward pass of `d`'s sequences into the workspace `ws`
/// (`[batch, time, 7*hidden]`, layout in the module docs of `ops::lstm`), from the initial
/// state `init = (h0, c0)` (each `[batch, hidden]` row-major) or from zeros.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    d: Dims,
    reverse: bool,
    x: &[f32],
    mask: &[f32],
    w: ArrayView2<f32>,
    bias: &[f32],
    init: Option<(&[f32], &[f32])>,
    ws: &mut [f32],
) {
    let Dims {
        batch,
        time,
        input,
        hidden: h,
    } = d;
    let row = WORKSPACE_BLOCKS * h;
    if batch * time == 0 || h == 0 {
        ws.fill(0.0);
        return;
    }
    let wx = w.slice(s![..input, ..]);
    let wh = w.slice(s![input.., ..]);
    // Input projection of every step, straight into the gate blocks.
    {
        let x2 = ArrayView2::from_shape((batch * time, input), x).expect("length checked");
        let mut ws2 =
            ArrayViewMut2::from_shape((batch * time, row), &mut *ws).expect("length checked");
        sgemm(x2, wx, ws2.slice_mut(s![.., B_GATES * h..]), false);
    }
    let isa = Isa::detect();
    let rows = part_rows(batch, h);
    with_zeroed_scratch(&SCRATCH, 2 * batch * h, |scratch| {
        if let Some((h0, c0)) = init {
            // Each part's state scratch is [h rows | c rows] of its own sequences.
            for (p, part) in scratch.chunks_mut(rows * 2 * h).enumerate() {
                let (hs, cs) = part.split_at_mut(part.len() / 2);
                hs.copy_from_slice(&h0[p * rows * h..][..hs.len()]);
                cs.copy_from_slice(&c0[p * rows * h..][..cs.len()]);
            }
        }
        let run = |ws: &mut [f32], mask: &[f32], state: &mut [f32]| {
            let rows = mask.len() / time;
            forward_rows(
                isa,
                Dims { batch: rows, ..d },
                reverse,
                init.is_some(),
                mask,
                wh,
                bias,
                ws,
                state,
            );
        };
        if rows == batch {
            run(ws, mask, scratch);
        } else {
            ws.par_chunks_mut(rows * time * row)
                .zip(mask.par_chunks(rows * time))
                .zip(scratch.par_chunks_mut(rows * 2 * h))
                .for_each(|((ws, mask), state)| run(ws, mask, state));
        }
    });
}

/// The forward recurrence (everything but the input projection) for the sequences of `d`
/// alone: `mask`, `ws` are their rows, `state` their `[h rows | c rows]` initial state
/// (zeros unless `has_init`, when the first step needs its recurrent product too).
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    isa: Isa,
    d: Dims,
    reverse: bool,
    has_init: bool,
    mask: &[f32],
    wh: ArrayView2<f32>,
    bias: &[f32],
    ws: &mut [f32],
    state: &mut [f32],
) {
    let Dims {
        batch,
        time,
        hidden: h,
        ..
    } = d;
    let row = WORKSPACE_BLOCKS * h;
    let (hs, cs) = state.split_at_mut(batch * h);
    for step in 0..time {
        let t = time_at(step, time, reverse);
        if step > 0 || has_init {
            let hv = ArrayView2::from_shape((batch, h), &*hs).expect("scratch length");
            let off = t * row + B_GATES * h;
            let gates =
                ArrayViewMut2::from_shape((batch, 4 * h).strides((time * row, 1)), &mut ws[off..])
                    .expect("in bounds");
            sgemm_serial(hv, wh, gates, true);
        }
        for bi in 0..batch {
            let r = &mut ws[(bi * time + t) * row..][..row];
            let hrow = &mut hs[bi * h..][..h];
            let crow = &mut cs[bi * h..][..h];
            if mask[bi * time + t] != 0.0 {
                cell_forward(isa, r, bias, hrow, crow, h);
            } else {
                r[..h].fill(0.0);
                r[B_C * h..][..h].copy_from_slice(crow);
                r[B_TC * h..].fill(0.0);
            }
        }
    }
}
