//! PLACEHOLDER for helper `aggr`'s aggregation ops (MTL_INTERFACE.md): the contract's
//! signatures with `Sum`/`Mean` built from existing ops, so that the `mtl` layer can be
//! developed before the real ops land. Every other method is a build error here. This whole
//! folder is replaced by `aggr`'s version when `main` is merged.

use crate::graph::{Operation, Tensor};
use crate::ops::concat::{slice, stack};
use crate::{add_n, reduce_sum_all, reshape, sqrt};
use serde::{Deserialize, Serialize};

/// Gram matrix of per-task gradients `[T, T]` (placeholder built from existing ops).
pub fn gram<'g>(task_grads: &[Vec<Tensor<'g>>]) -> Tensor<'g> {
    let t = task_grads.len();
    let mut e = vec![vec![None; t]; t];
    for i in 0..t {
        for j in i..t {
            let parts: Vec<Tensor<'g>> = task_grads[i]
                .iter()
                .zip(&task_grads[j])
                .map(|(a, b)| reduce_sum_all(*a * *b))
                .collect();
            let s = if parts.len() == 1 {
                parts[0]
            } else {
                add_n(&parts)
            };
            e[i][j] = Some(s);
            e[j][i] = Some(s);
        }
    }
    let rows: Vec<Tensor<'g>> = e
        .iter()
        .map(|r| stack(&r.iter().map(|x| x.expect("filled")).collect::<Vec<_>>(), 0))
        .collect();
    stack(&rows, 0)
}

/// `sum_i w[i] * g_i` (placeholder built from existing ops).
pub fn combine<'g>(weights: Tensor<'g>, grads: &[Tensor<'g>]) -> Tensor<'g> {
    let parts: Vec<Tensor<'g>> = grads
        .iter()
        .enumerate()
        .map(|(i, g)| reshape(slice(weights, &[i as i64], &[1]), &[]) * *g)
        .collect();
    if parts.len() == 1 {
        parts[0]
    } else {
        add_n(&parts)
    }
}

/// `sqrt(diag(G))` (placeholder).
pub fn gram_norms(gram: Tensor<'_>) -> Tensor<'_> {
    let t = gram.shape().dim(0).unwrap_or(0);
    let d: Vec<Tensor<'_>> = (0..t as i64)
        .map(|i| reshape(slice(gram, &[i, i], &[1, 1]), &[]))
        .collect();
    sqrt(stack(&d, 0))
}

/// Cosine matrix (placeholder; no zero guard).
pub fn gram_cosine(gram: Tensor<'_>) -> Tensor<'_> {
    let n = gram_norms(gram);
    let t = gram.shape().dim(0).unwrap_or(0) as i64;
    gram / (reshape(n, &[t, 1]) * reshape(n, &[1, t]))
}

/// Weights `[T]` (placeholder: `Sum` and `Mean` only).
pub fn aggregate_weights<'g>(
    method: Aggregator,
    gram: Tensor<'g>,
    _losses: Tensor<'g>,
    _state: Option<Tensor<'g>>,
) -> Tensor<'g> {
    let g = gram.graph();
    let t = gram.shape().dim(0).unwrap_or(0);
    match method {
        Aggregator::Sum => g.constant(ndarray::Array1::<f32>::ones(t)),
        Aggregator::Mean => g.constant(ndarray::Array1::<f32>::from_elem(t, 1.0 / t as f32)),
        // Not available in the placeholder: a build error (slice out of range).
        _ => slice(gram, &[0, 0], &[t as i64 + 1, 1]),
    }
}

/// GradVac's state update (placeholder: does nothing).
pub fn gradvac_update<'g>(state: Tensor<'g>, _gram: Tensor<'g>, _beta: f32) -> Operation<'g> {
    crate::no_op(state.graph())
}

/// The aggregation methods (placeholder of the contract's enum).
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Aggregator {
    Mean,
    Sum,
    PcGrad,
    Mgda {
        normalization: MgdaNormalization,
        max_iters: u32,
        epsilon: f32,
    },
    CaGrad {
        c: f32,
    },
    ImtlG,
    AlignedMtl,
    UpGrad {
        norm_eps: f32,
        reg_eps: f32,
    },
    GradVac {
        beta: f32,
    },
    NashMtl {
        max_norm: f32,
        optim_iters: u32,
    },
}

/// MGDA's normalisations (placeholder).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MgdaNormalization {
    None,
    L2,
    Loss,
    LossPlus,
}
