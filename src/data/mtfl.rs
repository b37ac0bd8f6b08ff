//! The Multi-Task Facial Landmark dataset (MTFL, Zhang et al., ECCV 2014).
//!
//! Annotation files (`training.txt`, `testing.txt`) hold one face per line:
//! `PATH x1 x2 x3 x4 x5 y1 y2 y3 y4 y5 GENDER SMILE GLASSES POSE`, landmarks in pixels of the
//! stored image (left eye, right eye, nose, left mouth corner, right mouth corner), attributes
//! 1-based (gender 1 male / 2 female; smile, glasses 1 yes / 2 no; pose 1 left profile ..
//! 5 right profile). Paths are relative to the folder holding the annotation files.
//!
//! [`read_annotations`] parses a file (a malformed line is an [`Error::Parse`] with file and
//! line); [`load_split`] decodes the images through a [`Dataset`] pipeline and returns plain
//! arrays: images `[n, h, w, 3]` in `[0, 1]`, landmarks `[n, 5, 2]` as `(x, y)` normalised to
//! `[0, 1]` by the stored image's width and height, attributes `[n, 4]` as 0-based class ids.

use super::augment::Transform;
use super::dataset::Dataset;
use super::image::{load_image, ImageOptions, OnError};
use crate::error::{Error, Result};
use ndarray::{Array1, Array2, Array3, Array4, Axis};
use std::path::{Path, PathBuf};

/// Landmark names, in file order.
pub const LANDMARKS: [&str; 5] = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"];
/// Attribute names, in file order.
pub const ATTRIBUTES: [&str; 4] = ["gender", "smile", "glasses", "pose"];
/// Number of classes of each attribute.
pub const ATTRIBUTE_CLASSES: [usize; 4] = [2, 2, 2, 5];
/// Names of the 0-based pose classes.
pub const POSES: [&str; 5] = ["left profile", "left", "frontal", "right", "right profile"];

/// One annotated face, as written in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct MtflRecord {
    /// Image path relative to the dataset folder.
    pub path: PathBuf,
    /// Landmarks in pixels of the stored image: `[(x, y); 5]`, in [`LANDMARKS`] order.
    pub landmarks: [(f32, f32); 5],
    /// Attributes as 0-based class ids, in [`ATTRIBUTES`] order.
    pub attributes: [i64; 4],
}

/// Parses an MTFL annotation file. Blank lines are ignored.
pub fn read_annotations(file: impl AsRef<Path>) -> Result<Vec<MtflRecord>> {
    let file = file.as_ref();
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    parse_annotations(&text, file)
}

/// Parses annotation text; `file` names the source in errors.
pub fn parse_annotations(text: &str, file: &Path) -> Result<Vec<MtflRecord>> {
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let err = |message: String| Error::Parse {
            path: file.to_path_buf(),
            line: k + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 15 {
            return Err(err(format!(
                "expected 15 fields (path, 10 coordinates, 4 attributes), found {}",
                f.len()
            )));
        }
        let mut c = [0f32; 10];
        for (j, v) in c.iter_mut().enumerate() {
            *v = f[1 + j]
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    err(format!(
                        "field {} (`{}`): expected a coordinate, got `{}`",
                        j + 2,
                        if j < 5 { "x" } else { "y" },
                        f[1 + j]
                    ))
                })?;
        }
        let mut attributes = [0i64; 4];
        for (j, a) in attributes.iter_mut().enumerate() {
            let v: i64 = f[11 + j].parse().map_err(|_| {
                err(format!(
                    "field {} ({}): expected an integer, got `{}`",
                    12 + j,
                    ATTRIBUTES[j],
                    f[11 + j]
                ))
            })?;
            let n = ATTRIBUTE_CLASSES[j] as i64;
            if !(1..=n).contains(&v) {
                return Err(err(format!(
                    "field {} ({}): expected 1..={n}, got {v}",
                    12 + j,
                    ATTRIBUTES[j]
                )));
            }
            *a = v - 1;
        }
        let mut landmarks = [(0f32, 0f32); 5];
        for (j, l) in landmarks.iter_mut().enumerate() {
            *l = (c[j], c[5 + j]);
        }
        out.push(MtflRecord {
            path: PathBuf::from(f[0]),
            landmarks,
            attributes,
        });
    }
    Ok(out)
}

/// One split decoded into arrays (see the module docs).
#[derive(Clone, Debug)]
pub struct MtflSplit {
    /// `[n, height, width, 3]`, f32 in `[0, 1]`.
    pub images: Array4<f32>,
    /// `[n, 5, 2]`: `(x, y)` of each landmark, divided by the stored image's width/height.
    pub landmarks: Array3<f32>,
    /// `[n, 4]`: gender, smile, glasses, pose as 0-based class ids.
    pub attributes: Array2<i64>,
    /// Image path of each face (joined with the dataset folder).
    pub paths: Vec<PathBuf>,
    /// Images skipped with [`OnError::Skip`], with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl MtflSplit {
    /// Number of faces.
    pub fn len(&self) -> usize {
        self.paths.len()
    }
    /// True if the split has no faces.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    /// `[n, 2]`: normalised `(x, y)` of landmark `k` (2 = nose).
    pub fn landmark(&self, k: usize) -> Array2<f32> {
        self.landmarks.index_axis(Axis(1), k).to_owned()
    }
    /// `[n]`: attribute `k` (3 = pose) as class ids.
    pub fn attribute(&self, k: usize) -> Array1<i64> {
        self.attributes.index_axis(Axis(1), k).to_owned()
    }

    /// The faces `idx` with `transforms[i]` applied to face `i` (a missing entry: unchanged):
    /// images `[b, h, w, 3]`, landmarks `[b, 5, 2]` moved with their pixels, attributes
    /// `[b, 4]`. A mirrored face also swaps left and right landmarks ([`MIRRORED_LANDMARK`])
    /// and mirrors its pose ([`mirror_pose`]). Indices must be `< len()`.
    pub fn transformed(
        &self,
        idx: &[usize],
        transforms: &[Transform],
    ) -> (Array4<f32>, Array3<f32>, Array2<i64>) {
        let mut images = self.images.select(Axis(0), idx);
        let mut landmarks = self.landmarks.select(Axis(0), idx);
        let mut attributes = self.attributes.select(Axis(0), idx);
        let (h, w) = (images.len_of(Axis(1)), images.len_of(Axis(2)));
        for (i, t) in transforms.iter().enumerate().take(idx.len()) {
            if *t == Transform::IDENTITY {
                continue;
            }
            let src = self.images.index_axis(Axis(0), idx[i]);
            t.apply_image(src, images.index_axis_mut(Axis(0), i));
            let l = self.landmarks.index_axis(Axis(0), idx[i]);
            for k in 0..5 {
                let from = if t.flip { MIRRORED_LANDMARK[k] } else { k };
                let (x, y) = t.map_point(l[[from, 0]], l[[from, 1]], w, h);
                landmarks[[i, k, 0]] = x;
                landmarks[[i, k, 1]] = y;
            }
            if t.flip {
                attributes[[i, 3]] = mirror_pose(attributes[[i, 3]]);
            }
        }
        (images, landmarks, attributes)
    }
}

/// Which landmark a face's landmark `k` comes from when the face is mirrored left-right
/// (the eyes swap, and so do the mouth corners).
pub const MIRRORED_LANDMARK: [usize; 5] = [1, 0, 2, 4, 3];

/// The 0-based pose class of a mirrored face (left profile <-> right profile, left <->
/// right, frontal stays).
pub fn mirror_pose(pose: i64) -> i64 {
    4 - pose
}

type Decoded = (Array3<f32>, Array2<f32>, Array1<i64>, usize);

/// Reads `<dir>/<split>.txt` (`split` is `training` or `testing`) and decodes every image in
/// parallel through a [`Dataset`] pipeline (map on the rayon pool, batches of 256).
pub fn load_split(
    dir: impl AsRef<Path>,
    split: &str,
    opts: &ImageOptions,
    on_error: OnError,
) -> Result<MtflSplit> {
    let dir = dir.as_ref().to_path_buf();
    let records = read_annotations(dir.join(format!("{split}.txt")))?;
    let paths: Vec<PathBuf> = records.iter().map(|r| dir.join(&r.path)).collect();
    let opts = *opts;
    let indexed: Vec<(usize, MtflRecord)> = records.into_iter().enumerate().collect();
    let root = dir.clone();
    let ds = Dataset::from_vec(indexed).map(move |(i, r)| -> Result<Decoded> {
        let img = load_image(root.join(&r.path), &opts)?;
        let (w, h) = (img.original_width as f32, img.original_height as f32);
        let lm = Array2::from_shape_fn((5, 2), |(k, c)| {
            if c == 0 {
                r.landmarks[k].0 / w
            } else {
                r.landmarks[k].1 / h
            }
        });
        Ok((img.pixels, lm, Array1::from(r.attributes.to_vec()), i))
    });
    let (ds, errors) = match on_error {
        OnError::Fail => (ds, None),
        OnError::Skip => {
            let (d, c) = ds.ignore_errors();
            (d, Some(c))
        }
    };
    let mut imgs = Vec::new();
    let mut lms = Vec::new();
    let mut attrs = Vec::new();
    let mut kept = Vec::new();
    for b in ds.batch(256, false).iter() {
        let (i, l, a, idx) = b?;
        imgs.push(i);
        lms.push(l);
        attrs.push(a);
        kept.extend(idx.iter().copied());
    }
    let cat_err = |e: ndarray::ShapeError| Error::InvalidArgument(e.to_string());
    let images = if imgs.is_empty() {
        Array4::zeros((0, opts.height, opts.width, 3))
    } else {
        let v: Vec<_> = imgs.iter().map(|a| a.view()).collect();
        ndarray::concatenate(Axis(0), &v).map_err(cat_err)?
    };
    let landmarks = if lms.is_empty() {
        Array3::zeros((0, 5, 2))
    } else {
        let v: Vec<_> = lms.iter().map(|a| a.view()).collect();
        ndarray::concatenate(Axis(0), &v).map_err(cat_err)?
    };
    let attributes = if attrs.is_empty() {
        Array2::zeros((0, 4))
    } else {
        let v: Vec<_> = attrs.iter().map(|a| a.view()).collect();
        ndarray::concatenate(Axis(0), &v).map_err(cat_err)?
    };
    let skipped = errors
        .map(|c| {
            let kept_set: std::collections::HashSet<usize> = kept.iter().copied().collect();
            let msgs = c.messages();
            (0..paths.len())
                .filter(|i| !kept_set.contains(i))
                .zip(msgs)
                .map(|(i, m)| (paths[i].clone(), m))
                .collect()
        })
        .unwrap_or_default();
    Ok(MtflSplit {
        images,
        landmarks,
        attributes,
        paths: kept.iter().map(|&i| paths[i].clone()).collect(),
        skipped,
    })
}

/// Finds the MTFL folder (the one holding `training.txt`): `explicit/mtfl` or `explicit` if given,
/// `$MTL_DATA_DIR/mtfl`, else `../shared/data/mtfl` relative to the project root
/// ([`super::project_data_dir`]). The error explains where to get the data.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match explicit {
        // `--data` names the level of $MTL_DATA_DIR (the folder holding `mtfl/`); the `mtfl`
        // folder itself is accepted too.
        Some(p) => vec![p.join("mtfl"), p.to_path_buf()],
        None => super::data_dir_candidates("mtfl"),
    };
    for c in &candidates {
        if c.join("training.txt").is_file() {
            return Ok(c.clone());
        }
    }
    Err(Error::Io {
        path: candidates[0].clone(),
        message: format!(
            "MTFL data not found (looked for training.txt in {}). Get MTFL v1.0 (Zhang et al., \
             \"Facial Landmark Detection by Deep Multi-task Learning\", ECCV 2014): \
             http://mmlab.ie.cuhk.edu.hk/projects/TCDCN/data/MTFL.zip (project page \
             http://mmlab.ie.cuhk.edu.hk/projects/TCDCN.html), unzip it into a folder named \
             mtfl/ holding training.txt, testing.txt, AFLW/, lfw_5590/ and net_7876/, and pass \
             its parent as --data DIR or MTL_DATA_DIR",
            candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
