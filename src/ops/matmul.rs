//! Matrix product of two rank-2 f32 tensors, with optional transposes (TF1's `tf.matmul`).

use super::{expect_f32, GradCtx, GradResult, KernelCtx, OpDef};
use crate::graph::{Shape, Tensor, TensorInfo, Value, ValueView};
use ndarray::Ix2;
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
        let a = inputs[0]
            .f32()
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        let b = inputs[1]
            .f32()
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|e| e.to_string())?;
        let a = if self.transpose_a {
            a.reversed_axes()
        } else {
            a
        };
        let b = if self.transpose_b {
            b.reversed_axes()
        } else {
            b
        };
        if a.ncols() != b.nrows() {
            return Err(format!(
                "inner dimensions differ at run time: {:?} · {:?}",
                a.shape(),
                b.shape()
            ));
        }
        let o = out.f32_buffer(&[a.nrows(), b.ncols()]);
        let o = o.view_mut().into_dimensionality::<Ix2>().expect("rank 2");
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
