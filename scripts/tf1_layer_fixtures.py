#!/usr/bin/env python
"""Reference values of TF1's stateful layers for staticflow's `layers` module
(tests/fixtures/tf1_layers.json, read by tests/tf1_layers.rs).

Every case is run by TF1 itself (`tf.compat.v1`, graph mode, one Session, CPU, float32):

- batch_norm: `tf.compat.v1.layers.batch_normalization` (momentum 0.99, epsilon 1e-3, axis -1)
  with a `training` flag that is `placeholder_with_default(False)`, gamma/beta/moving stats
  initialised to fixed non-trivial values. The train op is built TF1's way, under
  `control_dependencies(get_collection(UPDATE_OPS))`; recorded: the training output and its
  gradients w.r.t. x, gamma, beta (fixed upstream dy), the moving statistics after N
  training steps on N batches, the inference output, and the moving statistics after a step
  run with training false (unchanged). A 2-D input [batch, features] and a 4-D NHWC input
  (where TF1 may pick its fused kernel) are both recorded.
- layer_norm: TF 2.x has no `tf.contrib`, so `tf.contrib.layers.layer_norm` is written as
  contrib 1.15 defines it (moments over begin_norm_axis.. with keep_dims, parameters over
  begin_params_axis.., `tf.nn.batch_normalization` with variance_epsilon 1e-12); output
  and gradients w.r.t. x, gamma, beta.
- lstm: `tf.nn.dynamic_rnn` and `bidirectional_dynamic_rnn` of `tf.nn.rnn_cell.LSTMCell`
  (forget_bias 1.0, kernel and bias set to fixed values) with `sequence_length` (a zero
  length included) and with or without an initial `LSTMStateTuple(c, h)`: outputs, final
  (c, h), and the gradients of sum(outputs * dy) + sum(c * dc) + sum(h * dh) w.r.t. x,
  kernel, bias and the initial state.
- gru: the same with `tf.nn.rnn_cell.GRUCell` (gates and candidate kernels and biases set
  to fixed values), final state h.

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    TF_USE_LEGACY_KERAS=1 ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_layer_fixtures.py [tests/fixtures/tf1_layers.json]
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tf1_fixture_json import tensor, upstream  # noqa: E402

tf1 = tf.compat.v1
tf1.disable_eager_execution()

f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731


def det(shape, seed, scale=1.0, shift=0.0):
    """A deterministic pseudo-random array in [shift - scale, shift + scale)."""
    rng = np.random.RandomState(seed)
    return f32(shift + scale * (2.0 * rng.rand(*shape) - 1.0))


def batch_norm_case(name, shape, steps):
    c = shape[-1]
    gamma0 = det([c], 1, 0.5, 1.0)
    beta0 = det([c], 2, 0.5)
    mean0 = det([c], 3, 0.2)
    var0 = det([c], 4, 0.3, 1.0)
    xs = [det(shape, 10 + k, 2.0, 0.5 * k) for k in range(steps)]
    x_test = det(shape, 99, 1.5, 0.25)
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None] + list(shape[1:]))
        training = tf1.placeholder_with_default(False, [], name="training")
        y = tf1.layers.batch_normalization(
            x,
            training=training,
            gamma_initializer=tf1.constant_initializer(gamma0),
            beta_initializer=tf1.constant_initializer(beta0),
            moving_mean_initializer=tf1.constant_initializer(mean0),
            moving_variance_initializer=tf1.constant_initializer(var0),
        )
        gvars = {v.name.split("/")[-1].split(":")[0]: v for v in tf1.global_variables()}
        gamma, beta = gvars["gamma"], gvars["beta"]
        dyv = upstream(shape)
        gx, gg, gb = tf1.gradients(y, [x, gamma, beta], grad_ys=[tf1.constant(dyv)])
        update_ops = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        with tf1.control_dependencies(update_ops):
            train = tf1.no_op()
        # The training/inference branches live in cond functions, not in the graph's ops.
        gd = g.as_graph_def()
        types = [n.op for n in gd.node] + [n.op for f in gd.library.function for n in f.node_def]
        fused = any(t.startswith("FusedBatchNorm") for t in types)
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            yv, gxv, ggv, gbv = s.run([y, gx, gg, gb], {x: xs[0], training: True})
            for xv in xs:
                s.run(train, {x: xv, training: True})
            mm, mv = s.run([gvars["moving_mean"], gvars["moving_variance"]])
            yinf = s.run(y, {x: x_test})
            s.run(train, {x: x_test})
            mm2, mv2 = s.run([gvars["moving_mean"], gvars["moving_variance"]])
    assert np.array_equal(mm, mm2) and np.array_equal(mv, mv2)
    return {
        "name": name,
        "fused": fused,
        "gamma": tensor(gamma0),
        "beta": tensor(beta0),
        "moving_mean_init": tensor(mean0),
        "moving_variance_init": tensor(var0),
        "xs": [tensor(v) for v in xs],
        "x_test": tensor(x_test),
        "dy": tensor(dyv),
        "y_train": tensor(yv),
        "grad_x": tensor(gxv),
        "grad_gamma": tensor(ggv),
        "grad_beta": tensor(gbv),
        "moving_mean": tensor(mm),
        "moving_variance": tensor(mv),
        "y_inference": tensor(yinf),
        "variables": sorted(v.name.split(":")[0] for v in g.get_collection("variables")),
    }


def contrib_layer_norm(inputs, begin_norm_axis, begin_params_axis, gamma0, beta0):
    """tf.contrib.layers.layer_norm as TF 1.15 defines it (center, scale, no activation)."""
    rank = inputs.shape.ndims
    if begin_norm_axis < 0:
        begin_norm_axis += rank
    params_shape = inputs.shape[begin_params_axis:]
    with tf1.variable_scope("LayerNorm"):
        beta = tf1.get_variable("beta", initializer=tf1.constant(beta0.reshape(params_shape)))
        gamma = tf1.get_variable("gamma", initializer=tf1.constant(gamma0.reshape(params_shape)))
        norm_axes = list(range(begin_norm_axis, rank))
        mean, variance = tf1.nn.moments(inputs, norm_axes, keep_dims=True)
        out = tf1.nn.batch_normalization(
            inputs, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-12
        )
    return out, gamma, beta


def layer_norm_case(name, shape, begin_norm_axis, begin_params_axis):
    pshape = shape[begin_params_axis:]
    gamma0 = det(pshape, 5, 0.5, 1.0)
    beta0 = det(pshape, 6, 0.5)
    xv = det(shape, 7, 2.0, 0.3)
    # One row nearly constant: the variance is tiny next to epsilon 1e-12's neighbours.
    flat = xv.reshape(shape[0], -1)
    flat[-1] = 0.5 + 1e-3 * flat[-1]
    xv = flat.reshape(shape)
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, shape)
        y, gamma, beta = contrib_layer_norm(x, begin_norm_axis, begin_params_axis, gamma0, beta0)
        dyv = upstream(shape)
        gx, gg, gb = tf1.gradients(y, [x, gamma, beta], grad_ys=[tf1.constant(dyv)])
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            yv, gxv, ggv, gbv = s.run([y, gx, gg, gb], {x: xv})
    return {
        "name": name,
        "begin_norm_axis": begin_norm_axis,
        "begin_params_axis": begin_params_axis,
        "x": tensor(xv),
        "gamma": tensor(gamma0),
        "beta": tensor(beta0),
        "dy": tensor(dyv),
        "y": tensor(yv),
        "grad_x": tensor(gxv),
        "grad_gamma": tensor(ggv),
        "grad_beta": tensor(gbv),
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_layers.json"
    doc = {
        "tensorflow": tf.__version__,
        "batch_norm": [
            batch_norm_case("dense", [6, 4], 3),
            batch_norm_case("nhwc", [2, 3, 3, 4], 3),
        ],
        "layer_norm": [
            layer_norm_case("default_2d", [4, 6], 1, -1),
            layer_norm_case("default_3d", [2, 3, 4], 1, -1),
            layer_norm_case("last_axis_3d", [2, 3, 4], -1, -1),
        ],
    }
    doc.update(rnn_cases())
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


class LstmSpec:
    """LSTMCell(hidden) (forget_bias 1.0, kernel [inp + hidden, 4*hidden], gates i, j, f, o);
    state (c, h)."""

    kind = "lstm"
    x_seed = 20
    variables = ["kernel", "bias"]
    state = ["c", "h"]
    cell = tf1.nn.rnn_cell.LSTMCell
    state_tuple = tf1.nn.rnn_cell.LSTMStateTuple

    @staticmethod
    def params(batch, inp, hidden, k):
        return {
            "kernel": det([inp + hidden, 4 * hidden], 21 + k, 0.5),
            "bias": det([4 * hidden], 23 + k, 0.3),
            "c0": det([batch, hidden], 25 + k, 0.8),
            "h0": det([batch, hidden], 27 + k, 0.8),
        }

    @staticmethod
    def upstream(batch, hidden):
        """Upstream gradients of the final state's parts."""
        return {
            "dc": upstream([batch, hidden])[::-1].copy(),
            "dh": 0.5 * upstream([batch, hidden]),
        }


class GruSpec:
    """GRUCell(hidden) (gates kernel [inp + hidden, 2*hidden] for r, u; candidate kernel
    [inp + hidden, hidden]); state h."""

    kind = "gru"
    x_seed = 40
    variables = ["gates_kernel", "gates_bias", "candidate_kernel", "candidate_bias"]
    state = ["h"]
    cell = tf1.nn.rnn_cell.GRUCell
    state_tuple = None  # the state is h itself

    @staticmethod
    def params(batch, inp, hidden, k):
        return {
            "gates_kernel": det([inp + hidden, 2 * hidden], 41 + k, 0.5),
            "gates_bias": det([2 * hidden], 43 + k, 0.3, 1.0),
            "candidate_kernel": det([inp + hidden, hidden], 45 + k, 0.5),
            "candidate_bias": det([hidden], 47 + k, 0.3),
            "h0": det([batch, hidden], 49 + k, 0.8),
        }

    @staticmethod
    def upstream(batch, hidden):
        """Upstream gradient of the final state."""
        return {"dh": 0.5 * upstream([batch, hidden])[::-1].copy()}


def state_parts(state):
    """An RNN state's parts: an LSTMStateTuple's (c, h), or the state itself."""
    return list(state) if isinstance(state, tuple) else [state]


def rnn_case(spec, name, batch, time, inp, hidden, lengths, with_init, bidirectional):
    """dynamic_rnn (or bidirectional_dynamic_rnn) of the cell `spec` describes, its variables
    set to fixed values, with sequence_length and, optionally, an initial state; outputs,
    final state parts and gradients of sum(outputs * dy) + sum(part * d<part>) over the parts
    w.r.t. x, the variables and the initial state. Keys: each variable `v` and initial part
    `<part>0` of `spec`, their gradients `grad_v`, `grad_<part>0`."""
    xv = det([batch, time, inp], spec.x_seed, 1.0)
    dirs = ["fw", "bw"] if bidirectional else ["fw"]
    params = {d: spec.params(batch, inp, hidden, k) for k, d in enumerate(dirs)}
    init_keys = [s + "0" for s in spec.state]
    g = tf1.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [batch, time, inp])
        seq = tf1.constant(np.asarray(lengths, np.int64))
        cells, inits = {}, {}
        for d in dirs:
            cells[d] = spec.cell(hidden, name="%s_%s" % (spec.kind, d))
            if with_init:
                parts = [tf1.Variable(params[d][n], name="%s_%s" % (n, d)) for n in init_keys]
                inits[d] = spec.state_tuple(*parts) if spec.state_tuple else parts[0]
            else:
                inits[d] = None
        if bidirectional:
            (of, ob), (sf, sb) = tf1.nn.bidirectional_dynamic_rnn(
                cells["fw"], cells["bw"], x, sequence_length=seq,
                initial_state_fw=inits["fw"], initial_state_bw=inits["bw"], dtype=tf.float32,
            )
            outs, states = {"fw": of, "bw": ob}, {"fw": sf, "bw": sb}
        else:
            o, st = tf1.nn.dynamic_rnn(
                cells["fw"], x, sequence_length=seq, initial_state=inits["fw"], dtype=tf.float32
            )
            outs, states = {"fw": o}, {"fw": st}
        loss = 0.0
        ups = {}
        for k, d in enumerate(dirs):
            ups[d] = {"dy": upstream([batch, time, hidden]) * (1.0 + k)}
            ups[d].update(spec.upstream(batch, hidden))
            loss += tf1.reduce_sum(outs[d] * ups[d]["dy"])
            for s, part in zip(spec.state, state_parts(states[d])):
                loss += tf1.reduce_sum(part * ups[d]["d" + s])
        find = lambda n: [v for v in tf1.trainable_variables() if v.name.endswith(n)][0]  # noqa: E731
        sets, tvars = [], {}
        for d in dirs:
            vs = [find("%s_%s/%s:0" % (spec.kind, d, v.replace("_", "/"))) for v in spec.variables]
            sets += [var.assign(params[d][v]) for var, v in zip(vs, spec.variables)]
            tvars[d] = vs + (state_parts(inits[d]) if with_init else [])
        wrt = [x] + [v for d in dirs for v in tvars[d]]
        grads = tf1.gradients(loss, wrt)
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            s.run(sets)
            res = s.run(
                {"outs": outs, "state": {d: state_parts(states[d]) for d in dirs}, "grads": grads},
                {x: xv},
            )
    case = {
        "name": name,
        "bidirectional": bidirectional,
        "with_init": with_init,
        "hidden": hidden,
        "x": tensor(xv),
        "sequence_length": list(lengths),
        "grad_x": tensor(res["grads"][0]),
        "dirs": {},
    }
    gi = 1
    for d in dirs:
        e = {k: tensor(v) for k, v in params[d].items() if with_init or k in spec.variables}
        e.update({k: tensor(v) for k, v in ups[d].items()})
        e["outputs"] = tensor(res["outs"][d])
        for s, v in zip(spec.state, res["state"][d]):
            e[s] = tensor(v)
        for n in ["grad_" + v for v in spec.variables + (init_keys if with_init else [])]:
            e[n] = tensor(res["grads"][gi])
            gi += 1
        case["dirs"][d] = e
    return case


def rnn_cases():
    cases = [
        ("lengths_zero_state", 3, 5, 3, 4, [5, 2, 0], False, False),
        ("lengths_initial_state", 3, 5, 3, 4, [5, 2, 0], True, False),
        ("bidirectional_initial_state", 3, 4, 2, 3, [4, 1, 3], True, True),
    ]
    return {
        "gru": [rnn_case(GruSpec, *c) for c in cases],
        "lstm": [rnn_case(LstmSpec, *c) for c in cases]
        + [rnn_case(LstmSpec, "bidirectional_zero_state", 2, 4, 2, 3, [3, 4], False, True)],
    }


if __name__ == "__main__":
    main()
