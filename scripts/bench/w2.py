"""W2: digits (1797 x 64, pixels / 16), 64-25-10 sigmoid, cross-entropy, l2 = 1, full-batch
CG (and L-BFGS), float64, against NumPy + scipy.optimize and scikit-learn.

A backend without float64 (JAX without x64, in --in-process mode) is skipped with the
reason; in worker mode JAX's float64 runs get a worker that enables x64 first.
"""

from __future__ import annotations

import statistics
from typing import Callable

import numpy as np

import bpnet_xp as bp
from bpnet_xp.datasets import load_digits

from . import peers
from .common import Run, backend_label, importable, is_gpu, n_parameters, paired, split_label, timed, worker_kind
from .workers import fresh

HIDDEN, CLASSES = 25, 10
SCIPY_CG, SCIPY_LBFGS, SKLEARN = "numpy+scipy CG", "numpy+scipy L-BFGS-B", "sklearn lbfgs (softmax output)"


def load_w2_data(samples: int | None = None):
    """Digits, pixels / 16, float64; the first ``samples`` rows (all when None)."""
    X, y = load_digits()
    X = np.ascontiguousarray(X, dtype=np.float64) / 16.0
    if samples is not None:
        X, y = X[:samples], y[:samples]
    return np.ascontiguousarray(X), np.asarray(y, dtype=np.int64)


def w2_net(name, device, sizes, seed):
    be = bp.get_backend(name, device)
    return bp.MLP(sizes, activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=1.0, backend=be,
                  dtype="float64", seed=seed)


def w2_bpnet(name, device, X, y, sizes, iterations, seed, method="cg") -> Run:
    net = w2_net(name, device, sizes, seed)
    seconds, history = timed(lambda: net.fit(X, y, optimizer=method, max_iter=iterations),
                             backend_label(name, device))
    # Evaluations (calls of loss_and_grad, the line search's included) beside scipy's nfev:
    # with equal counts, the time ratio is the ratio of the cost of one evaluation.
    return Run(seconds, float(history.loss[-1]), float(net.score(X, y)),
               {"iterations": int(history.n_iter), "stop_reason": history.stop_reason,
                "evaluations": int(history.n_evaluations)})


_DATA: dict = {}


def job_w2(label, samples, iterations, seed) -> Run:
    """The worker job: one W2 run of an implementation label (data cached in the process)."""
    if samples not in _DATA:
        _DATA.clear()
        _DATA[samples] = load_w2_data(samples)
    X, y = _DATA[samples]
    sizes = [X.shape[1], HIDDEN, CLASSES]
    if label.startswith("bpnet_xp:"):
        backend, method = label.split(" ")
        name, device = split_label(backend)
        return w2_bpnet(name, device, X, y, sizes, iterations, seed, method)
    if label.startswith("numpy+scipy"):
        return peers.w2_scipy(X, y, sizes, iterations, seed, label.split(" ", 1)[1])
    if label.startswith("sklearn"):
        return peers.w2_sklearn(X, y, sizes, iterations, seed)
    raise ValueError(f"unknown W2 implementation {label!r}")


def job_float64_unavailable(label) -> str | None:
    """Why bpnet_xp cannot build the W2 network in float64 on a label's backend here (None: it can)."""
    name, device = split_label(label.split(" ")[0])
    try:
        w2_net(name, device, [64, HIDDEN, CLASSES], 0)
    except bp.BackendUnavailableError as exc:
        return str(exc)
    return None


def kind(label: str) -> str:
    return worker_kind(label, float64=True) + "/w2"


def describe(runs: list[Run], iterations: int) -> dict:
    seconds = statistics.median(r.seconds for r in runs)
    iters = statistics.median(r.extra.get("iterations", iterations) for r in runs)
    d = {"runs": len(runs), "seconds": seconds, "seconds_all": [r.seconds for r in runs],
         "iterations": iters, "seconds_per_iteration": seconds / max(iters, 1),
         "final_loss": statistics.median(r.loss for r in runs),
         "train_accuracy": statistics.median(r.accuracy for r in runs)}
    if "evaluations" in runs[0].extra:
        d["evaluations"] = statistics.median(r.extra["evaluations"] for r in runs)
    return d


def _labels(cfg, backends, pool, skipped: dict, log: Callable) -> list[str]:
    """The W2 implementation labels that can run here; the others go to ``skipped`` with the reason."""
    def skip(label, reason):
        skipped[label] = reason
        log(f"  {label}: skipped ({reason})")

    cpu = [(n, d) for n, d in backends if not is_gpu(n, d)]
    labels = []
    for name, device in cpu:
        label = backend_label(name, device) + " cg"
        reason = pool.call(kind(label), "w2:job_float64_unavailable", label)
        if reason and cfg.in_process and name == "jax":
            reason += " (--in-process: the benchmark enables x64 only in a JAX worker process of its own)"
        if reason:
            skip(label, reason)
        else:
            labels.append(label)
    scipy = importable("scipy")
    if scipy:
        labels.append(SCIPY_CG)
    else:
        skip("numpy+scipy", "scipy is not installed")
    if "bpnet_xp:numpy cg" in labels:
        labels += ["bpnet_xp:numpy lbfgs"] + ([SCIPY_LBFGS] if scipy else [])
    if importable("sklearn"):
        labels.append(SKLEARN)
    else:
        skip(SKLEARN, "scikit-learn is not installed")
    return labels


def _time_ratio(r: list[float]) -> dict:
    time_ratios = [1.0 / v for v in r]
    return {"median": statistics.median(time_ratios), "pairs": time_ratios, "paired": True}


def _fresh_pair(cfg, pool, section: dict) -> None:
    """bpnet_xp numpy CG vs NumPy + scipy CG, each run in a fresh process.

    Each process imports only what its program needs and trains once (after a
    2-iteration warm-up), as a user's script does.  The long-lived workers can flatter
    either side: how fast NumPy's temporaries are allocated depends on the process's
    heap history.
    """
    it, seed, samples = cfg.w2_iterations, cfg.seed, cfg.w2_samples
    a, b, r = paired(fresh("w2:job_w2", ["bpnet_xp:numpy cg", samples, it, seed], [samples, 2, seed], pool),
                     fresh("w2:job_w2", [SCIPY_CG, samples, it, seed], [samples, 2, seed], pool),
                     cfg.repeats)
    section["implementations"]["bpnet_xp:numpy cg (fresh process)"] = describe(a, it)
    section["implementations"]["numpy+scipy CG (fresh process)"] = describe(b, it)
    section["ratios"]["bpnet_xp:numpy cg / numpy+scipy CG (time, fresh process per run)"] = _time_ratio(r)


def _measure(cfg, pool, labels, section: dict) -> None:
    it, seed, samples = cfg.w2_iterations, cfg.seed, cfg.w2_samples
    impl, ratios = section["implementations"], section["ratios"]

    def job(label: str, iterations: int = it) -> Callable[[], Run]:
        return lambda: pool.call(kind(label), "w2:job_w2", label, samples, iterations, seed)

    for label in labels:  # warm-up
        job(label, 2)()
    # bpnet_xp numpy paired with NumPy + scipy (time ratio bpnet / scipy; target <= 1.1 for CG)
    for mine, peer in (("bpnet_xp:numpy cg", SCIPY_CG), ("bpnet_xp:numpy lbfgs", SCIPY_LBFGS)):
        if mine in labels and peer in labels:
            a, b, r = paired(job(mine), job(peer), cfg.repeats)
            impl[mine], impl[peer] = describe(a, it), describe(b, it)
            ratios[f"{mine} / {peer} (time)"] = _time_ratio(r)
    for label in labels:
        if label not in impl:
            impl[label] = describe([job(label)() for _ in range(cfg.repeats)], it)
    for label in labels:
        if label.endswith(" cg") and label != "bpnet_xp:numpy cg" and SCIPY_CG in impl:
            ratios[f"{label} / {SCIPY_CG} (time)"] = {
                "median": impl[label]["seconds"] / impl[SCIPY_CG]["seconds"], "paired": False}
    if "bpnet_xp:numpy cg" in labels and SCIPY_CG in labels:
        _fresh_pair(cfg, pool, section)
    if "bpnet_xp:numpy lbfgs" in impl and SKLEARN in impl:
        ratios[f"bpnet_xp:numpy lbfgs / {SKLEARN.split(' (')[0]} (time per iteration)"] = {
            "median": impl["bpnet_xp:numpy lbfgs"]["seconds_per_iteration"] / impl[SKLEARN]["seconds_per_iteration"],
            "paired": False}


def run_w2(cfg, backends, pool, out: dict, log: Callable) -> None:
    X, y = load_w2_data(cfg.w2_samples)
    sizes = [X.shape[1], HIDDEN, CLASSES]
    log(f"\nW2  digits {X.shape[0]} x {X.shape[1]} float64, {'-'.join(map(str, sizes))} sigmoid, "
        f"cross-entropy, l2=1, full batch, {cfg.w2_iterations} iterations")
    section = out["w2"] = {"data": {"samples": int(X.shape[0]), "features": int(X.shape[1])},
                           "network": {"layer_sizes": sizes, "parameters": n_parameters(sizes)},
                           "iterations": cfg.w2_iterations, "implementations": {}, "ratios": {}, "skipped": {}}
    labels = _labels(cfg, backends, pool, section["skipped"], log)
    _measure(cfg, pool, labels, section)
    log(f"  {'implementation':<34}{'seconds':>9}{'iters':>7}{'evals':>7}{'ms/iter':>9}{'loss':>10}{'train acc':>10}")
    for label, s in section["implementations"].items():
        evals = f"{s['evaluations']:.0f}" if "evaluations" in s else "-"
        log(f"  {label:<34}{s['seconds']:>9.4f}{s['iterations']:>7.0f}{evals:>7}"
            f"{1e3 * s['seconds_per_iteration']:>9.3f}{s['final_loss']:>10.5f}{s['train_accuracy']:>10.3f}")
    for label, v in section["ratios"].items():
        pairs = " (pairs " + " ".join(f"{p:.3f}" for p in v["pairs"]) + ")" if v.get("pairs") else ""
        log(f"  {label}: {v['median']:.3f}{pairs}")
    pool.release("w2")
