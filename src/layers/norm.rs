//! Normalisation layers with their variables: batch normalisation (TF1's
//! `tf.layers.batch_normalization`, moving averages updated by ops in the `UPDATE_OPS`
//! collection) and layer normalisation (`tf.contrib.layers.layer_norm`).

use crate::graph::{DType, GraphKeys, Operation, Tensor};
use crate::init;
use crate::ops::binary::maximum;
use crate::ops::conv::invalid;
use crate::ops::norm::{batch_normalization, moments};
use crate::ops::reduce::reduce_sum;
use crate::ops::select::where_;
use crate::ops::state::assign;
use crate::ops::unary::{unary, UnaryKind};

/// Settings of [`BatchNormalization`]; the defaults are TF1's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormOptions {
    /// Weight of the old value in the moving averages (TF1: 0.99).
    pub momentum: f32,
    /// Added to the variance before the square root (TF1: 1e-3).
    pub epsilon: f32,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            momentum: 0.99,
            epsilon: 1e-3,
        }
    }
}

/// A built batch normalisation layer over the last axis (TF1's
/// `tf.layers.batch_normalization(x, training=training)` with `axis=-1`): its output, its
/// variables and its two update ops.
///
/// With `training` true the output normalises `x` by the statistics of the batch (mean and
/// biased variance over every axis but the last, differentiated through as in TF1); with
/// `training` false, by the moving averages. The update ops, also added to the graph's
/// [`GraphKeys::UPDATE_OPS`] collection, set `moving = moving - (moving - batch) * (1 -
/// momentum)` when `training` is true and leave the moving averages bit-identical when it is
/// false. As TF1 (whose fused kernel serves rank-4 input), the moving variance of a rank-4
/// `x` takes the unbiased batch variance (`n / (n - 1)` times the biased one, `n` elements
/// per channel); of other ranks, the biased one. As in TF1 nothing runs them unless asked: build the train op under
/// `g.control_dependencies(&g.get_collection_ops(GraphKeys::UPDATE_OPS))`.
///
/// ```
/// use staticflow::prelude::*;
/// use staticflow::layers::BatchNormalization;
/// let g = Graph::new();
/// let x = g.placeholder("x", &[None, Some(3)]);
/// let training = placeholder_with_default(g.constant(false), "training");
/// let bn = BatchNormalization::new(x, training, "batch_normalization");
/// let loss = reduce_mean_all(square(bn.output));
/// let update_ops = g.get_collection_ops(GraphKeys::UPDATE_OPS);
/// let train = {
///     let _deps = g.control_dependencies(&update_ops);
///     GradientDescent::new(0.1).minimize(loss).unwrap()
/// };
/// let mut sess = Session::new(&g);
/// sess.run(&[g.global_variables_initializer().into()], &[]).unwrap();
/// let xv = ndarray::arr2(&[[1.0f32, 2.0, 3.0], [3.0, 2.0, 1.0]]);
/// let t = ndarray::arr0(true);
/// sess.run(&[train.into()], &[(x, (&xv).into()), (training, (&t).into())]).unwrap();
/// let mm = sess.variable_value(bn.moving_mean).unwrap();
/// assert!((mm.as_f32().unwrap()[[0]] - 0.02).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BatchNormalization<'g> {
    /// The normalised input: `x`'s shape.
    pub output: Tensor<'g>,
    /// Scale `[channels]`, ones initialised, named `<scope>/gamma`.
    pub gamma: Tensor<'g>,
    /// Offset `[channels]`, zeros initialised, named `<scope>/beta`.
    pub beta: Tensor<'g>,
    /// Moving mean `[channels]`, zeros initialised, not trainable, `<scope>/moving_mean`.
    pub moving_mean: Tensor<'g>,
    /// Moving variance `[channels]`, ones initialised, not trainable,
    /// `<scope>/moving_variance`.
    pub moving_variance: Tensor<'g>,
    /// The moving-average updates (mean, variance), also in [`GraphKeys::UPDATE_OPS`].
    pub update_ops: [Operation<'g>; 2],
}

impl<'g> BatchNormalization<'g> {
    /// Batch normalisation of `x [batch, .., channels]` (rank >= 2, `channels` known
    /// statically) with TF1's defaults (momentum 0.99, epsilon 1e-3); `training` is a bool
    /// scalar tensor, typically `placeholder_with_default(g.constant(false), "training")`.
    /// Variables go under the name scope `name/` (made unique if already used). A bad
    /// operand gives poisoned tensors whose build error names it.
    pub fn new(x: Tensor<'g>, training: Tensor<'g>, name: &str) -> Self {
        Self::with_options(x, training, BatchNormOptions::default(), name)
    }

    /// As [`BatchNormalization::new`] with other settings.
    pub fn with_options(
        x: Tensor<'g>,
        training: Tensor<'g>,
        options: BatchNormOptions,
        name: &str,
    ) -> Self {
        let g = x.graph();
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let s = x.shape();
        let channels = match (s.rank(), s.0.last().copied().flatten()) {
            (r, Some(c)) if r >= 2 => c,
            _ => {
                let msg = format!(
                    "batch_normalization needs x [batch, .., channels] (rank >= 2) with channels known statically, got {s}"
                );
                return Self::poisoned(invalid(&[x], msg, "batch_normalization"));
            }
        };
        let ti = training.info();
        if ti.as_ref().map(|i| (i.dtype, i.shape.rank())) != Some((DType::Bool, 0)) {
            let got = ti.map_or("a failed tensor".to_string(), |i| i.to_string());
            let msg = format!("batch_normalization needs a bool scalar `training`, got {got}");
            return Self::poisoned(invalid(&[training, x], msg, "batch_normalization"));
        }
        let gamma = g.variable("gamma", init::ones(&[channels]));
        let beta = g.variable("beta", init::zeros(&[channels]));
        let moving_mean = g.non_trainable_variable("moving_mean", init::zeros(&[channels]));
        let moving_variance = g.non_trainable_variable("moving_variance", init::ones(&[channels]));
        let axes: Vec<i64> = (0..s.rank() as i64 - 1).collect();
        let (batch_mean, batch_variance) = moments(x, &axes, false);
        let mean = where_(training, batch_mean, moving_mean);
        let variance = where_(training, batch_variance, moving_variance);
        let output =
            batch_normalization(x, mean, variance, Some(beta), Some(gamma), options.epsilon);
        // TF1's `_assign_moving_average`: decay = 1 - momentum (rounded once to f32).
        let decay = (1.0 - options.momentum as f64) as f32;
        let update = |var: Tensor<'g>, batch: Tensor<'g>, scope: &str| {
            let _s = g.name_scope(&g.unique_scope(scope));
            let new = var - (var - batch) * decay;
            let op = assign(var, where_(training, new, var));
            g.add_op_to_collection(GraphKeys::UPDATE_OPS, op);
            op
        };
        // On NHWC input TF1 runs its fused kernel, whose moving variance takes the unbiased
        // batch variance: `variance * n / max(n - 1, 1)`, `n` elements per channel.
        let moving_batch_variance = if s.rank() == 4 {
            let n = reduce_sum(unary(UnaryKind::ZerosLike, x) + 1.0, &axes, false);
            batch_variance * n / maximum(n - 1.0, g.constant(1.0f32))
        } else {
            batch_variance
        };
        let update_ops = [
            update(moving_mean, batch_mean, "AssignMovingAvg"),
            update(moving_variance, moving_batch_variance, "AssignMovingAvg"),
        ];
        BatchNormalization {
            output,
            gamma,
            beta,
            moving_mean,
            moving_variance,
            update_ops,
        }
    }

    fn poisoned(e: Tensor<'g>) -> Self {
        BatchNormalization {
            output: e,
            gamma: e,
            beta: e,
            moving_mean: e,
            moving_variance: e,
            update_ops: [e.op(), e.op()],
        }
    }
}

/// Batch normalisation over the last axis with TF1's defaults: `x [batch, .., channels]` ->
/// the same shape. See [`BatchNormalization`] (variables, update ops, the `training` flag).
pub fn batch_normalization_layer<'g>(
    x: Tensor<'g>,
    training: Tensor<'g>,
    name: &str,
) -> Tensor<'g> {
    BatchNormalization::new(x, training, name).output
}

/// A built layer normalisation (TF1's `tf.contrib.layers.layer_norm`): its output and its
/// variables.
///
/// Each example is normalised by the mean and biased variance of its elements over the axes
/// `begin_norm_axis..` (contrib's default 1: every axis but the batch), then scaled by
/// `gamma` and shifted by `beta`, whose shape is `x`'s from `begin_params_axis` on
/// (contrib's default -1: the last axis). Epsilon is contrib's 1e-12. Gradients flow
/// through the statistics.
#[derive(Clone, Copy, Debug)]
pub struct LayerNorm<'g> {
    /// The normalised input: `x`'s shape.
    pub output: Tensor<'g>,
    /// Scale, `x`'s shape from `begin_params_axis`, ones initialised, `<scope>/gamma`.
    pub gamma: Tensor<'g>,
    /// Offset, the shape of `gamma`, zeros initialised, `<scope>/beta`.
    pub beta: Tensor<'g>,
}

/// Contrib's `layer_norm` epsilon for f32.
pub const LAYER_NORM_EPSILON: f32 = 1e-12;

impl<'g> LayerNorm<'g> {
    /// Layer normalisation of `x` (rank >= 2) over the axes from `begin_norm_axis`, with
    /// parameters over the axes from `begin_params_axis` (negative axes count from the end;
    /// both must be within the rank, and `x`'s shape from `begin_params_axis` must be known
    /// statically). Variables go under the name scope `name/` (contrib's default name is
    /// `LayerNorm`). A bad operand gives poisoned tensors whose build error names it.
    pub fn new(x: Tensor<'g>, begin_norm_axis: i64, begin_params_axis: i64, name: &str) -> Self {
        let g = x.graph();
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let s = x.shape();
        let rank = s.rank() as i64;
        let norm = if begin_norm_axis < 0 {
            begin_norm_axis + rank
        } else {
            begin_norm_axis
        };
        let params = if begin_params_axis < 0 {
            begin_params_axis + rank
        } else {
            begin_params_axis
        };
        let ok = rank >= 2 && (0..rank).contains(&norm) && (0..rank).contains(&params);
        let pshape = ok
            .then(|| crate::graph::Shape(s.0[params as usize..].to_vec()).to_vec())
            .flatten();
        let Some(pshape) = pshape else {
            let msg = format!(
                "layer_norm needs x of rank >= 2 with begin_norm_axis {begin_norm_axis} and begin_params_axis {begin_params_axis} within its rank and its dimensions from begin_params_axis known statically, got {s}"
            );
            let e = invalid(&[x], msg, "layer_norm");
            return LayerNorm {
                output: e,
                gamma: e,
                beta: e,
            };
        };
        let beta = g.variable("beta", init::zeros(&pshape));
        let gamma = g.variable("gamma", init::ones(&pshape));
        let axes: Vec<i64> = (norm..rank).collect();
        let (mean, variance) = moments(x, &axes, true);
        let output = batch_normalization(
            x,
            mean,
            variance,
            Some(beta),
            Some(gamma),
            LAYER_NORM_EPSILON,
        );
        LayerNorm {
            output,
            gamma,
            beta,
        }
    }
}

/// Layer normalisation with contrib's defaults (`begin_norm_axis` 1, `begin_params_axis`
/// -1): `x [batch, ..]` -> the same shape. See [`LayerNorm`].
pub fn layer_norm<'g>(x: Tensor<'g>, name: &str) -> Tensor<'g> {
    LayerNorm::new(x, 1, -1, name).output
}
