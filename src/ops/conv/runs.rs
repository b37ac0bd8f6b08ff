//! Small vector helpers shared by the conv kernels: short-run copy/add and in-place relu
//! (compiled per instruction-set tier by `ops::simd::multiversion!`).

use crate::ops::simd::multiversion;

/// Copies a short run (a few pixels' channels) with fixed-size moves instead of a `memcpy`
/// call: runs of 4..=32 floats take two overlapping moves of 4, 8 or 16 floats.
#[inline(always)]
pub(super) fn copy_run(dst: &mut [f32], src: &[f32]) {
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
pub(super) fn add_run(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    for (d, &s) in dst.iter_mut().zip(&src[..n]) {
        *d += s;
    }
}

multiversion! {
    /// `v = max(v, 0)`; NaN stays NaN.
    pub(super) fn relu_in_place(v: &mut [f32]) => relu_impl
}

#[inline(always)]
fn relu_impl(v: &mut [f32]) {
    v.iter_mut()
        .for_each(|x| *x = crate::ops::unary::relu_f32(*x));
}
