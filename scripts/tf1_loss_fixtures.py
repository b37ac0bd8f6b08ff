#!/usr/bin/env python
"""Reference values of TF1's `tf.losses` for staticflow's `losses` module
(tests/fixtures/tf1_losses.json, read by tests/tf1_losses.rs).

Every case is run by TF1 itself (`tf.compat.v1`, graph mode, one Session, CPU, float32):
one `tf.compat.v1.losses.*` loss on fixed inputs, with one of the five reductions and one
of several weightings (none, a Python float, a zero float, per-element and per-example
tensors with zeros, all-zero weights), and the gradient of the loss w.r.t. the
predictions (logits) from `tf.gradients(loss, x, grad_ys=dy)` with a fixed upstream `dy`.
`tf.nn.sigmoid_cross_entropy_with_logits` is checked on its own too (edge logits, soft
labels), with gradients w.r.t. both operands.

Regularization: TF 2.x has no `tf.contrib`, so `tf.contrib.layers.l2_regularizer(scale)`
is written as contrib defines it, `scale * tf.nn.l2_loss(w)` (l1: `scale * sum(|w|)`),
added to `GraphKeys.REGULARIZATION_LOSSES`; `get_regularization_loss` and
`get_total_loss` are TF1's own.

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_loss_fixtures.py [tests/fixtures/tf1_losses.json]
"""

import json
import sys

import numpy as np
import tensorflow as tf
from tf1_fixture_json import enc, tensor, upstream

tf1 = tf.compat.v1
tf1.disable_eager_execution()
R = tf1.losses.Reduction

REDUCTIONS = {
    "none": R.NONE,
    "sum": R.SUM,
    "mean": R.MEAN,
    "sum_over_batch_size": R.SUM_OVER_BATCH_SIZE,
    "sum_by_nonzero_weights": R.SUM_BY_NONZERO_WEIGHTS,
}


f32 = lambda a: np.asarray(a, np.float32)

INPUTS = {
    # Regression: errors below, at (0.5 vs 1.5 with delta 1) and above Huber's delta.
    "reg_labels": f32([[0.0, 1.0, -2.0], [0.5, 3.0, 0.25], [-1.0, 0.0, 2.0], [1.5, -0.5, 4.0]]),
    "reg_predictions": f32([[0.5, -1.0, -1.5], [1.5, 0.0, 0.3], [2.0, -0.2, 2.0], [1.0, 0.75, -3.0]]),
    # Probabilities for log_loss (hard and soft labels, near-0 and near-1 predictions).
    "prob_labels": f32([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.3, 0.7, 1.0], [1.0, 0.0, 0.5]]),
    "prob_predictions": f32([[0.9, 0.1, 0.5], [1e-4, 0.999, 0.2], [0.35, 0.6, 0.99], [0.05, 0.4, 0.5]]),
    # Logits: zero, large of both signs.
    "logits": f32([[0.0, 2.0, -1.0], [30.0, -30.0, 0.5], [-2.5, 1.5, 0.25], [100.0, -0.75, 3.0]]),
    "multi_labels": f32([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.25, 1.0, 0.5]]),
    "onehot_labels": f32([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]]),
    "class_labels": np.array([0, 1, 2, 1], np.int64),
    "class_labels_col": np.array([[0], [1], [2], [1]], np.int64),
    # Weightings.
    "w_elem": f32([[1.0, 0.0, 2.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [3.0, 1.0, 0.25]]),
    "w_example": f32([[2.0], [0.0], [1.0], [0.5]]),
    "w_example_flat": f32([2.0, 0.0, 1.0, 0.5]),
    "w_zero_elem": np.zeros((4, 3), np.float32),
    "w_zero_example_flat": np.zeros((4,), np.float32),
}
n = INPUTS["reg_labels"] / np.linalg.norm(INPUTS["reg_labels"] + 0.1, axis=1, keepdims=True)
INPUTS["unit_labels"] = f32(n / np.linalg.norm(n, axis=1, keepdims=True))
p = INPUTS["reg_predictions"]
INPUTS["unit_predictions"] = f32(p / np.linalg.norm(p, axis=1, keepdims=True))

# Per-element losses [4, 3] take these weightings; per-example losses [4] the flat ones.
ELEM_WEIGHTS = [1.0, 2.5, 0.0, "w_elem", "w_example", "w_zero_elem"]
EXAMPLE_WEIGHTS = [1.0, 2.5, 0.0, "w_example_flat", "w_zero_example_flat"]
COSINE_WEIGHTS = [1.0, 2.5, "w_example"]
SPARSE_WEIGHTS = [1.0, "w_example_flat", "w_example", "w_zero_example_flat"]

# name -> (labels input, x input, weightings, extra kwargs, tf1 builder)
LOSSES = [
    ("mean_squared_error", "reg_labels", "reg_predictions", ELEM_WEIGHTS, {},
     lambda l, x, w, r, a: tf1.losses.mean_squared_error(l, x, weights=w, reduction=r)),
    ("absolute_difference", "reg_labels", "reg_predictions", ELEM_WEIGHTS, {},
     lambda l, x, w, r, a: tf1.losses.absolute_difference(l, x, weights=w, reduction=r)),
    ("huber_loss", "reg_labels", "reg_predictions", ELEM_WEIGHTS, {"delta": 1.0},
     lambda l, x, w, r, a: tf1.losses.huber_loss(l, x, weights=w, delta=a["delta"], reduction=r)),
    ("huber_loss", "reg_labels", "reg_predictions", [1.0, "w_elem"], {"delta": 0.3},
     lambda l, x, w, r, a: tf1.losses.huber_loss(l, x, weights=w, delta=a["delta"], reduction=r)),
    ("log_loss", "prob_labels", "prob_predictions", ELEM_WEIGHTS, {"epsilon": 1e-7},
     lambda l, x, w, r, a: tf1.losses.log_loss(l, x, weights=w, epsilon=a["epsilon"], reduction=r)),
    ("log_loss", "prob_labels", "prob_predictions", [1.0], {"epsilon": 1e-3},
     lambda l, x, w, r, a: tf1.losses.log_loss(l, x, weights=w, epsilon=a["epsilon"], reduction=r)),
    ("cosine_distance", "unit_labels", "unit_predictions", COSINE_WEIGHTS, {"axis": 1},
     lambda l, x, w, r, a: tf1.losses.cosine_distance(l, x, axis=a["axis"], weights=w, reduction=r)),
    ("sigmoid_cross_entropy", "multi_labels", "logits", ELEM_WEIGHTS, {"label_smoothing": 0.0},
     lambda l, x, w, r, a: tf1.losses.sigmoid_cross_entropy(
         l, x, weights=w, label_smoothing=a["label_smoothing"], reduction=r)),
    ("sigmoid_cross_entropy", "multi_labels", "logits", [1.0, "w_example"], {"label_smoothing": 0.1},
     lambda l, x, w, r, a: tf1.losses.sigmoid_cross_entropy(
         l, x, weights=w, label_smoothing=a["label_smoothing"], reduction=r)),
    ("softmax_cross_entropy", "onehot_labels", "logits", EXAMPLE_WEIGHTS, {"label_smoothing": 0.0},
     lambda l, x, w, r, a: tf1.losses.softmax_cross_entropy(
         l, x, weights=w, label_smoothing=a["label_smoothing"], reduction=r)),
    ("softmax_cross_entropy", "onehot_labels", "logits", [1.0, "w_example_flat"], {"label_smoothing": 0.2},
     lambda l, x, w, r, a: tf1.losses.softmax_cross_entropy(
         l, x, weights=w, label_smoothing=a["label_smoothing"], reduction=r)),
    ("sparse_softmax_cross_entropy", "class_labels", "logits", SPARSE_WEIGHTS, {},
     lambda l, x, w, r, a: tf1.losses.sparse_softmax_cross_entropy(l, x, weights=w, reduction=r)),
    ("sparse_softmax_cross_entropy", "class_labels_col", "logits", [1.0, "w_example"], {},
     lambda l, x, w, r, a: tf1.losses.sparse_softmax_cross_entropy(l, x, weights=w, reduction=r)),
]


def loss_case(name, labels, x, weights, args, build, reduction):
    g = tf1.Graph()
    with g.as_default():
        lv, xv = INPUTS[labels], INPUTS[x]
        lp = tf1.placeholder(tf.as_dtype(lv.dtype), lv.shape)
        xp = tf1.placeholder(tf.float32, xv.shape)
        w = weights if isinstance(weights, float) else tf1.constant(INPUTS[weights])
        y = build(lp, xp, w, REDUCTIONS[reduction], args)
        dyv = upstream(y.shape.as_list())
        (gx,) = tf1.gradients(y, [xp], grad_ys=[tf1.constant(dyv)])
        collected = tf1.get_collection(tf1.GraphKeys.LOSSES)
        assert collected == [y], collected
        with tf1.Session(graph=g) as s:
            yv, gv = s.run([y, gx], {lp: lv, xp: xv})
    return {
        "loss": name,
        "labels": labels,
        "x": x,
        "weights": weights,
        "reduction": reduction,
        "args": args,
        "y": tensor(yv),
        "dy": tensor(dyv),
        "grad": tensor(gv),
    }


def losses():
    cases = []
    for name, labels, x, weightings, args, build in LOSSES:
        for weights in weightings:
            for reduction in REDUCTIONS:
                cases.append(loss_case(name, labels, x, weights, args, build, reduction))
    return cases


def sigmoid_op():
    """`tf.nn.sigmoid_cross_entropy_with_logits` alone: gradients w.r.t. both operands."""
    logits = f32([-100.0, -20.0, -3.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 0.5, 1.0, 3.0, 20.0, 100.0])
    labels = f32([0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.25, 1.0, 0.0, 0.9, 1.0, 0.0, 1.0])
    g = tf1.Graph()
    with g.as_default():
        lp = tf1.placeholder(tf.float32, labels.shape)
        xp = tf1.placeholder(tf.float32, logits.shape)
        y = tf1.nn.sigmoid_cross_entropy_with_logits(labels=lp, logits=xp)
        dyv = upstream(labels.shape)
        gl, gx = tf1.gradients(y, [lp, xp], grad_ys=[tf1.constant(dyv)])
        with tf1.Session(graph=g) as s:
            yv, glv, gxv = s.run([y, gl, gx], {lp: labels, xp: logits})
    return {
        "labels": tensor(labels),
        "logits": tensor(logits),
        "y": tensor(yv),
        "dy": tensor(dyv),
        "grad_labels": tensor(glv),
        "grad_logits": tensor(gxv),
    }


def regularization():
    """Two weights with contrib's l2_regularizer(0.01) and l1_regularizer(0.02), one MSE
    loss: the terms, get_regularization_loss, get_total_loss and d(total)/d(w1)."""
    w1v = f32([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    w2v = f32([3.0, -2.0])
    xv = f32([[1.0, 2.0, -1.0], [0.5, 0.0, 1.5]])
    tv = f32([[1.0, 0.0], [-1.0, 2.0]])
    g = tf1.Graph()
    with g.as_default():
        w1 = tf1.get_variable("w1", initializer=tf1.constant(w1v))
        w2 = tf1.get_variable("w2", initializer=tf1.constant(w2v))
        for scale, w, fn in [(0.01, w1, "l2"), (0.01, w2, "l2"), (0.02, w1, "l1")]:
            term = scale * (tf1.nn.l2_loss(w) if fn == "l2" else tf1.reduce_sum(tf1.abs(w)))
            tf1.add_to_collection(tf1.GraphKeys.REGULARIZATION_LOSSES, term)
        pred = tf1.matmul(tf1.constant(xv), w1) + w2
        tf1.losses.mean_squared_error(tf1.constant(tv), pred)
        reg = tf1.losses.get_regularization_loss()
        total = tf1.losses.get_total_loss()
        terms = tf1.losses.get_regularization_losses()
        (gw1,) = tf1.gradients(total, [w1])
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            termv, regv, totalv, gw1v = s.run([terms, reg, total, gw1])
    return {
        "w1": tensor(w1v),
        "w2": tensor(w2v),
        "x": tensor(xv),
        "t": tensor(tv),
        "terms": [float(t) for t in termv],
        "regularization_loss": float(regv),
        "total_loss": float(totalv),
        "grad_w1": tensor(gw1v),
    }


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_losses.json"
    doc = {
        "generator": "scripts/tf1_loss_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "dtype": "float32",
        "inputs": {k: tensor(v) for k, v in INPUTS.items()},
        "losses": losses(),
        "sigmoid_cross_entropy_with_logits": sigmoid_op(),
        "regularization": regularization(),
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(doc['losses'])} loss cases to {path}")


if __name__ == "__main__":
    main()
