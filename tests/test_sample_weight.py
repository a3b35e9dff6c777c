"""Per-sample weights through the whole stack (losses, network, fit, scikit-learn estimators).

The weighted objective is scikit-learn's MLP convention,

    J(theta) = sum_i w_i L_i / S + (l2 / (2 S)) sum_layers sum(W**2),   S = sum_i w_i,

which is the classic cost when every w_i = 1.  References, all independent of bpnet_xp:
a NumPy float64 weighted cost written out below (explicit forward pass and per-sample
losses) and its central differences; row repetition / removal (the definition of an
integer / zero weight); scikit-learn's accuracy_score and r2_score with sample_weight;
the closed-form weighted ridge solution; scipy's L-BFGS on the NumPy cost.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import bpnet_xp as bp

from conftest import make_backend
from reference import _act as reference_activation
from reference import numerical_gradient

# (layer sizes, hidden activation, output activation, loss, targets)
CASES = {
    "sigmoid-cross_entropy": ([3, 4, 2], "sigmoid", "sigmoid", "cross_entropy", "labels"),
    "softmax": ([3, 5, 3], "tanh", "softmax", "softmax_cross_entropy", "labels"),
    "identity-mse": ([3, 4, 2], "tanh", "identity", "mse", "floats"),
    "sigmoid-mse": ([2, 3, 1], "sigmoid", "sigmoid", "mse", "floats"),  # non-canonical pair
    "logistic": ([3, 1], "sigmoid", "sigmoid", "cross_entropy", "labels"),
}


# ---------------------------------------------------------------------------------------
# The independent NumPy float64 reference.


_act = reference_activation  # the textbook activations of tests/reference.py


def _layers(theta, sizes):
    """bpnet_xp's flat layout [W1 (n_in, n_out) row-major, b1, W2, b2, ...] -> [(W, b)]."""
    theta = np.asarray(theta, dtype=np.float64)
    out, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        out.append((W, theta[start:start + n_out]))
        start += n_out
    assert start == theta.size
    return out


def _outputs(theta, sizes, X, activation, output):
    a = np.asarray(X, dtype=np.float64)
    layers = _layers(theta, sizes)
    for i, (W, b) in enumerate(layers):
        a = _act(output if i == len(layers) - 1 else activation, a @ W + b)
    return a


def _targets(y, n_out, loss):
    y = np.asarray(y)
    if y.ndim == 1 and loss != "mse":
        return y.reshape(-1, 1).astype(np.float64) if n_out == 1 else np.eye(n_out)[y]
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


def weighted_cost(theta, sizes, X, y, w, activation, output, loss, l2, penalty_total=None):
    """sum_i w_i L_i / sum(w) + (l2 / (2 T)) sum(W**2), T = penalty_total or sum(w).

    L_i is the i-th sample's loss summed over the outputs, from the textbook formulas:
    -[y log h + (1 - y) log(1 - h)], -y log h, or (h - y)^2 / 2.
    """
    h = _outputs(theta, sizes, X, activation, output)
    Y = _targets(y, sizes[-1], loss)
    if loss == "cross_entropy":
        per_sample = -np.sum(Y * np.log(h) + (1 - Y) * np.log(1 - h), axis=1)
    elif loss == "softmax_cross_entropy":
        per_sample = -np.sum(Y * np.log(h), axis=1)
    else:
        per_sample = 0.5 * np.sum((h - Y) ** 2, axis=1)
    w = np.asarray(w, dtype=np.float64)
    S = w.sum()
    T = S if penalty_total is None else penalty_total
    data = (w @ per_sample) / S if S > 0 else 0.0
    return data + l2 / (2 * T) * sum(np.sum(W * W) for W, _ in _layers(theta, sizes))


def central_differences(f, theta):
    """Two-point central differences (the shared test helper), with h = 1e-6."""
    return numerical_gradient(f, theta, h=1e-6)


# ---------------------------------------------------------------------------------------
# Data and networks.


def _data(case, m=9, seed=0):
    sizes, _, output, _, kind = CASES[case]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    if kind == "labels":
        y = rng.integers(0, max(sizes[-1], 2), size=m)
    elif output == "sigmoid":
        y = rng.uniform(0.1, 0.9, size=(m, sizes[-1]))
    else:
        y = rng.normal(size=(m, sizes[-1]))
    if sizes[-1] == 1 and kind != "labels":
        y = y[:, 0]
    return X, y


def _net(backend, case, l2=0.3, seed=0):
    if not backend.has_float64:
        pytest.skip(f"{backend} has no float64")
    sizes, activation, output, loss, _ = CASES[case]
    return bp.MLP(sizes, activation=activation, output=output, loss=loss, l2=l2,
                  backend=backend, dtype="float64", seed=seed)


def _host(a):
    return bp.backend.to_numpy(a).astype(np.float64)


def _reference(case, l2=0.3, penalty_total=None):
    sizes, activation, output, loss, _ = CASES[case]
    return lambda theta, X, y, w: weighted_cost(theta, sizes, X, y, w, activation, output, loss, l2,
                                                penalty_total)


# Real weights with a zero among them, and integer weights for the repetition checks.
REAL_W = np.array([0.3, 1.7, 0.0, 2.25, math.pi, 0.05, 1.0, math.e, 0.6])
INT_W = np.array([2, 0, 1, 3, 1, 0, 4, 1, 2])


# ---------------------------------------------------------------------------------------
# The objective and its gradient.


@pytest.mark.parametrize("case", list(CASES))
def test_weighted_loss_equals_the_numpy_weighted_cost(backend, case):
    X, y = _data(case)
    net = _net(backend, case)
    theta = _host(net.theta)
    expected = _reference(case)(theta, X, y, REAL_W)
    assert net.loss(X, y, sample_weight=REAL_W) == pytest.approx(expected, rel=1e-12)
    # Backend arrays are accepted as well, and the gradient's loss is the same number.
    loss, _ = net.loss_and_grad(backend.asarray(X), backend.asarray(y), sample_weight=backend.asarray(REAL_W))
    assert loss == pytest.approx(expected, rel=1e-12)
    # All weights 1: the classic (unweighted) cost.
    assert net.loss(X, y, sample_weight=np.ones(len(X))) == pytest.approx(net.loss(X, y), rel=1e-14)
    assert net.loss(X, y) == pytest.approx(_reference(case)(theta, X, y, np.ones(len(X))), rel=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_weighted_gradient_matches_central_differences(backend, case):
    X, y = _data(case)
    net = _net(backend, case)
    theta = _host(net.theta)
    reference = _reference(case)
    numeric = central_differences(lambda t: reference(t, X, y, REAL_W), theta)
    _, grad = net.loss_and_grad(X, y, sample_weight=REAL_W)
    grad = _host(grad)
    # check_gradients' measure: |analytic - numeric| / max(|analytic|, |numeric|), elementwise.
    scale = np.maximum(np.maximum(np.abs(grad), np.abs(numeric)), 1e-8)
    assert np.max(np.abs(grad - numeric) / scale) < 1e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_compiled_objective_takes_the_weight_as_an_argument(backend):
    case = "softmax"
    X, y = _data(case)
    net = _net(backend, case)
    Xd, Y = net.prepare(X, y)
    loss, grad = net.objective(net.spec, net.theta, Xd, Y, net.prepare_weight(REAL_W, len(X)))
    theta = _host(net.theta)
    reference = _reference(case)
    assert float(loss) == pytest.approx(reference(theta, X, y, REAL_W), rel=1e-12)
    np.testing.assert_allclose(_host(grad), central_differences(lambda t: reference(t, X, y, REAL_W), theta),
                               rtol=1e-6, atol=1e-9)
    unweighted, _ = net.objective(net.spec, net.theta, Xd, Y)  # the old 4-argument call still works
    assert float(unweighted) == pytest.approx(reference(theta, X, y, np.ones(len(X))), rel=1e-12)


def test_the_loss_values_multiply_each_row_by_its_weight(backend):
    # The losses module directly: value(z, a, y, weight) == sum_i w_i sum_k term_ik.
    if not backend.has_float64:
        pytest.skip(f"{backend} has no float64")
    from bpnet_xp.losses import LOSSES

    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, 3))
    a = 1 / (1 + np.exp(-z))
    y = rng.uniform(size=(5, 3))
    w = np.array([[0.5], [0.0], [2.0], [1.0], [3.5]])
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[[0, 2, 1, 1, 0]]
    expected = {
        "cross_entropy": (a, y, -np.sum(w * (y * np.log(a) + (1 - y) * np.log(1 - a)))),
        "softmax_cross_entropy": (soft, onehot, -np.sum(w * onehot * np.log(soft))),
        "mse": (z, y, 0.5 * np.sum(w * (z - y) ** 2)),  # identity output: a = z
    }
    for name, (act, target, value) in expected.items():
        arrays = [backend.asarray(v) for v in (z, act, target, w)]
        got = float(LOSSES[name].value(*arrays))
        assert got == pytest.approx(value, rel=1e-12), name
        assert float(LOSSES[name].value(*arrays[:3])) == pytest.approx(
            float(LOSSES[name].value(*arrays[:3], backend.asarray(np.ones((5, 1))))), rel=1e-14)


# ---------------------------------------------------------------------------------------
# Integer weights are repeated rows; zero weights are removed rows.


@pytest.mark.parametrize("case", ["softmax", "identity-mse", "sigmoid-cross_entropy"])
def test_integer_weights_equal_repeated_rows(backend, case):
    X, y = _data(case)
    Xr, yr = np.repeat(X, INT_W, axis=0), np.repeat(y, INT_W, axis=0)
    net = _net(backend, case)
    loss_w, grad_w = net.loss_and_grad(X, y, sample_weight=INT_W)
    loss_r, grad_r = net.loss_and_grad(Xr, yr)
    assert loss_w == pytest.approx(loss_r, rel=1e-13)
    np.testing.assert_allclose(_host(grad_w), _host(grad_r), rtol=1e-11, atol=1e-14)

    # A short full-batch L-BFGS run follows the same path.
    weighted, repeated = _net(backend, case), _net(backend, case)
    hist_w = weighted.fit(X, y, optimizer="lbfgs", max_iter=6, sample_weight=INT_W)
    hist_r = repeated.fit(Xr, yr, optimizer="lbfgs", max_iter=6)
    assert hist_w.n_iter == hist_r.n_iter == 6
    np.testing.assert_allclose(hist_w.loss, hist_r.loss, rtol=1e-10)
    np.testing.assert_allclose(_host(weighted.theta), _host(repeated.theta), rtol=1e-8, atol=1e-10)


def test_zero_weight_equals_dropping_the_row(backend):
    case = "softmax"
    X, y = _data(case)
    w = np.ones(len(X))
    w[[1, 5]] = 0.0
    keep = w > 0
    net = _net(backend, case)
    loss_w, grad_w = net.loss_and_grad(X, y, sample_weight=w)
    loss_d, grad_d = net.loss_and_grad(X[keep], y[keep])
    assert loss_w == pytest.approx(loss_d, rel=1e-13)
    np.testing.assert_allclose(_host(grad_w), _host(grad_d), rtol=1e-11, atol=1e-14)
    weighted, dropped = _net(backend, case), _net(backend, case)
    hist_w = weighted.fit(X, y, optimizer="cg", max_iter=5, sample_weight=w)
    hist_d = dropped.fit(X[keep], y[keep], optimizer="cg", max_iter=5)
    np.testing.assert_allclose(hist_w.loss, hist_d.loss, rtol=1e-10)
    np.testing.assert_allclose(_host(weighted.theta), _host(dropped.theta), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------
# fit: mini-batches, validation.


@pytest.mark.parametrize("shuffle", [False, True])
def test_minibatch_gd_divides_each_batch_by_its_weight_and_the_penalty_by_the_total(backend, shuffle):
    case = "sigmoid-cross_entropy"
    X, y = _data(case, m=10)
    w = np.array([0.5, 2.0, 1.0, 0.0, 1.5, 3.0, 0.25, 1.0, 0.0, 0.0])
    if shuffle:
        w = np.array([0.5, 2.0, 1.0, 0.7, 1.5, 3.0, 0.25, 1.0, 0.9, 1.2])
    l2, lr, bs, seed, m = 0.4, 0.5, 4, 5, 10
    net = _net(backend, case, l2=l2)
    theta = _host(net.theta)
    hist = net.fit(X, y, optimizer="gd", epochs=1, batch_size=bs, learning_rate=lr, shuffle=shuffle,
                   seed=seed, sample_weight=w)
    # By hand: batches of 4, 4, 2 rows (in order, or in default_rng(seed).permutation(m)).
    # Batch b's objective: sum_{i in b} w_i L_i / S_b + (l2 / (2 S)) sum W^2 with S the total
    # weight; a batch of weight 0 (rows 8 and 9 unshuffled) has only the penalty.  The epoch's
    # loss is sum_b S_b J_b(theta_b) / S, each J_b before its own update.
    S = w.sum()
    order = np.random.default_rng(seed).permutation(m) if shuffle else np.arange(m)
    reference = _reference(case, l2=l2, penalty_total=S)
    total = 0.0
    for lo in range(0, m, bs):
        rows = order[lo:lo + bs]
        f = lambda t: reference(t, X[rows], y[rows], w[rows])  # noqa: E731
        total += w[rows].sum() * f(theta)
        theta = theta - lr * central_differences(f, theta)
    np.testing.assert_allclose(_host(net.theta), theta, rtol=0, atol=1e-9)
    assert hist.loss[0] == pytest.approx(total / S, rel=1e-10)


def test_validation_fraction_splits_the_weights(backend):
    case = "softmax"
    X, y = _data(case, m=10)
    w = np.array([0.5, 2.0, 1.0, 0.7, 1.5, 3.0, 0.25, 1.0, 0.9, 1.2])
    l2, lr, seed = 0.3, 0.2, 11
    net = _net(backend, case, l2=l2)
    theta0 = _host(net.theta)
    hist = net.fit(X, y, optimizer="gd", epochs=1, learning_rate=lr, validation_fraction=0.3,
                   seed=seed, sample_weight=w)
    # The hold-out: the last ceil(0.3 * 10) = 3 rows of default_rng(seed).permutation(10).
    perm = np.random.default_rng(seed).permutation(10)
    train, val = perm[:7], perm[7:]
    S_train = w[train].sum()
    reference = _reference(case, l2=l2, penalty_total=S_train)
    assert hist.loss[0] == pytest.approx(reference(theta0, X[train], y[train], w[train]), rel=1e-12)
    theta1 = theta0 - lr * central_differences(lambda t: reference(t, X[train], y[train], w[train]), theta0)
    np.testing.assert_allclose(_host(net.theta), theta1, rtol=0, atol=1e-9)
    # Validation loss: weighted mean over the 3 held-out rows + the training penalty.
    assert hist.val_loss[0] == pytest.approx(reference(theta1, X[val], y[val], w[val]), rel=1e-7)
    hit = np.argmax(_outputs(theta1, CASES[case][0], X[val], "tanh", "softmax"), axis=1) == y[val]
    assert hist.val_score[0] == pytest.approx(np.sum(w[val] * hit) / w[val].sum(), rel=1e-12)


def test_validation_data_may_carry_weights(backend):
    case = "identity-mse"
    X, y = _data(case, m=9)
    Xv, yv = _data(case, m=6, seed=1)
    wv = np.array([1.0, 0.0, 2.5, 0.5, 1.0, 3.0])
    l2 = 0.3
    net = _net(backend, case, l2=l2)
    hist = net.fit(X, y, optimizer="lbfgs", max_iter=3, sample_weight=REAL_W, validation_data=(Xv, yv, wv))
    theta = _host(net.theta)
    reference = _reference(case, l2=l2, penalty_total=REAL_W.sum())
    assert hist.val_loss[-1] == pytest.approx(reference(theta, Xv, yv, wv), rel=1e-10)
    from sklearn.metrics import r2_score

    predicted = _outputs(theta, CASES[case][0], Xv, "tanh", "identity")
    assert hist.val_score[-1] == pytest.approx(r2_score(yv, predicted, sample_weight=wv), rel=1e-10)
    # A pair still works, unweighted.
    hist2 = _net(backend, case, l2=l2).fit(X, y, optimizer="lbfgs", max_iter=1, validation_data=(Xv, yv))
    assert len(hist2.val_loss) == 1

    # Classification: the validation accuracy is weighted as accuracy_score weights it.
    from sklearn.metrics import accuracy_score

    X, y = _data("softmax", m=9)
    Xv, yv = _data("softmax", m=30, seed=3)
    wv = np.random.default_rng(4).uniform(0, 3, size=30)
    net = _net(backend, "softmax")
    hist = net.fit(X, y, optimizer="gd", epochs=1, learning_rate=0.1, validation_data=(Xv, yv, wv))
    pred = np.argmax(_outputs(_host(net.theta), CASES["softmax"][0], Xv, "tanh", "softmax"), axis=1)
    expected = accuracy_score(yv, pred, sample_weight=wv)
    assert expected != pytest.approx(accuracy_score(yv, pred))  # the data tell the two apart
    assert hist.val_score[0] == pytest.approx(expected, rel=1e-12)


def test_weighted_adam_minibatches_with_early_stopping_run(backend):
    case = "softmax"
    X, y = _data(case, m=40, seed=2)
    w = np.random.default_rng(3).uniform(0, 2, size=40)
    net = _net(backend, case)
    hist = net.fit(X, y, optimizer="adam", epochs=5, batch_size=8, learning_rate=0.01, sample_weight=w,
                   validation_fraction=0.25, early_stopping=True, patience=2, seed=0)
    assert 1 <= hist.n_iter <= 5 and all(math.isfinite(v) for v in hist.loss + hist.val_loss)


# ---------------------------------------------------------------------------------------
# score.


def test_weighted_score_equals_scikit_learn(backend):
    from sklearn.metrics import accuracy_score, r2_score

    w = REAL_W
    # Multiclass (softmax): predictions by the NumPy forward pass, argmax.
    X, y = _data("softmax")
    net = _net(backend, "softmax")
    pred = np.argmax(_outputs(_host(net.theta), [3, 5, 3], X, "tanh", "softmax"), axis=1)
    assert net.score(X, y, sample_weight=w) == pytest.approx(accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    # Binary (one sigmoid output): p >= 0.5.
    X, y = _data("logistic")
    net = _net(backend, "logistic")
    pred = (_outputs(_host(net.theta), [3, 1], X, "sigmoid", "sigmoid")[:, 0] >= 0.5).astype(int)
    assert net.score(X, y, sample_weight=w) == pytest.approx(accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    # Regression, two outputs: uniform average of the weighted R^2.
    X, y = _data("identity-mse")
    net = _net(backend, "identity-mse")
    pred = _outputs(_host(net.theta), [3, 4, 2], X, "tanh", "identity")
    assert net.score(X, y, sample_weight=w) == pytest.approx(r2_score(y, pred, sample_weight=w), rel=1e-12)
    # One output whose weighted rows are constant (the zero-weight row differs): scikit-learn's
    # rule for a constant target gives 0 for an imperfect prediction.  Dyadic weights and
    # target make the weighted mean exactly 0.5, so the weighted total sum of squares is 0.
    w = np.array([1.0, 2.0, 0.0, 0.5, 4.0, 1.0, 1.0, 2.0, 0.25])
    X, y = _data("sigmoid-mse")
    y = np.full(len(y), 0.5)
    y[2] = 0.875
    net = _net(backend, "sigmoid-mse")
    pred = _outputs(_host(net.theta), [2, 3, 1], X, "sigmoid", "sigmoid")[:, 0]
    assert r2_score(y, pred, sample_weight=w) == 0.0
    assert net.score(X, y, sample_weight=w) == 0.0
    assert net.score(X, y) == pytest.approx(r2_score(y, pred), rel=1e-12)  # unweighted: not constant


# ---------------------------------------------------------------------------------------
# Bad weights.


BAD_WEIGHTS = [
    (lambda m: -np.ones(m), "non-negative"),
    (lambda m: np.r_[np.nan, np.ones(m - 1)], "NaN or infinite"),
    (lambda m: np.r_[np.inf, np.ones(m - 1)], "NaN or infinite"),
    (lambda m: np.ones(m - 1), r"shape \(9,\)"),
    (lambda m: np.ones((m, 2)), r"shape \(9,\)"),
    (lambda m: np.zeros(m), "zero for every sample"),
    (lambda m: np.array(["a"] * m), "numeric"),
    (lambda m: "heavy", "sample_weight must be an array"),
]


@pytest.mark.parametrize("make, message", BAD_WEIGHTS, ids=["negative", "nan", "inf", "short", "2-D", "all-zero",
                                                         "strings", "not-an-array"])
def test_bad_weights_raise_value_error_naming_the_problem(backend, make, message):
    case = "softmax"
    X, y = _data(case)
    net = _net(backend, case)
    theta = _host(net.theta)
    w = make(len(X))
    with pytest.raises(ValueError, match=message):
        net.loss(X, y, sample_weight=w)
    with pytest.raises(ValueError, match=message):
        net.loss_and_grad(X, y, sample_weight=w)
    with pytest.raises(ValueError, match=message):
        net.score(X, y, sample_weight=w)
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, optimizer="gd", epochs=1, sample_weight=w)
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, optimizer="gd", epochs=1, validation_data=(X, y, w))
    np.testing.assert_array_equal(_host(net.theta), theta)  # nothing was trained


def test_a_validation_split_that_leaves_no_training_weight_is_refused():
    be = make_backend("numpy")
    X, y = _data("softmax", m=10)
    seed = 11
    val = np.random.default_rng(seed).permutation(10)[7:]
    w = np.zeros(10)
    w[val] = 1.0  # every positive weight is held out
    with pytest.raises(ValueError, match="training part"):
        _net(be, "softmax").fit(X, y, optimizer="gd", epochs=1, validation_fraction=0.3, seed=seed,
                                sample_weight=w)


# ---------------------------------------------------------------------------------------
# The scikit-learn estimators: any non-negative real weights.


def test_irrational_weights_give_the_weighted_ridge_solution():
    from bpnet_xp.sklearn import BPRegressor

    # J = sum_i w_i (x_i.beta + c - y_i)^2 / (2 S) + l2 / (2 S) |beta|^2, bias unpenalised:
    # (Xa^T diag(w) Xa + l2 P) [beta; c] = Xa^T diag(w) y with P = diag(1, 1, 1, 0).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.3 * rng.normal(size=40)
    w = rng.choice([0.0, math.pi, math.e, math.sqrt(2), 1 / 7, 1.0], size=40) * rng.uniform(0.5, 1.5, 40)
    l2 = 3.0
    reg = BPRegressor((), l2=l2, optimizer="lbfgs", max_iter=500, tol=1e-12, random_state=0, backend="numpy")
    reg.fit(X, y, sample_weight=w)
    Xa = np.column_stack([X, np.ones(len(X))])
    P = np.diag([1.0, 1.0, 1.0, 0.0])
    solution = np.linalg.solve(Xa.T @ (w[:, None] * Xa) + l2 * P, Xa.T @ (w * y))
    np.testing.assert_allclose(reg.coefs_[0][:, 0], solution[:3], rtol=1e-6)
    np.testing.assert_allclose(reg.intercepts_[0][0], solution[3], rtol=1e-6)


def test_weighted_logistic_regression_matches_scipy_on_the_numpy_cost():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    from bpnet_xp.sklearn import BPClassifier

    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.8 * rng.normal(size=60) > 0).astype(int)
    w = rng.uniform(0, 3, size=60)
    l2 = 2.0
    clf = BPClassifier((), l2=l2, optimizer="lbfgs", max_iter=500, tol=1e-10, random_state=0, backend="numpy")
    clf.fit(X, y, sample_weight=w)

    def cost_and_grad(theta):  # theta = [beta1, beta2, c]; gradient by hand
        p = 1 / (1 + np.exp(-(X @ theta[:2] + theta[2])))
        S = w.sum()
        cost = -(w @ (y * np.log(p) + (1 - y) * np.log(1 - p))) / S + l2 / (2 * S) * theta[:2] @ theta[:2]
        r = w * (p - y) / S
        return cost, np.r_[X.T @ r + l2 / S * theta[:2], r.sum()]

    best = scipy_optimize.minimize(cost_and_grad, np.zeros(3), jac=True, method="L-BFGS-B",
                                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000})
    np.testing.assert_allclose(clf.coefs_[0][:, 0], best.x[:2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(clf.intercepts_[0][0], best.x[2], rtol=1e-5, atol=1e-7)


def test_partial_fit_weights_each_call_by_its_own_total():
    from bpnet_xp.sklearn import BPRegressor

    # Linear regression, full batch: J = sum_i w_i r_i^2 / (2S) + l2 / (2S) |beta|^2 with
    # r = X beta + c - y and S = sum(w) of the call's data, so
    # grad = [(X^T (w r) + l2 beta) / S, sum(w r) / S].  Two Adam steps by hand; each call's
    # loss_curve_ entry is J before its step (full batch).
    rng = np.random.default_rng(2)
    X1, X2 = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    w1, w2 = rng.uniform(0, 2, size=30), rng.uniform(0, 5, size=20)
    coef = np.array([1.0, -1.0, 2.0])
    y1, y2 = X1 @ coef + 0.5, X2 @ coef + 0.5
    l2 = 0.7
    reg = BPRegressor((), l2=l2, optimizer="adam", learning_rate=0.1, batch_size=None, shuffle=False,
                      random_state=3, backend="numpy")
    reg.partial_fit(X1, y1, sample_weight=w1).partial_fit(X2, y2, sample_weight=w2)

    theta = np.asarray(bp.MLP((3, 1), activation="relu", output="identity", seed=3, dtype="float64").theta)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    mu = nu = np.zeros(4)
    losses = []
    for t, (X, y, w) in enumerate([(X1, y1, w1), (X2, y2, w2)], start=1):
        r = X @ theta[:3] + theta[3] - y
        S = w.sum()
        losses.append((w @ r**2 + l2 * theta[:3] @ theta[:3]) / (2 * S))
        g = np.concatenate([X.T @ (w * r) + l2 * theta[:3], [w @ r]]) / S
        mu = b1 * mu + (1 - b1) * g
        nu = b2 * nu + (1 - b2) * g * g
        theta = theta - lr * (mu / (1 - b1**t)) / (np.sqrt(nu / (1 - b2**t)) + eps)
    np.testing.assert_allclose(np.asarray(reg.network_.theta), theta, rtol=1e-12)
    np.testing.assert_allclose(reg.loss_curve_, losses, rtol=1e-12)


def test_estimators_refuse_bad_weights():
    from bpnet_xp.sklearn import BPClassifier

    X, y = _data("softmax", m=12)
    clf = BPClassifier((3,), optimizer="lbfgs", max_iter=2, backend="numpy")
    with pytest.raises(ValueError, match="[Nn]egative"):
        clf.fit(X, y, sample_weight=-np.ones(12))
    with pytest.raises(ValueError, match="zero"):
        clf.fit(X, y, sample_weight=np.zeros(12))
