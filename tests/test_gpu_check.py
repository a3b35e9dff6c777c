"""scripts/gpu_check.sh rehearsed on the CPU, so a typo cannot waste the GPU machine's minutes.

``--dry-run`` runs every step of the GPU run (wheels, the suite on the cupy and torch-cuda
cases, W3, the report) with numpy in place of cupy, torch on cpu in place of cuda and tiny
sizes; ``--plan`` prints the GPU run's own commands, which are checked against what issue 16
asks for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.sh"

pytestmark = [
    pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/gpu_check.sh needs bash"),
    pytest.mark.skipif(shutil.which("timeout") is None, reason="scripts/gpu_check.sh needs coreutils' timeout"),
]


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHON": sys.executable, **env}
    environ.pop("BPNET_XP_REQUIRE_BACKENDS", None)  # the script sets its own per step
    environ.pop("BPNET_XP_TORCH_DEVICE", None)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=300)


def test_script_parses():
    # bash -n reads every branch, the GPU-only ones too, without running any.
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_usage_without_an_output_folder():
    proc = _run()
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_plan_runs_what_issue_16_asks_for(tmp_path):
    proc = _run("--plan", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split("]")[0].lstrip("["): line for line in proc.stdout.splitlines() if line.startswith("[")}
    assert set(lines) >= {"wheels", "tests_cupy, 130s", "tests_torch, 130s", "bench_w3, 180s"}
    cupy, torch = lines["tests_cupy, 130s"], lines["tests_torch, 130s"]
    assert "BPNET_XP_REQUIRE_BACKENDS=cupy" in cupy and "-k cupy tests" in cupy
    assert "BPNET_XP_TORCH_DEVICE=cuda" in torch and "BPNET_XP_REQUIRE_BACKENDS=torch" in torch
    bench = lines["bench_w3, 180s"]
    assert "--workloads w3 --backends cupy,torch:cuda" in bench and "--quick" not in bench
    # The per-step limits leave the whole run under 8 minutes.
    limits = [int(m) for m in re.findall(r", (\d+)s\]", proc.stdout)]
    assert sum(limits) + 20 < 8 * 60
    assert not any(tmp_path.iterdir())  # a plan runs nothing


@pytest.mark.skipif(not _has("array_api_compat"), reason="bpnet_xp needs array-api-compat")
def test_dry_run_end_to_end(tmp_path):
    proc = _run("--dry-run", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == ["wheels", "tests_cupy", "tests_torch", "bench_w3"]
    assert report["passed"] is True
    assert re.fullmatch(r"\d+ passed.* in [0-9.]+s", steps["tests_cupy"]["summary"]), steps["tests_cupy"]
    if _has("torch"):
        assert steps["tests_torch"]["status"] == "passed"
        assert re.fullmatch(r"\d+ passed.* in [0-9.]+s", steps["tests_torch"]["summary"])
        assert "torch:cpu LBFGS" in report["w3"]["lbfgs"]["implementations"]
    else:
        assert steps["tests_torch"]["status"].startswith("skipped")
    assert report["versions"]["numpy"] == __import__("numpy").__version__
    w3 = report["w3"]
    assert w3["device"].startswith("cpu") and set(w3["batches"]) == {"64", "256"}
    lbfgs = w3["lbfgs"]["implementations"]["bpnet_xp:numpy"]
    assert lbfgs["iterations"] == 3 and lbfgs["seconds_per_iteration"] > 0
    markdown = (tmp_path / "out" / "gpu_check.md").read_text()
    assert steps["tests_cupy"]["summary"] in markdown and "full-batch L-BFGS" in markdown
    # What comes back from the device machine: at most 8 files.
    assert len(list((tmp_path / "out").iterdir())) <= 8


def test_a_failing_step_is_reported_and_fails_the_run(tmp_path):
    # An unknown option makes pytest and the benchmark exit at once with an error.
    proc = _run("--dry-run", str(tmp_path), GPU_CHECK_PYTEST_ARGS="--no-such-option",
                GPU_CHECK_BENCH_ARGS="--no-such-option")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = {s["step"]: s for s in report["steps"]}
    assert report["passed"] is False
    assert steps["tests_cupy"]["status"].startswith("failed")
    assert steps["bench_w3"]["status"].startswith("failed")
