"""W3 (CUDA only; skipped with the reason otherwise): W1 at batch 128, 1024 and 8192 on
cupy and torch CUDA, and full-batch L-BFGS on 1,000,000 x 784 against torch.optim.LBFGS.

``--w3-force-cpu`` (tests only) runs the same code on the CPU backends at tiny sizes.
"""

from __future__ import annotations

from typing import Callable

import bpnet_xp as bp

from . import peers
from .common import (backend_label, ceiling_key, importable, is_gpu, n_weights, split_label, summarise, timed,
                     torch_cuda, w1_sizes, worker_kind)
from .w1 import on_device, w1_data

NO_CUDA = "no CUDA device (torch.cuda.is_available() is False and no cupy backend works here)"


def bpnet_lbfgs(label: str, X, y, sizes, iterations: int, seed: int) -> dict:
    """bpnet_xp's full-batch "lbfgs", data on the device before the clock starts."""
    name, device = split_label(label)
    be = bp.get_backend(name, device)
    Xd, yd = on_device(be, X, "float32"), on_device(be, y)
    net = bp.MLP(sizes, activation="relu", output="softmax", backend=be, dtype="float32", seed=seed)
    seconds, hist = timed(lambda: net.fit(Xd, yd, optimizer="lbfgs", max_iter=iterations), label)
    return {"seconds": seconds, "iterations": int(hist.n_iter),
            "seconds_per_iteration": seconds / max(hist.n_iter, 1), "final_loss": float(hist.loss[-1])}


def job_w3_lbfgs(label, spec, sizes, iterations, seed) -> dict:
    X, y, _, _ = w1_data(spec)
    if label.startswith("bpnet_xp:"):
        return bpnet_lbfgs(label, X, y, sizes, iterations, seed)
    return peers.torch_lbfgs(label.split(":")[1], X, y, sizes, iterations, seed)


def w3_labels(cfg, backends) -> tuple[list[str], str | None]:
    """bpnet_xp's labels and the torch peer W3 compares (CUDA; CPU with --w3-force-cpu)."""
    if cfg.w3_force_cpu:
        mine = [backend_label(n, d) for n, d in backends if not is_gpu(n, d) and n in ("numpy", "torch")]
        return mine, "torch:cpu" if importable("torch") else None
    return [backend_label(n, d) for n, d in backends if is_gpu(n, d)], "torch:cuda" if torch_cuda() else None


def _batches(cfg, pool, labels, mine, peer, ceilings, section, log) -> None:
    sizes = w1_sizes(cfg)
    weights, m = n_weights(sizes), cfg.w3_samples
    spec = (m, cfg.w1_test_samples, cfg.w1_features, cfg.w1_classes, cfg.seed + 1)

    def job(label: str, batch: int) -> Callable:
        return lambda: pool.call(worker_kind(label) + "/w3", "w1:job_w1", label, spec, sizes, batch, cfg.epochs,
                                 cfg.seed, cfg.learning_rate)

    for label in labels:  # warm-up
        job(label, max(cfg.w3_batches))()
    for batch in cfg.w3_batches:
        log(f"\nW3  batch {batch}: {m} x {cfg.w1_features}, {cfg.epochs} epoch(s)")
        runs = {label: [job(label, batch)() for _ in range(cfg.repeats)] for label in labels}
        summary = {label: summarise(rs, m, cfg.epochs, weights) for label, rs in runs.items()}
        ratios = {}
        if peer:
            for label in mine:
                ratios[label] = {peer: {"median": summary[label]["samples_per_s"] / summary[peer]["samples_per_s"],
                                        "paired": False}}
        for label, s in summary.items():
            ceiling = ceilings.get(ceiling_key(label))
            if ceiling:
                s["fraction_of_matmul_ceiling"] = s["effective_gflops"] / ceiling["gflops"]
        section["batches"][str(batch)] = {"implementations": summary, "ratios": ratios}
        for label, s in summary.items():
            log(f"  {label:<26}{s['seconds_per_epoch']:>10.4f} s/epoch{s['samples_per_s']:>12.0f} samples/s"
                f"{s['effective_gflops']:>9.1f} GFLOP/s")
        for label, v in ratios.items():
            log(f"  {label} vs {peer}: {v[peer]['median']:.2f}x")


def _lbfgs(cfg, pool, labels, peer, section, log) -> None:
    sizes = w1_sizes(cfg)
    spec = (cfg.w3_lbfgs_samples, 1, cfg.w1_features, cfg.w1_classes, cfg.seed + 2)
    it = cfg.w3_lbfgs_iterations
    log(f"\nW3  full-batch L-BFGS, {cfg.w3_lbfgs_samples} x {cfg.w1_features}, {it} iterations")
    results = {}
    for label in labels:
        name = f"{label} LBFGS" if label == peer else label
        r = results[name] = pool.call(worker_kind(label) + "/w3", "w3:job_w3_lbfgs", label, spec, sizes, it,
                                      cfg.seed)
        log(f"  {name:<26}{r['seconds']:>9.3f} s{r['iterations']:>5} it{1e3 * r['seconds_per_iteration']:>10.2f} ms/it"
            f"  loss {r['final_loss']:.4f}")
    section["lbfgs"] = {"samples": cfg.w3_lbfgs_samples, "implementations": results}


def run_w3(cfg, backends, pool, ceilings: dict, out: dict, log: Callable) -> None:
    mine, peer = w3_labels(cfg, backends)
    if not mine and peer is None:
        out["w3"] = {"skipped": NO_CUDA}
        log(f"\nW3  skipped: {NO_CUDA}")
        return
    labels = mine + ([peer] if peer else [])
    section = out["w3"] = {"device": "cpu (forced, test mode)" if cfg.w3_force_cpu else "cuda",
                           "samples": cfg.w3_samples, "batches": {}}
    _batches(cfg, pool, labels, mine, peer, ceilings, section, log)
    _lbfgs(cfg, pool, labels, peer, section, log)
    pool.release("w3")
