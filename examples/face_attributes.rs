//! Multi-attribute faces with learned loss weights: the PyTorch/FastAI multi-task tutorial
//! (one shared encoder, one head per attribute, Kendall et al.'s learned-uncertainty loss, a
//! sigmoid-bounded regression, the learning-rate finder, one-cycle training and a pretrained
//! encoder trained head-first then unfrozen with discriminative learning rates), on MTFL.
//!
//! ```text
//! cargo run --release --example face_attributes -- [--steps 1000] [--weighting uncertainty:10|NAME|all]
//!     [--lr 0.001] [--one-cycle] [--lr-find] [--pretrain landmarks] [--pretrain-steps N]
//!     [--freeze-steps N] [--trunk-lr-mult 0.1] [--single-task on|off] [--seed 0] [--batch 64]
//!     [--data DIR] [--out target/face_attributes]
//! ```
//!
//! Model: the face-landmarks CNN trunk (`models::face_landmarks::trunk`, scope `trunk/`) and
//! five heads: `landmarks` (all five landmarks, 10 outputs through a sigmoid so they stay in
//! [0, 1] like the tutorial's age, mean squared error), `gender`, `smile`, `glasses` (2
//! classes each) and `pose` (5 classes, square-root class weights as in the face_landmarks
//! recipe). Inputs standardised per image; random flips, shifts and zooms; Adam, batch 64.
//!
//! - `--weighting`: any name the Head API parses; `fixed` is equal weights, `all` trains one
//!   model per strategy and prints a comparison. The default, `uncertainty:10`, is Kendall et
//!   al.'s learned uncertainty with the log-variances parameterised to move 10x faster than
//!   the weights: within 1,000 Adam steps at 1e-3 the plain parameterisation (`uncertainty`)
//!   moves each log-variance by at most ~1, far from the landmarks' optimum near
//!   `log(MSE) ~ -6` (seed 0: landmark RMSE 0.069 with `uncertainty`, 0.0425 with
//!   `uncertainty:10`, learned landmark sigma 0.037).
//! - `--lr-find`: FastAI's learning-rate finder on a fresh model (100 steps from 1e-7 to 10,
//!   smoothed loss, stop at divergence); trains with its `valley` suggestion and writes the
//!   plot to `<out>/lr_find.svg`. The finder restores every variable it touched.
//! - `--one-cycle`: FastAI's `fit_one_cycle` schedule with `--lr` as `lr_max` (warm-up over
//!   the first 25% from lr/25, cosine annealing to lr/1e5, Adam's beta1 0.95 -> 0.85 -> 0.95).
//! - `--pretrain landmarks`: trains an encoder (scope `encoder/`) with the landmarks head
//!   alone, saves it to `<out>/encoder.safetensors`, restores it into the multi-task trunk
//!   (partial restore with the name map `encoder/` -> `trunk/`, report printed), trains the
//!   heads only for `--freeze-steps` (trunk frozen), then everything with the trunk's
//!   learning rate multiplied by `--trunk-lr-mult`; the multi-task steps still total
//!   `--steps`.
//!
//! Prints the test metrics of the multi-task model against the trivial baselines (the
//! training-mean landmarks; the best constant class on the test split) and against one
//! single-task model per head trained for the same steps, the learned task weights (and
//! sigma per task for `uncertainty`), steps/s, writes `<out>/grid.png` (16 test faces: true
//! landmarks green, predicted red; predicted attributes, green where right, red where
//! wrong), and ends with one JSON line:
//! `{"example":"face_attributes","weighting":..,"metrics":{"rmse/landmarks":..,
//! "accuracy/gender":..,"accuracy/smile":..,"accuracy/glasses":..,"accuracy/pose":..},
//! "single_task":{same keys},"weights":{"landmarks":..,..},"steps_per_s":..}` where
//! `weights` are the final effective loss weights of the heads.
//!
//! ## Measured (test split, 1,000 steps, batch 64, Adam 1e-3, seeds 0, 1, 2, 2026-11-30)
//!
//! Median [min, max] over the three seeds. Single-task: the same trunk with that head alone,
//! same steps, seed and data order. The machine was shared with several compiling sessions
//! (load average 15-26 on 2 cores): about 100 s of CPU per multi-task run, 16-23 minutes of
//! wall time, so steps/s (0.8-1.3) say nothing about speed. Runs are deterministic per seed
//! (seed 0 of the default reproduced an earlier run to every printed digit); the equal-weights
//! seeds 1 and 2 are from that earlier run.
//!
//! | task | trivial baseline | single-task | `uncertainty:10` (default) | `fixed` (equal weights) |
//! |---|---|---|---|---|
//! | landmark RMSE | 0.0720 | **0.0380** [0.0366, 0.0381] | 0.0436 [0.0425, 0.0447] | 0.0709 [0.0696, 0.0711] |
//! | mean error / inter-ocular | 0.3143 | - | 0.1760 [0.1703, 0.1821] | 0.3007 [0.2955, 0.3022] |
//! | gender | 0.6083 | **0.7820** [0.7249, 0.7853] | 0.7589 [0.7563, 0.7673] | 0.7633 [0.7466, 0.7663] |
//! | smile | 0.5449 | **0.7346** [0.7332, 0.7446] | 0.7088 [0.6908, 0.7139] | 0.6965 [0.6574, 0.6968] |
//! | glasses | 0.9195 | **0.9215** [0.9205, 0.9229] | 0.9212 [0.9205, 0.9215] | 0.9195 [0.9175, 0.9199] |
//! | pose | 0.6093 | **0.7322** [0.7245, 0.7446] | 0.7235 [0.7205, 0.7292] | 0.7329 [0.7212, 0.7416] |
//!
//! - Baselines: with the default every head beats its baseline on every seed, glasses only
//!   just (0.9205-0.9215 against the constant 0.9195: 3-6 of 2,995 faces). Equal weights
//!   leave the landmarks near the mean face (their MSE is ~100x smaller than the
//!   cross-entropies) and glasses at or below the constant answer on seeds 1 and 2, as the
//!   tutorial found.
//! - Multi-task against single-task (within 1% or better), per seed 0 / 1 / 2: default 2 / 1
//!   / 3 of 5 tasks (glasses on all seeds, pose on two, gender on seed 2), equal weights 2 /
//!   2 / 3. The issue's goal (at least 3 of 5) is met on one seed of three, so it is **not
//!   met**: at 1,000 steps the shared 100-unit trunk costs the landmarks ~15% RMSE and gender
//!   and smile 2-3 accuracy points. Not yet tried (no time left on the shared machine): a
//!   longer or one-cycle schedule, the head-first pretrained workflow at full length, a
//!   wider shared layer.
//! - Learned sigma (default, seeds 0 / 1 / 2): landmarks 0.037 / 0.037 / 0.038, gender 0.88 /
//!   0.89 / 0.90, smile 1.06 / 1.09 / 1.05, glasses 0.81 / 0.80 / 0.78, pose 1.17 / 1.16 /
//!   1.12. Plain `uncertainty` (speed 1, seed 0): landmark RMSE 0.0690, gender 0.7649, smile
//!   0.6407, glasses 0.9202, pose 0.7115.
//! - Workflow flags on the real data (seed 0, 150 steps each phase, smoke test): the finder
//!   stopped at 2.75 after 94 of 100 steps, suggested valley 1.45e-3 (steepest 1.45e-1,
//!   minimum/10 1e-2) and left all 78 variables bit-identical; the transfer restored the 10
//!   trunk variables (none missing or unexpected). 150 one-cycle steps are too few for the
//!   attributes (only the landmarks beat their baseline: RMSE 0.0574).

use ndarray::{s, Array1, Array2, Axis};
use staticflow::data::augment::{AugmentOptions, Transform};
use staticflow::data::image::{per_image_standardization, ImageOptions, OnError};
use staticflow::data::mtfl::{self, MtflSplit};
use staticflow::data::Dataset;
use staticflow::heads::{
    inverse_frequency_weights, Batch, Estimator, Head, Mode, MultiClassHead, MultiHead,
    MultiHeadSpec, RegressionHead, Weighting,
};
use staticflow::models::face_landmarks::trunk;
use staticflow::prelude::*;
use staticflow::train::{trainable_variables_in, LrFinder, OneCycle, PartialRestore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod common;

/// The heads, in order: task 0 regresses the landmarks, tasks 1..=4 classify the attributes
/// `mtfl::ATTRIBUTES[t - 1]`.
const TASKS: [&str; 5] = ["landmarks", "gender", "smile", "glasses", "pose"];

/// The JSON metric of each task.
const METRICS: [&str; 5] = [
    "rmse/landmarks",
    "accuracy/gender",
    "accuracy/smile",
    "accuracy/glasses",
    "accuracy/pose",
];

#[derive(Clone, Debug)]
struct Args {
    steps: usize,
    weighting: String,
    lr: f32,
    one_cycle: bool,
    lr_find: bool,
    pretrain: bool,
    pretrain_steps: Option<usize>,
    freeze_steps: Option<usize>,
    trunk_lr_mult: f32,
    /// Which single-task models to train (task indices).
    single_task: Vec<usize>,
    multi_task: bool,
    seed: u64,
    batch: usize,
    data: Option<PathBuf>,
    out: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            steps: 1000,
            weighting: "uncertainty:10".into(),
            lr: 1e-3,
            one_cycle: false,
            lr_find: false,
            pretrain: false,
            pretrain_steps: None,
            freeze_steps: None,
            trunk_lr_mult: 0.1,
            single_task: (0..TASKS.len()).collect(),
            multi_task: true,
            seed: 0,
            batch: 64,
            data: None,
            out: PathBuf::from("target/face_attributes"),
        }
    }
}

const USAGE: &str = "usage: face_attributes [FLAGS]
Multi-task faces on MTFL: landmarks (sigmoid regression) + gender, smile, glasses, pose.
Timings: about 20-60 s per 1,000 training steps at batch 64 on 2 cores; a default run trains
the multi-task model and 5 single-task models (6 x --steps steps, 2-6 minutes).
  --steps N             multi-task training steps, also each single-task model's (default 1000)
  --weighting NAME|all  loss weighting: uncertainty:10 (default: learned uncertainty, log-
                        variances 10x faster), uncertainty, fixed (equal weights), dwa,
                        alternate, or any other name the Head API accepts (e.g. fixed:1,2);
                        `all` trains one model per strategy (x strategies)
  --lr LR               Adam learning rate, lr_max with --one-cycle (default 0.001)
  --one-cycle           FastAI's one-cycle schedule of lr and beta1 (default off)
  --lr-find             run the learning-rate finder first (+100 steps) and train with its
                        valley suggestion; plot in OUT/lr_find.svg (default off)
  --pretrain landmarks  pretrain the trunk on landmarks, transfer it, train heads first then
                        unfrozen (+ --pretrain-steps steps; default off)
  --pretrain-steps N    steps of the landmarks pretraining (default: --steps)
  --freeze-steps N      head-first steps with the trunk frozen after --pretrain (default 20% of --steps)
  --trunk-lr-mult M     trunk learning-rate multiplier once unfrozen (default 0.1)
  --single-task on|off|TASK,..  train the 5 single-task models to compare with, or none, or
                        the listed ones (default on; each costs --steps steps; the JSON's
                        single_task is null without them)
  --multi-task on|off   train the multi-task model(s) (default on; off leaves the JSON's
                        metrics and weights null, e.g. to run single-task models apart)
  --seed S              graph, shuffling and augmentation seed (default 0)
  --batch B             batch size (default 64)
  --data DIR            folder with training.txt and testing.txt (default $MTL_DATA_DIR/mtfl,
                        then ../shared/data/mtfl)
  --out DIR             where grid.png, lr_find.svg and encoder.safetensors go
                        (default target/face_attributes)
  -h, --help            this help";

fn parse_args(p: &mut lexopt::Parser) -> Result<Args, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    const INT: &str = "a non-negative integer";
    let mut a = Args::default();
    while let Some(arg) = p.next()? {
        match arg {
            Long("steps") => a.steps = common::value(p, "--steps", INT)?,
            Long("weighting") => {
                let expected = format!(
                    "{}|all (or e.g. fixed:1,10, uncertainty:10)",
                    Weighting::names().join("|")
                );
                let v = common::string(p, "--weighting", &expected)?;
                if v != "all" && v.parse::<Weighting>().is_err() {
                    return Err(common::bad("--weighting", &expected, &v));
                }
                a.weighting = v;
            }
            Long("lr") => a.lr = common::value(p, "--lr", "a positive number")?,
            Long("one-cycle") => a.one_cycle = true,
            Long("lr-find") => a.lr_find = true,
            Long("pretrain") => {
                common::choice(p, "--pretrain", &["landmarks"])?;
                a.pretrain = true;
            }
            Long("pretrain-steps") => {
                a.pretrain_steps = Some(common::value(p, "--pretrain-steps", INT)?)
            }
            Long("freeze-steps") => a.freeze_steps = Some(common::value(p, "--freeze-steps", INT)?),
            Long("trunk-lr-mult") => {
                a.trunk_lr_mult = common::value(p, "--trunk-lr-mult", "a non-negative number")?
            }
            Long("single-task") => {
                const ST: &str =
                    "on|off or a comma list of landmarks, gender, smile, glasses, pose";
                let v = common::string(p, "--single-task", ST)?;
                a.single_task = match v.as_str() {
                    "on" => (0..TASKS.len()).collect(),
                    "off" => vec![],
                    list => list
                        .split(',')
                        .map(|t| TASKS.iter().position(|n| *n == t.trim()))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| common::bad("--single-task", ST, &v))?,
                };
            }
            Long("multi-task") => {
                a.multi_task = common::choice(p, "--multi-task", &["on", "off"])? == "on"
            }
            Long("seed") => a.seed = common::value(p, "--seed", INT)?,
            Long("batch") => a.batch = common::value(p, "--batch", INT)?,
            Long("data") => a.data = Some(common::path(p, "--data", "a folder")?),
            Long("out") => a.out = common::path(p, "--out", "a folder")?,
            Short('h') | Long("help") => common::help(USAGE),
            other => return Err(common::unknown(other)),
        }
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(common::bad("--lr", "a positive number", &a.lr.to_string()));
    }
    if !(a.trunk_lr_mult >= 0.0 && a.trunk_lr_mult.is_finite()) {
        let v = a.trunk_lr_mult.to_string();
        return Err(common::bad("--trunk-lr-mult", "a non-negative number", &v));
    }
    if a.batch == 0 {
        return Err(common::bad("--batch", "a positive integer", "0"));
    }
    Ok(a)
}

fn main() {
    let args = common::parse_or_exit(USAGE, parse_args);
    if let Err(e) = run(&args) {
        eprintln!("face_attributes: {e}");
        std::process::exit(1);
    }
}

/// Both splits, standardised per image, and what the heads need from the training labels.
struct Data {
    train: Arc<MtflSplit>,
    test: Arc<MtflSplit>,
    pose_weights: Vec<f32>,
}

/// How one model is built.
#[derive(Clone, Debug)]
struct ModelCfg {
    tasks: Vec<usize>,
    weighting: Weighting,
    /// Scope of the trunk's variables.
    scope: &'static str,
}

/// How one training phase optimises.
#[derive(Clone, Debug)]
struct Phase {
    steps: usize,
    lr: f32,
    one_cycle: bool,
    /// The learning rate is a feedable `lr` (for the finder).
    feed_lr: bool,
    frozen_trunk: bool,
    trunk_lr_mult: f32,
}

/// Where a phase's variables start from.
enum Start<'a> {
    Fresh,
    /// Values by variable name (the previous phase's).
    Values(&'a [(String, Value)]),
    /// A partial restore of the trunk from a checkpoint saved with the `encoder/` scope.
    Encoder(&'a Path),
}

/// What a phase gives.
struct PhaseOut {
    metrics: BTreeMap<String, f64>,
    steps_per_s: f64,
    weights: Vec<f32>,
    predictions: BTreeMap<String, Value>,
    values: Vec<(String, Value)>,
}

fn run(args: &Args) -> staticflow::Result<()> {
    let dir = match mtfl::locate(args.data.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("face_attributes: {e}");
            std::process::exit(2);
        }
    };
    println!("data: {}", dir.display());
    std::fs::create_dir_all(&args.out).map_err(|e| staticflow::Error::io(&args.out, e))?;
    let opts = ImageOptions::default();
    let mut train = mtfl::load_split(&dir, "training", &opts, OnError::Fail)?;
    let test_raw = mtfl::load_split(&dir, "testing", &opts, OnError::Fail)?;
    if train.is_empty() || test_raw.is_empty() {
        return Err(staticflow::Error::InvalidArgument(
            "the training and test splits must not be empty".into(),
        ));
    }
    let mut test = test_raw.clone();
    per_image_standardization(train.images.view_mut());
    per_image_standardization(test.images.view_mut());
    let pose_weights = inverse_frequency_weights(train.attributes.column(3), 5, 0.5);
    println!(
        "faces: {} training, {} test; pose class weights {:?}",
        train.len(),
        test.len(),
        pose_weights
    );
    let baselines = Baselines::new(&train, &test);
    let data = Data {
        train: Arc::new(train),
        test: Arc::new(test),
        pose_weights,
    };

    let strategies: Vec<String> = if args.weighting == "all" {
        // Every strategy the Head API names, and the default's faster uncertainty.
        let mut all: Vec<String> = Weighting::names().iter().map(|s| s.to_string()).collect();
        if let Some(k) = all.iter().position(|s| s == "uncertainty") {
            all.insert(k + 1, "uncertainty:10".into());
        }
        all
    } else {
        vec![args.weighting.clone()]
    };
    let mut lr = args.lr;
    if args.lr_find {
        lr = find_lr(args, &data, &strategies[0])?;
    }

    let single = if !args.single_task.is_empty() {
        let mut m = BTreeMap::new();
        for &t in &args.single_task {
            let cfg = ModelCfg {
                tasks: vec![t],
                weighting: Weighting::default(),
                scope: "trunk",
            };
            let out = run_phase(
                args,
                &data,
                &cfg,
                &plain_phase(args, lr),
                Start::Fresh,
                None,
                true,
            )?;
            let v = out.metrics.get(METRICS[t]).copied().unwrap_or(f64::NAN);
            println!(
                "single-task {:9}: {} {v:.4} ({:.1} steps/s)",
                TASKS[t], METRICS[t], out.steps_per_s
            );
            m.insert(METRICS[t].to_string(), v);
            if t == 0 {
                let e = iod_error(&out.predictions, &data.test).unwrap_or(f64::NAN);
                m.insert("iod/landmarks".into(), e);
            }
        }
        Some(m)
    } else {
        None
    };

    let mut results = Vec::new();
    if !args.multi_task {
        let single_json = single.as_ref().map_or(serde_json::Value::Null, |m| {
            serde_json::Value::Object(metric_json(m))
        });
        let json = serde_json::json!({
            "example": "face_attributes",
            "weighting": serde_json::Value::Null,
            "metrics": serde_json::Value::Null,
            "single_task": single_json,
            "weights": serde_json::Value::Null,
            "steps_per_s": serde_json::Value::Null,
        });
        println!("{json}");
        return Ok(());
    }
    for w in &strategies {
        let weighting: Weighting = w.parse()?;
        let cfg = ModelCfg {
            tasks: (0..TASKS.len()).collect(),
            weighting,
            scope: "trunk",
        };
        println!(
            "training: weighting {w}, {} steps, batch {}, lr {lr:.3e}{}{}, seed {}",
            args.steps,
            args.batch,
            if args.one_cycle { ", one-cycle" } else { "" },
            if args.pretrain {
                ", pretrained trunk"
            } else {
                ""
            },
            args.seed
        );
        let out = if args.pretrain {
            train_pretrained(args, &data, &cfg, lr)?
        } else {
            run_phase(
                args,
                &data,
                &cfg,
                &plain_phase(args, lr),
                Start::Fresh,
                None,
                true,
            )?
        };
        report(w, &cfg, &out, &data, &baselines, single.as_ref());
        results.push((w.clone(), out));
    }
    if results.len() > 1 {
        println!();
        println!(
            "| weighting | {} | mean error (iod) | steps/s | final weights |",
            METRICS.join(" | ")
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for (w, out) in &results {
            let cells: Vec<String> = METRICS
                .iter()
                .map(|k| {
                    out.metrics
                        .get(*k)
                        .map_or("-".into(), |v| format!("{v:.4}"))
                })
                .collect();
            let iod = iod_error(&out.predictions, &data.test).unwrap_or(f64::NAN);
            println!(
                "| {w} | {} | {iod:.4} | {:.1} | {:?} |",
                cells.join(" | "),
                out.steps_per_s,
                out.weights
            );
        }
    }
    let (w, first) = &results[0];
    let grid = args.out.join("grid.png");
    write_grid(&grid, &test_raw, &first.predictions)?;
    println!("wrote {}", grid.display());

    let metrics = metric_json(&first.metrics);
    let single_json = match &single {
        Some(m) => serde_json::Value::Object(metric_json(m)),
        None => serde_json::Value::Null,
    };
    let weights: serde_json::Map<String, serde_json::Value> = TASKS
        .iter()
        .zip(&first.weights)
        .map(|(t, v)| (t.to_string(), serde_json::json!(round4(*v as f64))))
        .collect();
    let json = serde_json::json!({
        "example": "face_attributes",
        "weighting": w,
        "metrics": metrics,
        "single_task": single_json,
        "weights": weights,
        "steps_per_s": (first.steps_per_s * 10.0).round() / 10.0,
    });
    println!("{json}");
    Ok(())
}

fn metric_json(m: &BTreeMap<String, f64>) -> serde_json::Map<String, serde_json::Value> {
    METRICS
        .iter()
        .map(|k| {
            let v = m.get(*k).copied().filter(|v| v.is_finite());
            (k.to_string(), serde_json::json!(v.map(round4)))
        })
        .collect()
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// The training phase of a model trained from scratch.
fn plain_phase(args: &Args, lr: f32) -> Phase {
    Phase {
        steps: args.steps,
        lr,
        one_cycle: args.one_cycle,
        feed_lr: false,
        frozen_trunk: false,
        trunk_lr_mult: 1.0,
    }
}

/// `--pretrain landmarks`: encoder on landmarks, saved; transferred by partial restore; heads
/// first with the trunk frozen; then unfrozen with the trunk's learning rate scaled.
fn train_pretrained(
    args: &Args,
    data: &Data,
    cfg: &ModelCfg,
    lr: f32,
) -> staticflow::Result<PhaseOut> {
    let ckpt = args.out.join("encoder.safetensors");
    let pre = ModelCfg {
        tasks: vec![0],
        weighting: Weighting::default(),
        scope: "encoder",
    };
    let mut phase = plain_phase(args, lr);
    phase.steps = args.pretrain_steps.unwrap_or(args.steps);
    let t0 = Instant::now();
    let out = run_phase(args, data, &pre, &phase, Start::Fresh, Some(&ckpt), true)?;
    println!(
        "pretrain: landmarks only, {} steps in {:.1} s, test rmse {:.4}; saved {}",
        phase.steps,
        t0.elapsed().as_secs_f64(),
        out.metrics
            .get("rmse/landmarks")
            .copied()
            .unwrap_or(f64::NAN),
        ckpt.display()
    );
    let freeze = args.freeze_steps.unwrap_or(args.steps / 5).min(args.steps);
    let mut head_first = plain_phase(args, lr);
    head_first.steps = freeze;
    head_first.frozen_trunk = true;
    let first = run_phase(
        args,
        data,
        cfg,
        &head_first,
        Start::Encoder(&ckpt),
        None,
        false,
    )?;
    println!("head-first: {freeze} steps with trunk/* frozen");
    let mut unfrozen = plain_phase(args, lr);
    unfrozen.steps = args.steps - freeze;
    unfrozen.trunk_lr_mult = args.trunk_lr_mult;
    println!(
        "unfrozen: {} steps, trunk learning rate x{}",
        unfrozen.steps, args.trunk_lr_mult
    );
    run_phase(
        args,
        data,
        cfg,
        &unfrozen,
        Start::Values(&first.values),
        None,
        true,
    )
}

/// The trunk, the heads of `cfg.tasks` and their multi-head spec, trained by `phase`'s Adam.
fn build_model<'g>(
    g: &'g Graph,
    data: &Data,
    cfg: &ModelCfg,
    phase: &Phase,
) -> staticflow::Result<(Tensor<'g>, MultiHeadSpec<'g>)> {
    let (x, h) = {
        let _s = g.name_scope(cfg.scope);
        trunk(g, None)
    };
    let mut heads: Vec<Box<dyn Head>> = Vec::new();
    let mut logits = Vec::new();
    for &t in &cfg.tasks {
        let name = TASKS[t];
        if t == 0 {
            let l = dense(h, 10, Activation::None, "landmarks_logits");
            logits.push(sigmoid(l));
            heads.push(Box::new(RegressionHead::new(name, 10)));
        } else {
            let n = mtfl::ATTRIBUTE_CLASSES[t - 1];
            logits.push(dense(h, n, Activation::None, &format!("{name}_logits")));
            let head = MultiClassHead::new(name, n);
            heads.push(Box::new(if name == "pose" {
                head.with_class_weights(data.pose_weights.clone())?
            } else {
                head
            }));
        }
    }
    let mut opt = if phase.feed_lr {
        Adam::new(placeholder_with_default(g.constant(phase.lr), "lr"))
    } else if phase.one_cycle {
        let step = get_or_create_global_step(g)?;
        OneCycle::new(phase.lr, phase.steps as u64).adam(step)
    } else {
        Adam::new(phase.lr)
    };
    let trunk_vars = trainable_variables_in(g, &[&format!("{}/*", cfg.scope)])?;
    if phase.frozen_trunk {
        opt = opt.with_frozen(&trunk_vars);
    }
    if phase.trunk_lr_mult != 1.0 {
        opt = opt.with_lr_multiplier(&trunk_vars, phase.trunk_lr_mult);
    }
    let spec = MultiHead::new(heads)
        .with_weighting(cfg.weighting.clone())
        .create_spec(&logits, Mode::Train, Some(&opt))?;
    Ok((x, spec))
}

/// Builds a fresh graph, sets its variables from `start`, trains `phase.steps`, then saves
/// to `save` and evaluates and predicts on the test split if asked.
fn run_phase(
    args: &Args,
    data: &Data,
    cfg: &ModelCfg,
    phase: &Phase,
    start: Start<'_>,
    save: Option<&Path>,
    evaluate: bool,
) -> staticflow::Result<PhaseOut> {
    let g = Graph::with_seed(args.seed);
    let (x, spec) = build_model(&g, data, cfg, phase)?;
    let mut est = Estimator::new(&g, &[("x", x)], spec)?;
    match start {
        Start::Fresh => {}
        Start::Values(values) => {
            for (name, v) in values {
                if let Some(t) = g.tensor_by_name(name) {
                    est.session().set_variable(t, v.clone())?;
                }
            }
        }
        Start::Encoder(path) => {
            let report = PartialRestore::new(&["trunk/*"])
                .map_scope("encoder/", "trunk/")
                .restore(est.session(), path)?;
            println!(
                "transfer: restored {} trunk variables from {} (encoder/ -> trunk/); missing {:?}; \
                 unexpected {:?}; ignored {} other entries",
                report.restored.len(),
                path.display(),
                report.missing,
                report.unexpected,
                report.ignored.len()
            );
        }
    }
    let input = train_input(
        Arc::clone(&data.train),
        cfg.tasks.clone(),
        args.batch,
        args.seed,
    );
    let rep = est.train(input.iter(), phase.steps)?;
    if let Some(path) = save {
        Saver::new(&g).save(est.session(), path)?;
    }
    let (metrics, weights, predictions) = if evaluate {
        let m = est.evaluate(eval_input(Arc::clone(&data.test), cfg.tasks.clone()).iter())?;
        let w = est.head_weights()?;
        let p = est.predict(eval_input(Arc::clone(&data.test), cfg.tasks.clone()).iter())?;
        (m, w, p)
    } else {
        Default::default()
    };
    let mut values = Vec::new();
    for v in g.trainable_variables() {
        values.push((v.name(), est.session().variable_value(v)?.clone()));
    }
    Ok(PhaseOut {
        metrics,
        steps_per_s: rep.steps_per_second(),
        weights,
        predictions,
        values,
    })
}

/// `--lr-find`: the finder on a fresh multi-task model with `weighting` (fixed weights if it
/// has no joint train op); returns the valley suggestion.
fn find_lr(args: &Args, data: &Data, weighting: &str) -> staticflow::Result<f32> {
    let mut w: Weighting = weighting.parse()?;
    if matches!(w, Weighting::Alternate) {
        w = Weighting::default();
    }
    let cfg = ModelCfg {
        tasks: (0..TASKS.len()).collect(),
        weighting: w,
        scope: "trunk",
    };
    let mut phase = plain_phase(args, args.lr);
    phase.feed_lr = true;
    let g = Graph::with_seed(args.seed);
    let (x, spec) = build_model(&g, data, &cfg, &phase)?;
    let labels: Vec<(String, Tensor<'_>)> = spec
        .heads
        .iter()
        .filter_map(|h| h.labels.map(|l| (h.name.clone(), l)))
        .collect();
    let (Some(train_op), Some(loss), Some(lr)) = (spec.train_op, spec.loss, g.tensor_by_name("lr"))
    else {
        return Err(staticflow::Error::InvalidArgument(
            "the learning-rate finder needs a joint train op".into(),
        ));
    };
    let mut est = Estimator::new(&g, &[("x", x)], spec)?;
    let input = train_input(
        Arc::clone(&data.train),
        cfg.tasks.clone(),
        args.batch,
        args.seed ^ 0x1F,
    );
    let mut batches = input.iter();
    let finder = LrFinder::default();
    let before = variable_bits(&g, est.session())?;
    let t0 = Instant::now();
    let res = finder.run(est.session(), |sess, rate| {
        let b = batches
            .next()
            .ok_or_else(|| staticflow::Error::InvalidArgument("input ended".into()))??;
        let r = Value::from(rate);
        let mut feeds = vec![(x, b.features[0].1.view()), (lr, r.view())];
        for (name, t) in &labels {
            if let Some((_, v)) = b.labels.iter().find(|(n, _)| n == name) {
                feeds.push((*t, v.view()));
            }
        }
        sess.run(&[train_op.into(), loss.into()], &feeds)?.scalar(1)
    })?;
    let after = variable_bits(&g, est.session())?;
    if after != before {
        return Err(staticflow::Error::InvalidArgument(
            "the learning-rate finder left a variable changed".into(),
        ));
    }
    println!(
        "lr finder: all {} variables (weights, Adam slots and beta powers) bit-identical after the sweep",
        before.len()
    );
    let svg = args.out.join("lr_find.svg");
    res.write_svg(&svg)?;
    let fmt = |v: Option<f32>| v.map_or("-".into(), |v| format!("{v:.2e}"));
    println!(
        "lr finder: {} steps in {:.1} s{}; suggestions: valley {}, steepest {}, minimum/10 {}; plot {}",
        res.lrs.len(),
        t0.elapsed().as_secs_f64(),
        res.diverged_at
            .map(|i| format!(", diverged at lr {:.2e}", res.lrs[i]))
            .unwrap_or_default(),
        fmt(res.valley),
        fmt(res.steepest),
        fmt(res.minimum),
        svg.display()
    );
    Ok(res.valley.unwrap_or(args.lr))
}

/// Every initialized variable's name and value bits (f32 bit patterns, i64 values).
fn variable_bits(g: &Graph, sess: &Session<'_>) -> staticflow::Result<Vec<(String, Vec<u64>)>> {
    let mut out = Vec::new();
    for v in g.global_variables() {
        if !sess.is_initialized(v)? {
            continue;
        }
        let bits = match sess.variable_value(v)? {
            Value::F32(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
            Value::I64(a) => a.iter().map(|x| *x as u64).collect(),
            Value::Bool(a) => a.iter().map(|x| *x as u64).collect(),
            Value::Bytes(b) => b.iter().map(|x| *x as u64).collect(),
        };
        out.push((v.name(), bits));
    }
    Ok(out)
}

/// Prints one multi-task model's metrics against the baselines and the single-task models,
/// and its task weights.
fn report(
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
struct Baselines {
    /// RMSE of the training-mean landmarks.
    rmse: f64,
    /// Mean error over inter-ocular distance of the training-mean landmarks.
    iod: f64,
    /// Accuracy of the best constant class on the test split, per attribute.
    accuracy: [f64; 4],
}

impl Baselines {
    fn new(train: &MtflSplit, test: &MtflSplit) -> Self {
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
fn flat_landmarks(split: &MtflSplit) -> Array2<f32> {
    let n = split.len();
    split
        .landmarks
        .to_shape((n, 10))
        .expect("[n, 5, 2] landmarks")
        .to_owned()
}

/// Mean landmark error of the predicted `[n, 10]` landmarks in inter-ocular distances.
fn iod_of(pred: &Array2<f32>, test: &MtflSplit) -> Option<f64> {
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

fn iod_error(pred: &BTreeMap<String, Value>, test: &MtflSplit) -> Option<f64> {
    let p = pred.get("landmarks/predictions")?.as_f32().ok()?;
    let p = p
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .ok()?
        .to_owned();
    iod_of(&p, test)
}

/// Shuffled, repeated training batches with random flips, shifts and zooms (the
/// face_landmarks recipe's augmentation), labels of `tasks`, the next batch prefetched.
fn train_input(data: Arc<MtflSplit>, tasks: Vec<usize>, batch: usize, seed: u64) -> Dataset<Batch> {
    use rand::SeedableRng;
    let n = data.len();
    let aug = AugmentOptions {
        flip: true,
        max_shift: 2,
        max_zoom: 1.5,
    };
    let rng = std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed ^ 0xFACE));
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .shuffle(n, seed)
        .repeat(None)
        .batch(batch.min(n), true)
        .map_sequential(move |idx: Array1<usize>| {
            let idx = idx.to_vec();
            let augs: Vec<Transform> = match rng.lock() {
                Ok(mut r) => idx.iter().map(|_| aug.sample(&mut *r)).collect(),
                Err(_) => vec![],
            };
            Ok(make_batch(&data, &idx, &augs, &tasks))
        })
        .prefetch(2)
}

/// The whole split in order, in batches of 500.
fn eval_input(data: Arc<MtflSplit>, tasks: Vec<usize>) -> Dataset<Batch> {
    let n = data.len();
    Dataset::from_vec((0..n).collect::<Vec<usize>>())
        .batch(500, false)
        .map_sequential(move |idx: Array1<usize>| Ok(make_batch(&data, &idx.to_vec(), &[], &tasks)))
}

/// Faces `idx` transformed by `aug`, with the labels of `tasks`.
fn make_batch(data: &MtflSplit, idx: &[usize], aug: &[Transform], tasks: &[usize]) -> Batch {
    let (x, landmarks, attributes) = data.transformed(idx, aug);
    let n = idx.len();
    let mut b = Batch::new().feature("x", x);
    for &t in tasks {
        b = if t == 0 {
            let flat = landmarks
                .to_shape((n, 10))
                .expect("[n, 5, 2] landmarks")
                .to_owned();
            b.label(TASKS[0], flat)
        } else {
            b.label(TASKS[t], attributes.column(t - 1).to_owned())
        };
    }
    b
}

const POSE_SHORT: [&str; 5] = ["LPROF", "LEFT", "FRONT", "RIGHT", "RPROF"];

/// A 4x4 grid of the first 16 test faces (upscaled 4x): true landmarks green, predicted red;
/// below each face the predicted gender, smile, glasses and pose, green where right.
fn write_grid(
    path: &Path,
    test: &MtflSplit,
    pred: &BTreeMap<String, Value>,
) -> staticflow::Result<()> {
    use common::draw::{draw_text, mark};
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
    let (th, tw) = (test.images.len_of(Axis(1)), test.images.len_of(Axis(2)));
    for i in 0..n {
        let (ox, oy) = ((i % 4) * CELL, (i / 4) * (CELL + TEXT));
        for y in 0..CELL {
            for x in 0..CELL {
                let (sy, sx) = ((y * th / CELL).min(th - 1), (x * tw / CELL).min(tw - 1));
                let p = |c: usize| {
                    (test.images[[i, sy, sx, c]] * 255.0)
                        .round()
                        .clamp(0.0, 255.0) as u8
                };
                img.put_pixel(
                    (ox + x) as u32,
                    (oy + y) as u32,
                    image::Rgb([p(0), p(1), p(2)]),
                );
            }
        }
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
