//! Geometric data augmentation for images with point labels (landmarks): a left-right
//! mirror, a zoom about the image centre and a shift, applied to the image by bilinear
//! sampling and to points by the same map, so labels stay on the pixels they mark.
//!
//! Task-specific parts (which landmark becomes which when mirrored, how a pose class
//! mirrors) live with the reader, e.g. [`super::mtfl::MtflSplit::transformed`].

use crate::error::{Error, Result};
use ndarray::{ArrayView3, ArrayViewMut3};
use rand::Rng;

/// The random transforms to draw: `"none"`, or a comma list of `flip`, `shiftN` (whole-pixel
/// shifts uniform in `[-N, N]` on each axis) and `zoomZ` (zoom uniform in `[1, Z]`), e.g.
/// `"flip,shift2,zoom1.5"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentOptions {
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Largest shift in output pixels (whole pixels), each axis.
    pub max_shift: u32,
    /// Largest zoom factor (1: no zoom).
    pub max_zoom: f32,
}

impl AugmentOptions {
    /// No augmentation.
    pub const NONE: AugmentOptions = AugmentOptions {
        flip: false,
        max_shift: 0,
        max_zoom: 1.0,
    };

    /// True if every drawn transform is the identity.
    pub fn is_none(&self) -> bool {
        !self.flip && self.max_shift == 0 && self.max_zoom <= 1.0
    }

    /// One random transform.
    pub fn sample(&self, rng: &mut impl Rng) -> Transform {
        let s = self.max_shift as i32;
        Transform {
            flip: self.flip && rng.gen_bool(0.5),
            zoom: if self.max_zoom > 1.0 {
                rng.gen_range(1.0..self.max_zoom)
            } else {
                1.0
            },
            dx: rng.gen_range(-s..=s) as f32,
            dy: rng.gen_range(-s..=s) as f32,
        }
    }
}

impl std::str::FromStr for AugmentOptions {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut o = AugmentOptions::NONE;
        let bad = |part: &str| {
            Error::InvalidArgument(format!(
                "augmentation `{part}` in `{s}`: expected none or a comma list of flip, shiftN \
                 (N whole pixels), zoomZ (Z >= 1), e.g. flip,shift2,zoom1.5"
            ))
        };
        for part in s.split(',').map(str::trim) {
            if part == "none" || part.is_empty() {
                continue;
            } else if part == "flip" {
                o.flip = true;
            } else if let Some(n) = part.strip_prefix("shift") {
                o.max_shift = n.parse().map_err(|_| bad(part))?;
            } else if let Some(z) = part.strip_prefix("zoom") {
                o.max_zoom = z.parse().map_err(|_| bad(part))?;
                if !(o.max_zoom >= 1.0 && o.max_zoom.is_finite()) {
                    return Err(bad(part));
                }
            } else {
                return Err(bad(part));
            }
        }
        Ok(o)
    }
}

/// One example's transform: mirrored left-right if `flip`, then magnified `zoom` times about
/// the image centre, then moved by `dx`, `dy` output pixels. Pixels that come from outside
/// the source image are 0 (the mean of a standardised image).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    /// Mirror left-right first.
    pub flip: bool,
    /// Magnification about the centre (1: none; 2: the central half fills the image).
    pub zoom: f32,
    /// Shift right, in output pixels.
    pub dx: f32,
    /// Shift down, in output pixels.
    pub dy: f32,
}

impl Default for Transform {
    fn default() -> Self {
        Transform::IDENTITY
    }
}

impl Transform {
    /// Leaves images and points unchanged.
    pub const IDENTITY: Transform = Transform {
        flip: false,
        zoom: 1.0,
        dx: 0.0,
        dy: 0.0,
    };

    /// Where the point at normalised `(x, y)` (fractions of the image's width and height)
    /// lands, normalised, in an image of `width` x `height` pixels. Points may land outside
    /// `[0, 1]`.
    pub fn map_point(&self, x: f32, y: f32, width: usize, height: usize) -> (f32, f32) {
        let x = if self.flip { 1.0 - x } else { x };
        (
            0.5 + (x - 0.5) * self.zoom + self.dx / width as f32,
            0.5 + (y - 0.5) * self.zoom + self.dy / height as f32,
        )
    }

    /// Writes `src` (`[h, w, c]`) transformed into `dst` (same shape), sampling bilinearly.
    /// Separable: one pass along x into a scratch, one along y.
    ///
    /// # Panics
    /// If `src` and `dst` differ in shape (a programming error, not a data error).
    pub fn apply_image(&self, src: ArrayView3<f32>, mut dst: ArrayViewMut3<f32>) {
        assert_eq!(
            src.dim(),
            dst.dim(),
            "Transform::apply_image: shapes differ"
        );
        let (h, w, c) = src.dim();
        let xs = self.taps(w, self.dx, self.flip);
        let ys = self.taps(h, self.dy, false);
        let src = src.as_standard_layout();
        let src = src.as_slice().expect("standard layout is contiguous");
        let row_len = w * c;
        // Pass 1: every source row resampled along x.
        let mut tmp = vec![0f32; h * row_len];
        for (srow, row) in src.chunks_exact(row_len).zip(tmp.chunks_exact_mut(row_len)) {
            for (t, out) in xs.iter().zip(row.chunks_exact_mut(c)) {
                let (a, b) = (&srow[t.i0 * c..][..c], &srow[t.i1 * c..][..c]);
                for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
                    *o = t.w0 * a + t.w1 * b;
                }
            }
        }
        // Pass 2: each output row is a blend of two resampled rows.
        for (oy, t) in ys.iter().enumerate() {
            let (r0, r1) = (
                &tmp[t.i0 * row_len..][..row_len],
                &tmp[t.i1 * row_len..][..row_len],
            );
            // Row-major order, contiguous for a standard-layout `dst`.
            let mut out = dst.index_axis_mut(ndarray::Axis(0), oy);
            for ((o, a), b) in out.iter_mut().zip(r0).zip(r1) {
                *o = t.w0 * a + t.w1 * b;
            }
        }
    }

    /// For each output index along an axis of `n` pixels: the two source indices and their
    /// weights (a weight is 0 where its index falls outside the image).
    fn taps(&self, n: usize, shift: f32, flip: bool) -> Vec<Tap> {
        let nf = n as f32;
        (0..n)
            .map(|o| {
                // Inverse of `map_point` in pixel units: output pixel centre -> source position.
                let s = ((o as f32 + 0.5 - shift) / nf - 0.5) / self.zoom * nf + 0.5 * nf - 0.5;
                let s = if flip { nf - 1.0 - s } else { s };
                let f = s.floor();
                let frac = s - f;
                let i = f as isize;
                let tap = |i: isize, wt: f32| {
                    if i < 0 || i >= n as isize {
                        (0, 0.0)
                    } else {
                        (i as usize, wt)
                    }
                };
                let (i0, w0) = tap(i, 1.0 - frac);
                let (i1, w1) = tap(i + 1, frac);
                Tap { i0, w0, i1, w1 }
            })
            .collect()
    }
}

/// Two source indices and weights of one output index.
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    w0: f32,
    i1: usize,
    w1: f32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn ramp(h: usize, w: usize) -> Array3<f32> {
        Array3::from_shape_fn((h, w, 3), |(y, x, c)| (y * 100 + x * 3 + c) as f32)
    }

    fn apply(t: Transform, src: &Array3<f32>) -> Array3<f32> {
        let mut dst = Array3::zeros(src.dim());
        t.apply_image(src.view(), dst.view_mut());
        dst
    }

    #[test]
    fn identity_flip_and_whole_pixel_shifts_copy_exactly() {
        let src = ramp(6, 8);
        assert_eq!(apply(Transform::IDENTITY, &src), src);
        let flipped = apply(
            Transform {
                flip: true,
                ..Transform::IDENTITY
            },
            &src,
        );
        assert_eq!(flipped[[2, 0, 1]], src[[2, 7, 1]]);
        assert_eq!(flipped[[5, 3, 2]], src[[5, 4, 2]]);
        let t = Transform {
            dx: 2.0,
            dy: -1.0,
            ..Transform::IDENTITY
        };
        let shifted = apply(t, &src);
        assert_eq!(shifted[[0, 2, 0]], src[[1, 0, 0]]);
        assert_eq!(shifted[[4, 7, 2]], src[[5, 5, 2]]);
        assert_eq!(shifted[[5, 3, 0]], 0.0, "from below the image");
        assert_eq!(shifted[[2, 1, 0]], 0.0, "from left of the image");
    }

    #[test]
    fn a_marked_pixel_lands_where_map_point_says() {
        for t in [
            Transform {
                flip: true,
                zoom: 1.5,
                dx: 2.0,
                dy: -1.0,
            },
            Transform {
                flip: false,
                zoom: 1.3,
                dx: -3.0,
                dy: 2.0,
            },
        ] {
            let (h, w) = (40, 40);
            let (px, py) = (14usize, 23usize);
            let mut src = Array3::zeros((h, w, 3));
            src[[py, px, 0]] = 1.0;
            let dst = apply(t, &src);
            // The centroid of the spread-out mark, in normalised coordinates.
            let (mut sx, mut sy, mut sw) = (0f32, 0f32, 0f32);
            for ((y, x, c), v) in dst.indexed_iter() {
                if c == 0 {
                    sx += v * (x as f32 + 0.5);
                    sy += v * (y as f32 + 0.5);
                    sw += v;
                }
            }
            let got = (sx / sw / w as f32, sy / sw / h as f32);
            let want = t.map_point(
                (px as f32 + 0.5) / w as f32,
                (py as f32 + 0.5) / h as f32,
                w,
                h,
            );
            assert!(
                (got.0 - want.0).abs() < 0.5 / w as f32 && (got.1 - want.1).abs() < 0.5 / h as f32,
                "{t:?}: mark at {got:?}, map_point says {want:?}"
            );
        }
    }

    #[test]
    fn options_parse_and_reject_with_the_culprit() {
        let o: AugmentOptions = "flip,shift2,zoom1.5".parse().unwrap();
        assert_eq!(
            o,
            AugmentOptions {
                flip: true,
                max_shift: 2,
                max_zoom: 1.5
            }
        );
        assert!("none".parse::<AugmentOptions>().unwrap().is_none());
        let e = "flip,zoom0.5".parse::<AugmentOptions>().unwrap_err();
        assert!(e.to_string().contains("`zoom0.5`"), "{e}");
        let e = "rotate".parse::<AugmentOptions>().unwrap_err();
        assert!(e.to_string().contains("`rotate`"), "{e}");
    }
}
