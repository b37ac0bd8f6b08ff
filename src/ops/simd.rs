//! Runtime CPU-feature dispatch for the kernels.
//!
//! The crate is built for baseline x86-64 (SSE2), so a plain loop never uses wider vectors.
//! Kernels that benefit are written once as a portable `#[inline(always)]` function and
//! compiled for several instruction-set tiers ([`Isa`]) by [`multiversion!`]; the tier is
//! picked at run time. Every tier compiles the same source, and Rust never contracts
//! `a * b + c` into an FMA without an explicit `mul_add`, so all tiers give bit-identical
//! results (`tests` below, and `ops::lstm`'s cell tests, check this).
//!
//! Kernels written with `std::arch` intrinsics instead (the direct convolution, the
//! Winograd transforms, the tiled pools) gate them on `Isa::detect() == Isa::Avx512`.

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set tier kernels are compiled for, ordered from the least to the most
/// capable: each tier's features include the previous one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum Isa {
    /// Baseline of the target (SSE2 on x86-64); the only tier on other architectures.
    Generic = 1,
    /// x86-64 with AVX2 and FMA.
    Avx2 = 2,
    /// x86-64 with AVX-512F and AVX-512VL (and AVX2, FMA).
    Avx512 = 3,
}

/// [`Isa::detect`]'s result as `Isa as u8`, or 0 before the first call.
static DETECTED: AtomicU8 = AtomicU8::new(0);

impl Isa {
    /// Every tier, least capable first.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const ALL: [Isa; 3] = [Isa::Generic, Isa::Avx2, Isa::Avx512];

    /// The most capable tier this CPU supports. Probed once per process, then one relaxed
    /// atomic load: cheap enough to call per kernel call.
    #[inline]
    pub(crate) fn detect() -> Isa {
        match DETECTED.load(Ordering::Relaxed) {
            1 => Isa::Generic,
            2 => Isa::Avx2,
            3 => Isa::Avx512,
            _ => {
                let isa = Isa::probe();
                DETECTED.store(isa as u8, Ordering::Relaxed);
                isa
            }
        }
    }

    /// Whether this CPU supports the tier (`self <= Isa::detect()`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn available(self) -> bool {
        self <= Isa::detect()
    }

    #[cold]
    fn probe() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("avx512f") && has!("avx512vl") {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Generic
    }
}

/// Defines a function that runs the `#[inline(always)]` function `$imp` (same parameters,
/// returning `()`) compiled for an [`Isa`] tier: AVX-512 (`avx512f,avx512vl,avx2,fma`),
/// AVX2 (`avx2,fma`) or the generic build.
///
/// Two forms:
/// - `fn name(a: A, ..) => imp` defines `name(a, ..)`, which runs the best tier of this CPU
///   ([`Isa::detect`], one atomic load per call). Use it for kernels that just want to be
///   fast (the conv and pool loops).
/// - `fn name(isa: Isa, a: A, ..) => imp` defines `name(isa, a, ..)`, which runs tier `isa`,
///   or the best tier this CPU has if it lacks `isa` (so any `isa` is safe). Use it when the
///   caller picks the tier: a kernel called per row can take one `Isa::detect()` from its
///   driver, and tests can compare every available tier.
///
/// Attributes (doc comments) and a visibility may precede `fn`:
/// ```ignore
/// multiversion! {
///     /// `v = max(v, 0)`.
///     pub(super) fn relu_in_place(v: &mut [f32]) => relu_impl
/// }
/// #[inline(always)]
/// fn relu_impl(v: &mut [f32]) {
///     v.iter_mut().for_each(|x| *x = x.max(0.0));
/// }
/// ```
macro_rules! multiversion {
    // The body of both forms: `$isa` must be a tier this CPU supports.
    (@run $isa:expr, $imp:ident($($a:ident: $t:ty),*)) => {{
        let isa: $crate::ops::simd::Isa = $isa;
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx512($($a: $t),*) {
                $imp($($a),*)
            }
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx2($($a: $t),*) {
                $imp($($a),*)
            }
            match isa {
                // SAFETY: `isa <= Isa::detect()`, which found these features on this CPU.
                $crate::ops::simd::Isa::Avx512 => return unsafe { avx512($($a),*) },
                // SAFETY: as above.
                $crate::ops::simd::Isa::Avx2 => return unsafe { avx2($($a),*) },
                $crate::ops::simd::Isa::Generic => {}
            }
        }
        let _ = isa;
        $imp($($a),*)
    }};
    // Explicit tier (before the best-tier arm, whose pattern would also match `isa: Isa`).
    (
        $(#[$m:meta])* $vis:vis fn $name:ident(isa: Isa $(, $a:ident: $t:ty)* $(,)?) => $imp:ident
    ) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(isa: $crate::ops::simd::Isa $(, $a: $t)*) {
            $crate::ops::simd::multiversion!(
                @run isa.min($crate::ops::simd::Isa::detect()), $imp($($a: $t),*)
            )
        }
    };
    // Best tier.
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) => $imp:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) {
            $crate::ops::simd::multiversion!(
                @run $crate::ops::simd::Isa::detect(), $imp($($a: $t),*)
            )
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn kernel_impl(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = (x * y + x / (1.0 + y.abs())).max(0.25 * x) - (y * y).sqrt();
        }
    }

    multiversion! {
        fn kernel_at(isa: Isa, a: &[f32], b: &[f32], out: &mut [f32]) => kernel_impl
    }

    multiversion! {
        fn kernel_best(a: &[f32], b: &[f32], out: &mut [f32],) => kernel_impl
    }

    #[test]
    fn detect_is_stable_and_available() {
        let isa = Isa::detect();
        assert_eq!(Isa::detect(), isa);
        assert!(Isa::Generic.available() && isa.available());
        assert!(Isa::ALL.iter().all(|t| t.available() == (*t <= isa)));
    }

    #[test]
    fn every_tier_gives_identical_results() {
        let n = 1037; // not a multiple of any vector width
        let a: Vec<f32> = (0..n)
            .map(|k| ((k * 37) as f32 * 0.013).sin() * 5.0)
            .collect();
        let mut b: Vec<f32> = (0..n)
            .map(|k| ((k * 11) as f32 * 0.029).cos() * 3.0)
            .collect();
        b[5] = f32::NAN;
        b[6] = f32::INFINITY;
        let run = |isa: Option<Isa>| {
            let mut out = vec![0.0; n];
            match isa {
                Some(isa) => kernel_at(isa, &a, &b, &mut out),
                None => kernel_best(&a, &b, &mut out),
            }
            out.into_iter().map(f32::to_bits).collect::<Vec<_>>()
        };
        let want = run(Some(Isa::Generic));
        // Every tier, available or not: an unavailable one falls back to the best available.
        for isa in Isa::ALL {
            assert_eq!(run(Some(isa)), want, "{isa:?}");
        }
        assert_eq!(run(None), want);
    }
}
