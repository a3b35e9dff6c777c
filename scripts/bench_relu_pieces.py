"""ReLU's elementwise work inside a W1 fit (784-256-128-10, Adam, batch 512, float32): the
Numba loops of :func:`bpnet_xp.backend.fused_relu` against NumPy's passes, per layer.

Both are timed in one process, inside real fits, alternating fit by fit (the loops in the
even fits, NumPy's passes in the odd ones; both give the same bits, so the fits are the
same).  Then one 512 x 256 mask with its column sums outside a fit.  Needs Numba and
threadpoolctl; BLAS threads are set to ``--threads`` (2).

Usage::

    python scripts/bench_relu_pieces.py [--fits 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpnet_xp as bp  # noqa: E402
from bpnet_xp import numba_kernels  # noqa: E402
from bpnet_xp.activations import relu_derivative  # noqa: E402


def _timed_kernels(times: dict, use_loops: list):
    loop_forward, loop_backward = numba_kernels.bias_relu, numba_kernels.relu_backward

    def forward(z, b):
        start = time.perf_counter()
        if use_loops[0]:
            loop_forward(z, b)
        else:
            z += b
            np.maximum(z, 0.0, out=z)
        times["loop" if use_loops[0] else "numpy", "bias add + clip", z.shape].append(time.perf_counter() - start)
        return z

    def backward(d, a, db):
        start = time.perf_counter()
        if use_loops[0]:
            loop_backward(d, a, db)
        else:
            d *= relu_derivative(a)
            np.add.reduce(d, 0, out=db)
        times["loop" if use_loops[0] else "numpy", "mask + sum", d.shape].append(time.perf_counter() - start)
        return d

    return forward, backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    from bench.w1 import make_w1_data

    X, y = make_w1_data(10000, 784, 10, 0)
    times, use_loops = defaultdict(list), [True]
    loop_backward = numba_kernels.relu_backward
    numba_kernels.bias_relu, numba_kernels.relu_backward = _timed_kernels(times, use_loops)
    for fit in range(args.fits):
        use_loops[0] = fit % 2 == 0
        net = bp.MLP([784, 256, 128, 10], activation="relu", dtype="float32", backend="numpy", seed=0)
        net.fit(X, y, optimizer="adam", epochs=3, batch_size=512, learning_rate=1e-3, seed=0)
    print(f"inside {args.fits} W1 fits (batch 512, {args.threads} BLAS threads), median per call:")
    for (kind, piece, shape), values in sorted(times.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])):
        if shape[0] == 512:
            print(f"  {piece:16s} {str(shape):11s} {kind:6s} {statistics.median(values) * 1e6:7.1f} us")
    rng = np.random.default_rng(0)
    d = rng.standard_normal((512, 256)).astype(np.float32)
    a = np.maximum(rng.standard_normal((512, 256)).astype(np.float32), 0)
    db = np.empty(256, np.float32)
    mask = (a > 0).astype(np.float32)
    for label, run in [("loop: mask + sum", lambda: loop_backward(d, a, db)),
                       ("numpy: mask", lambda: np.multiply(d, mask, out=d)),
                       ("numpy: sum", lambda: np.add.reduce(d, 0, out=db))]:
        samples = []
        for _ in range(300):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        print(f"outside a fit, 512 x 256, {label:18s} {statistics.median(samples) * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
