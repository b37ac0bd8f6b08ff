//! Image decoding and the MTFL reader, on images the tests draw and save (JPEG RGB, JPEG
//! greyscale, PNG), through the real decoding path; bad files and lines name the culprit.

mod faces;
mod skip;

use image::{GrayImage, Luma, Rgb, RgbImage};
use staticflow::data::image::{load_image, load_images, ImageOptions, OnError};
use staticflow::data::mtfl::{self, load_split, parse_annotations, read_annotations};
use staticflow::Error;
use std::path::{Path, PathBuf};

#[test]
fn rgb_jpeg_and_png_decode_to_three_channels_in_unit_range() {
    let d = faces::temp_dir("decode");
    // Left half red, right half blue, 80x80.
    let img = RgbImage::from_fn(80, 80, |x, _| {
        if x < 40 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    img.save(d.join("a.png")).unwrap();
    img.save(d.join("a.jpg")).unwrap();
    for f in ["a.png", "a.jpg"] {
        let l = load_image(d.join(f), &ImageOptions::default()).unwrap();
        assert_eq!(l.pixels.shape(), &[40, 40, 3]);
        assert_eq!((l.original_width, l.original_height), (80, 80));
        assert!(l.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
        let tol = if f.ends_with("png") { 1e-6 } else { 0.06 };
        // Far from the edge the bilinear filter keeps the colours.
        assert!((l.pixels[[20, 5, 0]] - 1.0).abs() < tol, "{f}");
        assert!(l.pixels[[20, 5, 2]].abs() < tol, "{f}");
        assert!((l.pixels[[20, 35, 2]] - 1.0).abs() < tol, "{f}");
        // At the boundary (output columns 19/20 straddle input 39/40) colours mix.
        assert!(
            l.pixels[[20, 19, 0]] > 0.5 && l.pixels[[20, 19, 0]] < 1.0,
            "{f}"
        );
    }
}

#[test]
fn pil_bilinear_weights_for_exact_halving() {
    // One bright column at x = 10 of 80: after 80 -> 40, PIL's filter spreads it over output
    // columns 4 (weight 1/8) and 5 (weight 3/8).
    let d = faces::temp_dir("pil");
    let img = RgbImage::from_fn(80, 80, |x, _| {
        if x == 10 {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    });
    img.save(d.join("c.png")).unwrap();
    let l = load_image(d.join("c.png"), &ImageOptions::default()).unwrap();
    assert!(
        (l.pixels[[10, 5, 0]] - 0.375).abs() < 1e-5,
        "{}",
        l.pixels[[10, 5, 0]]
    );
    assert!((l.pixels[[10, 4, 0]] - 0.125).abs() < 1e-5);
    assert!(l.pixels[[10, 6, 0]].abs() < 1e-6);
}

#[test]
fn greyscale_is_expanded_to_three_equal_channels() {
    let d = faces::temp_dir("grey");
    let img = GrayImage::from_fn(60, 30, |x, _| Luma([(x * 4) as u8]));
    img.save(d.join("g.jpg")).unwrap();
    img.save(d.join("g.png")).unwrap();
    for f in ["g.jpg", "g.png"] {
        let l = load_image(
            d.join(f),
            &ImageOptions {
                width: 20,
                height: 10,
            },
        )
        .unwrap();
        assert_eq!(l.pixels.shape(), &[10, 20, 3]);
        assert_eq!((l.original_width, l.original_height), (60, 30));
        for p in l.pixels.outer_iter() {
            for px in p.outer_iter() {
                assert_eq!(px[0], px[1]);
                assert_eq!(px[1], px[2]);
            }
        }
    }
}

#[test]
fn truncated_and_missing_files_are_errors_naming_the_file() {
    let d = faces::temp_dir("bad");
    let img = RgbImage::from_pixel(80, 80, Rgb([10, 200, 30]));
    img.save(d.join("ok.jpg")).unwrap();
    let bytes = std::fs::read(d.join("ok.jpg")).unwrap();
    std::fs::write(d.join("trunc.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(d.join("text.png"), b"not an image at all").unwrap();
    std::fs::write(d.join("empty.jpg"), b"").unwrap();
    for f in ["trunc.jpg", "text.png", "empty.jpg", "missing.jpg"] {
        let e = load_image(d.join(f), &ImageOptions::default()).unwrap_err();
        assert!(
            matches!(e, Error::Decode { .. } | Error::Io { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains(f), "{f}: {e}");
    }
    // Batch loading: fail names the first bad file; skip counts them.
    let paths: Vec<PathBuf> = ["ok.jpg", "trunc.jpg", "ok.jpg", "missing.jpg"]
        .iter()
        .map(|f| d.join(f))
        .collect();
    let e = load_images(&paths, &ImageOptions::default(), OnError::Fail).unwrap_err();
    assert!(e.to_string().contains("trunc.jpg"), "{e}");
    let b = load_images(&paths, &ImageOptions::default(), OnError::Skip).unwrap();
    assert_eq!(b.images.shape(), &[2, 40, 40, 3]);
    assert_eq!(b.indices, vec![0, 2]);
    assert_eq!(b.skipped.len(), 2);
    assert!(b.skipped[1].1.to_string().contains("missing.jpg"));
}

#[test]
fn malformed_lines_name_file_and_line() {
    let f = Path::new("/data/training.txt");
    let good = "a.jpg 1 2 3 4 5 6 7 8 9 10 1 2 2 3";
    let cases = [
        ("a.jpg 1 2 3", "expected 15 fields"),
        (
            "a.jpg 1 2 3 4 x 6 7 8 9 10 1 2 2 3",
            "expected a coordinate",
        ),
        ("a.jpg 1 2 3 4 5 6 7 8 9 10 1 2 2 6", "pose"),
        ("a.jpg 1 2 3 4 5 6 7 8 9 10 0 2 2 3", "gender"),
        ("a.jpg 1 2 3 4 5 6 7 8 9 10 1 2.5 2 3", "smile"),
    ];
    for (bad, what) in cases {
        let text = format!("{good}\n\n{good}\n{bad}\n");
        let e = parse_annotations(&text, f).unwrap_err();
        match &e {
            Error::Parse { path, line, .. } => {
                assert_eq!(path, f);
                assert_eq!(*line, 4, "{e}");
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.starts_with("/data/training.txt:4:"), "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
    let r = parse_annotations(good, f).unwrap();
    assert_eq!(r[0].landmarks[2], (3.0, 8.0));
    assert_eq!(r[0].attributes, [0, 1, 1, 2]);
    let e = read_annotations("/nonexistent/testing.txt").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/testing.txt"));
}

#[test]
fn load_split_normalises_landmarks_by_image_size() {
    let d = faces::temp_dir("split");
    let drawn = faces::write_split(&d, "training", 12, 80, 3);
    // A greyscale PNG face of another size, appended by hand.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let f = faces::draw_face(&mut rng, 120, 4);
    image::DynamicImage::ImageRgb8(f.image.clone())
        .to_luma8()
        .save(d.join("imgs/grey.png"))
        .unwrap();
    let mut txt = std::fs::read_to_string(d.join("training.txt")).unwrap();
    txt.push_str(&faces::mtfl_line("imgs/grey.png", &f));
    txt.push('\n');
    std::fs::write(d.join("training.txt"), txt).unwrap();

    let s = load_split(&d, "training", &ImageOptions::default(), OnError::Fail).unwrap();
    assert_eq!(s.len(), 13);
    assert_eq!(s.images.shape(), &[13, 40, 40, 3]);
    for (i, face) in drawn.iter().enumerate() {
        for k in 0..5 {
            assert!((s.landmarks[[i, k, 0]] - face.landmarks[k].0 / 80.0).abs() < 1e-4);
            assert!((s.landmarks[[i, k, 1]] - face.landmarks[k].1 / 80.0).abs() < 1e-4);
        }
        assert_eq!(s.attributes[[i, 3]], face.attributes[3] - 1);
        // The nose dot is red in the decoded, resized image.
        let (x, y) = (face.landmarks[2].0 / 2.0, face.landmarks[2].1 / 2.0);
        let px = s.images.slice(ndarray::s![i, y as usize, x as usize, ..]);
        assert!(px[0] > 0.5 && px[1] < 0.4, "nose pixel {px}");
    }
    assert!((s.landmarks[[12, 2, 0]] - f.landmarks[2].0 / 120.0).abs() < 1e-4);
    assert_eq!(s.attributes[[12, 3]], 3);
    assert_eq!(s.landmark(2).shape(), &[13, 2]);

    // A truncated image: fail names it; skip drops and counts it.
    let bytes = std::fs::read(d.join("imgs/training_0005.jpg")).unwrap();
    std::fs::write(d.join("imgs/training_0005.jpg"), &bytes[..40]).unwrap();
    let e = load_split(&d, "training", &ImageOptions::default(), OnError::Fail).unwrap_err();
    assert!(e.to_string().contains("training_0005.jpg"), "{e}");
    let s = load_split(&d, "training", &ImageOptions::default(), OnError::Skip).unwrap();
    assert_eq!(s.len(), 12);
    assert_eq!(s.skipped.len(), 1);
    assert!(s.skipped[0].0.ends_with("imgs/training_0005.jpg"));
    assert!(!s
        .paths
        .iter()
        .any(|p| p.ends_with("imgs/training_0005.jpg")));
}

#[test]
fn locate_explains_where_to_get_the_data() {
    let e = mtfl::locate(Some(Path::new("/nonexistent/mtfl"))).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("/nonexistent/mtfl") && m.contains("MTL_DATA_DIR"),
        "{m}"
    );
}

#[test]
fn real_mtfl_data_when_present() {
    let Some(dir) = staticflow::data::find_data_dir("mtfl", &["training.txt"]) else {
        skip::skip("real_mtfl_data_when_present", &skip::data_missing("mtfl"));
        return;
    };
    let tr = read_annotations(dir.join("training.txt")).unwrap();
    let te = read_annotations(dir.join("testing.txt")).unwrap();
    assert_eq!((tr.len(), te.len()), (10000, 2995));
    let paths: Vec<PathBuf> = te.iter().take(64).map(|r| dir.join(&r.path)).collect();
    let b = load_images(&paths, &ImageOptions::default(), OnError::Fail).unwrap();
    assert_eq!(b.images.shape(), &[64, 40, 40, 3]);
    assert!(b.original_sizes.iter().all(|s| *s == (80, 80)));
    let mean = b.images.mean().unwrap();
    assert!(mean > 0.2 && mean < 0.7, "{mean}");
}

#[test]
fn transformed_faces_keep_landmarks_on_their_pixels() {
    use staticflow::data::augment::Transform;
    let d = faces::temp_dir("transformed");
    faces::write_split(&d, "training", 4, 80, 5);
    let s = load_split(&d, "training", &ImageOptions::default(), OnError::Fail).unwrap();
    let t = [
        Transform {
            flip: true,
            zoom: 1.4,
            dx: 2.0,
            dy: -1.0,
        },
        Transform::IDENTITY,
        Transform {
            flip: false,
            zoom: 1.2,
            dx: -2.0,
            dy: 1.0,
        },
    ];
    let (x, lm, attr) = s.transformed(&[3, 1, 0], &t);
    assert_eq!(x.shape(), &[3, 40, 40, 3]);
    assert_eq!(
        x.index_axis(ndarray::Axis(0), 1),
        s.images.index_axis(ndarray::Axis(0), 1)
    );
    // Flipped: the new left eye is the old right eye, mirrored, zoomed and shifted.
    let (ex, ey) = t[0].map_point(s.landmarks[[3, 1, 0]], s.landmarks[[3, 1, 1]], 40, 40);
    assert!((lm[[0, 0, 0]] - ex).abs() < 1e-6 && (lm[[0, 0, 1]] - ey).abs() < 1e-6);
    assert_eq!(attr[[0, 3]], mtfl::mirror_pose(s.attributes[[3, 3]]));
    assert_eq!(attr[[2, 3]], s.attributes[[0, 3]]);
    for i in [0, 2] {
        // The red nose dot is still under the moved nose label.
        let (nx, ny) = (lm[[i, 2, 0]] * 40.0, lm[[i, 2, 1]] * 40.0);
        let px = x.slice(ndarray::s![i, ny as usize, nx as usize, ..]);
        assert!(px[0] > 0.45 && px[1] < 0.45, "face {i}: nose pixel {px}");
    }
}
