//! Times the reference MTFL CNN at batch 64: the conv stack's forward pass, the whole
//! network's forward + gradients of every variable, and a plain SGD train step. `cargo run --release --example conv_bench`.
use staticflow::prelude::*;
use std::time::Instant;

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let iters: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let g = Graph::with_seed(0);
    let x = g.placeholder("x", [None, Some(40), Some(40), Some(3)]);
    let (s, p, r) = ([1, 1], Padding::Same, Activation::Relu);
    let pool = |h| max_pool2d(h, [2, 2], [2, 2], Padding::Valid);
    let h = pool(conv2d_layer(x, 16, [5, 5], s, p, r, "conv1"));
    let h = pool(conv2d_layer(h, 48, [3, 3], s, p, r, "conv2"));
    let h = pool(conv2d_layer(h, 64, [3, 3], s, p, r, "conv3"));
    let h = conv2d_layer(h, 64, [2, 2], s, p, r, "conv4");
    // The heads of the reference network (nose MSE + pose softmax cross-entropy) on a dense 100.
    let fc = dense(flatten(h), 100, r, "fc");
    let nose = dense(fc, 2, Activation::None, "nose");
    let pose = dense(fc, 5, Activation::None, "pose");
    let nose_t = g.placeholder("nose_t", [None, Some(2)]);
    let pose_t = g.placeholder_typed("pose_t", DType::I64, [None]);
    let loss = reduce_mean_all(square(nose - nose_t))
        + reduce_mean_all(sparse_softmax_cross_entropy_with_logits(pose_t, pose));
    let vars = g.trainable_variables();
    let grads: Vec<Tensor> = gradients(&[loss], &vars)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let ops: Vec<Operation> = grads.iter().map(|t| t.op()).collect();
    let bwd = staticflow::group(&g, &ops);
    let train = GradientDescent::new(0.01).minimize(loss).unwrap();
    let mut sess = Session::new(&g);
    // CHECK_NUMERICS=1 measures the cost of checking every output for NaN/Inf.
    sess.set_check_numerics(std::env::var_os("CHECK_NUMERICS").is_some());
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let xs = ndarray::Array4::<f32>::from_shape_fn((batch, 40, 40, 3), |(a, b, c, d)| {
        ((a * 7 + b * 3 + c * 5 + d) % 17) as f32 / 17.0
    });
    let nt = ndarray::Array2::<f32>::from_elem((batch, 2), 0.5);
    let pt = ndarray::Array1::<i64>::from_shape_fn(batch, |i| (i % 5) as i64);
    let feeds = [
        (x, (&xs).into()),
        (nose_t, (&nt).into()),
        (pose_t, (&pt).into()),
    ];
    for (label, fetch) in [
        ("conv stack forward", Fetch::Op(h.op())),
        ("whole net forward + all gradients", Fetch::Op(bwd)),
        ("train step (SGD)", Fetch::Op(train)),
    ] {
        for _ in 0..5 {
            sess.run(&[fetch], &feeds).unwrap();
        }
        let mut times = Vec::new();
        let cpu0 = cpu_ms();
        for _ in 0..iters {
            let t = Instant::now();
            sess.run(&[fetch], &feeds).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_ms() - cpu0) / iters as f64;
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{label}: median {:.2} ms, min {:.2} ms, process CPU {cpu:.2} ms/step (batch {batch}, {iters} runs)",
            times[iters / 2],
            times[0]
        );
        let mut agg: Vec<(String, f64)> = Vec::new();
        for _ in 0..iters {
            let (_, prof) = sess.run_profiled(&[fetch], &feeds).unwrap();
            for e in prof.entries {
                let key = format!("{:<22} {:<40}", e.op, e.name);
                match agg.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, t)) => *t = t.min(e.micros),
                    None => agg.push((key, e.micros)),
                }
            }
        }
        let total: f64 = agg.iter().map(|(_, t)| t).sum();
        println!(
            "  sum of per-op minima over {iters} profiled runs: {:.2} ms",
            total / 1e3
        );
        if std::env::var("PROFILE").is_ok() {
            for (k, t) in agg {
                println!("  {k} {t:>9.0} us");
            }
        }
    }
}

/// User + system CPU time of the whole process so far, in ms (from /proc; 0 elsewhere).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) * 10.0
}
