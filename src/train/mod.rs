//! Training: optimizers (with their slot variables), `minimize`, gradient clipping, the global
//! step, learning-rate schedules and checkpoints ([`Saver`]).

mod optimizer;

mod adagrad;
mod adam;
mod clip;
mod momentum;
mod rmsprop;
mod saver;
mod schedule;
mod sgd;
mod step;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use clip::{clip_by_global_norm, global_norm};
pub use momentum::Momentum;
pub use optimizer::{
    compute_gradients, LearningRate, NodeRef, Optimizer, OptimizerOptions, UpdateRule,
};
pub use rmsprop::RMSProp;
pub use saver::Saver;
pub use schedule::{cosine_decay, exponential_decay, piecewise_constant};
pub use sgd::GradientDescent;
pub use step::get_or_create_global_step;
