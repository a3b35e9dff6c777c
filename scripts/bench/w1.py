"""W1: MNIST-shaped synthetic data, 784-256-128-10 relu + softmax cross-entropy, Adam,
batch 128 and 512, against hand-written NumPy, scikit-learn, PyTorch CPU and native JAX
(a jax.numpy MLP + Adam, the whole step jitted); then the wide variant 784-1024-1024-10.

Figures: s/epoch, samples/s, effective GFLOP/s (6 x samples x weights / time), the fraction
of the float32 matmul ceiling, and speed ratios (> 1: bpnet_xp faster); the numpy backend
is paired with each CPU peer but native JAX, the jax and torch backends with their native
peer (alternating order, median of the per-pair ratios).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from typing import Callable

import numpy as np

import bpnet_xp as bp

from . import peers
from .common import (Run, backend_label, ceiling_key, importable, is_gpu, n_parameters, n_weights, paired,
                     split_label, summarise, timed, torch_cuda, w1_sizes, worker_kind)

MAIN = "bpnet_xp:numpy"
#: bpnet_xp backends paired with their library's native peer (besides MAIN with every CPU peer).
NATIVE = {"bpnet_xp:jax": "jax_native", "bpnet_xp:torch:cpu": "torch:cpu"}


def make_w1_data(n_samples: int, n_features: int, n_classes: int, seed: int):
    """Synthetic MNIST-shaped classification data with class structure.

    Each class has a prototype image: a few Gaussian "strokes" on a square grid
    (or a line when ``n_features`` is not a square).  A sample is its class's
    prototype at a random intensity, blended with a random other class's
    prototype (so classes overlap and accuracy is informative, not 100 %), plus
    pixel noise, clipped to [0, 1].  Everything is float32 and drawn from a
    ``numpy.random.Generator(seed)``, in chunks so no large float64 temporary is
    made.

    Returns
    -------
    X : ndarray, shape (n_samples, n_features), float32, values in [0, 1]
    y : ndarray, shape (n_samples,), int64 labels 0..n_classes-1
    """
    rng = np.random.default_rng(seed)
    side = int(round(math.sqrt(n_features)))
    if side * side == n_features:
        r, c = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        coords = np.stack([r.reshape(-1), c.reshape(-1)], axis=1).astype(np.float64)
        scale = side
    else:
        coords = np.arange(n_features, dtype=np.float64)[:, None]
        scale = n_features
    prototypes = np.zeros((n_classes, n_features))
    for k in range(n_classes):
        for _ in range(4):
            centre = rng.uniform(0.2, 0.8, size=coords.shape[1]) * scale
            width = rng.uniform(0.06, 0.15) * scale
            prototypes[k] += np.exp(-np.sum((coords - centre) ** 2, axis=1) / (2 * width**2))
        prototypes[k] /= prototypes[k].max()
    prototypes = prototypes.astype(np.float32)
    y = rng.integers(0, n_classes, size=n_samples)
    other = (y + rng.integers(1, n_classes, size=n_samples)) % n_classes
    X = np.empty((n_samples, n_features), dtype=np.float32)
    chunk = 4096
    for lo in range(0, n_samples, chunk):
        hi = min(lo + chunk, n_samples)
        k = hi - lo
        strength = rng.uniform(0.6, 1.0, size=(k, 1)).astype(np.float32)
        blend = rng.uniform(0.0, 0.6, size=(k, 1)).astype(np.float32)
        noise = rng.standard_normal((k, n_features), dtype=np.float32)
        block = strength * prototypes[y[lo:hi]] + blend * prototypes[other[lo:hi]] + np.float32(0.3) * noise
        np.clip(block, 0.0, 1.0, out=block)
        X[lo:hi] = block
    return X, y.astype(np.int64)


_DATA: dict = {}


def w1_data(spec: tuple):
    """(X, y, X_test, y_test) for spec = (n_train, n_test, features, classes, seed), cached per process."""
    if spec not in _DATA:
        _DATA.clear()  # one data set at a time (W3's L-BFGS set is 3 GB)
        n_train, n_test, features, classes, seed = spec
        X, y = make_w1_data(n_train + n_test, features, classes, seed)
        _DATA[spec] = (X[:n_train], y[:n_train], X[n_train:], y[n_train:])
    return _DATA[spec]


def on_device(be, X, dtype: str | None = None):
    """Host data moved to a backend's device through the array API (``be.xp``, ``be.device``)."""
    kwargs = {} if dtype is None else {"dtype": getattr(be.xp, dtype)}
    return be.xp.asarray(X, device=be.device, **kwargs)


def w1_bpnet(name, device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """bpnet_xp through the public API: ``bp.MLP(...).fit(optimizer="adam")``."""
    be = bp.get_backend(name, device)
    label = backend_label(name, device)
    net = bp.MLP(sizes, activation="relu", output="softmax", backend=be, dtype="float32", seed=seed)
    if is_gpu(name, device):  # data lives on the GPU before the clock starts, as for torch CUDA
        X, y = on_device(be, X, "float32"), on_device(be, y)
    seconds, history = timed(
        lambda: net.fit(X, y, optimizer="adam", epochs=epochs, batch_size=batch, learning_rate=lr, seed=seed),
        label)
    return Run(seconds, float(history.loss[-1]), float(net.score(X_test, y_test)))


def train_w1(label, X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """One W1 training run of any implementation label."""
    if label.startswith("bpnet_xp:"):
        name, device = split_label(label)
        return w1_bpnet(name, device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    if label == "numpy_hand":
        return peers.w1_numpy_hand(X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    if label == "sklearn":
        return peers.w1_sklearn(X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    if label == "jax_native":
        return peers.w1_jax_native(X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    if label.startswith("torch:"):
        return peers.w1_torch(label.split(":")[1], X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    raise ValueError(f"unknown W1 implementation {label!r}")


def job_w1(label, spec, sizes, batch, epochs, seed, lr) -> Run:
    """The worker job: W1 data for ``spec`` (cached in the process), then one run."""
    X, y, X_test, y_test = w1_data(spec)
    return train_w1(label, X, y, X_test, y_test, sizes, batch, epochs, seed, lr)


def gemm_floor(sizes, m: int, batch: int, repeats: int) -> dict:
    """Seconds per epoch of only the matmuls of a W1 epoch in NumPy (best of ``repeats``).

    Per batch: the forward products A @ W of every layer and the backward products
    A.T @ D (every layer) and D @ W.T (every layer but the first), on random
    float32 data of the right shapes.  What is left of an implementation's epoch
    time above this floor is everything that is not a matmul.
    """
    rng = np.random.default_rng(2)
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.01 for a, b in zip(sizes[:-1], sizes[1:])]
    n_full, rest = divmod(m, batch)
    shapes = [batch] * n_full + ([rest] if rest else [])
    acts = {mb: [rng.standard_normal((mb, s), dtype=np.float32) for s in sizes] for mb in set(shapes)}
    flops = 0
    for mb in shapes:
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            flops += 2 * mb * a * b * (3 if i > 0 else 2)

    def epoch():
        for mb in shapes:
            A = acts[mb]
            for i, W in enumerate(Ws):
                A[i] @ W
            for i in range(len(Ws) - 1, -1, -1):
                A[i].T @ A[i + 1]
                if i > 0:
                    A[i + 1] @ Ws[i].T

    epoch()
    best = min(timed(epoch, "numpy")[0] for _ in range(repeats))
    return {"seconds_per_epoch": best, "gflops_actual": flops / best / 1e9,
            "effective_gflops": 6.0 * m * n_weights(sizes) / best / 1e9}


# ---------------------------------------------------------------------------------------
# The workload.


def w1_peers(log: Callable) -> list[str]:
    peers_here = ["numpy_hand"]
    for module, label in (("sklearn", "sklearn"), ("torch", "torch:cpu"), ("jax", "jax_native")):
        if importable(module):
            peers_here.append(label)
        else:
            log(f"  {module} is not installed: the {label} figures are skipped")
    if torch_cuda():
        peers_here.append("torch:cuda")
    return peers_here


def _job_factory(cfg, pool, sizes) -> Callable:
    """job(label, batch, with_ceiling) -> a callable that runs one W1 run in its worker."""
    spec = (cfg.w1_samples, cfg.w1_test_samples, cfg.w1_features, cfg.w1_classes, cfg.seed)

    def job(label: str, batch: int, with_ceiling: bool = False) -> Callable[[], Run]:
        def run() -> Run:
            result = pool.call(worker_kind(label) + "/w1", "w1:job_w1", label, spec, sizes, batch, cfg.epochs,
                               cfg.seed, cfg.learning_rate)
            if with_ceiling:
                # In a process of its own, so its large matrices do not change the heap the
                # measured implementations allocate from.
                result.extra["ceiling_gflops"] = pool.call("ceiling/ceiling", "common:matmul_ceiling", "numpy",
                                                           None, cfg.matmul_n, 3)["gflops"]
            return result

        return run

    return job


def _paired_with_peers(cfg, batch, job, mine, peers_here, log) -> tuple[dict, dict]:
    """The numpy backend paired with every CPU peer but the native JAX one, in alternating
    order; the JAX and torch backends paired with their native peer (:data:`NATIVE`).

    The matmul ceiling is measured again right after each numpy run, so the fraction of
    the ceiling is a paired figure too.
    """
    runs: dict[str, list[Run]] = {}
    ratios: dict[str, dict] = {}
    pairs = [(MAIN, peer) for peer in peers_here if MAIN in mine and "cuda" not in peer and peer != "jax_native"]
    pairs += [(label, peer) for label, peer in NATIVE.items() if label in mine and peer in peers_here]
    for label, peer in pairs:
        a, b, r = paired(job(label, batch, with_ceiling=label == MAIN), job(peer, batch), cfg.repeats)
        runs.setdefault(label, []).extend(a)
        runs.setdefault(peer, []).extend(b)
        ratios.setdefault(label, {})[peer] = {"median": statistics.median(r), "pairs": r, "paired": True}
        log(f"  {label} vs {peer}: pairs {' '.join(f'{v:.3f}' for v in r)} -> median {statistics.median(r):.3f}")
    return runs, ratios


def _add_fractions(summary: dict, runs: dict, ceilings: dict, flops_per_epoch: float, epochs: int) -> None:
    for label, s in summary.items():
        ceiling = ceilings.get(ceiling_key(label))
        if ceiling:
            s["fraction_of_matmul_ceiling"] = s["effective_gflops"] / ceiling["gflops"]
        paired_ceilings = [r.extra["ceiling_gflops"] for r in runs[label] if "ceiling_gflops" in r.extra]
        if paired_ceilings:
            fractions = [flops_per_epoch / (r.seconds / epochs) / 1e9 / r.extra["ceiling_gflops"]
                         for r in runs[label]]
            s["fraction_of_matmul_ceiling_paired"] = statistics.median(fractions)
            s["matmul_ceiling_after_each_run"] = paired_ceilings


def _batch(cfg, batch, job, pool, mine, peers_here, ceilings, sizes, log) -> dict:
    """Every implementation at one batch size: runs, summary, ratios, the GEMM floor."""
    m, weights = cfg.w1_samples, n_weights(sizes)
    runs, ratios = _paired_with_peers(cfg, batch, job, mine, peers_here, log)
    for label in peers_here + mine:
        if label not in runs:
            runs[label] = [job(label, batch)() for _ in range(cfg.repeats)]
    summary = {label: summarise(rs, m, cfg.epochs, weights) for label, rs in runs.items()}
    for label in mine:
        ratios.setdefault(label, {})
        for peer in peers_here:
            if peer not in ratios[label]:
                ratios[label][peer] = {"median": summary[label]["samples_per_s"] / summary[peer]["samples_per_s"],
                                       "paired": False}
    _add_fractions(summary, runs, ceilings, 6.0 * m * weights, cfg.epochs)
    floor = pool.call("ceiling/ceiling", "w1:gemm_floor", sizes, m, batch, max(3, cfg.repeats))
    print_table(summary, ratios, floor, log)
    return {"implementations": summary, "ratios": ratios, "gemm_floor": floor}


def run_w1(cfg, backends, pool, ceilings: dict, out: dict, log: Callable) -> None:
    sizes = w1_sizes(cfg)
    weights, m = n_weights(sizes), cfg.w1_samples
    job = _job_factory(cfg, pool, sizes)
    peers_here = w1_peers(log)
    mine = [backend_label(n, d) for n, d in backends]
    section = out["w1"] = {
        "data": {"train_samples": m, "test_samples": cfg.w1_test_samples, "features": cfg.w1_features,
                 "classes": cfg.w1_classes},
        "network": {"layer_sizes": sizes, "weights": weights, "parameters": n_parameters(sizes),
                    "effective_flops_per_epoch": 6.0 * m * weights},
        "epochs": cfg.epochs, "learning_rate": cfg.learning_rate, "batches": {},
    }
    for label in mine + peers_here:  # one untimed run each: imports, thread pools, allocator pages
        job(label, max(cfg.w1_batches))()
    for batch in cfg.w1_batches:
        log(f"\nW1  batch {batch}: {m} x {cfg.w1_features} float32, {'-'.join(map(str, sizes))} relu, "
            f"Adam lr {cfg.learning_rate:g}, {cfg.epochs} epoch(s)")
        section["batches"][str(batch)] = _batch(cfg, batch, job, pool, mine, peers_here, ceilings, sizes, log)
    section["wide"] = run_w1_wide(cfg, pool, mine, peers_here, ceilings, log)
    pool.release("w1")


def run_w1_wide(cfg, pool, mine, peers_here, ceilings: dict, log: Callable) -> dict:
    """W1 with hidden widths ``cfg.w1_wide_hidden`` (784-1024-1024-10: 1.86 M parameters,
    where the optimizer's passes over theta weigh as much as the matmuls at small batches);
    fewer epochs and repeats than W1 (an epoch is 8x the work); scikit-learn left out."""
    wide = replace(cfg, w1_hidden=cfg.w1_wide_hidden, epochs=cfg.w1_wide_epochs, repeats=cfg.w1_wide_repeats)
    sizes, m = w1_sizes(wide), wide.w1_samples
    job, wide_peers = _job_factory(wide, pool, sizes), [p for p in peers_here if p != "sklearn"]
    section = {"network": {"layer_sizes": sizes, "weights": n_weights(sizes), "parameters": n_parameters(sizes),
                           "effective_flops_per_epoch": 6.0 * m * n_weights(sizes)},
               "epochs": wide.epochs, "repeats": wide.repeats, "batches": {}}
    for label in mine + wide_peers:  # untimed: compiles the new shapes (JAX), grows the heaps
        job(label, max(wide.w1_wide_batches))()
    for batch in wide.w1_wide_batches:
        log(f"\nW1 wide  batch {batch}: {'-'.join(map(str, sizes))} relu ({n_parameters(sizes)} parameters), "
            f"Adam lr {wide.learning_rate:g}, {wide.epochs} epoch(s), {wide.repeats} pair(s)")
        section["batches"][str(batch)] = _batch(wide, batch, job, pool, mine, wide_peers, ceilings, sizes, log)
    return section


def print_table(summary: dict, ratios: dict, floor: dict, log: Callable) -> None:
    log(f"  {'implementation':<26}{'s/epoch':>10}{'samples/s':>12}{'GFLOP/s':>9}{'% ceil':>8}"
        f"{'loss':>9}{'test acc':>9}")
    for label, s in summary.items():
        frac = s.get("fraction_of_matmul_ceiling_paired", s.get("fraction_of_matmul_ceiling"))
        log(f"  {label:<26}{s['seconds_per_epoch']:>10.4f}{s['samples_per_s']:>12.0f}"
            f"{s['effective_gflops']:>9.1f}{(f'{100 * frac:.0f}%' if frac else '-'):>8}"
            f"{s['final_loss']:>9.4f}{s['test_accuracy']:>9.3f}")
    log(f"  {'(matmuls only, numpy)':<26}{floor['seconds_per_epoch']:>10.4f}{'':>12}"
        f"{floor['effective_gflops']:>9.1f}")
    for label, peer_ratios in ratios.items():
        text = ", ".join(f"{peer} {v['median']:.2f}x{'' if v['paired'] else ' (unpaired)'}"
                         for peer, v in peer_ratios.items())
        log(f"  {label} speed ratio vs {text}")
