//! Face landmarks + head pose on MTFL with the Head API (the TF1 "Head API" tutorial network).
//!
//! ```text
//! cargo run --release --example face_landmarks -- [--steps 1000] [--weighting STRATEGY|alternate|all]
//!     [--heads nose,pose[,left_eye,right_eye,mouth_left,mouth_right,landmarks,gender,smile,glasses]|all]
//!     [--data DIR] [--seed 0] [--batch 64] [--lr 0.001] [--input-scaling standardize|per_image|unit]
//!     [--label-scaling on|off] [--augment none|flip,shiftN,zoomZ] [--class-weighting none|sqrt|balanced]
//!     [--lr-schedule constant|cosine] [--grid target/face_landmarks/grid.png]
//! ```
//!
//! Network: 40x40x3 input; conv 16 5x5 same relu, maxpool 2; conv 48 3x3 relu, maxpool 2;
//! conv 64 3x3 relu, maxpool 2; conv 64 2x2 relu; flatten; dense 100 relu; one linear layer
//! per head. Adam, batch 64. Data: `--data DIR` (the folder holding `mtfl/`, like
//! `$MTL_DATA_DIR`; the `mtfl` folder itself, holding `training.txt`, also works), else
//! `$MTL_DATA_DIR/mtfl`, else `../shared/data/mtfl` relative to the project root.
//!
//! `--weighting` takes any multi-task strategy of `staticflow::mtl::NAMES` (`fixed`,
//! `uncertainty`, `dwa`, `pcgrad`, `mgda`, `upgrad`, ..., with an argument such as
//! `fixed:1,10`) or `alternate`; `all` trains once per strategy (every name, then
//! `alternate`) with the same seed and steps and prints a table: each head's test metric
//! (RMSE or accuracy), Δm% against `equal` (LibMTL's), steps/s and the mean pairwise
//! gradient cosine on the shared variables (fetched every 50 steps in the step's own run;
//! those steps are left out of steps/s). `--heads all` trains nine heads: the five
//! landmarks, gender, smile, glasses and pose (`landmarks` is the five as one head).
//!
//! The last stdout line is one JSON object with the test metrics (with several runs,
//! `"results": {NAME: {metrics, "delta_m_pct", "steps_per_s", "mean_grad_cosine"}}` too).
//! `-h` / `--help` prints the usage; a bad flag or value exits with code 2.
//!
//! Data-parallel: built with `--features mpi` and started by `mpirun -np N`, each rank trains
//! on its part of every global batch of `--batch`, with gradients (and the strategy's per-task
//! gradients and losses) averaged across ranks; rank 0 alone prints and writes files, and the
//! JSON line adds `"ranks"`, `"allreduce_calls"` and `"allreduce_s"`.
//!
//! ## Recipe and what each change bought (test split, seed 0, 1000 steps, batch 64, Adam 1e-3)
//!
//! Each row adds one change to the row above (measured 2026-11-25 with this binary):
//!
//! | recipe | nose RMSE | pose acc |
//! |---|---|---|
//! | TF1 reference script (median of 3 seeds) | 0.0769 | 0.6594 |
//! | same recipe here (`--input-scaling unit --label-scaling off --augment none --class-weighting none`) | 0.0776 | 0.6838 |
//! | + nose labels standardised in the head (`--label-scaling on`) | 0.0493 | 0.6674 |
//! | + per-image standardisation of the input (`--input-scaling per_image`) | 0.0451 | 0.6741 |
//! | + random horizontal flips (`--augment flip`) | 0.0474 | 0.6654 |
//! | + random zoom in [1, 1.5] and shifts of up to 2 pixels (`--augment flip,shift2,zoom1.5`) | 0.0375 | 0.7062 |
//! | + square-root class weights on the pose loss (`--class-weighting sqrt`) = **the defaults** | **0.0360** | **0.7563** |
//! | defaults, seeds 1 and 2 | 0.0362, 0.0405 | 0.7596, 0.7459 |
//! | defaults with `--weighting dwa` | 0.0371 | 0.7563 |
//! | defaults with `--weighting uncertainty` | 0.0405 | 0.7482 |
//! | defaults with `--weighting alternate` | 0.0413 | 0.7225 |
//! | defaults with `--heads nose,pose,left_eye,right_eye,mouth_left,mouth_right` | 0.0407 | 0.7222 |
//! | defaults with `--lr-schedule cosine` | 0.0392 | 0.7316 |
//!
//! Baselines: training-mean nose 0.0622, majority pose 0.6093. What mattered:
//! - Label standardisation: the raw MSE (~0.003) is drowned by the pose cross-entropy (~0.8)
//!   in the summed loss, so the nose head barely trains; standardised, both are of order 1.
//! - Zoom: the test faces (AFLW) fill more of the frame than the training faces (mean
//!   inter-ocular distance 23.7 px of 80 against 13.2 for LFW and 17.4 for the web faces),
//!   so training on magnified faces closes most of that gap.
//! - Class weights: the test split has more non-frontal faces (39%) than the training split
//!   (26%); weighting each pose class by `1/sqrt(frequency)` lifts the recall of the left and
//!   right classes from ~0.3-0.45 to ~0.6-0.7 (the confusion matrix is printed). Without the
//!   zoom they did not help (0.658 / 0.644 on seeds 0 / 1), fully balanced weights hurt (0.527).

use ndarray::s;
use staticflow::data::image::{ImageOptions, OnError};
use staticflow::data::mtfl;
use staticflow::heads::Weighting;
use staticflow::models::face_landmarks::{Parallel, Recipe, Task};
use staticflow::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

mod common;
use common::compare::{Column, Row};

/// Command-line settings: the training recipe (defaults = [`Recipe::default`]) plus where
/// the data is, which weighting(s) to run and where the grid goes.
#[derive(Clone, Debug)]
struct Args {
    recipe: Recipe,
    weighting: String,
    data: Option<PathBuf>,
    grid: Option<PathBuf>,
    out: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            recipe: Recipe::default(),
            weighting: "fixed".into(),
            data: None,
            grid: None,
            out: common::default_out("face_landmarks"),
        }
    }
}

const USAGE: &str = "usage: face_landmarks [--steps N] [--weighting STRATEGY|alternate|all] \
[--heads nose,pose,...|all] [--data DIR] [--seed S] [--batch B] [--lr LR] [--lr-schedule constant|cosine] [--class-weighting none|sqrt|balanced] \
[--input-scaling standardize|per_image|unit] [--label-scaling on|off] [--augment none|flip,shiftN,zoomZ] [--out DIR] [--grid FILE.png] \
(--help for details)";

const HELP: &str = "\
face_landmarks: the Head-API CNN on MTFL (nose landmark regression + head pose).

usage: cargo run --release --example face_landmarks -- [FLAGS]

flags (default in brackets):
  --steps N              training steps [1000]
  --weighting W          any multi-task strategy of staticflow::mtl::NAMES (fixed, equal,
                         uncertainty, dwa, gls, rlw, gradnorm, mean, pcgrad, mgda, cagrad,
                         imtl_g, aligned_mtl, upgrad, gradvac, nash_mtl; also fixed:1,10,
                         uncertainty:10, dwa:2, cagrad:0.4), alternate, or all: one run per
                         strategy and a table (each head's metric, delta-m% vs equal,
                         steps/s, mean gradient cosine) [fixed]
  --heads LIST           comma list of heads: nose, pose, left_eye, right_eye, mouth_left,
                         mouth_right, landmarks (all five as one head), gender, smile,
                         glasses; or all (the five landmarks and four attributes) [nose,pose]
  --data DIR             folder holding mtfl/ (training.txt, testing.txt), the same level as
                         $MTL_DATA_DIR; the mtfl folder itself also works
                         [$MTL_DATA_DIR, then ../shared/data relative to the
                         project root]
  --seed S               seed of initialisation, shuffling and augmentation [0]
  --batch B              batch size [64]
  --lr LR                Adam learning rate [0.001]
  --lr-schedule S        constant|cosine [constant]
  --class-weighting C    pose loss class weights: none|sqrt|balanced [sqrt]
  --input-scaling S      standardize|per_image|unit [per_image]
  --label-scaling on|off standardise regression labels in the head [on]; the training
                         loss (train/loss, what Adam minimises) then has the nose loss in
                         standardised units, while average_loss/head_nose and
                         rmse/head_nose stay in image units (fractions of the face width)
  --augment A            none, or a comma list of flip, shiftN, zoomZ [flip,shift2,zoom1.5]
  --out DIR              output base [<project>/target/face_landmarks, whatever the cwd]
  --grid FILE            where the grid of 16 test faces goes
                         [OUT/grid_<weighting>_steps<N>_seed<S>.png]
  -h, --help             this text

writes (absolute paths are printed):
  OUT/grid_<weighting>_steps<N>_seed<S>.png
                         16 test faces: true landmarks green, predicted nose red,
                         true (T) and predicted (P) pose, a wrong pose red and framed;
                         a legend underneath
  OUT/runs/<weighting>_steps<N>_seed<S>/events.out.tfevents.*
                         TensorBoard (tensorboard --logdir OUT/runs): train loss per step,
                         test metrics, final loss weights, a histogram of each layer's
                         weights, the grid as an image; a rerun of the same name replaces it
  stdout                 metrics, pose confusion matrix, and as the last line one JSON object

takes: about 30 s to load and decode MTFL plus 15-30 s per 1000 steps on 2 free cores
(--weighting all: 17 runs). Without the data it says where to get it and exits 2.";

fn parse_args(p: &mut lexopt::Parser) -> Result<Args, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    const INT: &str = "a non-negative integer";
    let mut a = Args::default();
    let r = &mut a.recipe;
    while let Some(arg) = p.next()? {
        match arg {
            Long("steps") => r.steps = common::value(p, "--steps", INT)?,
            Long("weighting") => a.weighting = common::weighting(p)?,
            Long("heads") => {
                let expected = format!(
                    "all or a comma list of {}, landmarks, {}",
                    mtfl::LANDMARKS.join(", "),
                    mtfl::ATTRIBUTES.join(", ")
                );
                let v = common::string(p, "--heads", &expected)?;
                r.tasks = if v == "all" {
                    Task::all()
                } else {
                    v.split(',')
                        .map(|s| {
                            let s = s.trim();
                            s.parse::<Task>().map(|t| (s.to_string(), t))
                        })
                        .collect::<Result<_, _>>()
                        .map_err(|_| common::bad("--heads", &expected, &v))?
                };
            }
            Long("data") => a.data = Some(common::path(p, "--data", "a folder")?),
            Long("seed") => r.seed = common::value(p, "--seed", INT)?,
            Long("batch") => r.batch = common::value(p, "--batch", INT)?,
            Long("lr") => r.lr = common::value(p, "--lr", "a number")?,
            Long("lr-schedule") => {
                r.lr_schedule = common::value(p, "--lr-schedule", "constant|cosine")?
            }
            Long("class-weighting") => {
                r.class_weighting = common::value(p, "--class-weighting", "none|sqrt|balanced")?
            }
            Long("input-scaling") => {
                r.input_scaling = common::value(p, "--input-scaling", "standardize|per_image|unit")?
            }
            Long("label-scaling") => {
                r.label_scaling = common::choice(p, "--label-scaling", &["on", "off"])? == "on"
            }
            Long("grid") => {
                a.grid = Some(common::absolute(&common::path(p, "--grid", "a PNG file")?))
            }
            Long("out") => a.out = common::absolute(&common::path(p, "--out", "a folder")?),
            Long("augment") => {
                const AUG: &str = "none or a comma list of flip, shiftN, zoomZ";
                let v = common::string(p, "--augment", AUG)?;
                r.augment = v.parse().map_err(|e| match e {
                    staticflow::Error::InvalidArgument(m) => format!("--augment: {m}").into(),
                    _ => common::bad("--augment", AUG, &v),
                })?;
            }
            Short('h') | Long("help") => common::help(HELP),
            other => return Err(common::unknown(other)),
        }
    }
    Ok(a)
}

fn main() {
    let args = common::parse_or_exit(USAGE, parse_args);
    if let Err(e) = run(&args) {
        eprintln!("face_landmarks: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> staticflow::Result<()> {
    let dir = match mtfl::locate(args.data.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("face_landmarks: {e}");
            std::process::exit(2);
        }
    };
    let recipe = &Recipe {
        cosine_every: COSINE_EVERY,
        ..args.recipe.clone()
    };
    // One rank unless started by `mpirun` with the `mpi` feature: each rank trains on its
    // part of every global batch; rank 0 alone prints and writes files.
    let world = staticflow::distributed::init()?;
    world.quiet_unless_root()?;
    let parallel = Parallel {
        optimizer: &|adam| world.optimizer(adam),
        sync: &|sess| world.sync_session(sess),
        shard: (world.rank(), world.size()),
    };
    println!("data: {}", dir.display());
    let opts = ImageOptions::default();
    let t0 = Instant::now();
    let tr = mtfl::load_split(&dir, "training", &opts, OnError::Fail)?;
    let te = mtfl::load_split(&dir, "testing", &opts, OnError::Fail)?;
    let load_s = t0.elapsed().as_secs_f64();
    let images_per_s = (tr.len() + te.len()) as f64 / load_s;
    println!(
        "pipeline: {} training + {} test images decoded and resized to 40x40 in {:.2} s = {:.0} images/s",
        tr.len(),
        te.len(),
        load_s,
        images_per_s
    );
    // The unscaled test split stays for the grid and the confusion matrix.
    let data = recipe.prepare(tr, te.clone())?;
    let heads: Vec<&str> = recipe.tasks.iter().map(|(n, _)| n.as_str()).collect();

    let strategies: Vec<String> = if args.weighting == "all" {
        Weighting::names().iter().map(|s| s.to_string()).collect()
    } else {
        vec![args.weighting.clone()]
    };
    let mut runs = Vec::new();
    for w in &strategies {
        println!(
            "training: weighting {w}, heads {}, {} steps, batch {}, Adam {}, seed {}",
            heads.join(","),
            recipe.steps,
            recipe.batch,
            recipe.lr,
            recipe.seed
        );
        let r = recipe.train_and_evaluate_parallel(&data, w, &parallel)?;
        println!("test metrics ({w}):");
        for (k, v) in &r.metrics {
            println!("  {k:28} {v:.4}");
        }
        let scaled: Vec<&str> = recipe
            .tasks
            .iter()
            .filter(|(_, t)| recipe.label_scaling && !matches!(t, Task::Attribute(_)))
            .map(|(n, _)| n.as_str())
            .collect();
        if !scaled.is_empty() {
            let heads: Vec<String> = scaled.iter().map(|n| format!("loss/head_{n}")).collect();
            let (verb, part) = if heads.len() == 1 {
                ("is", "its part")
            } else {
                ("are", "their parts")
            };
            println!(
                "  ({} {verb} in standardised units, and so {verb} {part} of `loss`, the \
                 weighted sum training minimises; average_loss/head_* and rmse/head_* are in \
                 image units)",
                heads.join(", ")
            );
        }
        println!(
            "  steps/s {:.1}; final loss weights {:?}; mean gradient cosine {}",
            r.steps_per_s,
            r.weights,
            r.mean_cosine.map_or("-".into(), |c| format!("{c:.3}"))
        );
        print_pose_confusion(&te, &r.predictions);
        if world.is_root() {
            log_run(args, &te, &r)?;
        }
        runs.push(r);
    }
    let (columns, rows) = comparison(recipe, &runs);
    if runs.len() > 1 {
        println!();
        common::compare::print_table(&columns, &rows, "equal", "steps/s");
    }
    let first = &runs[0];
    let grid = args.grid.clone().unwrap_or_else(|| {
        let name = run_name(args, &first.weighting);
        args.out.join(format!("grid_{name}.png"))
    });
    if let Some(dir) = grid.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| staticflow::Error::io(dir, e))?;
    }
    if world.is_root() {
        write_grid(&grid, &te, &first.predictions)?;
        println!("wrote {}", grid.display());
    }

    let mut metrics = serde_json::Map::new();
    for (k, v) in &first.metrics {
        if k == "loss"
            || ["average_loss/", "rmse/", "accuracy/"]
                .iter()
                .any(|p| k.starts_with(p))
        {
            metrics.insert(k.clone(), serde_json::json!(round4(*v)));
        }
    }
    let mut json = serde_json::json!({
        "example": "face_landmarks",
        "steps": recipe.steps,
        "weighting": first.weighting,
        "metrics": metrics,
        "steps_per_s": round1(first.steps_per_s),
        "images_per_s": round1(images_per_s),
    });
    if runs.len() > 1 {
        let results = common::compare::results_json(&columns, &rows, "equal", "steps_per_s");
        json["results"] = serde_json::Value::Object(results);
    }
    if cfg!(feature = "mpi") {
        println!("{}", common::ranks_line(&world));
        let s = staticflow::distributed::allreduce_stats();
        json["ranks"] = world.size().into();
        json["allreduce_calls"] = s.calls.into();
        json["allreduce_s"] = (1e-3 * (1e3 * s.seconds).round()).into();
    }
    println!("{json}");
    Ok(())
}

/// Fetch the strategy's gradient cosines every this many steps.
const COSINE_EVERY: usize = 50;

/// The comparison columns (each head's RMSE or accuracy) and one row per run.
fn comparison(
    recipe: &Recipe,
    runs: &[staticflow::models::face_landmarks::RunResult],
) -> (Vec<Column>, Vec<Row>) {
    let columns: Vec<Column> = recipe
        .tasks
        .iter()
        .map(|(name, t)| {
            let regression = !matches!(t, Task::Attribute(_));
            let metric = if regression { "rmse" } else { "accuracy" };
            Column {
                task: name.clone(),
                metric: format!("{metric}/head_{name}"),
                lower_is_better: regression,
            }
        })
        .collect();
    let rows = runs
        .iter()
        .map(|r| Row {
            name: r.weighting.clone(),
            values: columns
                .iter()
                .map(|c| r.metrics.get(&c.metric).copied().unwrap_or(f64::NAN))
                .collect(),
            rate: r.steps_per_s,
            mean_cosine: r.mean_cosine,
        })
        .collect();
    (columns, rows)
}

/// The test split's pose confusion matrix (rows: true class, columns: predicted) and
/// per-class recall, when the model has a `head_pose`.
fn print_pose_confusion(test: &mtfl::MtflSplit, pred: &BTreeMap<String, Value>) {
    let Some(ids) = pred
        .get("head_pose/class_ids")
        .and_then(|v| v.as_i64().ok())
    else {
        return;
    };
    let k = mtfl::ATTRIBUTES
        .iter()
        .position(|a| *a == "pose")
        .expect("pose attribute");
    let mut m = [[0usize; 5]; 5];
    for (i, &p) in ids.iter().enumerate() {
        let t = test.attributes[[i, k]];
        if let (Ok(t), Ok(p)) = (usize::try_from(t), usize::try_from(p)) {
            if t < 5 && p < 5 {
                m[t][p] += 1;
            }
        }
    }
    println!("  pose confusion (rows true, columns predicted; recall):");
    for (t, row) in m.iter().enumerate() {
        let n: usize = row.iter().sum();
        let cells: Vec<String> = row.iter().map(|c| format!("{c:5}")).collect();
        println!(
            "    {t}: {}   {:.3}",
            cells.join(""),
            row[t] as f64 / n.max(1) as f64
        );
    }
}

/// `<weighting>_steps<N>_seed<S>`: names a run's outputs so runs of other settings stay.
fn run_name(args: &Args, weighting: &str) -> String {
    let w: String = weighting
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{w}_steps{}_seed{}", args.recipe.steps, args.recipe.seed)
}

/// One TensorBoard run: the train loss per step, test metrics, final loss weights, a
/// histogram of every trainable variable and the grid of predictions, at the last step.
fn log_run(
    args: &Args,
    test: &mtfl::MtflSplit,
    r: &staticflow::models::face_landmarks::RunResult,
) -> staticflow::Result<()> {
    let mut tb = common::tensorboard_run(&args.out, &run_name(args, &r.weighting))?;
    for (k, l) in r.train_losses.iter().enumerate() {
        tb.add_scalar("train/loss", *l, k as i64 + 1)?;
    }
    let last = r.train_losses.len() as i64;
    for (k, v) in &r.metrics {
        tb.add_scalar(&format!("test/{k}"), *v as f32, last)?;
    }
    for ((name, _), w) in args.recipe.tasks.iter().zip(&r.weights) {
        tb.add_scalar(&format!("loss_weight/head_{name}"), *w, last)?;
    }
    for (name, values) in &r.variables {
        tb.add_histogram(&format!("weights/{name}"), values.iter().copied(), last)?;
    }
    let img = grid_image(test, &r.predictions);
    let (w, h) = img.dimensions();
    let arr = ndarray::Array4::from_shape_fn((1, h as usize, w as usize, 3), |(_, y, x, c)| {
        img.get_pixel(x as u32, y as u32).0[c] as f32 / 255.0
    });
    tb.add_images("test/predictions", arr.view(), 1, last)?;
    tb.add_text(
        "about",
        "train/loss is the weighted sum of the heads' losses that Adam minimises; with label \
         scaling on, its nose part is in standardised units (test average_loss/head_nose and \
         rmse/head_nose are in image units). Grid: true landmarks green, predicted nose red, \
         T: true pose, P: predicted pose, a wrong pose in red with its face framed in red; \
         poses LPROF (left profile), LEFT, FRONT, RIGHT, RPROF (right profile).",
        last,
    )?;
    tb.close()
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A 4x4 grid of the first 16 test faces (upscaled 4x): true landmarks green, predicted
/// nose red, true/predicted pose as text (a wrong pose in red, its face framed in red), and a
/// legend underneath.
fn write_grid(
    path: &std::path::Path,
    test: &mtfl::MtflSplit,
    pred: &BTreeMap<String, Value>,
) -> staticflow::Result<()> {
    let img = grid_image(test, pred);
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| staticflow::Error::io(path, e))?;
    staticflow::io::write_atomic(path, png.into_inner())
}

/// MTFL's pose classes 1-5 (0-4 here), as the grid writes them.
const POSE_SHORT: [&str; 5] = ["LPROF", "LEFT", "FRONT", "RIGHT", "RPROF"];
const GREEN: [u8; 3] = [0, 200, 0];
const RED: [u8; 3] = [230, 0, 0];
const BLACK: [u8; 3] = [0, 0, 0];
/// Height of the legend under the 4x4 grid.
const LEGEND: usize = 60;

/// The grid of [`write_grid`] as an image: 640 x (4 * 184 + [`LEGEND`]) pixels.
fn grid_image(test: &mtfl::MtflSplit, pred: &BTreeMap<String, Value>) -> image::RgbImage {
    use common::draw::{draw_text, mark, paste_face};
    const S: usize = 4; // upscale
    const CELL: usize = 40 * S;
    const TEXT: usize = 24;
    let n = 16.min(test.len());
    let (gw, gh) = (4 * CELL, 4 * (CELL + TEXT) + LEGEND);
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    let nose = pred
        .get("head_nose/predictions")
        .and_then(|v| v.as_f32().ok());
    let pose = pred
        .get("head_pose/class_ids")
        .and_then(|v| v.as_i64().ok());
    for i in 0..n {
        let (ox, oy) = ((i % 4) * CELL, (i / 4) * (CELL + TEXT));
        paste_face(&mut img, test.images.slice(s![i, .., .., ..]), ox, oy, CELL);
        for k in 0..5 {
            let (x, y) = (test.landmarks[[i, k, 0]], test.landmarks[[i, k, 1]]);
            mark(&mut img, ox, oy, CELL, x, y, GREEN);
        }
        if let Some(nz) = nose {
            mark(&mut img, ox, oy, CELL, nz[[i, 0]], nz[[i, 1]], RED);
        }
        let truth = test.attributes[[i, 3]].clamp(0, 4) as usize;
        let x = draw_text(
            &mut img,
            ox + 3,
            oy + CELL + 6,
            &format!("T:{}", POSE_SHORT[truth]),
            2,
            BLACK,
        );
        if let Some(p) = pose {
            let p = p[[i]].clamp(0, 4) as usize;
            let c = if p == truth { BLACK } else { RED };
            draw_text(
                &mut img,
                x + 8,
                oy + CELL + 6,
                &format!("P:{}", POSE_SHORT[p]),
                2,
                c,
            );
            if p != truth {
                frame(&mut img, ox, oy, CELL, RED);
            }
        }
    }
    legend(&mut img, 4 * (CELL + TEXT), pose.is_some());
    img
}

/// A 3-pixel frame just inside the `cell`-pixel square at `(ox, oy)`.
fn frame(img: &mut image::RgbImage, ox: usize, oy: usize, cell: usize, c: [u8; 3]) {
    for k in 0..cell {
        for d in 0..3 {
            for (x, y) in [
                (ox + k, oy + d),
                (ox + k, oy + cell - 1 - d),
                (ox + d, oy + k),
                (ox + cell - 1 - d, oy + k),
            ] {
                img.put_pixel(x as u32, y as u32, image::Rgb(c));
            }
        }
    }
}

/// The legend below the faces (starting at row `y0`): marker colours, pose notation and
/// names, and how a wrong pose is shown.
fn legend(img: &mut image::RgbImage, y0: usize, with_pose: bool) {
    use common::draw::{draw_text, mark};
    let row = |k: usize| y0 + 6 + k * 18;
    // A cross drawn in a 16-pixel square centred on the text line.
    let cross = |img: &mut image::RgbImage, x: usize, y: usize, c: [u8; 3]| {
        mark(img, x, y - 3, 16, 0.5, 0.5, c)
    };
    cross(img, 4, row(0), GREEN);
    let x = draw_text(img, 22, row(0), "TRUE LANDMARKS", 2, BLACK);
    cross(img, x + 16, row(0), RED);
    draw_text(img, x + 34, row(0), "PREDICTED NOSE", 2, BLACK);
    if with_pose {
        let x = draw_text(
            img,
            4,
            row(1),
            "T: TRUE POSE  P: PREDICTED POSE  ",
            2,
            BLACK,
        );
        draw_text(img, x, row(1), "WRONG POSE: RED TEXT AND FRAME", 2, RED);
    } else {
        draw_text(
            img,
            4,
            row(1),
            "T: TRUE POSE (NO POSE HEAD TRAINED)",
            2,
            BLACK,
        );
    }
    draw_text(
        img,
        4,
        row(2),
        "POSES: LPROF LEFT PROFILE / LEFT / FRONT / RIGHT / RPROF RIGHT PROFILE",
        2,
        BLACK,
    );
}
