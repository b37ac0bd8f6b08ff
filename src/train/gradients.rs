//! `compute_gradients`: the `(gradient, variable)` pairs of a loss, the first half of every
//! optimizer's `minimize` (the second is `apply_gradients`).

use crate::autodiff::gradients;
use crate::error::{Error, Result};
use crate::graph::Tensor;

/// Gradients of `loss` for `var_list` (default: every trainable variable), as
/// `(gradient, variable)` pairs, keeping only variables on the loss's path.
///
/// Errors: an empty explicit `var_list` ([`Error::InvalidArgument`], as TF1's "No variables
/// to optimize"); no trainable variable on the path ([`Error::NoPathToVariables`]); an
/// explicit `var_list` entry without a path ([`Error::UnconnectedVariable`]); an op without a
/// gradient on the path ([`Error::NoGradient`]).
pub fn compute_gradients<'g>(
    loss: Tensor<'g>,
    var_list: Option<&[Tensor<'g>]>,
) -> Result<Vec<(Tensor<'g>, Tensor<'g>)>> {
    let vars: Vec<Tensor<'g>> = match var_list {
        Some([]) => {
            return Err(Error::InvalidArgument(format!(
                "no variables to optimize: var_list is empty (loss `{}`)",
                loss.name()
            )))
        }
        Some(v) => v.to_vec(),
        None => loss.graph().trainable_variables(),
    };
    gradients_for(loss, vars, var_list.is_some())
}

/// [`compute_gradients`] for `vars`; `strict`: each must be on the loss's path.
pub(super) fn gradients_for<'g>(
    loss: Tensor<'g>,
    vars: Vec<Tensor<'g>>,
    strict: bool,
) -> Result<Vec<(Tensor<'g>, Tensor<'g>)>> {
    let g = loss.graph();
    g.check()?;
    if let Some(v) = vars
        .iter()
        .find(|v| v.graph().id() == g.id() && !g.is_variable(v.index()))
    {
        return Err(Error::InvalidArgument(format!(
            "`{}` in var_list is not a variable",
            v.name()
        )));
    }
    let grads = gradients(&[loss], &vars)?;
    if strict {
        if let Some((v, _)) = vars.iter().zip(&grads).find(|(_, g)| g.is_none()) {
            return Err(Error::UnconnectedVariable {
                variable: v.name(),
                loss: loss.name(),
            });
        }
    }
    let pairs: Vec<_> = grads
        .into_iter()
        .zip(vars.iter())
        .filter_map(|(g, v)| g.map(|g| (g, *v)))
        .collect();
    if pairs.is_empty() {
        return Err(Error::NoPathToVariables {
            loss: loss.name(),
            candidates: vars.iter().map(|v| v.name()).collect(),
        });
    }
    Ok(pairs)
}
