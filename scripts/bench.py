#!/usr/bin/env python
"""Benchmark bpnet_xp against the programs a user would otherwise pick, in one run.

Every figure this script prints or writes is measured while it runs; nothing is
copied in from elsewhere.  The only constants are the workload definitions and the
targets of issue 5, which are printed as targets beside the measured values.

Workloads
---------
W1  synthetic MNIST-shaped data (10000 x 784 float32, 10 classes, generated from a
    seed with class structure), 784-256-128-10 relu + softmax cross-entropy, Adam
    lr 1e-3, batch 128 and 512, 3 epochs.  Implementations:
      * bpnet_xp on each backend, through the public API (``MLP(...).fit``);
      * ``numpy_hand``: forward/backward/Adam written directly in vectorised NumPy
        in this file (the floor of abstraction cost; same initial weights and the
        same batch order as bpnet_xp);
      * ``sklearn``: MLPClassifier(solver="adam"), same architecture, batch size and
        learning rate (its own initialisation and shuffling);
      * ``torch:cpu`` (and ``torch:cuda`` when present): eager nn.Sequential +
        torch.optim.Adam, float32, same initial weights and batch order.
    The numpy backend is compared with each peer as the median of ``--repeats``
    back-to-back pairs in alternating order (bpnet_xp first, then the peer first,
    ...), because this machine's speed drifts by tens of percent for seconds at a
    time; other backends are compared through the medians of their runs.
W2  digits (1797 x 64, pixels / 16), 64-25-10 sigmoid, cross-entropy, l2 = 1,
    full-batch nonlinear CG for 50 iterations, float64.  Peers: NumPy +
    scipy.optimize.minimize(method="CG", jac=True) with the same cost, initial
    weights and gtol (paired like W1), NumPy + scipy L-BFGS-B against bpnet_xp's
    "lbfgs", and scikit-learn's MLPClassifier(solver="lbfgs") (softmax output: the
    closest scikit-learn offers; reported separately).
W3  (CUDA only, skipped with the reason otherwise) W1 at batch 128, 1024 and 8192
    on cupy and torch CUDA, and full-batch L-BFGS on 1,000,000 x 784.
MEM peak memory of a W1 training run, measured in a fresh subprocess per
    implementation (peak RSS growth from resource.getrusage, and tracemalloc's peak
    for NumPy allocations), against data + parameters + optimizer state + one batch
    of activations.

Figures: seconds per epoch, samples/s, effective GFLOP/s = 6 x samples x weights
per epoch / time (forward 2 flops per weight and sample, backward 4), the
fraction of the machine's measured float32 matmul ceiling (best of several large
square matmuls on the same backend), and every bpnet_xp ratio against every peer
(> 1 means bpnet_xp is faster).

Each family of implementations runs in its own worker process (bpnet_xp's numpy
backends in one that imports only numpy and bpnet_xp), fresh for each workload,
with a short settle time between runs in different processes; see "Worker
processes" below for why.  ``--in-process`` runs everything in this process.

Usage
-----
    python scripts/bench.py                       # everything, saved under benchmarks/results/
    python scripts/bench.py --workloads w1 --backends numpy --repeats 5
    python scripts/bench.py --quick --json /tmp/bench.json   # a tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpnet_xp as bp  # noqa: E402
from bpnet_xp.initializers import initial_parameters  # noqa: E402

WORKLOADS = ("w1", "w2", "w3", "mem")
DEFAULT_RESULTS = ROOT / "benchmarks" / "results"

# The targets of issue 5 ("Must show"), printed beside the measured values.
TARGETS = {
    "w1_vs_numpy_hand_b128": 0.95,
    "w1_vs_numpy_hand_b512": 0.90,
    "w1_vs_sklearn": 1.5,
    "w1_vs_torch_cpu": 1.2,
    "w1_b512_fraction_of_ceiling": 0.80,
    "w2_time_vs_scipy_cg": 1.1,
    "memory_ratio": 1.5,
    "w3_vs_torch_cuda": 1.0,
}


# ---------------------------------------------------------------------------------------
# Configuration.


@dataclass
class Config:
    workloads: tuple = WORKLOADS
    backends: tuple | None = None  # None: every available one
    repeats: int = 5
    epochs: int = 3
    seed: int = 0
    quick: bool = False
    # W1
    w1_samples: int = 10000
    w1_test_samples: int = 2000
    w1_features: int = 784
    w1_hidden: tuple = (256, 128)
    w1_classes: int = 10
    w1_batches: tuple = (128, 512)
    learning_rate: float = 1e-3
    # W2
    w2_iterations: int = 50
    w2_samples: int | None = None  # None: all 1797 digits
    # W3
    w3_batches: tuple = (128, 1024, 8192)
    w3_samples: int = 100000
    w3_lbfgs_samples: int = 1_000_000
    w3_lbfgs_iterations: int = 20
    w3_force_cpu: bool = False  # run the W3 code on CPU at tiny sizes (tests only)
    in_process: bool = False  # run every implementation in this process (no worker processes)
    settle: float = 0.5  # seconds of quiet before a run in another worker process
    # matmul ceiling
    matmul_n: int = 2048
    matmul_repeats: int = 7

    @classmethod
    def quick_config(cls, **overrides) -> "Config":
        base = cls(
            repeats=1, epochs=1, quick=True, settle=0.0,
            w1_samples=512, w1_test_samples=128, w1_features=64, w1_hidden=(32, 16), w1_classes=10,
            w1_batches=(64, 128), w2_iterations=5, w2_samples=400,
            w3_batches=(64, 256), w3_samples=1024, w3_lbfgs_samples=2048, w3_lbfgs_iterations=3,
            matmul_n=256, matmul_repeats=3,
        )
        return replace(base, **overrides)


@dataclass
class Run:
    """One timed training run."""

    seconds: float
    loss: float
    accuracy: float
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Machine description and synchronisation.


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__, "bpnet_xp": getattr(bp, "__version__", "?")}
    for name in ("scipy", "sklearn", "torch", "cupy", "array_api_strict", "array_api_compat"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except Exception:
            pass
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                       for i in threadpool_info()]
    except Exception:
        pass
    return out


def _preload() -> None:
    """Import what the peers import lazily on first use (torch.optim pulls in dynamo)."""
    try:
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    except Exception:
        pass
    try:
        import scipy.optimize  # noqa: F401
        import sklearn.neural_network  # noqa: F401
    except Exception:
        pass


def machine_info() -> dict:
    info = {
        "node": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": _versions(),
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return info


def code_version() -> str:
    """The git commit of the measured code, "+local changes" when bpnet_xp/ differs from it."""
    try:
        def git(*args):
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                                  text=True, timeout=10).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        if not commit:
            return "unknown (not a git checkout)"
        dirty = git("status", "--porcelain", "--", "bpnet_xp")
        return commit + (" + local changes in bpnet_xp/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_slug(info: dict) -> str:
    if "gpu" in info:
        word = info["gpu"]
    else:
        word = f"{info['cpu_count']}core-" + info["cpu"]
    keep = "".join(c if c.isalnum() else "-" for c in word).strip("-").lower()
    while "--" in keep:
        keep = keep.replace("--", "-")
    return keep[:48]


def _sync(label: str) -> None:
    """Wait for queued device work of an implementation label (no-op on CPU)."""
    if "cuda" in label:
        import torch

        torch.cuda.synchronize()
    elif "cupy" in label:
        import cupy

        cupy.cuda.Device().synchronize()


def _timed(fn: Callable, label: str) -> tuple[float, Any]:
    gc.collect()
    _sync(label)
    start = time.perf_counter()
    value = fn()
    _sync(label)
    return time.perf_counter() - start, value


# ---------------------------------------------------------------------------------------
# Backends.


def parse_backends(text: str | None) -> list[tuple[str, Any]]:
    """``"numpy,torch,torch:cuda"`` -> [(name, device)]; None -> every usable backend here."""
    if text:
        out = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, device = item.partition(":")
            out.append((name, device or None))
        return out
    out = [(name, None) for name in bp.available_backends() if name != "dask"]
    try:
        import torch

        if torch.cuda.is_available():
            out.append(("torch", "cuda"))
    except Exception:
        pass
    return out


def backend_label(name: str, device: Any) -> str:
    if name == "torch":
        return f"bpnet_xp:torch:{'cpu' if device is None else str(device).split(':')[0]}"
    return f"bpnet_xp:{name}"


def is_gpu(name: str, device: Any) -> bool:
    return name == "cupy" or (device is not None and "cuda" in str(device))


# ---------------------------------------------------------------------------------------
# Data.


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


def w1_sizes(cfg: Config) -> list[int]:
    return [cfg.w1_features, *cfg.w1_hidden, cfg.w1_classes]


def n_weights(sizes) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def n_parameters(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------------------------------
# W1 implementations.  Each returns a Run; accuracy and loss are computed after timing.


def w1_bpnet(name, device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    be = bp.get_backend(name, device)
    label = backend_label(name, device)
    net = bp.MLP(sizes, activation="relu", output="softmax", backend=be, dtype="float32", seed=seed)
    if is_gpu(name, device):  # data lives on the GPU before the clock starts, as for torch CUDA
        X, y = be.asarray(X, "float32"), be.asarray(y)
    seconds, history = _timed(
        lambda: net.fit(X, y, optimizer="adam", epochs=epochs, batch_size=batch, learning_rate=lr, seed=seed),
        label)
    return Run(seconds, float(history.loss[-1]), float(net.score(X_test, y_test)))


def _hand_forward(params, X):
    A = X
    for W, b in params[:-1]:
        A = np.maximum(A @ W + b, 0)
    W, b = params[-1]
    return A @ W + b


def w1_numpy_hand(X, y, X_test, y_test, sizes, batch, epochs, seed, lr,
                  beta1=0.9, beta2=0.999, epsilon=1e-8) -> Run:
    """Mini-batch Adam for a relu MLP + softmax cross-entropy, written directly in NumPy.

    The same initial weights as ``bp.MLP(sizes, activation="relu", seed=seed)`` and
    the same batch order as ``fit(..., seed=seed)`` (one permutation per epoch from
    ``numpy.random.default_rng(seed)``).  Written the way a careful NumPy user
    would: per-layer arrays, ``@`` for the matmuls, Adam moments updated in place.
    """
    theta0 = initial_parameters(sizes, "auto", "relu", seed).astype(np.float32)

    def run():
        params, start = [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            W = theta0[start:start + n_in * n_out].reshape(n_in, n_out).copy()
            start += n_in * n_out
            b = theta0[start:start + n_out].copy()
            start += n_out
            params.append((W, b))
        moments = [(np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        m, K = X.shape[0], sizes[-1]
        Y = np.zeros((m, K), dtype=np.float32)
        Y[np.arange(m), y] = 1
        rng = np.random.default_rng(seed)
        t = 0
        epoch_loss = 0.0
        for _ in range(epochs):
            order = rng.permutation(m)
            total = np.float32(0)
            for lo in range(0, m, batch):
                idx = order[lo:lo + batch]
                Xb, Yb = X[idx], Y[idx]
                mb = Xb.shape[0]
                # forward, keeping each layer's input
                inputs, A = [], Xb
                for W, b in params[:-1]:
                    inputs.append(A)
                    A = np.maximum(A @ W + b, 0)
                inputs.append(A)
                W, b = params[-1]
                Z = A @ W + b
                Z = Z - Z.max(axis=1, keepdims=True)
                E = np.exp(Z)
                S = E.sum(axis=1, keepdims=True)
                total += -np.sum(Yb * (Z - np.log(S)))
                D = (E / S - Yb) / mb
                # backward
                grads = [None] * len(params)
                for layer in range(len(params) - 1, -1, -1):
                    A_in = inputs[layer]
                    grads[layer] = (A_in.T @ D, D.sum(axis=0))
                    if layer > 0:
                        D = (D @ params[layer][0].T) * (A_in > 0)
                # Adam (Kingma & Ba, Algorithm 1), in place
                t += 1
                c1, c2 = 1 - beta1**t, 1 - beta2**t
                for (W, b), (gW, gb), moment in zip(params, grads, moments):
                    for p, g, mu, nu in ((W, gW, moment[0], moment[2]), (b, gb, moment[1], moment[3])):
                        mu *= beta1
                        mu += (1 - beta1) * g
                        nu *= beta2
                        nu += (1 - beta2) * (g * g)
                        p -= lr * (mu / c1) / (np.sqrt(nu / c2) + epsilon)
            epoch_loss = float(total) / m  # one host read per epoch, as bpnet_xp does
        return params, epoch_loss

    seconds, (params, loss) = _timed(run, "numpy")
    accuracy = float(np.mean(np.argmax(_hand_forward(params, X_test), axis=1) == y_test))
    return Run(seconds, loss, accuracy)


def w1_sklearn(X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="adam", alpha=0.0,
                        batch_size=batch, learning_rate_init=lr, max_iter=epochs, tol=0.0,
                        n_iter_no_change=10**9, early_stopping=False, shuffle=True, random_state=seed,
                        beta_1=0.9, beta_2=0.999, epsilon=1e-8)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    seconds, _ = _timed(run, "sklearn")
    return Run(seconds, float(clf.loss_), float(clf.score(X_test, y_test)))


def _torch_model(sizes, seed, device, dtype_name="float32"):
    import torch
    from torch import nn

    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    theta0 = initial_parameters(sizes, "auto", "relu", seed).astype(dtype_name)
    linear = [layer for layer in model if isinstance(layer, nn.Linear)]
    start = 0
    with torch.no_grad():
        for lin, (n_in, n_out) in zip(linear, zip(sizes[:-1], sizes[1:])):
            W = theta0[start:start + n_in * n_out].reshape(n_in, n_out)
            start += n_in * n_out
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # torch stores (out, in)
            lin.bias.copy_(torch.from_numpy(theta0[start:start + n_out].copy()))
            start += n_out
    return model.to(device=device, dtype=getattr(torch, dtype_name))


def w1_torch(device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """Eager PyTorch: nn.Sequential + torch.optim.Adam, float32, the same init and batch order."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    label = f"torch:{dev.type}"
    model = _torch_model(sizes, seed, dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if dev.type == "cuda":  # data on the device before the clock starts (as for bpnet_xp on GPU)
        X_dev, y_dev = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    else:
        X_dev, y_dev = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        rng = np.random.default_rng(seed)
        m = X_dev.shape[0]
        loss_value = 0.0
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(m)).to(dev)
            total = torch.zeros((), device=dev)
            for lo in range(0, m, batch):
                idx = order[lo:lo + batch]
                xb, yb = X_dev[idx], y_dev[idx]
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * xb.shape[0]
            loss_value = float(total) / m
        return loss_value

    seconds, loss = _timed(run, label)
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test).to(dev)).argmax(dim=1).cpu().numpy()
    return Run(seconds, loss, float(np.mean(pred == y_test)))


# ---------------------------------------------------------------------------------------
# Matmul ceiling and the GEMM-only floor of a W1 epoch.


_MATMUL_INPUTS: dict = {}


def matmul_ceiling(kind: str, device: Any, n: int, repeats: int) -> dict:
    """GFLOP/s of an n x n float32 matmul on a backend: the best of ``repeats``.

    ``kind`` is "numpy", "torch" (device "cpu"/"cuda") or "cupy"; the numpy figure is
    the ceiling for bpnet_xp's numpy/array_api_strict backends, the hand-written loop
    and scikit-learn (all run on NumPy's BLAS).
    """
    if n not in _MATMUL_INPUTS:
        rng = np.random.default_rng(1)
        _MATMUL_INPUTS[n] = (rng.standard_normal((n, n), dtype=np.float32),
                             rng.standard_normal((n, n), dtype=np.float32))
    a, b = _MATMUL_INPUTS[n]
    label = kind if device is None else f"{kind}:{device}"
    if kind == "numpy":
        def mm():
            return a @ b
    elif kind == "torch":
        import torch

        ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

        def mm():
            return ta @ tb
    elif kind == "cupy":
        import cupy

        ca, cb = cupy.asarray(a), cupy.asarray(b)

        def mm():
            return ca @ cb
    else:
        raise ValueError(f"no matmul ceiling for {kind!r}")
    mm()  # warm-up: thread pools, kernels, caches
    times = []
    for _ in range(repeats):
        seconds, _ = _timed(mm, label)
        times.append(seconds)
    best = min(times)
    return {"n": n, "best_seconds": best, "median_seconds": statistics.median(times),
            "gflops": 2.0 * n**3 / best / 1e9, "repeats": repeats}


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
    best = min(_timed(epoch, "numpy")[0] for _ in range(repeats))
    return {"seconds_per_epoch": best, "gflops_actual": flops / best / 1e9,
            "effective_gflops": 6.0 * m * n_weights(sizes) / best / 1e9}


# ---------------------------------------------------------------------------------------
# Statistics of runs.


def summarise(runs: list[Run], samples_per_epoch: int, epochs: int, weights: int) -> dict:
    seconds = [r.seconds for r in runs]
    med = statistics.median(seconds)
    per_epoch = med / epochs
    return {
        "runs": len(runs),
        "seconds_per_epoch": per_epoch,
        "seconds_per_epoch_all": [s / epochs for s in seconds],
        "samples_per_s": samples_per_epoch / per_epoch,
        "effective_gflops": 6.0 * samples_per_epoch * weights / per_epoch / 1e9,
        "final_loss": statistics.median(r.loss for r in runs),
        "test_accuracy": statistics.median(r.accuracy for r in runs),
    }


def paired(run_a: Callable[[], Run], run_b: Callable[[], Run], repeats: int):
    """``repeats`` back-to-back pairs in alternating order (a first, then b first, ...).

    Returns the runs of a and b and the per-pair speed ratios time_b / time_a
    (> 1: a is faster).
    """
    runs_a, runs_b, ratios = [], [], []
    for i in range(repeats):
        if i % 2 == 0:
            a = run_a()
            b = run_b()
        else:
            b = run_b()
            a = run_a()
        runs_a.append(a)
        runs_b.append(b)
        ratios.append(b.seconds / a.seconds)
    return runs_a, runs_b, ratios


# ---------------------------------------------------------------------------------------
# W1.


def run_w1(cfg: Config, backends, pool: "Workers", ceilings: dict, out: dict, log: Callable) -> None:
    sizes = w1_sizes(cfg)
    weights = n_weights(sizes)
    m = cfg.w1_samples
    E, lr, seed = cfg.epochs, cfg.learning_rate, cfg.seed
    spec = (m, cfg.w1_test_samples, cfg.w1_features, cfg.w1_classes, seed)

    def job(label: str, batch: int, with_ceiling: bool = False) -> Callable[[], Run]:
        def run() -> Run:
            result = pool.call(worker_kind(label) + "/w1", "job_w1", label, spec, sizes, batch, E, seed, lr)
            if with_ceiling:
                # In a process of its own, so its large matrices do not change the heap the
                # measured implementations allocate from.
                result.extra["ceiling_gflops"] = pool.call("ceiling/ceiling", "job_ceiling", "numpy", None,
                                                           cfg.matmul_n, 3)["gflops"]
            return result

        return run

    peers = ["numpy_hand"]
    for module, label in (("sklearn", "sklearn"), ("torch", "torch:cpu")):
        if _importable(module):
            peers.append(label)
        else:
            log(f"  {module} is not installed: the {label} figures are skipped")
    if _torch_cuda():
        peers.append("torch:cuda")
    mine = [backend_label(n, d) for n, d in backends]
    section = out["w1"] = {
        "data": {"train_samples": m, "test_samples": cfg.w1_test_samples, "features": cfg.w1_features,
                 "classes": cfg.w1_classes},
        "network": {"layer_sizes": sizes, "weights": weights, "parameters": n_parameters(sizes),
                    "effective_flops_per_epoch": 6.0 * m * weights},
        "epochs": E, "learning_rate": lr, "batches": {},
    }
    for label in mine + peers:  # one untimed run each: imports, thread pools, allocator pages
        job(label, max(cfg.w1_batches))()
    main = "bpnet_xp:numpy"
    for batch in cfg.w1_batches:
        log(f"\nW1  batch {batch}: {m} x {cfg.w1_features} float32, {'-'.join(map(str, sizes))} relu, "
            f"Adam lr {lr:g}, {E} epoch(s)")
        runs: dict[str, list[Run]] = {}
        ratios: dict[str, dict] = {}
        if main in mine:
            # The numpy backend is paired with every CPU peer, in alternating order; the matmul
            # ceiling is measured again right after each of its runs, so the fraction of the
            # ceiling is a paired figure too.
            ratios[main] = {}
            for peer in peers:
                if "cuda" in peer:
                    continue
                a, b, r = paired(job(main, batch, with_ceiling=True), job(peer, batch), cfg.repeats)
                runs.setdefault(main, []).extend(a)
                runs.setdefault(peer, []).extend(b)
                ratios[main][peer] = {"median": statistics.median(r), "pairs": r, "paired": True}
                log(f"  {main} vs {peer}: pairs {' '.join(f'{v:.3f}' for v in r)} -> median {statistics.median(r):.3f}")
        for label in peers + mine:
            if label not in runs:
                runs[label] = [job(label, batch)() for _ in range(cfg.repeats)]
        summary = {label: summarise(rs, m, E, weights) for label, rs in runs.items()}
        for label in mine:
            ratios.setdefault(label, {})
            for peer in peers:
                if peer not in ratios[label]:
                    ratios[label][peer] = {"median": summary[label]["samples_per_s"] / summary[peer]["samples_per_s"],
                                           "paired": False}
        for label, s in summary.items():
            ceiling = ceilings.get(_ceiling_key(label))
            if ceiling:
                s["fraction_of_matmul_ceiling"] = s["effective_gflops"] / ceiling["gflops"]
            paired_ceilings = [r.extra["ceiling_gflops"] for r in runs[label] if "ceiling_gflops" in r.extra]
            if paired_ceilings:
                fractions = [6.0 * m * weights / (r.seconds / E) / 1e9 / r.extra["ceiling_gflops"]
                             for r in runs[label]]
                s["fraction_of_matmul_ceiling_paired"] = statistics.median(fractions)
                s["matmul_ceiling_after_each_run"] = paired_ceilings
        floor = pool.call("ceiling/ceiling", "job_gemm_floor", sizes, m, batch, max(3, cfg.repeats))
        section["batches"][str(batch)] = {"implementations": summary, "ratios": ratios, "gemm_floor": floor}
        _print_table(summary, ratios, floor, log)
    pool.release("w1")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _ceiling_key(label: str) -> str:
    if label in ("bpnet_xp:numpy", "bpnet_xp:array_api_strict", "numpy_hand", "sklearn"):
        return "numpy"
    if label.endswith("torch:cpu"):
        return "torch:cpu"
    if label.endswith("torch:cuda"):
        return "torch:cuda"
    if label.endswith("cupy"):
        return "cupy"
    return ""


def _print_table(summary: dict, ratios: dict, floor: dict, log: Callable) -> None:
    log(f"  {'implementation':<26}{'s/epoch':>10}{'samples/s':>12}{'GFLOP/s':>9}{'% ceil':>8}"
        f"{'loss':>9}{'test acc':>9}")
    for label, s in summary.items():
        frac = s.get("fraction_of_matmul_ceiling_paired", s.get("fraction_of_matmul_ceiling"))
        log(f"  {label:<26}{s['seconds_per_epoch']:>10.4f}{s['samples_per_s']:>12.0f}"
            f"{s['effective_gflops']:>9.1f}{(f'{100 * frac:.0f}%' if frac else '-'):>8}"
            f"{s['final_loss']:>9.4f}{s['test_accuracy']:>9.3f}")
    log(f"  {'(matmuls only, numpy)':<26}{floor['seconds_per_epoch']:>10.4f}{'':>12}"
        f"{floor['effective_gflops']:>9.1f}")
    for label, peers in ratios.items():
        text = ", ".join(f"{peer} {v['median']:.2f}x{'' if v['paired'] else ' (unpaired)'}"
                         for peer, v in peers.items())
        log(f"  {label} speed ratio vs {text}")


# ---------------------------------------------------------------------------------------
# W2: digits, full-batch CG.


def load_w2_data(cfg: Config):
    from bpnet_xp.datasets import load_digits

    X, y = load_digits()
    X = np.ascontiguousarray(X, dtype=np.float64) / 16.0
    if cfg.w2_samples is not None:
        X, y = X[: cfg.w2_samples], y[: cfg.w2_samples]
    return np.ascontiguousarray(X), np.asarray(y, dtype=np.int64)


def numpy_cost(sizes, X, Y, l2):
    """J(theta) and its gradient for a sigmoid MLP with the classic cross-entropy, in NumPy.

    J = (1/m) sum_i sum_k [softplus(z_ik) - y_ik z_ik] + (l2 / 2m) sum W**2 (biases
    not penalised); the same layout of theta as bpnet_xp ([W1 row-major, b1, ...]).
    Sigmoid by scipy.special.expit; the cost by the stable softplus form.
    """
    from scipy.special import expit

    m = X.shape[0]
    shapes = list(zip(sizes[:-1], sizes[1:]))

    def fun(theta):
        params, start = [], 0
        for n_in, n_out in shapes:
            W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
            start += n_in * n_out
            params.append((W, theta[start:start + n_out]))
            start += n_out
        inputs, A = [], X
        for W, b in params[:-1]:
            inputs.append(A)
            A = expit(A @ W + b)
        inputs.append(A)
        W, b = params[-1]
        Z = A @ W + b
        H = expit(Z)
        J = (np.sum(np.logaddexp(0, Z) - Y * Z) + 0.5 * l2 * sum(np.sum(W * W) for W, _ in params)) / m
        D = H - Y
        grads = []
        for layer in range(len(params) - 1, -1, -1):
            W, _ = params[layer]
            A_in = inputs[layer]
            grads.append(D.sum(axis=0) / m)
            grads.append(((A_in.T @ D) + l2 * W).reshape(-1) / m)
            if layer > 0:
                D = (D @ W.T) * A_in * (1 - A_in)
        grads.reverse()
        return J, np.concatenate(grads)

    return fun


def w2_bpnet(name, device, X, y, sizes, iterations, seed, method="cg") -> Run:
    be = bp.get_backend(name, device)
    label = backend_label(name, device)
    net = bp.MLP(sizes, activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=1.0, backend=be,
                 dtype="float64", seed=seed)
    seconds, history = _timed(lambda: net.fit(X, y, optimizer=method, max_iter=iterations), label)
    return Run(seconds, float(history.loss[-1]), float(net.score(X, y)),
               {"iterations": int(history.n_iter), "stop_reason": history.stop_reason})


def w2_scipy(X, y, sizes, iterations, seed, method="CG") -> Run:
    from scipy.optimize import minimize

    theta0 = initial_parameters(sizes, "auto", "sigmoid", seed)  # the same start as bpnet_xp
    K = sizes[-1]

    def run():
        Y = np.zeros((X.shape[0], K))
        Y[np.arange(X.shape[0]), y] = 1.0
        fun = numpy_cost(sizes, X, Y, 1.0)
        options = {"maxiter": iterations, "gtol": 1e-6}
        return minimize(fun, theta0, jac=True, method=method, options=options)

    seconds, res = _timed(run, "numpy")
    params, start, A = [], 0, X
    from scipy.special import expit

    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = res.x[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        A = expit(A @ W + res.x[start:start + n_out])
        start += n_out
    accuracy = float(np.mean(np.argmax(A, axis=1) == y))
    return Run(seconds, float(res.fun), accuracy,
               {"iterations": int(res.nit), "evaluations": int(res.nfev), "stop_reason": str(res.message)})


def w2_sklearn(X, y, sizes, iterations, seed) -> Run:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="lbfgs",
                        alpha=1.0, max_iter=iterations, tol=0.0, random_state=seed)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    seconds, _ = _timed(run, "sklearn")
    return Run(seconds, float(clf.loss_), float(clf.score(X, y)), {"iterations": int(clf.n_iter_)})


def run_w2(cfg: Config, backends, pool: "Workers", out: dict, log: Callable) -> None:
    X, y = load_w2_data(cfg)
    sizes = [X.shape[1], 25, 10]
    it, seed, samples = cfg.w2_iterations, cfg.seed, cfg.w2_samples
    cpu = [(n, d) for n, d in backends if not is_gpu(n, d)]
    log(f"\nW2  digits {X.shape[0]} x {X.shape[1]} float64, {'-'.join(map(str, sizes))} sigmoid, "
        f"cross-entropy, l2=1, full batch, {it} iterations")

    def job(label: str, iterations: int = it) -> Callable[[], Run]:
        return lambda: pool.call(worker_kind(label) + "/w2", "job_w2", label, samples, iterations, seed)

    section = out["w2"] = {"data": {"samples": int(X.shape[0]), "features": int(X.shape[1])},
                           "network": {"layer_sizes": sizes, "parameters": n_parameters(sizes)},
                           "iterations": it, "implementations": {}, "ratios": {}}

    def describe(runs: list[Run]) -> dict:
        seconds = statistics.median(r.seconds for r in runs)
        iters = statistics.median(r.extra.get("iterations", it) for r in runs)
        d = {"runs": len(runs), "seconds": seconds, "seconds_all": [r.seconds for r in runs],
             "iterations": iters, "seconds_per_iteration": seconds / max(iters, 1),
             "final_loss": statistics.median(r.loss for r in runs),
             "train_accuracy": statistics.median(r.accuracy for r in runs)}
        if "evaluations" in runs[0].extra:
            d["evaluations"] = statistics.median(r.extra["evaluations"] for r in runs)
        return d

    impl, ratios = section["implementations"], section["ratios"]
    labels = [backend_label(n, d) + " cg" for n, d in cpu] + ["numpy+scipy CG"]
    if ("numpy", None) in cpu:
        labels += ["bpnet_xp:numpy lbfgs", "numpy+scipy L-BFGS-B"]
    if _importable("sklearn"):
        labels.append("sklearn lbfgs (softmax output)")
    for label in labels:  # warm-up
        job(label, 2)()
    # bpnet_xp numpy paired with NumPy + scipy (time ratio bpnet / scipy; target <= 1.1 for CG)
    for mine, peer in (("bpnet_xp:numpy cg", "numpy+scipy CG"), ("bpnet_xp:numpy lbfgs", "numpy+scipy L-BFGS-B")):
        if mine in labels:
            a, b, r = paired(job(mine), job(peer), cfg.repeats)
            impl[mine], impl[peer] = describe(a), describe(b)
            time_ratios = [1.0 / v for v in r]
            ratios[f"{mine} / {peer} (time)"] = {"median": statistics.median(time_ratios), "pairs": time_ratios,
                                                "paired": True}
    for label in labels:
        if label not in impl:
            impl[label] = describe([job(label)() for _ in range(cfg.repeats)])
    for label in labels:
        if label.endswith(" cg") and label != "bpnet_xp:numpy cg":
            ratios[f"{label} / numpy+scipy CG (time)"] = {
                "median": impl[label]["seconds"] / impl["numpy+scipy CG"]["seconds"], "paired": False}
    if ("numpy", None) in cpu:
        # The same pair once more, each run in a fresh process that imports only what its
        # program needs and trains once (after a 2-iteration warm-up), as a user's script
        # does.  The long-lived workers above can flatter either side: how fast NumPy's
        # temporaries are allocated depends on the process's heap history.
        a, b, r = paired(_fresh("job_w2", ["bpnet_xp:numpy cg", samples, it, seed], [samples, 2, seed]),
                         _fresh("job_w2", ["numpy+scipy CG", samples, it, seed], [samples, 2, seed]),
                         cfg.repeats)
        impl["bpnet_xp:numpy cg (fresh process)"] = describe(a)
        impl["numpy+scipy CG (fresh process)"] = describe(b)
        time_ratios = [1.0 / v for v in r]
        ratios["bpnet_xp:numpy cg / numpy+scipy CG (time, fresh process per run)"] = {
            "median": statistics.median(time_ratios), "pairs": time_ratios, "paired": True}
    if "bpnet_xp:numpy lbfgs" in impl and "sklearn lbfgs (softmax output)" in impl:
        ratios["bpnet_xp:numpy lbfgs / sklearn lbfgs (time per iteration)"] = {
            "median": impl["bpnet_xp:numpy lbfgs"]["seconds_per_iteration"]
            / impl["sklearn lbfgs (softmax output)"]["seconds_per_iteration"], "paired": False}
    log(f"  {'implementation':<34}{'seconds':>9}{'iters':>7}{'evals':>7}{'ms/iter':>9}{'loss':>10}{'train acc':>10}")
    for label, s in impl.items():
        evals = f"{s['evaluations']:.0f}" if "evaluations" in s else "-"
        log(f"  {label:<34}{s['seconds']:>9.4f}{s['iterations']:>7.0f}{evals:>7}"
            f"{1e3 * s['seconds_per_iteration']:>9.3f}{s['final_loss']:>10.5f}{s['train_accuracy']:>10.3f}")
    for label, v in ratios.items():
        pairs = " (pairs " + " ".join(f"{p:.3f}" for p in v["pairs"]) + ")" if v.get("pairs") else ""
        log(f"  {label}: {v['median']:.3f}{pairs}")
    pool.release("w2")


# ---------------------------------------------------------------------------------------
# W3: GPU.


def run_w3(cfg: Config, backends, pool: "Workers", ceilings: dict, out: dict, log: Callable) -> None:
    if cfg.w3_force_cpu:
        mine = [backend_label(n, d) for n, d in backends if not is_gpu(n, d) and n in ("numpy", "torch")]
        peer = "torch:cpu" if _importable("torch") else None
    else:
        mine = [backend_label(n, d) for n, d in backends if is_gpu(n, d)]
        peer = "torch:cuda" if _torch_cuda() else None
    if not mine and peer is None:
        reason = "no CUDA device (torch.cuda.is_available() is False and no cupy backend works here)"
        out["w3"] = {"skipped": reason}
        log(f"\nW3  skipped: {reason}")
        return
    sizes = w1_sizes(cfg)
    weights = n_weights(sizes)
    m = cfg.w3_samples
    E, lr, seed = cfg.epochs, cfg.learning_rate, cfg.seed
    spec = (m, cfg.w1_test_samples, cfg.w1_features, cfg.w1_classes, seed + 1)
    labels = mine + ([peer] if peer else [])

    def job(label: str, batch: int) -> Callable[[], Run]:
        return lambda: pool.call(worker_kind(label) + "/w3", "job_w1", label, spec, sizes, batch, E, seed, lr)

    section = out["w3"] = {"device": "cpu (forced, test mode)" if cfg.w3_force_cpu else "cuda",
                           "samples": m, "batches": {}}
    for label in labels:  # warm-up
        job(label, max(cfg.w3_batches))()
    for batch in cfg.w3_batches:
        log(f"\nW3  batch {batch}: {m} x {cfg.w1_features}, {E} epoch(s)")
        runs = {label: [job(label, batch)() for _ in range(cfg.repeats)] for label in labels}
        summary = {label: summarise(rs, m, E, weights) for label, rs in runs.items()}
        ratios = {}
        if peer:
            for label in mine:
                ratios[label] = {peer: {"median": summary[label]["samples_per_s"] / summary[peer]["samples_per_s"],
                                        "paired": False}}
        for label, s in summary.items():
            ceiling = ceilings.get(_ceiling_key(label))
            if ceiling:
                s["fraction_of_matmul_ceiling"] = s["effective_gflops"] / ceiling["gflops"]
        section["batches"][str(batch)] = {"implementations": summary, "ratios": ratios}
        for label, s in summary.items():
            log(f"  {label:<26}{s['seconds_per_epoch']:>10.4f} s/epoch{s['samples_per_s']:>12.0f} samples/s"
                f"{s['effective_gflops']:>9.1f} GFLOP/s")
        for label, v in ratios.items():
            log(f"  {label} vs {peer}: {v[peer]['median']:.2f}x")
    lbfgs_spec = (cfg.w3_lbfgs_samples, 1, cfg.w1_features, cfg.w1_classes, seed + 2)
    it = cfg.w3_lbfgs_iterations
    log(f"\nW3  full-batch L-BFGS, {cfg.w3_lbfgs_samples} x {cfg.w1_features}, {it} iterations")
    results = {}
    for label in labels:
        name = f"{label} LBFGS" if label == peer else label
        results[name] = pool.call(worker_kind(label) + "/w3", "job_w3_lbfgs", label, lbfgs_spec, sizes, it, seed)
        r = results[name]
        log(f"  {name:<26}{r['seconds']:>9.3f} s{r['iterations']:>5} it{1e3 * r['seconds_per_iteration']:>10.2f} ms/it"
            f"  loss {r['final_loss']:.4f}")
    section["lbfgs"] = {"samples": cfg.w3_lbfgs_samples, "implementations": results}
    pool.release("w3")


def w3_lbfgs(label: str, X, y, sizes, iterations: int, seed: int) -> dict:
    """Full-batch L-BFGS: bpnet_xp's "lbfgs" or torch.optim.LBFGS (strong Wolfe), data on the device."""
    if label.startswith("bpnet_xp:"):
        name, device = split_label(label)
        be = bp.get_backend(name, device)
        Xd, yd = be.asarray(X, "float32"), be.asarray(y)
        net = bp.MLP(sizes, activation="relu", output="softmax", backend=be, dtype="float32", seed=seed)
        seconds, hist = _timed(lambda: net.fit(Xd, yd, optimizer="lbfgs", max_iter=iterations), label)
        return {"seconds": seconds, "iterations": int(hist.n_iter),
                "seconds_per_iteration": seconds / max(hist.n_iter, 1), "final_loss": float(hist.loss[-1])}
    import torch
    import torch.nn.functional as F

    dev = torch.device(label.split(":")[1])
    model = _torch_model(sizes, seed, dev)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    # max_eval: torch's default (1.25 max_iter) would stop after a few line searches, long
    # before max_iter iterations; bpnet_xp's lbfgs has no evaluation limit either.
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, max_eval=25 * iterations,
                            history_size=10, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=0.0)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(Xt), yt)
        loss.backward()
        return loss

    seconds, _ = _timed(lambda: float(opt.step(closure).detach()), label)
    state = opt.state[opt._params[0]]
    n_iter = int(state.get("n_iter", iterations))
    return {"seconds": seconds, "iterations": n_iter, "seconds_per_iteration": seconds / max(n_iter, 1),
            "evaluations": int(state.get("func_evals", 0)) or 1,
            "final_loss": float(F.cross_entropy(model(Xt), yt).detach())}


# ---------------------------------------------------------------------------------------
# Worker processes.
#
# Each family of implementations runs in its own long-lived process, started with
# "spawn" so it imports only what it needs, and each workload gets fresh processes.
# This matters more than one would hope: how fast NumPy's short-lived temporaries are
# allocated depends on the process's heap layout (glibc returns freed memory to the
# OS and faults it in again, or not, depending on what the process did before), and
# importing PyTorch or scikit-learn, or gc.freeze(), was measured here to move
# bpnet_xp's W2 time between 0.9x and 1.6x that of NumPy + scipy.  So bpnet_xp's numpy
# backend runs in a process that has imported only numpy and bpnet_xp, as a user's
# script would, and every peer in a process of its own kind; the parent only
# orchestrates (pairs stay back to back, with a short settle time between processes).
# --in-process runs everything in one process instead, for comparison.


def worker_kind(label: str) -> str:
    """Which worker process family runs an implementation label.

    bpnet_xp's numpy and array_api_strict backends run in a process that has imported
    only numpy and bpnet_xp (as a user's script would), apart from the hand-written loop
    and the NumPy + scipy peer ("numpy": numpy and scipy); PyTorch, bpnet_xp's torch
    backend, scikit-learn, CuPy, JAX and Dask each get their own.
    """
    if label.startswith(("bpnet_xp:torch", "torch:")):
        return "torch"
    if label.startswith("sklearn"):
        return "sklearn"
    if label.startswith("bpnet_xp:"):
        name = split_label(label.split(" ")[0])[0]
        return "bpnet" if name in ("numpy", "array_api_strict") else name
    return "numpy"  # the hand-written loop, NumPy + scipy


def split_label(label: str) -> tuple[str, Any]:
    """``"bpnet_xp:torch:cuda"`` -> ("torch", "cuda"); ``"bpnet_xp:numpy"`` -> ("numpy", None)."""
    name = label.split(":", 1)[1]
    name, _, device = name.partition(":")
    return name, device or None


_DATA: dict = {}


def _w1_data(spec: tuple):
    """(X, y, X_test, y_test) for spec = (n_train, n_test, features, classes, seed), cached per process."""
    if spec not in _DATA:
        _DATA.clear()  # one data set at a time (W3's L-BFGS set is 3 GB)
        n_train, n_test, features, classes, seed = spec
        X, y = make_w1_data(n_train + n_test, features, classes, seed)
        _DATA[spec] = (X[:n_train], y[:n_train], X[n_train:], y[n_train:])
    return _DATA[spec]


def job_w1(label, spec, sizes, batch, epochs, seed, lr) -> Run:
    X, y, X_test, y_test = _w1_data(spec)
    if label.startswith("bpnet_xp:"):
        name, device = split_label(label)
        run = w1_bpnet(name, device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    elif label == "numpy_hand":
        run = w1_numpy_hand(X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    elif label == "sklearn":
        run = w1_sklearn(X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    elif label.startswith("torch:"):
        run = w1_torch(label.split(":")[1], X, y, X_test, y_test, sizes, batch, epochs, seed, lr)
    else:
        raise ValueError(f"unknown W1 implementation {label!r}")
    return run


def job_w2(label, samples, iterations, seed) -> Run:
    key = ("w2", samples)
    if key not in _DATA:
        _DATA[key] = load_w2_data(replace(Config(), w2_samples=samples))
    X, y = _DATA[key]
    sizes = [X.shape[1], 25, 10]
    if label.startswith("bpnet_xp:"):
        backend, method = label.split(" ")
        name, device = split_label(backend)
        return w2_bpnet(name, device, X, y, sizes, iterations, seed, method)
    if label.startswith("numpy+scipy"):
        return w2_scipy(X, y, sizes, iterations, seed, label.split(" ", 1)[1])
    if label.startswith("sklearn"):
        return w2_sklearn(X, y, sizes, iterations, seed)
    raise ValueError(f"unknown W2 implementation {label!r}")


def job_w3_lbfgs(label, spec, sizes, iterations, seed) -> dict:
    X, y, _, _ = _w1_data(spec)
    return w3_lbfgs(label, X, y, sizes, iterations, seed)


def _fresh(job: str, args: list, warmup_tail: list) -> Callable[[], Run]:
    """A run of ``JOBS[job](*args)`` in a new process (after one warm-up call with the
    label and ``warmup_tail`` as arguments); its imports are those of this script and
    the job."""
    spec = json.dumps({"job": job, "args": args, "warmup": [args[0], *warmup_tail]})

    def run() -> Run:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--job-child", spec],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{job}{args[:1]} failed in a fresh process:\n{proc.stderr[-2000:]}")
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        return Run(d["seconds"], d["loss"], d["accuracy"], d["extra"])

    return run


def job_child(spec: dict) -> dict:
    """The body of a fresh-process run (see :func:`_fresh`)."""
    JOBS[spec["job"]](*spec["warmup"])
    run = JOBS[spec["job"]](*spec["args"])
    return {"seconds": run.seconds, "loss": run.loss, "accuracy": run.accuracy, "extra": run.extra}


def job_ceiling(kind, device, n, repeats) -> dict:
    return matmul_ceiling(kind, device, n, repeats)


def job_gemm_floor(sizes, m, batch, repeats) -> dict:
    return gemm_floor(sizes, m, batch, repeats)


JOBS = {"job_w1": job_w1, "job_w2": job_w2, "job_w3_lbfgs": job_w3_lbfgs, "job_ceiling": job_ceiling,
        "job_gemm_floor": job_gemm_floor}


def _worker_setup(kind: str) -> None:
    """Import what the worker's implementations import lazily (before anything is timed)."""
    try:
        if kind == "torch":
            import torch

            torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pulls in torch._dynamo
        elif kind == "sklearn":
            import sklearn.exceptions  # noqa: F401
            import sklearn.neural_network  # noqa: F401
        elif kind == "numpy":
            import scipy.optimize  # noqa: F401
            import scipy.special  # noqa: F401
    except ImportError:
        pass
    if kind in ("torch", "sklearn"):
        # Their hundreds of thousands of objects are moved out of the collector's reach, so
        # the gc.collect() before each timed run costs milliseconds, not a third of a second.
        # Not done for the numpy-only processes: it changes their heap layout, and so the
        # timings of bpnet_xp's temporaries (see notes/perf-findings.md).
        gc.collect()
        gc.freeze()


def _worker_main(conn, kind: str) -> None:
    import traceback

    _worker_setup(kind.split("/")[0])
    conn.send((True, "ready"))
    while True:
        message = conn.recv()
        if message is None:
            return
        name, args = message
        try:
            conn.send((True, JOBS[name](*args)))
        except BaseException:  # report everything to the parent, which raises it
            conn.send((False, traceback.format_exc()))


class Workers:
    """Long-lived worker processes, one per key "family/workload" ("numpy/w1", "torch/w1",
    "numpy/w2", ...).

    Each workload gets fresh workers (and :meth:`release` ends them when it is done),
    because a process's allocator state depends on what it ran before: W2's small
    temporaries are served faster by a heap that W1's large arrays have grown.
    ``call(key, job, *args)`` runs ``JOBS[job](*args)`` in that worker and returns its
    result.  With ``in_process=True`` everything runs in this process instead; with
    ``shared=True`` (the --quick smoke run) one worker per family serves every workload.
    """

    def __init__(self, in_process: bool = False, shared: bool = False, settle: float = 0.0):
        self.in_process = in_process
        self.shared = shared
        self.settle = settle
        self.last = None
        self.procs: dict = {}
        self.ready: dict = {}

    def start(self, kinds) -> None:
        """Start several workers at once, so their imports overlap; return when all are ready."""
        if not self.in_process:
            for kind in kinds:
                self._get(kind, wait=False)
            for kind in kinds:
                self._get(kind)

    def _get(self, kind: str, wait: bool = True):
        if self.shared:
            kind = kind.split("/")[0]
        if kind not in self.procs:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, kind), daemon=True, name=f"bench-{kind}")
            proc.start()
            child.close()
            self.procs[kind] = (proc, parent)
            self.ready[kind] = False
        proc, conn = self.procs[kind]
        if wait and not self.ready[kind]:
            # Nothing is timed while a worker is still importing: it would steal the cores.
            try:
                conn.recv()
            except EOFError:
                raise RuntimeError(f"the {kind} worker died while starting (exit code {proc.exitcode})") from None
            self.ready[kind] = True
        return proc, conn

    def call(self, kind: str, job: str, *args):
        if self.in_process:
            return JOBS[job](*args)
        proc, conn = self._get(kind)
        if self.settle and self.last is not None and self.last is not proc:
            # BLAS and OpenMP worker threads spin for a while after their last call before
            # they sleep; the previous process's spinning threads must not steal the cores
            # from this one's run.
            time.sleep(self.settle)
        self.last = proc
        conn.send((job, args))
        try:
            ok, value = conn.recv()
        except EOFError:
            raise RuntimeError(f"the {kind} worker died (exit code {proc.exitcode}) running {job}{args[:1]}") from None
        if not ok:
            raise RuntimeError(f"{job}{args[:1]} failed in the {kind} worker:\n{value}")
        return value

    def release(self, workload: str) -> None:
        """End the workers of one workload."""
        if not self.shared:
            self.close([key for key in self.procs if key.endswith("/" + workload)])

    def close(self, keys=None) -> None:
        keys = list(self.procs) if keys is None else keys
        for key in keys:
            try:
                self.procs[key][1].send(None)
            except (BrokenPipeError, OSError):
                pass
        for key in keys:
            proc, _ = self.procs.pop(key)
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()


# ---------------------------------------------------------------------------------------
# Memory: one fresh process per implementation.


def _proc_status(field_name: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise OSError(f"{field_name} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_child(spec: dict) -> dict:
    """Run inside a fresh process: the memory one W1 training run adds.

    Data are loaded from .npy files (read straight into their arrays, no
    temporaries), a warm-up run on a few rows loads every code path, the peak
    RSS (VmHWM) is reset to the current RSS, and peak RSS growth = VmHWM after the
    run - RSS before it.  (``getrusage``'s ru_maxrss cannot be used: it survives
    exec, so a child starts with its parent's high-water mark.)  Where the peak
    cannot be reset, ``rss_resolved`` is False and the figure is an upper bound.
    NumPy-based implementations are run a second time under tracemalloc, whose
    peak counts every NumPy allocation the run made.
    """
    X = np.load(spec["X"])
    y = np.load(spec["y"])
    label, sizes, batch, epochs, seed = spec["label"], spec["sizes"], spec["batch"], spec["epochs"], spec["seed"]
    def train(Xr, yr):
        if label.startswith("bpnet_xp:"):
            name = label.split(":", 1)[1]
            name, _, device = name.partition(":")
            return w1_bpnet(name, device or None, Xr, yr, Xr[:8], yr[:8], sizes, batch, epochs, seed, 1e-3)
        if label == "numpy_hand":
            return w1_numpy_hand(Xr, yr, Xr[:8], yr[:8], sizes, batch, epochs, seed, 1e-3)
        if label == "sklearn":
            return w1_sklearn(Xr, yr, Xr[:8], yr[:8], sizes, batch, epochs, seed, 1e-3)
        if label.startswith("torch:"):
            return w1_torch(label.split(":")[1], Xr, yr, Xr[:8], yr[:8], sizes, batch, epochs, seed, 1e-3)
        raise ValueError(label)

    train(np.ascontiguousarray(X[: 2 * batch]), np.ascontiguousarray(y[: 2 * batch]))
    gc.collect()
    resolved = _reset_peak()
    rss_before = _proc_status("VmRSS")
    train(X, y)
    peak = _proc_status("VmHWM")
    result = {"label": label, "rss_before": rss_before, "rss_growth": peak - rss_before, "rss_resolved": resolved}
    if label in ("bpnet_xp:numpy", "bpnet_xp:array_api_strict", "numpy_hand", "sklearn"):
        import tracemalloc

        gc.collect()
        tracemalloc.start()
        train(X, y)
        result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def run_memory(cfg: Config, backends, out: dict, log: Callable) -> None:
    sizes = w1_sizes(cfg)
    batch = max(cfg.w1_batches)
    X, y = make_w1_data(cfg.w1_samples, cfg.w1_features, cfg.w1_classes, cfg.seed)
    m, K, P = X.shape[0], sizes[-1], n_parameters(sizes)
    item = 4  # float32
    budget_parts = {
        "data": X.nbytes + m * K * item,  # inputs + one-hot targets on the device
        "parameters": P * item,
        "optimizer_state": 2 * P * item,  # Adam's two moments
        "one_batch_activations": batch * (sum(sizes) + sizes[-1]) * item,  # inputs, hidden, logits and outputs
    }
    budget = sum(budget_parts.values())
    labels = [backend_label(n, d) for n, d in backends if not is_gpu(n, d)]
    labels += ["numpy_hand"] if cfg.quick else ["numpy_hand", "sklearn", "torch:cpu"]
    if cfg.quick:
        labels = [lab for lab in labels if lab in ("bpnet_xp:numpy", "numpy_hand")]
    log(f"\nMEM peak memory of one W1 training run (batch {batch}, {cfg.epochs} epoch(s)), fresh process each")
    log(f"  budget = data {budget_parts['data'] / 2**20:.2f} MiB + parameters {budget_parts['parameters'] / 2**20:.2f}"
        f" + Adam state {budget_parts['optimizer_state'] / 2**20:.2f} + one batch of activations "
        f"{budget_parts['one_batch_activations'] / 2**20:.2f} = {budget / 2**20:.2f} MiB")
    section = out["memory"] = {"batch": batch, "budget_bytes": budget, "budget_parts": budget_parts,
                               "implementations": {}}
    held = X.nbytes + y.nbytes  # what the caller holds before training starts
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", y)
        for label in labels:
            spec = {"X": str(Path(tmp) / "X.npy"), "y": str(Path(tmp) / "y.npy"), "label": label,
                    "sizes": sizes, "batch": batch, "epochs": cfg.epochs, "seed": cfg.seed}
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child", json.dumps(spec)],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                log(f"  {label}: memory run failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            entry = {"rss_growth_bytes": r["rss_growth"], "rss_resolved": r["rss_resolved"],
                     "peak_bytes_rss": held + r["rss_growth"], "ratio_rss": (held + r["rss_growth"]) / budget}
            if "tracemalloc_peak" in r:
                entry["tracemalloc_peak_bytes"] = r["tracemalloc_peak"]
                entry["peak_bytes_tracemalloc"] = held + r["tracemalloc_peak"]
                entry["ratio_tracemalloc"] = (held + r["tracemalloc_peak"]) / budget
            section["implementations"][label] = entry
            tm = (f"  tracemalloc +{entry['tracemalloc_peak_bytes'] / 2**20:7.2f} MiB -> "
                  f"{entry['ratio_tracemalloc']:.2f}x budget" if "tracemalloc_peak_bytes" in entry else "")
            log(f"  {label:<24} RSS +{r['rss_growth'] / 2**20:7.2f} MiB{'' if r['rss_resolved'] else ' (upper bound)'}"
                f" -> {entry['ratio_rss']:.2f}x budget{tm}")


# ---------------------------------------------------------------------------------------
# Targets, output.


def evaluate_targets(out: dict) -> list[dict]:
    """The issue's targets beside the measured figures (only those measured in this run)."""
    rows = []
    w1 = out.get("w1", {}).get("batches", {})
    for batch, sec in w1.items():
        r = sec["ratios"].get("bpnet_xp:numpy", {})
        if "numpy_hand" in r:
            key = "w1_vs_numpy_hand_b128" if batch == "128" else "w1_vs_numpy_hand_b512"
            rows.append({"target": f"W1 b{batch} numpy vs hand-written NumPy (samples/s ratio)",
                         "measured": r["numpy_hand"]["median"], "at_least": TARGETS[key]})
        if "sklearn" in r:
            rows.append({"target": f"W1 b{batch} numpy vs scikit-learn", "measured": r["sklearn"]["median"],
                         "at_least": TARGETS["w1_vs_sklearn"]})
        if "torch:cpu" in r:
            rows.append({"target": f"W1 b{batch} numpy vs PyTorch CPU", "measured": r["torch:cpu"]["median"],
                         "at_least": TARGETS["w1_vs_torch_cpu"]})
        s = sec["implementations"].get("bpnet_xp:numpy", {})
        if batch == "512" and "fraction_of_matmul_ceiling_paired" in s:
            rows.append({"target": "W1 b512 numpy fraction of the float32 matmul ceiling (median over runs, "
                                   "ceiling re-measured after each)",
                         "measured": s["fraction_of_matmul_ceiling_paired"],
                         "at_least": TARGETS["w1_b512_fraction_of_ceiling"]})
    w2 = out.get("w2", {}).get("ratios", {})
    shared = "one process" if out["meta"].get("isolation") == "in one process" else "long-lived worker processes"
    for key, where in (("bpnet_xp:numpy cg / numpy+scipy CG (time, fresh process per run)", "a fresh process per run"),
                       ("bpnet_xp:numpy cg / numpy+scipy CG (time)", shared)):
        if key in w2:
            rows.append({"target": f"W2 numpy CG time / NumPy+scipy CG time ({where})",
                         "measured": w2[key]["median"], "at_most": TARGETS["w2_time_vs_scipy_cg"]})
    for label, e in out.get("memory", {}).get("implementations", {}).items():
        if label.startswith("bpnet_xp:"):
            rows.append({"target": f"MEM {label} peak / budget (RSS)", "measured": e["ratio_rss"],
                         "at_most": TARGETS["memory_ratio"]})
    for batch, sec in out.get("w3", {}).get("batches", {}).items():
        for label, r in sec["ratios"].items():
            if "cupy" in label and int(batch) >= 1024:
                (peer, v), = r.items()
                rows.append({"target": f"W3 b{batch} {label} vs {peer}", "measured": v["median"],
                             "at_least": TARGETS["w3_vs_torch_cuda"]})
    for row in rows:
        row["met"] = row["measured"] >= row["at_least"] if "at_least" in row else row["measured"] <= row["at_most"]
    return rows


def write_markdown(path: Path, out: dict, text: str) -> None:
    meta = out["meta"]
    lines = [f"# bpnet_xp benchmark, {meta['date']}", "",
             f"- command: `{meta['command']}`",
             f"- machine: {meta['machine']['cpu']} ({meta['machine']['cpu_count']} logical CPUs), "
             f"{meta['machine'].get('gpu', 'no GPU')}, node {meta['machine']['node']}",
             f"- code: {meta['code']}; {meta['isolation']}",
             f"- versions: {json.dumps(meta['machine']['versions'])}",
             f"- load average before/after: {meta['load_before']} / {meta['load_after']}",
             f"- wall time: {meta['wall_seconds']:.0f} s",
             f"- note: {meta['note']}", "",
             "## Targets (issue 5)", "", "| target | measured | wanted | met |", "|---|---|---|---|"]
    for row in out["targets"]:
        want = f">= {row['at_least']}" if "at_least" in row else f"<= {row['at_most']}"
        lines.append(f"| {row['target']} | {row['measured']:.4f} | {want} | {'yes' if row['met'] else 'NO'} |")
    lines += ["", "## Output", "", "```", text.rstrip(), "```", "",
              f"All figures: `{path.with_suffix('.json').name}`.", ""]
    path.write_text("\n".join(lines))


def run(cfg: Config, argv: list[str], json_path: str | None, results_dir: str | None, log=print) -> dict:
    started = time.perf_counter()
    buffer: list[str] = []

    def say(line: str = "") -> None:
        buffer.append(line)
        log(line)

    if cfg.backends:
        backends = list(cfg.backends)
    elif cfg.quick:
        backends = [("numpy", None)]  # a smoke run: the other backends only when asked for
    else:
        backends = parse_backends(None)
    info = machine_info()
    pool = Workers(in_process=cfg.in_process, shared=cfg.quick, settle=cfg.settle)
    if cfg.in_process:
        # Everything runs in this process: import what the implementations import lazily and
        # move it out of the collector's reach, so the gc.collect() before each timed run
        # costs microseconds, not a walk over torch's hundreds of thousands of objects.
        _preload()
        gc.collect()
        gc.freeze()
    try:
        kinds = ["ceiling/ceiling", "bpnet/w1", "numpy/w1"]
        if _importable("torch"):
            kinds += ["torch/ceiling", "torch/w1"]
        if _importable("sklearn") and "w1" in cfg.workloads:
            kinds.append("sklearn/w1")
        pool.start(kinds)  # their imports overlap with each other
        return _run(cfg, argv, json_path, results_dir, log, started, buffer, say, backends, info, pool)
    finally:
        pool.close()
        if cfg.in_process:
            gc.unfreeze()


def _run(cfg, argv, json_path, results_dir, log, started, buffer, say, backends, info, pool) -> dict:
    out: dict = {"meta": {
        "command": "python " + " ".join(shlex.quote(a) for a in argv),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info, "code": code_version(), "quick": cfg.quick, "repeats": cfg.repeats, "epochs": cfg.epochs, "seed": cfg.seed,
        "workloads": list(cfg.workloads), "backends": [backend_label(n, d) for n, d in backends],
        "load_before": [round(v, 2) for v in os.getloadavg()],
        "note": "the machine is shared: other processes may have been running during the measurement "
                "(see the load averages)",
        "isolation": "in one process" if cfg.in_process else
                     "one worker process per family (numpy+scipy+bpnet_xp, torch, sklearn, ...), pairs back to back",
    }}
    say(f"bpnet_xp benchmark  {out['meta']['date']}  {info['cpu']} x{info['cpu_count']}"
        f"{'  ' + info['gpu'] if 'gpu' in info else ''}")
    say(f"command: {out['meta']['command']}   code: {out['meta']['code']}")
    say(f"backends: {', '.join(out['meta']['backends'])}; load average {out['meta']['load_before']}")
    ceilings: dict = {}
    kinds = {"numpy": ("numpy", None)}
    if _importable("torch"):
        kinds["torch:cpu"] = ("torch", "cpu")
    if _torch_cuda():
        kinds["torch:cuda"] = ("torch", "cuda")
    if any(n == "cupy" for n, _ in backends):
        kinds["cupy"] = ("cupy", None)
    worker_of = {"numpy": "ceiling", "torch": "torch", "cupy": "cupy"}  # each measured in a "/ceiling" worker
    t0 = time.perf_counter()
    say(f"\nfloat32 matmul ceiling ({cfg.matmul_n} x {cfg.matmul_n}, best of {cfg.matmul_repeats}):")
    for key, (kind, device) in kinds.items():
        try:
            ceilings[key] = pool.call(worker_of[kind] + "/ceiling", "job_ceiling", kind, device, cfg.matmul_n,
                                      cfg.matmul_repeats)
            say(f"  {key:<12}{ceilings[key]['gflops']:>9.1f} GFLOP/s")
        except RuntimeError as exc:
            say(f"  {key}: not measured ({str(exc).strip().splitlines()[-1]})")
    out["matmul_ceiling"] = ceilings
    out["meta"]["ceiling_seconds"] = time.perf_counter() - t0
    sections = {"w1": lambda: run_w1(cfg, backends, pool, ceilings, out, say),
                "w2": lambda: run_w2(cfg, backends, pool, out, say),
                "w3": lambda: run_w3(cfg, backends, pool, ceilings, out, say),
                "mem": lambda: run_memory(cfg, backends, out, say)}
    out["meta"]["section_seconds"] = {}
    for name, section in sections.items():
        if name in cfg.workloads:
            t0 = time.perf_counter()
            section()
            out["meta"]["section_seconds"][name] = time.perf_counter() - t0
    pool.release("ceiling")
    out["targets"] = evaluate_targets(out)
    if out["targets"]:
        say("\nTargets (issue 5):")
        for row in out["targets"]:
            want = f">= {row['at_least']}" if "at_least" in row else f"<= {row['at_most']}"
            say(f"  {'met ' if row['met'] else 'MISS'}  {row['target']}: {row['measured']:.4f} (wanted {want})")
    out["meta"]["load_after"] = [round(v, 2) for v in os.getloadavg()]
    out["meta"]["wall_seconds"] = time.perf_counter() - started
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1, default=_jsonable))
    if results_dir:
        folder = Path(results_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H%M")
        base = folder / f"{stamp}_{machine_slug(info)}"
        base.with_suffix(".json").write_text(json.dumps(out, indent=1, default=_jsonable))
        write_markdown(base.with_suffix(".md"), out, "\n".join(buffer))
        log(f"\nresults written to {base}.md and .json")
    return out


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all; w3 needs CUDA)")
    p.add_argument("--backends", default=None,
                   help="bpnet_xp backends, e.g. numpy,torch,array_api_strict,cupy,torch:cuda (default: all usable here)")
    p.add_argument("--repeats", type=int, default=None, help="runs (W1 numpy: back-to-back pairs) per figure (5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per W1/W3 run (3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run: small data, 1 epoch, 1 repeat (seconds)")
    p.add_argument("--json", default=None, help="write every figure to this JSON file")
    p.add_argument("--results-dir", default=None,
                   help=f"where the dated .md/.json result files go (default {DEFAULT_RESULTS.relative_to(ROOT)}; "
                        "not written with --quick unless given)")
    p.add_argument("--no-save", action="store_true", help="do not write result files under benchmarks/results/")
    p.add_argument("--in-process", action="store_true",
                   help="run every implementation in this one process instead of one worker process per "
                        "family (shows how much importing torch/sklearn changes NumPy's allocator behaviour)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of quiet before a run in a different worker process (0.5; BLAS/OpenMP threads "
                        "of the previous one spin for a while)")
    p.add_argument("--w3-force-cpu", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--job-child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return 0
    if args.job_child:
        print(json.dumps(job_child(json.loads(args.job_child))))
        return 0
    workloads = tuple(w.strip().lower() for w in args.workloads.split(",") if w.strip())
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    overrides: dict = {"workloads": workloads, "seed": args.seed, "w3_force_cpu": args.w3_force_cpu,
                       "in_process": args.in_process}
    if args.backends:
        overrides["backends"] = tuple(parse_backends(args.backends))
    if args.settle is not None:
        overrides["settle"] = max(0.0, args.settle)
    if args.repeats is not None:
        if args.repeats < 1:
            raise SystemExit("--repeats must be >= 1")
        overrides["repeats"] = args.repeats
    if args.epochs is not None:
        if args.epochs < 1:
            raise SystemExit("--epochs must be >= 1")
        overrides["epochs"] = args.epochs
    cfg = Config.quick_config(**overrides) if args.quick else replace(Config(), **overrides)
    results_dir = None if args.no_save else (args.results_dir or (None if args.quick else str(DEFAULT_RESULTS)))
    run(cfg, ["scripts/bench.py", *argv], args.json, results_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
