//! Files: graph definitions (versioned JSON) and Graphviz DOT export; checkpoints live with
//! the `Saver` in `train`.

pub mod value_serde;
