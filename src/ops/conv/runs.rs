//! Small vector helpers shared by the conv kernels: short-run copy/add, in-place relu, and
//! the `dispatch_avx512!` macro that compiles a loop twice and picks the AVX-512 build at run
//! time (the crate is built for baseline x86-64; `pool.rs` uses the macro too).

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
