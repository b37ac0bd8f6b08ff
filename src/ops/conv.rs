//! 2-D convolution (TF1's `tf.nn.conv2d`, NHWC data, `[kh, kw, in_c, out_c]` filters), its two
//! backprop kernels, and `bias_add` with its column-sum gradient.
//!
//! # Kernels
//! Direct AVX-512 kernels (module `direct`; stride 1, `out_c` a multiple of 16, chosen at run
//! time when the CPU has AVX-512F):
//! - forward for few input channels (`in_c <= 4`, the first layer of an image net): one image
//!   per task, copied into a zero-padded scratch, 8 pixels × 16 channels in registers. No
//!   im2col of 3-float runs, no GEMM packing for `K = 75`. (For `in_c = 16` the GEMM wins.)
//! - filter gradient for `in_c <= 64`: one image range per pool thread with its own
//!   `[K, out_c]` partial; per image, window row and block of <= 16 taps the sums stay in
//!   registers over all pixels. Beats the transposed GEMM on recomputed columns on every
//!   layer of the reference net.
//!
//! Otherwise, forward: im2col + GEMM `[rows, kh·kw·in_c] · [kh·kw·in_c, out_c]`, where `rows`
//! are the output pixels (image, oy, ox) of one *chunk*. Chunks are row ranges of the whole
//! batch's column matrix (they may split images) sized to about [`COLS_TARGET_BYTES`] so the
//! column matrix stays in L2 (4x larger chunks measured 2x slower); they run in parallel on
//! the rayon pool, each doing its own im2col and a single-threaded GEMM straight into its
//! rows of the output, then the bias (written before the GEMM accumulates onto it) and relu
//! of the fused [`Conv2DBiasAct`].
//! Backward: `dx` per chunk of whole images (`dcols = dy · filterᵀ`, then col2im into that
//! chunk's images, so no two tasks write the same memory); `dfilter = colsᵀ · dy` with the
//! columns recomputed per chunk ([`DFILTER_COLS_TARGET_BYTES`]), one partial `[K, out_c]` per
//! pool thread, summed at the end. Storing the forward columns instead would keep up to
//! 30 MB (the reference net's first layer at batch 64) alive between the passes.
//! A relu layer whose output only feeds a max pool takes its relu gradient inside the pool's
//! gradient (`MaxPoolGrad::relu_mask`, see `pool.rs`) instead of a separate `ReluGrad` pass.
//! The copy/max/mask loops are compiled twice and pick AVX-512 at run time (the crate is
//! built for baseline x86-64).
//!
//! Reference net, batch 64, single-threaded (min per op, ms): conv1 fwd 2.25 / dfilter 2.25
//! (direct; were 4.3 / 4.3 via GEMM), conv2 fwd 4.15 / dx 4.2 / dfilter 3.3, conv3 fwd 3.6 /
//! dx 3.8 / dfilter 3.35, conv4 0.55 / 0.6 / 0.52. The GEMM layers run at ~85-100 GFLOP/s
//! and the direct kernels at ~110 GFLOP/s per core, close to one AVX-512 FMA per cycle.
//!
//! # Workspaces (no allocation per step)
//! The column matrices (and the direct kernels' padded images) live in a thread-local `Vec<f32>` per pool thread that grows to the
//! largest chunk ever seen and is then reused; the per-group dfilter partials live in a
//! thread-local of the calling (session) thread. Putting them in the op's output `Value`
//! would either waste liveness-managed slot memory for the whole run or need an extra op to
//! slice the real output out of a packed one; thread-locals cost nothing per step, are
//! shared by all conv nodes (only one runs at a time on a thread) and stay cache-warm. If a
//! workspace is already borrowed (a session run nested inside a conv task, which staticflow
//! never does) the kernel falls back to a temporary allocation instead of panicking.

use super::scratch::with_scratch;
use super::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Column-matrix bytes per chunk of images that one task processes (fits in L2 with room for
/// the GEMM's packed panels).
pub const COLS_TARGET_BYTES: usize = 384 * 1024;

/// Like [`COLS_TARGET_BYTES`] for the filter gradient.
pub const DFILTER_COLS_TARGET_BYTES: usize = 160 * 1024;

/// Padding scheme, with TF semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// Output size `ceil(in / stride)`; the window is zero-padded by
    /// `max((out - 1) * stride + k - in, 0)` in total, the odd one on the right/bottom.
    Same,
    /// No padding: output size `(in - k) / stride + 1` (windows fully inside the input).
    Valid,
}

/// Output size and padding before (top/left) along one spatial axis.
pub(crate) fn out_dim(
    input: usize,
    k: usize,
    stride: usize,
    padding: Padding,
) -> Result<(usize, usize), String> {
    if k == 0 || stride == 0 {
        return Err(format!(
            "window size and stride must be positive, got {k} and {stride}"
        ));
    }
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + k).saturating_sub(input);
            Ok((out, total / 2))
        }
        Padding::Valid => {
            if input < k {
                return Err(format!(
                    "VALID padding needs input size >= window size, got {input} < {k}"
                ));
            }
            Ok(((input - k) / stride + 1, 0))
        }
    }
}

/// Static output size along one axis (`None` if the input size is unknown).
pub(crate) fn static_out_dim(
    input: Option<usize>,
    k: Option<usize>,
    stride: usize,
    padding: Padding,
) -> Result<Option<usize>, String> {
    match (input, k) {
        (Some(i), Some(k)) => Ok(Some(out_dim(i, k, stride, padding)?.0)),
        (Some(i), None) if padding == Padding::Same => {
            if stride == 0 {
                return Err("stride must be positive".into());
            }
            Ok(Some(i.div_ceil(stride)))
        }
        _ => Ok(None),
    }
}

/// Geometry of one convolution or pooling at run time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub sh: usize,
    pub sw: usize,
    pub pt: usize,
    pub pl: usize,
}

impl Geom {
    pub(crate) fn new(
        x: &[usize],
        k: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
    ) -> Result<Geom, String> {
        if x.len() != 4 {
            return Err(format!("input must be rank 4 (NHWC), got shape {x:?}"));
        }
        let (oh, pt) = out_dim(x[1], k[0], strides[0], padding)?;
        let (ow, pl) = out_dim(x[2], k[1], strides[1], padding)?;
        Ok(Geom {
            n: x[0],
            h: x[1],
            w: x[2],
            c: x[3],
            kh: k[0],
            kw: k[1],
            oh,
            ow,
            sh: strides[0],
            sw: strides[1],
            pt,
            pl,
        })
    }
    /// Columns of the im2col matrix: `kh * kw * c`.
    fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }
    /// Output pixels per image.
    fn opix(&self) -> usize {
        self.oh * self.ow
    }
    /// Input elements per image.
    fn img(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Valid `k` range along one axis for output index `o`: `(first k, input index of it, count)`.
    #[inline]
    fn range(o: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize, usize) {
        let start = (o * s) as isize - p as isize;
        let k0 = (-start).max(0) as usize;
        let k1 = ((n as isize - start).min(k as isize)).max(0) as usize;
        if k1 <= k0 {
            return (0, 0, 0);
        }
        (k0, (start + k0 as isize) as usize, k1 - k0)
    }
    /// Column-matrix rows per chunk so that a chunk's column matrix is about `target_bytes`
    /// (at least 16 rows; chunks may split images).
    fn rows_per_chunk(&self, target_bytes: usize) -> usize {
        (target_bytes / (self.k() * 4).max(1)).clamp(16, (self.n * self.opix()).max(16))
    }
    /// Images per chunk so that a chunk's column matrix is about `target_bytes`.
    fn images_per_chunk(&self, target_bytes: usize) -> usize {
        let per = self.opix() * self.k() * 4;
        (target_bytes / per.max(1)).clamp(1, self.n.max(1))
    }
}

thread_local! {
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PARTIALS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Copies a short run (a few pixels' channels) with fixed-size moves instead of a `memcpy`
/// call: runs of 4..=32 floats take two overlapping moves of 4, 8 or 16 floats.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    let src = &src[..n];
    #[inline(always)]
    fn two<const W: usize>(dst: &mut [f32], src: &[f32]) {
        let n = dst.len();
        let a: [f32; W] = src[..W].try_into().expect("len >= W");
        let b: [f32; W] = src[n - W..].try_into().expect("len >= W");
        dst[..W].copy_from_slice(&a);
        dst[n - W..].copy_from_slice(&b);
    }
    match n {
        0 => {}
        1..=3 => {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v;
            }
        }
        4..=8 => two::<4>(dst, src),
        9..=16 => two::<8>(dst, src),
        17..=32 => two::<16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// `dst += src` over a short run.
#[inline(always)]
fn add_run(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    for (d, &s) in dst.iter_mut().zip(&src[..n]) {
        *d += s;
    }
}

/// Runs the body of a kernel compiled for AVX-512 when the CPU has it (the crate is built
/// for baseline x86-64, so plain loops would otherwise use SSE2 only).
macro_rules! dispatch_avx512 {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),* $(,)?) => $imp:ident) => {
        $(#[$m])*
        pub(crate) fn $name($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn wide($($a: $t),*) {
                    $imp($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU supports the features `wide` is compiled for.
                    unsafe { wide($($a),*) };
                    return;
                }
            }
            $imp($($a),*)
        }
    };
}
pub(crate) use dispatch_avx512;

dispatch_avx512! {
    /// `v = max(v, 0)`.
    fn relu_in_place(v: &mut [f32]) => relu_impl
}

#[inline(always)]
fn relu_impl(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

dispatch_avx512! {
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

dispatch_avx512! {
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

fn mat(s: &[f32], r: usize, c: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((r, c), s).expect("length checked")
}
fn mat_mut(s: &mut [f32], r: usize, c: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((r, c), s).expect("length checked")
}

/// `out[n, oh, ow, oc] = act(conv(x, filter) + bias)`; `filter` is `[K, oc]` contiguous.
pub(crate) fn conv2d_forward(
    x: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let k = g.k();
    if out.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if direct::applies(g, oc, direct::FORWARD_MAX_C) {
        direct::forward(x, g, filter, oc, bias, relu, out);
        return;
    }
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
                super::gemm::sgemm_serial(mat(cols, rows, k), f, mat_mut(o, rows, oc), acc);
            });
            if relu {
                relu_in_place(o);
            }
        });
}

/// Direct AVX-512 convolution, stride 1, `out_c` a multiple of 16. Forward only for few
/// input channels (the first layer of an image net, `in_c <= 4`: `K = kh·kw·in_c` is too
/// short for the GEMM's packing to pay and im2col would copy runs of a few floats): each task
/// takes one image, copies it into a zero-padded scratch (no bounds checks in the loop), and
/// computes [`PIX`] output pixels × 16 channels at a time in registers: per tap one filter
/// vector and one broadcast input element per pixel. The filter gradient (`in_c <= 64`) keeps
/// up to 16 taps × 16 channels of sums in registers over an image's pixels instead.
#[cfg(target_arch = "x86_64")]
mod direct {
    use super::{with_scratch, Geom, COLS};
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
            && std::arch::is_x86_feature_detected!("avx512f")
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
        with_scratch(&super::PARTIALS, groups * kn, |parts| {
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
                _mm512_max_ps(*a, _mm512_setzero_ps())
            } else {
                *a
            };
            _mm512_storeu_ps(op.add(p * oc), v);
        }
    }
}

/// `dx = conv2d_backprop_input(dy, filter)`; `dx` has `g`'s input shape.
pub(crate) fn conv2d_backward_input(
    dy: &[f32],
    g: &Geom,
    filter: &[f32],
    oc: usize,
    dx: &mut [f32],
) {
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
                super::gemm::sgemm_serial(mat(dyc, rows, oc), ft, mat_mut(cols, rows, k), false);
                col2im(cols, g, d);
            });
        });
}

/// `dfilter = im2col(x)ᵀ · dy`, written to `df` (`[K, oc]`).
pub(crate) fn conv2d_backward_filter(x: &[f32], g: &Geom, dy: &[f32], oc: usize, df: &mut [f32]) {
    let (k, opix) = (g.k(), g.opix());
    df.fill(0.0);
    if df.is_empty() || g.n == 0 || opix == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if direct::applies(g, oc, direct::FILTER_MAX_C) {
        direct::filter_grad(x, g, dy, oc, df);
        return;
    }
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
                    super::gemm::sgemm_serial(
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

/// 2-D convolution over NHWC input: `x [n, h, w, in_c]`, `filter [kh, kw, in_c, out_c]` ->
/// `[n, oh, ow, out_c]` (TF1's `tf.nn.conv2d`; no dilation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2D {
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
}

/// Gradient of [`Conv2D`] with respect to its input. Inputs `(x, filter, dy)`; `x` is read
/// only for its shape. Output: `x`'s shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBackpropInput {
    /// Strides of the forward convolution.
    pub strides: [usize; 2],
    /// Padding of the forward convolution.
    pub padding: Padding,
}

/// Gradient of [`Conv2D`] with respect to its filter. Inputs `(x, filter, dy)`; `filter` is
/// read only for its shape. Output: `filter`'s shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBackpropFilter {
    /// Strides of the forward convolution.
    pub strides: [usize; 2],
    /// Padding of the forward convolution.
    pub padding: Padding,
}

fn conv_infer(
    i: &[&TensorInfo],
    strides: [usize; 2],
    padding: Padding,
    op: &str,
) -> Result<Shape, String> {
    if i.len() < 2 {
        return Err(format!("takes (input, filter), got {} operands", i.len()));
    }
    expect_f32(op, i[0])?;
    expect_f32(op, i[1])?;
    let (x, f) = (&i[0].shape, &i[1].shape);
    if x.rank() != 4 {
        return Err(format!(
            "input must be rank 4 [batch, height, width, channels], got {x}"
        ));
    }
    if f.rank() != 4 {
        return Err(format!(
            "filter must be rank 4 [kh, kw, in_channels, out_channels], got {f}"
        ));
    }
    if strides.contains(&0) {
        return Err(format!("strides must be positive, got {strides:?}"));
    }
    if let (Some(a), Some(b)) = (x.dim(3), f.dim(2)) {
        if a != b {
            return Err(format!(
                "input channels differ: the input has {a} channels (last axis), the filter expects {b} (axis 2)"
            ));
        }
    }
    let oh = static_out_dim(x.dim(1), f.dim(0), strides[0], padding)
        .map_err(|e| format!("height: {e}"))?;
    let ow = static_out_dim(x.dim(2), f.dim(1), strides[1], padding)
        .map_err(|e| format!("width: {e}"))?;
    Ok(Shape(vec![x.dim(0), oh, ow, f.dim(3)]))
}

/// Checks runtime shapes and returns the geometry and output channels.
fn conv_geom(
    x: &[usize],
    f: &[usize],
    strides: [usize; 2],
    padding: Padding,
) -> Result<(Geom, usize), String> {
    if f.len() != 4 || x.len() != 4 || x[3] != f[2] {
        return Err(format!(
            "input {x:?} and filter {f:?} do not fit (need [n, h, w, c] and [kh, kw, c, oc])"
        ));
    }
    Ok((Geom::new(x, [f[0], f[1]], strides, padding)?, f[3]))
}

impl OpDef for Conv2D {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 2 {
            return Err(format!("takes (input, filter), got {} operands", i.len()));
        }
        let s = conv_infer(i, self.strides, self.padding, "Conv2D")?;
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, f) = (inputs[0].f32(), inputs[1].f32());
        let (g, oc) = conv_geom(x.shape(), f.shape(), self.strides, self.padding)?;
        let (x, f) = (x.as_standard_layout(), f.as_standard_layout());
        let o = out.f32_buffer(&[g.n, g.oh, g.ow, oc]);
        conv2d_forward(
            x.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            None,
            false,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, f, dy) = (c.inputs[0], c.inputs[1], c.dy);
        let dx = c.graph.add(
            Conv2DBackpropInput {
                strides: self.strides,
                padding: self.padding,
            },
            &[x, f, dy],
        );
        let df = c.graph.add(
            Conv2DBackpropFilter {
                strides: self.strides,
                padding: self.padding,
            },
            &[x, f, dy],
        );
        Ok(vec![Some(dx), Some(df)])
    }
}

/// Checks `(x, filter, dy)` of a backprop op: dy must have the forward output's shape.
fn backprop_infer(
    i: &[&TensorInfo],
    strides: [usize; 2],
    padding: Padding,
    op: &str,
) -> Result<(), String> {
    if i.len() != 3 {
        return Err(format!(
            "takes (input, filter, dy), got {} operands",
            i.len()
        ));
    }
    let y = conv_infer(i, strides, padding, op)?;
    expect_f32(op, i[2])?;
    if !y.compatible(&i[2].shape) {
        return Err(format!(
            "dy has shape {}, the convolution's output has {y}",
            i[2].shape
        ));
    }
    Ok(())
}

fn backprop_geom(
    inputs: &[ValueView],
    strides: [usize; 2],
    padding: Padding,
) -> Result<(Geom, usize), String> {
    let (x, f, dy) = (inputs[0].shape(), inputs[1].shape(), inputs[2].shape());
    let (g, oc) = conv_geom(x, f, strides, padding)?;
    if dy != [g.n, g.oh, g.ow, oc] {
        return Err(format!(
            "dy has shape {dy:?}, the convolution's output has {:?}",
            [g.n, g.oh, g.ow, oc]
        ));
    }
    Ok((g, oc))
}

impl OpDef for Conv2DBackpropInput {
    fn kind(&self) -> &'static str {
        "Conv2DBackpropInput"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        backprop_infer(i, self.strides, self.padding, "Conv2DBackpropInput")?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (g, oc) = backprop_geom(inputs, self.strides, self.padding)?;
        let (f, dy) = (
            inputs[1].f32().as_standard_layout(),
            inputs[2].f32().as_standard_layout(),
        );
        let o = out.f32_buffer(&[g.n, g.h, g.w, g.c]);
        conv2d_backward_input(
            dy.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
}

impl OpDef for Conv2DBackpropFilter {
    fn kind(&self) -> &'static str {
        "Conv2DBackpropFilter"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        backprop_infer(i, self.strides, self.padding, "Conv2DBackpropFilter")?;
        Ok(Some(i[1].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (g, oc) = backprop_geom(inputs, self.strides, self.padding)?;
        let (x, dy) = (
            inputs[0].f32().as_standard_layout(),
            inputs[2].f32().as_standard_layout(),
        );
        let o = out.f32_buffer(inputs[1].shape());
        conv2d_backward_filter(
            x.as_slice().expect("standard layout"),
            &g,
            dy.as_slice().expect("standard layout"),
            oc,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
}

/// 2-D convolution of NHWC `x [batch, h, w, in_c]` with `filter [kh, kw, in_c, out_c]` (TF
/// layout) -> `[batch, oh, ow, out_c]`, where `oh = ceil(h / stride)` for
/// [`Padding::Same`] and `(h - kh) / stride + 1` for [`Padding::Valid`] (likewise `ow`).
///
/// A channel mismatch or a VALID window larger than the input is a build error naming both
/// operands and their shapes.
pub fn conv2d<'g>(
    x: Tensor<'g>,
    filter: Tensor<'g>,
    strides: [usize; 2],
    padding: Padding,
) -> Tensor<'g> {
    x.graph().add(Conv2D { strides, padding }, &[x, filter])
}

/// `conv2d` + `bias_add` (+ `relu`) in one kernel, as the convolution layer builds it: inputs
/// `(x [n, h, w, in_c], filter [kh, kw, in_c, out_c], bias [out_c])` -> `[n, oh, ow, out_c]`.
/// The bias is written before the GEMM accumulates onto it and the relu runs on each chunk
/// while it is in cache, saving two passes over the output. Gradients are those of the
/// unfused ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2DBiasAct {
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
    /// Apply `relu` after adding the bias.
    pub relu: bool,
}

impl OpDef for Conv2DBiasAct {
    fn kind(&self) -> &'static str {
        "Conv2DBiasAct"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 3 {
            return Err(format!(
                "takes (input, filter, bias), got {} operands",
                i.len()
            ));
        }
        let s = conv_infer(i, self.strides, self.padding, "Conv2DBiasAct")?;
        expect_f32("Conv2DBiasAct", i[2])?;
        let b = &i[2].shape;
        if b.rank() != 1 || (b.dim(0).is_some() && s.dim(3).is_some() && b.dim(0) != s.dim(3)) {
            return Err(format!(
                "bias must be [out_channels] = [{}], got {b}",
                s.dim(3).map_or("?".into(), |d| d.to_string())
            ));
        }
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, f, b) = (inputs[0].f32(), inputs[1].f32(), inputs[2].f32());
        let (g, oc) = conv_geom(x.shape(), f.shape(), self.strides, self.padding)?;
        if b.shape() != [oc] {
            return Err(format!("bias {:?} must be [{oc}]", b.shape()));
        }
        let (x, f, b) = (
            x.as_standard_layout(),
            f.as_standard_layout(),
            b.as_standard_layout(),
        );
        let o = out.f32_buffer(&[g.n, g.oh, g.ow, oc]);
        conv2d_forward(
            x.as_slice().expect("standard layout"),
            &g,
            f.as_slice().expect("standard layout"),
            oc,
            Some(b.as_slice().expect("standard layout")),
            self.relu,
            o.as_slice_mut().expect("buffers are contiguous"),
        );
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (x, f) = (c.inputs[0], c.inputs[1]);
        let dz = if !self.relu {
            c.dy
        } else if let Some(dz) = relu_masked_pool_grad(c) {
            dz
        } else {
            c.graph.add(ReluGradPar, &[c.dy, c.output])
        };
        let (strides, padding) = (self.strides, self.padding);
        let dx = c
            .graph
            .add(Conv2DBackpropInput { strides, padding }, &[x, f, dz]);
        let df = c
            .graph
            .add(Conv2DBackpropFilter { strides, padding }, &[x, f, dz]);
        let db = c.graph.add(BiasAddGrad, &[dz]);
        Ok(vec![Some(dx), Some(df), Some(db)])
    }
}

/// If `c.dy` is exactly a plain `MaxPoolGrad` of this relu layer's output (the layer feeds
/// only a max pool), a copy of it with `relu_mask` set: `relu_grad(dy)` without the extra pass.
fn relu_masked_pool_grad<'g>(c: &GradCtx<'g>) -> Option<Tensor<'g>> {
    let node = c.graph.node(c.dy.index());
    match &node.op {
        super::Op::MaxPoolGrad(p)
            if !p.relu_mask && node.error.is_none() && node.inputs[0] == c.output.index() =>
        {
            let ins: Vec<Tensor<'g>> = node
                .inputs
                .iter()
                .map(|&i| Tensor::from_index(c.graph, i))
                .collect();
            let p = super::pool::MaxPoolGrad {
                relu_mask: true,
                ..p.clone()
            };
            Some(c.graph.add(p, &ins))
        }
        _ => None,
    }
}

/// `act(conv2d(x, filter) + bias)` as one node (see [`Conv2DBiasAct`]); `relu` selects the
/// activation (none otherwise).
pub fn conv2d_bias_act<'g>(
    x: Tensor<'g>,
    filter: Tensor<'g>,
    bias: Tensor<'g>,
    strides: [usize; 2],
    padding: Padding,
    relu: bool,
) -> Tensor<'g> {
    x.graph().add(
        Conv2DBiasAct {
            strides,
            padding,
            relu,
        },
        &[x, filter, bias],
    )
}

/// Adds a bias `b [c]` along the last axis of `x [..., c]` (TF1's `tf.nn.bias_add`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasAdd;

impl OpDef for BiasAdd {
    fn kind(&self) -> &'static str {
        "BiasAdd"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 2 {
            return Err(format!("takes (x, bias), got {} operands", i.len()));
        }
        expect_f32("BiasAdd", i[0])?;
        expect_f32("BiasAdd", i[1])?;
        let (x, b) = (&i[0].shape, &i[1].shape);
        if x.rank() < 1 || b.rank() != 1 {
            return Err(format!(
                "needs x of rank >= 1 and a rank-1 bias, got {x} and {b}"
            ));
        }
        if let (Some(c), Some(n)) = (x.dim(x.rank() - 1), b.dim(0)) {
            if c != n {
                return Err(format!(
                    "bias length {n} differs from the last dimension of x ({c})"
                ));
            }
        }
        let mut s = x.clone();
        let r = s.rank();
        s.0[r - 1] = s.0[r - 1].or(b.dim(0));
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, b) = (inputs[0].f32(), inputs[1].f32());
        let c = *x.shape().last().unwrap_or(&0);
        if b.shape() != [c] {
            return Err(format!(
                "bias shape {:?} does not fit x {:?}",
                b.shape(),
                x.shape()
            ));
        }
        let (x, b) = (x.as_standard_layout(), b.as_standard_layout());
        let b = b.as_slice().expect("standard layout");
        let o = out.f32_buffer(x.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            return Ok(());
        }
        for (orow, xrow) in o
            .chunks_exact_mut(c)
            .zip(x.as_slice().expect("standard layout").chunks_exact(c))
        {
            for ((o, &x), &b) in orow.iter_mut().zip(xrow).zip(b) {
                *o = x + b;
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let db = c.graph.add(BiasAddGrad, &[c.dy]);
        Ok(vec![Some(c.dy), Some(db)])
    }
}

/// Gradient of [`BiasAdd`] for the bias: sums `dy [..., c]` over all but the last axis -> `[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasAddGrad;

impl OpDef for BiasAddGrad {
    fn kind(&self) -> &'static str {
        "BiasAddGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 1 || i[0].shape.rank() < 1 {
            return Err("takes one operand of rank >= 1".into());
        }
        expect_f32("BiasAddGrad", i[0])?;
        let s = &i[0].shape;
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            Shape(vec![s.dim(s.rank() - 1)]),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32().as_standard_layout();
        let c = *dy.shape().last().unwrap_or(&0);
        let o = out.f32_buffer(&[c]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        column_sums(dy.as_slice().expect("standard layout"), c, o);
        Ok(())
    }
}

/// Rows per task below which column sums and relu masks stay on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 16;

/// `out[j] = sum_i m[i, j]` for row-major `m [rows, c]`, split over the pool for large `m`.
fn column_sums(m: &[f32], c: usize, out: &mut [f32]) {
    out.fill(0.0);
    if c == 0 || m.is_empty() {
        return;
    }
    let rows = m.len() / c;
    let groups = if m.len() < PAR_MIN_ELEMS {
        1
    } else {
        rayon::current_num_threads().clamp(1, rows)
    };
    if groups == 1 {
        add_rows(m, c, out);
        return;
    }
    with_scratch(&PARTIALS, groups * c, |parts| {
        parts.par_chunks_mut(c).enumerate().for_each(|(t, p)| {
            p.fill(0.0);
            let (r0, r1) = (t * rows / groups, (t + 1) * rows / groups);
            add_rows(&m[r0 * c..r1 * c], c, p);
        });
        for p in parts.chunks_exact(c) {
            add_run(out, p);
        }
    });
}

dispatch_avx512! {
    /// `acc += sum of the rows of m [.., c]`.
    fn add_rows(m: &[f32], c: usize, acc: &mut [f32]) => add_rows_impl
}

#[inline(always)]
fn add_rows_impl(m: &[f32], c: usize, acc: &mut [f32]) {
    // Sum flat blocks of several whole rows (≤ 128 floats) so the inner loop is long.
    let per = (128 / c).max(1);
    let l = per * c;
    if l <= 128 {
        let mut wide = [0f32; 128];
        let blocks = m.chunks_exact(l);
        let rest = blocks.remainder();
        for b in blocks {
            for (w, &v) in wide[..l].iter_mut().zip(b) {
                *w += v;
            }
        }
        for r in wide[..l].chunks_exact(c).chain(rest.chunks_exact(c)) {
            add_run(acc, r);
        }
    } else {
        for row in m.chunks_exact(c) {
            add_run(acc, row);
        }
    }
}

dispatch_avx512! {
    /// `out = dy * (y > 0)`.
    fn relu_grad_run(dy: &[f32], y: &[f32], out: &mut [f32]) => relu_grad_impl
}

#[inline(always)]
fn relu_grad_impl(dy: &[f32], y: &[f32], out: &mut [f32]) {
    for ((o, &d), &y) in out.iter_mut().zip(dy).zip(y) {
        *o = if y > 0.0 { d } else { 0.0 };
    }
}

/// Relu's gradient `dy * (y > 0)` from `(dy, y)` with `y = relu(..)`, split over the rayon
/// pool (the fused conv layer's backward pass; the generic element-wise op is serial).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReluGradPar;

impl OpDef for ReluGradPar {
    fn kind(&self) -> &'static str {
        "ReluGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() != 2 || !i[0].shape.compatible(&i[1].shape) {
            return Err("takes (dy, y) of one shape".into());
        }
        expect_f32("ReluGrad", i[0])?;
        expect_f32("ReluGrad", i[1])?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, y) = (inputs[0].f32(), inputs[1].f32());
        if dy.shape() != y.shape() {
            return Err(format!("dy {:?} vs y {:?}", dy.shape(), y.shape()));
        }
        let (dy, y) = (dy.as_standard_layout(), y.as_standard_layout());
        let (dy, y) = (
            dy.as_slice().expect("standard layout"),
            y.as_slice().expect("standard layout"),
        );
        let o = out.f32_buffer(inputs[0].shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let chunk = PAR_MIN_ELEMS.max(o.len().div_ceil(4 * rayon::current_num_threads()));
        if o.len() <= chunk {
            relu_grad_run(dy, y, o);
            return Ok(());
        }
        o.par_chunks_mut(chunk).enumerate().for_each(|(t, oc)| {
            let r = t * chunk..t * chunk + oc.len();
            relu_grad_run(&dy[r.clone()], &y[r], oc)
        });
        Ok(())
    }
}

/// `x + b` with `b [c]` added along the last axis of `x [..., c]` (TF1's `tf.nn.bias_add`);
/// its bias gradient is one column sum.
pub fn bias_add<'g>(x: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    x.graph().add(BiasAdd, &[x, b])
}

/// A node that always fails to build with `reason`: how builders that are not ops (layers)
/// report bad arguments as ordinary build errors, naming the offending operands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invalid {
    /// What is wrong.
    pub reason: String,
}

impl OpDef for Invalid {
    fn kind(&self) -> &'static str {
        "Invalid"
    }
    fn infer(&self, _: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        Err(self.reason.clone())
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err(self.reason.clone())
    }
}

/// A poisoned tensor whose build error is `reason`, listing `operands`.
pub(crate) fn invalid<'g>(operands: &[Tensor<'g>], reason: String, name: &str) -> Tensor<'g> {
    operands[0]
        .graph()
        .add_named(Invalid { reason }, operands, Some(name))
}
