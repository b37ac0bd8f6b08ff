//! Stateful layers against TF1 (issue 11, item 5): batch normalisation, layer normalisation,
//! the LSTM and the GRU with sequence lengths, initial and final state, and their
//! bidirectional form.
//!
//! `tests/fixtures/tf1_layers.json` was written by `scripts/tf1_layer_fixtures.py` with TF1
//! (`tf.compat.v1`, graph mode, CPU, float32). Each case is rebuilt here from the public API
//! and compared within 1e-6 absolute or 1e-5 relative (`tests/tf1_fixture`). The worst
//! errors per case are printed (`cargo test --release --test tf1_layers -- --nocapture`).

mod tf1_fixture;

use ndarray::ArrayD;
use serde_json::Value as Json;
use staticflow::layers::{BatchNormalization, LayerNorm};
use staticflow::prelude::*;
use tf1_fixture::{compare, f32_array, Worst};

fn fixture() -> Json {
    serde_json::from_str(include_str!("fixtures/tf1_layers.json")).expect("fixture parses")
}

/// `shape` with the first dimension unknown.
fn batch_unknown(a: &[usize]) -> Shape {
    Shape(
        a.iter()
            .enumerate()
            .map(|(k, &d)| (k > 0).then_some(d))
            .collect(),
    )
}

fn check(got: &ArrayD<f32>, case: &Json, key: &str, worst: &mut Worst) {
    compare(got, &f32_array(&case[key]), worst)
        .unwrap_or_else(|e| panic!("{} {key}: {e}", case["name"]));
}

/// `tf.layers.batch_normalization` with a `training` placeholder-with-default: the training
/// output and its gradients, the moving statistics after N steps of a train op built under
/// `UPDATE_OPS`, the inference output, and a step with training false leaving them intact.
#[test]
fn batch_normalization_matches_tf1() {
    let doc = fixture();
    for case in doc["batch_norm"].as_array().unwrap() {
        let xs: Vec<ArrayD<f32>> = case["xs"]
            .as_array()
            .unwrap()
            .iter()
            .map(f32_array)
            .collect();
        let g = Graph::new();
        let x = g.placeholder("x", batch_unknown(xs[0].shape()));
        let training = placeholder_with_default(g.constant(false), "training");
        let bn = BatchNormalization::new(x, training, "batch_normalization");
        let mut names: Vec<String> = g.global_variables().iter().map(|v| v.name()).collect();
        names.sort();
        let want: Vec<&str> = case["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, want, "variable names as TF1's");
        let dy = g.constant(f32_array(&case["dy"]));
        let grads = gradients_with(&[bn.output], &[x, bn.gamma, bn.beta], Some(&[dy])).unwrap();
        let update_ops = g.get_collection_ops(GraphKeys::UPDATE_OPS);
        assert_eq!(update_ops, bn.update_ops.to_vec());
        let train = {
            let _deps = g.control_dependencies(&update_ops);
            no_op(&g)
        };
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        for (v, key) in [
            (bn.gamma, "gamma"),
            (bn.beta, "beta"),
            (bn.moving_mean, "moving_mean_init"),
            (bn.moving_variance, "moving_variance_init"),
        ] {
            sess.set_variable(v, f32_array(&case[key]).into()).unwrap();
        }
        let t = ndarray::arr0(true);
        let fetch: Vec<Fetch> = [bn.output]
            .into_iter()
            .chain(grads.iter().map(|g| g.unwrap()))
            .map(Fetch::from)
            .collect();
        let out = sess
            .run(&fetch, &[(x, (&xs[0]).into()), (training, (&t).into())])
            .unwrap();
        let (mut fw, mut gw) = (Worst::default(), Worst::default());
        check(out.f32(0).unwrap(), case, "y_train", &mut fw);
        check(out.f32(1).unwrap(), case, "grad_x", &mut gw);
        check(out.f32(2).unwrap(), case, "grad_gamma", &mut gw);
        check(out.f32(3).unwrap(), case, "grad_beta", &mut gw);
        for xv in &xs {
            sess.run(&[train.into()], &[(x, xv.into()), (training, (&t).into())])
                .unwrap();
        }
        let value = |sess: &Session, v| sess.variable_value(v).unwrap().as_f32().unwrap().clone();
        check(&value(&sess, bn.moving_mean), case, "moving_mean", &mut fw);
        check(
            &value(&sess, bn.moving_variance),
            case,
            "moving_variance",
            &mut fw,
        );
        let x_test = f32_array(&case["x_test"]);
        let out = sess
            .run(&[bn.output.into()], &[(x, (&x_test).into())])
            .unwrap();
        check(out.f32(0).unwrap(), case, "y_inference", &mut fw);
        let before = (
            value(&sess, bn.moving_mean),
            value(&sess, bn.moving_variance),
        );
        sess.run(&[train.into()], &[(x, (&x_test).into())]).unwrap();
        let after = (
            value(&sess, bn.moving_mean),
            value(&sess, bn.moving_variance),
        );
        let bits = |a: &ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&before.0),
            bits(&after.0),
            "training false keeps the moving mean"
        );
        assert_eq!(
            bits(&before.1),
            bits(&after.1),
            "training false keeps the moving variance"
        );
        println!(
            "batch_normalization {} (TF1 fused: {}): forward max abs {:.2e}, gradient max abs {:.2e}",
            case["name"], case["fused"], fw.abs, gw.abs
        );
    }
}

/// contrib's `layer_norm` (default and last-axis normalisation, 2-D and 3-D): output and
/// gradients w.r.t. x, gamma, beta.
#[test]
fn layer_norm_matches_tf1() {
    let doc = fixture();
    for case in doc["layer_norm"].as_array().unwrap() {
        let xv = f32_array(&case["x"]);
        let g = Graph::new();
        let x = g.placeholder("x", batch_unknown(xv.shape()));
        let ln = LayerNorm::new(
            x,
            case["begin_norm_axis"].as_i64().unwrap(),
            case["begin_params_axis"].as_i64().unwrap(),
            "LayerNorm",
        );
        assert_eq!(ln.gamma.name(), "LayerNorm/gamma");
        assert_eq!(ln.beta.name(), "LayerNorm/beta");
        let dy = g.constant(f32_array(&case["dy"]));
        let grads = gradients_with(&[ln.output], &[x, ln.gamma, ln.beta], Some(&[dy])).unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        sess.set_variable(ln.gamma, f32_array(&case["gamma"]).into())
            .unwrap();
        sess.set_variable(ln.beta, f32_array(&case["beta"]).into())
            .unwrap();
        let fetch: Vec<Fetch> = [ln.output]
            .into_iter()
            .chain(grads.iter().map(|g| g.unwrap()))
            .map(Fetch::from)
            .collect();
        let out = sess.run(&fetch, &[(x, (&xv).into())]).unwrap();
        let (mut fw, mut gw) = (Worst::default(), Worst::default());
        check(out.f32(0).unwrap(), case, "y", &mut fw);
        check(out.f32(1).unwrap(), case, "grad_x", &mut gw);
        check(out.f32(2).unwrap(), case, "grad_gamma", &mut gw);
        check(out.f32(3).unwrap(), case, "grad_beta", &mut gw);
        println!(
            "layer_norm {}: forward max abs {:.2e}, gradient max abs {:.2e}",
            case["name"], fw.abs, gw.abs
        );
    }
}

/// `dynamic_rnn` / `bidirectional_dynamic_rnn` of TF1's `LSTMCell` with `sequence_length`
/// (including a zero length) and with or without an initial state: outputs, final `(c, h)`
/// and the gradients of `sum(outputs * dy) + sum(c * dc) + sum(h * dh)` w.r.t. x, kernel,
/// bias and the initial state.
#[test]
fn lstm_matches_tf1() {
    use staticflow::layers::{bidirectional_dynamic_rnn, Lstm};
    let doc = fixture();
    for case in doc["lstm"].as_array().unwrap() {
        let xv = f32_array(&case["x"]);
        let (inp, hidden) = (xv.shape()[2], case["hidden"].as_u64().unwrap() as usize);
        let lengths: Vec<i64> = case["sequence_length"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let with_init = case["with_init"].as_bool().unwrap();
        let dirs: Vec<&str> = if case["bidirectional"].as_bool().unwrap() {
            vec!["fw", "bw"]
        } else {
            vec!["fw"]
        };
        let g = Graph::new();
        let x = g.placeholder("x", batch_unknown(xv.shape()));
        let seq = g.constant(ndarray::Array1::from(lengths));
        let mut feeds: Vec<(Tensor, ArrayD<f32>)> = vec![(x, xv.clone())];
        let mut layers = Vec::new();
        let mut inits = Vec::new();
        for d in &dirs {
            let p = &case["dirs"][*d];
            layers.push(Lstm::new(&g, &format!("lstm_{d}"), inp, hidden));
            inits.push(with_init.then(|| {
                let c0 = g.placeholder(&format!("c0_{d}"), [None, Some(hidden)]);
                let h0 = g.placeholder(&format!("h0_{d}"), [None, Some(hidden)]);
                feeds.push((c0, f32_array(&p["c0"])));
                feeds.push((h0, f32_array(&p["h0"])));
                LstmState { c: c0, h: h0 }
            }));
        }
        let runs: Vec<(Tensor, LstmState)> = if dirs.len() == 2 {
            let r =
                bidirectional_dynamic_rnn(&layers[0], &layers[1], x, Some(seq), inits[0], inits[1]);
            vec![(r.outputs_fw, r.state_fw), (r.outputs_bw, r.state_bw)]
        } else {
            let r = layers[0].dynamic_rnn(x, Some(seq), inits[0]);
            vec![(r.outputs, r.state)]
        };
        let mut terms = Vec::new();
        let mut wrt = vec![x];
        let mut keys = vec![("grad_x".to_string(), None)];
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            let (out, st) = runs[k];
            terms.push(reduce_sum_all(out * g.constant(f32_array(&p["dy"]))));
            terms.push(reduce_sum_all(st.c * g.constant(f32_array(&p["dc"]))));
            terms.push(reduce_sum_all(st.h * g.constant(f32_array(&p["dh"]))));
            wrt.extend([layers[k].w, layers[k].b]);
            keys.push(("grad_kernel".into(), Some(*d)));
            keys.push(("grad_bias".into(), Some(*d)));
            if let Some(s) = inits[k] {
                wrt.extend([s.c, s.h]);
                keys.push(("grad_c0".into(), Some(*d)));
                keys.push(("grad_h0".into(), Some(*d)));
            }
        }
        let loss = add_n(&terms);
        let grads = gradients(&[loss], &wrt).unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            sess.set_variable(layers[k].w, f32_array(&p["kernel"]).into())
                .unwrap();
            sess.set_variable(layers[k].b, f32_array(&p["bias"]).into())
                .unwrap();
        }
        let mut fetch: Vec<Fetch> = Vec::new();
        for (out, st) in &runs {
            fetch.extend([Fetch::from(*out), st.c.into(), st.h.into()]);
        }
        fetch.extend(grads.iter().map(|g| Fetch::from(g.unwrap())));
        let feed_list: Vec<_> = feeds.iter().map(|(t, v)| (*t, v.into())).collect();
        let out = sess.run(&fetch, &feed_list).unwrap();
        let (mut fw, mut gw) = (Worst::default(), Worst::default());
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            for (j, key) in ["outputs", "c", "h"].iter().enumerate() {
                compare(out.f32(3 * k + j).unwrap(), &f32_array(&p[*key]), &mut fw)
                    .unwrap_or_else(|e| panic!("{} {d} {key}: {e}", case["name"]));
            }
        }
        for (j, (key, d)) in keys.iter().enumerate() {
            let want = match d {
                Some(d) => f32_array(&case["dirs"][*d][key.as_str()]),
                None => f32_array(&case[key.as_str()]),
            };
            compare(out.f32(3 * dirs.len() + j).unwrap(), &want, &mut gw)
                .unwrap_or_else(|e| panic!("{} {key} {d:?}: {e}", case["name"]));
        }
        println!(
            "lstm {}: forward max abs {:.2e}, gradient max abs {:.2e}",
            case["name"], fw.abs, gw.abs
        );
    }
}

/// `dynamic_rnn` / `bidirectional_dynamic_rnn` of TF1's `GRUCell` with `sequence_length`
/// (a zero length included), with or without an initial state: outputs, final `h` and the
/// gradients of `sum(outputs * dy) + sum(h * dh)` w.r.t. x, the four variables and `h0`.
#[test]
fn gru_matches_tf1() {
    use staticflow::layers::{bidirectional_dynamic_rnn, Gru};
    let doc = fixture();
    let vars = [
        "gates_kernel",
        "gates_bias",
        "candidate_kernel",
        "candidate_bias",
    ];
    for case in doc["gru"].as_array().unwrap() {
        let xv = f32_array(&case["x"]);
        let (inp, hidden) = (xv.shape()[2], case["hidden"].as_u64().unwrap() as usize);
        let lengths: Vec<i64> = case["sequence_length"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let with_init = case["with_init"].as_bool().unwrap();
        let dirs: Vec<&str> = if case["bidirectional"].as_bool().unwrap() {
            vec!["fw", "bw"]
        } else {
            vec!["fw"]
        };
        let g = Graph::new();
        let x = g.placeholder("x", batch_unknown(xv.shape()));
        let seq = g.constant(ndarray::Array1::from(lengths));
        let mut feeds: Vec<(Tensor, ArrayD<f32>)> = vec![(x, xv.clone())];
        let mut layers = Vec::new();
        let mut inits = Vec::new();
        for d in &dirs {
            let p = &case["dirs"][*d];
            let gru = Gru::new(&g, &format!("gru_{d}"), inp, hidden);
            assert_eq!(gru.gates_kernel.name(), format!("gru_{d}/gates/kernel"));
            assert_eq!(gru.candidate_bias.name(), format!("gru_{d}/candidate/bias"));
            layers.push(gru);
            inits.push(with_init.then(|| {
                let h0 = g.placeholder(&format!("h0_{d}"), [None, Some(hidden)]);
                feeds.push((h0, f32_array(&p["h0"])));
                h0
            }));
        }
        let runs: Vec<(Tensor, Tensor)> = if dirs.len() == 2 {
            let r =
                bidirectional_dynamic_rnn(&layers[0], &layers[1], x, Some(seq), inits[0], inits[1]);
            vec![(r.outputs_fw, r.state_fw), (r.outputs_bw, r.state_bw)]
        } else {
            vec![layers[0].dynamic_rnn(x, Some(seq), inits[0])]
        };
        let mut terms = Vec::new();
        let mut wrt = vec![x];
        let mut keys = vec![("grad_x".to_string(), None)];
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            let (out, h) = runs[k];
            terms.push(reduce_sum_all(out * g.constant(f32_array(&p["dy"]))));
            terms.push(reduce_sum_all(h * g.constant(f32_array(&p["dh"]))));
            let l = &layers[k];
            wrt.extend([
                l.gates_kernel,
                l.gates_bias,
                l.candidate_kernel,
                l.candidate_bias,
            ]);
            keys.extend(vars.iter().map(|v| (format!("grad_{v}"), Some(*d))));
            if let Some(h0) = inits[k] {
                wrt.push(h0);
                keys.push(("grad_h0".into(), Some(*d)));
            }
        }
        let loss = add_n(&terms);
        let grads = gradients(&[loss], &wrt).unwrap();
        let mut sess = Session::new(&g);
        sess.run(&[g.global_variables_initializer().into()], &[])
            .unwrap();
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            let l = &layers[k];
            let vs = [
                l.gates_kernel,
                l.gates_bias,
                l.candidate_kernel,
                l.candidate_bias,
            ];
            for (v, key) in vs.iter().zip(vars) {
                sess.set_variable(*v, f32_array(&p[key]).into()).unwrap();
            }
        }
        let mut fetch: Vec<Fetch> = Vec::new();
        for (out, h) in &runs {
            fetch.extend([Fetch::from(*out), h.into()]);
        }
        fetch.extend(grads.iter().map(|g| Fetch::from(g.unwrap())));
        let feed_list: Vec<_> = feeds.iter().map(|(t, v)| (*t, v.into())).collect();
        let out = sess.run(&fetch, &feed_list).unwrap();
        let (mut fw, mut gw) = (Worst::default(), Worst::default());
        for (k, d) in dirs.iter().enumerate() {
            let p = &case["dirs"][*d];
            for (j, key) in ["outputs", "h"].iter().enumerate() {
                compare(out.f32(2 * k + j).unwrap(), &f32_array(&p[*key]), &mut fw)
                    .unwrap_or_else(|e| panic!("{} {d} {key}: {e}", case["name"]));
            }
        }
        for (j, (key, d)) in keys.iter().enumerate() {
            let want = match d {
                Some(d) => f32_array(&case["dirs"][*d][key.as_str()]),
                None => f32_array(&case[key.as_str()]),
            };
            compare(out.f32(2 * dirs.len() + j).unwrap(), &want, &mut gw)
                .unwrap_or_else(|e| panic!("{} {key} {d:?}: {e}", case["name"]));
        }
        println!(
            "gru {}: forward max abs {:.2e}, gradient max abs {:.2e}",
            case["name"], fw.abs, gw.abs
        );
    }
}
