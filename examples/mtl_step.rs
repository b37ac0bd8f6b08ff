//! Speed of one multi-task train step per strategy (the issue's Speed section).
//!
//! ```text
//! cargo run --release --example mtl_step [-- [--steps N] [--warmup N] [--only toy|mtfl]]
//! ```
//!
//! - `toy2`, `toy5`: the toy net of `../shared/bench/mtl_torch.py` with 2 or 5 heads on one
//!   trunk: `shared = relu(x · Ws [10, 20])`, `out_k = relu(shared · W_k [20, 1])`,
//!   `loss_k = l2_loss(y_k - out_k)`; weights uniform in [0, 1), `x = 10 U`, `y_k = 10 U`, the
//!   same batch every step, one Adam(1e-3) over all variables; batch 10 and 1024; strategies
//!   `equal` (the summed loss, one backward pass), `pcgrad`, `mgda`, `upgrad`.
//! - `mtfl`: the face-landmark CNN (`models::face_landmarks::trunk`, batch 64, random inputs
//!   of the right shape) with a nose regression head and a 5-class pose head; `equal`,
//!   `pcgrad` (on all shared variables) and `mgda` with representation gradients at the
//!   100-unit shared features (`mgda_rep`).
//!
//! Each case: `--warmup` steps (default 200), then the median of `--steps` individually
//! timed `Session::run` calls (default 2000). One JSON line per case:
//! `{"net":"toy2","batch":10,"strategy":"pcgrad","us_per_step":..}`.

use ndarray::{Array1, Array2, Array4};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use staticflow::heads::{Head, MultiClassHead, RegressionHead};
use staticflow::models::face_landmarks;
use staticflow::mtl::{self, Tasks};
use staticflow::prelude::*;
use std::time::Instant;

mod common;

const USAGE: &str = "usage: mtl_step [--steps N] [--warmup N] [--only toy|mtfl]";

struct Args {
    steps: usize,
    warmup: usize,
    only: Option<String>,
}

fn parse_args(p: &mut lexopt::Parser) -> Result<Args, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    let mut a = Args {
        steps: 2000,
        warmup: 200,
        only: None,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("steps") => a.steps = common::value(p, "--steps", "a positive integer")?,
            Long("warmup") => a.warmup = common::value(p, "--warmup", "an integer")?,
            Long("only") => a.only = Some(common::choice(p, "--only", &["toy", "mtfl"])?),
            Short('h') | Long("help") => common::help(USAGE),
            other => return Err(common::unknown(other)),
        }
    }
    if a.steps == 0 {
        return Err(common::bad("--steps", "a positive integer", "0"));
    }
    Ok(a)
}

/// Median microseconds of `steps` runs of `op` after `warmup` runs.
fn time_steps<'g>(
    sess: &mut Session<'g>,
    op: Operation<'g>,
    feeds: &[(Tensor<'g>, ValueView<'_>)],
    a: &Args,
) -> Result<f64> {
    for _ in 0..a.warmup {
        sess.run(&[op.into()], feeds)?;
    }
    let mut us = Vec::with_capacity(a.steps);
    for _ in 0..a.steps {
        let t0 = Instant::now();
        sess.run(&[op.into()], feeds)?;
        us.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(|x, y| x.total_cmp(y));
    Ok(us[us.len() / 2])
}

fn report(net: &str, batch: usize, strategy: &str, us: f64) {
    println!(
        "{}",
        serde_json::json!({"net": net, "batch": batch, "strategy": strategy,
                           "us_per_step": (us * 100.0).round() / 100.0})
    );
}

/// One toy case: `tasks` heads at `batch` trained with `strategy`.
fn toy(tasks: usize, batch: usize, strategy: &str, a: &Args) -> Result<f64> {
    let g = Graph::with_seed(0);
    let x = g.placeholder("x", [None, Some(10)]);
    let ws = g.variable("shared/w", init::random_uniform(&[10, 20], 0.0, 1.0));
    let shared = relu(matmul(x, ws));
    let mut ys = Vec::new();
    let mut ts = Tasks::new(&g);
    for k in 0..tasks {
        let y = g.placeholder(&format!("y{k}"), [None, Some(1)]);
        let w = g.variable(
            &format!("task{k}/w"),
            init::random_uniform(&[20, 1], 0.0, 1.0),
        );
        ts = ts.task(&format!("task{k}"), l2_loss(y - relu(matmul(shared, w))));
        ys.push(y);
    }
    let train = mtl::by_name(strategy)?.minimize(&Adam::new(1e-3), &ts)?;
    let mut rng = StdRng::seed_from_u64(1);
    let xs = Array2::from_shape_fn((batch, 10), |_| rng.gen::<f32>() * 10.0);
    let yv: Vec<Array2<f32>> = (0..tasks)
        .map(|_| Array2::from_shape_fn((batch, 1), |_| rng.gen::<f32>() * 10.0))
        .collect();
    let mut feeds = vec![(x, (&xs).into())];
    feeds.extend(ys.iter().zip(&yv).map(|(t, v)| (*t, v.into())));
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    time_steps(&mut sess, train.op, &feeds, a)
}

/// The MTFL CNN step at batch 64 with `strategy` (`mgda_rep`: MGDA on the shared features).
fn mtfl(strategy: &str, a: &Args) -> Result<f64> {
    const BATCH: usize = 64;
    let g = Graph::with_seed(face_landmarks::SEED);
    let (x, h) = face_landmarks::trunk(&g, None);
    let nose = RegressionHead::new("head_nose", 2);
    let pose = MultiClassHead::new("head_pose", 5);
    let mut labels = Vec::new();
    let mut ts = Tasks::new(&g);
    for head in [&nose as &dyn Head, &pose] {
        let logits = dense(
            h,
            head.logits_dimension(),
            Activation::None,
            &format!("{}_logits", head.name()),
        );
        let _s = g.name_scope(head.name());
        let l = head.label_placeholder(&g);
        ts = ts.task_with_kind(head.name(), head.loss(logits, l), head.kind());
        labels.push(l);
    }
    let (name, ts) = match strategy {
        "mgda_rep" => ("mgda", ts.rep_grad(h)),
        s => (s, ts),
    };
    let train = mtl::by_name(name)?.minimize(&Adam::new(1e-3), &ts)?;
    let mut rng = StdRng::seed_from_u64(2);
    let xs = Array4::from_shape_fn(
        (BATCH, face_landmarks::SIZE, face_landmarks::SIZE, 3),
        |_| rng.gen::<f32>(),
    );
    let yn = Array2::from_shape_fn((BATCH, 2), |_| rng.gen::<f32>());
    let yp = Array1::from_shape_fn(BATCH, |_| rng.gen_range(0..5i64));
    let feeds = vec![
        (x, (&xs).into()),
        (labels[0], (&yn).into()),
        (labels[1], (&yp).into()),
    ];
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    time_steps(&mut sess, train.op, &feeds, a)
}

fn main() -> Result<()> {
    let a = common::parse_or_exit(USAGE, parse_args);
    let mut failed = false;
    if a.only.as_deref() != Some("mtfl") {
        for (net, tasks) in [("toy2", 2), ("toy5", 5)] {
            for batch in [10, 1024] {
                for s in ["equal", "pcgrad", "mgda", "upgrad"] {
                    match toy(tasks, batch, s, &a) {
                        Ok(us) => report(net, batch, s, us),
                        Err(e) => {
                            eprintln!("{net} batch {batch} {s}: {e}");
                            failed = true;
                        }
                    }
                }
            }
        }
    }
    if a.only.as_deref() != Some("toy") {
        for s in ["equal", "pcgrad", "mgda_rep"] {
            match mtfl(s, &a) {
                Ok(us) => report("mtfl", 64, s, us),
                Err(e) => {
                    eprintln!("mtfl {s}: {e}");
                    failed = true;
                }
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
