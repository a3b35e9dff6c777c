"""Import cost (issue 15 item 6): ``import bpnet_xp``, then the first network, in fresh processes.

Each of N fresh interpreters (the interpreter's own start is not counted) times
``import bpnet_xp`` and then the first ``bp.MLP([64, 25, 10])`` plus its
``loss_and_grad(X, y)`` on a small NumPy X (20 x 64, float64), and reports which optional
libraries the import loaded.  The figures are the median and the spread (min, max) over the N
processes, beside the target: import + first loss_and_grad in at most 0.2 s.  Run it alone with
``python scripts/bench --workloads import``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Callable

from .common import ROOT

PROCESSES = 15
QUICK_PROCESSES = 3
TARGET_SECONDS = 0.2  # import + first MLP + loss_and_grad
OPTIONAL = ("torch", "jax", "dask", "cupy", "scipy", "sklearn", "pandas", "matplotlib", "tqdm")

# Runs in the child; perf_counter starts after the interpreter is up, so its start-up is not counted.
CHILD = f"""
import json, sys, time
t0 = time.perf_counter()
import bpnet_xp as bp
t1 = time.perf_counter()
import numpy as np
X = np.linspace(0.0, 1.0, 20 * 64).reshape(20, 64)
y = np.arange(20) % 10
net = bp.MLP([64, 25, 10])
net.loss_and_grad(X, y)
t2 = time.perf_counter()
loaded = sorted(m for m in {OPTIONAL!r} if m in sys.modules)
print(json.dumps({{"import": t1 - t0, "first_loss_and_grad": t2 - t1, "total": t2 - t0, "loaded": loaded}}))
"""


def measure_once() -> dict:
    """One fresh interpreter's figures (seconds)."""
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the import child failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": values}


def run_imports(cfg, backends, pool, out: dict, log: Callable) -> None:
    """The ``import`` workload: N fresh processes, median and spread, the target beside them."""
    n = QUICK_PROCESSES if cfg.quick else PROCESSES
    runs = [measure_once() for _ in range(n)]
    section = out["import"] = {
        "processes": n, "target_seconds": TARGET_SECONDS,
        "import": _stats([r["import"] for r in runs]),
        "first_loss_and_grad": _stats([r["first_loss_and_grad"] for r in runs]),
        "total": _stats([r["total"] for r in runs]),
        "optional_loaded": sorted({m for r in runs for m in r["loaded"]}),
    }
    section["met"] = section["total"]["median"] <= TARGET_SECONDS
    log(f"\nimport  {n} fresh processes (interpreter start not counted): "
        "import bpnet_xp, then MLP([64, 25, 10]).loss_and_grad on 20 x 64 NumPy")
    log(f"  {'figure':<34}{'median s':>10}{'min s':>9}{'max s':>9}")
    for key, label in (("import", "import bpnet_xp"), ("first_loss_and_grad", "first MLP + loss_and_grad"),
                       ("total", "import + first loss_and_grad")):
        s = section[key]
        log(f"  {label:<34}{s['median']:>10.4f}{s['min']:>9.4f}{s['max']:>9.4f}")
    log(f"  target: import + first loss_and_grad <= {TARGET_SECONDS} s: "
        f"{'met' if section['met'] else 'MISS'} (median {section['total']['median']:.4f} s)")
    loaded = section["optional_loaded"]
    log(f"  optional libraries loaded (after the first loss_and_grad): {', '.join(loaded) if loaded else 'none'}")
