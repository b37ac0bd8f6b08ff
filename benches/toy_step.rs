//! Per-step time of the two-task toy network: `op1` (one task) and `joint`, at batch 10 and
//! batch 1024.
//!
//! ```text
//! cargo bench --bench toy_step            # or: cargo run --release --bench toy_step
//! ```
//!
//! Each case: a fresh session, 500 warm-up steps, then blocks of steps; the figure is the
//! median over blocks of the mean time per step in the block (and, beside it, the median of
//! individually timed steps, as the rust-peers harness measures). On a busy machine the block
//! figure is inflated by OS preemption (a few percent of steps take a whole ~4 ms time slice);
//! the single-step median is the one to compare with the peers. Prints a table, then one
//! JSON line. Set `TOY_PROFILE=1` to also print a per-kernel profile of one step per case.

use staticflow::models::toy::{self, ToyData, ToyTwoTask};
use staticflow::prelude::*;
use std::time::Instant;

const WARMUP: usize = 500;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `(median of block means, median of single steps)` in microseconds.
fn time_case<'g>(
    g: &'g Graph,
    m: &ToyTwoTask<'g>,
    joint: bool,
    batch: usize,
    data: &ToyData,
) -> Result<(f64, f64)> {
    let mut sess = Session::new(g);
    sess.run(&[m.init.into()], &[])?;
    let (block, blocks) = if batch <= 16 { (100, 50) } else { (20, 50) };
    let step = |k: usize, sess: &mut Session<'g>| -> Result<()> {
        let (x, y1, y2) = data.batch(k, batch);
        if joint {
            sess.run(
                &[m.joint.into()],
                &[(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())],
            )?;
        } else {
            sess.run(&[m.op1.into()], &[(m.x, x.into()), (m.y1, y1.into())])?;
        }
        Ok(())
    };
    for k in 0..WARMUP {
        step(k, &mut sess)?;
    }
    let mut block_means = Vec::with_capacity(blocks);
    let mut singles = Vec::with_capacity(block * blocks);
    for b in 0..blocks {
        let t_block = Instant::now();
        for k in 0..block {
            let t0 = Instant::now();
            step(WARMUP + b * block + k, &mut sess)?;
            singles.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        block_means.push(t_block.elapsed().as_secs_f64() * 1e6 / block as f64);
    }
    if std::env::var_os("TOY_PROFILE").is_some() {
        let (x, y1, y2) = data.batch(0, batch);
        let fetch = if joint { m.joint } else { m.op1 };
        let (_, prof) = sess.run_profiled(
            &[fetch.into()],
            &if joint {
                vec![(m.x, x.into()), (m.y1, y1.into()), (m.y2, y2.into())]
            } else {
                vec![(m.x, x.into()), (m.y1, y1.into())]
            },
        )?;
        eprintln!(
            "profile: {} at batch {batch}\n{prof}\nby op: {:?}\n",
            if joint { "joint" } else { "op1" },
            prof.by_op()
        );
    }
    Ok((median(&mut block_means), median(&mut singles)))
}

fn main() -> Result<()> {
    let g = Graph::with_seed(toy::SEED);
    let m = toy::build(&g)?;
    let data = ToyData::generate(1024 * 8, 7, 1);
    let mut rows = Vec::new();
    println!(
        "{:<6} {:>6} {:>16} {:>16}",
        "op", "batch", "us/step (blocks)", "us/step (single)"
    );
    for batch in [10usize, 1024] {
        for joint in [false, true] {
            let (blocks, single) = time_case(&g, &m, joint, batch, &data)?;
            let name = if joint { "joint" } else { "op1" };
            println!("{name:<6} {batch:>6} {blocks:>16.2} {single:>16.2}");
            rows.push(format!(
                "\"{name}_batch{batch}\":{{\"blocks_median_us\":{blocks:.3},\"single_median_us\":{single:.3}}}"
            ));
        }
    }
    println!(
        "{{\"bench\":\"toy_step\",\"optimizer\":\"{}\",\"us_per_step\":{{{}}}}}",
        toy::OPTIMIZER,
        rows.join(",")
    );
    Ok(())
}
