#!/usr/bin/env python
"""Reference values for staticflow's gradient aggregators (tests/fixtures/aggregators.json).

For each fixed Jacobian of issue 9 (two conflicting tasks, two aligned, three mixed, five
random, one all-zero row, norms 1e-3 next to 1e3, two nearly parallel) and each method, records
the aggregated vector and the weights on the raw gradients from:

- TorchJD 0.18 where it implements the method (Mean, Sum, PCGrad, MGDA, CAGrad, IMTL-G,
  Aligned-MTL, UPGrad, GradVac, Nash-MTL). CAGrad and Nash-MTL need TorchJD's optional
  dependencies (cvxpy with Clarabel and ECOS); without them those entries are skipped with a
  notice.
- LibMTL 1.1.5 for what TorchJD lacks: MGDA's gradient normalisations (`mgda_gn` = l2, loss,
  loss+) and, for information, LibMTL's own MGDA solver and its CAGrad (3 tasks only: LibMTL's
  objective hard-codes 3). LibMTL's MGDA can loop forever on a zero gradient row: every LibMTL
  call runs under a 20 s alarm and is recorded as skipped on timeout or error.

Random orders are made explicit: PCGrad's and GradVac's permutations are drawn from
`torch.manual_seed(seed)` exactly as TorchJD draws them and stored next to the result, so the
Rust test replays the same orders. GradVac runs two consecutive steps (state in and out).

Everything runs in float64. Usage (from the repository root), with a Python that has torch,
torchjd 0.18 (+ cvxpy, clarabel, ecos, quadprog) and LibMTL 1.1.5:

    python scripts/aggregator_fixtures.py [tests/fixtures/aggregators.json]

LibMTL's package __init__ imports torchvision; only `LibMTL.weighting` is needed, so the script
registers a bare `LibMTL` package and imports the weighting modules from its folder.
"""

import importlib.util
import json
import signal
import sys
import types
from pathlib import Path

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

import torchjd  # noqa: E402
from torchjd import aggregation as A  # noqa: E402


def try_cvxpy():
    try:
        import cvxpy  # noqa: F401

        return True
    except ImportError:
        print("notice: cvxpy missing: TorchJD CAGrad and Nash-MTL entries skipped", file=sys.stderr)
        return False


def load_libmtl():
    spec = importlib.util.find_spec("LibMTL")
    if spec is None:
        print("notice: LibMTL missing: LibMTL entries skipped", file=sys.stderr)
        return None
    root = Path(spec.submodule_search_locations[0])
    pkg = types.ModuleType("LibMTL")
    pkg.__path__ = [str(root)]
    sys.modules["LibMTL"] = pkg
    import LibMTL.weighting as W  # noqa: E402

    return W


def cases():
    rng = np.random.default_rng(2026)
    base = np.array([1.0, 0.5, -0.2, 0.3, 0.0, 0.8])
    out = {}
    out["two_conflicting"] = [base, np.array([-0.9, 0.4, 0.1, -0.5, 0.2, -0.3])]
    out["two_aligned"] = [base, np.array([0.7, 0.9, 0.1, 0.2, -0.1, 0.5])]
    out["three_mixed"] = [
        np.array([1.0, 0.2, -0.5, 0.3, 0.1, 0.0]),
        np.array([-0.6, 0.8, 0.2, -0.1, 0.0, 0.4]),
        np.array([0.4, -0.9, 0.7, 0.5, -0.3, 0.2]),
    ]
    out["five_random"] = list(rng.normal(size=(5, 12)))
    out["zero_row"] = [
        np.array([1.0, -0.5, 0.3, 0.2, 0.1]),
        np.zeros(5),
        np.array([-0.7, 0.6, 0.1, -0.4, 0.3]),
    ]
    a = rng.normal(size=6)
    b = rng.normal(size=6) - 0.5 * a
    c = rng.normal(size=6)
    out["scales_1e-3_1e3"] = [1e-3 * a / np.linalg.norm(a), 1e3 * b / np.linalg.norm(b), c]
    out["nearly_parallel"] = [base, base + 1e-4 * rng.normal(size=6)]
    res = {}
    for name, rows in out.items():
        j = np.stack(rows)
        t = j.shape[0]
        losses = [0.7, 1.3, 2.1, 0.4, 1.7][:t]
        res[name] = {"jacobian": j.tolist(), "losses": losses}
    return res


def weights_of(agg, jac):
    g = jac @ jac.T
    if hasattr(agg, "gramian_weighting"):
        return agg.gramian_weighting(g)
    return agg.weighting(jac)


def entry(case, method, params, reference, kind, weights, vector, **extra):
    e = {
        "case": case,
        "method": method,
        "params": params,
        "reference": reference,
        "kind": kind,
        "weights": None if weights is None else [float(x) for x in weights],
        "vector": [float(x) for x in vector],
    }
    e.update(extra)
    return e


class Timeout(Exception):
    pass


def with_alarm(seconds, f):
    def handler(signum, frame):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        return f()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def libmtl_run(W, cls, jac, losses_vals, **kwargs):
    """Runs a LibMTL weighting on losses_i = <J_i, θ> (so the per-task gradients are J's rows);
    returns (weights returned by LibMTL, aggregated gradient written into θ.grad)."""
    t, p = jac.shape
    theta = torch.nn.Parameter(torch.zeros(p))
    jt = torch.tensor(jac)

    class M(cls):
        def __init__(self):
            super().__init__()
            self.task_num = t
            self.device = torch.device("cpu")
            self.rep_grad = False

        def get_share_params(self):
            return [theta]

        def zero_grad_share_params(self):
            theta.grad = None if theta.grad is None else theta.grad.zero_()

    m = M()
    # Losses whose values are `losses_vals` and whose gradients are J's rows.
    losses = [jt[i] @ theta + losses_vals[i] for i in range(t)]
    w = m.backward(losses, **kwargs)
    return np.asarray(w, dtype=np.float64), theta.grad.detach().numpy().copy()


def main():
    out_path = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/aggregators.json")
    has_cvxpy = try_cvxpy()
    W = load_libmtl()
    cs = cases()
    entries = []
    for name, case in cs.items():
        jac = torch.tensor(case["jacobian"])
        t = jac.shape[0]
        losses = case["losses"]
        closed = [
            ("mean", {}, A.Mean()),
            ("sum", {}, A.Sum()),
            ("imtl_g", {}, A.IMTLG()),
            ("aligned_mtl", {}, A.AlignedMTL()),
            ("upgrad", {"norm_eps": 1e-4, "reg_eps": 1e-4}, A.UPGrad()),
            ("mgda", {"normalization": "none", "max_iters": 100, "epsilon": 1e-3}, A.MGDA()),
        ]
        for method, params, agg in closed:
            w = weights_of(agg, jac)
            v = agg(jac)
            assert torch.allclose(v, w @ jac, rtol=1e-9, atol=1e-12), (name, method)
            entries.append(entry(name, method, params, "torchjd 0.18", "closed", w, v))

        # PCGrad: explicit permutations, as TorchJD draws them.
        for seed in (0, 1):
            torch.manual_seed(seed)
            perms = [torch.randperm(t).tolist() for _ in range(t)]
            torch.manual_seed(seed)
            w = A.PCGrad().gramian_weighting(jac @ jac.T)
            entries.append(
                entry(name, "pcgrad", {}, "torchjd 0.18", "closed", w, w @ jac, perms=perms, seed=seed)
            )

        # MGDA with LibMTL's normalisations, folded into TorchJD's Frank-Wolfe solver.
        norms = jac.norm(dim=1)
        lt = torch.tensor(losses)
        for gn, n in (("l2", norms), ("loss", lt), ("loss+", lt * norms)):
            inv = torch.where(n == 0, torch.zeros_like(n), 1.0 / torch.where(n == 0, torch.ones_like(n), n))
            jn = jac * inv[:, None]
            alpha = A.MGDA().gramian_weighting(jn @ jn.T)
            w = alpha * inv
            entries.append(
                entry(
                    name,
                    "mgda",
                    {"normalization": gn, "max_iters": 100, "epsilon": 1e-3},
                    "torchjd 0.18 MGDA on LibMTL-normalised gradients",
                    "closed",
                    w,
                    alpha @ jn,
                )
            )

        # GradVac: two steps from a zero state.
        gv = A.GradVac(beta=0.5)
        state = torch.zeros(t, t)
        for step, seed in enumerate((3, 4)):
            torch.manual_seed(seed)
            orders = []
            for i in range(t):
                others = [j for j in range(t) if j != i]
                perm = torch.randperm(len(others)).tolist()
                orders.append([others[k] for k in perm])
            torch.manual_seed(seed)
            w = gv.gramian_weighting(jac @ jac.T)
            new_state = gv.gramian_weighting._phi_t.clone()
            entries.append(
                entry(
                    name,
                    "gradvac",
                    {"beta": 0.5},
                    "torchjd 0.18",
                    "closed",
                    w,
                    w @ jac,
                    orders=orders,
                    step=step,
                    state_in=state.tolist(),
                    state_out=new_state.tolist(),
                )
            )
            state = new_state

        if has_cvxpy:
            for c in (0.5,):
                agg = A.CAGrad(c=c)
                w = weights_of(agg, jac)
                entries.append(entry(name, "cagrad", {"c": c}, "torchjd 0.18 (cvxpy/Clarabel)", "iterative", w, w @ jac))
            agg = A.NashMTL(n_tasks=t)
            try:
                w = agg.weighting(jac)
                # TorchJD's CCP can stop away from the Nash solution (a failed ECOS solve keeps
                # the previous alpha): record the relative residual |α ⊙ Gα - 1| of its
                # unclipped alpha (its constraints log(α_i nf) + log((Ĝα)_i) >= 0 with
                # Ĝ = G / nf mean α_i (Gα)_i >= 1 on the raw G), so the test knows whether the
                # reference converged.
                alpha = np.asarray(agg.weighting.prvs_alpha, dtype=np.float64)
                g = (jac @ jac.T).numpy()
                residual = float(np.max(np.abs(alpha * (g @ alpha) - 1.0)))
                entries.append(
                    entry(
                        name,
                        "nash_mtl",
                        {"max_norm": 1.0, "optim_iters": 20},
                        "torchjd 0.18 (cvxpy/ECOS)",
                        "iterative",
                        w,
                        w @ jac,
                        residual=residual,
                        converged=bool(residual < 1e-3),
                    )
                )
            except Exception as e:  # noqa: BLE001
                entries.append({"case": name, "method": "nash_mtl", "reference": "torchjd 0.18", "skipped": repr(e)})

        if W is not None:
            for gn in ("none", "l2", "loss", "loss+"):
                try:
                    w, v = with_alarm(20, lambda: libmtl_run(W, W.MGDA, case_array(case), losses, mgda_gn=gn))
                    entries.append(
                        entry(
                            name,
                            "mgda",
                            {"normalization": gn},
                            "libmtl 1.1.5 (own solver, information only)",
                            "information",
                            w,
                            v,
                        )
                    )
                except (Timeout, Exception) as e:  # noqa: BLE001
                    entries.append(
                        {"case": name, "method": "mgda", "params": {"normalization": gn}, "reference": "libmtl 1.1.5", "skipped": "timeout" if isinstance(e, Timeout) else repr(e)}
                    )
            if t == 3:
                try:
                    w, v = with_alarm(20, lambda: libmtl_run(W, W.CAGrad, case_array(case), losses, calpha=0.5, rescale=0))
                    entries.append(entry(name, "cagrad", {"c": 0.5}, "libmtl 1.1.5 (scipy SLSQP, rescale=0, information only)", "information", w, v))
                except (Timeout, Exception) as e:  # noqa: BLE001
                    entries.append({"case": name, "method": "cagrad", "reference": "libmtl 1.1.5", "skipped": repr(e)})

    doc = {
        "generator": "scripts/aggregator_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "torchjd": getattr(torchjd, "__version__", "0.18"),
            "libmtl": "1.1.5" if W is not None else None,
        },
        "dtype": "float64",
        "cases": cs,
        "entries": entries,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(entries)} entries for {len(cs)} cases to {out_path}")


def case_array(case):
    return np.array(case["jacobian"], dtype=np.float64)


if __name__ == "__main__":
    main()
