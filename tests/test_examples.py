"""The example scripts (scripts/*.py) as tests, each against an independent reference.

Each script has ``main(argv) -> dict``; these tests call it in-process with
``--backend`` set, and one runs a script as a subprocess to cover its ``__main__``.
References: the textbook NumPy cost of tests/reference.py, numpy.linalg.lstsq for
linear regression, a Newton (IRLS) fit for logistic regression, and the thresholds
of issue 3 for digits.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bpnet_xp as bp

from conftest import make_backend
from reference import cost as reference_cost

ROOT = Path(__file__).resolve().parent.parent

# (id, backend, device): the reference backend, the conformance gate on two devices, torch.
EXAMPLE_BACKENDS = [
    ("numpy", "numpy", None),
    ("array_api_strict", "array_api_strict", None),
    ("array_api_strict-device1", "array_api_strict", "device1"),
    ("torch", "torch", None),
]


@pytest.fixture(params=EXAMPLE_BACKENDS, ids=[p[0] for p in EXAMPLE_BACKENDS])
def backend_args(request) -> list[str]:
    """``--backend NAME [--device D]`` for each backend that can run here (skips otherwise)."""
    _, name, device = request.param
    make_backend(name, device)  # skip (or fail when required) with the reason
    return ["--backend", name] + (["--device", device] if device else [])


def load(name: str):
    """Import scripts/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(f"bpnet_xp_example_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------
# XOR


def test_xor_predicts_0_1_1_0(backend_args, capsys):
    numpy_run = backend_args[1] == "numpy"
    epochs = 5000 if numpy_run else 1500  # the other backends: a shorter run, same numbers
    result = load("xor").main(backend_args + ["--epochs", str(epochs), "--every", "500"])
    out = capsys.readouterr().out
    assert result["predictions"] == [0, 1, 1, 0]
    assert "predictions: 0 1 1 0" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == \
        [f"{k}/{epochs}" for k in range(500, epochs + 1, 500)]
    # The first epoch's loss is the textbook mse cost (1/2m) sum (h - y)^2 of the initial weights.
    theta0 = bp.MLP([2, 10, 1], dtype="float64", seed=0, backend="numpy").theta
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    assert result["loss"][0] == pytest.approx(
        reference_cost(theta0, [2, 10, 1], X, y, output="sigmoid", loss="mse"), rel=1e-12)
    if numpy_run:
        assert result["loss"][-1] < 1e-3
        outputs = np.array(result["outputs"])
        assert np.all(np.abs(outputs - y) < 0.1)
    else:
        reference = load("xor").main(["--backend", "numpy", "--epochs", str(epochs), "--every", "0"])
        np.testing.assert_allclose(result["loss"], reference["loss"], rtol=1e-10)


def test_xor_runs_as_a_script():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "xor.py"), "--backend", "numpy",
                           "--epochs", "1500", "--every", "500"],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("XOR: 2-10-1 sigmoid network")
    assert [line.split()[1] for line in lines if line.startswith("epoch")] == ["500/1500", "1000/1500", "1500/1500"]
    assert lines[-1] == "predictions: 0 1 1 0"


# ---------------------------------------------------------------------------------------
# Linear regression


def test_linear_regression_recovers_the_coefficients(backend_args, capsys):
    result = load("linear_regression").main(backend_args)
    assert "largest |learned - true|" in capsys.readouterr().out
    # Independent reference: ordinary least squares on [X, 1].
    X, y = result["X"], result["y"]
    solution, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)
    np.testing.assert_allclose(result["coef"], solution[:-1], rtol=0, atol=1e-8)
    assert result["intercept"] == pytest.approx(solution[-1], abs=1e-8)
    # ... and the true coefficients of the synthetic problem, to 1e-2.
    np.testing.assert_allclose(result["coef"], result["true_coef"], rtol=0, atol=1e-2)
    assert result["intercept"] == pytest.approx(result["true_intercept"], abs=1e-2)
    assert result["max_error"] < 1e-2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linear_regression_other_seeds(seed):
    result = load("linear_regression").main(["--backend", "numpy", "--seed", str(seed)])
    np.testing.assert_allclose(result["coef"], result["true_coef"], rtol=0, atol=1e-2)


# ---------------------------------------------------------------------------------------
# Logistic regression


def newton_logistic_regression(X, y, iterations=50):
    """Maximum-likelihood logistic regression by Newton's method (IRLS), in NumPy float64.

    w <- w - H^{-1} g with g = A^T (p - y) / m and H = A^T diag(p (1 - p)) A / m, A = [1, X].
    Returns (intercept, coefficients, mean cross-entropy).
    """
    A = np.column_stack([np.ones(len(X)), X])
    w = np.zeros(A.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-A @ w))
        g = A.T @ (p - y) / len(y)
        H = (A * (p * (1 - p))[:, None]).T @ A / len(y)
        step = np.linalg.solve(H, g)
        w = w - step
        if np.max(np.abs(step)) < 1e-14:
            break
    z = A @ w
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    return w[0], w[1:], loss


def _accuracy(intercept, coef, X, y):
    return np.mean(((X @ coef + intercept) >= 0) == (y == 1))


def test_logistic_regression_matches_newton(backend_args, capsys):
    result = load("logistic_regression").main(backend_args)
    assert "training accuracy" in capsys.readouterr().out
    X, y = result["X"], result["y"]
    intercept, coef, loss = newton_logistic_regression(X, y)
    assert result["accuracy"] >= _accuracy(intercept, coef, X, y)
    # The loss is convex with a unique minimiser (the classes overlap): same point, same loss.
    assert result["loss"] == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(result["coef"], coef, rtol=0, atol=1e-4)
    assert result["intercept"] == pytest.approx(intercept, abs=1e-4)


@pytest.mark.parametrize("optimizer", ["gd", "cg", "adam"])
def test_logistic_regression_other_optimizers_reach_the_newton_accuracy(optimizer):
    result = load("logistic_regression").main(["--backend", "numpy", "--optimizer", optimizer, "--epochs", "300"])
    X, y = result["X"], result["y"]
    intercept, coef, loss = newton_logistic_regression(X, y)
    assert result["accuracy"] >= _accuracy(intercept, coef, X, y)
    assert result["loss"] == pytest.approx(loss, rel=1e-3)


# ---------------------------------------------------------------------------------------
# Digits


def test_digits_is_the_same_on_every_backend(backend_args, capsys):
    argv = ["--seed", "0", "--max-iter", "8"]
    result = load("digits").main(backend_args + argv)
    out = capsys.readouterr().out
    assert "1347 training / 450 held-out" in out and "network 64-25-10 sigmoid" in out
    assert [r["inputs"] for r in result["runs"]] == ["raw", "standardised"]
    for r in result["runs"]:
        assert (r["n_train"], r["n_test"]) == (1347, 450) and r["n_iter"] == 8
    if backend_args[1] != "numpy":
        reference = load("digits").main(["--backend", "numpy"] + argv)
        for mine, ref in zip(result["runs"], reference["runs"]):
            assert mine["loss"] == pytest.approx(ref["loss"], rel=1e-10)
            assert mine["train_accuracy"] == ref["train_accuracy"]
            assert mine["test_accuracy"] == ref["test_accuracy"]


def test_digits_adam_single_seed_and_curve():
    result = load("digits").main(["--backend", "numpy", "--optimizer", "adam", "--epochs", "5",
                                  "--inputs", "standardised", "--curve"])
    run = result["runs"][0]
    assert run["n_iter"] == 5 and len(run["train_accuracy_curve"]) == 5
    assert run["n_evaluations"] == 5 * 22  # ceil(1347 / 64) = 22 mini-batches per epoch
    assert run["train_accuracy_curve"][-1] == pytest.approx(run["train_accuracy"])


SEEDS = ["0", "1", "2", "3", "4"]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["cg", "lbfgs"])
def test_digits_must_show_medians_over_seeds(optimizer):
    # Issue 3: 64-25-10, l2=1, 50 iterations, float64, 25 % held out; medians over seeds 0-4:
    # train >= 93 % raw and >= 99 % standardised, test >= 88 % raw and >= 94 % standardised.
    # L-BFGS must reach the same thresholds in no more iterations (50).
    result = load("digits").main(["--backend", "numpy", "--optimizer", optimizer, "--max-iter", "50",
                                  "--seeds", *SEEDS])
    median = result["median"]
    assert median["raw"]["train_accuracy"] >= 0.93
    assert median["standardised"]["train_accuracy"] >= 0.99
    assert median["raw"]["test_accuracy"] >= 0.88
    assert median["standardised"]["test_accuracy"] >= 0.94
    assert all(r["n_iter"] <= 50 for r in result["runs"])
    # Medians recomputed here from the individual runs (the script's own medians are not trusted).
    for inputs in ("raw", "standardised"):
        accs = [r["test_accuracy"] for r in result["runs"] if r["inputs"] == inputs]
        assert len(accs) == 5 and statistics.median(accs) == median[inputs]["test_accuracy"]


@pytest.mark.slow
def test_digits_adam_mini_batches_reach_96_percent():
    result = load("digits").main(["--backend", "numpy", "--optimizer", "adam", "--inputs", "standardised",
                                  "--seeds", *SEEDS])
    accs = [r["test_accuracy"] for r in result["runs"]]
    assert statistics.median(accs) >= 0.96
    assert all(r["n_evaluations"] > r["n_iter"] for r in result["runs"])  # mini-batches, not full batches
