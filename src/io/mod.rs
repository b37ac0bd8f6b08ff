//! Files: graph definitions (versioned JSON) and Graphviz DOT export; checkpoints live with
//! the `Saver` in `train`. Every file the library writes goes through [`write_atomic`] /
//! [`AtomicFile`] (temporary file, fsync, rename): a killed writer never leaves a truncated file.

pub mod dot;
pub mod graph_file;
pub mod value_serde;

pub use crate::atomic::{temp_path_for, write_atomic, write_atomic_with, AtomicFile};
pub use dot::{to_dot, to_dot_forward};
pub use graph_file::{read_graph, write_graph};
