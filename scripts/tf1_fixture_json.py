"""JSON encoding shared by the TF1 fixture scripts (tf1_op_fixtures.py, tf1_loss_fixtures.py):
the format `tests/tf1_fixture/mod.rs` reads."""

import math

import numpy as np


def enc(v):
    """A float as JSON: non-finite values as strings."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def tensor(a):
    """An array as `{"shape": [..], "data": [..]}` (floats through `enc`, integers as ints)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        data = [enc(v) for v in a.reshape(-1)]
    else:
        data = [int(v) for v in a.reshape(-1)]
    return {"shape": list(a.shape), "data": data}


def upstream(shape):
    """A fixed, non-uniform upstream gradient of `shape`."""
    n = int(np.prod(shape))
    return (0.25 * ((np.arange(n) % 7) - 3.0) + 0.125).reshape(shape).astype(np.float32)
