//! Hostile tests, class 9 (issue 10): data readers and pipelines. A byte-order mark is not
//! part of the first word; invalid UTF-8 names its line; a 1 MiB line is clipped in messages;
//! MTFL landmarks far outside their image are refused naming the annotation file and line;
//! the RGB conversion of a decoded image counts against the memory limit; `batch(0)` and
//! `shuffle(0)` are errors; `repeat()` over a pass of errors ends; a panic in a prefetch
//! worker keeps its message; `score_tagging` refuses predictions of the wrong length.

use staticflow::data::image::{decode_image, decode_image_with_limit, ImageOptions, OnError};
use staticflow::data::mtfl::{load_split, read_annotations};
use staticflow::data::{read_conll, score_tagging, Dataset, Sentence, TaggerVocab};
use staticflow::Error;
use std::path::{Path, PathBuf};

fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "staticflow_hostile_data_{}_{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn parse_line(e: &Error) -> (PathBuf, usize, String) {
    match e {
        Error::Parse {
            path,
            line,
            message,
        } => (path.clone(), *line, message.clone()),
        other => panic!("expected Error::Parse, got {other:?}"),
    }
}

const CONLL: &str =
    "Confidence NN B-NP\nin IN B-PP\nthe DT B-NP\npound NN I-NP\n\nHe PRP B-NP\nis VBZ B-VP\n";

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_word() {
    let dir = test_dir("bom");
    let path = dir.join("train.txt");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(CONLL.as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let s = read_conll(&path).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].words[0], "Confidence");
    assert_eq!(s, read_conll_text(CONLL, &dir));
    // The same for MTFL annotation files.
    let ann = dir.join("training.txt");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(b"lfw/a.jpg 1 2 3 4 5 6 7 8 9 10 1 2 1 3\n");
    std::fs::write(&ann, &bytes).unwrap();
    let r = read_annotations(&ann).unwrap();
    assert_eq!(r[0].path, PathBuf::from("lfw/a.jpg"));
    assert_eq!(r[0].line, 1);
}

fn read_conll_text(text: &str, dir: &Path) -> Vec<Sentence> {
    let p = dir.join("plain.txt");
    std::fs::write(&p, text).unwrap();
    read_conll(&p).unwrap()
}

#[test]
fn invalid_utf8_names_its_line() {
    let dir = test_dir("utf8");
    let path = dir.join("train.txt");
    let mut bytes = CONLL.as_bytes()[..40].to_vec(); // three lines and a bit
    let lines_before = bytes.iter().filter(|&&b| b == b'\n').count();
    bytes.extend_from_slice(b"caf\xE9 NN B-NP\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = read_conll(&path).unwrap_err();
    let (p, line, msg) = parse_line(&err);
    assert_eq!(p, path);
    assert_eq!(line, lines_before + 1, "{msg}");
    assert!(msg.contains("invalid UTF-8"), "{msg}");
    // MTFL annotations too.
    let ann = dir.join("training.txt");
    std::fs::write(
        &ann,
        b"a.jpg 1 2 3 4 5 6 7 8 9 10 1 2 1 3\n\xFFb.jpg 1 2 3 4 5 6 7 8 9 10 1 2 1 3\n",
    )
    .unwrap();
    let (_, line, _) = parse_line(&read_annotations(&ann).unwrap_err());
    assert_eq!(line, 2);
}

#[test]
fn a_one_mib_line_is_clipped_in_the_message() {
    let dir = test_dir("long");
    let path = dir.join("train.txt");
    let long = "x".repeat(1 << 20);
    std::fs::write(&path, format!("a NN B-NP\n{long}\n")).unwrap();
    let err = read_conll(&path).unwrap_err();
    let (_, line, msg) = parse_line(&err);
    assert_eq!(line, 2);
    let text = err.to_string();
    assert!(text.len() < 400, "message of {} bytes", text.len());
    assert!(msg.contains(&format!("{} bytes", 1 << 20)), "{msg}");
    // A 1 MiB chunk tag as well.
    std::fs::write(&path, format!("a NN B-{long}x\nb NN {long}\n")).unwrap();
    let err = read_conll(&path).unwrap_err();
    assert!(err.to_string().len() < 400);
}

#[test]
fn batch_and_shuffle_of_zero_are_errors() {
    let ds = || Dataset::from_vec(vec![1.0f32, 2.0, 3.0]);
    let b: Vec<_> = ds().batch(0, false).iter().collect();
    assert_eq!(b.len(), 1);
    let e = b[0].as_ref().unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(m) if m.contains("batch_size")),
        "{e:?}"
    );
    let s: Vec<_> = ds().shuffle(0, 1).iter().collect();
    assert_eq!(s.len(), 1);
    let e = s[0].as_ref().unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(m) if m.contains("buffer_size")),
        "{e:?}"
    );
    // Sizes of one still work.
    assert_eq!(
        ds().shuffle(1, 1).collect_vec().unwrap(),
        vec![1.0, 2.0, 3.0]
    );
    assert_eq!(ds().batch(1, false).collect_vec().unwrap().len(), 3);
}

#[test]
fn repeat_over_a_pass_of_only_errors_ends() {
    let ds = Dataset::<f32>::from_result_fn(|| {
        vec![
            Err(Error::InvalidArgument("bad record 1".into())),
            Err(Error::InvalidArgument("bad record 2".into())),
        ]
    })
    .repeat(None);
    let got: Vec<_> = ds.iter().take(10_000).collect();
    assert!(
        !got.is_empty() && got.len() < 10,
        "{} items from a forever-repeat of errors",
        got.len()
    );
    assert!(got.iter().all(|r| r.is_err()));
    // An empty dataset repeated forever ends too, and real elements still repeat.
    assert_eq!(
        Dataset::<f32>::from_vec(vec![]).repeat(None).iter().count(),
        0
    );
    let n = Dataset::from_vec(vec![1.0f32])
        .repeat(None)
        .iter()
        .take(50)
        .count();
    assert_eq!(n, 50);
}

#[test]
fn a_panic_in_a_prefetch_worker_keeps_its_message() {
    let ds = Dataset::from_vec(vec![1u32, 2, 3, 4])
        .map_sequential(|x| {
            if x == 3 {
                panic!("record {x} is unreadable");
            }
            Ok(x)
        })
        .prefetch(2);
    let got: Vec<_> = ds.iter().collect();
    let err = got
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("the panic surfaces as an error");
    let msg = err.to_string();
    assert!(
        msg.contains("panicked") && msg.contains("record 3 is unreadable"),
        "{msg}"
    );
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 2);
}

#[test]
fn score_tagging_refuses_predictions_of_the_wrong_length() {
    let dir = test_dir("score");
    let gold = read_conll_text(CONLL, &dir);
    let vocab = TaggerVocab::build(&gold, 1);
    let pos =
        |s: &Sentence| -> Vec<usize> { s.pos.iter().map(|t| vocab.pos.id(t) as usize).collect() };
    let chunk = |s: &Sentence| -> Vec<usize> {
        s.chunks
            .iter()
            .map(|t| vocab.chunks.id(t) as usize)
            .collect()
    };
    let pp: Vec<_> = gold.iter().map(pos).collect();
    let cp: Vec<_> = gold.iter().map(chunk).collect();
    let ok = score_tagging(&gold, &pp, &cp, &vocab).unwrap();
    assert_eq!(ok.pos_acc, 1.0);
    assert_eq!(ok.tokens, 6);
    let mut short = pp.clone();
    short[0].pop();
    let e = score_tagging(&gold, &short, &cp, &vocab).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("sentence 0")),
        "{e:?}"
    );
    let e = score_tagging(&gold, &pp[..1], &cp, &vocab).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    let mut bad = cp.clone();
    bad[1][0] = 10_000;
    let e = score_tagging(&gold, &pp, &bad, &vocab).unwrap_err();
    assert!(e.to_string().contains("10000"), "{e}");
}

/// A `w` x `h` RGB PNG.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn landmarks_far_outside_the_image_are_refused_with_file_and_line() {
    let dir = test_dir("mtfl");
    std::fs::write(dir.join("a.png"), png(20, 10)).unwrap();
    // Slightly outside (a face cut by the border) is fine; 1000 pixels out is not.
    let ok = "a.png 2 18 10 -3 21 2 2 5 8 11 1 2 1 3";
    let far = "a.png 2 18 10 5 1000 2 2 5 8 8 1 2 1 3";
    std::fs::write(dir.join("training.txt"), format!("{ok}\n\n{far}\n")).unwrap();
    let opts = ImageOptions::default();
    let err = load_split(&dir, "training", &opts, OnError::Fail).unwrap_err();
    let (path, line, msg) = parse_line(&err);
    assert_eq!(path, dir.join("training.txt"));
    assert_eq!(line, 3);
    assert!(msg.contains("mouth_right") && msg.contains("1000"), "{msg}");
    // Skipping keeps the good record and reports the bad one.
    let split = load_split(&dir, "training", &opts, OnError::Skip).unwrap();
    assert_eq!(split.len(), 1);
    assert_eq!(split.skipped.len(), 1);
    assert!(
        split.skipped[0].1.contains("far outside"),
        "{:?}",
        split.skipped
    );
    // y far above the image, and NaN-free but huge values, are refused too.
    let neg = "a.png 2 18 10 5 6 2 2 -500 8 8 1 2 1 3";
    std::fs::write(dir.join("testing.txt"), format!("{neg}\n")).unwrap();
    let (_, line, msg) =
        parse_line(&load_split(&dir, "testing", &opts, OnError::Fail).unwrap_err());
    assert_eq!(line, 1);
    assert!(msg.contains("nose"), "{msg}");
}

#[test]
fn the_rgb_conversion_counts_against_the_memory_limit() {
    // A 100 x 100 greyscale PNG decodes to 10 000 bytes and converts to 30 000 more.
    let grey = image::GrayImage::from_fn(100, 100, |x, y| image::Luma([(x + y) as u8]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    let bytes = bytes.into_inner();
    let opts = ImageOptions::default();
    let path = Path::new("grey.png");
    let err = decode_image_with_limit(&bytes, path, &opts, 30_000).unwrap_err();
    match &err {
        Error::Decode { path: p, message } => {
            assert_eq!(p, path);
            assert!(
                message.contains("40000") && message.contains("RGB"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Enough for both buffers: decodes.
    let img = decode_image_with_limit(&bytes, path, &opts, 40_000).unwrap();
    assert_eq!((img.original_width, img.original_height), (100, 100));
    // Below the decoded size itself: the decoder's own limit, also an error naming the file.
    let err = decode_image_with_limit(&bytes, path, &opts, 5_000).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    // An RGB image needs no conversion copy (30 000 bytes, not 60 000); the default limit
    // decodes ordinary images.
    let rgb = png(100, 100);
    decode_image_with_limit(&rgb, path, &opts, 45_000).unwrap();
    decode_image(&rgb, path, &opts).unwrap();
}
