//! Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (NHWC, f32, any padding): 16
//! multiplies per 2x2 output tile and channel pair instead of 36.
//!
//! - Filter: `U = G g Gᵀ` per (in_c, out_c) into `[16][in_c][out_c]`, once per call on the
//!   calling thread into a reused thread-local (filters are small).
//! - Input: `V = Bᵀ d B` per 4x4 patch `d` (tiles at stride 2, zeros outside the image) into
//!   `[16][tiles][in_c]` for a block of tiles sized to about [`BLOCK_BYTES`] (`V` and `M`
//!   together) so a block stays in L2.
//! - 16 products `M[ξ] = V[ξ] · U[ξ]` (`[tiles, in_c] · [in_c, out_c]`), then
//!   `Y = Aᵀ M A` gives the 2x2 outputs (those past an odd output edge are dropped), with the
//!   bias and relu of the fused `Conv2DBiasAct` applied on the way out.
//!
//! Work is split over the rayon pool by chunks of whole images (so each task writes its own
//! contiguous part of the output); inside a chunk the tiles are processed in equal blocks,
//! each in the pool thread's `COLS` scratch: nothing is allocated per call once the scratches
//! have grown.
//!
//! # Vectorisation
//! The transforms only add and subtract (and halve, for the filter) along the channel axis,
//! which is contiguous in NHWC. With AVX-512F (detected at run time) blocks of 16 channels
//! use intrinsics (module `avx512`); the remaining channels, and CPUs without AVX-512, use
//! the portable `[f32; W]` loops in blocks of 8/4/1 lanes, compiled per instruction-set tier
//! by `ops::simd::multiversion!`. (LLVM vectorised the portable 16-lane version across the 4
//! patch positions instead, with gathers: the output transform alone then took 23% of a
//! step.)
//! The 16 products use `avx512::gemm` when `out_c` is a multiple of 16: `P` tiles × `16 Q`
//! outputs of sums in registers over `in_c`, `U[ξ]` read from L1. `in_c` is only 16..64
//! here, too short for the `gemm` crate's packing to pay: with `sgemm_serial` the whole
//! kernel took 3.6-3.9 ms (conv2) / 2.0 ms (conv3) instead of ~2.5 / 1.83 below. Otherwise
//! `sgemm_serial`.
//!
//! # Input gradient
//! The input gradient of a stride-1 convolution is itself one: `dx` is the convolution of
//! `dy` with the filter rotated by 180° and its channel axes swapped,
//! `W'[i][j][o][c] = W[2-i][2-j][c][o]`, padded by `2 - pad` (`same` stays 1, `valid` becomes
//! 2). Its transform is `U'[a][b][o][c] = U[σa][σb][c][o]` with `σ` swapping 0 and 3 (the
//! rows of `G` reversed are rows 3, 1, 2, 0), so [`backward_input`] transforms `W` as the
//! forward does and permutes. The filter gradient stays on its own kernels.
//!
//! Numerics: the transforms only add, subtract and halve, so the result differs from the
//! direct sum by rounding only (`tests`: within `1e-4 · max(1, |y|)` of the GEMM path).
//!
//! # When it is used, and measurements
//! Where it [`applies`] (3x3, stride 1) and `in_c, out_c >= MIN_CHANNELS` (16): both 3x3
//! layers of the reference MTFL net, forward and input gradient, were measured faster:
//!
//! Single-threaded process CPU time per call, minimum of 40 (`RAYON_NUM_THREADS=1`, the
//! ignored test `tests::reference_layers`; CPU time, because another user's training jobs
//! kept the 2-core machine at load 3-5 and inflate wall time), batch 64, GEMM path →
//! Winograd:
//!
//! | layer | forward (+bias, relu) | input gradient |
//! |---|---|---|
//! | conv2: 20x20, 16 → 48 | 4.05 → 2.45-2.6 ms | 4.1 → 2.45-2.65 ms |
//! | conv3: 10x10, 48 → 64 | 3.55 → 1.82-1.84 ms | 3.8 → 1.83-1.86 ms |
//!
//! (ranges: several runs of the final code on the busy machine.)
//!
//! `PROFILE=1 cargo run --release --example conv_bench` (2 threads, per-op minima over 50
//! runs, best of 3 runs of the old and new binaries interleaved; machine busy as above):
//!
//! | op | before | after |
//! |---|---|---|
//! | conv2 forward | 2.07 ms | 1.37 ms |
//! | conv3 forward | 1.78 ms | 1.01 ms |
//! | conv2 input gradient | 2.03 ms | 1.36 ms |
//! | conv3 input gradient | 1.90 ms | 1.06 ms |
//! | whole net forward + all gradients (median) | 17.50 ms | 14.27 ms |
//! | train step, SGD (median) | 17.05 ms | 14.35 ms |
//!
//! Below 16 channels the transforms (`16·(in_c + out_c)` floats per tile) weigh more against
//! the multiplies they save (`20·in_c·out_c` per tile); that was not measured, so those
//! shapes keep their old kernels. `STATICFLOW_WINOGRAD=0` / `=1` (read once per process)
//! turns Winograd off / on wherever it applies, to compare both paths with one binary.

use super::im2col::{mat, mat_mut};
use super::{Geom, COLS};
use crate::ops::gemm::sgemm_serial;
use crate::ops::scratch::with_scratch;
use crate::ops::simd::{multiversion, Isa};
use rayon::prelude::*;
use std::cell::RefCell;

/// Bytes of `V` and `M` per block of tiles (one pool thread's working set besides `U`).
pub(crate) const BLOCK_BYTES: usize = 384 * 1024;

thread_local! {
    /// Transformed filters (`U`, and for the input gradient also `U'`), on the calling thread.
    static FILTERS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether Winograd can compute this convolution at all: 3x3 window, stride 1, padding at
/// most 2 before each axis (always true for TF's `same`/`valid` with a 3x3 window), at least
/// one input and output channel.
pub(crate) fn applies(g: &Geom, oc: usize) -> bool {
    g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.pt <= 2 && g.pl <= 2 && g.c > 0 && oc > 0
}

/// Fewest input and output channels for which Winograd is used: the smallest of the
/// reference net's 3x3 layers (in_c 16, and out_c 16 for its input gradient), where it was
/// measured faster (module doc); smaller shapes were not measured and keep the old kernels.
pub(crate) const MIN_CHANNELS: usize = 16;

/// Whether the forward pass of `g` with `oc` output channels uses Winograd: it
/// [`applies`] and `in_c, oc >= MIN_CHANNELS` (or `STATICFLOW_WINOGRAD` forces it).
pub(crate) fn use_forward(g: &Geom, oc: usize) -> bool {
    applies(g, oc) && forced().unwrap_or(g.c >= MIN_CHANNELS && oc >= MIN_CHANNELS)
}

/// Whether the input gradient of `g` (the forward geometry) uses Winograd; same rule as
/// [`use_forward`] (the gradient is a convolution from `oc` to `in_c` channels, measured
/// faster on both reference layers too).
pub(crate) fn use_backward_input(g: &Geom, oc: usize) -> bool {
    use_forward(g, oc)
}

/// `STATICFLOW_WINOGRAD=0` or `=1` (read once) forces Winograd off or on wherever it
/// applies, for measuring both paths with one binary.
fn forced() -> Option<bool> {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var("STATICFLOW_WINOGRAD").as_deref() {
        Ok("0") => Some(false),
        Ok("1") => Some(true),
        _ => None,
    })
}

/// One stride-1 3x3 convolution as the Winograd kernel sees it: input `[n, h, w, c]`,
/// output `[n, oh, ow, oc]`, output `(oy, ox)` reading input rows `oy - pt ..= oy - pt + 2`
/// (likewise columns), zeros outside.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conv3 {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    oc: usize,
    pt: usize,
    pl: usize,
}

impl Conv3 {
    /// Tiles per image along width.
    fn tw(&self) -> usize {
        self.ow.div_ceil(2)
    }
    /// Tiles per image.
    fn tiles(&self) -> usize {
        self.oh.div_ceil(2) * self.tw()
    }
}

/// `out [n, oh, ow, oc] = act(conv(x, filter) + bias)` for `g` with [`applies`]; `filter` is
/// `[3, 3, in_c, oc]` contiguous, `out` not empty.
pub(crate) fn forward(
    x: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let s = Conv3 {
        n: g.n,
        h: g.h,
        w: g.w,
        c: g.c,
        oh: g.oh,
        ow: g.ow,
        oc,
        pt: g.pt,
        pl: g.pl,
    };
    with_scratch(&FILTERS, 16 * g.c * oc, |u| {
        filter_transform(filter, g.c, oc, u);
        run(x, &s, u, bias, relu, out);
    });
}

/// `dx [n, h, w, in_c] = conv2d_backprop_input(dy [n, oh, ow, oc], filter)` for `g` with
/// [`applies`] (the forward geometry); `dx` not empty.
pub(crate) fn backward_input(dy: &[f32], g: &Geom, filter: &[f32], oc: usize, dx: &mut [f32]) {
    let s = Conv3 {
        n: g.n,
        h: g.oh,
        w: g.ow,
        c: oc,
        oh: g.h,
        ow: g.w,
        oc: g.c,
        pt: 2 - g.pt,
        pl: 2 - g.pl,
    };
    let (c, len) = (g.c, 16 * g.c * oc);
    with_scratch(&FILTERS, 2 * len, |buf| {
        let (uf, ub) = buf.split_at_mut(len);
        filter_transform(filter, c, oc, uf);
        const SIGMA: [usize; 4] = [3, 1, 2, 0];
        for a in 0..4 {
            for b in 0..4 {
                let src = &uf[(SIGMA[a] * 4 + SIGMA[b]) * c * oc..][..c * oc];
                let dst = &mut ub[(a * 4 + b) * c * oc..][..c * oc];
                for (ci, row) in src.chunks_exact(oc).enumerate() {
                    for (o, &v) in row.iter().enumerate() {
                        dst[o * c + ci] = v;
                    }
                }
            }
        }
        run(dy, &s, ub, None, false, dx);
    });
}

/// The tiled convolution proper, with `u` the transformed filters `[16][s.c][s.oc]`.
fn run(x: &[f32], s: &Conv3, u: &[f32], bias: Option<&[f32]>, relu: bool, out: &mut [f32]) {
    let tpi = s.tiles();
    let per_tile = 16 * (s.c + s.oc) * 4;
    let block = (BLOCK_BYTES / per_tile).max(1);
    // Whole images per task, about one block's worth, but at least two tasks per thread.
    let per_thread = s.n.div_ceil(2 * rayon::current_num_threads()).max(1);
    let ipc = (block / tpi).clamp(1, per_thread);
    let oimg = s.oh * s.ow * s.oc;
    out.par_chunks_mut(ipc * oimg)
        .enumerate()
        .for_each(|(chunk, o)| {
            let img0 = chunk * ipc;
            let total = o.len() / oimg * tpi;
            // Equal blocks: a short last block runs the products' row tails only.
            let bt = total.div_ceil(total.div_ceil(block));
            with_scratch(&COLS, 16 * bt * (s.c + s.oc), |buf| {
                let (v, m) = buf.split_at_mut(16 * bt * s.c);
                let mut t0 = 0;
                while t0 < total {
                    let nt = bt.min(total - t0);
                    input_transform(x, s, img0, t0, nt, v);
                    for xi in 0..16 {
                        let vx = &v[xi * nt * s.c..][..nt * s.c];
                        let ux = &u[xi * s.c * s.oc..][..s.c * s.oc];
                        let mx = &mut m[xi * nt * s.oc..][..nt * s.oc];
                        #[cfg(target_arch = "x86_64")]
                        if s.oc.is_multiple_of(16) && avx512_available() {
                            // SAFETY: the CPU has AVX-512F.
                            unsafe { avx512::gemm(vx, ux, mx, nt, s.c, s.oc) };
                            continue;
                        }
                        sgemm_serial(
                            mat(vx, nt, s.c),
                            mat(ux, s.c, s.oc),
                            mat_mut(mx, nt, s.oc),
                            false,
                        );
                    }
                    output_transform(m, s, t0, nt, bias, relu, o);
                    t0 += nt;
                }
            });
        });
}

/// Runs `body` with `c0` stepping over `start..n` in blocks of `W` = 16, 8, 4 and 1 lanes.
macro_rules! lanes {
    ($start:expr, $n:expr, |$c0:ident, $w:ident| $body:expr) => {{
        let n = $n;
        let mut $c0 = $start;
        macro_rules! step {
            ($lw:literal) => {
                #[allow(clippy::int_plus_one)]
                while $c0 + $lw <= n {
                    {
                        const $w: usize = $lw;
                        $body;
                    }
                    $c0 += $lw;
                }
            };
        }
        step!(16);
        step!(8);
        step!(4);
        step!(1);
    }};
}

/// Position `(image, tile row, tile column)` of consecutive tiles, without a division per
/// tile.
struct TilePos {
    img: usize,
    ty: usize,
    tx: usize,
}

impl TilePos {
    /// Starts at tile `t` counted over the whole batch.
    fn new(s: &Conv3, t: usize) -> TilePos {
        let (tpi, tw) = (s.tiles(), s.tw());
        TilePos {
            img: t / tpi,
            ty: t % tpi / tw,
            tx: t % tw,
        }
    }
    /// The current position; moves to the next tile.
    #[inline(always)]
    fn next(&mut self, s: &Conv3) -> (usize, usize, usize) {
        let at = (self.img, self.ty, self.tx);
        self.tx += 1;
        if self.tx == s.tw() {
            self.tx = 0;
            self.ty += 1;
            if self.ty == s.oh.div_ceil(2) {
                self.ty = 0;
                self.img += 1;
            }
        }
        at
    }
}

multiversion! {
    /// `u [16][ic][oc] = G g Gᵀ` for each (in, out) channel pair of `f [3, 3, ic, oc]`.
    fn filter_transform(f: &[f32], ic: usize, oc: usize, u: &mut [f32]) => filter_impl
}

#[inline(always)]
fn filter_impl(f: &[f32], ic: usize, oc: usize, u: &mut [f32]) {
    for ci in 0..ic {
        lanes!(0, oc, |o0, W| filter_lanes::<W>(f, ic, oc, ci, o0, u));
    }
}

#[allow(clippy::needless_range_loop)] // one index into several arrays
#[inline(always)]
fn filter_lanes<const W: usize>(
    f: &[f32],
    ic: usize,
    oc: usize,
    ci: usize,
    o0: usize,
    u: &mut [f32],
) {
    // g: the 3x3 taps; r = G g (4x3); then r Gᵀ (4x4), row by row.
    let mut g = [[0f32; W]; 9];
    for (k, gk) in g.iter_mut().enumerate() {
        gk.copy_from_slice(&f[(k * ic + ci) * oc + o0..][..W]);
    }
    let mut r = [[0f32; W]; 12];
    for kx in 0..3 {
        for l in 0..W {
            let (g0, g1, g2) = (g[kx][l], g[3 + kx][l], g[6 + kx][l]);
            r[kx][l] = g0;
            r[3 + kx][l] = 0.5 * (g0 + g1 + g2);
            r[6 + kx][l] = 0.5 * (g0 - g1 + g2);
            r[9 + kx][l] = g2;
        }
    }
    let mut uu = [[0f32; W]; 16];
    for a in 0..4 {
        for l in 0..W {
            let (g0, g1, g2) = (r[3 * a][l], r[3 * a + 1][l], r[3 * a + 2][l]);
            uu[4 * a][l] = g0;
            uu[4 * a + 1][l] = 0.5 * (g0 + g1 + g2);
            uu[4 * a + 2][l] = 0.5 * (g0 - g1 + g2);
            uu[4 * a + 3][l] = g2;
        }
    }
    for (xi, ux) in uu.iter().enumerate() {
        u[(xi * ic + ci) * oc + o0..][..W].copy_from_slice(ux);
    }
}

multiversion! {
    /// Writes `V = Bᵀ d B` of tiles `t0 .. t0 + nt` counted from the first tile of image
    /// `img0` into `v [16][nt][s.c]`.
    fn input_transform(x: &[f32], s: &Conv3, img0: usize, t0: usize, nt: usize, v: &mut [f32]) => input_impl
}

#[inline(always)]
fn input_impl(x: &[f32], s: &Conv3, img0: usize, t0: usize, nt: usize, v: &mut [f32]) {
    let (c, avx) = (s.c, avx512_available());
    let mut tile = TilePos::new(s, img0 * s.tiles() + t0);
    for t in 0..nt {
        let (img, ty, tx) = tile.next(s);
        let iy0 = 2 * ty as isize - s.pt as isize;
        let ix0 = 2 * tx as isize - s.pl as isize;
        let mut offs = [usize::MAX; 16];
        for i in 0..4 {
            let iy = iy0 + i as isize;
            if iy < 0 || iy >= s.h as isize {
                continue;
            }
            for j in 0..4 {
                let ix = ix0 + j as isize;
                if ix >= 0 && ix < s.w as isize {
                    offs[i * 4 + j] = ((img * s.h + iy as usize) * s.w + ix as usize) * c;
                }
            }
        }
        let mut start = 0;
        #[cfg(target_arch = "x86_64")]
        if avx {
            while start + 16 <= c {
                // SAFETY: `avx` says the CPU has AVX-512F.
                unsafe { avx512::input16(x, &offs, start, v, nt * c, t * c + start) };
                start += 16;
            }
        }
        let _ = avx;
        lanes!(start, c, |c0, W| input_lanes::<W>(
            x,
            &offs,
            c0,
            v,
            nt * c,
            t * c + c0
        ));
    }
}

#[allow(clippy::needless_range_loop)] // one index into several arrays
#[inline(always)]
fn input_lanes<const W: usize>(
    x: &[f32],
    offs: &[usize; 16],
    c0: usize,
    v: &mut [f32],
    stride: usize,
    at: usize,
) {
    let mut d = [[0f32; W]; 16];
    for (dk, &off) in d.iter_mut().zip(offs) {
        if off != usize::MAX {
            dk.copy_from_slice(&x[off + c0..][..W]);
        }
    }
    // Bᵀ on the columns, then B on the rows, in place; Bᵀ (v0, v1, v2, v3) is
    // (v0 - v2, v1 + v2, v2 - v1, v1 - v3).
    for j in 0..4 {
        for l in 0..W {
            let (a0, a1, a2, a3) = (d[j][l], d[4 + j][l], d[8 + j][l], d[12 + j][l]);
            d[j][l] = a0 - a2;
            d[4 + j][l] = a1 + a2;
            d[8 + j][l] = a2 - a1;
            d[12 + j][l] = a1 - a3;
        }
    }
    for i in 0..4 {
        for l in 0..W {
            let (a0, a1, a2, a3) = (
                d[4 * i][l],
                d[4 * i + 1][l],
                d[4 * i + 2][l],
                d[4 * i + 3][l],
            );
            d[4 * i][l] = a0 - a2;
            d[4 * i + 1][l] = a1 + a2;
            d[4 * i + 2][l] = a2 - a1;
            d[4 * i + 3][l] = a1 - a3;
        }
    }
    for (k, dk) in d.iter().enumerate() {
        v[k * stride + at..][..W].copy_from_slice(dk);
    }
}

multiversion! {
    /// Writes `act(Aᵀ M A + bias)` of tiles `t0 .. t0 + nt` of a chunk from `m [16][nt][s.oc]`
    /// into the chunk's output `o` (whole images).
    fn output_transform(m: &[f32], s: &Conv3, t0: usize, nt: usize, bias: Option<&[f32]>, relu: bool, o: &mut [f32]) => output_impl
}

#[inline(always)]
fn output_impl(
    m: &[f32],
    s: &Conv3,
    t0: usize,
    nt: usize,
    bias: Option<&[f32]>,
    relu: bool,
    o: &mut [f32],
) {
    let (oc, avx) = (s.oc, avx512_available());
    let mut tile = TilePos::new(s, t0);
    for t in 0..nt {
        let (img, ty, tx) = tile.next(s);
        let (oy, ox) = (2 * ty, 2 * tx);
        let mut offs = [usize::MAX; 4];
        for i in 0..2.min(s.oh - oy) {
            for j in 0..2.min(s.ow - ox) {
                offs[i * 2 + j] = ((img * s.oh + oy + i) * s.ow + ox + j) * oc;
            }
        }
        let mut start = 0;
        #[cfg(target_arch = "x86_64")]
        if avx {
            while start + 16 <= oc {
                let (st, at) = (nt * oc, t * oc + start);
                // SAFETY: `avx` says the CPU has AVX-512F.
                unsafe { avx512::output16(m, st, at, bias, relu, &offs, start, o) };
                start += 16;
            }
        }
        let _ = avx;
        lanes!(start, oc, |o0, W| output_lanes::<W>(
            m,
            nt * oc,
            t * oc + o0,
            bias,
            relu,
            &offs,
            o0,
            o
        ));
    }
}

#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
fn output_lanes<const W: usize>(
    m: &[f32],
    stride: usize,
    at: usize,
    bias: Option<&[f32]>,
    relu: bool,
    offs: &[usize; 4],
    o0: usize,
    o: &mut [f32],
) {
    let mut mv = [[0f32; W]; 16];
    for (k, mk) in mv.iter_mut().enumerate() {
        mk.copy_from_slice(&m[k * stride + at..][..W]);
    }
    // Aᵀ on the columns (rows 0 and 1 of `mv` hold the result), then A on the rows;
    // Aᵀ (v0, v1, v2, v3) is (v0 + v1 + v2, v1 - v2 - v3).
    for j in 0..4 {
        for l in 0..W {
            let (a0, a1, a2, a3) = (mv[j][l], mv[4 + j][l], mv[8 + j][l], mv[12 + j][l]);
            mv[j][l] = a0 + a1 + a2;
            mv[4 + j][l] = a1 - a2 - a3;
        }
    }
    let mut b = [0f32; W];
    if let Some(bias) = bias {
        b.copy_from_slice(&bias[o0..][..W]);
    }
    let mut y = [[0f32; W]; 4];
    for i in 0..2 {
        for l in 0..W {
            let (a0, a1, a2, a3) = (
                mv[4 * i][l],
                mv[4 * i + 1][l],
                mv[4 * i + 2][l],
                mv[4 * i + 3][l],
            );
            y[2 * i][l] = a0 + a1 + a2 + b[l];
            y[2 * i + 1][l] = a1 - a2 - a3 + b[l];
        }
    }
    for (yk, &off) in y.iter_mut().zip(offs) {
        if off == usize::MAX {
            continue;
        }
        if relu {
            yk.iter_mut()
                .for_each(|v| *v = crate::ops::unary::relu_f32(*v));
        }
        o[off + o0..][..W].copy_from_slice(yk);
    }
}

/// Whether the 16-lane transforms can use AVX-512F intrinsics.
fn avx512_available() -> bool {
    Isa::detect() == Isa::Avx512
}

/// The 16-lane input and output transforms with AVX-512F intrinsics (LLVM vectorises the
/// portable `[f32; W]` versions across the wrong axis, with gathers). Same contracts as
/// `input_lanes::<16>` and `output_lanes::<16>`.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn input16(
        x: &[f32],
        offs: &[usize; 16],
        c0: usize,
        v: &mut [f32],
        stride: usize,
        at: usize,
    ) {
        let mut d = [_mm512_setzero_ps(); 16];
        for (dk, &off) in d.iter_mut().zip(offs) {
            if off != usize::MAX {
                *dk = _mm512_loadu_ps(x[off + c0..][..16].as_ptr());
            }
        }
        for j in 0..4 {
            let (a0, a1, a2, a3) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
            d[j] = _mm512_sub_ps(a0, a2);
            d[4 + j] = _mm512_add_ps(a1, a2);
            d[8 + j] = _mm512_sub_ps(a2, a1);
            d[12 + j] = _mm512_sub_ps(a1, a3);
        }
        for i in 0..4 {
            let (a0, a1, a2, a3) = (d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]);
            d[4 * i] = _mm512_sub_ps(a0, a2);
            d[4 * i + 1] = _mm512_add_ps(a1, a2);
            d[4 * i + 2] = _mm512_sub_ps(a2, a1);
            d[4 * i + 3] = _mm512_sub_ps(a1, a3);
        }
        for (k, dk) in d.iter().enumerate() {
            _mm512_storeu_ps(v[k * stride + at..][..16].as_mut_ptr(), *dk);
        }
    }

    /// `m [rows, oc] = v [rows, k] · u [k, oc]` for `oc` a multiple of 16: blocks of `P` rows
    /// × `16 Q` columns of sums stay in registers over `k` (one broadcast of `v` and `Q` rows
    /// of `u`, which stays in L1, per step). The products are too small (k = 16..64) for a
    /// packing GEMM to pay: the `gemm` crate ran them at about half this speed.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        v: &[f32],
        u: &[f32],
        m: &mut [f32],
        rows: usize,
        k: usize,
        oc: usize,
    ) {
        assert!(v.len() >= rows * k && u.len() >= k * oc && m.len() >= rows * oc);
        assert!(oc.is_multiple_of(16));
        let mut ob = 0;
        while ob < oc {
            match (oc - ob) / 16 {
                1 => panel::<12, 1>(v, u, m, rows, k, oc, ob),
                2 => panel::<12, 2>(v, u, m, rows, k, oc, ob),
                3 => panel::<8, 3>(v, u, m, rows, k, oc, ob),
                _ => panel::<6, 4>(v, u, m, rows, k, oc, ob),
            }
            ob += 16 * ((oc - ob) / 16).min(4);
        }
    }

    /// Columns `ob .. ob + 16 Q` of [`gemm`] for all rows, `P` rows at a time.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn panel<const P: usize, const Q: usize>(
        v: &[f32],
        u: &[f32],
        m: &mut [f32],
        rows: usize,
        k: usize,
        oc: usize,
        ob: usize,
    ) {
        let mut r = 0;
        while r + P <= rows {
            block::<P, Q>(v, u, m, r, k, oc, ob);
            r += P;
        }
        while r < rows {
            block::<1, Q>(v, u, m, r, k, oc, ob);
            r += 1;
        }
    }

    #[inline(always)]
    unsafe fn block<const P: usize, const Q: usize>(
        v: &[f32],
        u: &[f32],
        m: &mut [f32],
        r: usize,
        k: usize,
        oc: usize,
        ob: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); Q]; P];
        let vp = v.as_ptr().add(r * k);
        let up = u.as_ptr().add(ob);
        for kk in 0..k {
            let mut uv = [_mm512_setzero_ps(); Q];
            for (q, uq) in uv.iter_mut().enumerate() {
                *uq = _mm512_loadu_ps(up.add(kk * oc + 16 * q));
            }
            for (p, ap) in acc.iter_mut().enumerate() {
                let b = _mm512_set1_ps(*vp.add(p * k + kk));
                for (q, a) in ap.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(b, uv[q], *a);
                }
            }
        }
        let mp = m.as_mut_ptr().add(r * oc + ob);
        for (p, ap) in acc.iter().enumerate() {
            for (q, a) in ap.iter().enumerate() {
                _mm512_storeu_ps(mp.add(p * oc + 16 * q), *a);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn output16(
        m: &[f32],
        stride: usize,
        at: usize,
        bias: Option<&[f32]>,
        relu: bool,
        offs: &[usize; 4],
        o0: usize,
        o: &mut [f32],
    ) {
        let mut mv = [_mm512_setzero_ps(); 16];
        for (k, mk) in mv.iter_mut().enumerate() {
            *mk = _mm512_loadu_ps(m[k * stride + at..][..16].as_ptr());
        }
        let mut s = [_mm512_setzero_ps(); 8];
        for j in 0..4 {
            let (a0, a1, a2, a3) = (mv[j], mv[4 + j], mv[8 + j], mv[12 + j]);
            s[j] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
            s[4 + j] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
        }
        let b = match bias {
            Some(b) => _mm512_loadu_ps(b[o0..][..16].as_ptr()),
            None => _mm512_setzero_ps(),
        };
        let zero = _mm512_setzero_ps();
        for i in 0..2 {
            let (a0, a1, a2, a3) = (s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
            let y = [
                _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), a2), b),
                _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a1, a2), a3), b),
            ];
            for (j, &yj) in y.iter().enumerate() {
                let off = offs[2 * i + j];
                if off != usize::MAX {
                    // max(0, y): the second operand is returned when one is NaN.
                    let yj = if relu { _mm512_max_ps(zero, yj) } else { yj };
                    _mm512_storeu_ps(o[off + o0..][..16].as_mut_ptr(), yj);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{im2col, Padding};
    use super::*;

    /// Deterministic pseudo-random values in [-1, 1).
    fn rand(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let tol = 1e-4 * b.abs().max(1.0);
            assert!((a - b).abs() <= tol, "{what}: element {i}: {a} vs {b}");
        }
    }

    /// Calls the Winograd kernels directly (whatever the dispatch rule says) against the
    /// im2col/GEMM path: odd and even sizes, same and valid, every (in_c, out_c) of
    /// {1, 3, 16, 48} x {1, 5, 16, 64} (so both the AVX-512 and the portable lanes and
    /// products run), 1 and 3 images; outputs start as NaN so a missed write fails too.
    #[test]
    fn matches_gemm_path_forward_and_input_gradient() {
        let mut case = 0;
        for &(h, w) in &[(5, 7), (6, 4), (3, 3), (9, 8)] {
            for padding in [Padding::Same, Padding::Valid] {
                let pairs = [1, 3, 16, 48]
                    .into_iter()
                    .flat_map(|c| [1, 5, 16, 64].map(|o| (c, o)));
                for (c, oc) in pairs {
                    for n in [1, 3] {
                        case += 1;
                        let g = Geom::new(&[n, h, w, c], [3, 3], [1, 1], padding).unwrap();
                        assert!(applies(&g, oc));
                        let x = rand(n * h * w * c, case);
                        let f = rand(9 * c * oc, case + 1000);
                        let b = rand(oc, case + 2000);
                        let olen = n * g.oh * g.ow * oc;
                        for (bias, relu) in
                            [(None, false), (Some(&b[..]), false), (Some(&b[..]), true)]
                        {
                            let mut want = vec![f32::NAN; olen];
                            im2col::forward(&x, &g, &f, oc, bias, relu, &mut want);
                            let mut got = vec![f32::NAN; olen];
                            forward(&x, &g, &f, oc, bias, relu, &mut got);
                            let what = format!(
                                "forward {n}x{h}x{w}x{c} -> {oc} {padding:?} bias {} relu {relu}",
                                bias.is_some()
                            );
                            assert_close(&got, &want, &what);
                        }
                        let dy = rand(olen, case + 3000);
                        let mut want = vec![f32::NAN; x.len()];
                        im2col::backward_input(&dy, &g, &f, oc, &mut want);
                        let mut got = vec![f32::NAN; x.len()];
                        backward_input(&dy, &g, &f, oc, &mut got);
                        let what = format!("backward input {n}x{h}x{w}x{c} -> {oc} {padding:?}");
                        assert_close(&got, &want, &what);
                    }
                }
            }
        }
    }

    /// CPU time of the whole process so far in ns (sum over its threads; Linux only).
    fn cpu_ns() -> u64 {
        let mut total = 0;
        for t in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        total
    }

    /// Minimum process CPU time (ms) of `f` over `reps` runs.
    fn min_cpu_ms(reps: usize, mut f: impl FnMut()) -> f64 {
        f();
        (0..reps)
            .map(|_| {
                let t = cpu_ns();
                f();
                (cpu_ns() - t) as f64 / 1e6
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// The reference MTFL net's 3x3 layers at batch 64, GEMM path vs Winograd, minimum process
    /// CPU time per call (noise from other processes inflates wall time, much less CPU time).
    /// `RAYON_NUM_THREADS=1 cargo test --release --lib winograd::tests::reference_layers --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn reference_layers() {
        for (name, h, c, oc) in [("conv2", 20, 16, 48), ("conv3", 10, 48, 64)] {
            let g = Geom::new(&[64, h, h, c], [3, 3], [1, 1], Padding::Same).unwrap();
            let x = rand(64 * h * h * c, 1);
            let f = rand(9 * c * oc, 2);
            let b = rand(oc, 3);
            let dy = rand(64 * h * h * oc, 4);
            let mut y = vec![0.0; dy.len()];
            let mut dx = vec![0.0; x.len()];
            let reps = 40;
            let fg = min_cpu_ms(reps, || {
                im2col::forward(&x, &g, &f, oc, Some(&b), true, &mut y)
            });
            let fw = min_cpu_ms(reps, || forward(&x, &g, &f, oc, Some(&b), true, &mut y));
            let bg = min_cpu_ms(reps, || im2col::backward_input(&dy, &g, &f, oc, &mut dx));
            let bw = min_cpu_ms(reps, || backward_input(&dy, &g, &f, oc, &mut dx));
            println!(
                "{name}: forward gemm {fg:.3} ms, winograd {fw:.3} ms; input grad gemm {bg:.3} ms, winograd {bw:.3} ms"
            );
        }
    }
}
