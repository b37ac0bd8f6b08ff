//! 2-D convolution layer: `activation(conv2d(x, kernel) + bias)`.

use super::Activation;
use crate::graph::Tensor;
use crate::init;
use crate::ops::conv::{conv2d_bias_act, invalid, Padding};

/// A built convolution layer: its output and its variables.
#[derive(Clone, Copy, Debug)]
pub struct Conv2DLayer<'g> {
    /// `[batch, oh, ow, filters]`.
    pub output: Tensor<'g>,
    /// `[kh, kw, in_c, filters]`, glorot-uniform initialised, named `<scope>/kernel`.
    pub kernel: Tensor<'g>,
    /// `[filters]`, zero initialised, named `<scope>/bias`.
    pub bias: Tensor<'g>,
}

impl<'g> Conv2DLayer<'g> {
    /// Builds a convolution layer on NHWC `x [batch, h, w, in_c]` (`in_c` must be known
    /// statically). Variables go under the name scope `name/` (made unique if already used).
    /// A bad input gives poisoned tensors whose build error names `x`.
    pub fn new(
        x: Tensor<'g>,
        filters: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
        activation: Activation,
        name: &str,
    ) -> Self {
        let g = x.graph();
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let s = x.shape();
        let in_c = match (s.rank(), s.0.last().copied().flatten()) {
            (4, Some(c)) => c,
            _ => {
                let e = invalid(
                    &[x],
                    format!("conv2d_layer needs NHWC input [batch, h, w, channels] with channels known statically, got {s}"),
                    "conv2d",
                );
                return Conv2DLayer {
                    output: e,
                    kernel: e,
                    bias: e,
                };
            }
        };
        let k = g.variable(
            "kernel",
            init::glorot_uniform(&[kernel[0], kernel[1], in_c, filters]),
        );
        let bias = g.variable("bias", init::zeros(&[filters]));
        // One fused node for the bias and a relu; other activations are applied after it.
        let output = match activation {
            Activation::Relu => conv2d_bias_act(x, k, bias, strides, padding, true),
            a => a.apply(conv2d_bias_act(x, k, bias, strides, padding, false)),
        };
        Conv2DLayer {
            output,
            kernel: k,
            bias,
        }
    }
}

/// Convolution layer: NHWC `x [batch, h, w, in_c] -> activation(conv2d(x, kernel) + bias)`
/// `[batch, oh, ow, filters]`, with a glorot-uniform `kernel [kh, kw, in_c, filters]` and a
/// zero `bias [filters]` created under name scope `name/` as `kernel` and `bias` (see
/// [`Conv2DLayer::new`] to get the variables back).
pub fn conv2d_layer<'g>(
    x: Tensor<'g>,
    filters: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
    activation: Activation,
    name: &str,
) -> Tensor<'g> {
    Conv2DLayer::new(x, filters, kernel, strides, padding, activation, name).output
}
