//! The face-landmark multi-task CNN of the TF1 "Head API" tutorial (used by
//! `examples/face_landmarks.rs` and the golden graph files `graphs/face_landmarks.*`).
//!
//! Input `x [batch, 40, 40, 3]`; optional input standardisation; conv 16 5x5 same relu,
//! maxpool 2; conv 48 3x3 relu, maxpool 2; conv 64 3x3 relu, maxpool 2; conv 64 2x2 relu;
//! flatten (5·5·64); dense 100 relu; one linear layer `<head>_logits` per head.
//!
//! [`Recipe`] (file `recipe.rs`) is the example's training recipe on MTFL: heads, scaling,
//! augmentation, class weights, schedule, and one train/evaluate/predict run.

mod recipe;
pub use recipe::{
    ClassWeighting, InputScaling, LrSchedule, Parallel, PreparedData, Recipe, RunResult, Task,
};

use crate::error::Result;
use crate::graph::{Graph, Tensor};
use crate::heads::{Head, Mode, MultiClassHead, MultiHead, MultiHeadSpec, RegressionHead};
use crate::layers::{batch_normalization_layer, conv2d_layer, dense, Activation};
use crate::ops::conv::Padding;
use crate::train::Optimizer;

/// Graph seed of the reference build.
pub const SEED: u64 = 0;
/// Input side length.
pub const SIZE: usize = 40;

/// The placeholder `x [batch, 40, 40, 3]` and the shared 100-unit features `[batch, 100]`.
pub fn trunk<'g>(g: &'g Graph, input_stats: Option<(&[f32], &[f32])>) -> (Tensor<'g>, Tensor<'g>) {
    trunk_with(g, input_stats, None)
}

/// As [`trunk`], with batch normalisation after each convolution (before its relu, as in a
/// ResNet) when `batch_norm` is the layers' `training` flag (a bool scalar, see
/// [`crate::layers::BatchNormalization`]); the layers are `conv<i>_bn`.
pub fn trunk_with<'g>(
    g: &'g Graph,
    input_stats: Option<(&[f32], &[f32])>,
    batch_norm: Option<Tensor<'g>>,
) -> (Tensor<'g>, Tensor<'g>) {
    let x = g.placeholder("x", [None, Some(SIZE), Some(SIZE), Some(3)]);
    let h = match input_stats {
        Some((m, s)) => {
            let m = ndarray::Array4::from_shape_fn((1, 1, 1, 3), |(_, _, _, c)| m[c]);
            let s = ndarray::Array4::from_shape_fn((1, 1, 1, 3), |(_, _, _, c)| s[c].max(1e-3));
            (x - g.constant(m).named("input_mean")) / g.constant(s).named("input_std")
        }
        None => x,
    };
    let conv = |h, filters, k, name: &str| match batch_norm {
        None => conv2d_layer(
            h,
            filters,
            [k, k],
            [1, 1],
            Padding::Same,
            Activation::Relu,
            name,
        ),
        Some(training) => {
            let c = conv2d_layer(
                h,
                filters,
                [k, k],
                [1, 1],
                Padding::Same,
                Activation::None,
                name,
            );
            crate::relu(batch_normalization_layer(
                c,
                training,
                &format!("{name}_bn"),
            ))
        }
    };
    let pool = |t| crate::ops::pool::max_pool2d(t, [2, 2], [2, 2], Padding::Valid);
    let h = pool(conv(h, 16, 5, "conv1"));
    let h = pool(conv(h, 48, 3, "conv2"));
    let h = pool(conv(h, 64, 3, "conv3"));
    let h = conv(h, 64, 2, "conv4");
    let h = dense(crate::flatten(h), 100, Activation::Relu, "fc");
    (x, h)
}

/// The whole model: trunk, one `<head>_logits` dense layer per head, and the multi-head
/// spec (train mode with `optimizer`).
pub fn build<'g>(
    g: &'g Graph,
    heads: MultiHead,
    input_stats: Option<(&[f32], &[f32])>,
    optimizer: Option<&dyn Optimizer>,
) -> Result<(Tensor<'g>, MultiHeadSpec<'g>)> {
    let (x, h) = trunk(g, input_stats);
    let logits: Vec<Tensor<'g>> = heads
        .heads()
        .iter()
        .map(|hd| {
            dense(
                h,
                hd.logits_dimension(),
                Activation::None,
                &format!("{}_logits", hd.name()),
            )
        })
        .collect();
    let mode = if optimizer.is_some() {
        Mode::Train
    } else {
        Mode::Eval
    };
    let spec = heads.create_spec(&logits, mode, optimizer)?;
    Ok((x, spec))
}

/// The reference build for the golden graph files: heads `head_nose` (regression, 2) and
/// `head_pose` (5 classes), fixed weights, Adam 1e-3, no data-dependent scaling.
pub fn build_reference(g: &Graph) -> Result<(Tensor<'_>, MultiHeadSpec<'_>)> {
    let heads: Vec<Box<dyn Head>> = vec![
        Box::new(RegressionHead::new("head_nose", 2)),
        Box::new(MultiClassHead::new("head_pose", 5)),
    ];
    let opt = crate::train::Adam::new(1e-3);
    build(g, MultiHead::new(heads), None, Some(&opt))
}
