//! # staticflow
//!
//! TF1-style static computation graphs in Rust, built for multi-task learning.
//!
//! Declare placeholders, variables and ops into a [`Graph`]; nothing computes at declaration
//! time, shapes are inferred and checked when an op is added. A [`Session`] runs only the
//! subgraph the fetches need. [`gradients`] adds gradient ops to the graph, and an optimizer's
//! `minimize(loss)` updates exactly the variables on that loss's path: one optimizer per task
//! gives alternate training, one on the summed loss gives joint training.
//!
//! ```
//! use staticflow::prelude::*;
//! let g = Graph::with_seed(0);
//! let x = g.placeholder("x", &[None, Some(3)]);
//! let w = g.variable("w", init::glorot_uniform(&[3, 1]));
//! let loss = l2_loss(matmul(x, w));
//! let train = GradientDescent::new(0.1).minimize(loss).unwrap();
//! let mut sess = Session::new(&g);
//! sess.run(&[g.global_variables_initializer().into()], &[]).unwrap();
//! let xs = ndarray::Array2::<f32>::ones((4, 3));
//! let out = sess.run(&[train.into(), loss.into()], &[(x, (&xs).into())]).unwrap();
//! assert!(out.scalar(1).unwrap() >= 0.0);
//! ```
#![warn(missing_docs)]

mod atomic;
pub mod autodiff;
pub mod data;
pub mod distributed;
pub mod error;
pub mod graph;
pub mod heads;
pub mod io;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod models;
pub mod mtl;
pub mod ops;
pub mod session;
pub mod summary;
pub mod train;

pub use ops::init;

pub use autodiff::{gradients, gradients_with};
pub use error::{Error, Result};
pub use graph::{
    DType, Fetch, Graph, GraphKeys, Operation, Shape, Tensor, TensorInfo, Value, ValueView,
};
pub use io::{read_graph, to_dot, to_dot_forward, write_graph};
pub use layers::{conv2d_layer, dense, Activation};
pub use ops::array::{
    add_n, cast, expand_dims, flatten, reshape, reshape_like, squeeze, transpose, try_add_n,
};
pub use ops::binary::{add, clip_by_value, div, maximum, minimum, mul, pow, sub};
pub use ops::compare::{equal, greater, greater_equal, less, less_equal, not_equal};
pub use ops::concat::{concat, slice, stack, try_concat};
pub use ops::conv::{bias_add, conv2d, Padding};
pub use ops::debug::{check_numerics, print, print_n};
pub use ops::div_no_nan::div_no_nan;
pub use ops::fill::{fill, ones_like, range, zeros_like};
pub use ops::gather::{argmax, argmin, embedding_lookup, gather, one_hot};
pub use ops::leaky_relu::leaky_relu;
pub use ops::logic::{
    logical_and, logical_not, logical_or, reduce_all, reduce_all_all, reduce_any, reduce_any_all,
};
pub use ops::lstm::{lstm, lstm_reverse, lstm_with_state, LstmRun, LstmState};
pub use ops::matmul::{matmul, matmul_t, matvec, tensordot, TensordotAxes};
pub use ops::nn::{
    log_softmax, softmax, softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
};
pub use ops::norm::{batch_normalization, moments};
pub use ops::pool::max_pool2d;
pub use ops::random::dropout;
pub use ops::reduce::{
    l2_loss, mean_squared_error, reduce_max, reduce_max_all, reduce_mean, reduce_mean_all,
    reduce_min, reduce_min_all, reduce_prod, reduce_prod_all, reduce_sum, reduce_sum_all,
};
pub use ops::remap::{pad, reverse, tile, PadMode};
pub use ops::scan::cumsum;
pub use ops::scatter::{gather_axis, gather_nd, scatter_nd, unsorted_segment_sum};
pub use ops::select::where_;
pub use ops::sequence::{reverse_sequence, sequence_mask, top_k};
pub use ops::sigmoid_xent::sigmoid_cross_entropy_with_logits;
pub use ops::split::{split, unstack, SplitSizes};
pub use ops::state::{assign, assign_add, assign_sub, group, no_op};
pub use ops::unary::{
    abs, elu, erf, exp, expm1, floor, gelu, identity, log, log1p, neg, placeholder_with_default,
    reciprocal, relu, rsqrt, selu, sigmoid, sign, softplus, sqrt, square, stop_gradient, tanh,
};
pub use session::{Outputs, Session};

/// The README's code blocks, compiled and run as doctests (the quick start must work).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Everything a model file usually needs.
pub mod prelude {
    pub use crate::init;
    pub use crate::train::{
        clip_by_global_norm, cosine_decay, exponential_decay, get_or_create_global_step,
        piecewise_constant, Adadelta, Adagrad, Adam, AdamW, Ftrl, GradientDescent, Momentum,
        Optimizer, RMSProp, Saver,
    };
    pub use crate::*;
}
