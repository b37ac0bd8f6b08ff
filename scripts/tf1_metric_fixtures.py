#!/usr/bin/env python
"""Reference values of TF1's streaming metrics (`tf.compat.v1.metrics`) for staticflow's
`metrics` module (tests/fixtures/tf1_metrics.json, read by tests/tf1_metrics.rs).

Every case is run by TF1 itself (graph mode, one Session, CPU): the metric is built on
placeholders, `local_variables_initializer` runs, then `update_op` once per batch (its
answer recorded), then `value` (recorded). Batches differ in size; labels and predictions
come as bool, int64 or float32 as a TF1 user feeds them; weights are absent, per element
(with zeros) or per example (`[n, 1]`, broadcast).

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_metric_fixtures.py [tests/fixtures/tf1_metrics.json]
"""

import json
import sys

import numpy as np
import tensorflow as tf
from tf1_fixture_json import enc, tensor

tf1 = tf.compat.v1
tf1.disable_eager_execution()
RNG = np.random.RandomState(7)
DTYPES = {"bool": tf.bool, "int64": tf.int64, "float32": tf.float32}


def arr(a, dtype):
    return np.asarray(a, {"bool": bool, "int64": np.int64, "float32": np.float32}[dtype])


def batches_of(sizes, make):
    return [make(n) for n in sizes]


def run_case(name, metric, batches, options=None):
    """batches: list of dicts with labels/predictions/values, their dtypes, weights."""
    options = options or {}
    g = tf1.Graph()
    with g.as_default():
        first = batches[0]
        feeds = {}
        ph = {}
        for key in ("labels", "predictions", "values", "weights"):
            if key in first and first[key] is not None:
                a, dt = first[key]
                shape = [None] + list(np.asarray(a).shape[1:])
                ph[key] = tf1.placeholder(DTYPES[dt], shape, key)
        w = ph.get("weights")
        if metric == "mean":
            value, update = tf1.metrics.mean(ph["values"], weights=w)
        elif metric == "accuracy":
            value, update = tf1.metrics.accuracy(ph["labels"], ph["predictions"], weights=w)
        elif metric == "precision":
            value, update = tf1.metrics.precision(ph["labels"], ph["predictions"], weights=w)
        elif metric == "recall":
            value, update = tf1.metrics.recall(ph["labels"], ph["predictions"], weights=w)
        elif metric == "auc":
            value, update = tf1.metrics.auc(
                ph["labels"], ph["predictions"], weights=w,
                num_thresholds=options.get("num_thresholds", 200),
                curve=options.get("curve", "ROC"),
                summation_method=options.get("summation", "trapezoidal"))
        else:
            raise ValueError(metric)
        local_names = sorted(v.op.name for v in tf1.local_variables())
        with tf1.Session(graph=g) as s:
            s.run(tf1.local_variables_initializer())
            updates = []
            for b in batches:
                fd = {ph[k]: b[k][0] for k in ph}
                updates.append(float(s.run(update, fd)))
            final = float(s.run(value))
    out_batches = []
    for b in batches:
        ob = {}
        for k in ph:
            a, dt = b[k]
            ob[k] = tensor(np.asarray(a).astype(np.float32) if dt == "float32" else np.asarray(a).astype(np.int64))
            ob[k + "_dtype"] = dt
        out_batches.append(ob)
    return {"name": name, "metric": metric, "options": options, "batches": out_batches,
            "updates": [enc(u) for u in updates], "value": enc(final),
            "local_variables": local_names}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_metrics.json"
    sizes = [5, 3, 8]
    cases = []

    def rand_f(shape):
        return RNG.uniform(-2, 2, shape).astype(np.float32)

    # mean: plain, per-element weights with zeros, per-example weights, a NaN value.
    vals = [rand_f((n, 3)) for n in sizes]
    cases.append(run_case("mean_plain", "mean", [{"values": (v, "float32")} for v in vals]))
    cases.append(run_case("mean_elem_weights", "mean", [
        {"values": (v, "float32"),
         "weights": (arr(RNG.choice([0.0, 0.5, 1.0, 2.0], v.shape), "float32"), "float32")}
        for v in vals]))
    cases.append(run_case("mean_example_weights", "mean", [
        {"values": (v, "float32"), "weights": (arr(RNG.choice([0.0, 1.0, 3.0], (len(v), 1)), "float32"), "float32")}
        for v in vals]))
    cases.append(run_case("mean_all_zero_weights_first", "mean", [
        {"values": (vals[0], "float32"), "weights": (np.zeros((5, 1), np.float32), "float32")},
        {"values": (vals[1], "float32"), "weights": (np.ones((3, 1), np.float32), "float32")}]))
    nan_vals = [v.copy() for v in vals]
    nan_vals[1][0, 1] = np.nan
    cases.append(run_case("mean_nan", "mean", [{"values": (v, "float32")} for v in nan_vals]))

    # accuracy: int64 classes, weighted, float predictions cast to the int labels, bool.
    lab = [RNG.randint(0, 3, n).astype(np.int64) for n in sizes]
    pred = [np.where(RNG.rand(n) < 0.6, l, RNG.randint(0, 3, n)).astype(np.int64) for n, l in zip(sizes, lab)]
    cases.append(run_case("accuracy_int", "accuracy", [
        {"labels": (l, "int64"), "predictions": (p, "int64")} for l, p in zip(lab, pred)]))
    cases.append(run_case("accuracy_weighted", "accuracy", [
        {"labels": (l, "int64"), "predictions": (p, "int64"),
         "weights": (arr(RNG.choice([0.0, 1.0, 2.5], len(l)), "float32"), "float32")}
        for l, p in zip(lab, pred)]))
    cases.append(run_case("accuracy_float_predictions", "accuracy", [
        {"labels": (l, "int64"), "predictions": (p.astype(np.float32) + 0.25 * (i % 2), "float32")}
        for i, (l, p) in enumerate(zip(lab, pred))]))
    cases.append(run_case("accuracy_bool", "accuracy", [
        {"labels": (l > 0, "bool"), "predictions": (p > 0, "bool")} for l, p in zip(lab, pred)]))

    # precision / recall: bool, int {0, 1}, float (nonzero is true), weights, no positives.
    bl = [RNG.rand(n, 2) < 0.5 for n in sizes]
    bp = [RNG.rand(n, 2) < 0.5 for n in sizes]
    for m in ("precision", "recall"):
        cases.append(run_case(f"{m}_bool", m, [
            {"labels": (l, "bool"), "predictions": (p, "bool")} for l, p in zip(bl, bp)]))
        cases.append(run_case(f"{m}_int_weighted", m, [
            {"labels": (l.astype(np.int64), "int64"), "predictions": (p.astype(np.int64), "int64"),
             "weights": (arr(RNG.choice([0.0, 1.0, 2.0], (len(l), 1)), "float32"), "float32")}
            for l, p in zip(bl, bp)]))
        cases.append(run_case(f"{m}_float_predictions", m, [
            {"labels": (l, "bool"), "predictions": (np.where(p, RNG.uniform(0.1, 1, p.shape), 0.0).astype(np.float32), "float32")}
            for l, p in zip(bl, bp)]))
        cases.append(run_case(f"{m}_no_positives", m, [
            {"labels": (np.zeros((4,), bool), "bool"), "predictions": (np.zeros((4,), bool), "bool")}]))

    # auc: probabilities, some exactly on thresholds (0, 0.25, 0.5, 1 with 5 thresholds).
    lab = [RNG.rand(n) < 0.4 for n in sizes]
    prob = [np.clip(np.where(l, RNG.beta(3, 2, len(l)), RNG.beta(2, 3, len(l))), 0, 1).astype(np.float32) for l in lab]
    prob[0][:4] = [0.0, 0.25, 0.5, 1.0]
    base = [{"labels": (l, "bool"), "predictions": (p, "float32")} for l, p in zip(lab, prob)]
    weighted = [dict(b, weights=(arr(RNG.choice([0.0, 1.0, 2.0], len(b["predictions"][0])), "float32"), "float32")) for b in base]
    for n in (200, 5, 2):
        cases.append(run_case(f"auc_roc_{n}", "auc", base, {"num_thresholds": n}))
    cases.append(run_case("auc_roc_weighted", "auc", weighted, {"num_thresholds": 50}))
    cases.append(run_case("auc_int_labels", "auc", [dict(b, labels=(b["labels"][0].astype(np.int64), "int64")) for b in base]))
    for s in ("trapezoidal", "minoring", "majoring"):
        cases.append(run_case(f"auc_pr_{s}", "auc", base, {"num_thresholds": 20, "curve": "PR", "summation": s}))
    cases.append(run_case("auc_roc_majoring", "auc", weighted, {"num_thresholds": 20, "summation": "majoring"}))
    cases.append(run_case("auc_one_class", "auc", [{"labels": (np.ones(4, bool), "bool"), "predictions": (arr([0.1, 0.4, 0.6, 0.9], "float32"), "float32")}]))

    with open(path, "w") as f:
        json.dump({"generator": "scripts/tf1_metric_fixtures.py", "tensorflow": tf.__version__,
                   "cases": cases}, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} metric cases to {path}")


if __name__ == "__main__":
    main()
