//! Finite-difference checks of every differentiable op's gradient.
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
