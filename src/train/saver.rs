//! Checkpoints.
/// Saver placeholder.
pub struct Saver;
