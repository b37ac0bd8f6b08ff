//! Finite-difference checks of every differentiable op's gradient.
// `&[a.clone()]` reads better than `std::slice::from_ref(&a)` next to multi-input checks.
#![allow(clippy::cloned_ref_to_slice_refs)]
mod common;
use common::{check_gradients, rand_array};
use staticflow::*;

#[test]
fn elementwise_binary_with_broadcasting() {
    let a = rand_array(&[3, 4], 1);
    let b = rand_array(&[4], 2);
    check_gradients(&[a.clone(), b.clone()], |_, x| x[0] + x[1], 1e-2);
    check_gradients(&[a.clone(), b.clone()], |_, x| x[0] - x[1], 1e-2);
    check_gradients(&[a.clone(), b.clone()], |_, x| x[0] * x[1], 1e-2);
    let pos = b.mapv(|v| v.abs() + 0.5);
    check_gradients(&[a.clone(), pos.clone()], |_, x| x[0] / x[1], 1e-2);
    check_gradients(
        &[
            pos.clone().into_shape_with_order(vec![1, 4]).unwrap(),
            a.clone(),
        ],
        |_, x| pow(x[0], x[1]),
        2e-2,
    );
    check_gradients(&[a.clone(), b.clone()], |_, x| maximum(x[0], x[1]), 1e-2);
    check_gradients(&[a.clone(), b.clone()], |_, x| minimum(x[0], x[1]), 1e-2);
}

#[test]
fn unary_functions() {
    let a = rand_array(&[2, 5], 3);
    let pos = a.mapv(|v| v.abs() + 0.5);
    check_gradients(&[a.clone()], |_, x| -x[0], 1e-2);
    check_gradients(
        &[a.mapv(|v| if v.abs() < 0.05 { 0.3 } else { v })],
        |_, x| relu(x[0]),
        1e-2,
    );
    check_gradients(&[a.clone()], |_, x| sigmoid(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| tanh(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| exp(x[0]), 1e-2);
    check_gradients(&[pos.clone()], |_, x| log(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| square(x[0]), 1e-2);
    check_gradients(&[pos.clone()], |_, x| sqrt(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| identity(x[0]), 1e-2);
}

#[test]
fn matmul_all_transposes() {
    let a = rand_array(&[3, 4], 4);
    let b = rand_array(&[4, 2], 5);
    check_gradients(&[a.clone(), b.clone()], |_, x| matmul(x[0], x[1]), 1e-2);
    let at = a.t().to_owned().into_dyn();
    let bt = b.t().to_owned().into_dyn();
    check_gradients(
        &[at.clone(), b.clone()],
        |_, x| matmul_t(x[0], x[1], true, false),
        1e-2,
    );
    check_gradients(
        &[a.clone(), bt.clone()],
        |_, x| matmul_t(x[0], x[1], false, true),
        1e-2,
    );
    check_gradients(&[at, bt], |_, x| matmul_t(x[0], x[1], true, true), 1e-2);
}

#[test]
fn reductions_and_losses() {
    let a = rand_array(&[3, 4, 2], 6);
    check_gradients(&[a.clone()], |_, x| reduce_sum(x[0], &[1], false), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_sum(x[0], &[0, 2], true), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_mean(x[0], &[-1], false), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_max(x[0], &[1], false), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_mean_all(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| l2_loss(x[0]), 1e-2);
    let b = rand_array(&[3, 4, 2], 7);
    check_gradients(&[a, b], |_, x| mean_squared_error(x[0], x[1]), 1e-2);
}

#[test]
fn reshape_family() {
    let a = rand_array(&[2, 3, 4], 8);
    check_gradients(&[a.clone()], |_, x| reshape(x[0], &[4, -1]), 1e-2);
    check_gradients(&[a.clone()], |_, x| reshape(x[0], &[24]), 1e-2);
    check_gradients(&[a.clone()], |_, x| flatten(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| expand_dims(x[0], -1), 1e-2);
    check_gradients(&[a.clone()], |_, x| expand_dims(x[0], 0), 1e-2);
    let b = rand_array(&[2, 1, 4], 9);
    check_gradients(&[b.clone()], |_, x| squeeze(x[0], &[1]), 1e-2);
    check_gradients(&[b.clone()], |_, x| squeeze(x[0], &[]), 1e-2);
    // reshape then broadcasting multiply, so upstream gradients are not trivial
    let c = rand_array(&[6], 10);
    check_gradients(&[a.clone(), c], |_, x| reshape(x[0], &[-1, 6]) * x[1], 1e-2);
}

#[test]
fn concat_and_slice() {
    let a = rand_array(&[2, 3], 11);
    let b = rand_array(&[2, 5], 12);
    let c = rand_array(&[4, 3], 13);
    check_gradients(
        &[a.clone(), b.clone()],
        |_, x| concat(&[x[0], x[1]], 1),
        1e-2,
    );
    check_gradients(
        &[a.clone(), b.clone()],
        |_, x| concat(&[x[0], x[1]], -1),
        1e-2,
    );
    check_gradients(
        &[a.clone(), c.clone()],
        |_, x| concat(&[x[0], x[1]], 0),
        1e-2,
    );
    // the same tensor twice: both parts accumulate
    check_gradients(&[a.clone()], |_, x| concat(&[x[0], x[0], x[0]], 0), 1e-2);
    let d = rand_array(&[4, 5, 3], 14);
    check_gradients(
        &[a.clone(), a.clone()],
        |_, x| stack(&[x[0], x[1]], -1),
        1e-2,
    );
    check_gradients(
        &[d.clone()],
        |_, x| slice(x[0], &[1, 2, 0], &[2, -1, 2]),
        1e-2,
    );
    check_gradients(
        &[d.clone()],
        |_, x| slice(x[0], &[0, 0, 0], &[-1, -1, -1]),
        1e-2,
    );
    check_gradients(&[d], |_, x| transpose(x[0], &[2, 0, 1]), 1e-2);
    check_gradients(&[c], |_, x| transpose(x[0], &[1, 0]), 1e-2);
}

#[test]
fn gather_and_embedding() {
    let table = rand_array(&[5, 3], 15);
    check_gradients(
        &[table.clone()],
        |g, x| {
            let ids = g.constant(ndarray::arr2(&[[0i64, 4, 2], [4, 4, 1]]));
            gather(x[0], ids)
        },
        1e-2,
    );
    check_gradients(
        &[table.clone()],
        |g, x| {
            let ids = g.constant(ndarray::arr1(&[3i64, 3, 0]));
            embedding_lookup(x[0], ids) * 2.0
        },
        1e-2,
    );
    let t3 = rand_array(&[4, 2, 2], 16);
    check_gradients(
        &[t3],
        |g, x| {
            let ids = g.constant(ndarray::arr1(&[1i64, 3]));
            gather(x[0], ids)
        },
        1e-2,
    );
}

#[test]
fn softmax_family_and_xent() {
    let a = rand_array(&[3, 4], 17).mapv(|v| v * 3.0);
    check_gradients(&[a.clone()], |_, x| softmax(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| log_softmax(x[0]), 1e-2);
    let a3 = rand_array(&[2, 2, 3], 18);
    check_gradients(&[a3.clone()], |_, x| softmax(x[0]), 1e-2);
    // labels: proper distributions per row (TF's gradient w.r.t. logits assumes it)
    let raw = rand_array(&[3, 4], 19).mapv(|v| v.exp());
    let sums = raw.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
    let labels = &raw / &sums;
    check_gradients(
        &[labels.clone(), a.clone()],
        |_, x| softmax_cross_entropy_with_logits(x[0], x[1]),
        1e-2,
    );
    check_gradients(
        &[a.clone()],
        |g, x| {
            let labels = g.constant(ndarray::arr1(&[3i64, 0, 1]));
            sparse_softmax_cross_entropy_with_logits(labels, x[0])
        },
        1e-2,
    );
    check_gradients(
        &[a3],
        |g, x| {
            let labels = g.constant(ndarray::arr2(&[[2i64, 0], [1, 1]]));
            sparse_softmax_cross_entropy_with_logits(labels, x[0])
        },
        1e-2,
    );
}

#[test]
fn cast_and_add_n() {
    let a = rand_array(&[2, 3], 20);
    let b = rand_array(&[2, 3], 21);
    check_gradients(&[a.clone()], |_, x| cast(x[0], DType::F32), 1e-2);
    check_gradients(
        &[a.clone(), b.clone()],
        |_, x| add_n(&[x[0], x[1], x[0]]),
        1e-2,
    );
}

#[test]
fn broadcasting_and_negative_axes_through_new_ops() {
    let a = rand_array(&[2, 3, 4], 22);
    let bias = rand_array(&[4], 23);
    check_gradients(
        &[a.clone(), bias.clone()],
        |_, x| softmax(x[0] + x[1]),
        1e-2,
    );
    check_gradients(
        &[a.clone(), bias.clone()],
        |_, x| log_softmax(x[0] * x[1]),
        1e-2,
    );
    let b = rand_array(&[2, 1, 4], 24);
    check_gradients(
        &[a.clone(), b.clone()],
        |_, x| concat(&[x[0], x[1]], -2),
        1e-2,
    );
    check_gradients(
        &[a.clone(), bias],
        |_, x| reduce_sum(transpose(x[0], &[0, 2, 1]), &[-1], false) * x[1],
        1e-2,
    );
    // dropout with keep_prob = 1 is deterministic (identity)
    check_gradients(&[a], |g, x| dropout(x[0], g.constant(1.0f32)), 1e-2);
}

#[test]
fn math_and_activations() {
    let a = rand_array(&[3, 5], 40);
    // Away from the kinks at 0 (selu, leaky_relu) and inside the domains (log1p, rsqrt).
    let off0 = a.mapv(|v| if v.abs() < 0.05 { 0.3 } else { v });
    let pos = a.mapv(|v| v.abs() + 0.5);
    check_gradients(&[a.mapv(|v| v * 0.5)], |_, x| log1p(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| expm1(x[0]), 1e-2);
    check_gradients(&[a.mapv(|v| v * 4.0)], |_, x| softplus(x[0]), 1e-2);
    check_gradients(&[a.mapv(|v| v * 3.0)], |_, x| elu(x[0]), 1e-2);
    check_gradients(&[off0.clone()], |_, x| selu(x[0]), 1e-2);
    check_gradients(&[a.mapv(|v| v * 3.0)], |_, x| gelu(x[0], false), 1e-2);
    check_gradients(&[a.mapv(|v| v * 3.0)], |_, x| gelu(x[0], true), 1e-2);
    check_gradients(&[off0.clone()], |_, x| sign(x[0]), 1e-2);
    check_gradients(&[pos.clone()], |_, x| rsqrt(x[0]), 1e-2);
    check_gradients(&[pos.clone()], |_, x| reciprocal(x[0]), 1e-2);
    check_gradients(&[a.mapv(|v| v * 2.0)], |_, x| erf(x[0]), 1e-2);
    check_gradients(&[off0.clone()], |_, x| leaky_relu(x[0], 0.2), 1e-2);
}

#[test]
fn min_prod_and_cumsum() {
    let a = rand_array(&[3, 4, 2], 41);
    check_gradients(&[a.clone()], |_, x| reduce_min(x[0], &[1], false), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_min(x[0], &[0, 2], true), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_min_all(x[0]), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_prod(x[0], &[1], false), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_prod(x[0], &[0, 2], true), 1e-2);
    check_gradients(&[a.clone()], |_, x| reduce_prod_all(x[0]), 1e-2);
    // Zeros: one and two per reduced group (the product is linear in each element, so the
    // central differences are exact there).
    let mut z = a.clone();
    z[[0, 1, 0]] = 0.0;
    z[[1, 0, 1]] = 0.0;
    z[[1, 2, 1]] = 0.0;
    check_gradients(&[z.clone()], |_, x| reduce_prod(x[0], &[1], false), 1e-2);
    check_gradients(&[z], |_, x| reduce_prod(x[0], &[1, 2], false), 1e-2);
    for exclusive in [false, true] {
        for reverse in [false, true] {
            check_gradients(
                &[a.clone()],
                |_, x| cumsum(x[0], 1, exclusive, reverse),
                1e-2,
            );
            check_gradients(
                &[a.clone()],
                |_, x| cumsum(x[0], -1, exclusive, reverse),
                1e-2,
            );
        }
    }
}

/// `where_` for every form of condition: element-wise (a constant mask, and one computed from
/// the inputs, whose path contributes nothing), row-wise and scalar; f32 values of rank 2
/// and 3; the selected operand's gradient inside an expression.
#[test]
fn where_selects_the_gradient() {
    let a = rand_array(&[3, 4], 51);
    let b = rand_array(&[3, 4], 52);
    let mask = a.mapv(|v| v > 0.1);
    assert!(mask.iter().any(|&m| m) && mask.iter().any(|&m| !m));
    check_gradients(
        &[a.clone(), b.clone()],
        |g, x| where_(g.constant(mask.clone()), x[0], x[1]),
        1e-2,
    );
    // The mask from the inputs themselves (no element is within the differences' step of
    // the boundary): the comparison adds no gradient.
    check_gradients(
        &[a.clone(), b.clone()],
        |_, x| where_(greater(x[0], x[1]), x[0] * x[1], square(x[1])),
        1e-2,
    );
    let rows = ndarray::arr1(&[true, false, true]);
    check_gradients(
        &[a.clone(), b.clone()],
        |g, x| where_(g.constant(rows.clone()), x[0], x[1] * 3.0),
        1e-2,
    );
    for pick in [true, false] {
        check_gradients(
            &[a.clone(), b.clone()],
            |g, x| where_(g.constant(ndarray::arr0(pick)), exp(x[0]), x[1]),
            1e-2,
        );
    }
    let c = rand_array(&[2, 3, 2], 53);
    let d = rand_array(&[2, 3, 2], 54);
    let rows3 = ndarray::arr1(&[false, true]);
    check_gradients(
        &[c.clone(), d.clone()],
        |g, x| where_(g.constant(rows3.clone()), x[0], tanh(x[1])),
        1e-2,
    );
    check_gradients(
        &[c, d],
        |_, x| where_(logical_not(less(x[0], 0.0f32 * x[1])), x[0], x[1]),
        1e-2,
    );
}

/// No gradient flows through comparisons, logic or casts of bool, as in TF1: a loss that
/// depends on `x` only through them has `None` for `x`, and so has a bool `y`.
#[test]
fn comparisons_and_logic_pass_no_gradient() {
    let g = Graph::new();
    let x = g.placeholder("x", [Some(3)]);
    let c = logical_and(greater(x, g.constant(0.0f32)), not_equal(x, x));
    let loss = reduce_sum_all(cast(reduce_any(c, &[0], true), DType::F32));
    assert!(gradients(&[loss], &[x]).unwrap()[0].is_none());
    assert!(gradients(&[c], &[x]).unwrap()[0].is_none());
    // Mixed: the selected values carry the gradient, the mask does not.
    let y = reduce_sum_all(where_(c, x * 2.0, x) + cast(c, DType::F32));
    let dx = gradients(&[y], &[x]).unwrap()[0].unwrap();
    let xv = ndarray::arr1(&[1.0f32, -2.0, f32::NAN]);
    let out = Session::new(&g)
        .run(&[dx.into()], &[(x, (&xv).into())])
        .unwrap();
    // `not_equal(x, x)` is true only for NaN, and NaN > 0 is false: no element picks `x * 2`.
    assert_eq!(out.f32(0).unwrap().as_slice().unwrap(), &[1.0, 1.0, 1.0]);
}
