//! Multi-attribute faces with learned loss weights: the PyTorch/FastAI multi-task tutorial
//! (one shared encoder, one head per attribute, Kendall et al.'s learned-uncertainty loss, a
//! sigmoid-bounded regression, the learning-rate finder, one-cycle training and a pretrained
//! encoder trained head-first then unfrozen with discriminative learning rates), on MTFL.
//!
//! ```text
//! cargo run --release --example face_attributes -- [--steps 1000] [--weighting uncertainty:10|NAME|all]
//!     [--lr 0.003] [--schedule one-cycle|constant] [--batch-norm on|off] [--lr-find]
//!     [--pretrain landmarks] [--pretrain-steps N] [--freeze-steps N] [--trunk-lr-mult 0.1]
//!     [--single-task on|off] [--seed 0] [--batch 64] [--data DIR] [--out target/face_attributes]
//! ```
//!
//! Model: the face-landmarks CNN trunk with batch normalisation after each convolution, as
//! in the tutorial's ResNet encoder (`models::face_landmarks::trunk_with`, scope `trunk/`;
//! `--batch-norm off` drops it; the estimator feeds the `training` flag) and five heads: `landmarks` (all five landmarks, 10 outputs through a sigmoid so they stay in
//! [0, 1] like the tutorial's age, mean squared error), `gender`, `smile`, `glasses` (2
//! classes each) and `pose` (5 classes, square-root class weights as in the face_landmarks
//! recipe). Inputs standardised per image; random flips, shifts and zooms; Adam, batch 64,
//! FastAI's one-cycle schedule with `lr_max` 3e-3 (`--schedule constant` keeps `--lr` fixed).
//!
//! - `--weighting`: any name the Head API parses; `fixed` is equal weights, `all` trains one
//!   model per strategy and prints a comparison. The default, `uncertainty:10`, is Kendall et
//!   al.'s learned uncertainty with the log-variances parameterised to move 10x faster than
//!   the weights (see Measured for why).
//! - `--lr-find`: FastAI's learning-rate finder on a fresh model (100 steps from 1e-7 to 10,
//!   smoothed loss, stop at divergence); trains with its `valley` suggestion and writes the
//!   plot to `<out>/lr_find.svg`. The finder restores every variable it touched.
//! - `--schedule one-cycle` (the default; `--one-cycle` says the same): FastAI's
//!   `fit_one_cycle` with `--lr` as `lr_max` (warm-up over the first 25% from lr/25, cosine
//!   annealing to lr/1e5, Adam's beta1 0.95 -> 0.85 -> 0.95).
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
//! ## Measured (test split, 1,000 steps, batch 64, the defaults, seeds 0, 1, 2, 2026-11-30)
//!
//! Median [min, max] over the three seeds. Single-task: the same trunk (batch norm, one-cycle
//! 3e-3) with that head alone, same steps, seed and data order. Runs at 1 thread beside
//! other work: about 140 s of CPU per multi-task run and 130 s per single-task one, so
//! steps/s say little about speed. Runs are deterministic per seed.
//!
//! | task | trivial baseline | single-task | `uncertainty:10` (default) | `fixed` (equal weights) |
//! |---|---|---|---|---|
//! | landmark RMSE | 0.0720 | 0.0426 [0.0403, 0.0434] | **0.0398** [0.0397, 0.0411] | 0.0668 [0.0665, 0.0676] |
//! | mean error / inter-ocular | 0.3143 | - | 0.1592 [0.1582, 0.1639] | 0.2802 [0.2801, 0.2845] |
//! | gender | 0.6083 | **0.7823** [0.7693, 0.7963] | 0.7750 [0.7720, 0.7770] | 0.7666 [0.7643, 0.7763] |
//! | smile | 0.5449 | **0.7439** [0.7409, 0.7442] | 0.7215 [0.7159, 0.7295] | 0.7122 [0.6945, 0.7192] |
//! | glasses | 0.9195 | **0.9249** [0.9225, 0.9312] | 0.9229 [0.9222, 0.9235] | 0.9199 [0.9192, 0.9202] |
//! | pose | 0.6093 | 0.7486 [0.7446, 0.7559] | **0.7509** [0.7432, 0.7563] | 0.7446 [0.7386, 0.7519] |
//!
//! - Multi-task against single-task (within 1% or better, relative), per seed 0 / 1 / 2: 4 /
//!   4 / 3 of 5 tasks, 4 of 5 on the medians, so the goal (at least 3 of 5) is met on every
//!   seed. Landmarks, glasses and pose on every seed (the multi-task landmarks are 1.5-8%
//!   *better*), gender on seeds 0 and 1 (seed 2: 0.7720 against 0.7963); smile is 2-3
//!   points lower on every seed.
//! - Baselines: with the default every head beats its baseline on every seed. Equal weights
//!   leave the landmarks near the mean face (their MSE is ~100x smaller than the
//!   cross-entropies) and glasses at the constant answer (0.9192-0.9202 against 0.9195), as
//!   the tutorial found.
//! - Learned sigma (default, seeds 0 / 1 / 2): landmarks 0.031 / 0.031 / 0.031, gender 0.85 /
//!   0.84 / 0.83, smile 1.05 / 1.02 / 1.02, glasses 0.79 / 0.79 / 0.79, pose 1.09 / 1.10 /
//!   1.09.
//! - What got there (multi-task vs single-task with the same recipe, tasks within 1% per
//!   seed 0 / 1 / 2): the earlier recipe (no batch norm, constant Adam 1e-3) 2 / 1 / 3; with
//!   one-cycle 3e-3 2 / 3 / 1 (GLS instead of uncertainty: 3 / 2 / 2); one-cycle with the
//!   `--pretrain landmarks` route 2 / 2 / 1; batch norm with one-cycle 4 / 4 / 3. Without
//!   batch norm a single-task trunk fits the landmarks better than the shared one (RMSE
//!   0.036 against 0.041); with it the shared trunk is better (0.040 against 0.043), and
//!   the multi-task smile and pose gain about 2 points. Tried and dropped (seed 0 unless
//!   said): a dense layer per head on the shared convolutions; lr_max 6e-3 (3 seeds) or
//!   1e-2; the trunk's learning rate x0.25 or x0.5 (3 seeds), x2 or x3 in the multi-task
//!   model; UPGrad and IMTL-G weighting (both leave the landmarks near the mean face).
//! - Plain `uncertainty` (speed 1; earlier recipe, seed 0) reaches landmark RMSE 0.0690
//!   against 0.0425 for `uncertainty:10`: within 1,000 Adam steps at 1e-3 it moves each
//!   log-variance by at most ~1, far from the landmarks' optimum near `log(MSE) ~ -6`.
//! - Workflow flags on the real data (seed 0, earlier recipe, 150 steps each phase, smoke
//!   test): the finder stopped at 2.75 after 94 of 100 steps, suggested valley 1.45e-3
//!   (steepest 1.45e-1, minimum/10 1e-2) and left all 78 variables bit-identical; the
//!   transfer restored the 10 trunk variables (none missing or unexpected). With batch norm
//!   the transfer restores 26 (the moving statistics too) and the finder leaves all 110
//!   variables bit-identical.

use staticflow::data::image::{per_image_standardization, ImageOptions, OnError};
use staticflow::data::mtfl::{self};
use staticflow::heads::{inverse_frequency_weights, Weighting};
use staticflow::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

#[path = "../common/mod.rs"]
mod common;
mod input;
mod model;
mod report;

use model::{find_lr, train_fresh, train_pretrained, Data, ModelCfg};
use report::{iod_error, print_report, write_grid, Baselines};

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
    batch_norm: bool,
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
            lr: 3e-3,
            one_cycle: true,
            lr_find: false,
            pretrain: false,
            pretrain_steps: None,
            freeze_steps: None,
            trunk_lr_mult: 0.1,
            batch_norm: true,
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
Timings: about 2 minutes of CPU per 1,000 training steps at batch 64; a default run trains
the multi-task model and 5 single-task models (6 x --steps steps, 8-14 minutes on 2 cores).
  --steps N             multi-task training steps, also each single-task model's (default 1000)
  --weighting NAME|all  loss weighting: uncertainty:10 (default: learned uncertainty, log-
                        variances 10x faster), uncertainty, fixed (equal weights), dwa,
                        alternate, or any other name the Head API accepts (e.g. fixed:1,2);
                        `all` trains one model per strategy (x strategies)
  --lr LR               Adam learning rate: lr_max of the one-cycle schedule, or the constant
                        rate (default 0.003)
  --schedule one-cycle|constant  FastAI's one-cycle schedule of lr and beta1, or a constant
                        lr (default one-cycle)
  --one-cycle           the same as --schedule one-cycle (default on)
  --lr-find             run the learning-rate finder first (+100 steps) and train with its
                        valley suggestion; plot in OUT/lr_find.svg (default off)
  --pretrain landmarks  pretrain the trunk on landmarks, transfer it, train heads first then
                        unfrozen (+ --pretrain-steps steps; default off)
  --pretrain-steps N    steps of the landmarks pretraining (default: --steps)
  --freeze-steps N      head-first steps with the trunk frozen after --pretrain (default 20% of --steps)
  --trunk-lr-mult M     trunk learning-rate multiplier once unfrozen (default 0.1)
  --batch-norm on|off   batch normalisation after each convolution of the trunk, before its
                        relu, as in the tutorial's ResNet encoder (default on)
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
            Long("weighting") => a.weighting = common::weighting(p)?,
            Long("lr") => a.lr = common::value(p, "--lr", "a positive number")?,
            Long("one-cycle") => a.one_cycle = true,
            Long("schedule") => {
                let v = common::choice(p, "--schedule", &["one-cycle", "constant"])?;
                a.one_cycle = v == "one-cycle";
            }
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
            Long("batch-norm") => {
                a.batch_norm = common::choice(p, "--batch-norm", &["on", "off"])? == "on"
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
                batch_norm: args.batch_norm,
            };
            let out = train_fresh(args, &data, &cfg, lr)?;
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
            batch_norm: args.batch_norm,
        };
        println!(
            "training: weighting {w}, {} steps, batch {}, lr {lr:.3e}{}{}{}, seed {}",
            args.steps,
            args.batch,
            if args.one_cycle {
                ", one-cycle"
            } else {
                ", constant"
            },
            if args.batch_norm { ", batch norm" } else { "" },
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
            train_fresh(args, &data, &cfg, lr)?
        };
        print_report(w, &cfg, &out, &data, &baselines, single.as_ref());
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
