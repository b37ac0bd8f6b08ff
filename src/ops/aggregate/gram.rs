//! The Gram matrix of per-task gradients and its diagnostics (norms, cosines).

use crate::graph::{DType, Shape, Tensor, TensorInfo, Value, ValueView};
use crate::ops::simd::multiversion;
use crate::ops::{expect_f32, expect_operands, GradCtx, GradResult, KernelCtx, OpDef};
use serde::{Deserialize, Serialize};

/// Elements per block of the blocked Gram kernel: `T` blocks of this many f32 stay in L1/L2
/// while every pair's partial dot product is taken, so each gradient is read from memory once.
const BLOCK: usize = 2048;

/// `G[i][j] = Σ_v <g_{i,v}, g_{j,v}>`. Inputs: `tasks * V` gradient tensors, task-major
/// (`task 0`'s `V` variables, then task 1's, ...); position `v` has one shape across tasks.
/// Output f32 `[T, T]`. No gradient.
///
/// Partial sums are f32 over blocks of 2,048 elements (16 lanes), accumulated in f64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gram {
    /// Number of tasks `T`.
    pub tasks: usize,
}

impl OpDef for Gram {
    fn kind(&self) -> &'static str {
        "Gram"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        let t = self.tasks;
        if t == 0 || i.is_empty() || !i.len().is_multiple_of(t) {
            return Err(format!(
                "needs the same number (>= 1) of gradients for each of {t} tasks, got {} tensors",
                i.len()
            ));
        }
        let v = i.len() / t;
        for (k, info) in i.iter().enumerate() {
            expect_f32("Gram", info)?;
            let first = i[k % v];
            if !info.shape.compatible(&first.shape) {
                return Err(format!(
                    "task {}'s gradient {} has shape {}, task 0's has {}",
                    k / v,
                    k % v,
                    info.shape,
                    first.shape
                ));
            }
        }
        Ok(Some(TensorInfo::new(DType::F32, Shape::known(&[t, t]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let t = self.tasks;
        let v = inputs.len() / t;
        let mut acc = [0f64; 32 * 33 / 2];
        let mut big;
        let acc: &mut [f64] = if t * (t + 1) / 2 <= acc.len() {
            &mut acc[..t * (t + 1) / 2]
        } else {
            big = vec![0f64; t * (t + 1) / 2];
            &mut big
        };
        let mut rows: smallvec::SmallVec<[&[f32]; 16]> = smallvec::SmallVec::new();
        for var in 0..v {
            let shape = inputs[var].shape();
            rows.clear();
            let mut contiguous = true;
            for task in 0..t {
                let x = inputs[task * v + var].f32();
                if x.shape() != shape {
                    return Err(format!(
                        "task {task}'s gradient {var} has shape {:?}, task 0's has {shape:?}",
                        x.shape()
                    ));
                }
                match x.as_slice() {
                    Some(s) => rows.push(s),
                    None => contiguous = false,
                }
            }
            if contiguous {
                let n = rows[0].len();
                let mut start = 0;
                while start < n {
                    let end = (start + BLOCK).min(n);
                    gram_block(&rows, start, end, acc);
                    start = end;
                }
            } else {
                // Strided views (rare): element iterators, f64 accumulation.
                let mut k = 0;
                for i in 0..t {
                    for j in i..t {
                        let a = inputs[i * v + var].f32();
                        let b = inputs[j * v + var].f32();
                        acc[k] += a
                            .iter()
                            .zip(b.iter())
                            .map(|(&x, &y)| x as f64 * y as f64)
                            .sum::<f64>();
                        k += 1;
                    }
                }
            }
        }
        let o = out.f32_buffer(&[t, t]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let mut k = 0;
        for i in 0..t {
            for j in i..t {
                o[i * t + j] = acc[k] as f32;
                o[j * t + i] = acc[k] as f32;
                k += 1;
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None; c.inputs.len()])
    }
}

/// Adds `<rows[i][start..end], rows[j][start..end]>` to `acc` for every pair `i <= j`
/// (upper triangle, row by row).
fn gram_block(rows: &[&[f32]], start: usize, end: usize, acc: &mut [f64]) {
    let mut k = 0;
    for i in 0..rows.len() {
        for j in i..rows.len() {
            acc[k] += dot(&rows[i][start..end], &rows[j][start..end]) as f64;
            k += 1;
        }
    }
}

/// `<a, b>` in f32 with 16 independent lanes (vectorises), for slices of equal length.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0;
    dot_into(a, b, &mut s);
    s
}

multiversion! {
    fn dot_into(a: &[f32], b: &[f32], out: &mut f32) => dot_impl
}

#[inline(always)]
fn dot_impl(a: &[f32], b: &[f32], out: &mut f32) {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    // Pairwise sum of the lanes.
    let mut w = 8;
    while w > 0 {
        for l in 0..w {
            lanes[l] += lanes[l + w];
        }
        w /= 2;
    }
    *out = lanes[0] + tail;
}

/// Gram matrix of per-task gradients: `G[i][j] = Σ_v <g_{i,v}, g_{j,v}>`.
/// `task_grads[i]` holds task `i`'s gradient tensors, one per shared variable, in the same
/// variable order for every task (same shapes across tasks at a position). Output f32
/// `[T, T]`. No gradient (treated like `stop_gradient`).
///
/// # Panics
/// If `task_grads` is empty or task 0 has no gradient: there is no graph to add the node to.
/// Other mismatches (different counts or shapes) are build errors on the node.
pub fn gram<'g>(task_grads: &[Vec<Tensor<'g>>]) -> Tensor<'g> {
    let g = task_grads
        .first()
        .and_then(|t| t.first())
        .expect("gram needs at least one task with one gradient")
        .graph();
    let v = task_grads[0].len();
    let flat: Vec<Tensor<'g>> = task_grads.iter().flatten().copied().collect();
    if let Some((i, t)) = task_grads.iter().enumerate().find(|(_, t)| t.len() != v) {
        let reason = format!(
            "task {i} has {} gradients, task 0 has {v}: every task needs one per shared variable",
            t.len()
        );
        return crate::ops::conv::invalid(&flat, reason, "Gram");
    }
    g.add(
        Gram {
            tasks: task_grads.len(),
        },
        &flat,
    )
}

/// `sqrt(diag(G))`: per-task gradient norms. Input f32 `[T, T]`, output f32 `[T]`. No gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GramNorms;

/// `C[i][j] = G[i][j] / (|g_i| |g_j|)`, 0 where a norm is 0. Input and output f32 `[T, T]`.
/// No gradient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GramCosine;

pub(crate) fn square_rule(op: &str, i: &TensorInfo) -> Result<Option<usize>, String> {
    expect_f32(op, i)?;
    if i.shape.rank() != 2 {
        return Err(format!("needs a [T, T] Gram matrix, got {}", i.shape));
    }
    match (i.shape.dim(0), i.shape.dim(1)) {
        (Some(a), Some(b)) if a != b => Err(format!("needs a square Gram matrix, got {}", i.shape)),
        (a, b) => Ok(a.or(b)),
    }
}

pub(crate) fn square_input<'a>(x: &'a ValueView) -> Result<(usize, &'a [f32]), String> {
    let a = x.f32();
    let s = a.shape();
    if s.len() != 2 || s[0] != s[1] {
        return Err(format!("needs a square Gram matrix, got shape {s:?}"));
    }
    let data = a
        .as_slice()
        .ok_or_else(|| "Gram matrix must be contiguous".to_string())?;
    Ok((s[0], data))
}

impl OpDef for GramNorms {
    fn kind(&self) -> &'static str {
        "GramNorms"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["gram matrix"])?;
        let t = square_rule("GramNorms", i[0])?;
        Ok(Some(TensorInfo::new(DType::F32, Shape(vec![t]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (t, g) = square_input(&inputs[0])?;
        let o = out.f32_buffer(&[t]);
        for (i, o) in o.iter_mut().enumerate() {
            // A tiny negative diagonal (rounding) gives 0, NaN stays NaN.
            let d = g[i * t + i];
            *o = if d < 0.0 { 0.0 } else { d.sqrt() };
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

impl OpDef for GramCosine {
    fn kind(&self) -> &'static str {
        "GramCosine"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_operands(i, &["gram matrix"])?;
        let t = square_rule("GramCosine", i[0])?;
        Ok(Some(TensorInfo::new(DType::F32, Shape(vec![t, t]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (t, g) = square_input(&inputs[0])?;
        let o = out.f32_buffer(&[t, t]);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let norm = |i: usize| (g[i * t + i] as f64).max(0.0).sqrt();
        for i in 0..t {
            for j in 0..t {
                let d = norm(i) * norm(j);
                let gij = g[i * t + j] as f64;
                o[i * t + j] = if gij.is_nan() || d.is_nan() {
                    f32::NAN
                } else if d == 0.0 {
                    0.0
                } else {
                    (gij / d).clamp(-1.0, 1.0) as f32
                };
            }
        }
        Ok(())
    }
    fn gradient<'g>(&self, _: &GradCtx<'g>) -> GradResult<'g> {
        Ok(vec![None])
    }
}

/// `sqrt(diag(G))`: per-task gradient norms, f32 `[T]` from the Gram matrix f32 `[T, T]`.
pub fn gram_norms(gram: Tensor<'_>) -> Tensor<'_> {
    gram.graph().add(GramNorms, &[gram])
}

/// Cosine matrix `C[i][j] = G[i][j] / (|g_i| |g_j|)` (0 where a norm is 0; clamped to
/// `[-1, 1]`), f32 `[T, T]` from the Gram matrix f32 `[T, T]`.
pub fn gram_cosine(gram: Tensor<'_>) -> Tensor<'_> {
    gram.graph().add(GramCosine, &[gram])
}
