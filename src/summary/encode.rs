//! Summary values as TensorBoard reads them: a scalar (`simple_value`), a histogram, PNG
//! images, text. Used by the summary ops' kernels and by [`FileWriter`](super::FileWriter)'s
//! direct `add_*` methods, so a value logged either way is encoded the same.

use super::histogram::histogram;
use super::proto::{
    data_type, Image, PluginData, SummaryMetadata, SummaryValue, TensorProto, TensorShapeProto,
};
use ndarray::{ArrayView3, ArrayView4, Axis};

/// A scalar value under `tag`.
pub fn scalar_value(tag: &str, x: f32) -> SummaryValue {
    SummaryValue {
        tag: tag.to_string(),
        simple_value: Some(x),
        ..Default::default()
    }
}

/// A histogram of `values` under `tag` (TF's default buckets).
pub fn histogram_value(tag: &str, values: impl Iterator<Item = f32>) -> SummaryValue {
    SummaryValue {
        tag: tag.to_string(),
        histo: Some(histogram(values)),
        ..Default::default()
    }
}

/// Text under `tag`, shown by TensorBoard's Text tab (Markdown).
pub fn text_value(tag: &str, text: &str) -> SummaryValue {
    SummaryValue {
        tag: tag.to_string(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "text".into(),
                content: vec![],
            }),
        }),
        tensor: Some(TensorProto {
            dtype: data_type::STRING,
            tensor_shape: Some(TensorShapeProto::default()),
            string_val: vec![text.as_bytes().to_vec()],
        }),
        ..Default::default()
    }
}

/// Up to `max_outputs` images of a batch `[n, height, width, channels]` (channels 1, 3 or 4)
/// as PNGs, tagged `tag/image` when `max_outputs == 1` and `tag/image/0`, `tag/image/1`, ...
/// otherwise (TF1's names). Each image is scaled as TF1 does: all values >= 0: by
/// `255 / max`; otherwise by `127 / max|x|` around 128. Non-finite pixels are drawn red.
pub fn image_values(
    tag: &str,
    images: ArrayView4<'_, f32>,
    max_outputs: usize,
) -> Result<Vec<SummaryValue>, String> {
    let c = images.shape()[3];
    if !matches!(c, 1 | 3 | 4) {
        return Err(format!("images need 1, 3 or 4 channels, got {c}"));
    }
    let n = images.shape()[0].min(max_outputs);
    (0..n)
        .map(|i| {
            let png = png_of(images.index_axis(Axis(0), i))?;
            let name = if max_outputs == 1 {
                format!("{tag}/image")
            } else {
                format!("{tag}/image/{i}")
            };
            Ok(SummaryValue {
                tag: name,
                image: Some(png),
                ..Default::default()
            })
        })
        .collect()
}

/// One `[height, width, channels]` image as an encoded PNG.
fn png_of(img: ArrayView3<'_, f32>) -> Result<Image, String> {
    use image::ImageEncoder;
    let (h, w, c) = img.dim();
    let finite = || img.iter().copied().filter(|x| x.is_finite());
    let lo = finite().fold(f32::INFINITY, f32::min);
    let hi = finite().fold(f32::NEG_INFINITY, f32::max);
    let max_abs = lo.abs().max(hi.abs());
    let (scale, offset) = match (lo < 0.0, max_abs > 0.0 && max_abs.is_finite()) {
        (true, true) => (127.0 / max_abs, 128.0),
        (false, true) => (255.0 / max_abs, 0.0),
        (neg, false) => (0.0, if neg { 128.0 } else { 0.0 }),
    };
    let mut px = Vec::with_capacity(h * w * c);
    for row in img.outer_iter() {
        for p in row.outer_iter() {
            if p.iter().all(|x| x.is_finite()) {
                px.extend(
                    p.iter()
                        .map(|&x| (x * scale + offset).round().clamp(0.0, 255.0) as u8),
                );
            } else {
                let red: [u8; 4] = [255, 0, 0, 255];
                px.extend(&red[..c.min(3)]);
                if c == 4 {
                    px.push(255);
                }
            }
        }
    }
    let color = match c {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        _ => image::ExtendedColorType::Rgba8,
    };
    let mut encoded = Vec::new();
    image::codecs::png::PngEncoder::new(&mut encoded)
        .write_image(&px, w as u32, h as u32, color)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(Image {
        height: h as i32,
        width: w as i32,
        colorspace: c as i32,
        encoded_image_string: encoded,
    })
}
