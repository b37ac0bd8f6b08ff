//! Synthetic "faces" the tests draw and save: a light oval on a grey background with dark
//! dots at known landmark positions; the pose class shifts the nose sideways.
#![allow(dead_code)]

use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// A drawn face: landmarks in pixels `(x, y)` (left eye, right eye, nose, mouth left, mouth
/// right) and attributes as written in an MTFL file (1-based).
pub struct Face {
    pub image: RgbImage,
    pub landmarks: [(f32, f32); 5],
    pub attributes: [i64; 4],
}

fn disk(img: &mut RgbImage, cx: f32, cy: f32, r: f32, c: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in (cy - r).floor() as i64..=(cy + r).ceil() as i64 {
        for x in (cx - r).floor() as i64..=(cx + r).ceil() as i64 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if x >= 0 && y >= 0 && x < w && y < h && dx * dx + dy * dy <= r * r {
                img.put_pixel(x as u32, y as u32, Rgb(c));
            }
        }
    }
}

/// Draws a `size`×`size` face; `pose` in 1..=5 moves the nose by `(pose - 3) * size / 13`.
pub fn draw_face(rng: &mut StdRng, size: u32, pose: i64) -> Face {
    let s = size as f32 / 80.0;
    let mut img = RgbImage::from_pixel(size, size, Rgb([90, 90, 90]));
    let cx = rng.gen_range(34.0..46.0) * s;
    let cy = rng.gen_range(34.0..46.0) * s;
    let skin = [rng.gen_range(170..230), rng.gen_range(140..190), 120u8];
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = ((x as f32 - cx) / (26.0 * s), (y as f32 - cy) / (32.0 * s));
            if dx * dx + dy * dy <= 1.0 {
                img.put_pixel(x, y, Rgb(skin));
            }
        }
    }
    let off = (pose - 3) as f32 * 6.0 * s;
    let lm = [
        (cx - 12.0 * s, cy - 8.0 * s),
        (cx + 12.0 * s, cy - 8.0 * s),
        (cx + off, cy + 4.0 * s),
        (cx - 9.0 * s, cy + 14.0 * s),
        (cx + 9.0 * s, cy + 14.0 * s),
    ];
    for (k, (x, y)) in lm.iter().enumerate() {
        let c = if k == 2 { [200, 30, 30] } else { [20, 20, 20] };
        disk(&mut img, *x, *y, 3.0 * s, c);
    }
    Face {
        image: img,
        landmarks: lm,
        attributes: [rng.gen_range(1..=2), rng.gen_range(1..=2), 2, pose],
    }
}

/// An MTFL annotation line for `rel` and `face`.
pub fn mtfl_line(rel: &str, f: &Face) -> String {
    let xs: Vec<String> = f.landmarks.iter().map(|l| format!("{:.3}", l.0)).collect();
    let ys: Vec<String> = f.landmarks.iter().map(|l| format!("{:.3}", l.1)).collect();
    let a: Vec<String> = f.attributes.iter().map(|a| a.to_string()).collect();
    format!("{rel} {} {} {}", xs.join(" "), ys.join(" "), a.join(" "))
}

/// A fresh, empty temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("staticflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `n` faces as JPEG under `dir/imgs/` and a `split.txt` annotation file; returns
/// the faces. Poses cycle through 1..=5.
pub fn write_split(dir: &Path, split: &str, n: usize, size: u32, seed: u64) -> Vec<Face> {
    let mut rng = StdRng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("imgs")).unwrap();
    let mut lines = Vec::new();
    let mut faces = Vec::new();
    for i in 0..n {
        let f = draw_face(&mut rng, size, (i % 5) as i64 + 1);
        let rel = format!("imgs/{split}_{i:04}.jpg");
        f.image.save(dir.join(&rel)).unwrap();
        lines.push(mtfl_line(&rel, &f));
        faces.push(f);
    }
    std::fs::write(dir.join(format!("{split}.txt")), lines.join("\n") + "\n").unwrap();
    faces
}
