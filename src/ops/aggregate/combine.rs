//! `combine`: the weighted sum `Σ_i w_i g_i` of the per-task gradients of one variable.

use crate::graph::{DType, Tensor, TensorInfo, Value, ValueView};
use crate::ops::simd::multiversion;
use crate::ops::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use serde::{Deserialize, Serialize};

/// Elements of the output written per pass over the tasks: the block stays in L1 while each
/// task's slice is added, so the output is written to memory once.
const BLOCK: usize = 4096;

/// `d = Σ_i w[i] g_i`. Inputs `(w f32 [T], g_0, .., g_{T-1})`, the `g_i` of one shape; output
/// that shape. No gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Combine;

impl OpDef for Combine {
    fn kind(&self) -> &'static str {
        "Combine"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        if i.len() < 2 {
            return Err("needs weights [T] and T >= 1 gradients".into());
        }
        let t = i.len() - 1;
        expect_f32("Combine", i[0])?;
        if i[0].shape.rank() != 1 || i[0].shape.dim(0).is_some_and(|d| d != t) {
            return Err(format!(
                "weights must have shape [{t}] (one per gradient), got {}",
                i[0].shape
            ));
        }
        let mut shape = i[1].shape.clone();
        for (k, g) in i[1..].iter().enumerate() {
            expect_f32("Combine", g)?;
            if !g.shape.compatible(&shape) {
                return Err(format!(
                    "gradient {k} has shape {}, gradient 0 has {}",
                    g.shape, i[1].shape
                ));
            }
            for (d, e) in shape.0.iter_mut().zip(&g.shape.0) {
                *d = d.or(*e);
            }
        }
        Ok(Some(TensorInfo::new(DType::F32, shape)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let w = inputs[0].f32();
        let t = inputs.len() - 1;
        if w.len() != t {
            return Err(format!(
                "weights have {} entries for {t} gradients",
                w.len()
            ));
        }
        let shape: crate::graph::Dims = inputs[1].shape().into();
        let mut rows: smallvec::SmallVec<[&[f32]; 16]> = smallvec::SmallVec::new();
        let mut ws: smallvec::SmallVec<[f32; 16]> = smallvec::SmallVec::new();
        ws.extend(w.iter().copied());
        for (k, g) in inputs[1..].iter().enumerate() {
            let g = g.f32();
            if g.shape() != shape.as_slice() {
                return Err(format!(
                    "gradient {k} has shape {:?}, gradient 0 has {:?}",
                    g.shape(),
                    shape.as_slice()
                ));
            }
            if let Some(s) = g.as_slice() {
                rows.push(s);
            }
        }
        let o = out.f32_buffer(&shape);
        if rows.len() < t {
            // Strided views (rare).
            o.fill(0.0);
            for (k, g) in inputs[1..].iter().enumerate() {
                let wk = ws[k];
                ndarray::Zip::from(&mut *o)
                    .and(g.f32())
                    .for_each(|o, &x| *o += wk * x);
            }
            return Ok(());
        }
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let n = o.len();
        let mut start = 0;
        while start < n {
            let end = (start + BLOCK).min(n);
            combine_block(&ws, &rows, start, &mut o[start..end]);
            start = end;
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None; c.inputs.len()])
    }
}

multiversion! {
    fn combine_block(w: &[f32], rows: &[&[f32]], start: usize, out: &mut [f32]) => combine_impl
}

/// `out = Σ_i w_i rows[i][start..start + out.len()]`.
#[inline(always)]
fn combine_impl(w: &[f32], rows: &[&[f32]], start: usize, out: &mut [f32]) {
    let n = out.len();
    let w0 = w[0];
    for (o, &x) in out.iter_mut().zip(&rows[0][start..start + n]) {
        *o = w0 * x;
    }
    for (&wi, r) in w.iter().zip(rows).skip(1) {
        for (o, &x) in out.iter_mut().zip(&r[start..start + n]) {
            *o += wi * x;
        }
    }
}

/// `d = Σ_i weights[i] * grads[i]` for one variable: `weights` f32 `[T]`, `grads` `T`
/// tensors of one shape. Output: that shape. No gradient. A NaN weight gives NaN output.
/// An empty `grads` is a build error on the node.
pub fn combine<'g>(weights: Tensor<'g>, grads: &[Tensor<'g>]) -> Tensor<'g> {
    let mut inputs = Vec::with_capacity(grads.len() + 1);
    inputs.push(weights);
    inputs.extend_from_slice(grads);
    weights.graph().add(Combine, &inputs)
}
