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
use staticflow::layers::{
    bidirectional_dynamic_rnn, BatchNormalization, Gru, LayerNorm, Lstm, RnnLayer,
};
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

/// A recurrent cell as `scripts/tf1_layer_fixtures.py` records it, beyond [`RnnLayer`]: its
/// fixture section (also its variable scope's prefix, `lstm_fw`), its variables and the
/// parts of its state, each with the fixture key it is stored under.
trait Tf1Cell<'g>: RnnLayer<'g> + Sized {
    /// Fixture section and scope prefix.
    const KIND: &'static str;
    /// Fixture keys of [`Tf1Cell::variables`], in order; `gates_kernel` is the variable
    /// `gates/kernel`. Their gradients are under `grad_<key>`.
    const VARIABLES: &'static [&'static str];
    /// Fixture keys of the final state's parts, in [`Tf1Cell::parts`] order. The initial
    /// state's parts are under `<key>0`, the upstream gradients under `d<key>`, the
    /// initial state's gradients under `grad_<key>0`.
    const STATE: &'static [&'static str];
    /// The layer's constructor.
    fn build(g: &'g Graph, name: &str, input_dim: usize, hidden: usize) -> Self;
    /// The layer's variables, as [`Tf1Cell::VARIABLES`] names them.
    fn variables(&self) -> Vec<Tensor<'g>>;
    /// A state's parts `[batch, hidden]`.
    fn parts(state: Self::State) -> Vec<Tensor<'g>>;
    /// The state made of `parts`.
    fn from_parts(parts: &[Tensor<'g>]) -> Self::State;
    /// The layer's own `dynamic_rnn` (one direction).
    fn dynamic_rnn(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<Self::State>,
    ) -> (Tensor<'g>, Self::State);
}

impl<'g> Tf1Cell<'g> for Lstm<'g> {
    const KIND: &'static str = "lstm";
    const VARIABLES: &'static [&'static str] = &["kernel", "bias"];
    const STATE: &'static [&'static str] = &["c", "h"];
    fn build(g: &'g Graph, name: &str, input_dim: usize, hidden: usize) -> Self {
        Lstm::new(g, name, input_dim, hidden)
    }
    fn variables(&self) -> Vec<Tensor<'g>> {
        vec![self.w, self.b]
    }
    fn parts(state: LstmState<'g>) -> Vec<Tensor<'g>> {
        vec![state.c, state.h]
    }
    fn from_parts(parts: &[Tensor<'g>]) -> LstmState<'g> {
        LstmState {
            c: parts[0],
            h: parts[1],
        }
    }
    fn dynamic_rnn(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<LstmState<'g>>,
    ) -> (Tensor<'g>, LstmState<'g>) {
        let r = Lstm::dynamic_rnn(self, x, sequence_length, initial_state);
        (r.outputs, r.state)
    }
}

impl<'g> Tf1Cell<'g> for Gru<'g> {
    const KIND: &'static str = "gru";
    const VARIABLES: &'static [&'static str] = &[
        "gates_kernel",
        "gates_bias",
        "candidate_kernel",
        "candidate_bias",
    ];
    const STATE: &'static [&'static str] = &["h"];
    fn build(g: &'g Graph, name: &str, input_dim: usize, hidden: usize) -> Self {
        Gru::new(g, name, input_dim, hidden)
    }
    fn variables(&self) -> Vec<Tensor<'g>> {
        vec![
            self.gates_kernel,
            self.gates_bias,
            self.candidate_kernel,
            self.candidate_bias,
        ]
    }
    fn parts(state: Tensor<'g>) -> Vec<Tensor<'g>> {
        vec![state]
    }
    fn from_parts(parts: &[Tensor<'g>]) -> Tensor<'g> {
        parts[0]
    }
    fn dynamic_rnn(
        &self,
        x: Tensor<'g>,
        sequence_length: Option<Tensor<'g>>,
        initial_state: Option<Tensor<'g>>,
    ) -> (Tensor<'g>, Tensor<'g>) {
        Gru::dynamic_rnn(self, x, sequence_length, initial_state)
    }
}

/// One recorded `dynamic_rnn` / `bidirectional_dynamic_rnn` case of the cell `C` rebuilt in
/// `g`: sequence lengths, an initial state if the case has one, TF1's variable values; the
/// outputs and final state's parts of each direction, and the gradients of
/// `sum(outputs * dy) + sum(part * d<part>)..` w.r.t. x, each direction's variables and its
/// initial state, compared with TF1's. Returns how many tensors it compared.
fn rnn_case<'g, C: Tf1Cell<'g>>(g: &'g Graph, case: &Json) -> usize {
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
    let x = g.placeholder("x", batch_unknown(xv.shape()));
    let seq = g.constant(ndarray::Array1::from(lengths));
    let mut feeds: Vec<(Tensor, ArrayD<f32>)> = vec![(x, xv.clone())];
    let mut layers = Vec::new();
    let mut inits = Vec::new();
    for d in &dirs {
        let p = &case["dirs"][*d];
        let layer = C::build(g, &format!("{}_{d}", C::KIND), inp, hidden);
        for (v, key) in layer.variables().iter().zip(C::VARIABLES) {
            let want = format!("{}_{d}/{}", C::KIND, key.replace('_', "/"));
            assert_eq!(v.name(), want, "variable names as TF1's");
        }
        layers.push(layer);
        inits.push(with_init.then(|| {
            let parts: Vec<Tensor> = C::STATE
                .iter()
                .map(|s| {
                    let part = g.placeholder(&format!("{s}0_{d}"), [None, Some(hidden)]);
                    feeds.push((part, f32_array(&p[format!("{s}0").as_str()])));
                    part
                })
                .collect();
            C::from_parts(&parts)
        }));
    }
    let runs: Vec<(Tensor, C::State)> = if dirs.len() == 2 {
        let r = bidirectional_dynamic_rnn(&layers[0], &layers[1], x, Some(seq), inits[0], inits[1]);
        vec![(r.outputs_fw, r.state_fw), (r.outputs_bw, r.state_bw)]
    } else {
        vec![layers[0].dynamic_rnn(x, Some(seq), inits[0])]
    };
    let mut terms = Vec::new();
    let mut wrt = vec![x];
    let mut keys = vec![("grad_x".to_string(), None)];
    for (k, d) in dirs.iter().enumerate() {
        let p = &case["dirs"][*d];
        let (out, state) = runs[k];
        terms.push(reduce_sum_all(out * g.constant(f32_array(&p["dy"]))));
        for (part, s) in C::parts(state).into_iter().zip(C::STATE) {
            let dpart = f32_array(&p[format!("d{s}").as_str()]);
            terms.push(reduce_sum_all(part * g.constant(dpart)));
        }
        wrt.extend(layers[k].variables());
        keys.extend(C::VARIABLES.iter().map(|v| (format!("grad_{v}"), Some(*d))));
        if let Some(s) = inits[k] {
            wrt.extend(C::parts(s));
            keys.extend(C::STATE.iter().map(|s| (format!("grad_{s}0"), Some(*d))));
        }
    }
    let loss = add_n(&terms);
    let grads = gradients(&[loss], &wrt).unwrap();
    let mut sess = Session::new(g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    for (k, d) in dirs.iter().enumerate() {
        let p = &case["dirs"][*d];
        for (v, key) in layers[k].variables().into_iter().zip(C::VARIABLES) {
            sess.set_variable(v, f32_array(&p[*key]).into()).unwrap();
        }
    }
    let mut fetch: Vec<Fetch> = Vec::new();
    for (out, state) in &runs {
        fetch.push((*out).into());
        fetch.extend(C::parts(*state).into_iter().map(Fetch::from));
    }
    fetch.extend(grads.iter().map(|g| Fetch::from(g.unwrap())));
    let feed_list: Vec<_> = feeds.iter().map(|(t, v)| (*t, v.into())).collect();
    let out = sess.run(&fetch, &feed_list).unwrap();
    let (mut fw, mut gw) = (Worst::default(), Worst::default());
    let mut at = 0;
    for d in &dirs {
        let p = &case["dirs"][*d];
        for key in std::iter::once(&"outputs").chain(C::STATE) {
            compare(out.f32(at).unwrap(), &f32_array(&p[*key]), &mut fw)
                .unwrap_or_else(|e| panic!("{} {d} {key}: {e}", case["name"]));
            at += 1;
        }
    }
    for (key, d) in &keys {
        let want = match d {
            Some(d) => f32_array(&case["dirs"][*d][key.as_str()]),
            None => f32_array(&case[key.as_str()]),
        };
        compare(out.f32(at).unwrap(), &want, &mut gw)
            .unwrap_or_else(|e| panic!("{} {key} {d:?}: {e}", case["name"]));
        at += 1;
    }
    println!(
        "{} {}: {at} tensors, forward max abs {:.2e}, gradient max abs {:.2e}",
        C::KIND,
        case["name"],
        fw.abs,
        gw.abs
    );
    at
}

/// Runs every case of the fixture's `kind` section through `case` (an [`rnn_case`]) and
/// checks how many cases and tensors were compared, `want`.
fn rnn_matches_tf1(kind: &str, want: (usize, usize), case: impl Fn(&Json) -> usize) {
    let doc = fixture();
    let cases = doc[kind].as_array().unwrap();
    let compared: usize = cases.iter().map(case).sum();
    assert_eq!(
        (cases.len(), compared),
        want,
        "{kind}: cases, tensors compared"
    );
}

/// `dynamic_rnn` / `bidirectional_dynamic_rnn` of TF1's `LSTMCell` with `sequence_length`
/// (including a zero length) and with or without an initial state: outputs, final `(c, h)`
/// and the gradients of `sum(outputs * dy) + sum(c * dc) + sum(h * dh)` w.r.t. x, kernel,
/// bias and the initial state.
#[test]
fn lstm_matches_tf1() {
    // 4 cases: per direction outputs, c, h, 2 variable gradients (+ c0, h0), and x's.
    rnn_matches_tf1("lstm", (4, 40), |case| {
        rnn_case::<Lstm>(&Graph::new(), case)
    });
}

/// `dynamic_rnn` / `bidirectional_dynamic_rnn` of TF1's `GRUCell` with `sequence_length`
/// (a zero length included), with or without an initial state: outputs, final `h` and the
/// gradients of `sum(outputs * dy) + sum(h * dh)` w.r.t. x, the four variables and `h0`.
#[test]
fn gru_matches_tf1() {
    // 3 cases: per direction outputs, h, 4 variable gradients (+ h0), and x's.
    rnn_matches_tf1("gru", (3, 30), |case| rnn_case::<Gru>(&Graph::new(), case));
}
