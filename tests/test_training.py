"""Tests of the training loop (bpnet_xp.training.fit) on every backend.

References are independent of bpnet_xp: the NumPy float64 cost of tests/reference.py
(textbook formulas, explicit bias columns) and its central-difference gradient, with
the batch order re-drawn here from numpy.random.default_rng(seed).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.training import History, fit

from conftest import make_backend
from reference import cost as reference_cost
from reference import numerical_gradient

SIZES = [2, 3, 1]


def _classification(m=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 2))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=m) > 0).astype(np.int64)
    return X, y


def _net(backend, sizes=SIZES, seed=0, **kw):
    if not backend.has_float64:
        pytest.skip(f"{backend} has no float64")
    return bp.MLP(sizes, backend=backend, dtype="float64", seed=seed, **kw)


def _host(a):
    return bp.backend.to_numpy(a).astype(np.float64)


def _ref_grad(theta, X, y, l2=0.0, sizes=SIZES, **kw):
    return numerical_gradient(lambda t: reference_cost(t, sizes, X, y, l2=l2, **kw), theta)


# ---------------------------------------------------------------------------------------
# Hand-computed steps.


def test_one_epoch_full_batch_gd_is_one_gradient_step(backend):
    X, y = _classification()
    net = _net(backend, l2=0.5)
    theta0 = _host(net.theta)
    lr = 0.3
    hist = net.fit(X, y, optimizer="gd", epochs=1, learning_rate=lr)
    # theta1 = theta0 - lr * dJ/dtheta(theta0), the gradient by central differences of the
    # textbook cost; the epoch loss is J(theta0) (full batch: evaluated before the step).
    expected = theta0 - lr * _ref_grad(theta0, X, y, l2=0.5)
    np.testing.assert_allclose(_host(net.theta), expected, rtol=0, atol=1e-9)
    assert hist.loss == pytest.approx([reference_cost(theta0, SIZES, X, y, l2=0.5)], rel=1e-12)
    assert hist.n_iter == 1 and hist.optimizer == "gd"
    assert hist.stop_reason == "maximum epochs reached"
    assert net.history is hist


def test_minibatch_gd_follows_the_seeded_batch_order_and_full_set_penalty(backend):
    X, y = _classification(m=10)
    net = _net(backend, l2=0.4)
    theta = _host(net.theta)
    lr, seed, m, bs = 0.5, 7, 10, 4
    hist = net.fit(X, y, optimizer="gd", epochs=2, batch_size=bs, learning_rate=lr, seed=seed)
    # Re-draw the batch order: one permutation per epoch from default_rng(seed); batches of
    # 4, 4, 2 rows.  Each batch estimates J with its mean data loss and the penalty of the
    # whole training set, (l2 / (2 m)) sum W^2 -- i.e. the reference cost with l2 * mb / m.
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(2):
        perm = rng.permutation(m)
        total = 0.0
        for lo in range(0, m, bs):
            rows = perm[lo:lo + bs]
            l2b = 0.4 * len(rows) / m
            total += len(rows) * reference_cost(theta, SIZES, X[rows], y[rows], l2=l2b)
            theta = theta - lr * _ref_grad(theta, X[rows], y[rows], l2=l2b)
        losses.append(total / m)
    np.testing.assert_allclose(_host(net.theta), theta, rtol=0, atol=1e-9)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)


def test_batch_size_one_without_shuffle_is_sequential_per_sample_steps(backend):
    X, y = _classification(m=3)
    net = _net(backend)
    theta = _host(net.theta)
    lr = 0.7
    hist = net.fit(X, y, optimizer="gd", epochs=1, batch_size=1, shuffle=False, learning_rate=lr)
    total = 0.0
    for i in range(3):  # rows in their given order, one update each
        total += reference_cost(theta, SIZES, X[i:i + 1], y[i:i + 1])
        theta = theta - lr * _ref_grad(theta, X[i:i + 1], y[i:i + 1])
    np.testing.assert_allclose(_host(net.theta), theta, rtol=0, atol=1e-9)
    assert hist.loss[0] == pytest.approx(total / 3, rel=1e-10)


def test_sgd_full_batch_momentum_two_epochs(backend):
    X, y = _classification()
    net = _net(backend)
    t0 = _host(net.theta)
    lr, mu = 0.2, 0.9
    net.fit(X, y, optimizer="sgd", epochs=2, batch_size=None, learning_rate=lr, momentum=mu)
    # Heavy ball: v1 = -lr g(t0); t1 = t0 + v1; v2 = mu v1 - lr g(t1); t2 = t1 + v2.
    v1 = -lr * _ref_grad(t0, X, y)
    t1 = t0 + v1
    t2 = t1 + mu * v1 - lr * _ref_grad(t1, X, y)
    np.testing.assert_allclose(_host(net.theta), t2, rtol=0, atol=1e-9)


def test_adam_full_batch_one_epoch(backend):
    X, y = _classification()
    net = _net(backend)
    t0 = _host(net.theta)
    net.fit(X, y, optimizer="adam", epochs=1, batch_size=None, learning_rate=0.01)
    # First Adam step (Kingma & Ba): mu_hat = g, nu_hat = g^2, so the step is
    # -lr * g / (|g| + eps).
    g = _ref_grad(t0, X, y)
    np.testing.assert_allclose(_host(net.theta), t0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-7)


# ---------------------------------------------------------------------------------------
# Reproducibility across backends.


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam", "cg", "lbfgs"])
def test_same_seed_same_loss_history_as_numpy(backend, optimizer):
    X, y = _classification(m=40, seed=3)
    options = dict(epochs=15, batch_size=8, learning_rate=0.05) if optimizer in ("gd", "sgd", "adam") \
        else dict(max_iter=15)
    histories = []
    for be in (make_backend("numpy"), backend):
        net = _net(be, sizes=[2, 4, 1], seed=5, l2=0.1)
        histories.append(net.fit(X, y, optimizer=optimizer, seed=11, **options).loss)
    assert len(histories[0]) == len(histories[1]) > 0
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-10)


def test_same_seed_same_history_and_different_seed_differs():
    X, y = _classification(m=30)
    be = make_backend("numpy")
    runs = [_net(be).fit(X, y, optimizer="sgd", epochs=3, batch_size=5, seed=s).loss for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_seed_none_derives_the_batch_order_from_the_network_seed():
    X, y = _classification(m=30)
    be = make_backend("numpy")
    a = _net(be, seed=4).fit(X, y, optimizer="sgd", epochs=3, batch_size=5).loss
    b = _net(be, seed=4).fit(X, y, optimizer="sgd", epochs=3, batch_size=5).loss
    assert a == b


# ---------------------------------------------------------------------------------------
# Validation, early stopping, divergence.


def test_validation_fraction_holds_out_the_last_rows_of_the_seeded_permutation(backend):
    X, y = _classification(m=10)
    net = _net(backend)
    theta0 = _host(net.theta)
    seen = []
    hist = net.fit(X, y, optimizer="gd", epochs=2, learning_rate=0.1, validation_fraction=0.25, seed=3,
                   callbacks=lambda epoch, n, h: seen.append(_host(n.theta)))
    # ceil(0.25 * 10) = 3 validation rows: the last 3 of default_rng(3).permutation(10).
    perm = np.random.default_rng(3).permutation(10)
    train, val = perm[:7], perm[7:]
    assert hist.loss[0] == pytest.approx(reference_cost(theta0, SIZES, X[train], y[train]), rel=1e-12)
    for k in range(2):
        expected = reference_cost(seen[k], SIZES, X[val], y[val])
        assert hist.val_loss[k] == pytest.approx(expected, rel=1e-10)
        # Accuracy over 3 rows: a multiple of 1/3, recomputed from the reference forward pass.
        p = _reference_output(seen[k], X[val])
        assert hist.val_score[k] == pytest.approx(np.mean((p >= 0.5) == (y[val] == 1)))
    assert len(hist.time) == 2 and hist.time[0] <= hist.time[1]


def _reference_output(theta, X, sizes=SIZES):
    from reference import unroll_to_thetas

    a = X
    for T in unroll_to_thetas(theta, sizes):
        a = 1.0 / (1.0 + np.exp(-(np.column_stack([np.ones(len(a)), a]) @ T.T)))
    return a[:, 0]


@pytest.mark.parametrize("fraction, m, n_val", [(0.1, 10, 1), (0.5, 4, 2), (0.34, 3, 2), (0.2, 11, 3)])
def test_validation_split_sizes(fraction, m, n_val):
    X, y = _classification(m=m)
    net = _net(make_backend("numpy"))
    theta0 = _host(net.theta)
    seen = []
    hist = net.fit(X, y, optimizer="gd", epochs=1, validation_fraction=fraction, seed=0,
                   callbacks=lambda epoch, n, h: seen.append(_host(n.theta)))
    # n_val = ceil(fraction * m), written out by hand in the parametrisation.
    perm = np.random.default_rng(0).permutation(m)
    train, val = perm[:m - n_val], perm[m - n_val:]
    assert hist.loss[0] == pytest.approx(reference_cost(theta0, SIZES, X[train], y[train]), rel=1e-12)
    assert hist.val_loss[0] == pytest.approx(reference_cost(seen[0], SIZES, X[val], y[val]), rel=1e-12)


def test_validation_fraction_that_leaves_nothing_is_an_error():
    X, y = _classification(m=4)
    net = _net(make_backend("numpy"))
    with pytest.raises(ValueError, match="validation"):
        net.fit(X, y, optimizer="gd", epochs=1, validation_fraction=0.9)
    with pytest.raises(ValueError, match="validation_fraction"):
        net.fit(X, y, optimizer="gd", epochs=1, validation_fraction=1.0)
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, y, optimizer="gd", epochs=1, validation_fraction=0.5, validation_data=(X, y))


def _rising_validation_problem():
    # Training targets y = 2 x, validation targets y = x: gradient descent moves the slope
    # from 0 towards 2, so the validation loss falls until the slope passes 1 and
    # then rises -- its minimum lies strictly inside the run.
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(20, 1))
    Xv = rng.uniform(-1, 1, size=(20, 1))
    return X, 2 * X[:, 0], Xv, Xv[:, 0]


def _overfitting_problem():
    # 8 noisy samples of sin(3x) and a 1-8-1 tanh network: L-BFGS fits the noise, so the
    # loss on clean validation samples falls for a few iterations and then rises.
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(8, 1))
    y = np.sin(3 * X[:, 0]) + 0.5 * rng.normal(size=8)
    Xv = np.linspace(-1, 1, 40)[:, None]
    return X, y, Xv, np.sin(3 * Xv[:, 0])


@pytest.mark.parametrize("optimizer", ["gd", "lbfgs"])
def test_early_stopping_restores_the_best_weights(backend, optimizer):
    if optimizer == "gd":
        X, y, Xv, yv = _rising_validation_problem()
        sizes, kw, options = [1, 1], dict(activation="identity"), dict(epochs=300, learning_rate=0.3)
        net = _net(backend, sizes=sizes, output="identity", loss="mse", seed=1)
        net.theta = np.array([0.0, 0.0])  # slope 0: the validation loss falls first
    else:
        X, y, Xv, yv = _overfitting_problem()
        sizes, kw, options = [1, 8, 1], dict(activation="tanh"), dict(max_iter=200)
        net = _net(backend, sizes=sizes, output="identity", loss="mse", seed=1, activation="tanh")
    seen = []
    hist = net.fit(X, y, optimizer=optimizer, validation_data=(Xv, yv), early_stopping=True, patience=3,
                   tol=0.0, callbacks=lambda epoch, n, h: seen.append(_host(n.theta)), **options)
    # The reference validation loss of every recorded theta; its first minimum is the best epoch.
    ref = [reference_cost(t, sizes, Xv, yv, output="identity", loss="mse", **kw) for t in seen]
    best = int(np.argmin(ref)) + 1
    assert 1 < best < len(seen), "the validation loss must fall and then rise"
    assert hist.best_iteration == best
    assert hist.n_iter == best + 3 == len(seen)
    assert hist.stop_reason.startswith("early stopping")
    np.testing.assert_array_equal(_host(net.theta), seen[best - 1])
    np.testing.assert_allclose(hist.val_loss, ref, rtol=1e-10)


def test_early_stopping_without_validation_monitors_the_training_loss():
    X, y, _, _ = _rising_validation_problem()
    net = _net(make_backend("numpy"), sizes=[1, 1], output="identity", loss="mse")
    hist = net.fit(X, y, optimizer="gd", epochs=1000, learning_rate=0.5, early_stopping=True, patience=2, tol=1e-3)
    assert hist.n_iter < 1000 and "training loss" in hist.stop_reason
    assert hist.val_loss == [] and hist.best_iteration is not None


@pytest.mark.parametrize("optimizer, options", [
    ("gd", dict(learning_rate=50.0)),
    ("sgd", dict(learning_rate=20.0, batch_size=1, momentum=0.9)),
])
def test_divergence_stops_with_a_clear_message_and_finite_weights(backend, optimizer, options):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3)) * 3
    y = X @ np.array([1.0, -2.0, 3.0])
    net = _net(backend, sizes=[3, 1], output="identity", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's own overflow warnings (NumPy, torch)
        warnings.simplefilter("always", RuntimeWarning)
        with pytest.warns(RuntimeWarning, match="^diverged") as record:
            with np.errstate(all="ignore"):
                hist = net.fit(X, y, optimizer=optimizer, epochs=2000, **options)
    ours = [w for w in record if str(w.message).startswith("diverged")]
    assert [w.filename for w in ours] == [__file__]  # attributed to the caller's line, not to bpnet_xp
    assert hist.stop_reason.startswith("diverged")
    assert "learning rate" in hist.stop_reason
    assert hist.n_iter < 2000
    theta = _host(net.theta)
    assert np.all(np.isfinite(theta))
    with np.errstate(all="ignore"):
        value = reference_cost(theta, [3, 1], X, y, activation="identity", output="identity", loss="mse")
    assert np.isfinite(value)
    assert all(np.isfinite(hist.loss))


# ---------------------------------------------------------------------------------------
# Callbacks, verbose output, options.


@pytest.mark.parametrize("optimizer", ["adam", "cg"])
def test_callback_returning_true_stops_training(backend, optimizer):
    X, y = _classification(m=20)
    net = _net(backend)
    calls = []

    def stop_at_three(epoch, n, h):
        calls.append((epoch, len(h.loss)))
        return epoch == 3

    hist = net.fit(X, y, optimizer=optimizer, epochs=50, max_iter=50, batch_size=5, callbacks=[stop_at_three])
    assert calls == [(1, 1), (2, 2), (3, 3)]
    assert hist.n_iter == 3 and len(hist.loss) == 3
    assert hist.stop_reason == "stopped by callback"


def test_verbose_prints_every_k_epochs(capsys):
    X, y = _classification(m=20)
    net = _net(make_backend("numpy"))
    hist = net.fit(X, y, optimizer="adam", epochs=6, batch_size=5, verbose=2, validation_fraction=0.2, seed=0)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    pattern = re.compile(r"^epoch (\d+)/6  loss (\d+\.\d{6})  val_loss (\d+\.\d{6})  val_score (\d\.\d{4})$")
    matches = [pattern.match(line) for line in lines]
    assert all(matches), lines
    assert [int(mt.group(1)) for mt in matches] == [2, 4, 6]
    for mt in matches:
        k = int(mt.group(1))
        assert float(mt.group(2)) == pytest.approx(hist.loss[k - 1], abs=5e-7)
        assert float(mt.group(3)) == pytest.approx(hist.val_loss[k - 1], abs=5e-7)


def test_verbose_solver_prints_iterations(capsys):
    X, y = _classification(m=20)
    net = _net(make_backend("numpy"))
    net.fit(X, y, optimizer="lbfgs", max_iter=4, gtol=0.0, ftol=0.0, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("iteration")]
    assert [line.split()[1] for line in lines] == [f"{k}/4" for k in range(1, len(lines) + 1)]
    assert len(lines) >= 1
    assert all(re.match(r"^iteration \d+/4  loss \d+\.\d{6}$", line) for line in lines)


def test_progress_is_silent_without_a_terminal(capsys):
    X, y = _classification(m=20)
    net = _net(make_backend("numpy"))
    net.fit(X, y, optimizer="gd", epochs=3, progress=True)
    assert capsys.readouterr().err == ""


def test_solver_history_matches_the_reference_cost_of_its_iterates():
    X, y = _classification(m=30)
    net = _net(make_backend("numpy"), l2=0.2)
    seen = []
    hist = net.fit(X, y, optimizer="lbfgs", max_iter=10, callbacks=lambda k, n, h: seen.append(_host(n.theta)))
    ref = [reference_cost(t, SIZES, X, y, l2=0.2) for t in seen]
    np.testing.assert_allclose(hist.loss, ref, rtol=1e-10)
    assert hist.loss[-1] < reference_cost(_host(bp.MLP(SIZES, dtype="float64", seed=0, backend="numpy").theta),
                                          SIZES, X, y, l2=0.2)
    assert isinstance(hist.as_dict()["loss"], list)
    assert hist.n_iter == len(hist.loss) == len(hist.time)


def test_history_is_a_plain_record():
    h = History(loss=[1.0], optimizer="adam")
    d = h.as_dict()
    assert d["loss"] == [1.0] and d["optimizer"] == "adam" and d["best_iteration"] is None


@pytest.mark.parametrize("bad, match", [
    (dict(optimizer="tnc"), "unknown optimizer"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(schedule="cosine"), "schedule"),
    (dict(patience=0), "patience"),
    (dict(verbose=-1), "verbose"),
    (dict(seed=-3), "seed"),
    (dict(callbacks=[1]), "callbacks"),
])
def test_bad_options_raise_value_error(bad, match):
    X, y = _classification(m=8)
    net = _net(make_backend("numpy"))
    options = dict(optimizer="sgd", epochs=1) | bad
    with pytest.raises(ValueError, match=match):
        fit(net, X, y, **options)


@pytest.mark.parametrize("schedule", ["inverse_scaling", "step", "plateau"])
def test_schedules_train(schedule):
    X, y = _classification(m=40)
    net = _net(make_backend("numpy"))
    hist = net.fit(X, y, optimizer="sgd", epochs=30, batch_size=10, learning_rate=0.5, schedule=schedule,
                   seed=0)
    assert hist.loss[-1] < hist.loss[0]


def test_inverse_scaling_full_batch_steps():
    X, y = _classification()
    net = _net(make_backend("numpy"))
    t = _host(net.theta)
    net.fit(X, y, optimizer="gd", epochs=3, learning_rate=0.4, schedule="inverse_scaling")
    for count in range(3):  # lr / (count + 1) ** 0.5 at the count-th update
        t = t - 0.4 / math.sqrt(count + 1) * _ref_grad(t, X, y)
    np.testing.assert_allclose(_host(net.theta), t, rtol=0, atol=1e-9)


def test_backend_arrays_are_accepted_and_split_on_the_device(backend):
    X, y = _classification(m=12)
    net = _net(backend)
    Xd, yd = backend.asarray(X, "float64"), backend.asarray(y)
    hist = net.fit(Xd, yd, optimizer="gd", epochs=1, validation_fraction=0.25, seed=2)
    perm = np.random.default_rng(2).permutation(12)
    theta0 = _host(bp.MLP(SIZES, dtype="float64", seed=0, backend="numpy").theta)
    assert hist.loss[0] == pytest.approx(reference_cost(theta0, SIZES, X[perm[:9]], y[perm[:9]]), rel=1e-12)


def test_progress_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    fake = Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    X, y = _classification(m=20)
    net = _net(make_backend("numpy"))
    hist = net.fit(X, y, optimizer="gd", epochs=3, progress=True)
    assert "loss=" in fake.getvalue() and "3/3" in fake.getvalue()
    assert hist.n_iter == 3


# ---------------------------------------------------------------------------------------
# The registry and the options, checked once.


def test_every_registered_optimizer_trains_and_unknown_keywords_are_refused():
    from bpnet_xp import config, optimizers, solvers

    X, y = _classification(m=12)
    for name in config.OPTIMIZER_NAMES:
        if config.is_stochastic(name):
            assert isinstance(optimizers.get_optimizer(name), optimizers.Optimizer)
        else:
            assert name in solvers.SOLVER_METHODS or callable(getattr(solvers, name, None)) or name in ("lm", "br")
        if name in ("lm", "br"):
            # Sums of squared residuals only: a classification loss is refused by name.
            with pytest.raises(ValueError, match="needs loss='mse'"):
                _net(make_backend("numpy")).fit(X, y, optimizer=name, max_iter=2)
            continue
        hist = _net(make_backend("numpy")).fit(X, y, optimizer=name, epochs=2, max_iter=2)
        assert hist.optimizer == name and 1 <= hist.n_iter <= 2
        assert config.optimizer_info(name).unit == ("epoch" if config.is_stochastic(name) else "iteration")
    with pytest.raises(TypeError, match="batchsize"):
        _net(make_backend("numpy")).fit(X, y, optimizer="sgd", batchsize=4)


@pytest.mark.parametrize("batch_size, optimizer, m, rows", [
    ("auto", "gd", 500, 500), ("auto", "sgd", 500, 200), ("auto", "adam", 150, 150),
    (None, "adam", 30, 30), (64, "gd", 30, 30), (8, "sgd", 30, 8),
])
def test_batch_size_rule(batch_size, optimizer, m, rows):
    from bpnet_xp.sources import batch_rows

    assert batch_rows(batch_size, optimizer, m) == rows


def test_fit_options_are_checked_before_the_data_is_read():
    from bpnet_xp.config import fit_options

    options = fit_options("sgd", batch_size=np.int64(16), learning_rate=np.float32(0.5), schedule="invscaling",
                          callbacks=print, verbose=True)
    assert options.batch_size == 16 and options.learning_rate == 0.5 and options.schedule == "inverse_scaling"
    assert options.callbacks == (print,) and options.verbose == 1
    assert fit_options("gd").learning_rate == 0.1 and fit_options("lbfgs").learning_rate is None
    assert options.hyperparameters() == {"momentum": 0.9, "nesterov": False}
    for bad, match in [(dict(momentum=1.0), "momentum"), (dict(momentum=0.0, nesterov=True), "nesterov"),
                       (dict(gtol=-1.0), "gtol"), (dict(memory=0), "memory"), (dict(split_every=1), "split_every"),
                       (dict(validation_data=(1,)), "pair")]:
        with pytest.raises(ValueError, match=match):
            fit_options("sgd", **bad)


def test_plateau_halves_the_learning_rate_after_five_epochs_without_progress(backend):
    # J(w, b) = ((w + b)^2 + (b - w)^2) / 4 = (w^2 + b^2) / 2 on X = [1, -1], y = 0: the
    # gradient is theta, so a full-batch gd step multiplies theta by (1 - lr).  With
    # lr = 1.999995 theta flips sign and J falls by a factor 0.99999 per epoch: after five
    # epochs it is still above (1 - 1e-4) J(epoch 1), the plateau's relative threshold, so
    # the 5th non-improving epoch (the 6th) halves the rate, and epoch 7 multiplies theta by
    # 1 - 0.9999975 = 2.5e-6 (by hand).
    X, y = np.array([[1.0], [-1.0]]), np.array([0.0, 0.0])
    net = _net(backend, sizes=[1, 1], output="identity", loss="mse")
    net.theta = np.array([1.0, 0.5])
    hist = net.fit(X, y, optimizer="gd", epochs=7, learning_rate=1.999995, schedule="plateau")
    expected = np.array([1.0, 0.5]) * (-0.999995) ** 6 * (1 - 0.9999975)
    np.testing.assert_allclose(_host(net.theta), expected, rtol=1e-6)
    j0 = (1.0 + 0.25) / 2
    np.testing.assert_allclose(hist.loss, [j0 * 0.999995 ** (2 * k) for k in range(7)], rtol=1e-9)


# ---------------------------------------------------------------------------------------
# train(..., source=...): a batch source or objective built by the caller (scikit-learn's
# sparse X goes through it).  The sources below are the tests' own NumPy float64 code.


class _ReferenceBatches:
    """Fixed batches of (X, y) evaluated by the textbook cost and its central differences."""

    def __init__(self, backend, X, y, size):
        self.backend, self.X, self.y = backend, X, y
        self.slices = [slice(lo, min(lo + size, len(X))) for lo in range(0, len(X), size)]
        self.n_batches, self.epoch_weight = len(self.slices), len(X)
        self.finite_checks = 0

    def batches(self, rng):
        yield from self.slices

    def compiled_epoch(self, optimizer):
        return None

    def evaluate(self, theta, batch):
        host = _host(theta)
        Xb, yb = self.X[batch], self.y[batch]
        grad = _ref_grad(host, Xb, yb)
        return (reference_cost(host, SIZES, Xb, yb), self.backend.asarray(grad, dtype=theta.dtype),
                Xb.shape[0])

    def finite_at(self, theta):
        self.finite_checks += 1
        return bool(np.all(np.isfinite(_host(theta))))

    def fallback(self, start_theta, safe):
        return start_theta


def test_train_runs_a_caller_built_batch_source(backend):
    from bpnet_xp.config import fit_options
    from bpnet_xp.training import train

    X, y = _classification(m=10)
    net = _net(backend)
    theta, lr, epochs = _host(net.theta), 0.5, 3
    source = _ReferenceBatches(net.backend, X, y, size=4)
    options = fit_options("gd", epochs=epochs, learning_rate=lr)
    seen = []
    result = train(net, None, None, options, source=source, validate=lambda t: (seen.append(1) or 2.0, 0.25))
    # By hand: plain gradient steps batch after batch; the epoch loss is the row-weighted
    # mean of the batch costs, each at the parameters before its step.
    losses = []
    for _ in range(epochs):
        total = 0.0
        for part in source.slices:
            total += reference_cost(theta, SIZES, X[part], y[part]) * len(X[part])
            theta = theta - lr * _ref_grad(theta, X[part], y[part])
        losses.append(total / len(X))
    np.testing.assert_allclose(_host(net.theta), theta, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.history.loss, losses, rtol=1e-9)
    assert result.history.val_loss == [2.0] * epochs and result.history.val_score == [0.25] * epochs
    assert len(seen) == epochs and source.finite_checks == 1  # the final check after the last update
    assert result.history.stop_reason == "maximum epochs reached" and net.history is result.history


def test_train_runs_a_caller_built_objective_for_the_solvers(backend):
    from bpnet_xp.config import fit_options
    from bpnet_xp.training import train

    net = _net(backend)
    xp = net.backend.xp
    n = net.theta.shape[0]
    target = np.linspace(-1.0, 1.0, n)
    c = net.backend.asarray(target, dtype=net.theta.dtype)

    def objective(theta):  # 0.5 ||theta - c||^2: its minimum is c, closed form
        d = theta - c
        return 0.5 * xp.sum(d * d), d

    history = train(net, None, None, fit_options("lbfgs", max_iter=50), source=objective).history
    np.testing.assert_allclose(_host(net.theta), target, rtol=0, atol=1e-6)
    assert history.loss[-1] < 1e-10 and history.n_iter >= 1


@pytest.mark.parametrize("optimizer, source, options, error, match", [
    ("gd", None, dict(sample_weight=np.ones(10)), ValueError, "sample_weight"),
    ("gd", None, dict(validation_fraction=0.2), ValueError, "validation_fraction"),
    ("gd", None, dict(validation_data=(np.zeros((2, 2)), np.zeros(2))), ValueError, "validation_data"),
    ("adam", object(), {}, TypeError, "source must be a batch source.*lacks batches"),
    ("lbfgs", object(), {}, TypeError, "source must be an objective"),
])
def test_train_with_a_source_refuses_what_it_cannot_apply(optimizer, source, options, error, match):
    from bpnet_xp.config import fit_options
    from bpnet_xp.training import train

    X, y = _classification(m=10)
    net = bp.MLP(SIZES, backend="numpy", dtype="float64", seed=0)
    if source is None:
        source = _ReferenceBatches(net.backend, X, y, size=4)
    with pytest.raises(error, match=match):
        train(net, None, None, fit_options(optimizer, **options), source=source)
    with pytest.raises(ValueError, match="validate is used with source only"):
        train(net, X, y, fit_options("gd"), validate=lambda theta: (0.0, 0.0))
