//! 2-D max pooling over NHWC data (TF1's `tf.nn.max_pool2d`) and its gradient.
//!
//! The gradient stores no argmax indices: like TF's `MaxPoolGrad` it takes the input and
//! the pool's output and sends each `dy` to the first window position (row-major) where
//! `x == y`, so the forward output stays a plain tensor and ties go to the first maximum, as
//! in TF. Both kernels run one image per
//! rayon task (each task writes only its own image).
//!
//! When the pooled tensor is a fused conv layer's relu output, that layer's gradient asks for
//! a second `MaxPoolGrad` with `relu_mask` (see [`MaxPoolGrad::relu_mask`]) in place of the
//! plain one + `ReluGrad`: the mask is one compare per pooled element instead of a full pass
//! over the input-sized gradient. The plain node is left unconsumed and is pruned from runs
//! unless fetched, so `gradients(.., [relu_output])` still gets TF's exact values.
//! Tiling windows over a multiple of 16 channels (the reference net's 2x2/2 pools) take
//! AVX-512 kernels (module `tiled16`): the forward with vector max, the gradient with
//! compare masks.

use super::conv::{static_out_dim, Geom, Padding, MAX_WINDOW};
use super::simd::multiversion;
use super::{expect_arity, expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Max pooling of `x [n, h, w, c]` over `ksize` windows -> `[n, oh, ow, c]`. Padded positions
/// never win (they count as `-inf`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPool {
    /// Window height and width.
    pub ksize: [usize; 2],
    /// Strides along height and width.
    pub strides: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
}

/// Gradient of [`MaxPool`]: inputs `(x, y, dy)` with `y` the pool's output, output `x`'s
/// shape; each `dy` element goes to the first position of its window where `x == y`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPoolGrad {
    /// Window of the forward pool.
    pub ksize: [usize; 2],
    /// Strides of the forward pool.
    pub strides: [usize; 2],
    /// Padding of the forward pool.
    pub padding: Padding,
    /// Also apply relu's gradient for `x = relu(..)`: drop `dy` where `y <= 0` (the position
    /// it would go to has `x == y`, so this is `relu_grad(pool_grad)`). Set only by
    /// [`Conv2DBiasAct`](super::conv::Conv2DBiasAct)'s gradient, which then needs no
    /// separate relu-gradient pass over the (4x larger) input-sized tensor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relu_mask: bool,
}

fn pool_infer(i: &TensorInfo, p: &MaxPool) -> Result<Shape, String> {
    expect_f32("MaxPool", i)?;
    let x = &i.shape;
    if x.rank() != 4 {
        return Err(format!(
            "input must be rank 4 [batch, height, width, channels], got {x}"
        ));
    }
    let bad = |v: &[usize; 2]| v.iter().any(|&d| d == 0 || d > MAX_WINDOW);
    if bad(&p.ksize) || bad(&p.strides) {
        return Err(format!(
            "window and strides must be in 1..={MAX_WINDOW}, got ksize {:?}, strides {:?}",
            p.ksize, p.strides
        ));
    }
    let oh = static_out_dim(x.dim(1), Some(p.ksize[0]), p.strides[0], p.padding)
        .map_err(|e| format!("height: {e}"))?;
    let ow = static_out_dim(x.dim(2), Some(p.ksize[1]), p.strides[1], p.padding)
        .map_err(|e| format!("width: {e}"))?;
    Ok(Shape(vec![x.dim(0), oh, ow, x.dim(3)]))
}

/// Channels handled per pass (stack buffers).
const CB: usize = 64;

impl OpDef for MaxPool {
    fn kind(&self) -> &'static str {
        "MaxPool"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        Ok(Some(TensorInfo::new(i[0].dtype, pool_infer(i[0], self)?)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let x = inputs[0].f32();
        let g = Geom::new(x.shape(), self.ksize, self.strides, self.padding)?;
        let x = x.as_standard_layout();
        let x = x.as_slice().expect("standard layout");
        let o = out.f32_buffer(&[g.n, g.oh, g.ow, g.c]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let (img, oimg) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        if o.is_empty() {
            return Ok(());
        }
        o.par_chunks_mut(oimg).enumerate().for_each(|(n, oi)| {
            let xi = &x[n * img..(n + 1) * img];
            #[cfg(target_arch = "x86_64")]
            if tiled16::applies(&g) {
                // SAFETY: `applies` checked AVX-512F; slices have the image sizes of `g`.
                unsafe { tiled16::pool_image(xi, &g, oi) };
                return;
            }
            pool_image(xi, &g, oi)
        });
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let dx = c.graph.add(
            MaxPoolGrad {
                ksize: self.ksize,
                strides: self.strides,
                padding: self.padding,
                relu_mask: false,
            },
            &[c.inputs[0], c.output, c.dy],
        );
        Ok(vec![Some(dx)])
    }
}

/// Input index range `[start, end)` of window `o` along one axis, clipped to the input.
#[inline]
fn window(o: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize) {
    let start = (o * s) as isize - p as isize;
    let a = start.max(0) as usize;
    let b = ((start + k as isize).min(n as isize)).max(0) as usize;
    (a, b.max(a))
}

impl OpDef for MaxPoolGrad {
    fn kind(&self) -> &'static str {
        "MaxPoolGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["x", "y", "dy"])?;
        let p = MaxPool {
            ksize: self.ksize,
            strides: self.strides,
            padding: self.padding,
        };
        let y = pool_infer(i[0], &p)?;
        for (k, what) in [(1, "y"), (2, "dy")] {
            expect_f32("MaxPoolGrad", i[k])?;
            if !y.compatible(&i[k].shape) {
                return Err(format!(
                    "{what} has shape {}, the pool's output has {y}",
                    i[k].shape
                ));
            }
        }
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, y, dy) = (inputs[0].f32(), inputs[1].f32(), inputs[2].f32());
        let g = Geom::new(x.shape(), self.ksize, self.strides, self.padding)?;
        let oshape = [g.n, g.oh, g.ow, g.c];
        if dy.shape() != oshape || y.shape() != oshape {
            return Err(format!(
                "y {:?} and dy {:?} must have the pool's output shape {oshape:?}",
                y.shape(),
                dy.shape(),
            ));
        }
        let (x, y, dy) = (
            x.as_standard_layout(),
            y.as_standard_layout(),
            dy.as_standard_layout(),
        );
        let (x, y, dy) = (
            x.as_slice().expect("standard layout"),
            y.as_slice().expect("standard layout"),
            dy.as_slice().expect("standard layout"),
        );
        let o = out.f32_buffer(&[g.n, g.h, g.w, g.c]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let (img, oimg) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        if o.is_empty() {
            return Ok(());
        }
        o.par_chunks_mut(img).enumerate().for_each(|(n, di)| {
            let r = n * oimg..(n + 1) * oimg;
            let xi = &x[n * img..(n + 1) * img];
            #[cfg(target_arch = "x86_64")]
            if tiled16::applies(&g) {
                // SAFETY: `applies` checked AVX-512F; slices have the image sizes of `g`.
                unsafe {
                    tiled16::grad_image(xi, &y[r.clone()], &dy[r.clone()], &g, self.relu_mask, di)
                };
                return;
            }
            pool_grad_image(xi, &y[r.clone()], &dy[r], &g, self.relu_mask, di)
        });
        Ok(())
    }
}

multiversion! {
    /// Max pooling of one image `xi [h, w, c]` into `oi [oh, ow, c]`.
    fn pool_image(xi: &[f32], g: &Geom, oi: &mut [f32]) => pool_image_impl
}

#[inline(always)]
fn pool_image_impl(xi: &[f32], g: &Geom, oi: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        let (y0, y1) = window(oy, g.sh, g.pt, g.kh, g.h);
        for ox in 0..g.ow {
            let (x0, x1) = window(ox, g.sw, g.pl, g.kw, g.w);
            let dst = &mut oi[(oy * g.ow + ox) * c..][..c];
            dst.fill(f32::NEG_INFINITY);
            for iy in y0..y1 {
                for ix in x0..x1 {
                    max_run(dst, &xi[(iy * g.w + ix) * c..][..c]);
                }
            }
        }
    }
}

/// Lanes per fixed-size block (one AVX-512 register).
const W: usize = 16;

/// `dst = max(dst, src)` element-wise; NaN propagates. (TF1's CPU `MaxPool` skips NaN, and an
/// all-NaN window gives `-f32::MAX`; staticflow keeps NaN, as TF does on GPU with
/// `TF_ENABLE_MAXPOOL_NANPROP`, so that a diverged model cannot look healthy.)
#[inline(always)]
fn max_run(dst: &mut [f32], src: &[f32]) {
    #[inline(always)]
    fn one(d: &mut f32, v: f32) {
        if v > *d || v.is_nan() {
            *d = v;
        }
    }
    for (d, &v) in dst.iter_mut().zip(src) {
        one(d, v);
    }
}

/// One window position of the pool gradient: where `x == y` the position takes what is left
/// of `dy` in `rem` (all of it for the first hit, 0 for later ties); `ADD` accumulates into
/// `dst` (overlapping windows) instead of assigning.
#[inline(always)]
fn grad_run<const ADD: bool>(dst: &mut [f32], x: &[f32], y: &[f32], rem: &mut [f32]) {
    #[inline(always)]
    fn one<const ADD: bool>(d: &mut f32, x: f32, y: f32, r: &mut f32) {
        // A NaN window's output is NaN: its first NaN position takes `dy`.
        let hit = x == y || x.is_nan();
        let v = if hit { *r } else { 0.0 };
        *d = if ADD { *d + v } else { v };
        *r = if hit { 0.0 } else { *r };
    }
    let n = dst.len();
    let full = n / W * W;
    for b in (0..full).step_by(W) {
        let d: &mut [f32; W] = (&mut dst[b..b + W]).try_into().expect("W lanes");
        let xs: &[f32; W] = x[b..b + W].try_into().expect("W lanes");
        let ys: &[f32; W] = y[b..b + W].try_into().expect("W lanes");
        let r: &mut [f32; W] = (&mut rem[b..b + W]).try_into().expect("W lanes");
        for j in 0..W {
            one::<ADD>(&mut d[j], xs[j], ys[j], &mut r[j]);
        }
    }
    for j in full..n {
        one::<ADD>(&mut dst[j], x[j], y[j], &mut rem[j]);
    }
}

multiversion! {
    /// Gradient of one image's pool: `di [h, w, c]` from `xi`, its pooled `yi` and `dyi`.
    fn pool_grad_image(xi: &[f32], yi: &[f32], dyi: &[f32], g: &Geom, relu_mask: bool, di: &mut [f32]) => pool_grad_image_impl
}

#[inline(always)]
fn pool_grad_image_impl(
    xi: &[f32],
    yi: &[f32],
    dyi: &[f32],
    g: &Geom,
    relu_mask: bool,
    di: &mut [f32],
) {
    let c = g.c;
    // Windows that tile the input (stride = window, no padding before) touch each input
    // position at most once: assign instead of accumulating, and zero only what no window
    // covers.
    let tiles = g.sh == g.kh && g.sw == g.kw && g.pt == 0 && g.pl == 0;
    if tiles {
        let (hy, wx) = ((g.oh * g.kh).min(g.h), (g.ow * g.kw).min(g.w));
        di[hy * g.w * c..].fill(0.0);
        if wx < g.w {
            for row in di[..hy * g.w * c].chunks_exact_mut(g.w * c) {
                row[wx * c..].fill(0.0);
            }
        }
    } else {
        di.fill(0.0);
    }
    let mut rem = [0f32; CB];
    for oy in 0..g.oh {
        let (y0, y1) = window(oy, g.sh, g.pt, g.kh, g.h);
        for ox in 0..g.ow {
            let (x0, x1) = window(ox, g.sw, g.pl, g.kw, g.w);
            let at = (oy * g.ow + ox) * c;
            for cb in (0..c).step_by(CB) {
                let nc = CB.min(c - cb);
                let yv = &yi[at + cb..][..nc];
                let rem = &mut rem[..nc];
                rem.copy_from_slice(&dyi[at + cb..][..nc]);
                if relu_mask {
                    for (r, &y) in rem.iter_mut().zip(yv) {
                        *r = crate::ops::binary::relu_grad_f32(*r, y);
                    }
                }
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let base = (iy * g.w + ix) * c + cb;
                        let xv = &xi[base..base + nc];
                        let dst = &mut di[base..base + nc];
                        if tiles {
                            grad_run::<false>(dst, xv, yv, rem);
                        } else {
                            grad_run::<true>(dst, xv, yv, rem);
                        }
                    }
                }
            }
        }
    }
}

/// The common case, windows that tile the input (`stride == ksize`, no padding before) with
/// channels a multiple of 16, in AVX-512 registers. Forward: one `max` per window position
/// and 16 channels. Gradient: per output pixel and 16 channels one compare mask per window
/// position picks who gets `dy` (first hit only).
#[cfg(target_arch = "x86_64")]
mod tiled16 {
    use super::Geom;
    use crate::ops::simd::Isa;
    use std::arch::x86_64::*;

    pub(super) fn applies(g: &Geom) -> bool {
        g.sh == g.kh
            && g.sw == g.kw
            && g.pt == 0
            && g.pl == 0
            && g.c.is_multiple_of(16)
            && Isa::detect() == Isa::Avx512
    }

    /// Forward pool of one image; a window holding a NaN yields NaN, as in the generic loop.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pool_image(xi: &[f32], g: &Geom, oi: &mut [f32]) {
        let c = g.c;
        assert!(xi.len() >= g.h * g.w * c && oi.len() >= g.oh * g.ow * c);
        let (xp, op) = (xi.as_ptr(), oi.as_mut_ptr());
        for oy in 0..g.oh {
            let y1 = (oy * g.kh + g.kh).min(g.h);
            for ox in 0..g.ow {
                let x1 = (ox * g.kw + g.kw).min(g.w);
                for cb in (0..c).step_by(16) {
                    let first = (oy * g.kh * g.w + ox * g.kw) * c + cb;
                    let mut acc = _mm512_loadu_ps(xp.add(first));
                    let mut nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(acc, acc);
                    for iy in oy * g.kh..y1 {
                        for ix in ox * g.kw..x1 {
                            let v = _mm512_loadu_ps(xp.add((iy * g.w + ix) * c + cb));
                            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                            acc = _mm512_max_ps(acc, v);
                        }
                    }
                    if nan != 0 {
                        acc = _mm512_mask_mov_ps(acc, nan, _mm512_set1_ps(f32::NAN));
                    }
                    _mm512_storeu_ps(op.add((oy * g.ow + ox) * c + cb), acc);
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn grad_image(
        xi: &[f32],
        yi: &[f32],
        dyi: &[f32],
        g: &Geom,
        relu_mask: bool,
        di: &mut [f32],
    ) {
        let c = g.c;
        assert!(xi.len() >= g.h * g.w * c && di.len() >= g.h * g.w * c);
        assert!(yi.len() >= g.oh * g.ow * c && dyi.len() >= g.oh * g.ow * c);
        let (hy, wx) = ((g.oh * g.kh).min(g.h), (g.ow * g.kw).min(g.w));
        di[hy * g.w * c..].fill(0.0);
        if wx < g.w {
            for row in di[..hy * g.w * c].chunks_exact_mut(g.w * c) {
                row[wx * c..].fill(0.0);
            }
        }
        let (xp, dp) = (xi.as_ptr(), di.as_mut_ptr());
        let zero = _mm512_setzero_ps();
        let one = _mm512_set1_ps(1.0);
        for oy in 0..g.oh {
            let y1 = (oy * g.kh + g.kh).min(g.h);
            for ox in 0..g.ow {
                let x1 = (ox * g.kw + g.kw).min(g.w);
                for cb in (0..c).step_by(16) {
                    let at = (oy * g.ow + ox) * c + cb;
                    let yv = _mm512_loadu_ps(yi.as_ptr().add(at));
                    let mut rem = _mm512_loadu_ps(dyi.as_ptr().add(at));
                    if relu_mask {
                        // dy * (y > 0): a NaN dy stays NaN where the unit is off, as in TF.
                        let on = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(yv, zero);
                        rem = _mm512_mul_ps(rem, _mm512_maskz_mov_ps(on, one));
                    }
                    for iy in oy * g.kh..y1 {
                        for ix in ox * g.kw..x1 {
                            let base = (iy * g.w + ix) * c + cb;
                            let xv = _mm512_loadu_ps(xp.add(base));
                            // x == y, or x is NaN (then so is y): the first NaN takes dy.
                            let hit = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(xv, yv)
                                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(xv, xv);
                            _mm512_storeu_ps(dp.add(base), _mm512_maskz_mov_ps(hit, rem));
                            rem = _mm512_mask_mov_ps(rem, hit, zero);
                        }
                    }
                }
            }
        }
    }
}

/// Max pooling of NHWC `x [batch, h, w, c]` over `ksize` windows moved by `strides` ->
/// `[batch, oh, ow, c]` (TF1's `tf.nn.max_pool2d`; output sizes as in [`conv2d`](super::conv::conv2d)).
pub fn max_pool2d(
    x: Tensor<'_>,
    ksize: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
) -> Tensor<'_> {
    x.graph().add(
        MaxPool {
            ksize,
            strides,
            padding,
        },
        &[x],
    )
}
