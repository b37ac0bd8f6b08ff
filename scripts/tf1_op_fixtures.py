#!/usr/bin/env python
"""Reference values of TF1 for staticflow's math ops, activations and optimizers
(tests/fixtures/tf1_ops.json, read by tests/tf1_ops.rs).

Every case is run by TF1 itself (`tf.compat.v1`, graph mode, one Session, CPU, float32): the
forward output of the op on fixed inputs and its gradient from `tf.gradients(y, x,
grad_ys=dy)` with a fixed, non-uniform upstream `dy`. Inputs include the edge values the
ops care about: 0 and -0, negatives, large magnitudes, out-of-domain values, ties (min,
argmin), zeros (prod), a NaN/inf probe and a NaN upstream per element-wise op. A gradient
TF1 does not define (`floor`) is stored as null; `argmin` cases have no gradient entry. Non-finite floats are written as the strings
"nan", "inf" and "-inf" (JSON has no literal for them).

Optimizer cases record the variable after each of a few steps of a fixed quadratic loss.
AdamW is TF1's `tf.contrib.opt.AdamWOptimizer` (the same rule as TF Addons' AdamW): contrib
is gone from TF 2.x, so the script builds it exactly as contrib's
`DecoupledWeightDecayExtension` does, `var -= weight_decay * var` under a control dependency
before `AdamOptimizer`'s update, both from the gradient at the old value.

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_op_fixtures.py [tests/fixtures/tf1_ops.json]
"""

import json
import sys

import numpy as np
import tensorflow as tf
from tf1_fixture_json import enc, tensor, upstream

tf1 = tf.compat.v1
tf1.disable_eager_execution()

NAN, INF = float("nan"), float("inf")

# The inputs every element-wise op sees: signs, zeros, tiny and large magnitudes.
EDGE = [-100.0, -20.0, -3.0, -1.5, -1.0, -0.5, -1e-3, -0.0, 0.0, 1e-3, 0.5, 1.0, 1.5, 3.0, 20.0, 100.0]
PROBE = [NAN, INF, -INF]


def run_case(name, build, x, args=None, dy=None, differentiable=True):
    """Forward value of `build(x)` and, if differentiable, tf.gradients with upstream `dy`."""
    g = tf1.Graph()
    with g.as_default():
        x = np.asarray(x, dtype=np.float32)
        xp = tf1.placeholder(tf.float32, x.shape)
        y = build(xp)
        fetch = [y]
        if differentiable:
            dyv = upstream(y.shape.as_list()) if dy is None else np.asarray(dy, np.float32)
            (gx,) = tf1.gradients(y, [xp], grad_ys=[tf1.constant(dyv)])
            if gx is not None:
                fetch.append(gx)
        with tf1.Session(graph=g) as s:
            out = s.run(fetch, {xp: x})
    case = {"name": name, "args": args or {}, "x": tensor(x), "y": tensor(out[0])}
    if differentiable:
        case["dy"] = tensor(dyv)
        case["grad"] = tensor(out[1]) if len(out) > 1 else None
    return case


def elementwise():
    ops = {
        "log1p": tf1.math.log1p,
        "expm1": tf1.math.expm1,
        "softplus": tf1.nn.softplus,
        "elu": tf1.nn.elu,
        "selu": tf1.nn.selu,
        "gelu": lambda x: tf.nn.gelu(x, approximate=False),
        "gelu_approximate": lambda x: tf.nn.gelu(x, approximate=True),
        "sign": tf1.sign,
        "floor": tf1.floor,
        "rsqrt": tf1.math.rsqrt,
        "reciprocal": tf1.math.reciprocal,
        "erf": tf1.math.erf,
        "leaky_relu": lambda x: tf1.nn.leaky_relu(x, alpha=0.2),
        "leaky_relu_0.01": lambda x: tf1.nn.leaky_relu(x, alpha=0.01),
    }
    cases = []
    for name, f in ops.items():
        args = {"alpha": 0.01 if name.endswith("0.01") else 0.2} if name.startswith("leaky") else {}
        op = name.split("_0.")[0]
        cases.append(run_case(op, f, EDGE, args))
        probe = run_case(op, f, PROBE, args, dy=[1.0, 1.0, 1.0])
        probe["probe"] = True
        cases.append(probe)
        # A NaN upstream gradient at ordinary points (sign's gradient stays 0).
        nan_dy = run_case(op, f, [-1.0, 0.5, 2.0], args, dy=[NAN, NAN, NAN])
        nan_dy["probe"] = True
        cases.append(nan_dy)
    return cases


def reductions():
    m = np.array(
        [[1.0, -2.0, -2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [5.0, 4.0, -7.5, 100.0]], np.float32
    )
    cube = np.array(
        [[[1.5, -2.0], [0.5, -2.0], [3.0, 0.25]], [[-1.0, 2.0], [-1.0, 4.0], [0.75, -3.0]]],
        np.float32,
    )
    zeros = np.array(
        [[1.5, -2.0, 0.5, 3.0], [0.0, 2.0, -1.0, 4.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.0, 0.0]],
        np.float32,
    )
    cases = []
    for name, f in [("reduce_min", tf1.reduce_min), ("reduce_prod", tf1.reduce_prod)]:
        inputs = [m, cube] + ([zeros, zeros.T.copy()] if name == "reduce_prod" else [])
        for x in inputs:
            for axes in ([0], [-1], None) + (([0, 2], [1]) if x.ndim == 3 else ()):
                for keep in (False, True):
                    args = {"axes": axes, "keep_dims": keep}
                    cases.append(
                        run_case(name, lambda t: f(t, axis=axes, keepdims=keep), x, args)
                    )
        probe = np.array([[NAN, 1.0, -2.0], [1.0, -INF, 2.0], [INF, 0.0, 1.0]], np.float32)
        c = run_case(name, lambda t: f(t, axis=[1]), probe, {"axes": [1], "keep_dims": False})
        c["probe"] = True
        cases.append(c)
    for x in (m, cube, np.array([[NAN, 1.0, -2.0], [3.0, NAN, -2.0], [NAN, NAN, NAN]], np.float32)):
        for axis in (0, -1):
            c = run_case("argmin", lambda t: tf1.argmin(t, axis=axis), x, {"axis": axis}, differentiable=False)
            c["probe"] = bool(np.isnan(x).any())
            cases.append(c)
    for x in (m, cube):
        for axis in (0, -1):
            for exclusive in (False, True):
                for reverse in (False, True):
                    args = {"axis": axis, "exclusive": exclusive, "reverse": reverse}
                    cases.append(
                        run_case(
                            "cumsum",
                            lambda t: tf1.cumsum(t, axis=axis, exclusive=exclusive, reverse=reverse),
                            x,
                            args,
                        )
                    )
    return cases


def optimizers():
    """A few steps of Adam and AdamW on `0.5 * sum(a * (w - t)^2)`: `w` after each step, and
    the slots `m`, `v` after the last (read with `get_slot`)."""
    w0 = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]], np.float32)
    a = np.array([[1.0, 0.5, 2.0], [4.0, 0.1, 1.0]], np.float32)
    t = np.array([[1.0, 1.0, -1.0], [0.5, 0.0, 0.0]], np.float32)
    cases = []
    for name, wd in [("adam", None), ("adamw", 0.05)]:
        g = tf1.Graph()
        with g.as_default():
            w = tf1.get_variable("w", initializer=tf1.constant(w0))
            loss = 0.5 * tf1.reduce_sum(a * tf1.square(w - t))
            opt = tf1.train.AdamOptimizer(0.1, beta1=0.9, beta2=0.999, epsilon=1e-8)
            gv = opt.compute_gradients(loss, [w])
            if wd is None:
                train = opt.apply_gradients(gv)
            else:
                # contrib's DecoupledWeightDecayExtension: decay, then Adam's update, from
                # the gradient at the old value (made explicit by the first dependency).
                with tf1.control_dependencies([gv[0][0]]):
                    decay = w.assign_sub(wd * w)
                with tf1.control_dependencies([decay]):
                    train = opt.apply_gradients(gv)
            slot_names = opt.get_slot_names()
            m, v = opt.get_slot(w, "m"), opt.get_slot(w, "v")
            with tf1.Session(graph=g) as s:
                s.run(tf1.global_variables_initializer())
                steps = []
                for _ in range(3):
                    s.run(train)
                    steps.append(tensor(s.run(w)))
                mv, vv = s.run([m, v])
        cases.append(
            {
                "name": name,
                "learning_rate": 0.1,
                "weight_decay": wd,
                "w0": tensor(w0),
                "a": tensor(a),
                "t": tensor(t),
                "steps": steps,
                "slot_names": sorted(slot_names),
                "tf1_slot_variables": [m.op.name, v.op.name],
                "m": tensor(mv),
                "v": tensor(vv),
            }
        )
    return cases


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_ops.json"
    doc = {
        "generator": "scripts/tf1_op_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "dtype": "float32",
        "ops": elementwise() + reductions(),
        "optimizers": optimizers(),
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(doc['ops'])} op cases to {path}")


if __name__ == "__main__":
    main()
