//! The GRU layer: TF1's `tf.nn.rnn_cell.GRUCell` (variables `gates/kernel`, `gates/bias`,
//! `candidate/kernel`, `candidate/bias`) run like `dynamic_rnn` over a time dimension known
//! when the graph is built, one step of primitive ops per time step (the gradient is
//! autodiff's through them, as TF1's through its loop).

use super::rnn::{step_mask, RnnLayer};
use crate::graph::{Graph, Tensor};
use crate::init;
use crate::ops::array::squeeze;
use crate::ops::compare::greater;
use crate::ops::concat::{concat, slice, stack};
use crate::ops::conv::{bias_add, invalid};
use crate::ops::matmul::matmul;
use crate::ops::reduce::reduce_sum;
use crate::ops::select::where_;
use crate::ops::unary::{sigmoid, tanh, unary, UnaryKind};

/// A GRU layer's variables, as TF1's `GRUCell(hidden)` creates them under one name scope.
#[derive(Clone, Copy, Debug)]
pub struct Gru<'g> {
    /// `gates/kernel` `[input_dim + hidden, 2*hidden]`, glorot uniform: rows are input
    /// weights then recurrent weights, columns the reset gate `r` then the update gate `u`.
    pub gates_kernel: Tensor<'g>,
    /// `gates/bias` `[2*hidden]`, ones (TF1's initial 1.0: gates start mostly open).
    pub gates_bias: Tensor<'g>,
    /// `candidate/kernel` `[input_dim + hidden, hidden]`, glorot uniform.
    pub candidate_kernel: Tensor<'g>,
    /// `candidate/bias` `[hidden]`, zeros.
    pub candidate_bias: Tensor<'g>,
    /// The state size.
    pub hidden: usize,
}

impl<'g> Gru<'g> {
    /// Creates the variables under the scope `name/` (made unique, `name_1`, ..., if already
    /// used), inside the current scope.
    pub fn new(g: &'g Graph, name: &str, input_dim: usize, hidden: usize) -> Self {
        let scope = g.unique_scope(name);
        let _s = g.name_scope(&scope);
        let (gates_kernel, gates_bias) = g.with_scope("gates", || {
            (
                g.variable(
                    "kernel",
                    init::glorot_uniform(&[input_dim + hidden, 2 * hidden]),
                ),
                g.variable("bias", init::ones(&[2 * hidden])),
            )
        });
        let (candidate_kernel, candidate_bias) = g.with_scope("candidate", || {
            (
                g.variable(
                    "kernel",
                    init::glorot_uniform(&[input_dim + hidden, hidden]),
                ),
                g.variable("bias", init::zeros(&[hidden])),
            )
        });
        Gru {
            gates_kernel,
            gates_bias,
            candidate_kernel,
            candidate_bias,
            hidden,
        }
    }

    /// One step of TF1's `GRUCell`: `x [batch, input_dim]`, `h [batch, hidden]` ->
    /// the new state (also the output) `[batch, hidden]`:
    /// `[r u] = σ([x, h] · gates/kernel + gates/bias)`,
    /// `c = tanh([x, r ⊙ h] · candidate/kernel + candidate/bias)`, `h' = u ⊙ h + (1 - u) ⊙ c`.
    pub fn cell(&self, x: Tensor<'g>, h: Tensor<'g>) -> Tensor<'g> {
        let n = self.hidden as i64;
        let value = sigmoid(bias_add(
            matmul(concat(&[x, h], 1), self.gates_kernel),
            self.gates_bias,
        ));
        let r = slice(value, &[0, 0], &[-1, n]);
        let u = slice(value, &[0, n], &[-1, n]);
        let c = tanh(bias_add(
            matmul(concat(&[x, r * h], 1), self.candidate_kernel),
            self.candidate_bias,
        ));
        u * h + (1.0 - u) * c
    }

    /// TF1's `dynamic_rnn(GRUCell, x, sequence_length, initial_state)`: `x [batch, time,
    /// input_dim]` with `time` known statically; `sequence_length [batch]` (i64 or f32;
    /// `None`: all steps); `initial_state [batch, hidden]` (`None`: zeros). Returns the
    /// outputs `[batch, time, hidden]`, 0 past each length, and the final state `h`, copied
    /// through past each length. A bad `x` gives poisoned tensors whose error names it.
    pub fn dynamic_rnn(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<Tensor<'g>>,
    ) -> (Tensor<'g>, Tensor<'g>) {
        self.run(x, sequence_length, initial_state, false)
    }
}

impl<'g> RnnLayer<'g> for Gru<'g> {
    type State = Tensor<'g>;
    fn run(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<Tensor<'g>>,
        reverse: bool,
    ) -> (Tensor<'g>, Tensor<'g>) {
        let g = x.graph();
        let s = x.shape();
        let time = match (s.rank(), s.dim(1)) {
            (3, Some(t)) if t > 0 => t,
            _ => {
                let msg = format!(
                    "the GRU needs x [batch, time, input] with time known statically and > 0, got {s}"
                );
                let e = invalid(&[x], msg, "gru");
                return (e, e);
            }
        };
        let step_x = |t: usize| squeeze(slice(x, &[0, t as i64, 0], &[-1, 1, -1]), &[1]);
        // Zeros [batch, hidden] for a batch known only at run time.
        let zeros = reduce_sum(unary(UnaryKind::ZerosLike, step_x(0)), &[1], true)
            + g.constant(ndarray::Array1::<f32>::zeros(self.hidden));
        let mut h = initial_state.unwrap_or(zeros);
        let real = sequence_length.map(|_| {
            let mask = step_mask(x, sequence_length);
            move |t: usize| {
                greater(
                    squeeze(slice(mask, &[0, t as i64], &[-1, 1]), &[1]),
                    g.constant(0.0f32),
                )
            }
        });
        let mut outputs = vec![None; time];
        let order: Vec<usize> = if reverse {
            (0..time).rev().collect()
        } else {
            (0..time).collect()
        };
        for t in order {
            let new = self.cell(step_x(t), h);
            outputs[t] = Some(match &real {
                Some(real) => {
                    let cond = real(t);
                    h = where_(cond, new, h);
                    where_(cond, new, zeros)
                }
                None => {
                    h = new;
                    new
                }
            });
        }
        let outputs: Vec<Tensor<'g>> = outputs.into_iter().flatten().collect();
        (stack(&outputs, 1), h)
    }
}
