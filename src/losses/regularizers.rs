//! Weight decay as TF1 builds it: a regularizer (`tf.contrib.layers.l2_regularizer(scale)`,
//! `l1_regularizer`, `l1_l2_regularizer`) applied to a weight gives a scalar penalty that is
//! added to the graph's [`GraphKeys::REGULARIZATION_LOSSES`] collection, which
//! [`super::get_regularization_loss`] and [`super::get_total_loss`] sum.

use crate::error::{Error, Result};
use crate::graph::{GraphKeys, Tensor};
use crate::ops::reduce::{l2_loss, reduce_sum_all};
use crate::ops::unary::abs;

/// A weight penalty `l1 * sum(|w|) + l2 * sum(w²) / 2` (the L2 part is TF1's
/// `scale * tf.nn.l2_loss(w)`). Build it with [`l2_regularizer`], [`l1_regularizer`] or
/// [`l1_l2_regularizer`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularizer {
    /// Scale of the L1 term.
    pub l1: f32,
    /// Scale of the L2 term (of `sum(w²) / 2`).
    pub l2: f32,
}

fn check_scale(what: &str, scale: f32) -> Result<()> {
    if !scale.is_finite() || scale < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: setting a scale less than 0 (or non-finite) on a regularizer: {scale}"
        )));
    }
    Ok(())
}

/// TF1's `tf.contrib.layers.l2_regularizer(scale)`: the penalty `scale * sum(w²) / 2`.
/// [`Error::InvalidArgument`] for a negative or non-finite scale (TF1 raises too).
pub fn l2_regularizer(scale: f32) -> Result<Regularizer> {
    check_scale("l2_regularizer", scale)?;
    Ok(Regularizer { l1: 0.0, l2: scale })
}

/// TF1's `tf.contrib.layers.l1_regularizer(scale)`: the penalty `scale * sum(|w|)`.
pub fn l1_regularizer(scale: f32) -> Result<Regularizer> {
    check_scale("l1_regularizer", scale)?;
    Ok(Regularizer { l1: scale, l2: 0.0 })
}

/// TF1's `tf.contrib.layers.l1_l2_regularizer(scale_l1, scale_l2)`: the sum of both
/// penalties.
pub fn l1_l2_regularizer(scale_l1: f32, scale_l2: f32) -> Result<Regularizer> {
    check_scale("l1_l2_regularizer", scale_l1)?;
    check_scale("l1_l2_regularizer", scale_l2)?;
    Ok(Regularizer {
        l1: scale_l1,
        l2: scale_l2,
    })
}

impl Regularizer {
    /// The penalty of `weights` (any f32 tensor, usually a variable), a scalar added to the
    /// graph's [`GraphKeys::REGULARIZATION_LOSSES`] collection, as TF1's `get_variable(..,
    /// regularizer=..)` and layers' `kernel_regularizer` do. `None` if both scales are 0
    /// (TF1's regularizers then return `None` and add nothing).
    pub fn apply<'g>(&self, weights: Tensor<'g>) -> Option<Tensor<'g>> {
        let term = self.penalty(weights)?;
        weights
            .graph()
            .add_to_collection(GraphKeys::REGULARIZATION_LOSSES, term);
        Some(term)
    }

    /// The penalty of `weights`, not collected.
    fn penalty<'g>(&self, weights: Tensor<'g>) -> Option<Tensor<'g>> {
        let g = weights.graph();
        let (l1, l2) = (self.l1, self.l2);
        if l1 == 0.0 && l2 == 0.0 {
            return None;
        }
        let base = match (l1 != 0.0, l2 != 0.0) {
            (true, true) => "l1_l2_regularizer",
            (true, false) => "l1_regularizer",
            _ => "l2_regularizer",
        };
        let scope = g.unique_scope(base);
        let term = g.with_scope(&scope, || {
            let l1_term = (l1 != 0.0).then(|| l1 * reduce_sum_all(abs(weights)));
            let l2_term = (l2 != 0.0).then(|| l2 * l2_loss(weights));
            match (l1_term, l2_term) {
                (Some(a), Some(b)) => a + b,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => unreachable!("one scale is nonzero"),
            }
        });
        Some(term)
    }

    /// Applies the regularizer to each of `weights` (TF1's
    /// `tf.contrib.layers.apply_regularization`): the sum of the penalties, added to the
    /// collection as one term (`None` if both scales are 0 or `weights` is empty).
    pub fn apply_all<'g>(&self, weights: &[Tensor<'g>]) -> Option<Tensor<'g>> {
        let terms: Vec<Tensor<'g>> = weights.iter().filter_map(|w| self.penalty(*w)).collect();
        let sum = match terms.as_slice() {
            [] => return None,
            [one] => *one,
            many => crate::ops::array::add_n(many),
        };
        sum.graph()
            .add_to_collection(GraphKeys::REGULARIZATION_LOSSES, sum);
        Some(sum)
    }
}
