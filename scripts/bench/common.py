"""Shared pieces of the benchmark: configuration, implementation labels, timing, thread
settings, machine information and the report (targets, Markdown, JSON).

Only numpy, the standard library and bpnet_xp's public names are imported at the top:
bpnet_xp's numpy worker process must import nothing else, as a user's script would not.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpnet_xp as bp  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent
WORKLOADS = ("w1", "w2", "w3", "mem", "small")
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


def default_threads() -> int:
    """The number of CPUs this process may run on (the default thread count of every side)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
    threads: int = field(default_factory=default_threads)  # BLAS/OpenMP/torch threads, every process
    # W1
    w1_samples: int = 10000
    w1_test_samples: int = 2000
    w1_features: int = 784
    w1_hidden: tuple = (256, 128)
    w1_classes: int = 10
    w1_batches: tuple = (128, 512)
    # W1 wide: 784-1024-1024-10 (1.86 M parameters, where Adam's passes over theta weigh)
    w1_wide_hidden: tuple = (1024, 1024)
    w1_wide_batches: tuple = (128,)
    w1_wide_epochs: int = 1
    w1_wide_repeats: int = 3
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
            w1_batches=(64, 128), w1_wide_hidden=(48, 48), w1_wide_batches=(64,), w1_wide_epochs=1,
            w1_wide_repeats=1, w2_iterations=5, w2_samples=400,
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


def w1_sizes(cfg: Config) -> list[int]:
    return [cfg.w1_features, *cfg.w1_hidden, cfg.w1_classes]


def n_weights(sizes) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def n_parameters(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------------------------------
# Implementation labels and the worker process that runs each.


def parse_backends(text: str | None) -> list[tuple[str, Any]]:
    """``"numpy,torch,torch:cuda"`` -> [(name, device)]; None -> every usable backend here."""
    if text:
        out = []
        for item in text.split(","):
            item = item.strip()
            if item:
                name, _, device = item.partition(":")
                out.append((name, device or None))
        return out
    out = [(name, None) for name in bp.available_backends() if name != "dask"]
    if torch_cuda():
        out.append(("torch", "cuda"))
    return out


def backend_label(name: str, device: Any) -> str:
    if name == "torch":
        return f"bpnet_xp:torch:{'cpu' if device is None else str(device).split(':')[0]}"
    return f"bpnet_xp:{name}"


def split_label(label: str) -> tuple[str, Any]:
    """``"bpnet_xp:torch:cuda"`` -> ("torch", "cuda"); ``"bpnet_xp:numpy"`` -> ("numpy", None)."""
    name = label.split(":", 1)[1]
    name, _, device = name.partition(":")
    return name, device or None


def is_gpu(name: str, device: Any) -> bool:
    return name == "cupy" or (device is not None and "cuda" in str(device))


def worker_kind(label: str, float64: bool = False) -> str:
    """Which worker process family runs an implementation label.

    bpnet_xp's numpy and array_api_strict backends run in a process that has imported
    only numpy and bpnet_xp (as a user's script would), apart from the hand-written loop
    and the NumPy + scipy peer ("numpy": numpy and scipy); PyTorch, bpnet_xp's torch
    backend, scikit-learn, CuPy, JAX and Dask each get their own.  JAX's float64 runs
    (``float64=True``) get a process of their own, "jax-x64", that enables x64 before
    any JAX array exists; the float32 runs keep JAX's default.
    """
    if label.startswith(("bpnet_xp:torch", "torch:")):
        return "torch"
    if label.startswith("sklearn"):
        return "sklearn"
    if label == "jax_native":
        return "jaxnative"  # not bpnet_xp:jax's process: each side in a worker of its own
    if label.startswith("bpnet_xp:"):
        name = split_label(label.split(" ")[0])[0]
        if name == "jax" and float64:
            return "jax-x64"
        return "bpnet" if name in ("numpy", "array_api_strict") else name
    return "numpy"  # the hand-written loop, NumPy + scipy


def ceiling_key(label: str) -> str:
    """The matmul ceiling an implementation label is measured against."""
    if label in ("bpnet_xp:numpy", "bpnet_xp:array_api_strict", "numpy_hand", "sklearn"):
        return "numpy"
    for key in ("torch:cpu", "torch:cuda", "cupy"):
        if label.endswith(key):
            return key
    return ""


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def torch_cuda() -> bool:
    if not importable("torch"):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


# ---------------------------------------------------------------------------------------
# Timing and statistics.


def sync(label: str) -> None:
    """Wait for queued device work of an implementation label (no-op on CPU)."""
    if "cuda" in label:
        import torch

        torch.cuda.synchronize()
    elif "cupy" in label:
        import cupy

        cupy.cuda.Device().synchronize()


def timed(fn: Callable, label: str) -> tuple[float, Any]:
    gc.collect()
    sync(label)
    start = time.perf_counter()
    value = fn()
    sync(label)
    return time.perf_counter() - start, value


def summarise(runs: list[Run], samples_per_epoch: int, epochs: int, weights: int) -> dict:
    seconds = [r.seconds for r in runs]
    per_epoch = statistics.median(seconds) / epochs
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
        pass
    elif kind == "torch":
        import torch

        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
    elif kind == "cupy":
        import cupy

        a, b = cupy.asarray(a), cupy.asarray(b)
    else:
        raise ValueError(f"no matmul ceiling for {kind!r}")

    def mm():
        return a @ b

    mm()  # warm-up: thread pools, kernels, caches
    times = [timed(mm, label)[0] for _ in range(repeats)]
    best = min(times)
    return {"n": n, "best_seconds": best, "median_seconds": statistics.median(times),
            "gflops": 2.0 * n**3 / best / 1e9, "repeats": repeats}


# ---------------------------------------------------------------------------------------
# Thread settings: equal for every side, in every process, and recorded.

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
NO_THREADPOOLCTL = ("threadpoolctl is not installed: thread counts were set only through "
                    "OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS (read when each library "
                    "loads) and torch.set_num_threads; the BLAS/OpenMP libraries' own counts were not "
                    "read back (pip install threadpoolctl to set and record them)")
JAX_THREADS = "XLA's CPU thread pool is not governed by threadpoolctl or these variables (not limited)"


def set_threads(n: int) -> None:
    """Give every thread pool of this process ``n`` threads.

    The environment variables reach libraries loaded later (a spawned worker inherits
    them before it imports numpy; SciPy may load a second OpenBLAS on first use);
    threadpoolctl resets the pools already loaded (NumPy's and SciPy's OpenBLAS, the
    OpenMP runtimes of scikit-learn and PyTorch); torch.set_num_threads sets PyTorch's
    intra-op pool.  Called at the start of every worker and before every job.
    """
    os.environ.update({name: str(n) for name in THREAD_ENV})
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=n)
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        if torch.get_num_interop_threads() != n:
            try:  # possible only before torch's first inter-op parallel work
                torch.set_num_interop_threads(n)
            except RuntimeError:
                pass


def thread_summary() -> dict:
    """This process's thread pools: threadpoolctl's threadpool_info(), torch's threads."""
    out: dict = {"env": {name: os.environ.get(name) for name in THREAD_ENV[:3]}}
    try:
        import threadpoolctl
    except ImportError:
        out["threadpoolctl"] = None
        out["note"] = NO_THREADPOOLCTL
    else:
        out["threadpoolctl"] = threadpoolctl.__version__
        out["pools"] = [{"user_api": i.get("user_api"), "internal_api": i.get("internal_api"),
                         "version": i.get("version"), "num_threads": i.get("num_threads"),
                         "threading_layer": i.get("threading_layer"),
                         "library": Path(i.get("filepath") or "?").name}
                        for i in threadpoolctl.threadpool_info()]
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
        out["torch_interop_threads"] = torch.get_num_interop_threads()
    if "jax" in sys.modules:
        out["jax"] = JAX_THREADS
    return out


def thread_mismatches(summary: dict, n: int) -> list[str]:
    """What in a :func:`thread_summary` does not run ``n`` threads."""
    bad = [f"{p['library']} ({p['internal_api']}) {p['num_threads']}"
           for p in summary.get("pools", []) if p.get("num_threads") != n]
    if "torch_threads" in summary and summary["torch_threads"] != n:
        bad.append(f"torch {summary['torch_threads']}")
    return bad


def describe_threads(summary: dict) -> str:
    """One line: every pool of a :func:`thread_summary` with its thread count."""
    parts = [f"{' '.join(filter(None, (p['internal_api'], p['version'])))} ({p['library']}, {p['user_api']}"
             f"{', ' + p['threading_layer'] if p.get('threading_layer') else ''}): {p['num_threads']}"
             for p in summary.get("pools", [])]
    if "torch_threads" in summary:
        parts.append(f"torch.get_num_threads(): {summary['torch_threads']} "
                     f"(interop {summary['torch_interop_threads']})")
    if "jax" in summary:
        parts.append(f"jax: {summary['jax']}")
    if summary.get("threadpoolctl") is None:
        parts.append("threadpoolctl absent")
    return "; ".join(parts) or "no thread pool loaded"


def threads_report(requested: int, processes: dict) -> dict:
    """The meta["threads"] record: what was asked, what each process ran, and whether equal.

    ``equal`` is None (not verified) where threadpoolctl could not read the pools back.
    """
    versions = {s.get("threadpoolctl") for s in processes.values()}
    mismatches = {key: bad for key, s in processes.items() if (bad := thread_mismatches(s, requested))}
    report = {"requested": requested, "env": {name: str(requested) for name in THREAD_ENV},
              "threadpoolctl": next(iter(versions)) if len(versions) == 1 else sorted(map(str, versions)),
              "processes": processes, "mismatches": mismatches,
              "equal": False if mismatches else (None if None in versions else True)}
    if None in versions:
        report["note"] = NO_THREADPOOLCTL
    return report


def equal_word(threads: dict) -> str:
    return {True: "yes", False: "NO", None: "not verified (threadpoolctl absent)"}[threads["equal"]]


# ---------------------------------------------------------------------------------------
# Machine description.


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


_DISTRIBUTIONS = {"scipy": ("scipy",), "sklearn": ("scikit-learn",), "torch": ("torch",),
                  "jax": ("jax",), "jaxlib": ("jaxlib",), "dask": ("dask",),
                  "cupy": ("cupy-cuda12x", "cupy-cuda11x", "cupy"), "array_api_strict": ("array-api-strict",),
                  "array_api_compat": ("array-api-compat",), "threadpoolctl": ("threadpoolctl",),
                  "numba": ("numba",)}


def _versions() -> dict:
    """Versions of what the benchmark may use, read from the installed metadata (no imports)."""
    out = {"python": platform.python_version(), "numpy": np.__version__,
           "bpnet_xp": getattr(bp, "__version__", "?")}
    for name, dists in _DISTRIBUTIONS.items():
        for dist in dists:
            try:
                out[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return out


def machine_info() -> dict:
    info = {"node": platform.node(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "versions": _versions()}
    if torch_cuda():
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def code_version() -> str:
    """The git commit of the measured code, "+local changes" when bpnet_xp/ differs from it."""
    def git(*args):
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        if not commit:
            return "unknown (not a git checkout)"
        dirty = git("status", "--porcelain", "--", "bpnet_xp")
        return commit + (" + local changes in bpnet_xp/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_slug(info: dict) -> str:
    word = info["gpu"] if "gpu" in info else f"{info['cpu_count']}core-" + info["cpu"]
    keep = "".join(c if c.isalnum() else "-" for c in word).strip("-").lower()
    while "--" in keep:
        keep = keep.replace("--", "-")
    return keep[:48]


# ---------------------------------------------------------------------------------------
# Report: targets, Markdown, JSON.


def _w1_targets(out: dict) -> list[dict]:
    rows = []
    for batch, sec in out.get("w1", {}).get("batches", {}).items():
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
    return rows


def evaluate_targets(out: dict) -> list[dict]:
    """The issue's targets beside the measured figures (only those measured in this run)."""
    rows = _w1_targets(out)
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


def _threads_markdown(threads: dict) -> list[str]:
    lines = ["## Threads", "",
             f"Every worker process ran with {threads['requested']} thread(s) per library: "
             + ", ".join(f"{k}={v}" for k, v in threads["env"].items())
             + " before its imports, threadpoolctl.threadpool_limits("
             + f"{threads['requested']}) and torch.set_num_threads({threads['requested']}) before every job.",
             f"threadpoolctl: {threads['threadpoolctl'] or 'not installed'}; "
             f"all equal: {equal_word(threads)}.", ""]
    if threads.get("note"):
        lines += [f"Note: {threads['note']}.", ""]
    lines += ["| process | thread pools (threadpoolctl.threadpool_info()) and torch threads |", "|---|---|"]
    lines += [f"| {key} | {describe_threads(s)} |" for key, s in threads["processes"].items()]
    for key, bad in threads["mismatches"].items():
        lines.append(f"| {key} | NOT {threads['requested']}: {', '.join(bad)} |")
    return lines + [""]


def write_markdown(path: Path, out: dict, text: str) -> None:
    meta = out["meta"]
    lines = [f"# bpnet_xp benchmark, {meta['date']}", "",
             f"- command: `{meta['command']}`",
             f"- machine: {meta['machine']['cpu']} ({meta['machine']['cpu_count']} logical CPUs), "
             f"{meta['machine'].get('gpu', 'no GPU')}, node {meta['machine']['node']}",
             f"- code: {meta['code']}; {meta['isolation']}",
             f"- versions: {json.dumps(meta['machine']['versions'])}",
             f"- threads: {meta['threads']['requested']} per library in every process "
             f"(all equal: {equal_word(meta['threads'])}; see Threads below)",
             f"- load average before/after: {meta['load_before']} / {meta['load_after']}",
             f"- wall time: {meta['wall_seconds']:.0f} s",
             f"- note: {meta['note']}", "",
             "## Targets (issue 5)", "", "| target | measured | wanted | met |", "|---|---|---|---|"]
    for row in out["targets"]:
        want = f">= {row['at_least']}" if "at_least" in row else f"<= {row['at_most']}"
        lines.append(f"| {row['target']} | {row['measured']:.4f} | {want} | {'yes' if row['met'] else 'NO'} |")
    lines += [""] + _threads_markdown(meta["threads"])
    lines += ["## Output", "", "```", text.rstrip(), "```", "",
              f"All figures: `{path.with_suffix('.json').name}`.", ""]
    path.write_text("\n".join(lines))


def jsonable(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def write_results(out: dict, text: str, json_path: str | None, results_dir: str | None, log) -> None:
    """The JSON file asked for with --json, and the dated .md/.json pair under results_dir."""
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1, default=jsonable))
    if results_dir:
        folder = Path(results_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H%M")
        base = folder / f"{stamp}_{machine_slug(out['meta']['machine'])}"
        # Two runs started in the same minute must not overwrite each other's record.
        suffix = 2
        while base.with_suffix(".json").exists() or base.with_suffix(".md").exists():
            base = folder / f"{stamp}_{machine_slug(out['meta']['machine'])}-{suffix}"
            suffix += 1
        base.with_suffix(".json").write_text(json.dumps(out, indent=1, default=jsonable))
        write_markdown(base.with_suffix(".md"), out, text)
        log(f"\nresults written to {base}.md and .json")
