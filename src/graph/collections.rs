//! Graph collections (TF1's `tf.add_to_collection` / `tf.get_collection`): named lists of
//! tensors kept by the graph, such as the losses that [`crate::losses`] builds and the
//! regularization terms that [`crate::losses::get_regularization_loss`] sums.
//!
//! Kept in memory only: graph files do not hold collections (TF1 keeps them in the
//! MetaGraphDef, which staticflow does not write).

use super::{Graph, Tensor};

/// The collection names TF1 defines in `tf.GraphKeys` that staticflow fills.
#[derive(Debug, Clone, Copy)]
pub struct GraphKeys;

impl GraphKeys {
    /// `"losses"`: every loss built by [`crate::losses`] (TF1's `GraphKeys.LOSSES`).
    pub const LOSSES: &'static str = "losses";
    /// `"regularization_losses"`: the terms of [`crate::losses::Regularizer::apply`] (TF1's
    /// `GraphKeys.REGULARIZATION_LOSSES`).
    pub const REGULARIZATION_LOSSES: &'static str = "regularization_losses";
    /// `"local_variables"`: every [local variable](Graph::local_variable) (TF1's
    /// `GraphKeys.LOCAL_VARIABLES`).
    pub const LOCAL_VARIABLES: &'static str = "local_variables";
    /// `"metric_variables"`: the accumulators of the [`crate::metrics`] (TF1's
    /// `GraphKeys.METRIC_VARIABLES`), also local variables.
    pub const METRIC_VARIABLES: &'static str = "metric_variables";
    /// `"update_ops"`: ops a train op should depend on, such as the moving-average updates
    /// of [`crate::layers::BatchNormalization`] (TF1's `GraphKeys.UPDATE_OPS`); see
    /// [`Graph::get_collection_ops`].
    pub const UPDATE_OPS: &'static str = "update_ops";
}

impl Graph {
    /// Appends `t` to the collection `name` (created if new). A tensor may be added twice,
    /// as in TF1.
    pub fn add_to_collection(&self, name: &str, t: Tensor<'_>) {
        if t.graph().id() != self.id {
            // A foreign tensor cannot be kept by index; the graph records the mistake as a
            // build error on a node, like every other foreign operand.
            self.add_node(
                crate::ops::state::NoOp.into(),
                &[t],
                Some("add_to_collection"),
            )
            .ok();
            return;
        }
        let mut inner = self.inner.borrow_mut();
        match inner.collections.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(t.index()),
            None => inner.collections.push((name.to_string(), vec![t.index()])),
        }
    }

    /// The tensors of collection `name`, in the order they were added (empty if there is no
    /// such collection), as TF1's `tf.get_collection(name)`.
    pub fn get_collection(&self, name: &str) -> Vec<Tensor<'_>> {
        let inner = self.inner.borrow();
        inner
            .collections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.iter().map(|&i| Tensor::from_index(self, i)).collect())
            .unwrap_or_default()
    }

    /// Empties collection `name` (TF1's `tf.get_collection_ref(name).clear()`), e.g. to
    /// build a second model's losses in the same graph.
    pub fn clear_collection(&self, name: &str) {
        self.inner
            .borrow_mut()
            .collections
            .retain(|(n, _)| n != name);
    }

    /// The names of the non-empty collections, in creation order (TF1's
    /// `get_all_collection_keys`).
    pub fn collection_keys(&self) -> Vec<String> {
        self.inner
            .borrow()
            .collections
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Appends an operation (any node, e.g. an assign run for effect) to the collection
    /// `name`, as TF1's `tf.add_to_collection(name, op)`.
    pub fn add_op_to_collection(&self, name: &str, op: crate::graph::Operation<'_>) {
        self.add_to_collection(name, Tensor::from_index(op.graph(), op.index()));
    }

    /// The nodes of collection `name` as operations, in the order they were added, e.g.
    /// `g.get_collection_ops(GraphKeys::UPDATE_OPS)` to make a train op depend on them
    /// with [`Graph::control_dependencies`] (TF1's
    /// `with tf.control_dependencies(tf.get_collection(UPDATE_OPS)): ...`).
    pub fn get_collection_ops(&self, name: &str) -> Vec<crate::graph::Operation<'_>> {
        self.get_collection(name).iter().map(|t| t.op()).collect()
    }
}
