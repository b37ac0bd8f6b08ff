//! Single-thread sgemm throughput on the reference CNN's per-image conv shapes.
use ndarray::Array2;
use staticflow::ops::gemm::sgemm_serial;
use std::time::Instant;

fn main() {
    for &(m, k, n, imgs) in &[
        (1600usize, 75usize, 16usize, 1usize),
        (3200, 75, 16, 2),
        (400, 144, 48, 1),
        (1600, 144, 48, 4),
        (100, 432, 64, 1),
        (800, 432, 64, 8),
        (25, 256, 64, 1),
        (1600, 256, 64, 64),
    ] {
        let a = Array2::<f32>::from_elem((m, k), 0.5);
        let b = Array2::<f32>::from_elem((k, n), 0.25);
        let mut c = Array2::<f32>::zeros((m, n));
        let per = 64 / imgs;
        let flop = 2.0 * (m * k * n * per) as f64;
        for (label, which) in [("fwd a·b", 0), ("dW aᵀ·c", 1), ("dx c·bᵀ", 2)] {
            let mut best = f64::MAX;
            for _ in 0..15 {
                let t = Instant::now();
                for _ in 0..per {
                    match which {
                        0 => sgemm_serial(a.view(), b.view(), c.view_mut(), false),
                        1 => {
                            let mut w = Array2::<f32>::zeros((k, n));
                            sgemm_serial(a.t(), c.view(), w.view_mut(), true)
                        }
                        _ => {
                            let mut d = Array2::<f32>::zeros((m, k));
                            sgemm_serial(c.view(), b.t(), d.view_mut(), false)
                        }
                    }
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!(
                "[{m}x{k}]·[{k}x{n}] x{per} {label}: {:.2} ms  {:.0} GFLOP/s",
                best * 1e3,
                flop / best / 1e9
            );
        }
    }
}
