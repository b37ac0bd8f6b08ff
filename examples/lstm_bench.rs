//! Micro-benchmark of the fused LSTM op: batch 32, time 30, input 100, hidden 128.
//!
//! Prints median (p10 / p90) wall times of
//! - `forward`: the LSTM forward pass (fetching a scalar sum of its outputs);
//! - `forward+backward`: forward plus the gradients w.r.t. `x`, `w` and `b` of `sum(h * r)`;
//! - `train step`: the `rust-peers` `lstm_step` workload (a 45-way softmax head on every
//!   step, mean sparse cross-entropy over batch·time, Adam), comparable with
//!   `/work/shared/bench/rust-peers/RESULTS.md`;
//!
//! then the per-op profile of one train step.
//!
//! Run: `cargo run --release --example lstm_bench` (set `RAYON_NUM_THREADS=1` for a
//! single-threaded number like the peer's).
use ndarray::{Array1, Array2, Array3};
use staticflow::layers::lstm::Lstm;
use staticflow::prelude::*;
use std::time::Instant;

const B: usize = 32;
const T: usize = 30;
const I: usize = 100;
const H: usize = 128;
const C: usize = 45;
const WARMUP: usize = 10;
const STEPS: usize = 200;

/// Deterministic pseudo-random numbers in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// CPU time of this process (all threads) in ms, from `/proc/self/stat` (10 ms ticks; the
/// benchmark divides a total over all timed runs). NaN where unavailable.
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) * 10.0
}

fn stats((mut v, cpu): (Vec<f64>, f64)) -> String {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "wall median {:7.3} ms (p10 {:.3}, p90 {:.3}); cpu {cpu:.3} ms/run",
        q(0.5),
        q(0.1),
        q(0.9)
    )
}

struct Inputs<'g, 'a> {
    x: Tensor<'g>,
    m: Tensor<'g>,
    labels: Tensor<'g>,
    pool: &'a [(Array3<f32>, Array1<i64>)],
    mask: &'a Array2<f32>,
}

impl<'g> Inputs<'g, '_> {
    /// Wall times (ms) of `STEPS` runs of `fetch` after `WARMUP`, cycling the batch pool.
    fn time(
        &self,
        sess: &mut Session<'g>,
        fetch: Fetch<'g>,
        with_labels: bool,
    ) -> staticflow::Result<(Vec<f64>, f64)> {
        let mut v = Vec::with_capacity(STEPS);
        let mut cpu0 = 0.0;
        for k in 0..WARMUP + STEPS {
            let (xs, ys) = &self.pool[k % self.pool.len()];
            if k == WARMUP {
                cpu0 = cpu_ms();
            }
            let t0 = Instant::now();
            let mut feeds = vec![(self.x, xs.into()), (self.m, self.mask.into())];
            if with_labels {
                feeds.push((self.labels, ys.into()));
            }
            sess.run(&[fetch], &feeds)?;
            if k >= WARMUP {
                v.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        Ok((v, (cpu_ms() - cpu0) / STEPS as f64))
    }
}

fn main() -> staticflow::Result<()> {
    let mut rng = Lcg(42);
    let pool: Vec<(Array3<f32>, Array1<i64>)> = (0..4)
        .map(|_| {
            let x = Array3::from_shape_fn((B, T, I), |_| rng.next() * 1.7);
            let y = Array1::from_shape_fn(B * T, |_| ((rng.next() + 1.0) * 22.5) as i64 % C as i64);
            (x, y)
        })
        .collect();
    let mask = Array2::<f32>::ones((B, T));
    let r = Array3::from_shape_fn((B, T, H), |_| rng.next());

    let g = Graph::with_seed(0);
    let x = g.placeholder("x", [None, None, Some(I)]);
    let m = g.placeholder("mask", [None, None]);
    let labels = g.placeholder_typed("labels", DType::I64, [None]);
    let cell = Lstm::new(&g, "lstm", I, H);
    let h = cell.apply(x, m);
    let fwd = reduce_sum_all(h);
    let probe = reduce_sum_all(h * g.constant(r));
    let grads: Vec<Operation> = gradients(&[probe], &[x, cell.w, cell.b])?
        .into_iter()
        .map(|t| t.expect("connected").op())
        .collect();
    let fwd_bwd = group(&g, &grads);
    let wy = g.variable("head/w", init::glorot_uniform(&[H, C]));
    let by = g.variable("head/b", init::zeros(&[C]));
    let logits = matmul(reshape(h, &[-1, H as i64]), wy) + by;
    let loss = reduce_mean_all(sparse_softmax_cross_entropy_with_logits(labels, logits));
    let train = Adam::new(1e-3).minimize(loss)?;

    let mut sess = Session::new(&g);
    // CHECK_NUMERICS=1 measures the cost of checking every output for NaN/Inf.
    sess.set_check_numerics(std::env::var_os("CHECK_NUMERICS").is_some());
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    let inputs = Inputs {
        x,
        m,
        labels,
        pool: &pool,
        mask: &mask,
    };
    println!("LSTM batch {B}, time {T}, input {I}, hidden {H}; {STEPS} timed runs after {WARMUP} warm-up");
    println!(
        "forward           {}",
        stats(inputs.time(&mut sess, fwd.into(), false)?)
    );
    println!(
        "forward+backward  {}",
        stats(inputs.time(&mut sess, fwd_bwd.into(), false)?)
    );
    let first = sess
        .run(
            &[loss.into()],
            &[
                (x, (&pool[0].0).into()),
                (m, (&mask).into()),
                (labels, (&pool[0].1).into()),
            ],
        )?
        .scalar(0)?;
    println!(
        "train step        {}",
        stats(inputs.time(&mut sess, train.into(), true)?)
    );
    let (_, prof) = sess.run_profiled(
        &[train.into(), loss.into()],
        &[
            (x, (&pool[0].0).into()),
            (m, (&mask).into()),
            (labels, (&pool[0].1).into()),
        ],
    )?;
    let last = sess
        .run(
            &[loss.into()],
            &[
                (x, (&pool[0].0).into()),
                (m, (&mask).into()),
                (labels, (&pool[0].1).into()),
            ],
        )?
        .scalar(0)?;
    println!(
        "loss on batch 0: {first:.3} -> {last:.3} (ln {C} = {:.3})",
        (C as f32).ln()
    );
    println!("train step profile by op (us):");
    for (op, us) in prof.by_op().iter().take(10) {
        println!("  {op:<28} {us:10.1}");
    }
    Ok(())
}
