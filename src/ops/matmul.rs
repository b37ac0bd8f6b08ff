//! Matrix product of f32 tensors, with optional transposes (TF1's `tf.matmul`): rank 2, or
//! batched on rank >= 3 with the batch dimensions broadcast (`tf.linalg.matmul`,
//! `BatchMatMulV2`); `tensordot` and `matvec` are built on it.

use super::{expect_arity, expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{broadcast_dims, Dims, Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, ShapeBuilder};
use serde::{Deserialize, Serialize};

/// `op(a) · op(b)` where `op` transposes the last two axes when asked. Shapes:
/// `[m, k] · [k, n] -> [m, n]`; batched `[..a, m, k] · [..b, k, n] -> [..c, m, n]` where `..c`
/// is the NumPy broadcast of the batch dimensions `..a` and `..b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatMul {
    /// Use `aᵀ`.
    pub transpose_a: bool,
    /// Use `bᵀ`.
    pub transpose_b: bool,
}

impl OpDef for MatMul {
    fn kind(&self) -> &'static str {
        "MatMul"
    }
    fn infer(&self, i: &[&TensorInfo]) -> Result<Option<TensorInfo>, String> {
        expect_arity(i, 2)?;
        expect_f32("MatMul", i[0])?;
        expect_f32("MatMul", i[1])?;
        let (ra, rb) = (i[0].shape.rank(), i[1].shape.rank());
        if ra < 2 || rb < 2 {
            return Err(format!(
                "needs operands of rank >= 2 (matrices or batches of them), got ranks {ra} and {rb}"
            ));
        }
        let (m, ka) = pick(&i[0].shape, self.transpose_a);
        let (kb, n) = pick(&i[1].shape, self.transpose_b);
        if let (Some(ka), Some(kb)) = (ka, kb) {
            if ka != kb {
                return Err(format!("inner dimensions differ ({ka} vs {kb})"));
            }
        }
        let batch_a = Shape(i[0].shape.0[..ra - 2].to_vec());
        let batch_b = Shape(i[1].shape.0[..rb - 2].to_vec());
        let mut dims = batch_a
            .broadcast(&batch_b)
            .map_err(|e| format!("batch dimensions do not broadcast: {e}"))?
            .0;
        dims.extend([m, n]);
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(dims))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (a, b) = (inputs[0].f32(), inputs[1].f32());
        if a.ndim() < 2 || b.ndim() < 2 {
            return Err(format!(
                "needs operands of rank >= 2 at run time, got {:?} and {:?}",
                a.shape(),
                b.shape()
            ));
        }
        if a.ndim() > 2 || b.ndim() > 2 {
            return self.batched(a, b, out);
        }
        let a = view2(a, self.transpose_a);
        let b = view2(b, self.transpose_b);
        if a.ncols() != b.nrows() {
            return Err(format!(
                "inner dimensions differ at run time: {:?} · {:?}",
                a.shape(),
                b.shape()
            ));
        }
        let (m, n) = (a.nrows(), b.ncols());
        let o = out.f32_buffer(&[m, n]);
        // SAFETY: `o` is a standard-layout buffer of exactly m * n elements.
        let o = unsafe { ArrayViewMut2::from_shape_ptr((m, n), o.as_mut_ptr()) };
        super::gemm::sgemm(a, b, o, false);
        Ok(())
    }
    fn gradient<'g>(&self, c: &GradCtx<'g>) -> GradResult<'g> {
        let (a, b, dy) = (c.inputs[0], c.inputs[1], c.dy);
        let (da, db) = match (self.transpose_a, self.transpose_b) {
            (false, false) => (matmul_t(dy, b, false, true), matmul_t(a, dy, true, false)),
            (false, true) => (matmul_t(dy, b, false, false), matmul_t(dy, a, true, false)),
            (true, false) => (matmul_t(b, dy, false, true), matmul_t(a, dy, false, false)),
            (true, true) => (matmul_t(b, dy, true, true), matmul_t(dy, a, true, true)),
        };
        if a.shape().rank() == 2 && b.shape().rank() == 2 {
            return Ok(vec![Some(da), Some(db)]);
        }
        // Batched: sum over the batch dimensions each operand was broadcast along.
        let reduce = super::reduce::reduce_to_shape_of;
        Ok(vec![Some(reduce(da, a)), Some(reduce(db, b))])
    }
}

impl MatMul {
    /// The batched product: one gemm per output matrix, the operands' batch indices
    /// broadcast (a batch dimension of 1 repeats).
    fn batched(
        &self,
        a: &ArrayViewD<f32>,
        b: &ArrayViewD<f32>,
        out: &mut Value,
    ) -> Result<(), String> {
        let (ra, rb) = (a.ndim(), b.ndim());
        let (ba, bb) = (&a.shape()[..ra - 2], &b.shape()[..rb - 2]);
        let batch = broadcast_dims(ba, bb)
            .map_err(|e| format!("batch dimensions do not broadcast at run time: {e}"))?;
        let mat = |x: &ArrayViewD<f32>, t: bool| {
            let r = x.ndim();
            let (p, q) = (x.shape()[r - 2], x.shape()[r - 1]);
            if t {
                (q, p)
            } else {
                (p, q)
            }
        };
        let ((m, ka), (kb, n)) = (mat(a, self.transpose_a), mat(b, self.transpose_b));
        if ka != kb {
            return Err(format!(
                "inner dimensions differ at run time: {:?} · {:?}",
                a.shape(),
                b.shape()
            ));
        }
        let mut shape: Dims = batch.clone();
        shape.extend([m, n]);
        let (da, db) = (super::array::contiguous(a), super::array::contiguous(b));
        let o = out.f32_buffer(&shape);
        let o = o.as_slice_mut().expect("buffers are contiguous");
        let (sa, sb) = (m * ka, ka * n);
        // Flat batch offset of output batch index `idx` in an operand with batch dims `dims`
        // (right-aligned, size-1 dimensions repeating).
        let offset = |idx: &[usize], dims: &[usize]| {
            let skip = idx.len() - dims.len();
            dims.iter()
                .zip(&idx[skip..])
                .fold(0, |f, (&d, &i)| f * d + if d == 1 { 0 } else { i })
        };
        let count: usize = batch.iter().product();
        let mut idx: Dims = batch.iter().map(|_| 0).collect();
        for k in 0..count {
            let pa = &da[offset(&idx, ba) * sa..][..sa];
            let pb = &db[offset(&idx, bb) * sb..][..sb];
            let va = matrix(pa, a.shape()[ra - 2], a.shape()[ra - 1], self.transpose_a);
            let vb = matrix(pb, b.shape()[rb - 2], b.shape()[rb - 1], self.transpose_b);
            let vo = ArrayViewMut2::from_shape((m, n), &mut o[k * m * n..(k + 1) * m * n])
                .expect("m * n elements");
            super::gemm::sgemm(va, vb, vo, false);
            for j in (0..idx.len()).rev() {
                idx[j] += 1;
                if idx[j] < batch[j] {
                    break;
                }
                idx[j] = 0;
            }
        }
        Ok(())
    }
}

/// A row-major `[r, c]` matrix in `data`, transposed if asked.
fn matrix(data: &[f32], r: usize, c: usize, transpose: bool) -> ArrayView2<'_, f32> {
    let v = ArrayView2::from_shape((r, c), data).expect("r * c elements");
    if transpose {
        v.reversed_axes()
    } else {
        v
    }
}

/// A rank-2 view of a dynamic-rank view (checked rank 2), transposed if asked, without the
/// generic dimension conversion machinery.
fn view2<'a>(x: &ArrayViewD<'a, f32>, transpose: bool) -> ArrayView2<'a, f32> {
    let (r, c) = (x.shape()[0], x.shape()[1]);
    let (sr, sc) = (x.strides()[0] as usize, x.strides()[1] as usize);
    let (r, c, sr, sc) = if transpose {
        (c, r, sc, sr)
    } else {
        (r, c, sr, sc)
    };
    // SAFETY: same data, shape and (non-negative, as all our buffers) strides as `x`, only
    // re-typed to rank 2 and possibly with the axes swapped.
    unsafe { ArrayView2::from_shape_ptr((r, c).strides((sr, sc)), x.as_ptr()) }
}

/// The (rows, columns) of the last two axes, swapped if transposed.
fn pick(s: &Shape, t: bool) -> (Option<usize>, Option<usize>) {
    let r = s.rank();
    if t {
        (s.0[r - 1], s.0[r - 2])
    } else {
        (s.0[r - 2], s.0[r - 1])
    }
}

/// Matrix product `a · b` (TF1's `tf.matmul`): `[m, k] · [k, n] -> [m, n]`, or batched on
/// rank >= 3, `[..a, m, k] · [..b, k, n] -> [..c, m, n]` with the batch dimensions `..a`,
/// `..b` broadcast to `..c` (`tf.linalg.matmul`); a rank-2 operand is one matrix for every
/// batch.
pub fn matmul<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    matmul_t(a, b, false, false)
}

/// Matrix product with optional transposes of the last two axes: `op(a) · op(b)`
/// (`transpose_a`, `transpose_b` of TF1's `tf.matmul`), rank 2 or batched as [`matmul`].
pub fn matmul_t<'g>(
    a: Tensor<'g>,
    b: Tensor<'g>,
    transpose_a: bool,
    transpose_b: bool,
) -> Tensor<'g> {
    a.graph().add(
        MatMul {
            transpose_a,
            transpose_b,
        },
        &[a, b],
    )
}

/// Which axes [`tensordot`] contracts (TF1's `axes` argument).
#[derive(Clone, Debug, PartialEq)]
pub enum TensordotAxes {
    /// The last `n` axes of `a` with the first `n` of `b` (`axes=n`; `1` is a matrix product).
    Count(usize),
    /// `a`'s axes `.0[i]` with `b`'s axes `.1[i]` (`axes=[[..], [..]]`; negative counts from
    /// the end).
    Pairs(Vec<i64>, Vec<i64>),
}

impl From<usize> for TensordotAxes {
    fn from(n: usize) -> Self {
        TensordotAxes::Count(n)
    }
}

impl From<(&[i64], &[i64])> for TensordotAxes {
    fn from((a, b): (&[i64], &[i64])) -> Self {
        TensordotAxes::Pairs(a.to_vec(), b.to_vec())
    }
}

impl<const N: usize> From<([i64; N], [i64; N])> for TensordotAxes {
    fn from((a, b): ([i64; N], [i64; N])) -> Self {
        TensordotAxes::Pairs(a.to_vec(), b.to_vec())
    }
}

/// How [`tensordot`] lays out one operand: its axes permuted (free then contracted for `a`,
/// contracted then free for `b`) and the free dimensions.
struct DotSide {
    perm: Vec<usize>,
    free: Vec<Option<usize>>,
}

fn dot_side(s: &Shape, contracted: &[usize], free_first: bool) -> DotSide {
    let free_axes: Vec<usize> = (0..s.rank()).filter(|k| !contracted.contains(k)).collect();
    let free = free_axes.iter().map(|&k| s.0[k]).collect();
    let perm = if free_first {
        free_axes.iter().chain(contracted).copied().collect()
    } else {
        contracted.iter().chain(&free_axes).copied().collect()
    };
    DotSide { perm, free }
}

/// Product of dimensions as a reshape entry (`-1` if one is unknown).
fn dim_product(d: &[Option<usize>]) -> Option<i64> {
    d.iter()
        .try_fold(1i64, |p, d| d.and_then(|d| p.checked_mul(d as i64)))
}

/// The contracted axes of both operands, checked.
fn contracted_axes(
    sa: &Shape,
    sb: &Shape,
    axes: &TensordotAxes,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let (ra, rb) = (sa.rank(), sb.rank());
    let (ca, cb): (Vec<usize>, Vec<usize>) = match axes {
        TensordotAxes::Count(n) if *n > ra || *n > rb => {
            return Err(format!(
                "cannot contract {n} axes of operands of ranks {ra} and {rb}"
            ))
        }
        TensordotAxes::Count(n) => ((ra - n..ra).collect(), (0..*n).collect()),
        TensordotAxes::Pairs(a, b) if a.len() != b.len() => {
            return Err(format!("axes {a:?} and {b:?} must pair up (same length)"))
        }
        TensordotAxes::Pairs(a, b) => {
            let norm = |v: &[i64], r: usize| -> Result<Vec<usize>, String> {
                let v: Vec<usize> = v
                    .iter()
                    .map(|&x| super::array::norm_axis(x, r))
                    .collect::<Result<_, _>>()?;
                if (1..v.len()).any(|i| v[..i].contains(&v[i])) {
                    return Err(format!("an axis is contracted twice in {v:?}"));
                }
                Ok(v)
            };
            (norm(a, ra)?, norm(b, rb)?)
        }
    };
    for (&i, &j) in ca.iter().zip(&cb) {
        if let (Some(d), Some(e)) = (sa.0[i], sb.0[j]) {
            if d != e {
                return Err(format!(
                    "contracted axis {i} of a (size {d}) and axis {j} of b (size {e}) differ"
                ));
            }
        }
    }
    Ok((ca, cb))
}

/// Sum of products over the paired axes of `a` and `b` (TF1's `tf.tensordot`): the result
/// has `a`'s free axes then `b`'s. `axes = 1` on `[m, k]`, `[k, n]` is the matrix product
/// `[m, n]`; `axes = 0` the outer product; `([1], [0])` on `[m, k]`, `[k]` a matrix-vector
/// product `[m]`; `([0, 2], [2, 0])` on `[i, j, k]`, `[k, l, i]` gives `[j, l]`. Built from
/// `transpose`, `reshape` and `matmul`, so gradients come from theirs. Contracted dimensions
/// that both operands know must agree; unknown dimensions are allowed as long as each
/// reshape has at most one (else a build error naming the `Tensordot` node).
pub fn tensordot<'g>(a: Tensor<'g>, b: Tensor<'g>, axes: impl Into<TensordotAxes>) -> Tensor<'g> {
    use super::array::{reshape, transpose};
    let (sa, sb) = (a.shape(), b.shape());
    let fail = |reason: String| super::conv::invalid(&[a, b], reason, "Tensordot");
    let (ca, cb) = match contracted_axes(&sa, &sb, &axes.into()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let k: Vec<Option<usize>> = ca
        .iter()
        .zip(&cb)
        .map(|(&i, &j)| sa.0[i].or(sb.0[j]))
        .collect();
    let (da, db) = (dot_side(&sa, &ca, true), dot_side(&sb, &cb, false));
    let (m, kk, n) = (
        dim_product(&da.free),
        dim_product(&k),
        dim_product(&db.free),
    );
    let out: Vec<Option<usize>> = da.free.iter().chain(&db.free).copied().collect();
    let unknown_out = out.iter().filter(|d| d.is_none()).count();
    if (m.is_none() && kk.is_none()) || (kk.is_none() && n.is_none()) || unknown_out > 1 {
        return fail(format!(
            "too many unknown dimensions in {sa} and {sb} to reshape for a matrix product"
        ));
    }
    let prep = |x: Tensor<'g>, side: &DotSide, rows: Option<i64>, cols: Option<i64>| {
        let identity = side.perm.iter().enumerate().all(|(i, &p)| i == p);
        let x = if identity {
            x
        } else {
            transpose(x, &side.perm)
        };
        if x.shape().rank() == 2 && side.free.len() == 1 {
            x
        } else {
            reshape(x, &[rows.unwrap_or(-1), cols.unwrap_or(-1)])
        }
    };
    let prod = matmul(prep(a, &da, m, kk), prep(b, &db, kk, n));
    if out.len() == 2 && da.free.len() == 1 {
        return prod;
    }
    let dims: Vec<i64> = out.iter().map(|d| d.map_or(-1, |d| d as i64)).collect();
    reshape(prod, &dims)
}

/// Matrix-vector product (TF1's `tf.linalg.matvec`): `[.., m, k] · [.., k] -> [.., m]`, batch
/// dimensions broadcast as in [`matmul`].
pub fn matvec<'g>(a: Tensor<'g>, x: Tensor<'g>) -> Tensor<'g> {
    use super::array::{expand_dims, squeeze};
    squeeze(matmul(a, expand_dims(x, -1)), &[-1])
}
