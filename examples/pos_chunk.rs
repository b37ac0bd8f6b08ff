//! POS tagging + chunking on CoNLL-2000: joint vs alternate training (the project's main job).
//!
//! ```text
//! cargo run --release --example pos_chunk -- [--data DIR] [--eval FILE] [--epochs N]
//!     [--mode joint|alternate|pos_only|chunk_only|STRATEGY|all] [--seed S] [--model default|best]
//!     [--save PATH] [--restore PATH] [--out DIR] [--p-pos P] [--log-every N]
//!     [--budget SECONDS] [--profile N] [--write-graphs]
//! ```
//!
//! - Data: `--data DIR` (the folder holding `conll2000/`, like `$MTL_DATA_DIR`; the
//!   `conll2000` folder itself also works), else `$MTL_DATA_DIR/conll2000`, else
//!   `../shared/data/conll2000` relative to the project root; without any, a synthetic
//!   corpus generated from a small grammar (said loudly).
//! - Model: `default` is the tutorial's (embedding 100 -> LSTM 128 -> POS LSTM 128 -> POS
//!   softmax; chunk LSTM 128 over encoder + soft POS embedding 32 -> chunk softmax; Adam 1e-3,
//!   clip 5, batch 32, no dropout); `best` adds case and suffix features, a bidirectional
//!   encoder and dropout, and trains longer.
//! - Regimes: `joint` (one op on the summed loss), `alternate` (POS op or chunk op per batch,
//!   p = 0.5), `pos_only`, `chunk_only` (without `--mode`: the four, same seed, one table);
//!   or any multi-task strategy of `staticflow::mtl::NAMES` (`equal`, `pcgrad`, `mgda`,
//!   `fixed:1,2`, ...: its one train op on the tasks `pos` and `chunk`). `--mode all` trains
//!   joint, alternate and every strategy with the same seed and epochs and adds a table of
//!   POS accuracy, chunk F1, Δm% against equal weighting (LibMTL's, averaged over the two
//!   tasks), tokens/s and the mean pairwise gradient cosine (fetched every 25 batches in
//!   the same run as the step; those steps are left out of tokens/s).
//! - Output: a progress line every `--log-every` batches, one line per epoch, the table, a CSV
//!   of the per-epoch curves and an SVG plot of joint vs alternate in `--out` (default
//!   `<project>/target/pos_chunk`), one TensorBoard run per regime in `--out/runs` (train
//!   losses per step; test metrics and a histogram of every trainable variable per epoch;
//!   the graph; a strategy's weights and gradient cosine on its probed steps), with
//!   `--write-graphs` `graphs/pos_chunk.{json,dot}` (the default model's graph, golden-
//!   tested), and as the last stdout line one JSON object with the results.
//! - Other flags: `--eval FILE` also scores a further CoNLL file; `--save` / `--restore PATH`
//!   write / read each regime's variables; `--p-pos` is alternate's probability of a POS
//!   step; `--budget SECONDS` stops before an epoch that would end past it (default none,
//!   600 s with `--model best`); `--profile N` times every kernel of N joint steps instead of
//!   training. `-h` / `--help` prints the usage; a bad flag or value exits with code 2.
//!
//! Measured on CoNLL-2000 (seed 0, 5 epochs, default model; TF1 reference medians of 3 seeds
//! in brackets): joint POS 0.9056 / chunk F1 0.8494 [0.914 / 0.853], alternate 0.8756 /
//! 0.8279 [0.880 / 0.826], pos_only POS 0.9145 [0.917], chunk_only F1 0.8430 [0.843]. Joint
//! training ran at 21k-24k tokens/s with other processes using 0.7-1.1 of the 2 cores
//! [TF1 14.2k]. `--model best`: POS 0.9772 / F1 0.9245 after 12 epochs (485 s of training on
//! a busy machine; POS 0.9715 / F1 0.9010 already after 3 epochs).

use plotters::prelude::*;
use staticflow::data::{find_data_dir, read_conll, Sentence};
use staticflow::distributed::World;
use staticflow::models::tagger::{
    train, EpochLog, Evaluation, Regime, Tagger, TaggerConfig, TaggerData, TrainEvent, TrainOptions,
};
use staticflow::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::compare::{Column, Row};

struct Args {
    data: Option<PathBuf>,
    eval: Option<PathBuf>,
    epochs: Option<usize>,
    runs: Vec<Run>,
    seed: u64,
    best: bool,
    save: Option<PathBuf>,
    restore: Option<PathBuf>,
    out: PathBuf,
    p_pos: f64,
    log_every: usize,
    graphs: bool,
    profile: usize,
    budget: Option<f64>,
    /// Under `mpirun`: one fused allreduce per step (`--no-fusion`: one per gradient).
    fusion: bool,
}

const USAGE: &str = "usage: pos_chunk [--data DIR] [--eval FILE] [--epochs N] \
[--mode joint|alternate|pos_only|chunk_only|STRATEGY|all] [--seed S] [--model default|best] \
[--save PATH] [--restore PATH] [--out DIR] [--p-pos P] [--log-every N] [--budget SECONDS] \
[--profile N] [--write-graphs] (--help for details)";

const HELP: &str = "\
pos_chunk: POS tagging + chunking on CoNLL-2000, joint vs alternate training.

usage: cargo run --release --example pos_chunk -- [FLAGS]

flags (default in brackets):
  --data DIR         folder holding conll2000/ (train.txt, test.txt), the same level as
                     $MTL_DATA_DIR; the conll2000 folder itself also works
                     [$MTL_DATA_DIR, then ../shared/data relative to the project root;
                     else a synthetic corpus, said loudly]
  --eval FILE        also score this CoNLL file after training [none]
  --epochs N         training epochs [5; 12 with --model best]
  --mode M           joint|alternate|pos_only|chunk_only, a multi-task strategy (equal,
                     fixed, uncertainty, dwa, gls, rlw, gradnorm, mean, pcgrad, mgda,
                     cagrad, imtl_g, aligned_mtl, upgrad, gradvac, nash_mtl; also e.g.
                     fixed:1,2 or cagrad:0.4), or all: joint, alternate and every strategy
                     with a table (POS accuracy, chunk F1, delta-m% vs equal, tokens/s,
                     mean gradient cosine) [the four regimes, same seed]
  --seed S           seed of initialisation, batch order and alternate's choices [0]
  --model M          default (the tutorial's) | best (features, BiLSTM, dropout) [default]
  --save PATH        write each regime's variables (PATH_<regime>.ext with several) [none]
  --restore PATH     read them back before training (resumes at the saved epoch) [none]
  --out DIR          output base [<project>/target/pos_chunk, whatever the working directory]
  --p-pos P          alternate's probability of a POS step [0.5]
  --log-every N      progress line every N batches, 0 = never [100]
  --budget SECONDS   start no epoch that would end past this [none; 600 with --model best]
  --profile N        time every kernel of N joint steps instead of training [0 = off]
  --write-graphs     rewrite the checked-in graphs/pos_chunk.{json,dot} [off]
  --no-fusion        under mpirun: one allreduce per gradient, not one fused buffer [off]
  -h, --help         this text

writes (absolute paths are printed):
  OUT/runs/<regime>_<data>_<model>_e<epochs>_seed<S>/events.out.tfevents.*
                     TensorBoard (tensorboard --logdir OUT/runs): train losses per step,
                     test metrics per epoch, a histogram of every trainable variable per
                     epoch, the graph; with a strategy also its weights per task and the
                     gradient cosine every 25 steps; a rerun of the same name replaces it
  OUT/pos_chunk_<data>_<model>_seed<S>.csv and .svg
                     per-epoch curves and the joint vs alternate plot
  stdout             progress, a comparison table, and as the last line one JSON object

takes: with the default model and 5 epochs, about 1-1.5 minutes per regime on 2 free cores
(the four regimes: 4-6 minutes; --mode all: 18 runs, the gradient-level strategies costing
more per step, see the mtl_step example); --model best: up to 10 minutes per regime.";

fn parse_args(p: &mut lexopt::Parser) -> std::result::Result<Args, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    const NUM: &str = "a non-negative integer";
    let mut a = Args {
        data: None,
        eval: None,
        epochs: None,
        runs: Regime::ALL.iter().map(|r| Run::regime(*r)).collect(),
        seed: 0,
        best: false,
        save: None,
        restore: None,
        out: common::default_out("pos_chunk"),
        p_pos: 0.5,
        log_every: 100,
        graphs: false,
        profile: 0,
        budget: None,
        fusion: true,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("data") => a.data = Some(common::path(p, "--data", "a folder")?),
            Long("eval") => a.eval = Some(common::path(p, "--eval", "a file")?),
            Long("epochs") => a.epochs = Some(common::value(p, "--epochs", NUM)?),
            Long("seed") => a.seed = common::value(p, "--seed", NUM)?,
            Long("log-every") => a.log_every = common::value(p, "--log-every", NUM)?,
            Long("mode") => a.runs = Run::parse_mode(p)?,
            Long("model") => a.best = common::choice(p, "--model", &["default", "best"])? == "best",
            Long("save") => a.save = Some(common::path(p, "--save", "a path")?),
            Long("restore") => a.restore = Some(common::path(p, "--restore", "a path")?),
            Long("out") => a.out = common::absolute(&common::path(p, "--out", "a folder")?),
            Long("p-pos") => {
                const P: &str = "a probability in [0, 1]";
                let v = common::string(p, "--p-pos", P)?;
                a.p_pos = v
                    .parse()
                    .ok()
                    .filter(|x: &f64| (0.0..=1.0).contains(x))
                    .ok_or_else(|| common::bad("--p-pos", P, &v))?;
            }
            Long("write-graphs") => a.graphs = true,
            Long("no-graphs") => a.graphs = false,
            Long("budget") => a.budget = Some(common::value(p, "--budget", "seconds")?),
            Long("profile") => a.profile = common::value(p, "--profile", NUM)?,
            Long("no-fusion") => a.fusion = false,
            Short('h') | Long("help") => common::help(HELP),
            other => return Err(common::unknown(other)),
        }
    }
    Ok(a)
}

/// `--data`, else `$MTL_DATA_DIR/conll2000`, else `../shared/data/conll2000` relative to the
/// project root, else synthetic.
fn load_data(args: &Args) -> Result<TaggerData> {
    let dir =
        match &args.data {
            // `--data` names the same level as $MTL_DATA_DIR (the folder holding `conll2000/`);
            // the `conll2000` folder itself is accepted too.
            Some(d) => {
                let has = |d: &Path| d.join("train.txt").is_file() && d.join("test.txt").is_file();
                match [d.join("conll2000"), d.clone()]
                    .into_iter()
                    .find(|d| has(d))
                {
                    Some(d) => Some(common::absolute(&d)),
                    None => return Err(Error::io(
                        d,
                        "--data must name the folder holding conll2000/ (train.txt, test.txt), \
                         as $MTL_DATA_DIR does",
                    )),
                }
            }
            None => {
                find_data_dir("conll2000", &["train.txt", "test.txt"]).map(|d| common::absolute(&d))
            }
        };
    match dir {
        Some(d) => {
            let train = read_conll(d.join("train.txt"))?;
            let test = read_conll(d.join("test.txt"))?;
            println!(
                "data: CoNLL-2000 from {} ({} train / {} test sentences)",
                d.display(),
                train.len(),
                test.len()
            );
            Ok(TaggerData::new("conll2000", train, test))
        }
        None => {
            let bar = "!".repeat(78);
            println!("{bar}");
            let looked: Vec<String> = staticflow::data::data_dir_candidates("conll2000")
                .iter()
                .map(|d| common::absolute(d).display().to_string())
                .collect();
            println!(
                "!! NO CoNLL-2000 DATA FOUND (no --data; looked in {}).",
                looked.join(", ")
            );
            println!("!! USING THE BUILT-IN SYNTHETIC CORPUS: the numbers below are NOT CoNLL-2000 results.");
            println!("{bar}");
            Ok(TaggerData::synthetic())
        }
    }
}

/// CPU seconds used by the whole machine (all but idle and iowait) and by this process, from
/// `/proc` (Linux; zeros elsewhere): their difference over an interval is what other
/// processes took from us, reported next to every throughput figure.
fn cpu_seconds() -> (f64, f64) {
    let tck = 100.0; // USER_HZ, 100 on Linux
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<f64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 8).then(|| (v.iter().sum::<f64>() - v[3] - v[4]) / tck)
        })
        .unwrap_or(0.0);
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / tck)
        })
        .unwrap_or(0.0);
    (machine, own)
}

/// `[regime] epoch e/n: tok/s (s)  test scores  test losses  (contention)`.
fn epoch_line(name: &str, epochs: usize, l: &EpochLog, others: f64) -> String {
    format!(
        "[{name}] epoch {}/{epochs}: {:>6.0} tok/s ({:.1} s)  test pos {:.4}  chunk {:.4}  \
         F1 {:.4}  loss pos {:.4} chunk {:.4}  (other processes used {others:.2} cores)",
        l.epoch,
        l.tokens_per_s,
        l.seconds,
        l.test.score.pos_acc,
        l.test.score.chunk_acc,
        l.test.score.chunk.f1(),
        l.test.pos_loss,
        l.test.chunk_loss,
    )
}

/// One training run: a classic regime, or a multi-task strategy (`Regime::Strategy`).
#[derive(Clone, Debug)]
struct Run {
    /// Regime or strategy name (as given to `--mode`).
    name: String,
    regime: Regime,
}

impl Run {
    fn regime(regime: Regime) -> Run {
        Run {
            name: regime.name().into(),
            regime,
        }
    }

    fn strategy(name: &str) -> Run {
        Run {
            name: name.into(),
            regime: Regime::Strategy,
        }
    }

    /// `--mode`: a regime, a strategy name (with its argument), or `all` (joint, alternate
    /// and every strategy of `mtl::NAMES`).
    fn parse_mode(p: &mut lexopt::Parser) -> std::result::Result<Vec<Run>, lexopt::Error> {
        let classic = Regime::ALL.map(Regime::name);
        let expected = format!(
            "{}|{}|all (or e.g. fixed:1,2, cagrad:0.4)",
            classic.join("|"),
            staticflow::mtl::NAMES.join("|")
        );
        let m = common::string(p, "--mode", &expected)?;
        Ok(if m == "all" {
            let mut v = vec![Run::regime(Regime::Joint), Run::regime(Regime::Alternate)];
            v.extend(staticflow::mtl::NAMES.iter().map(|n| Run::strategy(n)));
            v
        } else if let Ok(r) = Regime::parse(&m) {
            vec![Run::regime(r)]
        } else if staticflow::mtl::by_name(&m).is_ok() {
            vec![Run::strategy(&m)]
        } else {
            return Err(common::bad("--mode", &expected, &m));
        })
    }
}

/// Fetch the strategy's gradient cosines and weights every this many batches.
const COSINE_EVERY: usize = 25;

/// The tagger's tasks, in the order of the strategy's weights and cosines.
const TASKS: [&str; 2] = ["pos", "chunk"];

/// One training event in TensorBoard: the losses of every step (`train/*`), the test
/// metrics after each epoch (`test/*`, at the epoch's last step; none for a head the regime
/// never trains, whose curve would be flat and meaningless) and the probed strategy steps.
fn log_event(
    tb: &mut staticflow::summary::FileWriter,
    event: TrainEvent,
    regime: Regime,
    per_epoch: usize,
) -> Result<()> {
    match event {
        TrainEvent::Step {
            step,
            pos_loss,
            chunk_loss,
        } => [
            ("train/pos_loss", pos_loss),
            ("train/chunk_loss", chunk_loss),
        ]
        .into_iter()
        .filter_map(|(tag, v)| Some((tag, v?)))
        .try_for_each(|(tag, v)| tb.add_scalar(tag, v, step as i64)),
        TrainEvent::Probe {
            step,
            cosines,
            weights,
        } => log_probe(tb, step as i64, cosines, weights),
        TrainEvent::Epoch(l) => {
            let (pos, chunk) = (regime.trains_pos(), regime.trains_chunks());
            let s = &l.test.score;
            [
                ("test/pos_accuracy", s.pos_acc, pos),
                ("test/chunk_accuracy", s.chunk_acc, chunk),
                ("test/chunk_f1", s.chunk.f1(), chunk),
                ("test/pos_loss", l.test.pos_loss, pos),
                ("test/chunk_loss", l.test.chunk_loss, chunk),
                ("speed/train_tokens_per_s", l.tokens_per_s, true),
            ]
            .into_iter()
            .filter(|x| x.2)
            .try_for_each(|(tag, v, _)| tb.add_scalar(tag, v as f32, (l.epoch * per_epoch) as i64))
        }
        TrainEvent::Batch(_) => Ok(()),
    }
}

/// A probed strategy step in TensorBoard: `mtl/weight/<task>` (the loss weight, or for a
/// gradient-level strategy the coefficient of the task's gradient on the shared variables)
/// and `mtl/grad_cosine` (cosine between the two tasks' gradients on the shared variables).
fn log_probe(
    tb: &mut staticflow::summary::FileWriter,
    step: i64,
    cosines: &[f32],
    weights: &[f32],
) -> Result<()> {
    for (task, w) in TASKS.iter().zip(weights) {
        tb.add_scalar(&format!("mtl/weight/{task}"), *w, step)?;
    }
    match staticflow::mtl::mean_off_diagonal(cosines, TASKS.len()) {
        Some(c) => tb.add_scalar("mtl/grad_cosine", c as f32, step),
        None => Ok(()),
    }
}

/// The Markdown text of a run's TensorBoard "about" entry: what the run is and what its
/// tags mean.
fn about(name: &str, regime: Regime, args: &Args) -> String {
    let mut s = format!(
        "pos_chunk run `{name}` (model {}, seed {}).\n\n\
         - `train/*_loss`: each step's loss of the task(s) its op trained (x: global step)\n\
         - `test/*`: test metrics after each epoch (x: step at the end of the epoch){}\n\
         - `variables/*` (Histograms): every trainable variable after each epoch\n",
        if args.best { "best" } else { "default" },
        args.seed,
        match regime {
            Regime::PosOnly => "; no chunk metrics: this regime never trains the chunk head",
            Regime::ChunkOnly => "; no POS metrics: this regime never trains the POS head",
            _ => "",
        }
    );
    if regime == Regime::Strategy {
        s.push_str(&format!(
            "- `mtl/weight/pos`, `mtl/weight/chunk`: the weights the strategy used, and \
             `mtl/grad_cosine`: the cosine between the two tasks' gradients on the shared \
             variables, every {COSINE_EVERY} steps\n"
        ));
    }
    s
}

/// What one run produced.
struct RunResult {
    name: String,
    regime: Regime,
    logs: Vec<EpochLog>,
    final_eval: Evaluation,
    extra_eval: Option<Evaluation>,
    tokens: usize,
    seconds: f64,
}

impl RunResult {
    /// Tokens per second over the epochs (each epoch's rate leaves out its probed steps).
    fn tokens_per_s(&self) -> f64 {
        let s: f64 = self
            .logs
            .iter()
            .map(|l| l.tokens as f64 / l.tokens_per_s.max(1e-9))
            .sum();
        self.tokens as f64 / s.max(1e-9)
    }

    /// The mean pairwise gradient cosine over all probed steps.
    fn mean_cosine(&self) -> Option<f64> {
        let (sum, n) = self
            .logs
            .iter()
            .fold((0.0, 0), |(s, n), l| match l.mean_cosine {
                Some(c) => (s + c * l.cosine_probes as f64, n + l.cosine_probes),
                None => (s, n),
            });
        (n > 0).then(|| sum / n as f64)
    }
}

fn checkpoint_path(base: &Path, run: &str, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("ckpt");
    let name = match base.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}_{run}.{ext}"),
        None => format!("{stem}_{run}"),
    };
    base.with_file_name(name)
}

fn run_regime(
    world: &World,
    args: &Args,
    data: &TaggerData,
    config: &TaggerConfig,
    epochs: usize,
    run: &Run,
    extra: Option<&(Vec<Sentence>, Vec<staticflow::data::EncodedSentence>)>,
) -> Result<RunResult> {
    let (regime, name) = (run.regime, run.name.as_str());
    let g = Graph::with_seed(args.seed);
    let strategy = (regime == Regime::Strategy).then_some(name);
    let model = Tagger::build_with(&g, config, &|adam| world.optimizer(adam), strategy)?;
    let saver = staticflow::train::Saver::new(&g);
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    let several = args.runs.len() > 1;
    if let Some(p) = &args.restore {
        let p = checkpoint_path(p, name, several && !p.exists());
        saver.restore(&mut sess, &p)?;
        println!("[{name}] restored {}", p.display());
    }
    world.sync_session(&mut sess)?; // ranks: same graph, rank 0's variables
    let mut opts = TrainOptions::new(regime, epochs, args.seed);
    opts.p_pos = args.p_pos;
    opts.log_every = args.log_every;
    opts.shard = (world.rank(), world.size());
    // The best model trains until its epochs are done or 10 minutes have passed.
    opts.time_budget = args.budget.or(args.best.then_some(600.0));
    opts.cosine_every = COSINE_EVERY;
    let run = format!(
        "{name}_{}_{}_e{epochs}_seed{}",
        data.name,
        if args.best { "best" } else { "default" },
        args.seed
    );
    // Rank 0 alone writes the TensorBoard run (the ranks train the same model).
    let mut board = match world.is_root() {
        true => Some(common::tensorboard_run(&args.out, &run)?),
        false => None,
    };
    if let Some(tb) = board.as_mut() {
        tb.add_graph(&g)?;
        tb.add_text("about", &about(name, regime, args), 0)?;
    }
    let per_epoch = staticflow::models::tagger::batches_per_epoch(data, opts.batch_size);
    // One epoch per `train` call, so the variables can be read between epochs; the time
    // budget is applied here, between the calls, as `train` would.
    let budget = opts.time_budget.take();
    let trainable = g.trainable_variables();
    let mut mark = (Instant::now(), cpu_seconds());
    let (start, mut last_epoch, mut logs) = (Instant::now(), 0f64, Vec::new());
    let mut stopped = false;
    for target in 1..=epochs {
        if budget
            .is_some_and(|b| !logs.is_empty() && start.elapsed().as_secs_f64() + last_epoch > b)
        {
            stopped = true;
            break;
        }
        let t = Instant::now();
        opts.epochs = target;
        let mut tb_err: Option<Error> = None;
        let new = train(&mut sess, &model, data, &opts, |event| {
            match event {
                TrainEvent::Batch(p) => println!(
                    "[{name}] epoch {} batch {:>4}/{}: {:>6.0} tok/s  train loss pos {:.4} chunk {:.4}",
                    p.epoch, p.batch, p.batches, p.tokens_per_s, p.pos_loss, p.chunk_loss
                ),
                TrainEvent::Epoch(l) => {
                    let (now, cpu) = (Instant::now(), cpu_seconds());
                    let wall = (now - mark.0).as_secs_f64().max(1e-9);
                    let others = ((cpu.0 - mark.1 .0) - (cpu.1 - mark.1 .1)).max(0.0) / wall;
                    mark = (now, cpu);
                    println!("{}", epoch_line(name, epochs, l, others));
                }
                TrainEvent::Step { .. } | TrainEvent::Probe { .. } => {}
            }
            if let Some(tb) = board.as_mut() {
                if let Err(e) = log_event(tb, event, regime, per_epoch) {
                    tb_err.get_or_insert(e);
                }
            }
        })?;
        if let Some(e) = tb_err {
            return Err(e);
        }
        if let Some(tb) = board.as_mut() {
            for l in &new {
                // A histogram of every trainable variable after each epoch (strategy
                // variables such as uncertainty's log-variances included).
                let step = (l.epoch * per_epoch) as i64;
                for v in &trainable {
                    let value = sess.variable_value(*v)?.as_f32()?;
                    let tag = format!("variables/{}", v.name());
                    tb.add_histogram(&tag, value.iter().copied(), step)?;
                }
                tb.flush()?;
            }
        }
        if !new.is_empty() {
            last_epoch = t.elapsed().as_secs_f64();
        }
        logs.extend(new);
    }
    if let Some(tb) = board {
        tb.close()?;
    }
    if let (Some(l), Some(b), true) = (logs.last(), budget, stopped) {
        println!(
            "[{name}] stopped after epoch {} of {epochs}: the next epoch would end past the {b:.0} s budget",
            l.epoch
        );
    }
    if let Some(p) = &args.save {
        let p = checkpoint_path(p, name, several);
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        staticflow::distributed::save_on_root(&saver, &sess, &p, world.comm())?;
        println!("[{name}] saved {}", p.display());
    }
    let final_eval = match logs.last() {
        Some(l) => l.test,
        None => model.evaluate(&mut sess, &data.vocab, &data.test, &data.test_enc)?,
    };
    let extra_eval = match extra {
        Some((s, e)) => Some(model.evaluate(&mut sess, &data.vocab, s, e)?),
        None => None,
    };
    Ok(RunResult {
        name: name.to_string(),
        regime,
        tokens: logs.iter().map(|l| l.tokens).sum(),
        seconds: logs.iter().map(|l| l.seconds).sum(),
        logs,
        final_eval,
        extra_eval,
    })
}

/// `--profile N`: times every kernel of N joint steps (after 3 warm-up steps) and prints the
/// time per op kind and the 25 slowest nodes.
fn profile(args: &Args, data: &TaggerData, config: &TaggerConfig) -> Result<()> {
    use staticflow::data::{make_batch, train_batches};
    use staticflow::session::Profile;
    let g = Graph::with_seed(args.seed);
    let model = Tagger::build(&g, config)?;
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    let lengths: Vec<usize> = data.train_enc.iter().map(|s| s.len()).collect();
    let mut rng = staticflow::models::tagger::epoch_rng(args.seed, 1);
    let order = train_batches(&lengths, 32, true, &mut rng);
    for idx in order.iter().take(3) {
        model.train_step(&mut sess, model.joint_op, &make_batch(&data.train_enc, idx))?;
    }
    let mut total = Profile::default();
    let (mut tokens, t0) = (0usize, Instant::now());
    for idx in order.iter().skip(3).take(args.profile) {
        let b = make_batch(&data.train_enc, idx);
        tokens += b.tokens();
        let mut feeds: Vec<(Tensor, ValueView)> = vec![
            (model.words, (&b.words).into()),
            (model.mask, (&b.mask).into()),
            (model.pos, (&b.pos).into()),
            (model.chunks, (&b.chunks).into()),
        ];
        if let Some(t) = model.case {
            feeds.push((t, (&b.case).into()));
        }
        if let Some(t) = model.suffix {
            feeds.push((t, (&b.suffix).into()));
        }
        let (_, p) = sess.run_profiled(&[model.joint_op.into()], &feeds)?;
        total.entries.extend(p.entries);
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "{} joint steps, {tokens} tokens, {:.0} tok/s (profiled), kernels {:.1} ms of {:.1} ms",
        args.profile,
        tokens as f64 / wall,
        total.total_micros() / 1e3,
        wall * 1e3
    );
    for (op, us) in total.by_op().iter().take(20) {
        println!(
            "{op:<28} {:>9.1} ms {:>5.1}%",
            us / 1e3,
            100.0 * us / total.total_micros()
        );
    }
    let mut by_node: std::collections::BTreeMap<String, (String, f64)> = Default::default();
    for e in &total.entries {
        let x = by_node.entry(e.name.clone()).or_insert((e.op.clone(), 0.0));
        x.1 += e.micros;
    }
    let mut v: Vec<_> = by_node.into_iter().collect();
    v.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (name, (op, us)) in v.iter().take(25) {
        println!("{name:<60} {op:<22} {:>8.1} ms", us / 1e3);
    }
    Ok(())
}

fn write_graph_files() -> Result<()> {
    let g = Graph::with_seed(0);
    Tagger::build(&g, &TaggerConfig::conll2000_tutorial())?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphs");
    staticflow::io::write_graph(&g, dir.join("pos_chunk.json"))?;
    let dot = dir.join("pos_chunk.dot");
    staticflow::io::write_atomic(&dot, staticflow::io::to_dot(&g))
}

fn csv(results: &[RunResult], path: &Path) -> Result<()> {
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

fn plot(results: &[RunResult], title: &str, path: &Path) -> std::result::Result<(), String> {
    let mut svg = String::new();
    draw(
        results,
        title,
        SVGBackend::with_string(&mut svg, (1100, 760)),
    )?;
    staticflow::io::write_atomic(path, svg).map_err(|e| e.to_string())
}

fn draw(results: &[RunResult], title: &str, svg: SVGBackend) -> std::result::Result<(), String> {
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
fn epoch_ticks(n: usize) -> Vec<usize> {
    (1..=n.max(1)).step_by(n.div_ceil(12).max(1)).collect()
}

/// `"pos_acc":..,"chunk_acc":..,"chunk_f1":..` (fractions, 4 decimals).
fn score_fields(e: &Evaluation) -> String {
    format!(
        "\"pos_acc\":{:.4},\"chunk_acc\":{:.4},\"chunk_f1\":{:.4}",
        e.score.pos_acc,
        e.score.chunk_acc,
        e.score.chunk.f1()
    )
}

/// The comparison of the runs (POS accuracy, chunk F1; Δm% against `equal`, else `joint`,
/// the same summed loss).
fn comparison(results: &[RunResult]) -> (Vec<Column>, Vec<Row>, &'static str) {
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

fn run() -> Result<()> {
    let args = common::parse_or_exit(USAGE, parse_args);
    // One rank unless started by `mpirun` with the `mpi` feature; logs from rank 0 only.
    let world = staticflow::distributed::init()?.with_fusion(args.fusion);
    world.quiet_unless_root()?;
    let data = load_data(&args)?;
    let epochs = args.epochs.unwrap_or(if args.best { 12 } else { 5 });
    let config = if args.best {
        TaggerConfig::best(&data.vocab)
    } else {
        TaggerConfig::tutorial(&data.vocab)
    };
    println!(
        "vocabulary {} words ({:.1}% of test tokens UNK), {} POS tags, {} chunk tags; {} training tokens; model {}",
        data.vocab.words.len(),
        100.0 * data.vocab.unk_rate(&data.test),
        data.vocab.pos.len() - 1,
        data.vocab.chunks.len() - 1,
        data.train_tokens(),
        if args.best { "best" } else { "default (tutorial)" },
    );
    let extra = match &args.eval {
        Some(p) => {
            let s = read_conll(p)?;
            let e = data.vocab.encode(&s);
            println!(
                "extra evaluation file: {} ({} sentences)",
                p.display(),
                s.len()
            );
            Some((s, e))
        }
        None => None,
    };
    if args.graphs && world.is_root() {
        write_graph_files()?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphs");
        println!("wrote {}/pos_chunk.{{json,dot}}", dir.display());
    }

    if args.profile > 0 {
        return profile(&args, &data, &config);
    }
    let t_all = Instant::now();
    let mut results = Vec::new();
    for run in &args.runs {
        results.push(run_regime(
            &world,
            &args,
            &data,
            &config,
            epochs,
            run,
            extra.as_ref(),
        )?);
    }

    // Epochs actually trained (a time budget may stop early).
    let epochs = results
        .iter()
        .filter_map(|r| r.logs.last().map(|l| l.epoch))
        .max()
        .unwrap_or(epochs);
    println!();
    println!(
        "{} after {epochs} epochs (seed {}, model {}); training tokens/s excludes evaluation",
        data.name,
        args.seed,
        if args.best { "best" } else { "default" }
    );
    println!(
        "| regime     | POS acc | chunk acc | chunk F1 | test loss (pos+chunk) | train tok/s | train s |"
    );
    println!(
        "|------------|---------|-----------|----------|-----------------------|-------------|---------|"
    );
    for r in &results {
        let e = &r.final_eval;
        println!(
            "| {:<10} | {:.4}  | {:.4}    | {:.4}   | {:>21.4} | {:>11.0} | {:>7.1} |",
            r.name,
            e.score.pos_acc,
            e.score.chunk_acc,
            e.score.chunk.f1(),
            e.pos_loss + e.chunk_loss,
            r.tokens_per_s(),
            r.seconds
        );
    }
    if results.iter().any(|r| r.regime == Regime::PosOnly) {
        println!("(pos_only never trains the chunk head, chunk_only never trains the POS head: those cells mean nothing)");
    }
    let (columns, rows, baseline) = comparison(&results);
    if results.iter().any(|r| r.regime == Regime::Strategy) {
        println!();
        common::compare::print_table(&columns, &rows, baseline, "train tok/s");
    }
    println!("total wall time {:.1} s", t_all.elapsed().as_secs_f64());
    if cfg!(feature = "mpi") {
        println!("{}", common::ranks_line(&world));
    }

    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let stem = format!(
        "pos_chunk_{}_{}_seed{}",
        data.name,
        if args.best { "best" } else { "default" },
        args.seed
    );
    let csv_path = args.out.join(format!("{stem}.csv"));
    csv(&results, &csv_path)?;
    let svg_path = args.out.join(format!("{stem}.svg"));
    let title = format!(
        "{} ({} model, seed {}): joint vs alternate",
        data.name,
        if args.best { "best" } else { "default" },
        args.seed
    );
    match plot(&results, &title, &svg_path) {
        Ok(()) => println!("wrote {} and {}", csv_path.display(), svg_path.display()),
        Err(e) => println!("wrote {}; plot failed: {e}", csv_path.display()),
    }

    // Built by hand to keep the issue's key order (serde_json maps sort their keys).
    let deltas = common::compare::deltas(&columns, &rows, baseline);
    let parts: Vec<String> = results
        .iter()
        .zip(&deltas)
        .map(|(r, d)| {
            let mut o = score_fields(&r.final_eval);
            o.push_str(&format!(
                ",\"tokens_per_s\":{:.0},\"seconds\":{:.2}",
                r.tokens_per_s(),
                r.seconds + 0.0
            ));
            let num = |v: Option<f64>, p: usize| v.map_or("null".into(), |v| format!("{v:.p$}"));
            o.push_str(&format!(
                ",\"delta_m_pct\":{},\"mean_grad_cosine\":{}",
                num(*d, 2),
                num(r.mean_cosine(), 4)
            ));
            if let Some(e) = &r.extra_eval {
                o.push_str(&format!(",\"eval\":{{{}}}", score_fields(e)));
            }
            format!("\"{}\":{{{o}}}", r.name)
        })
        .collect();
    let line = format!(
        "{{\"example\":\"pos_chunk\",\"data\":\"{}\",\"epochs\":{epochs},{}\"results\":{{{}}}}}",
        data.name,
        common::ranks_fields(&world),
        parts.join(",")
    );
    println!("{line}");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
