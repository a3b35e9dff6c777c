"""Trainers: iterations and seconds to a target loss for every full-batch trainer, beside scipy.

Two problems, float64, NumPy backend, the same objective on both sides:

* digits (1797 x 64, standardised), 64-25-10 sigmoid, cross-entropy, l2 = 1: bpnet_xp's
  newton, scg, rprop, cg, lbfgs (lm and br are for mse) against scipy.optimize's TNC and
  trust-ncg on ``net.loss_and_grad`` (trust-ncg with ``net.hessian_vector_product`` as hessp);
* noisy sinc (500 x 1), 1-10-1 tanh, mse: every trainer against scipy's TNC, trust-ncg and
  least_squares(method="lm") (MINPACK) on the residuals a - y.

The target is the median of the final losses of all runs of the problem; "iterations" is
the first iteration at or below it (for least_squares, which reports no iterations, the
number of residual evaluations).  Everything runs in one process after ``set_threads``, so
both sides use the same thread count.  Standalone: ``python scripts/bench/trainers.py``;
in the suite: ``python scripts/bench --workloads trainers``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

if __package__ in (None, ""):  # ``python scripts/bench/trainers.py``
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import bpnet_xp as bp  # noqa: E402
from bpnet_xp.datasets import load_digits  # noqa: E402
from bpnet_xp.network import forward  # noqa: E402

BUDGET = {"digits": 100, "sinc": 300}


def _digits():
    X, y = load_digits()
    X = np.asarray(X, dtype=np.float64)
    scale = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    net = lambda: bp.MLP([64, 25, 10], activation="sigmoid", output="sigmoid", loss="cross_entropy",  # noqa: E731
                         l2=1.0, dtype="float64", seed=0, backend="numpy")
    return X, y, net, ("newton", "scg", "rprop", "cg", "lbfgs")


def _sinc():
    rng = np.random.default_rng(0)
    X = rng.uniform(-4, 4, size=(500, 1))
    y = np.sinc(X[:, 0] / np.pi) + 0.1 * rng.normal(size=500)
    net = lambda: bp.MLP([1, 10, 1], activation="tanh", output="identity", loss="mse",  # noqa: E731
                         dtype="float64", seed=0, backend="numpy")
    return X, y, net, ("lm", "br", "newton", "scg", "rprop", "cg", "lbfgs")


def _bpnet(make, X, y, optimizer, budget):
    net = make()
    start = time.perf_counter()
    history = net.fit(X, y, optimizer=optimizer, max_iter=budget, gtol=0.0, ftol=0.0)
    total = time.perf_counter() - start
    return {"losses": history.loss, "times": history.time, "seconds": total}


def _scipy_minimize(make, X, y, method, budget):
    from scipy.optimize import minimize

    net = make()
    Xd, Y = net.prepare(X, y)
    losses, times = [], []
    start = time.perf_counter()

    def record(theta, *_):
        losses.append(net.loss(Xd, Y, theta=theta))
        times.append(time.perf_counter() - start)

    fun = lambda theta: net.loss_and_grad(Xd, Y, theta=theta)  # noqa: E731
    options = {"maxiter": budget} if method != "TNC" else {"maxfun": 20 * budget}
    if method == "trust-ncg":
        options["gtol"] = 1e-12
        minimize(fun, net.theta, jac=True, method=method, callback=record, options=options,
                 hessp=lambda theta, v: net.hessian_vector_product(Xd, Y, v, theta=theta))
    else:
        minimize(fun, net.theta, jac=True, method=method, callback=record, options=options)
    return {"losses": losses, "times": times, "seconds": time.perf_counter() - start}


def _least_squares(make, X, y, budget):
    from scipy.optimize import least_squares

    net = make()
    Xd, Y = net.prepare(X, y)
    losses, times = [], []
    start = time.perf_counter()

    def residuals(theta):
        e = _forward(net, theta, Xd) - Y
        losses.append(0.5 * float(np.sum(e * e)) / Xd.shape[0])  # the package's mse J
        times.append(time.perf_counter() - start)
        return e.reshape(-1)

    least_squares(residuals, np.array(net.theta), method="lm", max_nfev=50 * budget)
    return {"losses": np.minimum.accumulate(losses).tolist(), "times": times,
            "seconds": time.perf_counter() - start, "unit": "residual evaluations"}


def _forward(net, theta, X):
    return forward(net.spec, theta, X)[1]


def _to_target(run: dict, target: float):
    for k, (loss, when) in enumerate(zip(run["losses"], run["times"])):
        if loss <= target:
            return k + 1, when
    return None, None


def run_problem(name: str, log: Callable = print) -> dict:
    """Every trainer and peer on one problem; returns {label: {iterations, seconds, final}}."""
    X, y, make, trainers = {"digits": _digits, "sinc": _sinc}[name]()
    budget = BUDGET[name]
    runs = {f"bpnet_xp {t}": _bpnet(make, X, y, t, budget) for t in trainers}
    for method in ("TNC", "trust-ncg"):
        runs[f"scipy {method}"] = _scipy_minimize(make, X, y, method, budget)
    if name == "sinc":
        runs["scipy least_squares(lm)"] = _least_squares(make, X, y, budget)
    # The median of the final losses: a loss half of the runs reach within the budget (the
    # runs end in different local minima, so a target near the lowest one is reached by few).
    target = float(np.median([r["losses"][-1] for r in runs.values() if r["losses"]]))
    table = {}
    for label, run in runs.items():
        k, when = _to_target(run, target)
        table[label] = {"iterations": k, "seconds_to_target": when, "final_loss": run["losses"][-1],
                        "seconds_total": run["seconds"], "unit": run.get("unit", "iterations")}
    log(f"\n{name}: target loss {target:.6g} (the median final loss), budget {budget} iterations")
    log("| trainer | iterations to target | seconds to target | final loss | seconds total |")
    log("|---|---|---|---|---|")
    for label, row in table.items():
        its = "not reached" if row["iterations"] is None else str(row["iterations"])
        if row["unit"] != "iterations" and row["iterations"] is not None:
            its += " (residual evaluations)"
        sec = "-" if row["seconds_to_target"] is None else f"{row['seconds_to_target']:.3f}"
        log(f"| {label} | {its} | {sec} | {row['final_loss']:.6g} | {row['seconds_total']:.3f} |")
    return {"target": target, "rows": table}


def run_trainers(cfg, backends, pool, out: dict, log: Callable = print) -> None:
    """The workload as a section of ``python scripts/bench`` (in this process, NumPy, float64)."""
    out["trainers"] = {name: run_problem(name, log) for name in ("digits", "sinc")}


def main(argv=None) -> None:
    import argparse

    from bench.common import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    print(f"threads: {args.threads} (numpy/scipy and bpnet_xp in one process)")
    for name in ("digits", "sinc"):
        run_problem(name)


if __name__ == "__main__":
    main()
