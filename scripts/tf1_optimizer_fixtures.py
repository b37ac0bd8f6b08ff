#!/usr/bin/env python
"""Reference values of TF1's `AdadeltaOptimizer` and `FtrlOptimizer` for staticflow's
`Adadelta` and `Ftrl` (tests/fixtures/tf1_optimizers.json, read by tests/tf1_optimizers.rs).

Each case runs TF1 itself (`tf.compat.v1`, graph mode, one Session, CPU, float32): a few
steps of `minimize` on the fixed quadratic `0.5 * sum(a * (w - t)^2)`, recording `w` after
every step, the optimizer's slot names, and both slots after the last step (read with
`get_slot`). Hyper-parameters cover TF1's defaults, a large epsilon (Adadelta), L1 strong
enough to zero coordinates, L2, and `learning_rate_power` other than -0.5 (TF1's kernel
then uses `pow` instead of `sqrt`), 0 (a fixed learning rate) and L2 shrinkage (TF1's
`ApplyFtrlV2`) for FTRL.

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_optimizer_fixtures.py [tests/fixtures/tf1_optimizers.json]
"""

import json
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()

STEPS = 5


def tensor(a):
    a = np.asarray(a, np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


W0 = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]], np.float32)
A = np.array([[1.0, 0.5, 2.0], [4.0, 0.1, 1.0]], np.float32)
T = np.array([[1.0, 1.0, -1.0], [0.5, 0.0, 0.0]], np.float32)

CASES = [
    ("adadelta", {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-8}),
    ("adadelta", {"learning_rate": 0.5, "rho": 0.9, "epsilon": 1e-3}),
    ("ftrl", {"learning_rate": 0.1}),
    ("ftrl", {"learning_rate": 0.5, "l1_regularization_strength": 0.3,
              "l2_regularization_strength": 0.1}),
    ("ftrl", {"learning_rate": 0.3, "learning_rate_power": -0.3,
              "initial_accumulator_value": 0.5, "l2_regularization_strength": 0.01}),
    ("ftrl", {"learning_rate": 0.2, "learning_rate_power": 0.0,
              "initial_accumulator_value": 0.0, "l1_regularization_strength": 0.05}),
    ("ftrl", {"learning_rate": 0.3, "l1_regularization_strength": 0.01,
              "l2_regularization_strength": 0.05, "l2_shrinkage_regularization_strength": 0.2}),
]


def run(kind, hp):
    g = tf1.Graph()
    with g.as_default():
        w = tf1.get_variable("w", initializer=tf1.constant(W0))
        loss = 0.5 * tf1.reduce_sum(A * tf1.square(w - T))
        if kind == "adadelta":
            opt = tf1.train.AdadeltaOptimizer(**hp)
            names = ("accum", "accum_update")
        else:
            opt = tf1.train.FtrlOptimizer(**hp)
            names = ("accum", "linear")
        train = opt.minimize(loss)
        slots = [opt.get_slot(w, n) for n in names]
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            steps = []
            for _ in range(STEPS):
                s.run(train)
                steps.append(tensor(s.run(w)))
            slot_values = s.run(slots)
    return {
        "optimizer": kind,
        "hyper_parameters": hp,
        "w0": tensor(W0),
        "a": tensor(A),
        "t": tensor(T),
        "steps": steps,
        "slot_names": sorted(opt.get_slot_names()),
        "slots": {n: tensor(v) for n, v in zip(names, slot_values)},
    }


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_optimizers.json"
    doc = {
        "generator": "scripts/tf1_optimizer_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "dtype": "float32",
        "cases": [run(k, hp) for k, hp in CASES],
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(doc['cases'])} optimizer cases to {path}")


if __name__ == "__main__":
    main()
