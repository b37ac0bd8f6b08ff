//! The classic two-task toy network ("multi-task learning in TensorFlow"), as one builder that
//! the `toy_two_task` example, the `toy_step` benchmark and the golden-graph test share:
//!
//! ```text
//! x [?, 10] -> shared = relu(x · shared/w [10, 20])
//!   task 1: out1 = relu(shared · task1/w [20, 1]); loss1 = l2_loss(y1 - out1)
//!   task 2: out2 = relu(shared · task2/w [20, 1]); loss2 = l2_loss(y2 - out2)
//! op1 = Adam(1e-3).minimize(loss1)          updates shared/w and task1/w
//! op2 = Adam(1e-3).minimize(loss2)          updates shared/w and task2/w
//! joint = Adam(1e-3).minimize(loss1 + loss2) updates all three
//! ```
//!
//! Each optimizer has its own slots (`Adam/...`, `Adam_1/...`, `Adam_2/...`).

use crate::error::Result;
use crate::graph::{Graph, Operation, Tensor};
use crate::init;
use crate::ops::matmul::matmul;
use crate::ops::reduce::l2_loss;
use crate::ops::unary::relu;
use crate::train::{Adam as TaskOptimizer, Optimizer};
use ndarray::{s, Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The optimizer the three train ops use.
pub const OPTIMIZER: &str = "Adam";
/// Learning rate of the three optimizers.
pub const LEARNING_RATE: f32 = 1e-3;
/// Input features.
pub const INPUTS: usize = 10;
/// Shared hidden units.
pub const HIDDEN: usize = 20;
/// Graph-level seed used by [`build`]'s callers in the example, benchmark and golden test.
pub const SEED: u64 = 1;

/// Handles to every part of the toy network.
#[derive(Clone, Copy, Debug)]
pub struct ToyTwoTask<'g> {
    /// Input, `[?, 10]`.
    pub x: Tensor<'g>,
    /// Task-1 target, `[?, 1]`.
    pub y1: Tensor<'g>,
    /// Task-2 target, `[?, 1]`.
    pub y2: Tensor<'g>,
    /// Shared weights `shared/w`, `[10, 20]`.
    pub ws: Tensor<'g>,
    /// Task-1 weights `task1/w`, `[20, 1]`.
    pub w1: Tensor<'g>,
    /// Task-2 weights `task2/w`, `[20, 1]`.
    pub w2: Tensor<'g>,
    /// Shared layer `relu(x · ws)`, `[?, 20]`.
    pub shared: Tensor<'g>,
    /// Task-1 output, `[?, 1]`.
    pub out1: Tensor<'g>,
    /// Task-2 output, `[?, 1]`.
    pub out2: Tensor<'g>,
    /// Task-1 loss `l2_loss(y1 - out1)` (half the sum of squares), scalar.
    pub loss1: Tensor<'g>,
    /// Task-2 loss, scalar.
    pub loss2: Tensor<'g>,
    /// `loss1 + loss2`, scalar.
    pub joint_loss: Tensor<'g>,
    /// Task-1 train op (updates `shared/w`, `task1/w`).
    pub op1: Operation<'g>,
    /// Task-2 train op (updates `shared/w`, `task2/w`).
    pub op2: Operation<'g>,
    /// Joint train op (updates all three).
    pub joint: Operation<'g>,
    /// `global_variables_initializer()`.
    pub init: Operation<'g>,
}

/// Builds the toy network into `g` (use `Graph::with_seed(SEED)` for the reference graph).
pub fn build(g: &Graph) -> Result<ToyTwoTask<'_>> {
    let x = g.placeholder("x", [None, Some(INPUTS)]);
    let y1 = g.placeholder("y1", [None, Some(1)]);
    let y2 = g.placeholder("y2", [None, Some(1)]);
    let ws = g.variable("shared/w", init::glorot_uniform(&[INPUTS, HIDDEN]));
    let w1 = g.variable("task1/w", init::glorot_uniform(&[HIDDEN, 1]));
    let w2 = g.variable("task2/w", init::glorot_uniform(&[HIDDEN, 1]));
    let shared = g.with_scope("shared", || relu(matmul(x, ws)));
    let (out1, loss1) = g.with_scope("task1", || {
        let out = relu(matmul(shared, w1));
        (out, l2_loss(y1 - out).named("loss"))
    });
    let (out2, loss2) = g.with_scope("task2", || {
        let out = relu(matmul(shared, w2));
        (out, l2_loss(y2 - out).named("loss"))
    });
    let joint_loss = (loss1 + loss2).named("joint_loss");
    let op1 = TaskOptimizer::new(LEARNING_RATE).minimize(loss1)?;
    let op2 = TaskOptimizer::new(LEARNING_RATE).minimize(loss2)?;
    let joint = TaskOptimizer::new(LEARNING_RATE).minimize(joint_loss)?;
    let init = g.global_variables_initializer();
    g.check()?;
    Ok(ToyTwoTask {
        x,
        y1,
        y2,
        ws,
        w1,
        w2,
        shared,
        out1,
        out2,
        loss1,
        loss2,
        joint_loss,
        op1,
        op2,
        joint,
        init,
    })
}

/// Generated data for the two tasks. Both targets are functions of the same hidden features
/// `z = relu(x · A)` (`A` is `[10, 5]`), read out with different non-negative weights plus a
/// little noise, so a shared layer helps both tasks.
#[derive(Clone, Debug)]
pub struct ToyData {
    /// Inputs, `[n, 10]`, standard normal.
    pub x: Array2<f32>,
    /// Task-1 targets, `[n, 1]`, non-negative.
    pub y1: Array2<f32>,
    /// Task-2 targets, `[n, 1]`, non-negative.
    pub y2: Array2<f32>,
}

impl ToyData {
    /// `n` examples drawn from the generator seeded with `seed`. The hidden structure (`A`
    /// and the read-out weights) depends only on `structure_seed`, so a training set and a
    /// held-out set share it.
    pub fn generate(n: usize, structure_seed: u64, seed: u64) -> ToyData {
        let mut srng = StdRng::seed_from_u64(structure_seed);
        let a = Array2::from_shape_fn((INPUTS, 5), |_| normal(&mut srng) / (INPUTS as f32).sqrt());
        let b1: Vec<f32> = (0..5).map(|_| srng.gen_range(0.2..1.0)).collect();
        let b2: Vec<f32> = (0..5).map(|_| srng.gen_range(0.2..1.0)).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((n, INPUTS), |_| normal(&mut rng));
        let z = x.dot(&a).mapv(|v| v.max(0.0));
        let mut y1 = Array2::zeros((n, 1));
        let mut y2 = Array2::zeros((n, 1));
        for i in 0..n {
            let zi = z.row(i);
            let t1: f32 = zi.iter().zip(&b1).map(|(z, b)| z * b).sum();
            let t2: f32 = zi.iter().zip(&b2).map(|(z, b)| z * b).sum();
            y1[[i, 0]] = (t1 + 0.05 * normal(&mut rng)).max(0.0);
            y2[[i, 0]] = (t2 + 0.05 * normal(&mut rng)).max(0.0);
        }
        ToyData { x, y1, y2 }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// True if there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batch `k` of `size` rows (batches cycle through the data without copying):
    /// views `(x [size, 10], y1 [size, 1], y2 [size, 1])`.
    pub fn batch(
        &self,
        k: usize,
        size: usize,
    ) -> (
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
    ) {
        let per_epoch = (self.len() / size).max(1);
        let start = (k % per_epoch) * size;
        let r = s![start..start + size, ..];
        (self.x.slice(r), self.y1.slice(r), self.y2.slice(r))
    }
}

/// A standard normal draw (Box-Muller), to keep the data generator dependency-free.
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
