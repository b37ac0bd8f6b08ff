//! The results: the CSV of per-epoch curves, the SVG plot and the strategy comparison.

use crate::common::compare::{Column, Row};
use crate::train::RunResult;
use plotters::prelude::*;
use staticflow::models::tagger::{EpochLog, Evaluation, Regime};
use staticflow::prelude::*;
use std::path::Path;

pub(crate) fn csv(results: &[RunResult], path: &Path) -> Result<()> {
    let mut s = String::from(
        "regime,epoch,train_pos_loss,train_chunk_loss,test_pos_loss,test_chunk_loss,\
         test_pos_acc,test_chunk_acc,test_chunk_f1,tokens_per_s,train_seconds\n",
    );
    for r in results {
        for l in &r.logs {
            s.push_str(&format!(
                "{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.1},{:.3}\n",
                r.name,
                l.epoch,
                l.train_pos_loss,
                l.train_chunk_loss,
                l.test.pos_loss,
                l.test.chunk_loss,
                l.test.score.pos_acc,
                l.test.score.chunk_acc,
                l.test.score.chunk.f1(),
                l.tokens_per_s,
                l.seconds
            ));
        }
    }
    staticflow::io::write_atomic(path, s)
}

pub(crate) fn plot(
    results: &[RunResult],
    title: &str,
    path: &Path,
) -> std::result::Result<(), String> {
    let mut svg = String::new();
    draw(
        results,
        title,
        SVGBackend::with_string(&mut svg, (1100, 760)),
    )?;
    staticflow::io::write_atomic(path, svg).map_err(|e| e.to_string())
}

pub(crate) fn draw(
    results: &[RunResult],
    title: &str,
    svg: SVGBackend,
) -> std::result::Result<(), String> {
    let root = svg.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((2, 2));
    type Getter = fn(&EpochLog) -> f64;
    // (title, value, whether a regime trains the head the value measures)
    type Trains = fn(Regime) -> bool;
    let specs: [(&str, Getter, Trains); 4] = [
        ("train POS loss", |l| l.train_pos_loss, Regime::trains_pos),
        (
            "train chunk loss",
            |l| l.train_chunk_loss,
            Regime::trains_chunks,
        ),
        (
            "test POS accuracy",
            |l| l.test.score.pos_acc,
            Regime::trains_pos,
        ),
        (
            "test chunk F1",
            |l| l.test.score.chunk.f1(),
            Regime::trains_chunks,
        ),
    ];
    let style = |i: usize| match results[i].regime {
        Regime::Joint => (RGBColor(31, 119, 180), 3),
        Regime::Alternate => (RGBColor(214, 39, 40), 3),
        Regime::PosOnly => (RGBColor(150, 150, 150), 1),
        Regime::ChunkOnly => (RGBColor(90, 90, 90), 1),
        Regime::Strategy => {
            let (r, g, b) = Palette99::pick(i).rgb();
            (RGBColor(r, g, b), 1)
        }
    };
    for (area, (name, get, trains)) in panels.iter().zip(specs) {
        // A head a regime never trains (pos_only's chunk head, chunk_only's POS head) would
        // only draw a flat, meaningless curve: left out.
        let pts: Vec<(usize, Vec<(usize, f64)>)> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| trains(r.regime))
            .map(|(i, r)| {
                let v = r
                    .logs
                    .iter()
                    .map(|l| (l.epoch, get(l)))
                    .filter(|(_, y)| y.is_finite())
                    .collect();
                (i, v)
            })
            .filter(|(_, v): &(usize, Vec<(usize, f64)>)| !v.is_empty())
            .collect();
        let ys = pts.iter().flat_map(|(_, v)| v.iter().map(|p| p.1));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if !lo.is_finite() {
            continue;
        }
        let pad = ((hi - lo) * 0.08).max(1e-3);
        let max_epoch = results
            .iter()
            .flat_map(|r| r.logs.iter().map(|l| l.epoch))
            .max()
            .unwrap_or(1);
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(
                // Ticks at whole epochs only (at most about 12).
                (0..max_epoch + 1).with_key_points(epoch_ticks(max_epoch)),
                (lo - pad)..(hi + pad),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, v) in pts {
            let (color, width) = style(i);
            chart
                .draw_series(LineSeries::new(v, color.stroke_width(width)))
                .map_err(|e| e.to_string())?
                .label(results[i].name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Whole epochs `1..=n` for the x axis, every k-th so that at most 12 are labelled.
pub(crate) fn epoch_ticks(n: usize) -> Vec<usize> {
    (1..=n.max(1)).step_by(n.div_ceil(12).max(1)).collect()
}

/// `"pos_acc":..,"chunk_acc":..,"chunk_f1":..` (fractions, 4 decimals).
pub(crate) fn score_fields(e: &Evaluation) -> String {
    format!(
        "\"pos_acc\":{:.4},\"chunk_acc\":{:.4},\"chunk_f1\":{:.4}",
        e.score.pos_acc,
        e.score.chunk_acc,
        e.score.chunk.f1()
    )
}

/// The comparison of the runs (POS accuracy, chunk F1; Δm% against `equal`, else `joint`,
/// the same summed loss).
pub(crate) fn comparison(results: &[RunResult]) -> (Vec<Column>, Vec<Row>, &'static str) {
    let col = |task: &str, metric: &str| Column {
        task: task.into(),
        metric: metric.into(),
        lower_is_better: false,
    };
    let columns = vec![col("pos", "pos_acc"), col("chunk", "chunk_f1")];
    let rows = results
        .iter()
        .map(|r| Row {
            name: r.name.clone(),
            values: vec![r.final_eval.score.pos_acc, r.final_eval.score.chunk.f1()],
            rate: r.tokens_per_s(),
            mean_cosine: r.mean_cosine(),
        })
        .collect();
    let baseline = if results.iter().any(|r| r.name == "equal") {
        "equal"
    } else {
        "joint"
    };
    (columns, rows, baseline)
}
