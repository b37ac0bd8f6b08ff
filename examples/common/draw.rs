//! Tiny raster drawing for the examples' PNG grids: crosses and a 3x5 bitmap font.

use image::{Rgb, RgbImage};
use ndarray::{ArrayView3, Axis};

/// A 7-pixel cross at `(x, y)` (normalised to `[0, 1]` of a `cell`-pixel square whose top
/// left corner is `(ox, oy)`), clipped to the cell.
pub fn mark(img: &mut RgbImage, ox: usize, oy: usize, cell: usize, x: f32, y: f32, c: [u8; 3]) {
    let cx = (x * cell as f32) as i64;
    let cy = (y * cell as f32) as i64;
    for d in -3i64..=3 {
        for (px, py) in [(cx + d, cy), (cx, cy + d)] {
            if (0..cell as i64).contains(&px) && (0..cell as i64).contains(&py) {
                let (gx, gy) = (ox as i64 + px, oy as i64 + py);
                if gx < img.width() as i64 && gy < img.height() as i64 {
                    img.put_pixel(gx as u32, gy as u32, Rgb(c));
                }
            }
        }
    }
}

/// Paints `face` (`[h, w, 3]`, values in `[0, 1]`) scaled to a `cell`-pixel square whose top
/// left corner is `(ox, oy)` (nearest neighbour).
pub fn paste_face(img: &mut RgbImage, face: ArrayView3<f32>, ox: usize, oy: usize, cell: usize) {
    let (h, w) = (face.len_of(Axis(0)), face.len_of(Axis(1)));
    for y in 0..cell {
        for x in 0..cell {
            let (sy, sx) = ((y * h / cell).min(h - 1), (x * w / cell).min(w - 1));
            let p = |c: usize| (face[[sy, sx, c]] * 255.0).round().clamp(0.0, 255.0) as u8;
            img.put_pixel((ox + x) as u32, (oy + y) as u32, Rgb([p(0), p(1), p(2)]));
        }
    }
}

/// The 3x5 bitmap of an upper-case letter, digit or `:`/`-`/`/`/`.` (blank otherwise).
pub fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b111, 0b100, 0b100, 0b100, 0b111],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b111, 0b100, 0b101, 0b101, 0b111],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b111],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b111, 0b101, 0b101, 0b101, 0b111],
        'P' => [0b111, 0b101, 0b111, 0b100, 0b100],
        'Q' => [0b111, 0b101, 0b101, 0b111, 0b001],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b111, 0b100, 0b111, 0b001, 0b111],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        _ => [0; 5],
    }
}

/// Draws `text` with its top left corner at `(x0, y0)`, each font pixel `scale` pixels wide;
/// returns the x after the last character.
pub fn draw_text(
    img: &mut RgbImage,
    x0: usize,
    y0: usize,
    text: &str,
    scale: usize,
    c: [u8; 3],
) -> usize {
    let mut x_end = x0;
    for (k, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let x = x0 + k * 4 * scale + col * scale + dx;
                            let y = y0 + row * scale + dy;
                            if x < img.width() as usize && y < img.height() as usize {
                                img.put_pixel(x as u32, y as u32, Rgb(c));
                            }
                        }
                    }
                }
            }
        }
        x_end = x0 + (k + 1) * 4 * scale;
    }
    x_end
}
