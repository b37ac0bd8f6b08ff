//! Fully connected layer: `activation(x · kernel + bias)`.

use super::Activation;
use crate::graph::Tensor;
use crate::init;
use crate::ops::conv::{bias_add, invalid};
use crate::ops::matmul::matmul;

/// A built dense layer: its output and its variables.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'g> {
    /// `[batch, units]`.
    pub output: Tensor<'g>,
    /// `[in, units]`, glorot-uniform initialised, named `<scope>/kernel`.
    pub kernel: Tensor<'g>,
    /// `[units]`, zero initialised, named `<scope>/bias`.
    pub bias: Tensor<'g>,
}

impl<'g> Dense<'g> {
    /// Builds a dense layer on `x [batch, in]` (`in` must be known statically) with `units`
    /// outputs. Variables go under the name scope `name/` (made unique, `name_1/`, ..., if
    /// already used). A bad input gives poisoned tensors whose build error names `x`.
    pub fn new(x: Tensor<'g>, units: usize, activation: Activation, name: &str) -> Self {
        let g = x.graph();
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let s = x.shape();
        let input = match (s.rank(), s.0.last().copied().flatten()) {
            (2, Some(n)) => n,
            _ => {
                let e = invalid(
                    &[x],
                    format!("dense needs input [batch, features] with features known statically, got {s}"),
                    "dense",
                );
                return Dense {
                    output: e,
                    kernel: e,
                    bias: e,
                };
            }
        };
        let kernel = g.variable("kernel", init::glorot_uniform(&[input, units]));
        let bias = g.variable("bias", init::zeros(&[units]));
        let output = activation.apply(bias_add(matmul(x, kernel), bias));
        Dense {
            output,
            kernel,
            bias,
        }
    }
}

/// Fully connected layer: `x [batch, in] -> activation(x · kernel + bias) [batch, units]`,
/// with a glorot-uniform `kernel [in, units]` and a zero `bias [units]` created under name
/// scope `name/` as `kernel` and `bias` (see [`Dense::new`] to get the variables back).
pub fn dense<'g>(x: Tensor<'g>, units: usize, activation: Activation, name: &str) -> Tensor<'g> {
    Dense::new(x, units, activation, name).output
}
