//! Random ops drawing from the session's generator (`KernelCtx::rng`): `dropout`, built from
//! a `DropoutMask` node so that the gradient reuses the very mask of the forward pass.

use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{DType, Tensor, TensorInfo, Value, ValueView};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A fresh dropout mask shaped like `x`: each element is `1 / keep_prob` with probability
/// `keep_prob`, else 0. Inputs `(x, keep_prob [])`; only `x`'s runtime shape is read.
/// Stateful: every run draws a new mask from the session's generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DropoutMask;

impl OpDef for DropoutMask {
    fn kind(&self) -> &'static str {
        "DropoutMask"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_f32("dropout", i[0])?;
        if i[1].dtype != DType::F32 || i[1].shape.rank() != 0 {
            return Err(format!(
                "keep_prob must be an f32 scalar, got {} {}",
                i[1].shape, i[1].dtype
            ));
        }
        Ok(Some(TensorInfo::new(DType::F32, i[0].shape.clone())))
    }
    fn compute(
        &self,
        ctx: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let kp = match inputs[1].f32().iter().next() {
            Some(&kp) if inputs[1].shape().is_empty() => kp,
            _ => {
                return Err(format!(
                    "keep_prob must be a scalar, got shape {:?}",
                    inputs[1].shape()
                ))
            }
        };
        if !(kp > 0.0 && kp <= 1.0) {
            return Err(format!("keep_prob must be in (0, 1], got {kp}"));
        }
        let o = out.f32_buffer(inputs[0].shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if kp == 1.0 {
            o.fill(1.0);
            return Ok(());
        }
        let scale = 1.0 / kp;
        for v in o.iter_mut() {
            // TF1: keep where floor(keep_prob + U[0, 1)) == 1, i.e. U < keep_prob.
            *v = if ctx.rng.gen::<f32>() < kp {
                scale
            } else {
                0.0
            };
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        // The mask is a constant of the run: no gradient to `x` (its values are not read) or
        // to `keep_prob`.
        Ok(vec![None, None])
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// Dropout (TF1's `tf.nn.dropout`): keeps each element of `x` with probability `keep_prob`
/// (an f32 scalar tensor, so a `placeholder_with_default(1.0)` makes it a training switch)
/// and scales kept elements by `1 / keep_prob`; shape unchanged. The mask is its own node
/// (`DropoutMask`), drawn from the session's generator once per run, and the gradient
/// (`dy * mask`) reuses it. `keep_prob` outside `(0, 1]` is a runtime error.
pub fn dropout<'g>(x: Tensor<'g>, keep_prob: Tensor<'g>) -> Tensor<'g> {
    let g = x.graph();
    let _scope = g.name_scope(&g.unique_scope("dropout"));
    let mask = g.add(DropoutMask, &[x, keep_prob]);
    x * mask
}

/// Standard normal numbers of a fixed `shape` that are a pure function of `(seed, counter)`
/// (TF's `stateless_random_normal`): input `counter`, an i64 scalar (e.g. a step variable).
/// Because the randomness lives in the counter, a checkpoint that saves the counter makes a
/// restored run draw the same numbers. No gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatelessRandomNormal {
    /// Output shape.
    pub shape: Vec<usize>,
    /// Seed of the stream (derived from the graph seed).
    pub seed: u64,
}

impl OpDef for StatelessRandomNormal {
    fn kind(&self) -> &'static str {
        "StatelessRandomNormal"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].dtype != DType::I64 || i[0].shape.rank() != 0 {
            return Err(format!(
                "the counter must be an i64 scalar, got {} {}",
                i[0].shape, i[0].dtype
            ));
        }
        Ok(Some(TensorInfo::new(
            DType::F32,
            crate::graph::Shape::known(&self.shape),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        use rand::SeedableRng;
        let counter = *inputs[0].i64().iter().next().ok_or("empty counter")?;
        let mut z = self.seed ^ (counter as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let mut rng = rand::rngs::StdRng::seed_from_u64(z ^ (z >> 31));
        let o = out.try_f32_buffer(&self.shape)?;
        for v in o.iter_mut() {
            *v = rng.sample(rand_distr_normal());
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

fn rand_distr_normal() -> ndarray_rand::rand_distr::StandardNormal {
    ndarray_rand::rand_distr::StandardNormal
}

/// Standard normal numbers of `shape` drawn from `(graph seed, counter)`; see
/// [`StatelessRandomNormal`].
pub fn stateless_random_normal<'g>(shape: &[usize], counter: Tensor<'g>) -> Tensor<'g> {
    let g = counter.graph();
    let seed = g.next_op_seed();
    g.add(
        StatelessRandomNormal {
            shape: shape.to_vec(),
            seed,
        },
        &[counter],
    )
}
