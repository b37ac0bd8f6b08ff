//! The command line: flags, help text and the `--mode` runs.

use crate::common;
use staticflow::models::tagger::Regime;
use std::path::PathBuf;

pub(crate) struct Args {
    pub(crate) data: Option<PathBuf>,
    pub(crate) eval: Option<PathBuf>,
    pub(crate) epochs: Option<usize>,
    pub(crate) runs: Vec<Run>,
    pub(crate) seed: u64,
    pub(crate) best: bool,
    pub(crate) save: Option<PathBuf>,
    pub(crate) restore: Option<PathBuf>,
    pub(crate) out: PathBuf,
    pub(crate) p_pos: f64,
    /// `--batching bucketed` (sentences of similar length share a batch) or `random`
    /// (consecutive slices of one shuffle, as the TF1 and PyTorch references batch).
    pub(crate) bucketed: bool,
    pub(crate) log_every: usize,
    pub(crate) graphs: bool,
    pub(crate) profile: usize,
    pub(crate) budget: Option<f64>,
    /// Under `mpirun`: one fused allreduce per step (`--no-fusion`: one per gradient).
    pub(crate) fusion: bool,
}

pub(crate) const USAGE: &str = "usage: pos_chunk [--data DIR] [--eval FILE] [--epochs N] \
[--mode joint|alternate|pos_only|chunk_only|STRATEGY|all] [--seed S] [--model default|best] \
[--save PATH] [--restore PATH] [--out DIR] [--p-pos P] [--batching bucketed|random] [--log-every N] [--budget SECONDS] \
[--profile N] [--write-graphs] (--help for details)";

pub(crate) const HELP: &str = "\
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
  --batching B       bucketed (similar lengths share a batch: less padding, faster) or
                     random (slices of one shuffle, as the TF1/PyTorch references) [bucketed]
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

pub(crate) fn parse_args(p: &mut lexopt::Parser) -> std::result::Result<Args, lexopt::Error> {
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
        bucketed: true,
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
            Long("batching") => {
                a.bucketed = common::choice(p, "--batching", &["bucketed", "random"])? == "bucketed"
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

/// One training run: a classic regime, or a multi-task strategy (`Regime::Strategy`).
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// Regime or strategy name (as given to `--mode`).
    pub(crate) name: String,
    pub(crate) regime: Regime,
}

impl Run {
    pub(crate) fn regime(regime: Regime) -> Run {
        Run {
            name: regime.name().into(),
            regime,
        }
    }

    pub(crate) fn strategy(name: &str) -> Run {
        Run {
            name: name.into(),
            regime: Regime::Strategy,
        }
    }

    /// `--mode`: a regime, a strategy name (with its argument), or `all` (joint, alternate
    /// and every strategy of `mtl::NAMES`).
    pub(crate) fn parse_mode(
        p: &mut lexopt::Parser,
    ) -> std::result::Result<Vec<Run>, lexopt::Error> {
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
