//! im2col/col2im and the GEMM-based kernels: forward `cols · filter` per chunk of output
//! rows, input gradient `dy · filterᵀ` + col2im per chunk of images, and filter gradient
//! `colsᵀ · dy` with the columns recomputed per chunk and one partial per pool thread.

use super::runs::{add_run, copy_run, relu_in_place};
use super::{Geom, COLS, PARTIALS};
use crate::ops::scratch::with_scratch;
use crate::ops::simd::multiversion;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Column-matrix bytes per chunk of images that one task processes (fits in L2 with room for
/// the GEMM's packed panels).
pub const COLS_TARGET_BYTES: usize = 384 * 1024;

/// Like [`COLS_TARGET_BYTES`] for the filter gradient.
pub const DFILTER_COLS_TARGET_BYTES: usize = 160 * 1024;

multiversion! {
    /// Writes rows `[r0, r0 + n)` of the batch's column matrix (`[batch·oh·ow, K]`, rows in
    /// (image, oy, ox) order) into `cols` (`[n, K]`).
    fn im2col(x: &[f32], g: &Geom, r0: usize, n: usize, cols: &mut [f32]) => im2col_impl
}

#[inline(always)]
fn im2col_impl(x: &[f32], g: &Geom, r0: usize, n: usize, cols: &mut [f32]) {
    let (c, k) = (g.c, g.k());
    let row_len = g.kw * c;
    let opix = g.opix();
    let (mut img, mut oy, mut ox) = (r0 / opix, (r0 % opix) / g.ow, r0 % g.ow);
    let mut y_range = Geom::range(oy, g.sh, g.pt, g.kh, g.h);
    for row in cols[..n * k].chunks_exact_mut(k) {
        let (ky0, iy0, nky) = y_range;
        let xi = &x[img * g.img()..(img + 1) * g.img()];
        let (kx0, ix0, nkx) = Geom::range(ox, g.sw, g.pl, g.kw, g.w);
        if nkx < g.kw || nky < g.kh {
            row.fill(0.0);
        }
        for j in 0..nky {
            let src = ((iy0 + j) * g.w + ix0) * c;
            let dst = (ky0 + j) * row_len + kx0 * c;
            copy_run(&mut row[dst..dst + nkx * c], &xi[src..]);
        }
        ox += 1;
        if ox == g.ow {
            ox = 0;
            oy += 1;
            if oy == g.oh {
                oy = 0;
                img += 1;
            }
            y_range = Geom::range(oy, g.sh, g.pt, g.kh, g.h);
        }
    }
}

multiversion! {
    /// Adds the column matrix `cols` of a chunk's images into `dx` (that chunk's images,
    /// already zeroed).
    fn col2im(cols: &[f32], g: &Geom, dx: &mut [f32]) => col2im_impl
}

#[inline(always)]
fn col2im_impl(cols: &[f32], g: &Geom, dx: &mut [f32]) {
    let (c, k) = (g.c, g.k());
    let row_len = g.kw * c;
    let mut rows = cols.chunks_exact(k);
    for dxi in dx.chunks_exact_mut(g.img()) {
        for oy in 0..g.oh {
            let (ky0, iy0, nky) = Geom::range(oy, g.sh, g.pt, g.kh, g.h);
            for ox in 0..g.ow {
                let row = rows.next().expect("cols sized for the chunk");
                let (kx0, ix0, nkx) = Geom::range(ox, g.sw, g.pl, g.kw, g.w);
                for j in 0..nky {
                    let d = ((iy0 + j) * g.w + ix0) * c;
                    let s = (ky0 + j) * row_len + kx0 * c;
                    add_run(&mut dxi[d..d + nkx * c], &row[s..]);
                }
            }
        }
    }
}

/// `s` as a row-major `[r, c]` matrix.
pub(super) fn mat(s: &[f32], r: usize, c: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((r, c), s).expect("length checked")
}

/// `s` as a mutable row-major `[r, c]` matrix.
pub(super) fn mat_mut(s: &mut [f32], r: usize, c: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((r, c), s).expect("length checked")
}

/// `out[n, oh, ow, oc] = act(conv(x, filter) + bias)` by im2col + GEMM per chunk of output
/// rows; `filter` is `[K, oc]` contiguous, `out` is not empty.
pub(super) fn forward(
    x: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let k = g.k();
    let rpc = g.rows_per_chunk(COLS_TARGET_BYTES);
    let f = mat(filter, k, oc);
    out.par_chunks_mut(rpc * oc)
        .enumerate()
        .for_each(|(ci, o)| {
            let rows = o.len() / oc;
            if let Some(b) = bias {
                o.chunks_exact_mut(oc).for_each(|r| copy_run(r, b));
            }
            with_scratch(&COLS, rows * k, |cols| {
                im2col(x, g, ci * rpc, rows, cols);
                let acc = bias.is_some();
                crate::ops::gemm::sgemm_serial(mat(cols, rows, k), f, mat_mut(o, rows, oc), acc);
            });
            if relu {
                relu_in_place(o);
            }
        });
}

/// `dx = conv2d_backprop_input(dy, filter)` by `dy · filterᵀ` + col2im per chunk of images;
/// `dx` has `g`'s input shape.
pub(super) fn backward_input(dy: &[f32], g: &Geom, filter: &[f32], oc: usize, dx: &mut [f32]) {
    let (k, opix) = (g.k(), g.opix());
    if dx.is_empty() {
        return;
    }
    let ipc = g.images_per_chunk(COLS_TARGET_BYTES);
    let ft = mat(filter, k, oc).reversed_axes();
    dx.par_chunks_mut(ipc * g.img())
        .enumerate()
        .for_each(|(ci, d)| {
            d.fill(0.0);
            let count = d.len() / g.img();
            let rows = count * opix;
            if rows == 0 || k == 0 {
                return;
            }
            let dyc = &dy[ci * ipc * opix * oc..][..rows * oc];
            with_scratch(&COLS, rows * k, |cols| {
                crate::ops::gemm::sgemm_serial(
                    mat(dyc, rows, oc),
                    ft,
                    mat_mut(cols, rows, k),
                    false,
                );
                col2im(cols, g, d);
            });
        });
}

/// `df += im2col(x)ᵀ · dy` (`df [K, oc]`, zeroed by the caller, not empty; `g.n` and the
/// output pixels positive).
pub(super) fn backward_filter(x: &[f32], g: &Geom, dy: &[f32], oc: usize, df: &mut [f32]) {
    let (k, opix) = (g.k(), g.opix());
    // Smaller chunks here: the transposed GEMM is faster on short column matrices.
    let rpc = g.rows_per_chunk(DFILTER_COLS_TARGET_BYTES);
    let total = g.n * opix;
    let nchunks = total.div_ceil(rpc);
    let groups = rayon::current_num_threads().clamp(1, nchunks);
    let kn = k * oc;
    with_scratch(&PARTIALS, groups * kn, |parts| {
        parts.par_chunks_mut(kn).enumerate().for_each(|(t, p)| {
            p.fill(0.0);
            let (c0, c1) = (t * nchunks / groups, (t + 1) * nchunks / groups);
            for ci in c0..c1 {
                let r0 = ci * rpc;
                let rows = rpc.min(total - r0);
                let dyc = &dy[r0 * oc..][..rows * oc];
                with_scratch(&COLS, rows * k, |cols| {
                    im2col(x, g, r0, rows, cols);
                    crate::ops::gemm::sgemm_serial(
                        mat(cols, rows, k).reversed_axes(),
                        mat(dyc, rows, oc),
                        mat_mut(p, k, oc),
                        true,
                    );
                });
            }
        });
        for p in parts.chunks_exact(kn) {
            df.iter_mut().zip(p).for_each(|(d, &v)| *d += v);
        }
    });
}
