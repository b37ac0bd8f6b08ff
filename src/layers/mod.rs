//! Model building blocks made of graph ops: fully connected, convolution, LSTM, GRU and
//! normalisation layers that create their own variables under a name scope (like TF1's
//! `tf.layers`).

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
