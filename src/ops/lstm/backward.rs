//! The backward driver (back-propagation through time): the backward recurrence (cell
//! gradient + recurrent product per step, walking time backwards) computes the gate
//! pre-activation gradients `dG` of every step on row ranges of the batch in parallel; then
//! `dx`, `dw` and `db` are large products over all steps, written to the packed
//! `[dx | dw | db]` buffer.

use super::cell::cell_backward;
use super::dims::Dims;
use super::recurrence::{part_rows, time_at, SCRATCH};
use super::{B_C, WORKSPACE_BLOCKS};
use crate::ops::gemm::{sgemm, sgemm_serial};
use crate::ops::scratch::with_zeroed_scratch;
use crate::ops::simd::Isa;
use ndarray::{s, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

/// The row-major inputs of [`backward`] (`x` is unused by [`backward_rows`]).
#[derive(Clone, Copy)]
pub(super) struct Slices<'a> {
    pub(super) dy: &'a [f32],
    pub(super) dy_width: usize,
    pub(super) ws: &'a [f32],
    pub(super) x: &'a [f32],
    pub(super) mask: &'a [f32],
    /// The initial state `(h0, c0)`, each `[batch, hidden]`, if the forward pass had one.
    pub(super) init: Option<(&'a [f32], &'a [f32])>,
}

/// Runs the backward pass of `d`'s sequences into `packed` (`[dx | dw | db]`, followed by
/// `[dh0 | dc0]` with an initial state; see [`LstmBackward`](super::LstmBackward)).
pub(super) fn backward(d: Dims, reverse: bool, v: Slices, w: ArrayView2<f32>, packed: &mut [f32]) {
    let Dims {
        batch,
        time,
        input,
        hidden: h,
    } = d;
    let row = WORKSPACE_BLOCKS * h;
    let n = batch * time;
    let (dx, rest) = packed.split_at_mut(n * input);
    let (dw, rest) = rest.split_at_mut((input + h) * 4 * h);
    let (db, dinit) = rest.split_at_mut(4 * h);
    if n == 0 || h == 0 {
        packed_zero(dx, dw, db);
        // No step ran: the final state is the initial state.
        dinit.fill(0.0);
        return;
    }
    let wx = w.slice(s![..input, ..]);
    let wh = w.slice(s![input.., ..]);
    let isa = Isa::detect();
    let rows = part_rows(batch, h);
    with_zeroed_scratch(&SCRATCH, n * 4 * h + n * h + 3 * batch * h + h, |scratch| {
        let (dg, rest) = scratch.split_at_mut(n * 4 * h);
        let (hprev, rest) = rest.split_at_mut(n * h);
        let (state, zeros) = rest.split_at_mut(3 * batch * h);
        let zeros = &*zeros;
        let run = |v: Slices, dg: &mut [f32], hprev: &mut [f32], state: &mut [f32]| {
            let rows = v.mask.len() / time;
            let d = Dims { batch: rows, ..d };
            backward_rows(isa, d, reverse, v, wh, dg, hprev, state, zeros);
        };
        if rows == batch {
            run(v, dg, hprev, state);
        } else {
            let dyw = v.dy_width;
            dg.par_chunks_mut(rows * time * 4 * h)
                .zip(hprev.par_chunks_mut(rows * time * h))
                .zip(state.par_chunks_mut(rows * 3 * h))
                .zip(v.dy.par_chunks(rows * time * dyw))
                .zip(v.ws.par_chunks(rows * time * row))
                .zip(v.mask.par_chunks(rows * time))
                .enumerate()
                .for_each(|(p, (((((dg, hprev), state), dy), ws), mask))| {
                    let n = mask.len() / time * h;
                    let v = Slices {
                        dy,
                        dy_width: dyw,
                        ws,
                        x: &[],
                        mask,
                        init: v
                            .init
                            .map(|(h0, c0)| (&h0[p * rows * h..][..n], &c0[p * rows * h..][..n])),
                    };
                    run(v, dg, hprev, state)
                });
        }
        if v.init.is_some() {
            // Each part's state scratch ends as [dh0 rows | dc0 rows | scratch].
            let (dh0, dc0) = dinit.split_at_mut(batch * h);
            for (p, part) in state.chunks(rows * 3 * h).enumerate() {
                let n = part.len() / 3;
                dh0[p * rows * h..][..n].copy_from_slice(&part[..n]);
                dc0[p * rows * h..][..n].copy_from_slice(&part[n..2 * n]);
            }
        }
        let dg2 = ArrayView2::from_shape((n, 4 * h), &*dg).expect("scratch length");
        let x2 = ArrayView2::from_shape((n, input), v.x).expect("length checked");
        let hp2 = ArrayView2::from_shape((n, h), &*hprev).expect("scratch length");
        sgemm(
            dg2,
            wx.t(),
            ArrayViewMut2::from_shape((n, input), dx).expect("length"),
            false,
        );
        let (dwx, dwh) = dw.split_at_mut(input * 4 * h);
        sgemm(
            x2.t(),
            dg2,
            ArrayViewMut2::from_shape((input, 4 * h), dwx).expect("length"),
            false,
        );
        sgemm(
            hp2.t(),
            dg2,
            ArrayViewMut2::from_shape((h, 4 * h), dwh).expect("length"),
            false,
        );
        db.fill(0.0);
        for g in dg.chunks_exact(4 * h) {
            for (d, &e) in db.iter_mut().zip(g) {
                *d += e;
            }
        }
    });
}

/// The backward recurrence (everything but the all-steps products) for the sequences of
/// `d` alone: `v` holds their rows, `dg` and `hprev` receive their rows of `dG` and
/// `h_prev`; `state` is a zeroed `3 * batch * hidden` scratch, `zeros` `hidden` zeros. With
/// an initial state, `state` ends holding `[dh0 | dc0]` in its first `2 * batch * hidden`.
#[allow(clippy::too_many_arguments)]
fn backward_rows(
    isa: Isa,
    d: Dims,
    reverse: bool,
    v: Slices,
    wh: ArrayView2<f32>,
    dg: &mut [f32],
    hprev: &mut [f32],
    state: &mut [f32],
    zeros: &[f32],
) {
    let Dims {
        batch,
        time,
        hidden: h,
        ..
    } = d;
    let row = WORKSPACE_BLOCKS * h;
    let with_c = v.dy_width == row;
    let (dhs, rest) = state.split_at_mut(batch * h);
    let (dcs, dh_cm) = rest.split_at_mut(batch * h);
    let zeros = &zeros[..h];
    // h_prev of every step: the output of the sequence's last real step before it.
    for bi in 0..batch {
        let mut last: Option<usize> = None;
        for step in 0..time {
            let t = time_at(step, time, reverse);
            let dst = &mut hprev[(bi * time + t) * h..][..h];
            match (last, v.init) {
                (Some(r), _) => dst.copy_from_slice(&v.ws[r * row..][..h]),
                (None, Some((h0, _))) => dst.copy_from_slice(&h0[bi * h..][..h]),
                (None, None) => dst.fill(0.0),
            }
            if v.mask[bi * time + t] != 0.0 {
                last = Some(bi * time + t);
            }
        }
    }
    // Walk time backwards; dhs/dcs carry d(loss)/d(state) into the step being processed.
    for step in (0..time).rev() {
        let t = time_at(step, time, reverse);
        let tprev = (step > 0).then(|| time_at(step - 1, time, reverse));
        for bi in 0..batch {
            let idx = bi * time + t;
            let g = &mut dg[idx * 4 * h..][..4 * h];
            let dyr = &v.dy[idx * v.dy_width..][..v.dy_width];
            let dh = &mut dhs[bi * h..][..h];
            let dc = &mut dcs[bi * h..][..h];
            if with_c {
                for (dc, &e) in dc.iter_mut().zip(&dyr[B_C * h..][..h]) {
                    *dc += e;
                }
            }
            if v.mask[idx] != 0.0 {
                let r = &v.ws[idx * row..][..row];
                let cprev = match (tprev, v.init) {
                    (Some(tp), _) => &v.ws[(bi * time + tp) * row + B_C * h..][..h],
                    (None, Some((_, c0))) => &c0[bi * h..][..h],
                    (None, None) => zeros,
                };
                cell_backward(isa, r, &dyr[..h], cprev, dh, dc, g, h);
            } else {
                g.fill(0.0);
            }
        }
        if step > 0 || v.init.is_some() {
            // d(state before this step) += dG_t · w_hᵀ. The product goes to a column-major
            // buffer (the `gemm` crate is ~6x faster for this shape with a column-major
            // destination), then is added transposed.
            let gv =
                ArrayView2::from_shape((batch, 4 * h).strides((time * 4 * h, 1)), &dg[t * 4 * h..])
                    .expect("in bounds");
            let dhv = ArrayViewMut2::from_shape((batch, h).strides((1, batch)), &mut *dh_cm)
                .expect("scratch length");
            sgemm_serial(gv, wh.t(), dhv, false);
            for (bi, dst) in dhs.chunks_exact_mut(h).enumerate() {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d += dh_cm[k * batch + bi];
                }
            }
        }
    }
}

fn packed_zero(dx: &mut [f32], dw: &mut [f32], db: &mut [f32]) {
    dx.fill(0.0);
    dw.fill(0.0);
    db.fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::super::{LstmForward, WORKSPACE_BLOCKS};

    /// The backward kernel's fallback for a full workspace gradient: the `h` and `c` blocks
    /// are propagated (checked against central differences w.r.t. the bias).
    #[test]
    fn full_workspace_gradient_propagates_h_and_c_blocks() {
        use crate::prelude::*;
        use ndarray::{Array1, Array2, Array3};
        let (bsz, time, input, h) = (2, 3, 2, 2);
        let x = Array3::from_shape_fn((bsz, time, input), |(a, b, c)| {
            ((a * 7 + b * 3 + c) as f32 * 0.37).sin()
        });
        let mask = Array2::from_shape_vec((bsz, time), vec![1.0, 1.0, 1.0, 1.0, 0.0, 1.0]).unwrap();
        let w = Array2::from_shape_fn((input + h, 4 * h), |(a, b)| {
            ((a * 5 + b) as f32 * 0.71).cos() * 0.8
        });
        // Weights on the h and c blocks only.
        let r = Array3::from_shape_fn((bsz, time, WORKSPACE_BLOCKS * h), |(a, b, c)| {
            if c < 2 * h {
                ((a + 2 * b + 3 * c) as f32 * 0.53).sin()
            } else {
                0.0
            }
        });
        let g = Graph::new();
        let bp = g.placeholder("b", [4 * h]);
        let ws = g.add(
            LstmForward { reverse: false },
            &[g.constant(x), g.constant(mask), g.constant(w), bp],
        );
        let loss = reduce_sum_all(ws * g.constant(r));
        let db = gradients(&[loss], &[bp]).unwrap()[0].unwrap();
        let mut sess = Session::new(&g);
        let b0 = Array1::from_shape_fn(4 * h, |k| (k as f32 * 0.3).sin() * 0.5);
        let sym = sess.run(&[db.into()], &[(bp, (&b0).into())]).unwrap();
        let sym = sym.f32(0).unwrap().clone();
        for k in 0..4 * h {
            let eps = 1e-2;
            let mut f = |d: f32| {
                let mut b = b0.clone();
                b[k] += d;
                sess.run(&[loss.into()], &[(bp, (&b).into())])
                    .unwrap()
                    .scalar(0)
                    .unwrap() as f64
            };
            let num = ((f(eps) - f(-eps)) / (2.0 * eps as f64)) as f32;
            assert!(
                (num - sym[k]).abs() < 1e-2 * num.abs().max(1.0),
                "db[{k}]: {} vs {num}",
                sym[k]
            );
        }
    }
}
