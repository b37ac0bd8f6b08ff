//! The graph ops around the solvers: `aggregate_weights` (weights from the Gram matrix) and
//! `gradvac_update` (GradVac's EMA state write).

use super::gram::{square_input, square_rule};
use super::{gradvac, Aggregator};
use crate::graph::{DType, Operation, Shape, Tensor, TensorInfo, Value, ValueView};
use crate::ops::{expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Weights `w` f32 `[T]` of an [`Aggregator`] from inputs `(gram [T, T], losses [T])`, plus
/// `state [T, T]` for GradVac. No gradient. See [`aggregate_weights`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateWeights {
    /// The method and its parameters.
    pub method: Aggregator,
}

fn vector_rule(what: &str, i: &TensorInfo, t: Option<usize>) -> Result<(), String> {
    expect_f32("AggregateWeights", i)?;
    if i.shape.rank() != 1 || matches!((i.shape.dim(0), t), (Some(a), Some(b)) if a != b) {
        return Err(format!(
            "{what} must have shape [T] (T = {}), got {}",
            t.map_or("?".into(), |t| t.to_string()),
            i.shape
        ));
    }
    Ok(())
}

impl OpDef for AggregateWeights {
    fn kind(&self) -> &'static str {
        "AggregateWeights"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        self.method.validate().map_err(|e| e.to_string())?;
        let want = if self.method.uses_state() { 3 } else { 2 };
        let roles: &[&str] = if self.method.uses_state() {
            &["gram", "losses", "state"]
        } else {
            &["gram", "losses"]
        };
        expect_operands(i, roles).map_err(|e| format!("{} {e}", self.method.name()))?;
        let t = square_rule("AggregateWeights", i[0])?;
        vector_rule("losses", i[1], t)?;
        if want == 3 {
            let s = square_rule("AggregateWeights", i[2])?;
            if let (Some(a), Some(b)) = (s, t) {
                if a != b {
                    return Err(format!("state must be [{b}, {b}], got {}", i[2].shape));
                }
            }
        }
        Ok(Some(TensorInfo::new(DType::F32, Shape(vec![t]))))
    }
    fn compute(
        &self,
        ctx: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (t, g) = square_input(&inputs[0])?;
        let gram: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let losses: Vec<f64> = inputs[1].f32().iter().map(|&v| v as f64).collect();
        if losses.len() != t {
            return Err(format!(
                "{} losses for a {t} x {t} Gram matrix",
                losses.len()
            ));
        }
        let w = if self.method.uses_state() {
            let (ts, s) = square_input(&inputs[2])?;
            if ts != t {
                return Err(format!("state is {ts} x {ts}, Gram matrix is {t} x {t}"));
            }
            let state: Vec<f64> = s.iter().map(|&v| v as f64).collect();
            let mut rng = gradvac_rng(g, s);
            self.method.weights(
                &gram,
                t,
                &losses,
                Some(&state),
                &mut rng,
                f32::EPSILON as f64,
            )
        } else {
            self.method
                .weights(&gram, t, &losses, None, ctx.rng, f32::EPSILON as f64)
        }
        .map_err(|e| e.to_string())?;
        let o = out.f32_buffer(&[t]);
        for (o, w) in o.iter_mut().zip(w) {
            *o = w as f32;
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None; c.inputs.len()])
    }
    fn is_stateful(&self) -> bool {
        matches!(self.method, Aggregator::PcGrad)
    }
}

/// The generator of GradVac's visiting orders in one step: seeded from the bits of the Gram
/// matrix and of the state, so [`AggregateWeights`] and [`GradVacUpdate`] (two nodes that see
/// the same inputs) draw the same orders, and a run is reproducible.
fn gradvac_rng(gram: &[f32], state: &[f32]) -> StdRng {
    // FNV-1a over the bits, then splitmix64.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in gram.iter().chain(state) {
        h ^= v.to_bits() as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(h ^ (h >> 31))
}

/// GradVac's state update: inputs `(state [T, T] variable, gram [T, T])`; writes the new EMA
/// of the target cosines. See [`gradvac_update`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradVacUpdate {
    /// EMA rate (`state ← (1 - beta) state + beta φ`).
    pub beta: f32,
}

impl OpDef for GradVacUpdate {
    fn kind(&self) -> &'static str {
        "GradVacUpdate"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["state", "gram"])?;
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(format!("beta must be in [0, 1], got {}", self.beta));
        }
        let s = square_rule("GradVacUpdate", i[0])?;
        let t = square_rule("GradVacUpdate", i[1])?;
        if let (Some(a), Some(b)) = (s, t) {
            if a != b {
                return Err(format!("state is {a} x {a}, Gram matrix is {b} x {b}"));
            }
        }
        Ok(None)
    }
    fn mutated_inputs(&self) -> usize {
        1
    }
    fn compute(&self, _: &mut KernelCtx, _: &[ValueView], _: &mut Value) -> Result<(), String> {
        Err("internal: gradvac_update runs through update".into())
    }
    fn update(
        &self,
        _: &mut KernelCtx,
        vars: &mut [&mut Value],
        inputs: &[ValueView],
    ) -> Result<(), String> {
        let (t, g) = square_input(&inputs[0])?;
        let state = match &*vars[0] {
            Value::F32(a) if a.shape() == [t, t] => {
                a.as_slice().ok_or("state must be contiguous")?.to_vec()
            }
            v => {
                return Err(format!(
                    "state must be f32 [{t}, {t}], got {} {:?}",
                    v.dtype(),
                    v.shape()
                ))
            }
        };
        let gram: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let s64: Vec<f64> = state.iter().map(|&v| v as f64).collect();
        let new = if gram.iter().chain(&s64).any(|v| !v.is_finite()) {
            vec![f64::NAN; t * t]
        } else {
            let mut rng = gradvac_rng(g, &state);
            let orders = gradvac::random_orders(t, &mut rng);
            gradvac::step(&gram, t, &s64, &orders, gradvac::EPS).1
        };
        let beta = self.beta as f64;
        let o = vars[0].f32_buffer(&[t, t]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        for k in 0..t * t {
            // `step` returns the cosines φ; the EMA is applied here with this op's beta.
            o[k] = if k % (t + 1) == 0 {
                state[k]
            } else {
                ((1.0 - beta) * s64[k] + beta * new[k]) as f32
            };
        }
        Ok(())
    }
}

/// Aggregator weights from a Gram matrix: `gram` f32 `[T, T]`; `losses` f32 `[T]` (the
/// per-task loss values; read by MGDA's loss normalisations, ignored by the others); `state`
/// is GradVac's EMA variable f32 `[T, T]` (pass it only for GradVac). Output: weights f32
/// `[T]` on the raw per-task gradients. No gradient. PCGrad's projection order is drawn from
/// the session's generator (seeded from the graph seed), so runs are reproducible; GradVac's
/// orders come from a generator seeded by the Gram matrix and state bits (so that
/// [`gradvac_update`] replays them).
pub fn aggregate_weights<'g>(
    method: Aggregator,
    gram: Tensor<'g>,
    losses: Tensor<'g>,
    state: Option<Tensor<'g>>,
) -> Tensor<'g> {
    let mut inputs = vec![gram, losses];
    inputs.extend(state);
    gram.graph().add(AggregateWeights { method }, &inputs)
}

/// GradVac's state update: writes the new EMA of the target cosines into `state` (a variable
/// f32 `[T, T]`, zeros initially) from `gram`. It runs after every read of the state in the same
/// step (the session writes variables after all pure nodes), so the weights use the previous
/// step's state; it replays the visiting orders of [`aggregate_weights`] for the same inputs.
/// The diagonal is left unchanged.
pub fn gradvac_update<'g>(state: Tensor<'g>, gram: Tensor<'g>, beta: f32) -> Operation<'g> {
    state
        .graph()
        .add_op(GradVacUpdate { beta }, &[state, gram], None)
}
