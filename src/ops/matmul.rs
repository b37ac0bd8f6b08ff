//! Matrix product of two rank-2 f32 tensors, with optional transposes (TF1's `tf.matmul`).

use super::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, ShapeBuilder};
use serde::{Deserialize, Serialize};

/// `op(a) · op(b)` where `op` transposes when asked. Shapes: `[m, k] · [k, n] -> [m, n]`.
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
        if i.len() != 2 {
            return Err(format!("takes two operands, got {}", i.len()));
        }
        expect_f32("MatMul", i[0])?;
        expect_f32("MatMul", i[1])?;
        if i[0].shape.rank() != 2 || i[1].shape.rank() != 2 {
            return Err(format!(
                "needs rank-2 operands, got ranks {} and {}",
                i[0].shape.rank(),
                i[1].shape.rank()
            ));
        }
        let (m, ka) = pick(&i[0].shape, self.transpose_a);
        let (kb, n) = pick(&i[1].shape, self.transpose_b);
        if let (Some(ka), Some(kb)) = (ka, kb) {
            if ka != kb {
                return Err(format!("inner dimensions differ ({ka} vs {kb})"));
            }
        }
        Ok(Some(TensorInfo::new(i[0].dtype, Shape(vec![m, n]))))
    }
    fn compute(
        &self,
        _: &mut KernelCtx,
        inputs: &[ValueView],
        out: &mut Value,
    ) -> Result<(), String> {
        let (a, b) = (inputs[0].f32(), inputs[1].f32());
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(format!(
                "needs rank-2 operands at run time, got {:?} and {:?}",
                a.shape(),
                b.shape()
            ));
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
        Ok(vec![Some(da), Some(db)])
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

fn pick(s: &Shape, t: bool) -> (Option<usize>, Option<usize>) {
    if t {
        (s.0[1], s.0[0])
    } else {
        (s.0[0], s.0[1])
    }
}

/// Matrix product `a · b` of rank-2 tensors: `[m, k] · [k, n] -> [m, n]`.
pub fn matmul<'g>(a: Tensor<'g>, b: Tensor<'g>) -> Tensor<'g> {
    matmul_t(a, b, false, false)
}

/// Matrix product with optional transposes: `op(a) · op(b)`.
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
