//! Direct AVX-512 convolution, stride 1, `out_c` a multiple of 16. Forward only for few
//! input channels (the first layer of an image net, `in_c <= 4`: `K = kh·kw·in_c` is too
//! short for the GEMM's packing to pay and im2col would copy runs of a few floats): each task
//! takes one image, copies it into a zero-padded scratch (no bounds checks in the loop), and
//! computes [`PIX`] output pixels × 16 channels at a time in registers: per tap one filter
//! vector and one broadcast input element per pixel. The filter gradient (`in_c <= 64`) keeps
//! up to 16 taps × 16 channels of sums in registers over an image's pixels instead.
//!
//! x86-64 only (the module is compiled for that target alone).

use super::{Geom, COLS, PARTIALS};
use crate::ops::scratch::with_scratch;
use crate::ops::simd::Isa;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Output pixels per register block (8 accumulators hide the FMA latency on 2 ports).
const PIX: usize = 8;

/// Largest input depth for the direct forward: beyond a few channels im2col copies long
/// runs and the GEMM wins (conv2 of the MTFL net, in_c 16: 4.2 ms GEMM vs 4.8 direct).
pub(super) const FORWARD_MAX_C: usize = 4;
/// Largest input depth for the direct filter gradient, which beats the transposed GEMM
/// with recomputed im2col up to at least 64 channels (MTFL conv2 4.1 -> 3.3 ms, conv3
/// 3.6 -> 3.35 ms single-threaded).
pub(super) const FILTER_MAX_C: usize = 64;

pub(super) fn applies(g: &Geom, oc: usize, max_c: usize) -> bool {
    g.sh == 1
        && g.sw == 1
        && g.c <= max_c
        && oc > 0
        && oc.is_multiple_of(16)
        && Isa::detect() == Isa::Avx512
}

/// Padded image geometry: `(hp, wp)` with the forward's padding before and after.
fn padded(g: &Geom) -> (usize, usize) {
    (g.oh + g.kh - 1, g.ow + g.kw - 1)
}

/// Copies image `xi [h, w, c]` into `xp [hp, wp, c]` at offset `(pt, pl)`, zeros elsewhere.
fn pad_image(xi: &[f32], g: &Geom, xp: &mut [f32]) {
    let (hp, wp) = padded(g);
    let c = g.c;
    xp.fill(0.0);
    for iy in 0..g.h.min(hp - g.pt) {
        let w = g.w.min(wp - g.pl);
        let dst = ((iy + g.pt) * wp + g.pl) * c;
        xp[dst..dst + w * c].copy_from_slice(&xi[iy * g.w * c..][..w * c]);
    }
}

pub(super) fn forward(
    x: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let (hp, wp) = padded(g);
    let oimg = g.opix() * oc;
    out.par_chunks_mut(oimg).enumerate().for_each(|(n, o)| {
        with_scratch(&COLS, hp * wp * g.c, |xp| {
            pad_image(&x[n * g.img()..(n + 1) * g.img()], g, xp);
            // SAFETY: `applies` checked AVX-512F; all indices stay inside `xp`, `filter`
            // and `o` by the padded geometry.
            unsafe { forward_image(xp, g, filter, oc, bias, relu, o) };
        });
    });
}

#[target_feature(enable = "avx512f")]
unsafe fn forward_image(
    xp: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    o: &mut [f32],
) {
    let (_, wp) = padded(g);
    let run = g.kw * g.c;
    assert!(filter.len() >= g.k() * oc && o.len() >= g.opix() * oc);
    for oy in 0..g.oh {
        for ob in (0..oc).step_by(16) {
            let mut ox = 0;
            while ox + PIX <= g.ow {
                block::<PIX>(xp, wp, run, g, filter, oc, bias, relu, o, oy, ox, ob);
                ox += PIX;
            }
            while ox < g.ow {
                block::<1>(xp, wp, run, g, filter, oc, bias, relu, o, oy, ox, ob);
                ox += 1;
            }
        }
    }
}

/// Filter gradient: per image (one contiguous range of images per pool thread, each with
/// its own `[K, oc]` partial), for each window row `ky`, block of up to [`TAPS`] taps of
/// that row and 16 output channels, the taps' sums stay in registers over all pixels
/// (one `dy` vector and one broadcast input element per tap and pixel).
pub(super) fn filter_grad(x: &[f32], g: &Geom, dy: &[f32], oc: usize, df: &mut [f32]) {
    let (hp, wp) = padded(g);
    let kn = g.k() * oc;
    let groups = rayon::current_num_threads().clamp(1, g.n);
    with_scratch(&PARTIALS, groups * kn, |parts| {
        parts.par_chunks_mut(kn).enumerate().for_each(|(t, p)| {
            p.fill(0.0);
            with_scratch(&COLS, hp * wp * g.c, |xp| {
                for n in t * g.n / groups..(t + 1) * g.n / groups {
                    pad_image(&x[n * g.img()..(n + 1) * g.img()], g, xp);
                    let dyi = &dy[n * g.opix() * oc..][..g.opix() * oc];
                    // SAFETY: as in `forward`.
                    unsafe { filter_grad_image(xp, g, dyi, oc, p) };
                }
            });
        });
        for p in parts.chunks_exact(kn) {
            df.iter_mut().zip(p).for_each(|(d, &v)| *d += v);
        }
    });
}

/// Taps per register block of the filter gradient.
const TAPS: usize = 16;

#[target_feature(enable = "avx512f")]
unsafe fn filter_grad_image(xp: &[f32], g: &Geom, dyi: &[f32], oc: usize, p: &mut [f32]) {
    let run = g.kw * g.c;
    assert!(p.len() >= g.k() * oc && dyi.len() >= g.opix() * oc);
    for ky in 0..g.kh {
        for t0 in (0..run).step_by(TAPS) {
            for ob in (0..oc).step_by(16) {
                let a = (ky, t0, ob);
                macro_rules! arms {
                    ($($n:literal)*) => {
                        match TAPS.min(run - t0) {
                            $($n => taps::<$n>(xp, g, dyi, oc, p, a),)*
                            _ => unreachable!(),
                        }
                    };
                }
                arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
            }
        }
    }
}

/// `p[ky, t0 + j, ob..ob + 16] += sum over pixels of x(pixel + tap) * dy(pixel)`, j < T.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn taps<const T: usize>(
    xp: &[f32],
    g: &Geom,
    dyi: &[f32],
    oc: usize,
    p: &mut [f32],
    (ky, t0, ob): (usize, usize, usize),
) {
    let (_, wp) = padded(g);
    let c = g.c;
    let run = g.kw * c;
    let pp = p.as_mut_ptr().add((ky * run + t0) * oc + ob);
    let mut acc = [_mm512_setzero_ps(); T];
    for (j, a) in acc.iter_mut().enumerate() {
        *a = _mm512_loadu_ps(pp.add(j * oc));
    }
    let (xpp, dp) = (xp.as_ptr(), dyi.as_ptr().add(ob));
    for oy in 0..g.oh {
        let xrow = xpp.add((oy + ky) * wp * c + t0);
        let drow = dp.add(oy * g.ow * oc);
        for ox in 0..g.ow {
            let dv = _mm512_loadu_ps(drow.add(ox * oc));
            let xr = xrow.add(ox * c);
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(_mm512_set1_ps(*xr.add(j)), dv, *a);
            }
        }
    }
    for (j, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(pp.add(j * oc), *a);
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn block<const P: usize>(
    xp: &[f32],
    wp: usize,
    run: usize,
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    o: &mut [f32],
    oy: usize,
    ox: usize,
    ob: usize,
) {
    let c = g.c;
    let init = match bias {
        Some(b) => _mm512_loadu_ps(b.as_ptr().add(ob)),
        None => _mm512_setzero_ps(),
    };
    let mut acc = [init; P];
    let fp = filter.as_ptr().add(ob);
    let xpp = xp.as_ptr();
    for ky in 0..g.kh {
        let xrow = xpp.add(((oy + ky) * wp + ox) * c);
        let frow = fp.add(ky * run * oc);
        for t in 0..run {
            let fv = _mm512_loadu_ps(frow.add(t * oc));
            for (p, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*xrow.add(p * c + t));
                *a = _mm512_fmadd_ps(xv, fv, *a);
            }
        }
    }
    let op = o.as_mut_ptr().add((oy * g.ow + ox) * oc + ob);
    for (p, a) in acc.iter().enumerate() {
        let v = if relu {
            // max(0, a): the second operand is returned when one is NaN.
            _mm512_max_ps(_mm512_setzero_ps(), *a)
        } else {
            *a
        };
        _mm512_storeu_ps(op.add(p * oc), v);
    }
}
