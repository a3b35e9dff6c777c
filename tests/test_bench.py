"""The benchmark runs end to end and reports every figure (``python scripts/bench --quick``).

No timing is asserted (speed is the benchmark's business, not the tests'): the tests
check that a tiny run writes a JSON file in which every figure is present and is a
finite number -- positive, except byte counts of memory *growth*, which can
legitimately be 0 when a tiny run fits in memory the process already had -- and that
the thread settings of every process are recorded.  The peers that need scipy,
scikit-learn, PyTorch or JAX are checked only where that library is installed (the
benchmark itself skips them with the reason when it is not).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
PROGRAM = SCRIPTS / "bench"
# One thread per library: the figures are not judged here, and on a shared 2-core
# machine oversubscribed BLAS/OpenMP pools make a smoke run needlessly slow.
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _bench(name: str):
    """Import ``bench.<name>`` from scripts/."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module(f"bench.{name}")
    finally:
        sys.path.remove(str(SCRIPTS))


def _run_bench(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(PROGRAM), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


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
    proc = _run_bench("--quick", "--w3-force-cpu", "--threads", "1", "--json", str(out),
                      "--results-dir", str(results))
    return json.loads(out.read_text()), proc.stdout, results


def test_every_figure_is_finite_and_positive(quick_run):
    data, _, _ = quick_run
    numbers = [(p, v) for p, v in _numbers(data) if not p.startswith("/meta")]
    assert len(numbers) > 60
    for path, value in numbers:
        assert math.isfinite(value), path
        if path.endswith("growth_bytes") or path.endswith("_growth"):
            assert value >= 0, path
        else:
            assert value > 0, path


def test_report_structure(quick_run):
    data, stdout, _ = quick_run
    meta = data["meta"]
    for key in ("command", "date", "machine", "code", "isolation", "load_before", "load_after", "wall_seconds",
                "note", "threads", "section_seconds"):
        assert key in meta, key
    assert meta["command"].startswith("python scripts/bench ") and "--quick" in meta["command"]
    assert set(meta["section_seconds"]) == {"w1", "w2", "w3", "mem", "small"}
    assert data["matmul_ceiling"]["numpy"]["gflops"] > 0

    w1 = data["w1"]
    weights = 64 * 32 + 32 * 16 + 16 * 10  # the quick network 64-32-16-10
    assert w1["network"]["weights"] == weights
    cpu_peers = 1 + _has("sklearn") + _has("torch")  # numpy_hand, sklearn, torch:cpu
    for batch in ("64", "128"):
        section = w1["batches"][batch]
        for label in ("bpnet_xp:numpy", "numpy_hand"):
            s = section["implementations"][label]
            for key in ("seconds_per_epoch", "samples_per_s", "effective_gflops", "final_loss",
                        "test_accuracy", "fraction_of_matmul_ceiling"):
                assert key in s, (batch, label, key)
            # samples/s and GFLOP/s are derived from the measured time: check the arithmetic
            assert s["samples_per_s"] == pytest.approx(512 / s["seconds_per_epoch"])
            assert s["effective_gflops"] == pytest.approx(6 * 512 * weights / s["seconds_per_epoch"] / 1e9)
        numpy_s = section["implementations"]["bpnet_xp:numpy"]
        assert len(numpy_s["matmul_ceiling_after_each_run"]) == cpu_peers  # one per paired run
        assert "fraction_of_matmul_ceiling_paired" in numpy_s
        ratio = section["ratios"]["bpnet_xp:numpy"]["numpy_hand"]
        assert ratio["paired"] is True and len(ratio["pairs"]) == 1
        assert section["gemm_floor"]["seconds_per_epoch"] > 0

    w2 = data["w2"]
    for label in ("bpnet_xp:numpy cg", "bpnet_xp:numpy lbfgs"):
        for key in ("seconds", "iterations", "seconds_per_iteration", "final_loss", "train_accuracy"):
            assert key in w2["implementations"][label], (label, key)
        assert w2["implementations"][label]["iterations"] == 5

    w3 = data["w3"]
    assert w3["device"].startswith("cpu")
    assert set(w3["batches"]) == {"64", "256"}
    assert "bpnet_xp:numpy" in w3["lbfgs"]["implementations"]

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


def test_threads_are_equal_and_recorded(quick_run):
    data, stdout, results = quick_run
    threads = data["meta"]["threads"]
    assert threads["requested"] == 1
    assert threads["env"]["OMP_NUM_THREADS"] == "1" and threads["env"]["OPENBLAS_NUM_THREADS"] == "1"
    processes = threads["processes"]
    # every worker family of the quick run (shared across workloads), the fresh and memory processes
    assert {"bpnet", "numpy", "ceiling", "memory: bpnet_xp:numpy", "memory: numpy_hand"} <= set(processes)
    assert threads["mismatches"] == {}
    if _has("threadpoolctl"):
        assert threads["equal"] is True
        for key, summary in processes.items():
            assert summary["threadpoolctl"], key
            assert summary["pools"], key  # NumPy's BLAS at least
            assert all(pool["num_threads"] == 1 for pool in summary["pools"]), (key, summary["pools"])
        assert any(pool["user_api"] == "blas" for pool in processes["bpnet"]["pools"])
    else:
        assert threads["equal"] is None  # not verified
        assert "threadpoolctl is not installed" in threads["note"]
    assert "threads: 1 per library" in stdout
    md = next(results.glob("*.md")).read_text()
    assert "## Threads" in md and "threadpool_info()" in md


def test_result_files_carry_the_command(quick_run):
    data, _, results = quick_run
    md = list(results.glob("*.md"))
    js = list(results.glob("*.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    assert data["meta"]["command"] in text
    assert "other processes may have been running" in text
    assert json.loads(js[0].read_text())["meta"]["command"] == data["meta"]["command"]


def test_scipy_peers(quick_run):
    pytest.importorskip("scipy")
    data, _, _ = quick_run
    w2 = data["w2"]
    for label in ("numpy+scipy CG", "numpy+scipy L-BFGS-B", "bpnet_xp:numpy cg (fresh process)",
                  "numpy+scipy CG (fresh process)"):
        for key in ("seconds", "iterations", "seconds_per_iteration", "final_loss", "train_accuracy"):
            assert key in w2["implementations"][label], (label, key)
    assert w2["implementations"]["numpy+scipy CG"]["evaluations"] >= 5
    for key in ("bpnet_xp:numpy cg / numpy+scipy CG (time)",
                "bpnet_xp:numpy cg / numpy+scipy CG (time, fresh process per run)",
                "bpnet_xp:numpy lbfgs / numpy+scipy L-BFGS-B (time)"):
        assert w2["ratios"][key]["paired"] is True, key
    processes = data["meta"]["threads"]["processes"]
    assert {"fresh process: bpnet_xp:numpy cg", "fresh process: numpy+scipy CG"} <= set(processes)
    if _has("threadpoolctl"):
        # SciPy loads an OpenBLAS of its own beside NumPy's: both were limited
        blas = [p for p in processes["numpy"]["pools"] if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)


def test_sklearn_peer(quick_run):
    pytest.importorskip("sklearn")
    data, _, _ = quick_run
    for batch in ("64", "128"):
        section = data["w1"]["batches"][batch]
        assert section["implementations"]["sklearn"]["seconds_per_epoch"] > 0
        assert section["ratios"]["bpnet_xp:numpy"]["sklearn"]["paired"] is True
    assert "sklearn lbfgs (softmax output)" in data["w2"]["implementations"]
    assert "bpnet_xp:numpy lbfgs / sklearn lbfgs (time per iteration)" in data["w2"]["ratios"]
    assert "sklearn" in data["meta"]["threads"]["processes"]


def test_torch_peer(quick_run):
    pytest.importorskip("torch")
    data, _, _ = quick_run
    for batch in ("64", "128"):
        section = data["w1"]["batches"][batch]
        assert "fraction_of_matmul_ceiling" in section["implementations"]["torch:cpu"]
        assert section["ratios"]["bpnet_xp:numpy"]["torch:cpu"]["paired"] is True
    assert data["matmul_ceiling"]["torch:cpu"]["gflops"] > 0
    assert set(data["w3"]["lbfgs"]["implementations"]) == {"bpnet_xp:numpy", "torch:cpu LBFGS"}
    torch_threads = data["meta"]["threads"]["processes"]["torch"]
    assert torch_threads["torch_threads"] == 1


def test_native_jax_peer_and_wide_variant(tmp_path):
    # The native JAX peer (jax.numpy MLP + Adam, one jax.jit step) is paired with bpnet_xp's
    # jax backend; from the same initial weights and batch order it reaches the same loss as
    # the hand-written NumPy loop (float32 rounding apart).
    pytest.importorskip("jax")
    out = tmp_path / "w1.json"
    _run_bench("--quick", "--threads", "1", "--backends", "numpy,jax", "--workloads", "w1", "--json", str(out),
               "--results-dir", str(tmp_path))
    data = json.loads(out.read_text())
    for batch in ("64", "128"):
        section = data["w1"]["batches"][batch]
        ratio = section["ratios"]["bpnet_xp:jax"]["jax_native"]
        assert ratio["paired"] is True and ratio["median"] > 0
        implementations = section["implementations"]
        assert implementations["jax_native"]["final_loss"] == pytest.approx(
            implementations["numpy_hand"]["final_loss"], rel=1e-4)
    wide = data["w1"]["wide"]
    assert wide["network"]["layer_sizes"] == [64, 48, 48, 10]
    assert wide["network"]["parameters"] == 64 * 48 + 48 + 48 * 48 + 48 + 48 * 10 + 10
    section = wide["batches"]["64"]
    assert section["ratios"]["bpnet_xp:numpy"]["numpy_hand"]["paired"] is True
    assert "sklearn" not in section["implementations"]
    assert "jaxnative" in data["meta"]["threads"]["processes"]  # a worker of its own


def test_jax_float64_runs_in_an_x64_worker(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "w2.json"
    _run_bench("--quick", "--threads", "1", "--backends", "numpy,jax", "--workloads", "w2", "--json", str(out))
    data = json.loads(out.read_text())
    assert data["w2"]["implementations"]["bpnet_xp:jax cg"]["iterations"] == 5
    assert "bpnet_xp:jax cg" not in data["w2"]["skipped"]
    assert "jax-x64" in data["meta"]["threads"]["processes"]


def test_float64_unavailable_is_a_reason_not_a_crash():
    # Without x64 (a fresh interpreter: this test process may have enabled it), the W2 probe
    # returns bpnet_xp's reason, which the benchmark prints and records as a skip.
    pytest.importorskip("jax")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from bench.w2 import job_float64_unavailable as f; "
            "print(f('bpnet_xp:jax cg')); print(f('bpnet_xp:numpy cg'))")
    proc = subprocess.run([sys.executable, "-c", code, str(SCRIPTS)], capture_output=True, text=True,
                          timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jax_reason, numpy_reason = proc.stdout.strip().splitlines()[-2:]
    assert "float64" in jax_reason and numpy_reason == "None"


def test_thread_summary_without_threadpoolctl(monkeypatch):
    common = _bench("common")
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import threadpoolctl -> ImportError
    summary = common.thread_summary()
    assert summary["threadpoolctl"] is None and "threadpoolctl is not installed" in summary["note"]
    report = common.threads_report(2, {"bpnet": summary})
    assert "threadpoolctl is not installed" in report["note"] and report["equal"] is None
    assert "threadpoolctl absent" in common.describe_threads(summary)


def test_quick_data_has_class_structure():
    # The synthetic W1 data must be learnable (accuracy is meaningful): a nearest-class-mean
    # classifier written here in NumPy must beat chance (10 %) by far.
    import numpy as np

    w1 = _bench("w1")
    X, y = w1.make_w1_data(2000, 784, 10, seed=0)
    assert X.shape == (2000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    means = np.stack([X[:1000][y[:1000] == k].mean(axis=0) for k in range(10)])
    pred = np.argmin(((X[1000:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(pred == y[1000:]) > 0.5
    X2, y2 = w1.make_w1_data(2000, 784, 10, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)  # deterministic from the seed


def test_worker_routing():
    # Each implementation family runs in its own worker process (what a process has imported
    # changes how fast NumPy's temporaries are allocated).
    common = _bench("common")
    kind = common.worker_kind
    # bpnet_xp's NumPy backends run in a process of their own that imports only numpy and
    # bpnet_xp, as a user's script would; the hand-written loop and NumPy + scipy in another.
    assert [kind("bpnet_xp:numpy"), kind("bpnet_xp:array_api_strict"), kind("bpnet_xp:numpy cg")] == ["bpnet"] * 3
    assert kind("numpy_hand") == kind("numpy+scipy CG") == "numpy"
    assert kind("torch:cpu") == kind("bpnet_xp:torch:cuda") == kind("bpnet_xp:torch:cpu cg") == "torch"
    assert kind("sklearn") == kind("sklearn lbfgs (softmax output)") == "sklearn"
    assert kind("bpnet_xp:cupy") == "cupy"
    assert kind("bpnet_xp:jax") == "jax" and kind("bpnet_xp:jax cg", float64=True) == "jax-x64"
    assert kind("jax_native") == "jaxnative"  # not the process of bpnet_xp's jax backend
    assert kind("bpnet_xp:numpy cg", float64=True) == "bpnet"
    assert common.split_label("bpnet_xp:torch:cuda") == ("torch", "cuda")
    assert common.split_label("bpnet_xp:numpy") == ("numpy", None)


def test_in_process_jobs_start_from_the_same_point():
    # --in-process runs the same jobs in this process (threads=None: this process's pools are
    # left alone).
    pytest.importorskip("scipy")
    workers = _bench("workers")
    pool = workers.Workers(in_process=True, threads=None)
    a = pool.call("numpy", "w2:job_w2", "bpnet_xp:numpy cg", 300, 3, 0)
    b = pool.call("numpy", "w2:job_w2", "numpy+scipy CG", 300, 3, 0)
    assert a.extra["iterations"] == 3 and b.extra["iterations"] == 3
    assert a.seconds > 0 and b.seconds > 0
    # Both minimise the same cost from the same start (checked against the L-BFGS pair, whose
    # iterates agree to the last digits when the cost and the start agree):
    c = pool.call("numpy", "w2:job_w2", "bpnet_xp:numpy lbfgs", 300, 3, 0)
    d = pool.call("numpy", "w2:job_w2", "numpy+scipy L-BFGS-B", 300, 3, 0)
    assert c.loss == pytest.approx(d.loss, rel=1e-6)


@pytest.mark.skipif(not (_has("numba") and _has("threadpoolctl")), reason="needs numba and threadpoolctl")
def test_relu_pieces_script_times_both_ways_of_every_piece():
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_relu_pieces.py"), "--fits", "2", "--threads", "1"],
                          capture_output=True, text=True, env=ENV, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().endswith(" us")]
    inside = [r for r in rows if r[-3] in ("loop", "numpy")]
    assert len(inside) == 8  # two pieces x two widths x the loop and NumPy's passes
    assert all(math.isfinite(float(r[-2])) and float(r[-2]) > 0 for r in rows) and len(rows) == 11
