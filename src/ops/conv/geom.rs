//! Convolution and pooling geometry: the [`Padding`] scheme with TF semantics, output sizes,
//! and [`Geom`], the run-time shape of one convolution or pooling (shared with `pool.rs`).

use serde::{Deserialize, Serialize};

/// Padding scheme, with TF semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// Output size `ceil(in / stride)`; the window is zero-padded by
    /// `max((out - 1) * stride + k - in, 0)` in total, the odd one on the right/bottom.
    Same,
    /// No padding: output size `(in - k) / stride + 1` (windows fully inside the input).
    Valid,
}

/// The largest window size or stride (TF's int32 attribute range): window arithmetic on
/// signed offsets then never overflows.
pub(crate) const MAX_WINDOW: usize = i32::MAX as usize;

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
    if k > MAX_WINDOW || stride > MAX_WINDOW {
        return Err(format!(
            "window size and stride must be at most {MAX_WINDOW}, got {k} and {stride}"
        ));
    }
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            // (out - 1) * stride < input, and k is bounded: no overflow.
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
            if stride == 0 || stride > MAX_WINDOW {
                return Err(format!("stride must be in 1..={MAX_WINDOW}, got {stride}"));
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
    pub(super) fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }
    /// Output pixels per image.
    pub(super) fn opix(&self) -> usize {
        self.oh * self.ow
    }
    /// Input elements per image.
    pub(super) fn img(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Valid `k` range along one axis for output index `o`: `(first k, input index of it, count)`.
    #[inline]
    pub(super) fn range(o: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize, usize) {
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
    pub(super) fn rows_per_chunk(&self, target_bytes: usize) -> usize {
        (target_bytes / (self.k() * 4).max(1)).clamp(16, (self.n * self.opix()).max(16))
    }
    /// Images per chunk so that a chunk's column matrix is about `target_bytes`.
    pub(super) fn images_per_chunk(&self, target_bytes: usize) -> usize {
        let per = self.opix() * self.k() * 4;
        (target_bytes / per.max(1)).clamp(1, self.n.max(1))
    }
}
