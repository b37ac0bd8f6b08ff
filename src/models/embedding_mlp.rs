//! A small model with a dense input and an embedding (sparse-gradient) input, and one linear
//! regression head per task on a shared tanh layer; its synthetic batches are a pure function
//! of the step, so every rank of a data-parallel run draws the same global batch. The
//! `data_parallel` example and the distributed tests share it:
//!
//! ```text
//! x [?, 4], ids [?] (i64 in 0..10)
//! h = tanh(concat(x, emb[ids]) · w1 + b1)           emb [10, 3], w1 [7, hidden], b1 [hidden]
//! task t: loss_t = mean((h · head_t/w - y_t)^2)     head_t/w [hidden, 1], y_t [?, 1]
//! ```
//!
//! Each loss is a mean over the batch, so the mean of the gradients of equal shards is the
//! gradient of the whole batch.

use crate::graph::{DType, Graph, Tensor};
use crate::init;
use crate::ops::concat::concat;
use crate::ops::gather::embedding_lookup;
use crate::ops::matmul::matmul;
use crate::ops::reduce::reduce_mean_all;
use crate::ops::unary::{square, tanh};
use crate::session::Feed;
use ndarray::{ArrayD, Axis, IxDyn, Slice};
use std::ops::Range;

/// Input features besides the embedding.
pub const INPUTS: usize = 4;
/// Rows of the embedding table (the ids' range).
pub const VOCABULARY: usize = 10;
/// Width of an embedding row.
pub const EMBEDDING: usize = 3;

/// Handles to the model's inputs, representation and losses.
#[derive(Clone, Debug)]
pub struct EmbeddingMlp<'g> {
    /// Dense input `x`, `[?, 4]`.
    pub x: Tensor<'g>,
    /// Embedding ids `ids`, i64 `[?]`.
    pub ids: Tensor<'g>,
    /// The shared representation `h`, `[?, hidden]`.
    pub h: Tensor<'g>,
    /// Task `t`'s target `y{t}`, `[?, 1]`.
    pub targets: Vec<Tensor<'g>>,
    /// Task `t`'s loss `loss{t}`, scalar.
    pub losses: Vec<Tensor<'g>>,
}

/// Builds the model with a `hidden`-unit shared layer and `tasks` heads into `g`. Variables:
/// `emb`, `w1`, `b1` (shared), `head{t}/w` (task `t`), initialised from the graph's seed.
pub fn build(g: &Graph, hidden: usize, tasks: usize) -> EmbeddingMlp<'_> {
    let x = g.placeholder("x", [None, Some(INPUTS)]);
    let ids = g.placeholder_typed("ids", DType::I64, [None]);
    let emb = g.variable(
        "emb",
        init::random_uniform(&[VOCABULARY, EMBEDDING], -0.5, 0.5),
    );
    let w1 = g.variable("w1", init::glorot_uniform(&[INPUTS + EMBEDDING, hidden]));
    let b1 = g.variable("b1", init::random_uniform(&[hidden], -0.1, 0.1));
    let h = tanh(matmul(concat(&[x, embedding_lookup(emb, ids)], 1), w1) + b1).named("h");
    let (mut targets, mut losses) = (Vec::new(), Vec::new());
    for t in 0..tasks {
        let y = g.placeholder(&format!("y{t}"), [None, Some(1)]);
        let w = g.variable(&format!("head{t}/w"), init::glorot_uniform(&[hidden, 1]));
        losses.push(reduce_mean_all(square(matmul(h, w) - y)).named(&format!("loss{t}")));
        targets.push(y);
    }
    EmbeddingMlp {
        x,
        ids,
        h,
        targets,
        losses,
    }
}

/// One batch of inputs and targets for [`EmbeddingMlp`].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[n, 4]`.
    pub x: ArrayD<f32>,
    /// `[n]`, in `0..10`.
    pub ids: ArrayD<i64>,
    /// One `[n, 1]` target per task.
    pub targets: Vec<ArrayD<f32>>,
}

impl Batch {
    /// One global batch of `n` examples for step `step`, values in [-1, 1). Deterministic in
    /// `(step, n, tasks)`: every rank draws the same batch.
    pub fn synthetic(step: usize, n: usize, tasks: usize) -> Self {
        let f = |i: usize, salt: usize| {
            ((i.wrapping_mul(2_654_435_761) + step * 97 + salt) % 1000) as f32 / 500.0 - 1.0
        };
        let x = ArrayD::from_shape_fn(IxDyn(&[n, INPUTS]), |i| f(i[0] * INPUTS + i[1], 1));
        let ids =
            ArrayD::from_shape_fn(IxDyn(&[n]), |i| ((i[0] * 7 + step * 3) % VOCABULARY) as i64);
        let targets = (0..tasks)
            .map(|t| ArrayD::from_shape_fn(IxDyn(&[n, 1]), |i| f(i[0], 7 + 13 * t)))
            .collect();
        Batch { x, ids, targets }
    }

    /// Examples `rows` of the batch (a rank's shard: see
    /// [`crate::distributed::shard_range`]).
    pub fn rows(&self, rows: Range<usize>) -> Self {
        let cut = |a: &ArrayD<f32>| a.slice_axis(Axis(0), Slice::from(rows.clone())).to_owned();
        Batch {
            x: cut(&self.x),
            ids: self
                .ids
                .slice_axis(Axis(0), Slice::from(rows.clone()))
                .to_owned(),
            targets: self.targets.iter().map(cut).collect(),
        }
    }

    /// Feeds for `m`: `x`, `ids` and the targets of the first `tasks` tasks.
    pub fn feeds<'g, 'a>(&'a self, m: &EmbeddingMlp<'g>, tasks: usize) -> Vec<Feed<'g, 'a>> {
        let mut feeds: Vec<Feed<'g, 'a>> =
            vec![(m.x, (&self.x).into()), (m.ids, (&self.ids).into())];
        for (y, v) in m.targets.iter().zip(&self.targets).take(tasks) {
            feeds.push((*y, v.into()));
        }
        feeds
    }
}
