"""MEM: peak memory of one W1 training run, in a fresh process per implementation (peak RSS
growth from /proc/self/status, tracemalloc's peak for NumPy allocations), against data +
parameters + optimizer state + one batch of activations.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .common import PACKAGE_DIR, backend_label, importable, is_gpu, n_parameters, set_threads, thread_summary, w1_sizes
from .w1 import make_w1_data, train_w1

NUMPY_BASED = ("bpnet_xp:numpy", "bpnet_xp:array_api_strict", "numpy_hand", "sklearn")


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
    set_threads(spec["threads"])
    X, y = np.load(spec["X"]), np.load(spec["y"])
    label, sizes, batch, epochs, seed = spec["label"], spec["sizes"], spec["batch"], spec["epochs"], spec["seed"]

    def train(Xr, yr):
        return train_w1(label, Xr, yr, Xr[:8], yr[:8], sizes, batch, epochs, seed, 1e-3)

    train(np.ascontiguousarray(X[: 2 * batch]), np.ascontiguousarray(y[: 2 * batch]))
    set_threads(spec["threads"])
    gc.collect()
    resolved = _reset_peak()
    rss_before = _proc_status("VmRSS")
    train(X, y)
    peak = _proc_status("VmHWM")
    result = {"label": label, "rss_before": rss_before, "rss_growth": peak - rss_before, "rss_resolved": resolved}
    if label in NUMPY_BASED:
        import tracemalloc

        gc.collect()
        tracemalloc.start()
        train(X, y)
        result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result["threads"] = thread_summary()
    return result


def _labels(cfg, backends, log: Callable) -> list[str]:
    labels = [backend_label(n, d) for n, d in backends if not is_gpu(n, d)]
    if cfg.quick:
        return [lab for lab in labels if lab == "bpnet_xp:numpy"] + ["numpy_hand"]
    labels.append("numpy_hand")
    for module, label in (("sklearn", "sklearn"), ("torch", "torch:cpu")):
        if importable(module):
            labels.append(label)
        else:
            log(f"  {module} is not installed: the {label} memory figure is skipped")
    return labels


def _budget(X, sizes, batch) -> dict:
    m, K, P = X.shape[0], sizes[-1], n_parameters(sizes)
    item = 4  # float32
    return {
        "data": X.nbytes + m * K * item,  # inputs + one-hot targets on the device
        "parameters": P * item,
        "optimizer_state": 2 * P * item,  # Adam's two moments
        "one_batch_activations": batch * (sum(sizes) + sizes[-1]) * item,  # inputs, hidden, logits and outputs
    }


def _entry(r: dict, held: int, budget: int) -> dict:
    entry = {"rss_growth_bytes": r["rss_growth"], "rss_resolved": r["rss_resolved"],
             "peak_bytes_rss": held + r["rss_growth"], "ratio_rss": (held + r["rss_growth"]) / budget}
    if "tracemalloc_peak" in r:
        entry["tracemalloc_peak_bytes"] = r["tracemalloc_peak"]
        entry["peak_bytes_tracemalloc"] = held + r["tracemalloc_peak"]
        entry["ratio_tracemalloc"] = (held + r["tracemalloc_peak"]) / budget
    return entry


def run_memory(cfg, backends, pool, out: dict, log: Callable) -> None:
    sizes = w1_sizes(cfg)
    batch = max(cfg.w1_batches)
    X, y = make_w1_data(cfg.w1_samples, cfg.w1_features, cfg.w1_classes, cfg.seed)
    parts = _budget(X, sizes, batch)
    budget = sum(parts.values())
    log(f"\nMEM peak memory of one W1 training run (batch {batch}, {cfg.epochs} epoch(s)), fresh process each")
    log(f"  budget = data {parts['data'] / 2**20:.2f} MiB + parameters {parts['parameters'] / 2**20:.2f}"
        f" + Adam state {parts['optimizer_state'] / 2**20:.2f} + one batch of activations "
        f"{parts['one_batch_activations'] / 2**20:.2f} = {budget / 2**20:.2f} MiB")
    section = out["memory"] = {"batch": batch, "budget_bytes": budget, "budget_parts": parts, "implementations": {}}
    held = X.nbytes + y.nbytes  # what the caller holds before training starts
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "X.npy", X)
        np.save(Path(tmp) / "y.npy", y)
        for label in _labels(cfg, backends, log):
            spec = {"X": str(Path(tmp) / "X.npy"), "y": str(Path(tmp) / "y.npy"), "label": label, "sizes": sizes,
                    "batch": batch, "epochs": cfg.epochs, "seed": cfg.seed, "threads": cfg.threads}
            proc = subprocess.run([sys.executable, str(PACKAGE_DIR), "--memory-child", json.dumps(spec)],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                log(f"  {label}: memory run failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            pool.note_threads(f"memory: {label}", r["threads"])
            entry = section["implementations"][label] = _entry(r, held, budget)
            tm = (f"  tracemalloc +{entry['tracemalloc_peak_bytes'] / 2**20:7.2f} MiB -> "
                  f"{entry['ratio_tracemalloc']:.2f}x budget" if "tracemalloc_peak_bytes" in entry else "")
            log(f"  {label:<24} RSS +{r['rss_growth'] / 2**20:7.2f} MiB{'' if r['rss_resolved'] else ' (upper bound)'}"
                f" -> {entry['ratio_rss']:.2f}x budget{tm}")
