//! How graph building, `minimize`, the first run (plan compilation) and a step grow with the
//! graph: the staticflow side of `shared/bench/graph_scale_tf1.py`, with the same graphs and
//! definitions.
//!
//! ```text
//! cargo run --release --example graph_scale -- [--shape chain|wide] [N ...]   (default 1000 10000)
//! ```
//!
//! - `chain N`: `x[4,8] @ w[8,8]`, then N ops alternating `tanh(h)` and `h * 0.99`, loss
//!   `reduce_sum_all(h)`.
//! - `wide N`: N branches `tanh(x @ w_k) * 0.99` (`w_k` [8,8] each), loss
//!   `reduce_sum_all(add_n(branches))`.
//!
//! For each N it prints one JSON line on stdout, `{"framework":"staticflow","shape":..,"n":..,
//! "nodes":..,"build_s":..,"minimize_s":..,"first_run_s":..,"step_s":..,"bytes_per_node":..}`:
//! `nodes` is the node count after `minimize`; `build_s` the forward graph; `minimize_s`
//! `GradientDescent(0.01).minimize(loss)` (gradients and apply ops); `first_run_s` the first
//! `run([train, loss])` after the initializer (plan compilation plus one step); `step_s` the
//! median of 5 later steps; `bytes_per_node` the heap the graph holds after `minimize`
//! (measured by a counting allocator), per node. Session creation and the initializer run are
//! not timed, as in the TF1 script. A readable line per N goes to stderr, adding the executor
//! time per executed node and the heap held by the compiled plan of `[train, loss]`.

use staticflow::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

mod common;

const USAGE: &str = "usage: graph_scale [--shape chain|wide] [N ...]   (default 1000 10000)";

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

struct Args {
    wide: bool,
    sizes: Vec<usize>,
}

fn parse_args(p: &mut lexopt::Parser) -> std::result::Result<Args, lexopt::Error> {
    use lexopt::Arg;
    let mut args = Args {
        wide: false,
        sizes: Vec::new(),
    };
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("shape") => {
                args.wide = common::choice(p, "--shape", &["chain", "wide"])? == "wide"
            }
            Arg::Short('h') | Arg::Long("help") => common::help(USAGE),
            Arg::Value(v) => {
                let v = v.to_string_lossy().into_owned();
                let n = v
                    .parse()
                    .map_err(|_| common::bad("N", "a non-negative integer", &v))?;
                args.sizes.push(n);
            }
            a => return Err(common::unknown(a)),
        }
    }
    if args.sizes.is_empty() {
        args.sizes = vec![1000, 10000];
    }
    Ok(args)
}

/// The JSON line, keys in the TF1 script's order plus `bytes_per_node`.
#[derive(serde::Serialize)]
struct Line {
    framework: &'static str,
    shape: &'static str,
    n: usize,
    nodes: usize,
    build_s: f64,
    minimize_s: f64,
    first_run_s: f64,
    step_s: f64,
    bytes_per_node: f64,
}

/// One measured size.
struct Row {
    nodes: usize,
    build_s: f64,
    minimize_s: f64,
    first_run_s: f64,
    step_s: f64,
    graph_bytes: isize,
    plan_bytes: isize,
    plan_steps: usize,
}

fn measure(wide: bool, n: usize) -> Result<Row> {
    let before = live();
    let g = Graph::with_seed(0);
    let t0 = Instant::now();
    let x = g.placeholder("x", [Some(4), Some(8)]);
    let loss = if wide {
        let parts: Vec<Tensor> = (0..n)
            .map(|k| {
                let w = g.variable(&format!("w{k}"), init::glorot_uniform(&[8, 8]));
                tanh(matmul(x, w)) * 0.99
            })
            .collect();
        reduce_sum_all(add_n(&parts))
    } else {
        let w = g.variable("w", init::glorot_uniform(&[8, 8]));
        let mut h = matmul(x, w);
        for i in 0..n {
            h = if i % 2 == 0 { tanh(h) } else { h * 0.99 };
        }
        reduce_sum_all(h)
    };
    let build_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let train = GradientDescent::new(0.01).minimize(loss)?;
    let minimize_s = t1.elapsed().as_secs_f64();
    let nodes = g.len();
    let graph_bytes = live() - before;

    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])?;
    let xs = ndarray::Array2::<f32>::ones((4, 8));
    let fetches = [train.into(), loss.into()];
    let feeds = [(x, (&xs).into())];
    let before_plan = live();
    let t2 = Instant::now();
    sess.run(&fetches, &feeds)?;
    let first_run_s = t2.elapsed().as_secs_f64();
    let plan_bytes = live() - before_plan;
    let mut steps = Vec::with_capacity(5);
    for _ in 0..5 {
        let t3 = Instant::now();
        sess.run(&fetches, &feeds)?;
        steps.push(t3.elapsed().as_secs_f64());
    }
    steps.sort_by(f64::total_cmp);
    let plan_steps = sess.plan_len(&fetches, &feeds)?;
    Ok(Row {
        nodes,
        build_s,
        minimize_s,
        first_run_s,
        step_s: steps[2],
        graph_bytes,
        plan_bytes,
        plan_steps,
    })
}

fn main() -> Result<()> {
    let args = common::parse_or_exit(USAGE, parse_args);
    let shape = if args.wide { "wide" } else { "chain" };
    for &n in &args.sizes {
        let r = measure(args.wide, n)?;
        let per_node = |s: f64| s / r.nodes as f64 * 1e9;
        eprintln!(
            "{shape} {n}: {} nodes, build {:.4} s, minimize {:.4} s, first run {:.4} s, step {:.3} ms \
             | per node: build {:.0} ns, minimize {:.0} ns, first run {:.0} ns, graph {} B \
             | plan: {} kernels, {:.0} ns per executed kernel, {} B ({:.0} B per kernel)",
            r.nodes,
            r.build_s,
            r.minimize_s,
            r.first_run_s,
            r.step_s * 1e3,
            per_node(r.build_s),
            per_node(r.minimize_s),
            per_node(r.first_run_s),
            r.graph_bytes / r.nodes as isize,
            r.plan_steps,
            r.step_s / r.plan_steps as f64 * 1e9,
            r.plan_bytes,
            r.plan_bytes as f64 / r.plan_steps as f64,
        );
        let line = Line {
            framework: "staticflow",
            shape,
            n,
            nodes: r.nodes,
            build_s: r.build_s,
            minimize_s: r.minimize_s,
            first_run_s: r.first_run_s,
            step_s: r.step_s,
            bytes_per_node: r.graph_bytes as f64 / r.nodes as f64,
        };
        let line = serde_json::to_string(&line).expect("plain numbers serialise");
        println!("{line}");
    }
    Ok(())
}
