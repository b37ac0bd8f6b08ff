//! Training: optimizers (with their slot variables), `minimize`, gradient clipping.

mod optimizer;
mod sgd;

pub use optimizer::{compute_gradients, Optimizer};
pub use sgd::GradientDescent;
