//! Model building blocks made of graph ops: fully connected, convolution, LSTM, GRU and
//! normalisation layers that create their own variables under a name scope (like TF1's
//! `tf.layers`).
//!
//! A small classifier as a TF1 user writes it: batch normalisation with its `UPDATE_OPS`,
//! a weighted `tf.losses` loss, accuracy from a comparison, and a named optimizer's slot.
//!
//! ```
//! use staticflow::layers::{BatchNormOptions, BatchNormalization};
//! use staticflow::losses::{self, Reduction};
//! use staticflow::prelude::*;
//!
//! let g = Graph::with_seed(1);
//! let x = g.placeholder("x", [None, Some(2)]);
//! let labels = g.placeholder_typed("labels", DType::I64, [None]);
//! let weights = g.placeholder("weights", [None]);
//! let training = placeholder_with_default(g.constant(false), "training");
//! let h = dense(x, 8, Activation::None, "hidden");
//! // Momentum 0.9 (TF1's default is 0.99) so that 50 steps settle the moving statistics.
//! let options = BatchNormOptions { momentum: 0.9, ..Default::default() };
//! let bn = BatchNormalization::with_options(h, training, options, "batch_normalization");
//! let h = relu(bn.output);
//! let logits = dense(h, 2, Activation::None, "logits");
//! let loss = losses::sparse_softmax_cross_entropy(
//!     labels, logits, weights, Reduction::SumByNonzeroWeights,
//! );
//! let correct = cast(equal(argmax(logits, 1), labels), DType::F32);
//! let accuracy = reduce_mean_all(correct);
//! let opt = Adam::new(0.05).with_name("classifier");
//! let train = {
//!     let _deps = g.control_dependencies(&g.get_collection_ops(GraphKeys::UPDATE_OPS));
//!     opt.minimize(loss).unwrap()
//! };
//! let kernel = g.tensor_by_name("hidden/kernel").unwrap();
//! let m = opt.get_slot(kernel, "m").unwrap();
//! assert!(m.name().starts_with("classifier/"));
//!
//! // Two blobs: class 1 where x0 + x1 > 0.
//! let xv = ndarray::Array2::from_shape_fn((32, 2), |(i, j)| {
//!     let s = if i % 2 == 0 { 1.0 } else { -1.0 };
//!     s * (1.0 + 0.1 * ((i * 7 + j * 3) % 5) as f32)
//! });
//! let yv = ndarray::Array1::from_shape_fn(32, |i| (i % 2 == 0) as i64);
//! let wv = ndarray::Array1::from_shape_fn(32, |i| if i < 30 { 1.0f32 } else { 0.0 });
//! let on = ndarray::arr0(true);
//! let mut sess = Session::new(&g);
//! sess.run(&[g.global_variables_initializer().into()], &[]).unwrap();
//! for _ in 0..50 {
//!     let feeds = [
//!         (x, (&xv).into()),
//!         (labels, (&yv).into()),
//!         (weights, (&wv).into()),
//!         (training, (&on).into()),
//!     ];
//!     sess.run(&[train.into()], &feeds).unwrap();
//! }
//! // Inference (training at its default, false) uses the moving statistics.
//! let out = sess
//!     .run(&[accuracy.into()], &[(x, (&xv).into()), (labels, (&yv).into())])
//!     .unwrap();
//! assert!(out.scalar(0).unwrap() > 0.9);
//! assert!(sess.variable_value(m).unwrap().as_f32().unwrap().iter().any(|&v| v != 0.0));
//! ```

pub mod conv;
pub mod dense;
pub mod gru;
pub mod lstm;
pub mod norm;
pub mod rnn;

pub use conv::{conv2d_layer, Conv2DLayer};
pub use dense::{dense, Dense};
pub use gru::Gru;
pub use lstm::Lstm;
pub use norm::{
    batch_normalization_layer, layer_norm, BatchNormOptions, BatchNormalization, LayerNorm,
};
pub use rnn::{bidirectional_dynamic_rnn, step_mask, BidirectionalRun, RnnLayer};

use crate::graph::Tensor;

/// Activation applied to a layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// None: the layer is linear.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Applies the activation to `x` (returns `x` itself for [`Activation::None`]).
    pub fn apply<'g>(self, x: Tensor<'g>) -> Tensor<'g> {
        match self {
            Activation::None => x,
            Activation::Relu => crate::ops::unary::relu(x),
            Activation::Sigmoid => crate::ops::unary::sigmoid(x),
            Activation::Tanh => crate::ops::unary::tanh(x),
        }
    }
}
