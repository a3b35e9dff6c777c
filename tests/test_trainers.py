"""The second-order trainers "newton", "lm", "br", "rprop", "scg": against independent references.

np.linalg.lstsq (linear least squares), scipy's trust-ncg (logistic regression) and
least_squares(method="lm") (MINPACK, on residuals written here in NumPy), a hand-computed
iRprop+ step, and the accuracy / iteration counts the issue asks for.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp import datasets
from bpnet_xp.backend import to_numpy
from bpnet_xp.solvers import rprop_init, rprop_step



def _scipy_optimize():
    """scipy.optimize, the reference of several tests; they skip, with the reason, without it."""
    return pytest.importorskip("scipy.optimize", reason="this reference is scipy's optimizer")

TRAINERS = ["newton", "lm", "br", "rprop", "scg"]


def _noisy_sinc(m=80, seed=0, reach=4.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-reach, reach, size=(m, 1))
    return X, np.sinc(X[:, 0] / np.pi) + 0.1 * rng.normal(size=m)


def _sinc_net(hidden=10, seed=0, backend="numpy"):
    return bp.MLP([1, hidden, 1], activation="tanh", output="identity", loss="mse", dtype="float64", seed=seed,
                  backend=backend)


def test_lm_solves_linear_least_squares_in_three_iterations(backend):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 + 0.1 * rng.normal(size=50)
    net = bp.MLP([4, 1], output="identity", loss="mse", dtype="float64", seed=0, backend=backend)
    # min_grad=0: the stop is by the iteration budget, not by the (already tiny) gradient.
    history = net.fit(X, y, optimizer="lm", max_iter=3, min_grad=0.0)
    assert history.n_iter <= 3
    solution, *_ = np.linalg.lstsq(np.c_[X, np.ones(50)], y, rcond=None)
    theta = np.asarray(to_numpy(net.theta), dtype=np.float64)  # [W (4, 1) row-major, b]
    assert np.linalg.norm(theta - solution) / np.linalg.norm(solution) < 1e-10


def _logistic_reference(X, t, l2):
    """J, grad, Hessian of L2-regularised logistic regression (bias not penalised), NumPy."""
    m = X.shape[0]
    A = np.c_[X, np.ones(m)]
    mask = np.r_[np.ones(X.shape[1]), 0.0]

    def value(w):
        z = A @ w
        return (np.logaddexp(0, z) - t * z).sum() / m + 0.5 * l2 / m * np.sum(mask * w * w)

    def grad(w):
        return A.T @ (1 / (1 + np.exp(-(A @ w))) - t) / m + l2 / m * mask * w

    def hess(w):
        s = 1 / (1 + np.exp(-(A @ w)))
        return (A.T * (s * (1 - s))) @ A / m + l2 / m * np.diag(mask)

    return value, grad, hess


def test_newton_reaches_trust_ncg_optimum_on_logistic_regression(backend):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 3))
    t = (X @ np.array([1.5, -1.0, 0.5]) + 0.3 * rng.normal(size=120) > 0).astype(float)
    net = bp.MLP([3, 1], output="sigmoid", loss="cross_entropy", l2=0.1, dtype="float64", seed=0, backend=backend)
    history = net.fit(X, t, optimizer="newton", max_iter=20, gtol=1e-12, ftol=0.0)
    value, grad, hess = _logistic_reference(X, t, 0.1)
    reference = _scipy_optimize().minimize(value, np.zeros(4), jac=grad, hess=hess, method="trust-ncg",
                                        options={"gtol": 1e-12})
    assert history.n_iter <= 20
    assert abs(history.loss[-1] - reference.fun) / reference.fun < 1e-10


def _sinc_residuals(theta, X, y, hidden):
    """e = a - y of the 1-hidden-1 tanh network in theta's layout [W1, b1, W2, b2], NumPy."""
    W1, b1 = theta[:hidden].reshape(1, hidden), theta[hidden:2 * hidden]
    W2, b2 = theta[2 * hidden:3 * hidden].reshape(hidden, 1), theta[3 * hidden]
    return (np.tanh(X @ W1 + b1) @ W2 + b2)[:, 0] - y


def test_lm_matches_minpack_and_beats_first_order_solvers_on_sinc():
    X, y = _noisy_sinc()
    net = _sinc_net()
    theta0 = np.array(net.theta)
    history = net.fit(X, y, optimizer="lm", max_iter=1000, min_grad=1e-12)  # MATLAB's epochs
    sse = float(np.sum(_sinc_residuals(np.asarray(net.theta), X, y, 10) ** 2))
    minpack = _scipy_optimize().least_squares(_sinc_residuals, theta0, args=(X, y, 10), method="lm", max_nfev=20000)
    assert sse <= 1.01 * 2 * minpack.cost  # cost = SSE / 2
    target = 1.2 * history.loss[-1]

    def iterations_to(optimizer):
        h = _sinc_net().fit(X, y, optimizer=optimizer, max_iter=300)
        return next((k + 1 for k, loss in enumerate(h.loss) if loss <= target), math.inf)

    lm = iterations_to("lm")
    assert lm < math.inf and lm < iterations_to("cg") and lm < iterations_to("lbfgs")


def test_br_generalises_at_least_as_well_as_lm_and_reports_gamma():
    X, y = _noisy_sinc(m=60, seed=3)
    X_test = np.linspace(-4, 4, 200)[:, None]
    y_test = np.sinc(X_test[:, 0] / np.pi)
    errors = {}
    for optimizer in ("lm", "br"):
        net = _sinc_net(hidden=30)
        history = net.fit(X, y, optimizer=optimizer, max_iter=200)
        errors[optimizer] = float(np.mean((net.predict(X_test).reshape(-1) - y_test) ** 2))
    gamma = history.effective_parameters
    assert len(gamma) == history.n_iter and 0 < gamma[-1] < net.n_parameters
    assert errors["br"] <= errors["lm"]


@pytest.mark.parametrize("seed", range(5))
def test_rprop_solves_xor(seed):
    X, y = datasets.make_xor()
    net = bp.MLP([2, 10, 1], activation="tanh", output="sigmoid", loss="mse", dtype="float64", seed=seed,
                 backend="numpy")
    net.fit(X, y, optimizer="rprop", max_iter=500, goal=1e-3)
    assert np.array_equal((net.predict_proba(X).reshape(-1) > 0.5).astype(int), np.asarray(y).reshape(-1).astype(int))


def test_one_irprop_plus_step_equals_the_hand_computed_one(backend):
    xp = backend.xp
    theta = backend.asarray(np.array([1.0, 1.0, 1.0, 1.0]))
    state = rprop_init(theta, 0.1)._replace(
        grad=backend.asarray(np.array([2.0, -1.0, 0.0, 3.0])),
        change=backend.asarray(np.array([-0.1, 0.1, 0.1, -0.2])), loss=1.0)
    grad = backend.asarray(np.array([1.0, 1.0, -4.0, -1.0]))
    new, new_state = rprop_step(theta, grad, 2.0, state)  # the loss went up: the flipped ones go back
    # 0: same sign, step 0.1*1.2 -> -0.12; 1: flip, back by -0.1; 2: s = 0, -sign(-4)*0.1;
    # 3: flip, back by +0.2; steps [0.12, 0.05, 0.1, 0.05]; remembered gradient 0 where flipped.
    assert np.allclose(to_numpy(new), [0.88, 0.9, 1.1, 1.2], rtol=0, atol=1e-15)
    assert np.allclose(to_numpy(new_state.step), [0.12, 0.05, 0.1, 0.05], rtol=0, atol=1e-15)
    assert np.allclose(to_numpy(new_state.grad), [1.0, 0.0, -4.0, 0.0])
    assert np.allclose(to_numpy(new_state.change), [-0.12, -0.1, 0.1, 0.2], rtol=0, atol=1e-15)
    assert new_state.loss == 2.0 and xp.isdtype(new.dtype, "real floating")


def test_scg_fits_the_digits():
    X, y = datasets.load_digits()
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    net = bp.MLP([64, 25, 10], activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=1.0,
                 dtype="float64", seed=0, backend="numpy")
    net.fit(X, y, optimizer="scg", max_iter=100)
    assert net.score(X, y) >= 0.99


@pytest.mark.parametrize("optimizer", TRAINERS)
def test_same_seed_same_history_on_numpy_and_array_api_strict(optimizer):
    pytest.importorskip("array_api_strict")
    X, y = _noisy_sinc(m=30)
    histories = [_sinc_net(hidden=4, backend=name).fit(X, y, optimizer=optimizer, max_iter=8).loss
                 for name in ("numpy", "array_api_strict")]
    assert len(histories[0]) == len(histories[1]) > 0
    assert np.allclose(histories[0], histories[1], rtol=1e-10, atol=0)


@pytest.mark.parametrize("optimizer", TRAINERS)
def test_every_trainer_lowers_the_loss_on_every_backend(backend, optimizer):
    X, y = _noisy_sinc(m=30)
    net = _sinc_net(hidden=4, backend=backend)
    start = net.loss(X, y)
    history = net.fit(X, y, optimizer=optimizer, max_iter=5)
    assert 0 < history.n_iter <= 5 and history.loss[-1] < start


def test_lm_refuses_other_losses_and_too_many_parameters():
    X, y = datasets.make_xor()
    net = bp.MLP([2, 3, 1], output="sigmoid", loss="cross_entropy", backend="numpy")
    with pytest.raises(ValueError, match="loss='mse'.*'newton' or 'scg'"):
        net.fit(X, y, optimizer="lm")
    net = bp.MLP([2, 30, 1], output="identity", loss="mse", backend="numpy")
    with pytest.raises(ValueError, match="P x P.*'newton' or 'scg'"):
        net.fit(X, y, optimizer="lm", max_parameters=50)
    with pytest.raises(ValueError, match="mu_dec"):
        net.fit(X, y, optimizer="lm", mu_dec=2.0)


def test_lm_stops_on_validation_failures():
    X, y = _noisy_sinc(m=40, seed=4)
    X_val, y_val = _noisy_sinc(m=40, seed=5)
    history = _sinc_net(hidden=30).fit(X, y, optimizer="lm", max_iter=500, validation_data=(X_val, y_val),
                                       max_fail=2)
    assert history.stop_reason.startswith("validation stop")
    best = int(np.argmin(history.val_loss))
    assert history.n_iter - 1 - best == 2  # two iterations in a row without a lower validation loss
    assert len(history.val_loss) == history.n_iter


@pytest.mark.parametrize("optimizer", TRAINERS)
def test_the_names_reach_the_cli_and_scikit_learn(optimizer):
    from bpnet_xp.cli.parser import OPTIMIZERS

    assert optimizer in OPTIMIZERS
    sk = pytest.importorskip("bpnet_xp.sklearn")
    pytest.importorskip("sklearn")
    X, y = _noisy_sinc(m=30)
    model = sk.BPRegressor(hidden_layer_sizes=(4,), optimizer=optimizer, max_iter=5, random_state=0)
    model.fit(X, y)
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("optimizer", ["lm", "br", "newton", "scg"])
def test_trainers_on_dask_match_numpy(optimizer):
    da = pytest.importorskip("dask.array")
    X, y = _noisy_sinc(m=60)
    histories = []
    for data in ((X, y), (da.from_array(X, chunks=(16, 1)), da.from_array(y, chunks=16))):
        # 3 hidden units: with 5, J^T J of this start is nearly singular and the solves
        # amplify the chunked sums' different rounding (1e-16) to 1e-8 within 5 iterations.
        histories.append(_sinc_net(hidden=3).fit(*data, optimizer=optimizer, max_iter=8).loss)
    assert len(histories[0]) == len(histories[1]) > 0
    assert np.allclose(histories[1], histories[0], rtol=1e-8, atol=0)


def test_dask_products_match_in_memory_ones():
    da = pytest.importorskip("dask.array")
    from bpnet_xp.dask import DaskObjective

    X, y = _noisy_sinc(m=50)
    net = bp.MLP([1, 6, 1], activation="tanh", output="identity", loss="mse", l2=0.5, dtype="float64", seed=1,
                 backend="numpy")
    v = np.random.default_rng(0).normal(size=net.n_parameters)
    objective = DaskObjective(net.spec, da.from_array(X, chunks=(12, 1)), da.from_array(y, chunks=12))
    assert np.allclose(objective.hessian_vector_product(net.theta, v), net.hessian_vector_product(X, y, v),
                       rtol=1e-10, atol=1e-12)
    assert np.allclose(objective.gauss_newton_vector_product(net.theta, v),
                       net.gauss_newton_vector_product(X, y, v), rtol=1e-10, atol=1e-12)
