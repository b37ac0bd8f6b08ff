//! The per-step cell kernels: one real step of one sequence, forward (gate non-linearities
//! and state update) and backward (gate pre-activation gradients), on one workspace row
//! (layout in the `ops::lstm` module docs), with the polynomial activations they use. Each
//! is compiled per instruction-set tier by `ops::simd::multiversion!`; the drivers pass the
//! tier (`Isa::detect()`, once per run), and the tests compare every tier.

use super::{B_GATES, B_TC};
use crate::ops::simd::multiversion;

// ---------------------------------------------------------------------------------------
// Fast, vectorisable activations

/// `e^x` for `x` in about `[-87, 88]` (clamped outside): Cephes' `expf` polynomial with
/// branch-free range reduction, relative error ~1e-7. Loops over it auto-vectorise.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    y * f32::from_bits(((ni + 127) as u32) << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_approx(2.0 * x))
}

/// One real step for one sequence: `r` is the workspace row whose gate blocks hold the
/// pre-activations without bias; `hs`, `cs` the carried state (updated).
#[inline(always)]
fn cell_forward_generic(r: &mut [f32], bias: &[f32], hs: &mut [f32], cs: &mut [f32], h: usize) {
    let (out, gates) = r.split_at_mut(B_GATES * h);
    let gates = &mut gates[..4 * h];
    let bias = &bias[..4 * h];
    let (gi, rest) = gates.split_at_mut(h);
    let (gj, rest) = rest.split_at_mut(h);
    let (gf, go) = rest.split_at_mut(h);
    for (v, &b) in gi.iter_mut().zip(&bias[..h]) {
        *v = sigmoid(*v + b);
    }
    for (v, &b) in gj.iter_mut().zip(&bias[h..2 * h]) {
        *v = tanh(*v + b);
    }
    for (v, &b) in gf.iter_mut().zip(&bias[2 * h..3 * h]) {
        *v = sigmoid(*v + b + 1.0);
    }
    for (v, &b) in go.iter_mut().zip(&bias[3 * h..]) {
        *v = sigmoid(*v + b);
    }
    let (oh, rest) = out.split_at_mut(h);
    let (oc, otc) = rest.split_at_mut(h);
    let (gi, gj, gf, go) = (&gi[..h], &gj[..h], &gf[..h], &go[..h]);
    let (oc, otc, hs, cs) = (&mut oc[..h], &mut otc[..h], &mut hs[..h], &mut cs[..h]);
    for k in 0..h {
        let c = gf[k] * cs[k] + gi[k] * gj[k];
        let tc = tanh(c);
        let hv = go[k] * tc;
        oc[k] = c;
        otc[k] = tc;
        oh[k] = hv;
        cs[k] = c;
        hs[k] = hv;
    }
}

/// One real step for one sequence: from the workspace row `r`, the output gradient `dy`,
/// the previous cell state and the carried state gradients `dh`, `dc` (of the state after
/// this step), writes the gate pre-activation gradients `g` and leaves in `dc` the gradient
/// of the previous cell state and in `dh` zero (the recurrent product adds to it).
#[inline(always)]
fn cell_backward_generic(
    r: &[f32],
    dy: &[f32],
    cprev: &[f32],
    dh: &mut [f32],
    dc: &mut [f32],
    g: &mut [f32],
    h: usize,
) {
    let tc = &r[B_TC * h..][..h];
    let gi = &r[B_GATES * h..][..h];
    let gj = &r[(B_GATES + 1) * h..][..h];
    let gf = &r[(B_GATES + 2) * h..][..h];
    let go = &r[(B_GATES + 3) * h..][..h];
    let (di, rest) = g.split_at_mut(h);
    let (dj, rest) = rest.split_at_mut(h);
    let (df, dout) = rest.split_at_mut(h);
    let (di, dj, df, dout) = (&mut di[..h], &mut dj[..h], &mut df[..h], &mut dout[..h]);
    let (dy, cprev, dh, dc) = (&dy[..h], &cprev[..h], &mut dh[..h], &mut dc[..h]);
    for k in 0..h {
        let dhk = dy[k] + dh[k];
        let (i, j, f, o, t) = (gi[k], gj[k], gf[k], go[k], tc[k]);
        let dck = dc[k] + dhk * o * (1.0 - t * t);
        dout[k] = dhk * t * o * (1.0 - o);
        di[k] = dck * j * i * (1.0 - i);
        dj[k] = dck * i * (1.0 - j * j);
        df[k] = dck * cprev[k] * f * (1.0 - f);
        dc[k] = dck * f;
        dh[k] = 0.0;
    }
}

multiversion! {
    /// [`cell_forward_generic`] compiled for `isa`.
    pub(super) fn cell_forward(
        isa: Isa,
        r: &mut [f32],
        bias: &[f32],
        hs: &mut [f32],
        cs: &mut [f32],
        h: usize,
    ) => cell_forward_generic
}
multiversion! {
    /// [`cell_backward_generic`] compiled for `isa`.
    pub(super) fn cell_backward(
        isa: Isa,
        r: &[f32],
        dy: &[f32],
        cprev: &[f32],
        dh: &mut [f32],
        dc: &mut [f32],
        g: &mut [f32],
        h: usize,
    ) => cell_backward_generic
}

#[cfg(test)]
mod tests {
    use super::super::WORKSPACE_BLOCKS;
    use super::*;
    use crate::ops::simd::Isa;

    #[test]
    fn fast_activations_are_accurate() {
        let mut worst = (0.0f32, 0.0f32);
        for k in -20000..=20000 {
            let x = k as f32 * 0.001;
            let es = (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs();
            let et = (tanh(x) - x.tanh()).abs();
            worst = (worst.0.max(es), worst.1.max(et));
        }
        assert!(worst.0 < 1e-6 && worst.1 < 1e-6, "{worst:?}");
        for x in [-200.0f32, -90.0, 90.0, 200.0] {
            assert!(sigmoid(x).is_finite() && tanh(x).is_finite());
        }
        let e = (exp_approx(10.0) - 10f32.exp()).abs() / 10f32.exp();
        assert!(e < 1e-6);
    }

    #[test]
    fn every_instruction_set_gives_identical_cells() {
        let h = 37; // not a multiple of any vector width
        let mut seed = 1u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 6.0 - 3.0
        };
        let row: Vec<f32> = (0..WORKSPACE_BLOCKS * h).map(|_| rnd()).collect();
        let bias: Vec<f32> = (0..4 * h).map(|_| rnd()).collect();
        let state: Vec<f32> = (0..2 * h).map(|_| rnd()).collect();
        let grads: Vec<f32> = (0..7 * h).map(|_| rnd()).collect();
        let run = |isa: Isa| {
            let (mut r, mut st) = (row.clone(), state.clone());
            let (hs, cs) = st.split_at_mut(h);
            cell_forward(isa, &mut r, &bias, hs, cs, h);
            let (mut gr, mut g) = (grads.clone(), vec![0.0; 4 * h]);
            let (dy, rest) = gr.split_at_mut(h);
            let (cprev, rest) = rest.split_at_mut(h);
            let (dh, dc) = rest.split_at_mut(h);
            cell_backward(isa, &r, dy, cprev, dh, &mut dc[..h], &mut g, h);
            (r, st, gr, g)
        };
        let want = run(Isa::Generic);
        for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
            assert_eq!(run(isa), want, "{isa:?}");
        }
    }
}
