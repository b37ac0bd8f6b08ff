//! Files: graph definitions (versioned JSON) and Graphviz DOT export; checkpoints live with
//! the `Saver` in `train`.

pub mod dot;
pub mod graph_file;
pub mod value_serde;

pub use dot::to_dot;
pub use graph_file::{read_graph, write_graph};
