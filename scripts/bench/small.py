"""Small steps: the regime of the classic material (issue 15).

Digits 64-25-10 sigmoid / cross-entropy, l2 = 1, float64, SGD with a fixed step at
batch 1, 8 and 32 (one epoch per run), and XOR 2-10-1 sigmoid / identity / MSE with
full-batch gradient descent (2000 epochs per run).  bpnet_xp's numpy backend against a
hand-written NumPy loop of the same math (same initial weights, same batch order
drawn from the same generator), each in its own worker process with the same thread
count, in back-to-back pairs of alternating order.  The figure is the time per step
(per epoch for XOR, where an epoch is one step).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

import bpnet_xp as bp

from .common import Run, paired
from .w2 import load_w2_data

BPNET, HAND = "bpnet_xp:numpy", "numpy_hand"
KIND = {BPNET: "bpnet/small", HAND: "numpy/small"}
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])
LEARNING_RATE = 0.1


def _digits_net(seed: int):
    return bp.MLP([64, 25, 10], activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=1.0,
                  dtype="float64", seed=seed)


def _xor_net(seed: int):
    return bp.MLP([2, 10, 1], activation="sigmoid", output="identity", loss="mse", dtype="float64", seed=seed)


def _hand_sgd(theta, sizes, X, Y, batch, epochs, rng, lr, l2, cross_entropy) -> float:
    """The hand-written loop: views of one flat theta, the same math written out in NumPy."""
    (n0, n1), (_, n2) = (sizes[0], sizes[1]), (sizes[1], sizes[2])
    W1, b1 = theta[: n0 * n1].reshape(n0, n1), theta[n0 * n1: n0 * n1 + n1]
    o = n0 * n1 + n1
    W2, b2 = theta[o: o + n1 * n2].reshape(n1, n2), theta[o + n1 * n2:]
    m = X.shape[0]
    for _ in range(epochs):
        epoch_loss = 0.0  # the epoch's mean batch loss weighted by rows, as bpnet_xp's History
        order = rng.permutation(m) if batch < m else None
        for lo in range(0, m, batch):
            if order is None:
                xb, yb = X, Y
            else:
                index = order[lo: lo + batch]
                xb, yb = X[index], Y[index]
            a1 = 1.0 / (1.0 + np.exp(-(xb @ W1 + b1)))
            z2 = a1 @ W2 + b2
            if cross_entropy:
                a2 = 1.0 / (1.0 + np.exp(-z2))
                loss = np.sum(np.logaddexp(0.0, z2) - yb * z2) / xb.shape[0]
            else:
                a2 = z2
                r = a2 - yb
                loss = 0.5 * np.sum(r * r) / xb.shape[0]
            d2 = (a2 - yb) / xb.shape[0]
            d1 = (d2 @ W2.T) * a1 * (1.0 - a1)
            if l2:
                loss = loss + 0.5 * l2 / m * (np.sum(W1 * W1) + np.sum(W2 * W2))
                W2 -= lr * (a1.T @ d2 + l2 / m * W2)
                W1 -= lr * (xb.T @ d1 + l2 / m * W1)
            else:
                W2 -= lr * (a1.T @ d2)
                W1 -= lr * (xb.T @ d1)
            b2 -= lr * d2.sum(axis=0)
            b1 -= lr * d1.sum(axis=0)
            epoch_loss += loss * xb.shape[0]
    return float(epoch_loss / m)


def job_small(label: str, workload: str, batch: int, epochs: int, seed: int) -> Run:
    """One timed run; ``workload`` "digits" (batch rows) or "xor" (full batch gd)."""
    if workload == "digits":
        X, y = load_w2_data()
        net, sizes, l2, ce = _digits_net(seed), [64, 25, 10], 1.0, True
        Y = np.eye(10)[y]
        optimizer = dict(optimizer="sgd", momentum=0.0, batch_size=batch)
    else:
        X, y, Y = XOR_X, XOR_Y, XOR_Y[:, None]
        net, sizes, l2, ce = _xor_net(seed), [2, 10, 1], 0.0, False
        optimizer = dict(optimizer="gd")
    steps = epochs * -(-X.shape[0] // batch)
    if label == BPNET:
        start = time.perf_counter()
        history = net.fit(X, y, epochs=epochs, learning_rate=LEARNING_RATE, shuffle=True, seed=seed, **optimizer)
        seconds = time.perf_counter() - start
        loss = history.loss[-1]
    else:
        theta = np.array(bp.backend.to_numpy(net.theta), dtype=np.float64)
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        loss = _hand_sgd(theta, sizes, X, Y, batch, epochs, rng, LEARNING_RATE, l2, ce)
        seconds = time.perf_counter() - start
    return Run(seconds, float(loss), float("nan"), {"steps": steps, "seconds_per_step": seconds / steps})


CASES = (("digits SGD batch 1", "digits", 1, 1), ("digits SGD batch 8", "digits", 8, 3),
         ("digits SGD batch 32", "digits", 32, 10), ("XOR 2-10-1 gd (full batch)", "xor", 4, 2000))


def run_small(cfg, backends, pool, out: dict, log: Callable) -> None:
    section = out["small"] = {"cases": {}, "note": "time per step; ratio = bpnet_xp / hand-written NumPy loop "
                                                   "(pairs alternate their order); target <= 1.25"}
    log("\nSmall steps (issue 15): digits 64-25-10 sigmoid CE l2=1 float64 SGD; XOR 2-10-1 MSE gd; "
        "time per step, bpnet_xp:numpy / hand-written NumPy")
    for name, workload, batch, epochs in CASES:
        if cfg.quick:
            epochs = 1 if workload == "digits" else 50
        def job(label: str, e: int = epochs) -> Callable[[], Run]:
            return lambda: pool.call(KIND[label], "small:job_small", label, workload, batch, e, cfg.seed)

        job(BPNET, 1)(), job(HAND, 1)()  # warm-up
        a, b, r = paired(job(BPNET), job(HAND), cfg.repeats)
        mine = statistics.median(x.extra["seconds_per_step"] for x in a)
        hand = statistics.median(x.extra["seconds_per_step"] for x in b)
        ratios = [1.0 / v for v in r]
        section["cases"][name] = {"bpnet_us_per_step": 1e6 * mine, "hand_us_per_step": 1e6 * hand,
                                  "ratio_median": statistics.median(ratios), "ratio_pairs": ratios,
                                  "bpnet_loss": a[0].loss, "hand_loss": b[0].loss, "target_at_most": 1.25}
        log(f"  {name:<30} bpnet {1e6 * mine:8.1f} us  hand {1e6 * hand:8.1f} us  ratio "
            f"{statistics.median(ratios):.3f} (pairs {' '.join(f'{v:.3f}' for v in ratios)})  "
            f"loss {a[0].loss:.5f} / {b[0].loss:.5f}")
    pool.release("small")
