//! `bias_add` ([`BiasAdd`]) with its column-sum gradient ([`BiasAddGrad`]), and the
//! pool-parallel relu gradient ([`ReluGradPar`]) of the fused conv layer.

use super::runs::add_run;
use super::PARTIALS;
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use crate::ops::scratch::with_scratch;
use crate::ops::simd::multiversion;
use crate::ops::{
    expect_arity, expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Adds a bias `b [c]` along the last axis of `x [..., c]` (TF1's `tf.nn.bias_add`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasAdd;

impl OpDef for BiasAdd {
    fn kind(&self) -> &'static str {
        "BiasAdd"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["x", "bias"])?;
        expect_f32("BiasAdd", i[0])?;
        expect_f32("BiasAdd", i[1])?;
        let (x, b) = (&i[0].shape, &i[1].shape);
        if x.rank() < 1 || b.rank() != 1 {
            return Err(format!(
                "needs x of rank >= 1 and a rank-1 bias, got {x} and {b}"
            ));
        }
        if let (Some(c), Some(n)) = (x.dim(x.rank() - 1), b.dim(0)) {
            if c != n {
                return Err(format!(
                    "bias length {n} differs from the last dimension of x ({c})"
                ));
            }
        }
        let mut s = x.clone();
        let r = s.rank();
        s.0[r - 1] = s.0[r - 1].or(b.dim(0));
        Ok(Some(TensorInfo::new(i[0].dtype, s)))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (x, b) = (inputs[0].f32(), inputs[1].f32());
        let c = *x.shape().last().unwrap_or(&0);
        if b.shape() != [c] {
            return Err(format!(
                "bias shape {:?} does not fit x {:?}",
                b.shape(),
                x.shape()
            ));
        }
        let (x, b) = (x.as_standard_layout(), b.as_standard_layout());
        let b = b.as_slice().expect("standard layout");
        let o = out.f32_buffer(x.shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        if c == 0 {
            return Ok(());
        }
        for (orow, xrow) in o
            .chunks_exact_mut(c)
            .zip(x.as_slice().expect("standard layout").chunks_exact(c))
        {
            for ((o, &x), &b) in orow.iter_mut().zip(xrow).zip(b) {
                *o = x + b;
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let db = c.graph.add(BiasAddGrad, &[c.dy]);
        Ok(vec![Some(c.dy), Some(db)])
    }
}

/// Gradient of [`BiasAdd`] for the bias: sums `dy [..., c]` over all but the last axis -> `[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasAddGrad;

impl OpDef for BiasAddGrad {
    fn kind(&self) -> &'static str {
        "BiasAddGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 1)?;
        if i[0].shape.rank() < 1 {
            return Err("takes one operand of rank >= 1, got a scalar".into());
        }
        expect_f32("BiasAddGrad", i[0])?;
        let s = &i[0].shape;
        Ok(Some(TensorInfo::new(
            i[0].dtype,
            Shape(vec![s.dim(s.rank() - 1)]),
        )))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let dy = inputs[0].f32().as_standard_layout();
        let c = *dy.shape().last().unwrap_or(&0);
        let o = out.f32_buffer(&[c]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        column_sums(dy.as_slice().expect("standard layout"), c, o);
        Ok(())
    }
}

/// Rows per task below which column sums and relu masks stay on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 16;

/// `out[j] = sum_i m[i, j]` for row-major `m [rows, c]`, split over the pool for large `m`.
fn column_sums(m: &[f32], c: usize, out: &mut [f32]) {
    out.fill(0.0);
    if c == 0 || m.is_empty() {
        return;
    }
    let rows = m.len() / c;
    let groups = if m.len() < PAR_MIN_ELEMS {
        1
    } else {
        rayon::current_num_threads().clamp(1, rows)
    };
    if groups == 1 {
        add_rows(m, c, out);
        return;
    }
    with_scratch(&PARTIALS, groups * c, |parts| {
        parts.par_chunks_mut(c).enumerate().for_each(|(t, p)| {
            p.fill(0.0);
            let (r0, r1) = (t * rows / groups, (t + 1) * rows / groups);
            add_rows(&m[r0 * c..r1 * c], c, p);
        });
        for p in parts.chunks_exact(c) {
            add_run(out, p);
        }
    });
}

multiversion! {
    /// `acc += sum of the rows of m [.., c]`.
    fn add_rows(m: &[f32], c: usize, acc: &mut [f32]) => add_rows_impl
}

#[inline(always)]
fn add_rows_impl(m: &[f32], c: usize, acc: &mut [f32]) {
    // Sum flat blocks of several whole rows (≤ 128 floats) so the inner loop is long.
    let per = (128 / c).max(1);
    let l = per * c;
    if l <= 128 {
        let mut wide = [0f32; 128];
        let blocks = m.chunks_exact(l);
        let rest = blocks.remainder();
        for b in blocks {
            for (w, &v) in wide[..l].iter_mut().zip(b) {
                *w += v;
            }
        }
        for r in wide[..l].chunks_exact(c).chain(rest.chunks_exact(c)) {
            add_run(acc, r);
        }
    } else {
        for row in m.chunks_exact(c) {
            add_run(acc, row);
        }
    }
}

multiversion! {
    /// `out = dy * (y > 0)` (NaN `dy` stays NaN, as in TF).
    fn relu_grad_run(dy: &[f32], y: &[f32], out: &mut [f32]) => relu_grad_impl
}

#[inline(always)]
fn relu_grad_impl(dy: &[f32], y: &[f32], out: &mut [f32]) {
    for ((o, &d), &y) in out.iter_mut().zip(dy).zip(y) {
        *o = crate::ops::binary::relu_grad_f32(d, y);
    }
}

/// Relu's gradient `dy * (y > 0)` from `(dy, y)` with `y = relu(..)`, split over the rayon
/// pool (the fused conv layer's backward pass; the generic element-wise op is serial).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReluGradPar;

impl OpDef for ReluGradPar {
    fn kind(&self) -> &'static str {
        "ReluGrad"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["dy", "y"])?;
        if !i[0].shape.compatible(&i[1].shape) {
            return Err(format!(
                "takes (dy, y) of one shape, got {} and {}",
                i[0].shape, i[1].shape
            ));
        }
        expect_f32("ReluGrad", i[0])?;
        expect_f32("ReluGrad", i[1])?;
        Ok(Some(i[0].clone()))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (dy, y) = (inputs[0].f32(), inputs[1].f32());
        if dy.shape() != y.shape() {
            return Err(format!("dy {:?} vs y {:?}", dy.shape(), y.shape()));
        }
        let (dy, y) = (dy.as_standard_layout(), y.as_standard_layout());
        let (dy, y) = (
            dy.as_slice().expect("standard layout"),
            y.as_slice().expect("standard layout"),
        );
        let o = out.f32_buffer(inputs[0].shape());
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let chunk = PAR_MIN_ELEMS.max(o.len().div_ceil(4 * rayon::current_num_threads()));
        if o.len() <= chunk {
            relu_grad_run(dy, y, o);
            return Ok(());
        }
        o.par_chunks_mut(chunk).enumerate().for_each(|(t, oc)| {
            let r = t * chunk..t * chunk + oc.len();
            relu_grad_run(&dy[r.clone()], &y[r], oc)
        });
        Ok(())
    }
}

/// `x + b` with `b [c]` added along the last axis of `x [..., c]` (TF1's `tf.nn.bias_add`);
/// its bias gradient is one column sum.
pub fn bias_add<'g>(x: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    x.graph().add(BiasAdd, &[x, b])
}
