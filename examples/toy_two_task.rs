//! The classic two-task toy network, trained alternately and jointly.
//!
//! ```text
//! cargo run --release --example toy_two_task [-- [--steps N] [--write-graphs]]
//! ```
//!
//! Network (built by `staticflow::models::toy::build`, shared with the golden-graph test and
//! the benchmark): `x [?,10] -> relu(x·Ws[10,20])`, then `relu(·W1[20,1])` and
//! `relu(·W2[20,1])`, `l2_loss` per task, three Adam(1e-3) optimizers: `op1` on loss1, `op2`
//! on loss2, `joint` on loss1 + loss2.
//!
//! Data: generated (seeded); both targets read the same hidden features `relu(x·A)`.
//!
//! 1. With `--write-graphs` only, rewrites `graphs/toy_two_task.json` and
//!    `graphs/toy_two_task.dot` (the checked-in golden files; `tests/golden_graphs.rs` fails
//!    if they differ from what the code builds).
//! 2. Trains from the same initial values (a fresh session each) for `--steps` steps
//!    (default 4000) at batch 10: *alternate* picks `op1` or `op2` at random each step
//!    (seeded); *joint* runs `joint` every step. Losses are `l2_loss` per example on a fixed
//!    held-out set of 1000 examples, before and after training.
//! 3. Isolation: one step of each op from the same state, variables compared bit for bit.
//! 4. Speed: median microseconds of one `sess.run` of `op1` and of `joint` at batch 10, over
//!    5000 individually timed steps after 500 warm-up steps.
//!
//! Prints a readable table, then as the last stdout line one JSON object. `-h` / `--help`
//! prints the usage; a bad flag or value exits with code 2.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use staticflow::models::toy::{self, ToyData, ToyTwoTask};
use staticflow::prelude::*;
use std::time::Instant;

mod common;

const BATCH: usize = 10;
const WARMUP: usize = 500;
const TIMED: usize = 5000;

#[derive(Serialize, Clone, Copy)]
struct Losses {
    loss1_start: f64,
    loss1_end: f64,
    loss2_start: f64,
    loss2_end: f64,
}

#[derive(Serialize)]
struct Isolation {
    op1_changed_w2: bool,
    op1_changed_shared: bool,
    op2_changed_w1: bool,
    joint_changed_all: bool,
}

#[derive(Serialize)]
struct Speed {
    op1_batch10: f64,
    joint_batch10: f64,
}

#[derive(Serialize)]
struct Report {
    example: &'static str,
    alternate: Losses,
    joint: Losses,
    isolation: Isolation,
    us_per_step: Speed,
}

#[derive(Clone, Copy, PartialEq)]
enum Regime {
    Alternate,
    Joint,
}

const USAGE: &str = "usage: toy_two_task [--steps N] [--write-graphs] (--help for details)";

const HELP: &str = "\
toy_two_task: the classic two-task toy network, trained alternately and jointly.

usage: cargo run --release --example toy_two_task -- [FLAGS]

flags (default in brackets):
  --steps N        training steps of each regime at batch 10 [4000]
  --write-graphs   rewrite the checked-in graphs/toy_two_task.{json,dot} [off]
  -h, --help       this text

writes: stdout only (a table, then one JSON line with losses, isolation flags and
us_per_step); with --write-graphs the two golden graph files (absolute paths printed).
takes: about 10-20 s on 2 free cores (data is generated, none is read).";

/// Command-line settings.
struct Args {
    steps: usize,
    write_graphs: bool,
}

fn parse_args(p: &mut lexopt::Parser) -> std::result::Result<Args, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    let mut a = Args {
        steps: 4000,
        write_graphs: false,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("steps") => a.steps = common::value(p, "--steps", "a non-negative integer")?,
            Long("write-graphs") => a.write_graphs = true,
            Long("no-graphs") => a.write_graphs = false,
            Short('h') | Long("help") => common::help(HELP),
            other => return Err(common::unknown(other)),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let Args {
        steps,
        write_graphs,
    } = common::parse_or_exit(USAGE, parse_args);

    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g)?;
    if write_graphs {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("graphs");
        write_graph(&g, dir.join("toy_two_task.json"))?;
        let dot = dir.join("toy_two_task.dot");
        staticflow::io::write_atomic(&dot, to_dot(&g))?;
        println!(
            "wrote {} and {}",
            dir.join("toy_two_task.json").display(),
            dot.display()
        );
    }

    let train = ToyData::generate(10_000, 7, 1);
    let eval = ToyData::generate(1000, 7, 2);
    let alternate = train_regime(&g, &m, Regime::Alternate, steps, &train, &eval)?;
    let joint = train_regime(&g, &m, Regime::Joint, steps, &train, &eval)?;
    let isolation = isolation(&g, &m, &train)?;
    let speed = Speed {
        op1_batch10: time_op(&g, &m, m.op1, &train)?,
        joint_batch10: time_op(&g, &m, m.joint, &train)?,
    };

    println!();
    println!(
        "two-task toy: {steps} steps per regime at batch {BATCH}, {}({})",
        toy::OPTIMIZER,
        toy::LEARNING_RATE
    );
    println!("held-out l2_loss per example (1000 examples):");
    println!(
        "{:<10} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
        "regime", "loss1 start", "loss1 end", "ratio", "loss2 start", "loss2 end", "ratio"
    );
    for (name, l) in [("alternate", alternate), ("joint", joint)] {
        println!(
            "{:<10} {:>12.5} {:>12.5} {:>7.3} {:>12.5} {:>12.5} {:>7.3}",
            name,
            l.loss1_start,
            l.loss1_end,
            l.loss1_end / l.loss1_start,
            l.loss2_start,
            l.loss2_end,
            l.loss2_end / l.loss2_start
        );
    }
    println!("isolation (one step, values compared bit for bit):");
    println!("  op1 changed task2/w:  {}", isolation.op1_changed_w2);
    println!("  op1 changed shared/w: {}", isolation.op1_changed_shared);
    println!("  op2 changed task1/w:  {}", isolation.op2_changed_w1);
    println!("  joint changed all:    {}", isolation.joint_changed_all);
    println!("us per step (median of {TIMED} after {WARMUP} warm-up, batch {BATCH}):");
    println!("  op1   {:>8.2}", speed.op1_batch10);
    println!("  joint {:>8.2}", speed.joint_batch10);

    let report = Report {
        example: "toy_two_task",
        alternate,
        joint,
        isolation,
        us_per_step: speed,
    };
    println!(
        "{}",
        serde_json::to_string(&report).expect("report serialises")
    );
    Ok(())
}

/// A fresh session on the model with its variables initialised.
fn session<'g>(g: &'g Graph, m: &ToyTwoTask<'g>) -> Result<Session<'g>> {
    let mut sess = Session::new(g);
    sess.run(&[m.init.into()], &[])?;
    Ok(sess)
}

/// Held-out `(loss1, loss2)` per example.
fn eval_losses<'g>(sess: &mut Session<'g>, m: &ToyTwoTask<'g>, d: &ToyData) -> Result<(f64, f64)> {
    let out = sess.run(
        &[m.loss1.into(), m.loss2.into()],
        &[
            (m.x, (&d.x).into()),
            (m.y1, (&d.y1).into()),
            (m.y2, (&d.y2).into()),
        ],
    )?;
    let n = d.len() as f64;
    Ok((out.scalar(0)? as f64 / n, out.scalar(1)? as f64 / n))
}

fn train_regime<'g>(
    g: &'g Graph,
    m: &ToyTwoTask<'g>,
    regime: Regime,
    steps: usize,
    train: &ToyData,
    eval: &ToyData,
) -> Result<Losses> {
    let mut sess = session(g, m)?;
    let (l1s, l2s) = eval_losses(&mut sess, m, eval)?;
    let mut pick = StdRng::seed_from_u64(42);
    for k in 0..steps {
        let (x, y1, y2) = train.batch(k, BATCH);
        match regime {
            Regime::Joint => sess.run(
                &[m.joint.into()],
                &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
            )?,
            Regime::Alternate if pick.gen_bool(0.5) => {
                sess.run(&[m.op1.into()], &[(m.x, x.into()), (m.y1, y1.into())])?
            }
            Regime::Alternate => {
                sess.run(&[m.op2.into()], &[(m.x, x.into()), (m.y2, y2.into())])?
            }
        };
    }
    let (l1e, l2e) = eval_losses(&mut sess, m, eval)?;
    Ok(Losses {
        loss1_start: l1s,
        loss1_end: l1e,
        loss2_start: l2s,
        loss2_end: l2e,
    })
}

/// Bit patterns of a variable's value.
fn bits<'g>(sess: &Session<'g>, v: Tensor<'g>) -> Result<Vec<u32>> {
    Ok(sess
        .variable_value(v)?
        .as_f32()?
        .iter()
        .map(|x| x.to_bits())
        .collect())
}

/// Which of `(shared/w, task1/w, task2/w)` one run of `op` changes, bit for bit.
fn changed<'g>(
    g: &'g Graph,
    m: &ToyTwoTask<'g>,
    op: Operation<'g>,
    d: &ToyData,
) -> Result<[bool; 3]> {
    let mut sess = session(g, m)?;
    let vars = [m.ws, m.w1, m.w2];
    let before: Vec<Vec<u32>> = vars
        .iter()
        .map(|v| bits(&sess, *v))
        .collect::<Result<_>>()?;
    let (x, y1, y2) = d.batch(0, BATCH);
    sess.run(
        &[op.into()],
        &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
    )?;
    let mut out = [false; 3];
    for (k, v) in vars.iter().enumerate() {
        out[k] = bits(&sess, *v)? != before[k];
    }
    Ok(out)
}

fn isolation<'g>(g: &'g Graph, m: &ToyTwoTask<'g>, d: &ToyData) -> Result<Isolation> {
    let op1 = changed(g, m, m.op1, d)?;
    let op2 = changed(g, m, m.op2, d)?;
    let joint = changed(g, m, m.joint, d)?;
    Ok(Isolation {
        op1_changed_w2: op1[2],
        op1_changed_shared: op1[0],
        op2_changed_w1: op2[1],
        joint_changed_all: joint.iter().all(|&c| c),
    })
}

/// Median microseconds of one `sess.run(&[op], feeds)` at batch 10.
fn time_op<'g>(g: &'g Graph, m: &ToyTwoTask<'g>, op: Operation<'g>, d: &ToyData) -> Result<f64> {
    let mut sess = session(g, m)?;
    let is_joint = op == m.joint;
    let mut samples = Vec::with_capacity(TIMED);
    for k in 0..WARMUP + TIMED {
        let (x, y1, y2) = d.batch(k, BATCH);
        let t0 = Instant::now();
        if is_joint {
            sess.run(
                &[op.into()],
                &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
            )?;
        } else {
            sess.run(&[op.into()], &[(m.x, x.into()), (m.y1, y1.into())])?;
        }
        let dt = t0.elapsed().as_secs_f64() * 1e6;
        if k >= WARMUP {
            samples.push(dt);
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}
