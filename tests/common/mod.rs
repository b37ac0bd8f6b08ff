//! Test helpers shared by the integration tests.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use staticflow::prelude::*;
use std::path::PathBuf;

/// Deterministic pseudo-random array in [-1, 1) (no RNG crate needed in tests).
pub fn rand_array(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

/// Checks the symbolic gradient of `build(inputs)` against central finite differences.
///
/// Every input becomes a placeholder of its full shape. The checked scalar is
/// `sum(build(..) * r)` with a fixed random `r`, so upstream gradients are not uniform.
/// Fails (panics) naming the input and element whose derivative disagrees beyond `tol`
/// (relative to `max(1, |numeric|)`).
pub fn check_gradients<F>(inputs: &[ArrayD<f32>], build: F, tol: f32)
where
    F: for<'g> Fn(&'g Graph, &[Tensor<'g>]) -> Tensor<'g>,
{
    let inputs: Vec<ArrayD<f32>> = inputs
        .iter()
        .map(|a| a.as_standard_layout().to_owned())
        .collect();
    let inputs = &inputs[..];
    let g = Graph::with_seed(7);
    let phs: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(i, a)| g.placeholder(&format!("in{i}"), Shape::known(a.shape())))
        .collect();
    let y = build(&g, &phs).check().expect("graph builds");
    let yshape = y.shape().to_vec().expect("output shape known");
    let r = g.constant(rand_array(&yshape, 99));
    let loss = reduce_sum_all(y * r);
    let grads = gradients(&[loss], &phs).expect("gradients build");
    let mut sess = Session::new(&g);
    let feeds: Vec<_> = phs
        .iter()
        .zip(inputs)
        .map(|(p, v)| (*p, v.into()))
        .collect();
    for (i, gr) in grads.iter().enumerate() {
        let Some(gr) = gr else {
            panic!("no gradient for input {i}")
        };
        let sym = sess
            .run(&[gr.into()], &feeds)
            .unwrap()
            .f32(0)
            .unwrap()
            .clone();
        assert_eq!(
            sym.shape(),
            inputs[i].shape(),
            "gradient shape of input {i}"
        );
        let eps = 1e-2f32;
        for k in 0..inputs[i].len() {
            let mut vals = inputs.to_vec();
            vals[i].as_slice_mut().unwrap()[k] += eps;
            let up = eval(&mut sess, loss, &phs, &vals);
            vals[i].as_slice_mut().unwrap()[k] -= 2.0 * eps;
            let down = eval(&mut sess, loss, &phs, &vals);
            let num = ((up - down) / (2.0 * eps as f64)) as f32;
            let s = sym.as_slice().unwrap()[k];
            assert!(
                (num - s).abs() <= tol * num.abs().max(1.0),
                "input {i} element {k}: symbolic {s} vs numeric {num}"
            );
        }
    }
}

fn eval<'g>(
    sess: &mut Session<'g>,
    loss: Tensor<'g>,
    phs: &[Tensor<'g>],
    vals: &[ArrayD<f32>],
) -> f64 {
    let feeds: Vec<_> = phs.iter().zip(vals).map(|(p, v)| (*p, v.into())).collect();
    sess.run(&[loss.into()], &feeds).unwrap().scalar(0).unwrap() as f64
}

/// Every initialized global variable of `g` in `sess`, by name, with its value as bits (f32
/// bit patterns, i64 values, bools, bytes): two snapshots are equal only if every variable, slot
/// and counter is bit-identical and the same variables are initialized.
pub fn variable_bits(g: &Graph, sess: &Session<'_>) -> Vec<(String, Vec<u64>)> {
    g.global_variables()
        .iter()
        .filter(|v| sess.is_initialized(**v).unwrap())
        .map(|v| {
            let bits = match sess.variable_value(*v).unwrap() {
                Value::F32(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
                Value::I64(a) => a.iter().map(|x| *x as u64).collect(),
                Value::Bool(a) => a.iter().map(|x| *x as u64).collect(),
                Value::Bytes(b) => b.iter().map(|x| *x as u64).collect(),
            };
            (v.name(), bits)
        })
        .collect()
}

/// `target/<profile>/examples/<name>`: the example binary that `cargo test` builds next to
/// the test binaries. Panics, saying how to build it, when it is missing (`cargo test
/// --test NAME` alone does not build the examples).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: run the whole `cargo test --release` (which builds the examples) or \
         `cargo build --release --example {name}` first",
        bin.display()
    );
    bin
}
