//! One training run (a regime or a strategy): epochs, progress lines, TensorBoard events,
//! checkpoints.

use crate::args::{Args, Run};
use crate::common;
use staticflow::data::Sentence;
use staticflow::distributed::World;
use staticflow::models::tagger::{
    train, EpochLog, Evaluation, Regime, Tagger, TaggerConfig, TaggerData, TrainEvent, TrainOptions,
};
use staticflow::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// CPU seconds used by the whole machine (all but idle and iowait) and by this process, from
/// `/proc` (Linux; zeros elsewhere): their difference over an interval is what other
/// processes took from us, reported next to every throughput figure.
pub(crate) fn cpu_seconds() -> (f64, f64) {
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
pub(crate) fn epoch_line(name: &str, epochs: usize, l: &EpochLog, others: f64) -> String {
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

/// Fetch the strategy's gradient cosines and weights every this many batches.
pub(crate) const COSINE_EVERY: usize = 25;

/// The tagger's tasks, in the order of the strategy's weights and cosines.
pub(crate) const TASKS: [&str; 2] = ["pos", "chunk"];

/// One training event in TensorBoard: the losses of every step (`train/*`), the test
/// metrics after each epoch (`test/*`, at the epoch's last step; none for a head the regime
/// never trains, whose curve would be flat and meaningless) and the probed strategy steps.
pub(crate) fn log_event(
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
pub(crate) fn log_probe(
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
pub(crate) fn about(name: &str, regime: Regime, args: &Args) -> String {
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
pub(crate) struct RunResult {
    pub(crate) name: String,
    pub(crate) regime: Regime,
    pub(crate) logs: Vec<EpochLog>,
    pub(crate) final_eval: Evaluation,
    pub(crate) extra_eval: Option<Evaluation>,
    pub(crate) tokens: usize,
    pub(crate) seconds: f64,
}

impl RunResult {
    /// Tokens per second over the epochs (each epoch's rate leaves out its probed steps).
    pub(crate) fn tokens_per_s(&self) -> f64 {
        let s: f64 = self
            .logs
            .iter()
            .map(|l| l.tokens as f64 / l.tokens_per_s.max(1e-9))
            .sum();
        self.tokens as f64 / s.max(1e-9)
    }

    /// The mean pairwise gradient cosine over all probed steps.
    pub(crate) fn mean_cosine(&self) -> Option<f64> {
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

pub(crate) fn checkpoint_path(base: &Path, run: &str, several: bool) -> PathBuf {
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

pub(crate) fn run_regime(
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
    opts.bucketed = args.bucketed;
    opts.log_every = args.log_every;
    opts.shard = (world.rank(), world.size());
    // The best model trains until its epochs are done or 10 minutes have passed.
    opts.time_budget = args.budget.or(args.best.then_some(600.0));
    opts.cosine_every = COSINE_EVERY;
    let run = format!(
        "{name}_{}_{}{}_e{epochs}_seed{}",
        data.name,
        if args.best { "best" } else { "default" },
        if args.bucketed { "" } else { "_random" },
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
