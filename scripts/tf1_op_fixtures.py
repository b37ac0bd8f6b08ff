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

Bool cases (`bool_ops`) cover comparisons, logic ops, `reduce_any`/`reduce_all`, casts to and
from bool and the three-argument `tf.where`; their tensors carry a `dtype` (`f32`, `i64`,
`bool`). Where a case asks for gradients, `grads` lists TF1's answer per input (null for
None: comparisons, logic and `where`'s condition have none).

Optimizer cases record the variable after each of a few steps of a fixed quadratic loss.
AdamW is TF1's `tf.contrib.opt.AdamWOptimizer` (the same rule as TF Addons' AdamW): contrib
is gone from TF 2.x, so the script builds it exactly as contrib's
`DecoupledWeightDecayExtension` does, `var -= weight_decay * var` under a control dependency
before `AdamOptimizer`'s update, both from the gradient at the old value.

Usage (from the repository root), with the TF1 environment of ../shared/bench/setup.sh:

    ~/.cache/staticflow-bench-venv/bin/python scripts/tf1_op_fixtures.py [tests/fixtures/tf1_ops.json [tests/fixtures/tf1_shape_ops.json]]

Shape op cases (`shape_ops`, issue 11 item 3) go to the second file, in the bool cases'
typed format with lists: `ys` (every output), `dys` (the upstream of each f32 output),
`grads` per `grad_of` input; or `error` (the exception's type) where TF1 rejects the case.
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


# ---------------------------------------------------------------------------------------------
# Bool dtype: comparisons, logic, reduce_any/all, cast, where (issue 11, item 1)

DTYPES = {"f32": tf.float32, "i64": tf.int64, "bool": tf.bool}
NP_DTYPES = {"f32": np.float32, "i64": np.int64, "bool": np.bool_}


def typed(a, dtype):
    """A tensor with its dtype named (bool data as JSON true/false)."""
    a = np.asarray(a, NP_DTYPES[dtype])
    if dtype == "bool":
        data = [bool(v) for v in a.reshape(-1)]
    elif dtype == "i64":
        data = [int(v) for v in a.reshape(-1)]
    else:
        data = [enc(v) for v in a.reshape(-1)]
    return {"dtype": dtype, "shape": list(a.shape), "data": data}


def dtype_name(t):
    return {tf.float32: "f32", tf.int64: "i64", tf.bool: "bool"}[t.dtype.base_dtype]


def run_bool_case(name, build, inputs, args=None, grad_of=None, dy=None):
    """`build(*placeholders)` on `inputs` [(array, dtype)]; with `grad_of` (input positions),
    also `tf.gradients(y, those inputs, grad_ys=dy)` (null where TF1 answers None). A bool or
    integer output is differentiated through `cast(y, float32)`, which is how a gradient
    would ever reach a comparison."""
    g = tf1.Graph()
    with g.as_default():
        arrays = [np.asarray(a, NP_DTYPES[d]) for a, d in inputs]
        phs = [tf1.placeholder(DTYPES[d], a.shape) for a, (_, d) in zip(arrays, inputs)]
        y = build(*phs)
        fetch, grads = [y], None
        if grad_of is not None:
            yf = y if y.dtype == tf.float32 else tf1.cast(y, tf.float32)
            dyv = upstream(yf.shape.as_list()) if dy is None else np.asarray(dy, np.float32)
            grads = tf1.gradients(yf, [phs[k] for k in grad_of], grad_ys=[tf1.constant(dyv)])
            fetch += [t for t in grads if t is not None]
        with tf1.Session(graph=g) as s:
            out = s.run(fetch, dict(zip(phs, arrays)))
    case = {
        "name": name,
        "args": args or {},
        "inputs": [typed(a, d) for a, (_, d) in zip(arrays, inputs)],
        "y": typed(out[0], dtype_name(y)),
    }
    if grad_of is not None:
        case["grad_of"] = list(grad_of)
        case["dy"] = typed(dyv, "f32")
        got = iter(out[1:])
        case["grads"] = [None if t is None else typed(next(got), "f32") for t in grads]
    return case


def bool_ops():
    cases = []
    # Comparisons: edge values (NaN against NaN, -0 against 0, infinities), and the
    # broadcasts [3, 4] with [3, 4], [4], [] and [3, 1].
    a = np.array(
        [[NAN, 1.0, -0.0, 2.0], [INF, -INF, 3.5, NAN], [-1.0, 0.0, 1e-30, -2.5]], np.float32
    )
    bs = [
        np.array([[NAN, 2.0, 0.0, 2.0], [INF, INF, -3.5, 1.0], [-1.0, -0.0, 0.0, NAN]], np.float32),
        np.array([NAN, 1.0, 0.0, -INF], np.float32),
        np.array(1.0, np.float32),
        np.array([[2.0], [NAN], [-1.0]], np.float32),
    ]
    ia = np.array([[-3, 0, 5, 1 << 40], [7, -(1 << 62), 2, 2]], np.int64)
    ibs = [np.array([[-3, 1, 4, 1 << 40], [8, -(1 << 62), 2, 1]], np.int64), np.array([2, 0, 5, -1], np.int64)]
    ba = np.array([[True, False, True], [False, False, True]])
    bbs = [np.array([[True, True, False], [False, True, True]]), np.array([False, False, True])]
    comparisons = {
        "equal": tf1.equal,
        "not_equal": tf1.not_equal,
        "greater": tf1.greater,
        "greater_equal": tf1.greater_equal,
        "less": tf1.less,
        "less_equal": tf1.less_equal,
    }
    for name, f in comparisons.items():
        for k, b in enumerate(bs):
            # One case per op also asks for gradients: TF1 has none (null, null).
            grad_of = [0, 1] if k == 0 else None
            cases.append(run_bool_case(name, f, [(a, "f32"), (b, "f32")], grad_of=grad_of))
        for b in ibs:
            cases.append(run_bool_case(name, f, [(ia, "i64"), (b, "i64")]))
        if name in ("equal", "not_equal"):
            for b in bbs:
                cases.append(run_bool_case(name, f, [(ba, "bool"), (b, "bool")]))
    # Logic, with the broadcast [2, 3] with [3] and [2, 1].
    p = np.array([[True, False, True], [False, False, True]])
    for name, f in [("logical_and", tf1.logical_and), ("logical_or", tf1.logical_or)]:
        for q in (np.array([[True, True, False], [False, True, True]]), np.array([False, True, True]), np.array([[True], [False]])):
            cases.append(run_bool_case(name, f, [(p, "bool"), (q, "bool")]))
    cases.append(run_bool_case("logical_not", tf1.logical_not, [(p, "bool")]))
    # reduce_any / reduce_all: a [2, 3, 4] pattern with all-true and all-false lanes, every
    # axis set, negative axes, keep_dims; empty reductions.
    cube = np.zeros((2, 3, 4), np.bool_)
    cube[0, 0, :] = True
    cube[0, 1, 1] = True
    cube[1, :, 2] = True
    cube[1, 2, :] = True
    for name, f in [("reduce_any", tf1.reduce_any), ("reduce_all", tf1.reduce_all)]:
        for axes in ([0], [1], [-1], [0, 2], [1, -1], None):
            for keep in (False, True):
                args = {"axes": axes, "keep_dims": keep}
                cases.append(run_bool_case(name, lambda t: f(t, axis=axes, keepdims=keep), [(cube, "bool")], args))
        for shape, axes in (((0, 3), [0]), ((3, 0), [1]), ((0, 3), None)):
            args = {"axes": axes, "keep_dims": False}
            cases.append(run_bool_case(name, lambda t: f(t, axis=axes), [(np.zeros(shape, np.bool_), "bool")], args))
    # cast between bool, f32 and i64 (nonzero -> true, NaN included; true -> 1).
    fx = np.array([NAN, INF, -INF, -0.0, 0.0, 1e-30, -2.5, 1.0], np.float32)
    ix = np.array([0, 1, -1, 1 << 40, -(1 << 62)], np.int64)
    bx = np.array([[True, False], [False, True]])
    for (x, src), dst in [((fx, "f32"), "bool"), ((ix, "i64"), "bool"), ((bx, "bool"), "f32"), ((bx, "bool"), "i64"), ((bx, "bool"), "bool")]:
        cases.append(run_bool_case("cast", lambda t: tf1.cast(t, DTYPES[dst]), [(x, src)], {"dtype": dst}))
    # where (tf1.where with three arguments): element-wise, row-wise (cond a vector over the
    # first dimension) and scalar conditions; f32 with gradients for x and y (a NaN upstream
    # included), i64 and bool values.
    x = np.array([[1.0, -2.0, NAN], [4.0, 5.5, -0.0]], np.float32)
    y = np.array([[10.0, 20.0, 30.0], [INF, -50.0, 60.0]], np.float32)
    dy = np.array([[0.5, NAN, -1.5], [2.0, -0.25, 3.0]], np.float32)
    conds = [
        np.array([[True, False, True], [False, False, True]]),
        np.array([False, True]),
        np.array(True),
        np.array(False),
    ]
    for c in conds:
        cases.append(run_bool_case("where", tf1.where, [(c, "bool"), (x, "f32"), (y, "f32")], grad_of=[0, 1, 2]))
        cases.append(run_bool_case("where", tf1.where, [(c, "bool"), (x, "f32"), (y, "f32")], grad_of=[0, 1, 2], dy=dy))
    x3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 11.5
    cases.append(run_bool_case("where", tf1.where, [(np.array([True, False]), "bool"), (x3, "f32"), (-x3, "f32")], grad_of=[0, 1, 2]))
    cases.append(run_bool_case("where", tf1.where, [(x3 > 0, "bool"), (x3, "f32"), (x3 * 2, "f32")], grad_of=[0, 1, 2]))
    ix2, iy2 = np.array([[1, 2, 3], [4, 5, 6]], np.int64), np.array([[-1, -2, -3], [-4, -5, -6]], np.int64)
    cases.append(run_bool_case("where", tf1.where, [(conds[0], "bool"), (ix2, "i64"), (iy2, "i64")]))
    cases.append(run_bool_case("where", tf1.where, [(conds[1], "bool"), (ix2, "i64"), (iy2, "i64")]))
    cases.append(run_bool_case("where", tf1.where, [(conds[0], "bool"), (conds[0], "bool"), (~conds[0], "bool")]))
    # Accuracy in the graph: reduce_mean(cast(equal(argmax(logits, 1), labels), float32)).
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]], np.float32)
    labels = np.array([1, 1, 2, 0], np.int64)
    cases.append(
        run_bool_case(
            "accuracy",
            lambda l, t: tf1.reduce_mean(tf1.cast(tf1.equal(tf1.argmax(l, 1), t), tf.float32)),
            [(logits, "f32"), (labels, "i64")],
            grad_of=[0],
            dy=np.float32(1.0),
        )
    )
    return cases


# ---------------------------------------------------------------------------------------------
# Shape ops (issue 11, item 3): written to their own file, tests/fixtures/tf1_shape_ops.json
# (read by tests/tf1_shape_ops.rs), so that the cases above stay byte-identical.


def run_shape_case(name, build, inputs, args=None, grad_of=None):
    """`build(*placeholders)` (one tensor or a list) on `inputs` [(array, dtype)]: every output
    (`ys`), and with `grad_of` the gradients of the f32 outputs (upstream `upstream(shape)`
    each) w.r.t. those inputs, null where TF1 answers None. If TF1 raises, building or
    running, the case records `error` (the exception's type) instead: staticflow must give a
    typed error there too."""
    g = tf1.Graph()
    case = {"name": name, "args": args or {}}
    with g.as_default():
        arrays = [np.asarray(a, NP_DTYPES[d]) for a, d in inputs]
        case["inputs"] = [typed(a, d) for a, (_, d) in zip(arrays, inputs)]
        phs = [tf1.placeholder(DTYPES[d], a.shape) for a, (_, d) in zip(arrays, inputs)]
        try:
            y = build(*phs)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            # TF1's int32 outputs (top_k's indices) are i64 in staticflow.
            ys = [tf1.cast(t, tf.int64) if t.dtype == tf.int32 else t for t in ys]
            fetch, grads = list(ys), None
            if grad_of is not None:
                fys = [t for t in ys if t.dtype == tf.float32]
                dys = [upstream(t.shape.as_list()) for t in fys]
                grads = tf1.gradients(fys, [phs[k] for k in grad_of], grad_ys=[tf1.constant(d) for d in dys])
                # gather's gradient is IndexedSlices: densify it as staticflow's is dense.
                grads = [None if t is None else tf1.convert_to_tensor(t) for t in grads]
                fetch += [t for t in grads if t is not None]
            with tf1.Session(graph=g) as s:
                out = s.run(fetch, dict(zip(phs, arrays)))
        except (tf.errors.OpError, ValueError) as e:
            case["error"] = type(e).__name__
            return case
    case["ys"] = [typed(v, dtype_name(t)) for v, t in zip(out, ys)]
    if grad_of is not None:
        case["grad_of"] = list(grad_of)
        case["dys"] = [typed(d, "f32") for d in dys]
        got = iter(out[len(ys):])
        case["grads"] = [None if t is None else typed(next(got), "f32") for t in grads]
    return case


def shape_ops():
    cases = []
    m = np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1.25
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25 - 2.0
    im = np.array([[1, -2, 3], [4, 5, -6]], np.int64)
    bm = np.array([[True, False, True], [False, False, True]])
    # tile: every axis, a zero multiple, rank 3, i64 and bool.
    for x, mult in ((m, [2, 1]), (m, [1, 3]), (m, [2, 2]), (m, [1, 0]), (cube, [1, 2, 2]), (m[0], [3])):
        cases.append(run_shape_case("tile", lambda t: tf1.tile(t, mult), [(x, "f32")], {"multiples": mult}, [0]))
    cases.append(run_shape_case("tile", lambda t: tf1.tile(t, [2, 2]), [(im, "i64")], {"multiples": [2, 2]}))
    cases.append(run_shape_case("tile", lambda t: tf1.tile(t, [1, 2]), [(bm, "bool")], {"multiples": [1, 2]}))
    cases.append(run_shape_case("tile", lambda t: tf1.tile(t, [2]), [(m, "f32")], {"multiples": [2]}))
    # pad: constant (0 and a value), reflect, symmetric up to their limits, rank 3, i64;
    # paddings beyond a mirror mode's limit are errors.
    pads = [
        ([[1, 2], [0, 1]], "CONSTANT", 0.0),
        ([[0, 0], [3, 1]], "CONSTANT", 1.5),
        ([[1, 1], [2, 2]], "REFLECT", 0.0),
        ([[1, 0], [0, 2]], "REFLECT", 0.0),
        ([[2, 1], [3, 0]], "SYMMETRIC", 0.0),
        ([[0, 2], [1, 3]], "SYMMETRIC", 0.0),
    ]
    for p, mode, v in pads:
        args = {"paddings": p, "mode": mode, "value": v}
        cases.append(run_shape_case("pad", lambda t: tf1.pad(t, p, mode, constant_values=v), [(m, "f32")], args, [0]))
    for p, mode in (([[1, 0], [2, 1], [1, 3]], "REFLECT"), ([[0, 1], [3, 3], [2, 4]], "SYMMETRIC"), ([[1, 1], [0, 0], [2, 0]], "CONSTANT")):
        args = {"paddings": p, "mode": mode, "value": 0.0}
        cases.append(run_shape_case("pad", lambda t: tf1.pad(t, p, mode), [(cube, "f32")], args, [0]))
    cases.append(run_shape_case("pad", lambda t: tf1.pad(t, [[1, 0], [1, 1]], constant_values=7), [(im, "i64")], {"paddings": [[1, 0], [1, 1]], "mode": "CONSTANT", "value": 7.0}))
    cases.append(run_shape_case("pad", lambda t: tf1.pad(t, [[1, 1], [2, 0]], "REFLECT"), [(im, "i64")], {"paddings": [[1, 1], [2, 0]], "mode": "REFLECT", "value": 0.0}))
    for p, mode in (([[2, 0], [0, 0]], "REFLECT"), ([[0, 0], [0, 4]], "SYMMETRIC"), ([[1, 1]], "CONSTANT")):
        args = {"paddings": p, "mode": mode, "value": 0.0}
        cases.append(run_shape_case("pad", lambda t: tf1.pad(t, p, mode), [(m, "f32")], args, [0]))
    # reverse: single, negative, several and no axes; i64 and bool; a repeated axis is an error.
    for axes in ([0], [-1], [1], [0, 2], [-3, -2, -1], []):
        cases.append(run_shape_case("reverse", lambda t: tf1.reverse(t, axes), [(cube, "f32")], {"axes": axes}, [0]))
    cases.append(run_shape_case("reverse", lambda t: tf1.reverse(t, [1]), [(im, "i64")], {"axes": [1]}))
    cases.append(run_shape_case("reverse", lambda t: tf1.reverse(t, [0, 1]), [(bm, "bool")], {"axes": [0, 1]}))
    cases.append(run_shape_case("reverse", lambda t: tf1.reverse(t, [1, -2]), [(cube, "f32")], {"axes": [1, -2]}, [0]))
    # split: equal parts, sizes with -1, empty parts, one part, negative axis; i64; errors
    # for an uneven split and sizes that do not add up.
    x46 = np.arange(24, dtype=np.float32).reshape(4, 6) * 0.5 - 5.0
    for sizes, axis in ((2, 0), (3, -1), ([1, -1, 2], 1), ([0, 6, 0], 1), ([4], 0), (1, 1), ([2, 0, 2], -2), (4, 1), ([2, 2, 3], 1)):
        args = {"sizes": sizes, "axis": axis}
        cases.append(run_shape_case("split", lambda t: tf1.split(t, sizes, axis), [(x46, "f32")], args, [0]))
    cases.append(run_shape_case("split", lambda t: tf1.split(t, [1, 2], 1), [(im, "i64")], {"sizes": [1, 2], "axis": 1}))
    # unstack on every axis (negative included); i64.
    for axis in (0, 1, 2, -1):
        cases.append(run_shape_case("unstack", lambda t: tf1.unstack(t, axis=axis), [(cube, "f32")], {"axis": axis}, [0]))
    cases.append(run_shape_case("unstack", lambda t: tf1.unstack(t, axis=1), [(im, "i64")], {"axis": 1}))
    # zeros_like / ones_like of every dtype; fill with the gradient to the value.
    for x, d in ((m, "f32"), (im, "i64"), (bm, "bool")):
        cases.append(run_shape_case("zeros_like", tf1.zeros_like, [(x, d)]))
        cases.append(run_shape_case("ones_like", tf1.ones_like, [(x, d)]))
    for v, d, shape in ((2.5, "f32", [2, 3]), (-4, "i64", [3]), (True, "bool", [2, 2]), (1.0, "f32", [0, 2]), (-0.5, "f32", [])):
        args = {"shape": shape}
        cases.append(run_shape_case("fill", lambda t: tf1.fill(shape, t), [(v, d)], args, [0] if d == "f32" else None))
    # range, f32 (accumulated steps show how TF1 computes element i) and i64; errors for a
    # zero delta and a delta pointing away from the limit.
    for start, limit, delta, d in (
        (0.0, 1.0, 0.1, "f32"), (0.5, -3.0, -0.7, "f32"), (1.0, 1.0, 1.0, "f32"), (-2.0, 7.9, 0.3, "f32"),
        (0, 10, 3, "i64"), (10, 0, -3, "i64"), (0, 9, 3, "i64"), (-5, 5, 1, "i64"),
        (0.0, 1.0, 0.0, "f32"), (3, 1, 1, "i64"), (0.0, 2.0, -1.0, "f32"),
    ):
        args = {"start": start, "limit": limit, "delta": delta, "dtype": d}
        cases.append(run_shape_case("range", lambda: tf1.range(start, limit, delta, dtype=DTYPES[d]), [], args))
    cases += products()
    cases += index_ops()
    return cases


def index_ops():
    """gather on any axis, unsorted_segment_sum, scatter_nd, gather_nd, top_k (ties, k = n,
    k = 0), sequence_mask, reverse_sequence; out-of-range indices are TF1 CPU errors."""
    cases = []
    p = np.arange(60, dtype=np.float32).reshape(3, 4, 5) * 0.5 - 7.0
    ids = np.array([2, 0, 2], np.int64)
    for axis in (0, 1, 2, -1, -3):
        cases.append(run_shape_case("gather_axis", lambda t, i: tf1.gather(t, i, axis=axis), [(p, "f32"), (ids, "i64")], {"axis": axis}, [0, 1]))
    ids2 = np.array([[3, 1], [1, 1]], np.int64)
    cases.append(run_shape_case("gather_axis", lambda t, i: tf1.gather(t, i, axis=1), [(p, "f32"), (ids2, "i64")], {"axis": 1}, [0, 1]))
    cases.append(run_shape_case("gather_axis", lambda t, i: tf1.gather(t, i, axis=1), [(np.array([[1, 2, 3], [4, 5, 6]], np.int64), "i64"), (np.array([2, 0], np.int64), "i64")], {"axis": 1}))
    for bad in ([0, 4], [-1, 0]):
        cases.append(run_shape_case("gather_axis", lambda t, i: tf1.gather(t, i, axis=1), [(p, "f32"), (np.array(bad, np.int64), "i64")], {"axis": 1}))
    data = np.arange(15, dtype=np.float32).reshape(5, 3) * 0.75 - 4.0
    for seg, n in (([0, 2, 0, -1, 3], 4), ([1, 1, 1, 1, 1], 2), ([0, 1, 2, 3, 4], 5), ([0, 5, 1, 1, 0], 5)):
        cases.append(run_shape_case("unsorted_segment_sum", lambda d, i: tf1.unsorted_segment_sum(d, i, n), [(data, "f32"), (np.array(seg, np.int64), "i64")], {"num_segments": n}, [0, 1]))
    cube = np.arange(12, dtype=np.float32).reshape(2, 3, 2) - 5.5
    cases.append(run_shape_case("unsorted_segment_sum", lambda d, i: tf1.unsorted_segment_sum(d, i, 4), [(cube, "f32"), (np.array([[0, 3, 0], [2, 2, -1]], np.int64), "i64")], {"num_segments": 4}, [0, 1]))
    for idx, upd, shape in (
        ([[4], [3], [1], [4]], [9.0, 10.0, 11.0, 12.0], [6]),
        ([[0, 1], [2, 3], [0, 1]], [1.5, -2.0, 0.25], [3, 4]),
        ([[2], [0]], [[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]], [3, 4]),
        ([[[1], [0]], [[1], [1]]], np.arange(16, dtype=np.float32).reshape(2, 2, 4) - 8.0, [2, 4]),
        ([[0], [6]], [1.0, 2.0], [6]),
        ([[0, -1]], [1.0], [3, 4]),
    ):
        cases.append(run_shape_case("scatter_nd", lambda i, u: tf1.scatter_nd(i, u, shape), [(np.array(idx, np.int64), "i64"), (np.asarray(upd, np.float32), "f32")], {"shape": shape}, [0, 1]))
    m = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 2.0
    for idx in ([[1, 2], [0, 0], [2, 3], [1, 2]], [[1], [2], [1]], [[[0, 1]], [[2, 2]]], [[3, 0]]):
        cases.append(run_shape_case("gather_nd", tf1.gather_nd, [(m, "f32"), (np.array(idx, np.int64), "i64")], {}, [0, 1]))
    x = np.array([[1.0, 3.0, 3.0, -2.0, 3.0, 0.5], [0.0, -1.0, -1.0, 2.0, 2.0, -3.0], [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]], np.float32)
    for k in (1, 3, 6, 0, 7):
        cases.append(run_shape_case("top_k", lambda t: list(tf1.nn.top_k(t, k, sorted=True)), [(x, "f32")], {"k": k}, [0]))
    cases.append(run_shape_case("top_k", lambda t: list(tf1.nn.top_k(t, 2)), [(x.reshape(3, 2, 3), "f32")], {"k": 2}, [0]))
    cases.append(run_shape_case("top_k", lambda t: list(tf1.nn.top_k(t, 2)), [(np.array([[4, -1, 4, 7]], np.int64), "i64")], {"k": 2}))
    lens = np.array([1, 3, 0, -2], np.int64)
    for maxlen, d in ((5, "bool"), (None, "bool"), (2, "f32"), (3, "i64")):
        args = {"maxlen": maxlen, "dtype": d}
        cases.append(run_shape_case("sequence_mask", lambda l: tf1.sequence_mask(l, maxlen, DTYPES[d]), [(lens, "i64")], args))
    cases.append(run_shape_case("sequence_mask", lambda l: tf1.sequence_mask(l, 3), [(np.array([[1, 2], [3, 0]], np.int64), "i64")], {"maxlen": 3, "dtype": "bool"}))
    x3 = np.arange(24, dtype=np.float32).reshape(3, 4, 2) - 11.0
    for shape, sl, seq, batch in (
        ((3, 4, 2), [4, 2, 0], 1, 0),
        ((3, 4, 2), [1, 3, 4], -2, -3),
        ((4, 3, 2), [3, 4, 1], 0, 1),
        ((2, 3, 4), [2, 4], 2, 0),
        ((3, 4, 2), [5, 1, 1], 1, 0),
    ):
        args = {"seq_axis": seq, "batch_axis": batch}
        f = lambda t, l: tf1.reverse_sequence(t, l, seq_axis=seq, batch_axis=batch)
        cases.append(run_shape_case("reverse_sequence", f, [(x3.reshape(shape), "f32"), (np.array(sl, np.int64), "i64")], args, [0, 1]))
    return cases


def products():
    """Batched matmul (broadcast batch dimensions, transposes), tensordot, matvec."""
    cases = []

    def arr(*shape, seed=0):
        n = int(np.prod(shape))
        return (((np.arange(n) * 7 + seed * 3) % 11) * 0.25 - 1.2).reshape(shape).astype(np.float32)

    for sa, sb, ta, tb in (
        ((2, 3, 4), (2, 4, 5), False, False),
        ((2, 4, 3), (2, 4, 5), True, False),
        ((2, 3, 4), (2, 5, 4), False, True),
        ((2, 4, 3), (2, 5, 4), True, True),
        ((2, 1, 3, 4), (3, 4, 2), False, False),
        ((2, 3, 4), (4, 5), False, False),
        ((3, 4), (2, 2, 4, 5), False, False),
        ((1, 3, 4), (2, 4, 1), False, False),
        ((2, 0, 4), (2, 4, 3), False, False),
        ((2, 3, 0), (2, 0, 3), False, False),
        ((2, 3, 4), (3, 4, 5), False, False),
        ((2, 3, 4), (2, 3, 5), False, False),
    ):
        args = {"transpose_a": ta, "transpose_b": tb}
        f = lambda a, b: tf1.matmul(a, b, transpose_a=ta, transpose_b=tb)
        cases.append(run_shape_case("matmul", f, [(arr(*sa), "f32"), (arr(*sb, seed=1), "f32")], args, [0, 1]))
    for sa, sb, axes in (
        ((3, 4), (4, 5), 1),
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (4,), 0),
        ((3, 4), (4,), [[1], [0]]),
        ((4,), (4, 3), [[0], [0]]),
        ((2, 3, 4), (4, 5, 2), [[0, 2], [2, 0]]),
        ((2, 3, 4), (5, 4), [[-1], [-1]]),
        ((3, 4), (3, 4), [[0, 1], [0, 1]]),
        ((3, 4), (5, 4), 1),
        ((3, 4), (4, 5), 3),
    ):
        args = {"axes": axes}
        cases.append(run_shape_case("tensordot", lambda a, b: tf1.tensordot(a, b, axes), [(arr(*sa), "f32"), (arr(*sb, seed=2), "f32")], args, [0, 1]))
    for sa, sx in (((3, 4), (4,)), ((2, 3, 4), (2, 4)), ((2, 3, 4), (4,))):
        cases.append(run_shape_case("matvec", tf1.linalg.matvec, [(arr(*sa), "f32"), (arr(*sx, seed=3), "f32")], {}, [0, 1]))
    return cases


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tf1_ops.json"
    doc = {
        "generator": "scripts/tf1_op_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "dtype": "float32",
        "ops": elementwise() + reductions(),
        "optimizers": optimizers(),
        "bool_ops": bool_ops(),
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(doc['ops'])} op cases and {len(doc['bool_ops'])} bool op cases to {path}")
    shape_path = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/tf1_shape_ops.json"
    shape_doc = {
        "generator": "scripts/tf1_op_fixtures.py",
        "versions": doc["versions"],
        "dtype": "float32",
        "shape_ops": shape_ops(),
    }
    with open(shape_path, "w") as f:
        json.dump(shape_doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(shape_doc['shape_ops'])} shape op cases to {shape_path}")


if __name__ == "__main__":
    main()
