//! Image loading like the TF1 tutorial's parse function: decode JPEG/PNG (with the `image`
//! crate), always 3 channels (greyscale expanded, alpha dropped), bilinear resize to a target
//! size (40×40 by default), f32 in `[0, 1]`, layout `[height, width, 3]` (NHWC rows).
//!
//! The resize is PIL's bilinear filter (a triangle filter whose support widens when
//! downscaling, so it anti-aliases), which is what the reference TF1/PyTorch scripts used.
//!
//! A file that cannot be read or decoded (missing, truncated, not an image) is an
//! [`Error::Io`] or [`Error::Decode`] naming the file; nothing here panics on bad input.

use crate::error::{Error, Result};
use ndarray::{Array3, Array4, ArrayViewMut3, Axis};
use std::path::{Path, PathBuf};

/// Decoding and resizing options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// Output width in pixels.
    pub width: usize,
    /// Output height in pixels.
    pub height: usize,
}

impl Default for ImageOptions {
    /// 40×40, the TCDCN / tutorial input size.
    fn default() -> Self {
        ImageOptions {
            width: 40,
            height: 40,
        }
    }
}

/// A decoded, resized image and the size it had in the file (to normalise coordinates).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedImage {
    /// `[height, width, 3]`, f32 in `[0, 1]`.
    pub pixels: Array3<f32>,
    /// Width of the stored image, before resizing.
    pub original_width: usize,
    /// Height of the stored image, before resizing.
    pub original_height: usize,
}

/// Reads and decodes `path` (JPEG or PNG) and resizes it: see the module docs.
pub fn load_image(path: impl AsRef<Path>, opts: &ImageOptions) -> Result<LoadedImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image(&bytes, path, opts)
}

/// The most memory one image may take while it is decoded and converted to RGB (the
/// `image` crate's default allocation limit, 512 MiB): a small file that decodes to a huge
/// image (a "decompression bomb") is an error, not an out-of-memory abort.
pub const MAX_IMAGE_BYTES: u64 = 512 << 20;

/// Decodes an in-memory JPEG or PNG; `path` only names the source in errors. Decoding and
/// the RGB conversion together may use at most [`MAX_IMAGE_BYTES`].
pub fn decode_image(bytes: &[u8], path: &Path, opts: &ImageOptions) -> Result<LoadedImage> {
    decode_image_with_limit(bytes, path, opts, MAX_IMAGE_BYTES)
}

/// [`decode_image`] with another memory limit: the decoder's buffer and the RGB copy made
/// from it (kept alive together) must fit in `max_bytes`, else [`Error::Decode`] names the
/// file, its size in pixels and the bytes it needs.
pub fn decode_image_with_limit(
    bytes: &[u8],
    path: &Path,
    opts: &ImageOptions,
    max_bytes: u64,
) -> Result<LoadedImage> {
    if opts.width == 0 || opts.height == 0 {
        return Err(Error::InvalidArgument(format!(
            "image target size must be positive, got {}x{}",
            opts.width, opts.height
        )));
    }
    let decode_err = |message: String| Error::Decode {
        path: path.to_path_buf(),
        message,
    };
    // The decoders return errors on malformed input; the guard turns a decoder bug into an
    // error naming the file rather than a crash of the whole pipeline.
    let decoded = std::panic::catch_unwind(|| {
        let mut reader =
            image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(max_bytes);
        reader.limits(limits);
        reader.decode()
    })
    .map_err(|_| decode_err("the image decoder panicked on this file".into()))?
    .map_err(|e| decode_err(format!("cannot decode image: {e}")))?;
    // The RGB conversion copies the image (unless it already is RGB8) while the decoded
    // buffer is alive: both count against the limit.
    let (w, h) = (decoded.width() as u64, decoded.height() as u64);
    let held = decoded.as_bytes().len() as u64;
    let rgb_bytes = w * h * 3;
    let needed = if matches!(decoded, image::DynamicImage::ImageRgb8(_)) {
        held
    } else {
        held + rgb_bytes
    };
    if needed > max_bytes {
        return Err(decode_err(format!(
            "a {w}x{h} image needs {needed} bytes to decode and convert to RGB, more than the limit of {max_bytes}"
        )));
    }
    let rgb = decoded.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Err(decode_err("image has no pixels".into()));
    }
    let mut out = Array3::<f32>::zeros((opts.height, opts.width, 3));
    resize_rgb8(rgb.as_raw(), w, h, out.view_mut());
    Ok(LoadedImage {
        pixels: out,
        original_width: w,
        original_height: h,
    })
}

/// Per-output-coordinate filter taps: first source index and normalised weights.
struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<f32>,
    stride: usize,
}

/// PIL's `BILINEAR` resampling coefficients for one axis (`in_size` → `out_size`).
fn taps(in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // triangle filter support 1.0, widened when downscaling
    let stride = (support.ceil() as usize) * 2 + 1;
    let mut t = Taps {
        start: Vec::with_capacity(out_size),
        len: Vec::with_capacity(out_size),
        weights: vec![0.0; stride * out_size],
        stride,
    };
    for o in 0..out_size {
        let center = (o as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5).floor().max(0.0)) as usize;
        let xmax = ((center + support + 0.5).floor() as usize).min(in_size);
        let n = (xmax - xmin).min(stride);
        let mut total = 0.0;
        let ws = &mut t.weights[o * stride..o * stride + n];
        for (k, w) in ws.iter_mut().enumerate() {
            let x = ((xmin + k) as f64 - center + 0.5) / filterscale;
            let v = (1.0 - x.abs()).max(0.0);
            *w = v as f32;
            total += v;
        }
        if total > 0.0 {
            for w in ws.iter_mut() {
                *w = (*w as f64 / total) as f32;
            }
        }
        t.start.push(xmin);
        t.len.push(n);
    }
    t
}

/// Resizes packed RGB8 pixels `[h, w, 3]` into `out` (`[out_h, out_w, 3]`), scaling to
/// `[0, 1]`, with PIL's bilinear filter (separable: vertical pass on whole rows, then
/// horizontal). `src` must hold `h * w * 3` bytes.
pub fn resize_rgb8(src: &[u8], w: usize, h: usize, mut out: ArrayViewMut3<f32>) {
    let (oh, ow, _) = out.dim();
    let tx = taps(w, ow);
    let ty = taps(h, oh);
    let rw = w * 3;
    // Vertical pass: [oh, w * 3], contiguous rows (vectorises).
    let mut tmp = vec![0f32; oh * rw];
    for (o, dst) in tmp.chunks_exact_mut(rw).enumerate() {
        let (s, n) = (ty.start[o], ty.len[o]);
        let ws = &ty.weights[o * ty.stride..o * ty.stride + n];
        for (k, &wt) in ws.iter().enumerate() {
            let src_row = &src[(s + k) * rw..(s + k + 1) * rw];
            for (d, &v) in dst.iter_mut().zip(src_row) {
                *d += wt * v as f32;
            }
        }
    }
    // Horizontal pass.
    const INV: f32 = 1.0 / 255.0;
    for (o, row) in tmp.chunks_exact(rw).enumerate() {
        let mut dst = out.index_axis_mut(Axis(0), o);
        for x in 0..ow {
            let (s, n) = (tx.start[x], tx.len[x]);
            let ws = &tx.weights[x * tx.stride..x * tx.stride + n];
            let px = &row[s * 3..(s + n) * 3];
            let mut acc = [0f32; 3];
            for (&wt, p) in ws.iter().zip(px.chunks_exact(3)) {
                acc[0] += wt * p[0];
                acc[1] += wt * p[1];
                acc[2] += wt * p[2];
            }
            for (c, a) in acc.iter().enumerate() {
                dst[[x, c]] = (a * INV).clamp(0.0, 1.0);
            }
        }
    }
}

/// What to do with a file that cannot be read or decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Stop with the error, which names the file (the default).
    #[default]
    Fail,
    /// Skip the file and count it (see [`LoadedBatch::skipped`]).
    Skip,
}

/// Many images decoded at once, see [`load_images`].
#[derive(Clone, Debug)]
pub struct LoadedBatch {
    /// `[n_ok, height, width, 3]`.
    pub images: Array4<f32>,
    /// For each loaded image, its index in the input list.
    pub indices: Vec<usize>,
    /// `(width, height)` of each loaded image before resizing.
    pub original_sizes: Vec<(usize, usize)>,
    /// The files skipped with [`OnError::Skip`], with their errors.
    pub skipped: Vec<(PathBuf, Error)>,
}

/// Decodes and resizes `paths` in parallel on the rayon pool (keeping their order). With
/// [`OnError::Fail`] the first unreadable file (in list order) is the error.
pub fn load_images(
    paths: &[PathBuf],
    opts: &ImageOptions,
    on_error: OnError,
) -> Result<LoadedBatch> {
    use rayon::prelude::*;
    let results: Vec<Result<LoadedImage>> = paths
        .par_iter()
        .with_min_len(8)
        .map(|p| load_image(p, opts))
        .collect();
    let mut images = Array4::<f32>::zeros((0, opts.height, opts.width, 3));
    let ok: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    let mut skipped = Vec::new();
    let mut data = Vec::with_capacity(ok.len() * opts.height * opts.width * 3);
    let mut sizes = Vec::with_capacity(ok.len());
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(img) => {
                sizes.push((img.original_width, img.original_height));
                data.extend(img.pixels.iter());
            }
            Err(e) => match on_error {
                OnError::Fail => return Err(e),
                OnError::Skip => skipped.push((paths[i].clone(), e)),
            },
        }
    }
    if !ok.is_empty() {
        images = Array4::from_shape_vec((ok.len(), opts.height, opts.width, 3), data)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    Ok(LoadedBatch {
        images,
        indices: ok,
        original_sizes: sizes,
        skipped,
    })
}

/// TF's `tf.image.per_image_standardization`, in place on a batch `[n, h, w, c]`: each image
/// minus its mean, divided by `max(std, 1/sqrt(h·w·c))` (the floor keeps a flat image
/// finite), so every image has mean 0 and standard deviation 1.
pub fn per_image_standardization(mut images: ndarray::ArrayViewMut4<f32>) {
    for mut im in images.outer_iter_mut() {
        let n = im.len() as f32;
        let mean = im.sum() / n;
        let var = im.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let sd = var.sqrt().max(1.0 / n.sqrt());
        im.mapv_inplace(|v| (v - mean) / sd);
    }
}

#[cfg(test)]
mod standardization_tests {
    use super::per_image_standardization;
    use ndarray::Array4;

    #[test]
    fn each_image_gets_mean_0_and_std_1_and_flat_images_stay_finite() {
        let mut x = Array4::from_shape_fn((3, 4, 5, 3), |(i, y, x, c)| {
            if i == 2 {
                0.7
            } else {
                (i + 1) as f32 * ((y * 7 + x * 3 + c) % 11) as f32
            }
        });
        per_image_standardization(x.view_mut());
        for (i, im) in x.outer_iter().enumerate() {
            let n = im.len() as f32;
            let mean = im.sum() / n;
            let sd = (im.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
            assert!(mean.abs() < 1e-5, "image {i}: mean {mean}");
            if i < 2 {
                assert!((sd - 1.0).abs() < 1e-4, "image {i}: std {sd}");
            } else {
                assert_eq!(sd, 0.0, "a flat image becomes all zeros");
            }
        }
    }
}
