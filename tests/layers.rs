//! Stateful layers: finite-difference gradients of the normalisations, TF1's `UPDATE_OPS`
//! pattern (a train op built under the update ops moves the moving statistics, one built
//! without leaves them bit-identical), the LSTM's initial and final state and the GRU
//! (finite differences, thread-split bit identity), and the errors of bad operands.

mod common;

use common::{check_gradients, rand_array, variable_bits};
use staticflow::layers::{BatchNormalization, Gru, LayerNorm, Lstm, RnnLayer};
use staticflow::prelude::*;

/// `tf.nn.moments` + `tf.nn.batch_normalization` over the batch of a `[5, 3]` input,
/// differentiated w.r.t. x, scale and offset (the statistics are differentiated through).
#[test]
fn batch_normalization_gradient_matches_finite_differences() {
    let x = rand_array(&[5, 3], 1) * 2.0;
    let scale = rand_array(&[3], 2) + 1.5;
    let offset = rand_array(&[3], 3);
    check_gradients(
        &[x, scale, offset],
        |_, t| {
            let (m, v) = moments(t[0], &[0], false);
            batch_normalization(t[0], m, v, Some(t[2]), Some(t[1]), 1e-3)
        },
        2e-2,
    );
}

/// The same over every axis but the last of an NHWC input, as the layer normalises it.
#[test]
fn batch_normalization_nhwc_gradient_matches_finite_differences() {
    let x = rand_array(&[2, 2, 3, 2], 4) * 2.0;
    let scale = rand_array(&[2], 9) + 1.5;
    let offset = rand_array(&[2], 10);
    check_gradients(
        &[x, scale, offset],
        |_, t| {
            let (m, v) = moments(t[0], &[0, 1, 2], false);
            batch_normalization(t[0], m, v, Some(t[2]), Some(t[1]), 1e-3)
        },
        2e-2,
    );
}

/// Layer normalisation over the last two axes with parameters over the last one.
#[test]
fn layer_norm_gradient_matches_finite_differences() {
    let x = rand_array(&[2, 3, 4], 5) * 2.0;
    let scale = rand_array(&[4], 6) + 1.5;
    let offset = rand_array(&[4], 7);
    check_gradients(
        &[x, scale, offset],
        |_, t| {
            let (m, v) = moments(t[0], &[1, 2], true);
            batch_normalization(t[0], m, v, Some(t[2]), Some(t[1]), 1e-12)
        },
        2e-2,
    );
}

/// Variables by name with their bits (`common::variable_bits`).
type Bits = Vec<(String, Vec<u64>)>;

/// dense -> batch norm -> squared loss, trained 3 steps with the training flag fed true.
/// Returns the variables' bits after the initializer and after training.
fn train_bn(with_update_ops: bool) -> (Bits, Bits) {
    let g = Graph::with_seed(3);
    let x = g.placeholder("x", [None, Some(3)]);
    let training = placeholder_with_default(g.constant(false), "training");
    let h = dense(x, 4, Activation::None, "dense");
    let bn = BatchNormalization::new(h, training, "batch_normalization");
    let loss = reduce_mean_all(square(bn.output - 0.5));
    let opt = GradientDescent::new(0.1);
    let train = if with_update_ops {
        let _deps = g.control_dependencies(&g.get_collection_ops(GraphKeys::UPDATE_OPS));
        opt.minimize(loss).unwrap()
    } else {
        opt.minimize(loss).unwrap()
    };
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let before = variable_bits(&g, &sess);
    let t = ndarray::arr0(true);
    for k in 0..3 {
        let xv = rand_array(&[8, 3], 10 + k) * 3.0;
        sess.run(
            &[train.into()],
            &[(x, (&xv).into()), (training, (&t).into())],
        )
        .unwrap();
    }
    (before, variable_bits(&g, &sess))
}

fn bits_of<'a>(vars: &'a Bits, name: &str) -> &'a [u64] {
    &vars.iter().find(|(n, _)| n == name).unwrap().1
}

/// TF1's pattern: `with control_dependencies(get_collection(UPDATE_OPS)): train = ...`
/// moves the moving statistics; the same train op built without leaves them bit-identical
/// while still training the other variables.
#[test]
fn update_ops_pattern_updates_moving_statistics_only_when_depended_on() {
    for with in [true, false] {
        let (before, after) = train_bn(with);
        for name in [
            "batch_normalization/moving_mean",
            "batch_normalization/moving_variance",
        ] {
            let moved = bits_of(&before, name) != bits_of(&after, name);
            assert_eq!(
                moved, with,
                "{name} moved: {moved}, with update ops: {with}"
            );
        }
        for name in ["dense/kernel", "batch_normalization/gamma"] {
            assert_ne!(
                bits_of(&before, name),
                bits_of(&after, name),
                "{name} trains"
            );
        }
    }
}

/// Running the update ops with the training flag at its default (false) leaves the moving
/// statistics bit-identical; fed true, they move towards the batch statistics by 1 - 0.99.
#[test]
fn update_ops_follow_the_training_flag() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let training = placeholder_with_default(g.constant(false), "training");
    let bn = BatchNormalization::new(x, training, "bn");
    let update = group(&g, &bn.update_ops);
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let xv = ndarray::arr2(&[[1.0f32, -2.0], [3.0, 2.0]]);
    let before = variable_bits(&g, &sess);
    sess.run(&[update.into()], &[(x, (&xv).into())]).unwrap();
    assert_eq!(variable_bits(&g, &sess), before);
    let t = ndarray::arr0(true);
    sess.run(
        &[update.into()],
        &[(x, (&xv).into()), (training, (&t).into())],
    )
    .unwrap();
    let mm = sess
        .variable_value(bn.moving_mean)
        .unwrap()
        .as_f32()
        .unwrap()
        .clone();
    let mv = sess
        .variable_value(bn.moving_variance)
        .unwrap()
        .as_f32()
        .unwrap()
        .clone();
    // batch mean [2, 0], biased variance [1, 4]; moving starts at 0 and 1.
    assert!(
        (mm[[0]] - 0.02).abs() < 1e-7 && mm[[1]].abs() < 1e-7,
        "{mm}"
    );
    assert!(
        (mv[[0]] - 1.0).abs() < 1e-7 && (mv[[1]] - 1.03).abs() < 1e-6,
        "{mv}"
    );
}

/// Bad operands give build errors that name the problem.
#[test]
fn bad_operands_are_errors() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(3)]);
    let f = g.constant(1.0f32);
    let e = BatchNormalization::new(x, f, "bn")
        .output
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("bool scalar `training`"), "{e}");
    let v = g.placeholder("v", [Some(3)]);
    let e = BatchNormalization::new(v, g.constant(true), "bn")
        .output
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("rank >= 2"), "{e}");
    let u = g.placeholder("u", [None, None]);
    let e = BatchNormalization::new(u, g.constant(true), "bn")
        .output
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("channels known statically"), "{e}");
    let e = LayerNorm::new(x, 2, -1, "ln").output.check().unwrap_err();
    assert!(e.to_string().contains("begin_norm_axis 2"), "{e}");
    let e = LayerNorm::new(u, 1, -1, "ln").output.check().unwrap_err();
    assert!(e.to_string().contains("known statically"), "{e}");
}

/// The LSTM from an initial state, with its final state: outputs, final `c` and `h`
/// differentiated w.r.t. x, kernel, bias, `h0` and `c0` together, forwards and in reverse,
/// with trailing padding, a hole and a sequence with no real step.
#[test]
fn lstm_with_state_gradient_matches_finite_differences() {
    let (batch, time, input, hidden) = (3, 4, 2, 3);
    let x = rand_array(&[batch, time, input], 11);
    let w = rand_array(&[input + hidden, 4 * hidden], 12) * 0.6;
    let b = rand_array(&[4 * hidden], 13) * 0.3;
    let h0 = rand_array(&[batch, hidden], 14) * 0.8;
    let c0 = rand_array(&[batch, hidden], 15) * 0.8;
    let mask = ndarray::arr2(&[
        [1.0f32, 1.0, 1.0, 0.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]);
    for reverse in [false, true] {
        let mask = mask.clone();
        check_gradients(
            &[x.clone(), w.clone(), b.clone(), h0.clone(), c0.clone()],
            move |g, t| {
                let init = LstmState { c: t[4], h: t[3] };
                let m = g.constant(mask.clone());
                let r = lstm_with_state(t[0], m, t[1], t[2], Some(init), reverse);
                concat(
                    &[
                        reshape(r.outputs, &[-1]),
                        reshape(r.state.c, &[-1]),
                        reshape(r.state.h, &[-1]),
                    ],
                    0,
                )
            },
            2e-2,
        );
    }
}

/// Without an initial state, the final state alone carries gradient back through time
/// (zero state; a zero-length sequence ends at zeros).
#[test]
fn lstm_final_state_gradient_matches_finite_differences() {
    let (batch, time, input, hidden) = (2, 3, 2, 2);
    let x = rand_array(&[batch, time, input], 21);
    let w = rand_array(&[input + hidden, 4 * hidden], 22) * 0.6;
    let b = rand_array(&[4 * hidden], 23) * 0.3;
    check_gradients(
        &[x, w, b],
        |g, t| {
            let m = g.constant(ndarray::arr2(&[[1.0f32, 1.0, 0.0], [0.0, 0.0, 0.0]]));
            let r = lstm_with_state(t[0], m, t[1], t[2], None, false);
            concat(&[r.state.c, r.state.h], 1)
        },
        2e-2,
    );
}

/// With an initial state, the recurrence split over two threads' row ranges gives results
/// bit-identical to one thread: outputs, final state and every gradient (`dh0`, `dc0`
/// included).
#[test]
fn lstm_with_state_split_over_threads_is_bit_identical() {
    let (batch, time, input, hidden) = (37, 6, 5, 16);
    let x = rand_array(&[batch, time, input], 31);
    let w = rand_array(&[input + hidden, 4 * hidden], 32) * 0.5;
    let b = rand_array(&[4 * hidden], 33) * 0.5;
    let h0 = rand_array(&[batch, hidden], 34);
    let c0 = rand_array(&[batch, hidden], 35);
    let r = rand_array(&[batch, time, hidden], 36);
    let lengths = ndarray::Array1::from_shape_fn(batch, |k| ((k * 5) % (time + 1)) as i64);
    let run = |threads: usize, reverse: bool| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let g = Graph::new();
                let ph: Vec<Tensor> = [&x, &w, &b, &h0, &c0]
                    .iter()
                    .enumerate()
                    .map(|(k, a)| g.placeholder(&format!("in{k}"), Shape::known(a.shape())))
                    .collect();
                let mask = staticflow::layers::step_mask(ph[0], Some(g.constant(lengths.clone())));
                let init = LstmState { c: ph[4], h: ph[3] };
                let run = lstm_with_state(ph[0], mask, ph[1], ph[2], Some(init), reverse);
                let loss = reduce_sum_all(run.outputs * g.constant(r.clone()))
                    + reduce_sum_all(run.state.c)
                    + reduce_sum_all(run.state.h * 0.5);
                let grads = gradients(&[loss], &ph).unwrap();
                let mut fetch: Vec<Fetch> =
                    vec![run.outputs.into(), run.state.c.into(), run.state.h.into()];
                fetch.extend(grads.iter().map(|g| Fetch::from(g.unwrap())));
                let feeds: Vec<_> = ph
                    .iter()
                    .zip([&x, &w, &b, &h0, &c0])
                    .map(|(p, a)| (*p, a.into()))
                    .collect();
                let out = Session::new(&g).run(&fetch, &feeds).unwrap();
                (0..fetch.len())
                    .map(|k| out.f32(k).unwrap().iter().map(|v| v.to_bits()).collect())
                    .collect::<Vec<Vec<u32>>>()
            })
    };
    for reverse in [false, true] {
        let (one, two) = (run(1, reverse), run(2, reverse));
        for (k, (a, b)) in one.iter().zip(&two).enumerate() {
            assert_eq!(a, b, "reverse={reverse}: fetch {k}");
            assert!(a.iter().any(|&v| v != 0), "fetch {k} is not all zeros");
        }
    }
}

/// The GRU (TF1's `GRUCell` under `dynamic_rnn`) with lengths (trailing padding, a zero
/// length) and an initial state: outputs and final state differentiated w.r.t. x, the four
/// variables and `h0`, forwards and in reverse.
#[test]
fn gru_gradient_matches_finite_differences() {
    let (batch, time, input, hidden) = (3, 3, 2, 2);
    let x = rand_array(&[batch, time, input], 41);
    let gk = rand_array(&[input + hidden, 2 * hidden], 42) * 0.6;
    let gb = rand_array(&[2 * hidden], 43) * 0.3 + 1.0;
    let ck = rand_array(&[input + hidden, hidden], 44) * 0.6;
    let cb = rand_array(&[hidden], 45) * 0.3;
    let h0 = rand_array(&[batch, hidden], 46) * 0.8;
    for reverse in [false, true] {
        check_gradients(
            &[
                x.clone(),
                gk.clone(),
                gb.clone(),
                ck.clone(),
                cb.clone(),
                h0.clone(),
            ],
            move |g, t| {
                let gru = Gru {
                    gates_kernel: t[1],
                    gates_bias: t[2],
                    candidate_kernel: t[3],
                    candidate_bias: t[4],
                    hidden,
                };
                let len = g.constant(ndarray::arr1(&[3i64, 2, 0]));
                let (out, h) = gru.run(t[0], Some(len), Some(t[5]), reverse);
                concat(&[reshape(out, &[-1]), reshape(h, &[-1])], 0)
            },
            2e-2,
        );
    }
}

/// Recurrent layers' bad operands are build errors naming the problem.
#[test]
fn bad_recurrent_operands_are_errors() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, None, Some(2)]);
    let gru = Gru::new(&g, "gru", 2, 3);
    let e = gru.dynamic_rnn(x, None, None).0.check().unwrap_err();
    assert!(e.to_string().contains("time known statically"), "{e}");
    let x = g.placeholder("x3", [Some(2), Some(4), Some(2)]);
    let lstm = Lstm::new(&g, "lstm", 2, 3);
    let bad = LstmState {
        c: g.placeholder("c0", [Some(2), Some(3)]),
        h: g.placeholder("h0", [Some(2), Some(5)]),
    };
    let e = lstm
        .dynamic_rnn(x, None, Some(bad))
        .outputs
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("initial state h0"), "{e}");
}

/// Under the `UPDATE_OPS` block, an optimizer with slots (Adam) creates its slot variables
/// and their initializers outside the block, as TF1's `init_scope` does: the global
/// initializer runs without feeds, and the train op still runs the updates.
#[test]
fn slot_variables_made_under_update_ops_initialize_without_feeds() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(2)]);
    let training = placeholder_with_default(g.constant(true), "training");
    let bn = BatchNormalization::new(dense(x, 3, Activation::None, "dense"), training, "bn");
    let loss = reduce_mean_all(square(bn.output));
    let opt = Adam::new(0.01).with_name("adam");
    let train = {
        let _deps = g.control_dependencies(&g.get_collection_ops(GraphKeys::UPDATE_OPS));
        opt.minimize(loss).unwrap()
    };
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .expect("initializers do not depend on the update ops");
    let before = variable_bits(&g, &sess);
    let xv = ndarray::arr2(&[[1.0f32, -2.0], [3.0, 2.0], [0.5, 0.0]]);
    sess.run(&[train.into()], &[(x, (&xv).into())]).unwrap();
    let after = variable_bits(&g, &sess);
    assert_ne!(
        bits_of(&before, "bn/moving_mean"),
        bits_of(&after, "bn/moving_mean")
    );
    let kernel = g.tensor_by_name("dense/kernel").unwrap();
    assert!(opt.get_slot(kernel, "m").is_some());
}
