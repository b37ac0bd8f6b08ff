//! The `Optimizer` trait: `minimize(loss)` = compute gradients for the trainable variables on
//! the loss's path, then apply them with the optimizer's update ops, grouped into one op.

use crate::autodiff::gradients;
use crate::error::{Error, Result};
use crate::graph::{Graph, Operation, Tensor};

/// Gradients of `loss` for `var_list` (default: every trainable variable), as
/// `(gradient, variable)` pairs, keeping only variables on the loss's path.
///
/// Errors: no trainable variable on the path ([`Error::NoPathToVariables`]); an explicit
/// `var_list` entry without a path ([`Error::UnconnectedVariable`]); an op without a gradient
/// on the path ([`Error::NoGradient`]).
pub fn compute_gradients<'g>(
    loss: Tensor<'g>,
    var_list: Option<&[Tensor<'g>]>,
) -> Result<Vec<(Tensor<'g>, Tensor<'g>)>> {
    let g = loss.graph();
    g.check()?;
    let vars: Vec<Tensor<'g>> = match var_list {
        Some(v) => v.to_vec(),
        None => g.trainable_variables(),
    };
    if let Some(v) = vars
        .iter()
        .find(|v| !matches!(g.node(v.index()).op, crate::ops::Op::Variable(_)))
    {
        return Err(Error::InvalidArgument(format!(
            "`{}` in var_list is not a variable",
            v.name()
        )));
    }
    let grads = gradients(&[loss], &vars)?;
    if var_list.is_some() {
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

/// A TF1-style optimizer.
pub trait Optimizer {
    /// Base name of the optimizer's scope and slots, e.g. `"Adam"`.
    fn name(&self) -> &str;

    /// Adds the update ops for `(gradient, variable)` pairs (creating slot variables under
    /// `scope`, which is unique per call) and returns them grouped.
    fn apply_gradients<'g>(
        &self,
        g: &'g Graph,
        scope: &str,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>>;

    /// One op that updates every trainable variable on `loss`'s path, and only those.
    fn minimize<'g>(&self, loss: Tensor<'g>) -> Result<Operation<'g>> {
        let gv = compute_gradients(loss, None)?;
        self.apply_in_scope(loss.graph(), &gv)
    }

    /// Like [`Optimizer::minimize`], restricted to `var_list`; each of them must be on the path.
    fn minimize_with<'g>(
        &self,
        loss: Tensor<'g>,
        var_list: &[Tensor<'g>],
    ) -> Result<Operation<'g>> {
        let gv = compute_gradients(loss, Some(var_list))?;
        self.apply_in_scope(loss.graph(), &gv)
    }

    /// Applies gradients inside a fresh, unique scope named after the optimizer.
    fn apply_in_scope<'g>(
        &self,
        g: &'g Graph,
        grads_and_vars: &[(Tensor<'g>, Tensor<'g>)],
    ) -> Result<Operation<'g>> {
        let scope = g.unique_scope(self.name());
        let op = {
            let _s = g.name_scope(&scope);
            self.apply_gradients(g, &scope, grads_and_vars)?
        };
        g.check()?;
        Ok(op)
    }
}
