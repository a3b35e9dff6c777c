"""The benchmark script runs end to end and produces every figure (scripts/bench.py --quick).

No timing is asserted (speed is the benchmark's business, not the tests'): the test
checks that a tiny run writes a JSON file in which every figure is present and
is a finite number -- positive, except byte counts of memory *growth*, which can
legitimately be 0 when a tiny run fits in memory the process already had.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench.py"

pytest.importorskip("scipy")


def _numbers(tree, path=""):
    """(path, value) for every int/float leaf of a JSON tree (booleans excluded)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _numbers(value, f"{path}/{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _numbers(value, f"{path}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield path, tree


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    results = tmp_path_factory.mktemp("results")
    cmd = [sys.executable, str(SCRIPT), "--quick", "--w3-force-cpu", "--json", str(out),
           "--results-dir", str(results)]
    # One thread per library: the figures are not judged here, and on a shared 2-core
    # machine oversubscribed BLAS/OpenMP pools make a smoke run needlessly slow.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, results


def test_every_figure_is_finite_and_positive(quick_run):
    data, _, _ = quick_run
    numbers = [(p, v) for p, v in _numbers(data) if not p.startswith("/meta")]
    assert len(numbers) > 100
    for path, value in numbers:
        assert math.isfinite(value), path
        if path.endswith("growth_bytes") or path.endswith("_growth"):
            assert value >= 0, path
        else:
            assert value > 0, path


def test_all_sections_and_keys_present(quick_run):
    data, stdout, _ = quick_run
    meta = data["meta"]
    for key in ("command", "date", "machine", "load_before", "load_after", "wall_seconds", "note"):
        assert key in meta, key
    assert "--quick" in meta["command"]
    assert data["matmul_ceiling"]["numpy"]["gflops"] > 0

    w1 = data["w1"]
    assert w1["network"]["weights"] == 64 * 32 + 32 * 16 + 16 * 10  # the quick network 64-32-16-10
    for batch in ("64", "128"):
        section = w1["batches"][batch]
        impl = section["implementations"]
        for label in ("bpnet_xp:numpy", "numpy_hand", "sklearn", "torch:cpu"):
            for key in ("seconds_per_epoch", "samples_per_s", "effective_gflops", "final_loss",
                        "test_accuracy", "fraction_of_matmul_ceiling"):
                assert key in impl[label], (batch, label, key)
            # samples/s and GFLOP/s are derived from the measured time: check the arithmetic
            s = impl[label]
            assert s["samples_per_s"] == pytest.approx(512 / s["seconds_per_epoch"])
            assert s["effective_gflops"] == pytest.approx(6 * 512 * w1["network"]["weights"]
                                                          / s["seconds_per_epoch"] / 1e9)
        assert len(impl["bpnet_xp:numpy"]["matmul_ceiling_after_each_run"]) == 3  # one per paired run
        assert "fraction_of_matmul_ceiling_paired" in impl["bpnet_xp:numpy"]
        ratios = section["ratios"]["bpnet_xp:numpy"]
        for peer in ("numpy_hand", "sklearn", "torch:cpu"):
            assert ratios[peer]["paired"] is True
            assert len(ratios[peer]["pairs"]) == 1
        assert section["gemm_floor"]["seconds_per_epoch"] > 0

    w2 = data["w2"]
    for label in ("bpnet_xp:numpy cg", "numpy+scipy CG", "bpnet_xp:numpy lbfgs", "numpy+scipy L-BFGS-B",
                  "sklearn lbfgs (softmax output)", "bpnet_xp:numpy cg (fresh process)",
                  "numpy+scipy CG (fresh process)"):
        for key in ("seconds", "iterations", "seconds_per_iteration", "final_loss", "train_accuracy"):
            assert key in w2["implementations"][label], (label, key)
    assert "bpnet_xp:numpy cg / numpy+scipy CG (time)" in w2["ratios"]
    assert "bpnet_xp:numpy cg / numpy+scipy CG (time, fresh process per run)" in w2["ratios"]

    w3 = data["w3"]
    assert set(w3["batches"]) == {"64", "256"}
    assert set(w3["lbfgs"]["implementations"]) == {"bpnet_xp:numpy", "torch:cpu LBFGS"}

    mem = data["memory"]
    assert set(mem["budget_parts"]) == {"data", "parameters", "optimizer_state", "one_batch_activations"}
    for label in ("bpnet_xp:numpy", "numpy_hand"):
        entry = mem["implementations"][label]
        for key in ("rss_growth_bytes", "peak_bytes_rss", "ratio_rss", "tracemalloc_peak_bytes", "ratio_tracemalloc"):
            assert key in entry, (label, key)

    assert data["targets"], "the issue's targets are evaluated"
    for row in data["targets"]:
        assert isinstance(row["met"], bool)
    assert "Targets (issue 5)" in stdout


def test_result_files_carry_the_command(quick_run):
    data, _, results = quick_run
    md = list(results.glob("*.md"))
    js = list(results.glob("*.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    assert data["meta"]["command"] in text
    assert "other processes may have been running" in text


def test_quick_data_has_class_structure():
    # The synthetic W1 data must be learnable (accuracy is meaningful): a nearest-class-mean
    # classifier written here in NumPy must beat chance (10 %) by far.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench
    finally:
        sys.path.pop(0)
    import numpy as np

    X, y = bench.make_w1_data(2000, 784, 10, seed=0)
    assert X.shape == (2000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    means = np.stack([X[:1000][y[:1000] == k].mean(axis=0) for k in range(10)])
    pred = np.argmin(((X[1000:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(pred == y[1000:]) > 0.5
    X2, y2 = bench.make_w1_data(2000, 784, 10, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)  # deterministic from the seed


def test_worker_routing_and_in_process_jobs():
    # Each implementation family runs in its own worker process (what a process has imported
    # changes how fast NumPy's temporaries are allocated); --in-process runs the same jobs here.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench
    finally:
        sys.path.pop(0)
    kind = bench.worker_kind
    # bpnet_xp's NumPy backends run in a process of their own that imports only numpy and
    # bpnet_xp, as a user's script would; the hand-written loop and NumPy + scipy in another.
    assert [kind("bpnet_xp:numpy"), kind("bpnet_xp:array_api_strict"), kind("bpnet_xp:numpy cg")] == ["bpnet"] * 3
    assert kind("numpy_hand") == kind("numpy+scipy CG") == "numpy"
    assert kind("torch:cpu") == kind("bpnet_xp:torch:cuda") == kind("bpnet_xp:torch:cpu cg") == "torch"
    assert kind("sklearn") == kind("sklearn lbfgs (softmax output)") == "sklearn"
    assert kind("bpnet_xp:cupy") == "cupy"
    assert bench.split_label("bpnet_xp:torch:cuda") == ("torch", "cuda")
    assert bench.split_label("bpnet_xp:numpy") == ("numpy", None)

    pool = bench.Workers(in_process=True)
    a = pool.call("numpy", "job_w2", "bpnet_xp:numpy cg", 300, 3, 0)
    b = pool.call("numpy", "job_w2", "numpy+scipy CG", 300, 3, 0)
    assert a.extra["iterations"] == 3 and b.extra["iterations"] == 3
    assert a.seconds > 0 and b.seconds > 0
    # Both minimise the same cost from the same start (checked against the L-BFGS pair, whose
    # iterates agree to the last digits when the cost and the start agree):
    c = pool.call("numpy", "job_w2", "bpnet_xp:numpy lbfgs", 300, 3, 0)
    d = pool.call("numpy", "job_w2", "numpy+scipy L-BFGS-B", 300, 3, 0)
    assert c.loss == pytest.approx(d.loss, rel=1e-6)
