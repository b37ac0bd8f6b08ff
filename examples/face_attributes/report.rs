//! What the example prints and draws: the metrics table against the trivial baselines and
//! the single-task models, inter-ocular errors, and the grid of test faces.

use super::model::{Data, ModelCfg, PhaseOut};
use super::{common, METRICS, TASKS};
use ndarray::{s, Array1, Array2, Axis};
use staticflow::data::mtfl::MtflSplit;
use staticflow::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Prints one multi-task model's metrics against the baselines and the single-task models,
/// and its task weights.
pub(crate) fn print_report(
    w: &str,
    cfg: &ModelCfg,
    out: &PhaseOut,
    data: &Data,
    base: &Baselines,
    single: Option<&BTreeMap<String, f64>>,
) {
    println!("test metrics ({w}):");
    println!("| task | metric | multi-task | single-task | trivial baseline | beats baseline | within 1% of single-task |");
    println!("|---|---|---|---|---|---|---|");
    let iod = iod_error(&out.predictions, &data.test).unwrap_or(f64::NAN);
    let mut rows = vec![(
        "landmarks",
        "rmse",
        out.metrics.get(METRICS[0]).copied().unwrap_or(f64::NAN),
        single.and_then(|s| s.get(METRICS[0]).copied()),
        base.rmse,
        true,
    )];
    rows.push((
        "landmarks",
        "mean error / inter-ocular",
        iod,
        single.and_then(|s| s.get("iod/landmarks").copied()),
        base.iod,
        true,
    ));
    for t in 1..TASKS.len() {
        rows.push((
            TASKS[t],
            "accuracy",
            out.metrics.get(METRICS[t]).copied().unwrap_or(f64::NAN),
            single.and_then(|s| s.get(METRICS[t]).copied()),
            base.accuracy[t - 1],
            false,
        ));
    }
    for (task, metric, mt, st, b, lower) in rows {
        let beats = if lower { mt < b } else { mt > b };
        let within = st.map(|st| {
            if lower {
                mt <= st * 1.01
            } else {
                mt >= st * 0.99
            }
        });
        println!(
            "| {task} | {metric} | {mt:.4} | {} | {b:.4} | {} | {} |",
            st.map_or("-".into(), |v| format!("{v:.4}")),
            if beats { "yes" } else { "no" },
            within.map_or("-", |x| if x { "yes" } else { "no" })
        );
    }
    println!("  steps/s {:.1}", out.steps_per_s);
    let uncertainty = cfg.weighting.name() == "uncertainty";
    for (t, wt) in cfg.tasks.iter().zip(&out.weights) {
        if uncertainty {
            // weight = c exp(-s), s = log sigma^2, c = 1/2 (regression) or 1 (classification).
            let c = if *t == 0 { 0.5 } else { 1.0 };
            let sigma = (c / *wt as f64).sqrt();
            println!("  {:9} loss weight {wt:.4}  sigma {sigma:.4}", TASKS[*t]);
        } else {
            println!("  {:9} loss weight {wt:.4}", TASKS[*t]);
        }
    }
}

/// The trivial baselines on the test split.
pub(crate) struct Baselines {
    /// RMSE of the training-mean landmarks.
    pub(crate) rmse: f64,
    /// Mean error over inter-ocular distance of the training-mean landmarks.
    pub(crate) iod: f64,
    /// Accuracy of the best constant class on the test split, per attribute.
    pub(crate) accuracy: [f64; 4],
}

impl Baselines {
    pub(crate) fn new(train: &MtflSplit, test: &MtflSplit) -> Self {
        let mean = flat_landmarks(train)
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(10));
        let m = test.len();
        let pred = Array2::from_shape_fn((m, 10), |(_, j)| mean[j]);
        let y = flat_landmarks(test);
        let rmse = ((&pred - &y).mapv(|d| (d as f64) * (d as f64)).sum() / (m * 10) as f64).sqrt();
        let iod = iod_of(&pred, test);
        let mut accuracy = [0.0; 4];
        for (k, a) in accuracy.iter_mut().enumerate() {
            let mut count = [0usize; 5];
            for &c in test.attributes.column(k) {
                count[c.clamp(0, 4) as usize] += 1;
            }
            *a = *count.iter().max().unwrap_or(&0) as f64 / m.max(1) as f64;
        }
        Baselines {
            rmse,
            iod: iod.unwrap_or(f64::NAN),
            accuracy,
        }
    }
}

/// `[n, 10]`: each face's landmarks as `x1, y1, x2, y2, ...` (the landmarks head's layout).
pub(crate) fn flat_landmarks(split: &MtflSplit) -> Array2<f32> {
    let n = split.len();
    split
        .landmarks
        .to_shape((n, 10))
        .expect("[n, 5, 2] landmarks")
        .to_owned()
}

/// Mean landmark error of the predicted `[n, 10]` landmarks in inter-ocular distances.
pub(crate) fn iod_of(pred: &Array2<f32>, test: &MtflSplit) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0usize);
    for i in 0..test.len().min(pred.nrows()) {
        let l = test.landmarks.slice(s![i, .., ..]);
        let iod = ((l[[0, 0]] - l[[1, 0]]).powi(2) + (l[[0, 1]] - l[[1, 1]]).powi(2)).sqrt() as f64;
        if iod < 1e-6 {
            continue;
        }
        let mut e = 0.0;
        for k in 0..5 {
            let (dx, dy) = (
                pred[[i, 2 * k]] - l[[k, 0]],
                pred[[i, 2 * k + 1]] - l[[k, 1]],
            );
            e += ((dx * dx + dy * dy) as f64).sqrt();
        }
        sum += e / 5.0 / iod;
        count += 1;
    }
    (count > 0).then(|| sum / count as f64)
}

pub(crate) fn iod_error(pred: &BTreeMap<String, Value>, test: &MtflSplit) -> Option<f64> {
    let p = pred.get("landmarks/predictions")?.as_f32().ok()?;
    let p = p
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .ok()?
        .to_owned();
    iod_of(&p, test)
}

pub(crate) const POSE_SHORT: [&str; 5] = ["LPROF", "LEFT", "FRONT", "RIGHT", "RPROF"];

/// A 4x4 grid of the first 16 test faces (upscaled 4x): true landmarks green, predicted red;
/// below each face the predicted gender, smile, glasses and pose, green where right.
pub(crate) fn write_grid(
    path: &Path,
    test: &MtflSplit,
    pred: &BTreeMap<String, Value>,
) -> staticflow::Result<()> {
    use common::draw::{draw_text, mark, paste_face};
    const S: usize = 4;
    const CELL: usize = 40 * S;
    const TEXT: usize = 34;
    let n = 16.min(test.len());
    let (gw, gh) = (4 * CELL, 4 * (CELL + TEXT));
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    let lm = pred
        .get("landmarks/predictions")
        .and_then(|v| v.as_f32().ok());
    let class = |name: &str, i: usize| -> Option<i64> {
        pred.get(&format!("{name}/class_ids"))
            .and_then(|v| v.as_i64().ok())
            .and_then(|a| a.iter().nth(i).copied())
    };
    for i in 0..n {
        let (ox, oy) = ((i % 4) * CELL, (i / 4) * (CELL + TEXT));
        paste_face(&mut img, test.images.slice(s![i, .., .., ..]), ox, oy, CELL);
        for k in 0..5 {
            let (x, y) = (test.landmarks[[i, k, 0]], test.landmarks[[i, k, 1]]);
            mark(&mut img, ox, oy, CELL, x, y, [0, 220, 0]);
            if let Some(p) = lm {
                let (px, py) = (p[[i, 2 * k]], p[[i, 2 * k + 1]]);
                mark(&mut img, ox, oy, CELL, px, py, [230, 0, 0]);
            }
        }
        let tokens: [(&str, [&str; 5]); 4] = [
            ("G:", ["M", "F", "", "", ""]),
            ("S:", ["Y", "N", "", "", ""]),
            ("GL:", ["Y", "N", "", "", ""]),
            ("P:", POSE_SHORT),
        ];
        let (mut x, mut y) = (ox + 3, oy + CELL + 4);
        for (k, (label, names)) in tokens.iter().enumerate() {
            if k == 2 {
                x = ox + 3;
                y += 15;
            }
            let truth = test.attributes[[i, k]];
            let (text, color) = match class(TASKS[k + 1], i) {
                Some(p) => (
                    format!("{label}{} ", names[p.clamp(0, 4) as usize]),
                    if p == truth { [0, 150, 0] } else { [210, 0, 0] },
                ),
                None => (format!("{label}- "), [0, 0, 0]),
            };
            x = draw_text(&mut img, x, y, &text, 2, color);
        }
    }
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| staticflow::Error::io(path, e))?;
    staticflow::io::write_atomic(path, png.into_inner())
}
