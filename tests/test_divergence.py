"""Divergence is reported, never success (issue 12, item 5).

The driver's rule (bpnet_xp/training.py): a run has diverged when its loss is not
finite, or when for 3 consecutive epochs it is above both 1000 x the lowest loss so far
and the first loss; it stops, warns at the caller's line, sets ``stop_reason`` to
"diverged: ...", and keeps the parameters of the lowest loss.  The references below are
a gradient-descent loop written here in NumPy float64 and the rule applied by hand to
its losses.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.cli import main

from reference import cost as reference_cost


def _host(a):
    return bp.backend.to_numpy(a).astype(np.float64)


def _linear_problem(m=30):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, 2))
    return X, X @ np.array([1.5, -2.0]) + 0.5


def _reference_gd(theta, X, y, rate, epochs):
    """Full-batch gradient descent on J = sum(r^2) / (2m) of the linear model; theta = [w1, w2, b].

    Returns the parameters before each update (theta_0 .. theta_epochs) and their J.
    """
    m, points, losses = X.shape[0], [], []
    with np.errstate(all="ignore"):
        for count in range(epochs + 1):
            r = X @ theta[:2] + theta[2] - y
            points.append(theta)
            losses.append(float(r @ r / (2 * m)))
            grad = np.concatenate([X.T @ r / m, [r.sum() / m]])
            theta = theta - rate(count) * grad
    return points, losses


def _reference_stop(losses):
    """The documented rule on the epoch losses: (epochs recorded, index of the lowest, how)."""
    above = 0
    for k, loss in enumerate(losses):
        if not np.isfinite(loss):
            return k, int(np.argmin(losses[:k])), "non-finite"
        lowest = min(losses[: k + 1])
        above = above + 1 if loss > max(1e3 * lowest, losses[0]) else 0
        if above == 3:
            return k + 1, int(np.argmin(losses[: k + 1])), "rule"
    raise AssertionError("the reference run did not diverge")


def _fit_quietly(net, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' own overflow warnings
        warnings.simplefilter("always", RuntimeWarning)
        with pytest.warns(RuntimeWarning, match="^diverged") as record:
            with np.errstate(all="ignore"):
                history = net.fit(*args, **kwargs)
    ours = [w for w in record if str(w.message).startswith("diverged")]
    assert [w.filename for w in ours] == [__file__]  # one warning, on the caller's line
    return history


# The rate is small for 5 updates (the loss falls), then too large: by the rule (rate 5:
# the loss grows about 16-fold per epoch) or to an overflow of float64 (rate 1e200).
@pytest.mark.parametrize("late_rate, how", [(5.0, "rule"), (1e200, "non-finite")])
def test_divergence_stops_and_keeps_the_parameters_of_the_lowest_loss(backend, late_rate, how):
    X, y = _linear_problem()
    net = bp.MLP([2, 1], output="identity", loss="mse", l2=0.0, backend=backend, dtype="float64", seed=0)
    theta0 = _host(net.theta)

    def rate(count):
        return 0.1 if count < 5 else late_rate

    points, losses = _reference_gd(theta0, X, y, rate, epochs=60)
    n_iter, best, kind = _reference_stop(losses)
    assert kind == how and 4 <= best < n_iter, (kind, best, n_iter)
    history = _fit_quietly(net, X, y, optimizer="gd", epochs=200, learning_rate=rate)
    assert history.stop_reason.startswith("diverged")
    assert ("non-finite loss" in history.stop_reason) == (how == "non-finite")
    assert f"start of epoch {best + 1}, where the loss was lowest" in history.stop_reason
    assert history.n_iter == n_iter
    np.testing.assert_allclose(history.loss, losses[:n_iter], rtol=1e-9)
    np.testing.assert_allclose(_host(net.theta), points[best], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer, rate", [("gd", 1e6), ("adam", 1e3)])
def test_the_issues_classifier_runs_are_reported_as_diverged(optimizer, rate):
    # Issue 12: these ran 50 epochs to "maximum epochs reached" with a loss of 1e5 and no warning.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = (X[:, 0] > 0).astype(int)
    net = bp.MLP([4, 8, 2], output="softmax", dtype="float64", seed=0)
    theta0 = _host(net.theta)
    history = _fit_quietly(net, X, y, optimizer=optimizer, learning_rate=rate, epochs=50)
    losses = history.loss
    n_iter, best, kind = _reference_stop(losses + [np.inf])  # the rule on the recorded losses
    assert kind == "rule" and history.n_iter == n_iter < 50
    assert history.stop_reason.startswith("diverged: the loss stayed above 1000 x")
    # The lowest loss is the first (J at the initial parameters): they are what is kept.
    assert best == 0
    np.testing.assert_array_equal(_host(net.theta), theta0)
    assert net.loss(X, y) == pytest.approx(
        reference_cost(theta0, [4, 8, 2], X, y, output="softmax", loss="softmax_cross_entropy",
                       l2=net.l2), rel=1e-12)


@pytest.mark.parametrize("optimizer", ["gd", "adam", "cg"])
def test_a_non_finite_loss_at_the_initial_point_says_nothing_finite_is_kept(backend, optimizer):
    # Finite float32 weights of 1e30 make the squared error overflow float32 at the start.
    X, y = _linear_problem(8)
    net = bp.MLP([2, 1], output="identity", loss="mse", l2=0.0, backend=backend, dtype="float32", seed=0)
    net.theta = np.full(3, 1e30, dtype=np.float32)
    with np.errstate(all="ignore"):  # the reference: J in float32 overflows
        r = X.astype(np.float32) @ np.full(2, 1e30, np.float32) + np.float32(1e30) - y.astype(np.float32)
        assert not np.isfinite(np.sum(r * r))
    history = _fit_quietly(net, X, y, optimizer=optimizer, epochs=5, max_iter=5)
    assert history.stop_reason.startswith("diverged")
    assert "no parameters with a finite loss" in history.stop_reason
    assert "last parameters with a finite loss" not in history.stop_reason
    assert history.n_iter == 0 and history.loss == []
    np.testing.assert_array_equal(_host(net.theta), np.full(3, 1e30, np.float32).astype(np.float64))


def test_a_converging_run_is_not_called_diverged():
    X, y = _linear_problem()
    net = bp.MLP([2, 1], output="identity", loss="mse", l2=0.0, dtype="float64", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = net.fit(X, y, optimizer="gd", epochs=100, learning_rate=0.5)
    assert history.stop_reason == "maximum epochs reached"


def test_a_diverging_partial_fit_is_reported():
    pytest.importorskip("sklearn")
    import bpnet_xp.sklearn as sklearn_module

    X, y = _linear_problem()
    reg = sklearn_module.BPRegressor(hidden_layer_sizes=(), optimizer="gd", learning_rate=1e200, l2=0.0,
                                     backend="numpy", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            reg.partial_fit(X, y)
            reg.partial_fit(X, y)
    assert reg.stop_reason_.startswith("diverged")


# ---------------------------------------------------------------------------------------
# The command line: exit status 1, no model written, no number of hundreds of digits.


def _regression_csv(path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.standard_normal(100)
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    return path


@pytest.mark.parametrize("json_mode", [False, True])
def test_train_that_diverges_exits_1_and_leaves_the_model_file(tmp_path, capsys, json_mode):
    data = _regression_csv(tmp_path / "regression.csv")
    model = tmp_path / "d.npz"
    model.write_bytes(b"a good model")
    argv = ["train", "--csv", str(data), "--optimizer", "sgd", "--learning-rate", "1e6", "--epochs", "50",
            "--save", str(model)] + (["--json"] if json_mode else [])
    with np.errstate(all="ignore"):
        status = main(argv)
    out, err = capsys.readouterr()
    assert status == 1
    assert model.read_bytes() == b"a good model"
    assert "error: training diverged" in err and "not saved" in err
    longest = max(len(number) for number in re.findall(r"[-+0-9.eE]+", out + err))
    assert longest < 30, f"a number of {longest} characters was printed"
    if json_mode:
        import json
        record = json.loads(out.strip().splitlines()[-1])
        assert record["diverged"] is True and record["model"] is None
        assert record["stop_reason"].startswith("diverged")


def test_train_without_a_model_file_that_diverges_exits_1(tmp_path, capsys):
    data = _regression_csv(tmp_path / "regression.csv")
    with np.errstate(all="ignore"):
        status = main(["train", "--csv", str(data), "--optimizer", "gd", "--learning-rate", "1e6",
                       "--epochs", "50", "--save", str(tmp_path / "new.npz")])
    assert status == 1 and not (tmp_path / "new.npz").exists()
    assert list(tmp_path.iterdir()) == [data]


@pytest.mark.parametrize("value", [-3.0159e299, 2.5e17, -12345.678, np.inf])
def test_scores_are_printed_with_a_bounded_number_of_digits(value):
    from bpnet_xp.cli.report import format_score

    text = format_score("r2", value)
    assert len(text) <= 12
    assert float(text) == pytest.approx(value, rel=1e-3) if np.isfinite(value) else text == "inf"
    assert format_score("r2", 0.97112) == "0.9711"  # ordinary scores keep four decimals


def test_train_that_diverges_reports_the_loss_of_the_kept_parameters(tmp_path, capsys):
    # A linear regression (no hidden layer, no penalty, raw inputs, all rows trained on) that
    # gd with a huge step drives away at once: the network keeps its initial parameters, so
    # the loss of what it keeps is the loss at the seed's initial weights, computed here by
    # the NumPy float64 formula of mse (1/(2m) sum of squared residuals).
    data = _regression_csv(tmp_path / "regression.csv")
    argv = ["train", "--csv", str(data), "--optimizer", "gd", "--learning-rate", "1e6", "--epochs", "20",
            "--hidden", "none", "--l2", "0", "--no-standardize", "--test-fraction", "0", "--json"]
    with np.errstate(all="ignore"):
        status = main(argv)
    out, _ = capsys.readouterr()
    record = __import__("json").loads(out.strip().splitlines()[-1])
    assert status == 1 and record["diverged"] is True
    table = np.loadtxt(data, delimiter=",")
    X, y = table[:, :3], table[:, 3]
    theta = np.asarray(bp.MLP([3, 1], output="identity", loss="mse", dtype="float64", seed=0).theta)
    expected = 0.5 * np.mean((X @ theta[:3] + theta[3] - y) ** 2)
    assert record["kept_loss"] == pytest.approx(expected, rel=1e-9)
    assert record["final_loss"] is None or record["final_loss"] > 1e3 * expected  # the diverged one
    with np.errstate(all="ignore"):
        main(argv[:-1])
    out, _ = capsys.readouterr()
    kept = [line for line in out.splitlines() if line.startswith("kept:")]
    assert len(kept) == 1 and f"{expected:.6g}" in kept[0] and "lowest finite loss" in kept[0], out
