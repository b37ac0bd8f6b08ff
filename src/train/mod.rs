//! Training: optimizers (with their slot variables), `minimize`, gradient clipping, the global
//! step, learning-rate schedules (one-cycle included), checkpoints ([`Saver`], partial restores
//! for transfer with [`PartialRestore`]), the learning-rate finder ([`LrFinder`]), and
//! variables selected by scope ([`trainable_variables_in`]) for freezing
//! ([`Optimizer::with_frozen`]) and discriminative learning rates
//! ([`Optimizer::with_lr_multiplier`]).

mod gradients;
mod optimizer;
mod options;

mod adagrad;
mod adam;
mod adamw;
mod clip;
mod lr_finder;
mod momentum;
mod rmsprop;
mod saver;
mod saver_partial;
mod schedule;
mod scope;
mod sgd;
mod slots;
mod step;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamw::AdamW;
pub use clip::{clip_by_global_norm, global_norm};
pub use gradients::compute_gradients;
pub use lr_finder::{LrFindResult, LrFinder};
pub use momentum::Momentum;
pub use optimizer::Optimizer;
pub use options::{LearningRate, NodeRef, OptimizerOptions, UpdateRule};
pub use rmsprop::RMSProp;
pub use saver::Saver;
pub use saver_partial::{PartialRestore, RestoreReport};
pub use schedule::{cosine_decay, exponential_decay, piecewise_constant, OneCycle};
pub use scope::{scope_matches, trainable_variables_except, trainable_variables_in, variables_in};
pub use sgd::GradientDescent;
pub use step::get_or_create_global_step;
