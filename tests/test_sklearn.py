"""scikit-learn estimators: scikit-learn's own estimator checks, plus independent references.

scikit-learn is the reference for the API (its ``parametrize_with_checks`` suite), its
MLPClassifier for accuracy on digits, closed-form least squares / NumPy float64
re-implementations for the numbers, and the NumPy run for the other backends.
"""

from __future__ import annotations

import os

# scikit-learn's array-API checks run only when SCIPY_ARRAY_API=1 is in the environment
# (they skip themselves otherwise, which test_sklearn_estimator_checks treats as a failure).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import importlib.util  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import unittest  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import bpnet_xp as bp  # noqa: E402
from bpnet_xp.backend import to_numpy  # noqa: E402
from bpnet_xp.sklearn import BPClassifier, BPRegressor  # noqa: E402

# Small, fast, deterministic instances for scikit-learn's checks: full-batch L-BFGS on
# a small hidden layer reaches the accuracy/R^2 the checks ask for in a few dozen
# iterations.  The adam instances exercise partial_fit (scikit-learn only checks it
# on estimators that have it, and ours have it for the stochastic optimizers).
CHECKED = [
    BPClassifier(hidden_layer_sizes=(10,), optimizer="lbfgs", max_iter=60, backend="numpy"),
    BPRegressor(hidden_layer_sizes=(10,), optimizer="lbfgs", max_iter=60, backend="numpy"),
    BPClassifier(hidden_layer_sizes=(10,), optimizer="adam", learning_rate=0.02, max_iter=60, backend="numpy"),
    BPRegressor(hidden_layer_sizes=(10,), optimizer="adam", learning_rate=0.02, max_iter=60, backend="numpy"),
]


def expected_failures(estimator):
    """Checks expected to fail, with the reason (scikit-learn's mechanism): none."""
    return {}


# The only skips allowed: scikit-learn's checks skip themselves when what they test
# does not exist here (a library or a device) or does not apply to the estimator.
# Any other skip fails the test, so the suite cannot pass by checking less.
ALLOWED_SKIPS = {
    r"pandas is not installed": "the pandas-input checks need pandas, an optional test dependency",
    r"(torch|cupy|dpnp) is not installed": "array-API checks on torch / CuPy / dpnp arrays need those libraries",
    r"PyTorch test requires cuda": "array-API checks on torch CUDA tensors need a CUDA build and GPU",
    r"MPS device test": "array-API checks on torch 'mps' tensors need Apple's Metal (and PYTORCH_ENABLE_MPS_FALLBACK)",
    r"XPU device test": "array-API checks on torch 'xpu' tensors need an Intel GPU",
    r"does not have a decision_function method": "like MLPClassifier, BPClassifier has no decision_function",
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    namespace = getattr(check, "keywords", {}).get("array_namespace")
    if namespace in ("torch", "cupy", "dpnp", "jax.numpy") and importlib.util.find_spec(namespace.split(".")[0]) is None:
        # scikit-learn imports the library without asking whether it is installed; this is
        # the same skip it gives for a missing cupy, for a library the [test] extra lacks.
        pytest.skip(f"the array-API check on {namespace} arrays needs {namespace}, which is not installed")
    try:
        check(estimator)
    except unittest.SkipTest as exc:
        reason = str(exc)
        if not any(re.search(pattern, reason) for pattern in ALLOWED_SKIPS):
            pytest.fail(f"scikit-learn check skipped for an unexpected reason: {reason}")
        pytest.skip(reason)


# ---------------------------------------------------------------------------------------
# Small data and an independent NumPy float64 forward pass.


def _blobs(n=120, n_features=4, centers=3, seed=0):
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n, n_features=n_features, centers=centers, random_state=seed)
    return X, y


def _reference_outputs(estimator, X, hidden="relu"):
    """Logits and output activations from coefs_/intercepts_, written out in NumPy float64."""
    a = np.asarray(X, dtype=np.float64)
    coefs = [np.asarray(to_numpy(W), dtype=np.float64) for W in estimator.coefs_]
    intercepts = [np.asarray(to_numpy(b), dtype=np.float64) for b in estimator.intercepts_]
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        z = a @ W + b
        a = {"relu": np.maximum(z, 0.0), "tanh": np.tanh(z), "sigmoid": 1 / (1 + np.exp(-z))}[hidden]
    z = a @ coefs[-1] + intercepts[-1]
    return z


def _fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# ---------------------------------------------------------------------------------------
# The numbers, against independent references.


def test_multiclass_probabilities_are_the_softmax_of_a_numpy_forward_pass():
    X, y = _blobs()
    clf = _fit_quietly(BPClassifier((7,), optimizer="lbfgs", max_iter=30, random_state=0, backend="numpy"), X, y)
    z = _reference_outputs(clf, X)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    proba = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12, atol=1e-15)
    # log-softmax by hand: z - log(sum(exp(z)))
    log_proba = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(X), log_proba, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    assert [W.shape for W in clf.coefs_] == [(4, 7), (7, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (3,)]


def test_coefs_and_intercepts_are_views_of_theta():
    X, y = _blobs()
    clf = _fit_quietly(BPClassifier((5,), optimizer="lbfgs", max_iter=5, random_state=0, backend="numpy"), X, y)
    theta = clf.network_.theta
    for array in clf.coefs_ + clf.intercepts_:
        assert np.shares_memory(array, theta)
    # Layout [W1 row-major, b1, W2, b2]: the first weight is theta[0], the first bias theta[4*5].
    assert clf.coefs_[0][0, 0] == theta[0] and clf.intercepts_[0][0] == theta[20]


def test_binary_targets_use_one_sigmoid_unit_and_two_probability_columns():
    X, y = _blobs(centers=2)
    labels = np.array(["no", "yes"])[y]
    clf = _fit_quietly(BPClassifier((6,), optimizer="lbfgs", max_iter=30, random_state=0, backend="numpy"), X, labels)
    assert clf.network_.layer_sizes[-1] == 1 and clf.out_activation_ == "sigmoid"
    z = _reference_outputs(clf, X)[:, 0]
    p = 1 / (1 + np.exp(-z))  # the sigmoid, by hand
    q = 1 / (1 + np.exp(z))  # 1 - p, without the cancellation
    np.testing.assert_allclose(clf.predict_proba(X), np.column_stack([q, p]), rtol=1e-9, atol=1e-15)
    # log p = -log(1 + exp(-z)), log(1 - p) = -log(1 + exp(z))
    log_reference = -np.column_stack([np.logaddexp(0, z), np.logaddexp(0, -z)])
    np.testing.assert_allclose(clf.predict_log_proba(X), log_reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.where(p > 0.5, "yes", "no"))


def test_multilabel_indicator_targets():
    from sklearn.datasets import make_multilabel_classification
    from sklearn.metrics import accuracy_score

    X, Y = make_multilabel_classification(80, n_features=5, n_classes=4, random_state=0)
    clf = _fit_quietly(BPClassifier((9,), optimizer="lbfgs", max_iter=40, random_state=0, backend="numpy"), X, Y)
    z = _reference_outputs(clf, X)
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(clf.predict_proba(X), p, rtol=1e-9, atol=1e-15)
    predicted = clf.predict(X)
    assert predicted.dtype == Y.dtype
    np.testing.assert_array_equal(predicted, (p > 0.5).astype(Y.dtype))
    assert clf.score(X, Y) == accuracy_score(Y, (p > 0.5).astype(int))  # subset accuracy
    np.testing.assert_array_equal(clf.classes_, np.arange(4))


def test_linear_regression_with_several_outputs_matches_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = X @ rng.normal(size=(3, 2)) + np.array([1.0, -2.0]) + 0.1 * rng.normal(size=(60, 2))
    reg = BPRegressor((), l2=0.0, optimizer="lbfgs", max_iter=500, tol=1e-12, random_state=0, backend="numpy").fit(X, Y)
    Xa = np.column_stack([X, np.ones(len(X))])
    beta = np.linalg.lstsq(Xa, Y, rcond=None)[0]
    np.testing.assert_allclose(reg.coefs_[0], beta[:3], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(reg.intercepts_[0], beta[3], rtol=1e-6, atol=1e-8)
    assert reg.predict(X).shape == (60, 2)


def test_real_sample_weights_give_the_weighted_ridge_solution():
    # J = sum_i w_i (x_i.beta + c - y_i)^2 / (2 S) + l2 / (2 S) |beta|^2, S = sum(w), bias unpenalised.
    # Setting the gradient to zero: (Xa^T diag(w) Xa + l2 P) [beta; c] = Xa^T diag(w) y,
    # with P = diag(1, ..., 1, 0).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.3 * rng.normal(size=40)
    w = rng.choice([0.0, 0.5, 1.0, 1.5, 2.25, 10 / 3], size=40)
    l2 = 3.0
    reg = BPRegressor((), l2=l2, optimizer="lbfgs", max_iter=500, tol=1e-12, random_state=0, backend="numpy")
    reg.fit(X, y, sample_weight=w)
    Xa = np.column_stack([X, np.ones(len(X))])
    P = np.diag([1.0, 1.0, 1.0, 0.0])
    solution = np.linalg.solve(Xa.T @ (w[:, None] * Xa) + l2 * P, Xa.T @ (w * y))
    np.testing.assert_allclose(reg.coefs_[0][:, 0], solution[:3], rtol=1e-6)
    np.testing.assert_allclose(reg.intercepts_[0][0], solution[3], rtol=1e-6)


def test_partial_fit_continues_adam_state_between_calls():
    # Linear regression (no hidden layer), full batch, no penalty: grad = [X^T r / m, mean(r)],
    # r = X w + b - y.  Two Adam steps by hand (Kingma & Ba, Algorithm 1), the second with
    # the moments of the first and the bias corrections of t = 2.
    rng = np.random.default_rng(2)
    X1, X2 = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    coef = np.array([1.0, -1.0, 2.0])
    y1, y2 = X1 @ coef + 0.5, X2 @ coef + 0.5
    reg = BPRegressor((), l2=0.0, optimizer="adam", learning_rate=0.1, batch_size=None, shuffle=False,
                      random_state=3, backend="numpy")
    reg.partial_fit(X1, y1).partial_fit(X2, y2)

    theta = np.asarray(bp.MLP((3, 1), activation="relu", output="identity", seed=3, dtype="float64").theta)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    mu = nu = np.zeros(4)
    for t, (X, y) in enumerate([(X1, y1), (X2, y2)], start=1):
        r = X @ theta[:3] + theta[3] - y
        g = np.concatenate([X.T @ r / len(y), [r.mean()]])
        mu = b1 * mu + (1 - b1) * g
        nu = b2 * nu + (1 - b2) * g * g
        theta = theta - lr * (mu / (1 - b1**t)) / (np.sqrt(nu / (1 - b2**t)) + eps)
    np.testing.assert_allclose(np.asarray(reg.network_.theta), theta, rtol=1e-12)
    assert reg.n_iter_ == 2 and len(reg.loss_curve_) == 2


def test_partial_fit_non_finite_loss_warns_and_rolls_back_as_fit_does():
    # partial_fit runs one epoch of fit's driver: a diverging call warns (on the caller's
    # line), keeps the previous parameters and optimizer state, and records nothing.  The
    # reference: an estimator that made the same good calls without the diverging one.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.5
    options = dict(l2=0.0, optimizer="adam", learning_rate=0.1, batch_size=None, shuffle=False,
                   random_state=3, backend="numpy")
    reg, ref = BPRegressor((), **options), BPRegressor((), **options)
    reg.partial_fit(X, y)
    ref.partial_fit(X, y)
    theta = np.asarray(reg.network_.theta).copy()
    reg.set_params(learning_rate=1e200)  # one step to |theta| ~ 1e200: the loss overflows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", RuntimeWarning)
        with pytest.warns(RuntimeWarning, match="non-finite loss") as record:
            with np.errstate(all="ignore"):
                reg.partial_fit(X, y)
    assert [w.filename for w in record if "non-finite loss" in str(w.message)] == [__file__]
    np.testing.assert_array_equal(np.asarray(reg.network_.theta), theta)
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 1
    assert reg.stop_reason_.startswith("diverged: non-finite loss")
    reg.set_params(learning_rate=0.1)
    reg.partial_fit(X, y)
    ref.partial_fit(X, y)  # Adam's second step (t = 2) from the first step's moments, in both
    np.testing.assert_array_equal(np.asarray(reg.network_.theta), np.asarray(ref.network_.theta))
    assert reg.n_iter_ == 2 and reg.loss_curve_ == ref.loss_curve_ and reg.stop_reason_ == "partial_fit"


def test_partial_fit_needs_classes_first_and_only_stochastic_optimizers_have_it():
    X, y = _blobs()
    clf = BPClassifier((4,), optimizer="sgd", backend="numpy")
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        clf.partial_fit(X[:3], np.array([0, 1, 7]))
    assert not hasattr(BPClassifier(optimizer="lbfgs"), "partial_fit")
    assert not hasattr(BPRegressor(optimizer="cg"), "partial_fit")


# ---------------------------------------------------------------------------------------
# scikit-learn's MLP semantics (its test_mlp.py), MLPClassifier/MLPRegressor as the reference.


def _sklearn_stop_epoch(losses, tol, n_iter_no_change):
    """The epoch after which scikit-learn's own convergence rule stops on these losses
    (``MLPClassifier._update_no_improvement_count`` run on them), and its best_loss_."""
    from sklearn.neural_network import MLPClassifier

    ref = MLPClassifier(tol=tol, n_iter_no_change=n_iter_no_change)
    ref.loss_curve_, ref.best_loss_, ref._no_improvement_count = [], np.inf, 0
    for k, loss in enumerate(losses, start=1):
        ref.loss_curve_.append(loss)
        ref._update_no_improvement_count(False, None, None, None)
        if ref._no_improvement_count > n_iter_no_change:
            return k, ref.best_loss_
    return None, ref.best_loss_


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_convergence_rule_is_scikit_learns_and_keeps_the_last_parameters(Estimator):
    X, y = _blobs(n=90)
    params = dict(hidden_layer_sizes=(6,), optimizer="adam", learning_rate=0.01, tol=1e-2, n_iter_no_change=3,
                  max_iter=300, random_state=0, backend="numpy")
    est = Estimator(**params).fit(X, y)
    stop, best_loss = _sklearn_stop_epoch(est.loss_curve_, 1e-2, 3)
    assert stop is not None and stop == est.n_iter_ == len(est.loss_curve_) < 300
    assert est.best_loss_ == best_loss and est.best_validation_score_ is None and est.validation_scores_ is None
    assert est.stop_reason_ == "Training loss did not improve more than tol=0.010000 for 3 consecutive epochs."
    # No rollback: the parameters are those after the last epoch, i.e. of a run of exactly
    # n_iter_ epochs that never stops early.
    plain = _fit_quietly(Estimator(**{**params, "n_iter_no_change": np.inf, "max_iter": est.n_iter_}), X, y)
    np.testing.assert_array_equal(np.asarray(est.network_.theta), np.asarray(plain.network_.theta))


def test_n_iter_no_change_inf_runs_every_epoch_as_scikit_learn():
    from sklearn.neural_network import MLPClassifier

    X, y = _blobs(n=60)
    for Estimator in (BPClassifier, MLPClassifier):
        est = Estimator(hidden_layer_sizes=(4,), n_iter_no_change=np.inf, tol=10.0, max_iter=7, random_state=0)
        with pytest.warns(ConvergenceWarning):
            est.fit(X, y)
        assert est.n_iter_ == 7


def _sklearn_early_stopping(scores, tol, n_iter_no_change):
    """scikit-learn's early-stopping rule written out from its source: (stop epoch, best epoch)."""
    count, best, best_epoch = 0, -np.inf, 0
    for k, score in enumerate(scores, start=1):
        count = count + 1 if score < best + tol else 0
        if score > best:
            best, best_epoch = score, k
        if count > n_iter_no_change:
            return k, best_epoch
    return None, best_epoch


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_early_stopping_keeps_the_best_validation_score_as_scikit_learn(Estimator):
    from sklearn.model_selection import train_test_split

    X, y = _blobs(n=150)
    est = Estimator(hidden_layer_sizes=(6,), optimizer="adam", learning_rate=0.01, early_stopping=True,
                    validation_fraction=0.2, tol=1e-3, n_iter_no_change=4, max_iter=300, random_state=0,
                    backend="numpy").fit(X, y)
    assert est.best_loss_ is None  # as scikit-learn: the validation score is what is tracked
    scores = est.validation_scores_
    stop, best_epoch = _sklearn_early_stopping(scores, 1e-3, 4)
    assert stop == est.n_iter_ == len(scores) < 300
    assert est.best_validation_score_ == max(scores) == scores[best_epoch - 1]
    # The kept parameters score best_validation_score_ on the held-out rows (scikit-learn's metric).
    stratify = None if Estimator is BPRegressor else y
    _, val = train_test_split(np.arange(150), test_size=0.2, random_state=0, stratify=stratify)
    assert est.score(X[val], y[val]) == pytest.approx(est.best_validation_score_, rel=1e-6)
    assert est.stop_reason_.startswith("Validation score did not improve more than tol=0.001000")


def test_warm_start_with_other_classes_raises_as_scikit_learn():
    from sklearn.neural_network import MLPClassifier

    X, y = _blobs(n=60, centers=2)
    for Estimator in (BPClassifier, MLPClassifier):
        est = _fit_quietly(Estimator(hidden_layer_sizes=(4,), warm_start=True, max_iter=5, random_state=0), X, y)
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
            est.fit(X, np.where(y == 1, 2, y))
        _fit_quietly(est, X, 1 - y)  # the same classes: the fit goes on
    # The output units were not reused for other classes: classes_ is still the first fit's.
    np.testing.assert_array_equal(est.classes_, [0, 1])


@pytest.mark.parametrize("Estimator", ["Classifier", "Regressor"])
def test_partial_fit_after_an_early_stopping_fit_raises_as_scikit_learn(Estimator):
    from sklearn import neural_network

    X, y = _blobs(n=80)
    ours = {"Classifier": BPClassifier, "Regressor": BPRegressor}[Estimator]
    for est in (ours(hidden_layer_sizes=(4,), early_stopping=True, max_iter=5, random_state=0),
                getattr(neural_network, f"MLP{Estimator}")(hidden_layer_sizes=(4,), early_stopping=True,
                                                           max_iter=5, random_state=0)):
        _fit_quietly(est, X, y)
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
            est.partial_fit(X, y)
    # Without early stopping partial_fit goes on from the fitted network (scikit-learn 1.9
    # fails there with a TypeError on best_loss_ = None; the loss tracking starts afresh).
    est = _fit_quietly(ours(hidden_layer_sizes=(4,), early_stopping=True, max_iter=5, random_state=0), X, y)
    est.set_params(early_stopping=False)
    est.partial_fit(X, y)
    assert est.n_iter_ == len(est.loss_curve_) and est.best_loss_ == est.loss_curve_[-1]


@pytest.mark.parametrize("Estimator", ["Classifier", "Regressor"])
def test_a_validation_split_of_one_sample_is_refused_as_scikit_learn(Estimator):
    from sklearn import neural_network

    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3))
    y = (X[:, 0] > 0).astype(int) if Estimator == "Classifier" else X[:, 0]
    ours = {"Classifier": BPClassifier, "Regressor": BPRegressor}[Estimator]
    theirs = getattr(neural_network, f"MLP{Estimator}")
    for est in (ours(early_stopping=True, validation_fraction=0.1, max_iter=5),
                theirs(early_stopping=True, validation_fraction=0.1, max_iter=5)):
        with pytest.raises(ValueError):  # 1 of 10 rows: too small (or fewer than the classes)
            est.fit(X, y)
    if Estimator == "Regressor":
        with pytest.raises(ValueError, match="validation set is too small"):
            ours(early_stopping=True, validation_fraction=0.1, max_iter=5).fit(X, y)


# ---------------------------------------------------------------------------------------
# Everything follows X.


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_same_predictions_on_every_backend(other_backend, optimizer):
    be = other_backend
    if not be.has_float64:
        pytest.skip(f"{be} has no float64")
    X, y = _blobs()
    rng = np.random.default_rng(0)
    Y = np.column_stack([X @ rng.normal(size=4), np.sin(X[:, 0])])
    settings = dict(hidden_layer_sizes=(8,), optimizer=optimizer, max_iter=30, random_state=0, dtype="float64")

    clf_np = _fit_quietly(BPClassifier(backend="numpy", **settings), X, y)
    clf = _fit_quietly(BPClassifier(**settings), be.asarray(X), be.asarray(y))
    labels, proba = clf.predict(be.asarray(X)), clf.predict_proba(be.asarray(X))
    for result in (labels, proba, clf.coefs_[0]):
        assert be.is_native(result) and be.same_device(result)  # results live where X lives
    np.testing.assert_array_equal(to_numpy(labels), clf_np.predict(X))
    np.testing.assert_allclose(to_numpy(proba), clf_np.predict_proba(X), rtol=1e-9, atol=1e-12)

    reg_np = _fit_quietly(BPRegressor(backend="numpy", **settings), X, Y)
    reg = _fit_quietly(BPRegressor(**settings), be.asarray(X), be.asarray(Y))
    np.testing.assert_allclose(to_numpy(reg.predict(be.asarray(X))), reg_np.predict(X), rtol=1e-9, atol=1e-9)
    assert reg.score(be.asarray(X), be.asarray(Y)) == pytest.approx(reg_np.score(X, Y), rel=1e-9)


def test_numpy_input_runs_on_the_backend_parameter_and_comes_back_as_numpy():
    pytest.importorskip("torch", reason="the backend parameter is tried with torch")
    X, y = _blobs()
    settings = dict(hidden_layer_sizes=(6,), optimizer="lbfgs", max_iter=20, random_state=0, dtype="float64")
    reference = _fit_quietly(BPClassifier(backend="numpy", **settings), X, y)
    clf = _fit_quietly(BPClassifier(backend="torch", **settings), X, y)
    assert clf.network_.backend.name == "torch"
    proba = clf.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_integer_weights_on_torch_equal_repeated_rows_on_numpy():
    torch = pytest.importorskip("torch")
    X, y = _blobs()
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    settings = dict(hidden_layer_sizes=(5,), optimizer="lbfgs", max_iter=20, random_state=0, dtype="float64")
    repeated = _fit_quietly(BPClassifier(backend="numpy", **settings), np.repeat(X, w, axis=0), np.repeat(y, w))
    weighted = _fit_quietly(BPClassifier(**settings), torch.asarray(X), torch.asarray(y),
                            sample_weight=torch.asarray(w))
    np.testing.assert_allclose(to_numpy(weighted.predict_proba(torch.asarray(X))), repeated.predict_proba(X),
                               rtol=1e-7, atol=1e-10)


def test_pickle_keeps_the_backend_of_the_fitted_network():
    torch = pytest.importorskip("torch")
    X, y = _blobs()
    clf = _fit_quietly(BPClassifier((5,), optimizer="lbfgs", max_iter=10, random_state=0, dtype="float64"),
                       torch.asarray(X), torch.asarray(y))
    clone = pickle.loads(pickle.dumps(clf))
    assert clone.network_.backend.name == "torch"
    expected = to_numpy(clf.predict_proba(torch.asarray(X)))
    np.testing.assert_array_equal(to_numpy(clone.predict_proba(torch.asarray(X))), expected)


def test_messages_for_array_input_match_scikit_learns():
    torch = pytest.importorskip("torch")
    from sklearn.neural_network import MLPClassifier

    X, y = _blobs()
    bad = X.copy()
    bad[3, 1] = np.nan

    def message(estimator, *args):
        with pytest.raises(ValueError) as info:
            estimator.fit(*args)
        return str(info.value)

    reference = message(MLPClassifier(), bad, y)
    ours = message(BPClassifier(), torch.asarray(bad), torch.asarray(y))
    assert reference.startswith(ours)  # "Input X contains NaN." (+ a hint about imputers)

    mlp = _fit_quietly(MLPClassifier((3,), max_iter=5, random_state=0), X, y)
    clf = _fit_quietly(BPClassifier((3,), optimizer="lbfgs", max_iter=5, random_state=0), torch.asarray(X),
                       torch.asarray(y))
    with pytest.raises(ValueError) as expected:
        mlp.predict(X[:, :3])
    with pytest.raises(ValueError, match=re.escape(str(expected.value).replace("MLPClassifier", "BPClassifier"))):
        clf.predict(torch.asarray(X[:, :3]))


# ---------------------------------------------------------------------------------------
# In a scikit-learn workflow, against scikit-learn's MLPClassifier.


@pytest.mark.slow
def test_grid_search_on_digits_is_as_accurate_as_mlpclassifier(record_property):
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bpnet_xp.datasets import load_digits

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sizes, strengths = [(16,), (64,)], [1e-4, 1.0]
    ours = GridSearchCV(
        make_pipeline(StandardScaler(), BPClassifier(max_iter=200, random_state=0, backend="numpy")),
        {"bpclassifier__hidden_layer_sizes": sizes, "bpclassifier__l2": strengths}, cv=3,
    )
    theirs = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(max_iter=200, random_state=0)),
        {"mlpclassifier__hidden_layer_sizes": sizes, "mlpclassifier__alpha": strengths}, cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X_train, y_train)
        theirs.fit(X_train, y_train)
    ours_accuracy, theirs_accuracy = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    record_property("bpclassifier_test_accuracy", ours_accuracy)
    record_property("mlpclassifier_test_accuracy", theirs_accuracy)
    print(f"\nheld-out accuracy: BPClassifier {ours_accuracy:.4f} ({ours.best_params_}), "
          f"MLPClassifier {theirs_accuracy:.4f} ({theirs.best_params_})")
    assert ours_accuracy >= theirs_accuracy - 0.01


# ---------------------------------------------------------------------------------------
# scipy.sparse X: densified one mini-batch (or bounded block of rows) at a time.

sparse = pytest.importorskip("scipy.sparse", reason="the sparse-input tests need scipy")
SPARSE_FORMATS = [sparse.csr_matrix, sparse.csc_matrix, sparse.coo_matrix, sparse.csr_array]


def _sparse_data(m=150, n=12, seed=0):
    """Mostly-zero features (about 80 % zeros) with a learnable 3-class target and weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.2)
    y = np.digitize(X[:, :4].sum(axis=1), [-0.3, 0.3])  # three well-populated classes
    return X, y, rng.random(m) + 0.1


def _float64(backend):
    return "float64" if backend.has_float64 else "float32"


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs", "cg"])
def test_sparse_x_trains_and_predicts_as_the_dense_array(backend, optimizer):
    X, y, w = _sparse_data()
    dtype = _float64(backend)
    tol = 1e-9 if dtype == "float64" else 1e-4
    kwargs = dict(optimizer=optimizer, max_iter=12, batch_size=32, random_state=0, backend=backend, dtype=dtype)
    dense = _fit_quietly(BPClassifier((6,), **kwargs), X, y, sample_weight=w)
    for to_sparse in SPARSE_FORMATS:
        fitted = _fit_quietly(BPClassifier((6,), **kwargs), to_sparse(X), y, sample_weight=w)
        np.testing.assert_allclose(fitted.loss_curve_, dense.loss_curve_, rtol=tol)
        proba = to_numpy(fitted.predict_proba(to_sparse(X)))
        np.testing.assert_allclose(proba, to_numpy(dense.predict_proba(X)), rtol=tol, atol=tol)
        # ... and the probabilities are the softmax of an independent NumPy forward pass on the dense X.
        z = _reference_outputs(fitted, X)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(proba, e / e.sum(axis=1, keepdims=True), rtol=tol, atol=tol)
        assert fitted.score(to_sparse(X), y) == pytest.approx(dense.score(X, y))


def test_sparse_partial_fit_and_regression_follow_the_dense_array():
    X, y, _ = _sparse_data(seed=1)
    target = X[:, 0] - 2 * X[:, 3]
    dense = BPRegressor((5,), random_state=3, batch_size=16, backend="numpy")
    sparse_reg = BPRegressor((5,), random_state=3, batch_size=16, backend="numpy")
    for _ in range(3):
        dense.partial_fit(X, target)
        sparse_reg.partial_fit(sparse.csr_matrix(X), target)
    np.testing.assert_allclose(sparse_reg.loss_curve_, dense.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(sparse_reg.predict(sparse.csc_matrix(X)), _reference_outputs(sparse_reg, X)[:, 0],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer, extra", [("lbfgs", {}), ("gd", {}), ("adam", {"early_stopping": True}),
                                              ("rprop", {})])
def test_sparse_x_in_blocks_of_rows_gives_the_full_batch_numbers(monkeypatch, optimizer, extra):
    # Blocks of 3 rows: the full-batch objective, the hold-out score and the predictions are
    # sums over many densified blocks, which must add up to the dense numbers.
    import bpnet_xp.sklearn as bpsk

    monkeypatch.setattr(bpsk, "_BLOCK_ELEMENTS", 3 * 12)
    X, y, w = _sparse_data()
    kwargs = dict(optimizer=optimizer, max_iter=10, random_state=0, backend="numpy", **extra)
    dense = _fit_quietly(BPClassifier((6,), **kwargs), X, y, sample_weight=w)
    fitted = _fit_quietly(BPClassifier((6,), **kwargs), sparse.csr_matrix(X), y, sample_weight=w)
    np.testing.assert_allclose(fitted.loss_curve_, dense.loss_curve_, rtol=1e-9)
    if extra:
        np.testing.assert_allclose(fitted.validation_scores_, dense.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(fitted.predict_proba(sparse.coo_matrix(X)), dense.predict_proba(X),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_sparse_x_is_never_densified_as_a_whole(optimizer):
    import tracemalloc

    m, n = 200_000, 2_000  # dense float64: 3.2 GB; 0.1 % density: 400 000 stored values
    rng = np.random.default_rng(0)
    X = sparse.csr_matrix((rng.random(2 * m), rng.integers(0, n, 2 * m), np.arange(0, 2 * m + 1, 2)), shape=(m, n))
    y = rng.random(m)
    dense_bytes = m * n * 8
    tracemalloc.start()
    try:
        reg = _fit_quietly(BPRegressor((2,), optimizer=optimizer, max_iter=1, batch_size=256, random_state=0,
                                       backend="numpy"), X, y)
        predicted = reg.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert predicted.shape == (m,) and np.all(np.isfinite(predicted))
    assert len(reg.loss_curve_) == 1 and np.isfinite(reg.loss_curve_[0])
    assert peak < dense_bytes / 20, f"peak {peak / 1e6:.0f} MB for a {dense_bytes / 1e9:.1f} GB dense X"


@pytest.mark.parametrize("bad, message", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")])
def test_sparse_x_with_nan_or_inf_is_refused_naming_x(bad, message):
    X, y, _ = _sparse_data()
    Xs = sparse.csr_matrix(X)
    Xs.data[3] = bad
    with pytest.raises(ValueError, match=message):
        BPClassifier(backend="numpy").fit(Xs, y)
    with pytest.raises(ValueError, match=message):
        BPClassifier(backend="numpy").partial_fit(Xs, y, classes=[0, 1, 2])
    fitted = _fit_quietly(BPClassifier((3,), max_iter=2, backend="numpy", random_state=0), X, y)
    with pytest.raises(ValueError, match=message):
        fitted.predict(Xs)
    with pytest.raises(ValueError, match="X has 11 features"):
        fitted.predict(sparse.csr_matrix(X[:, :11]))


@pytest.mark.parametrize("optimizer", ["newton", "scg", "lm", "br"])
def test_sparse_x_with_a_curvature_trainer_is_refused_naming_the_optimizer(optimizer):
    X, y, _ = _sparse_data()
    with pytest.raises(ValueError, match=f"optimizer={optimizer!r}.*use optimizer='lbfgs'"):
        BPRegressor(optimizer=optimizer, backend="numpy").fit(sparse.csr_matrix(X), X[:, 0])


@pytest.mark.parametrize("scale, extra, why", [
    (1e3, dict(learning_rate=10.0), "non-finite loss"),
    (30.0, dict(learning_rate=1.0, momentum=0.99, activation="identity"), "1000 x its lowest"),
])
def test_sparse_x_divergence_stops_warns_and_keeps_finite_parameters_as_dense(scale, extra, why):
    # Absurd steps on large inputs: the dense driver's divergence rules (a non-finite epoch
    # loss; a loss 1000 x above its lowest for 3 epochs) -> RuntimeWarning, stop, keep the
    # parameters where the loss was lowest; sparse X must stop at the same epoch, alike.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * scale
    y = X[:, 0] * scale ** 2
    kwargs = dict(optimizer="sgd", max_iter=20, random_state=0, backend="numpy", **extra)
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy's own overflow notices are not the point
        with pytest.warns(RuntimeWarning, match="diverged"):
            dense = BPRegressor((5,), **kwargs).fit(X, y)
        with pytest.warns(RuntimeWarning, match="diverged"):
            fitted = BPRegressor((5,), **kwargs).fit(sparse.csr_matrix(X), y)
    assert fitted.stop_reason_.startswith("diverged") and why in fitted.stop_reason_ and why in dense.stop_reason_
    assert fitted.n_iter_ == dense.n_iter_ < 20
    np.testing.assert_allclose(fitted.loss_curve_, dense.loss_curve_, rtol=1e-12)
    assert np.all(np.isfinite(fitted.network_.theta))
    np.testing.assert_allclose(fitted.network_.theta, dense.network_.theta, rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_sparse_x_trains_through_the_one_driver_with_its_verbose_lines(capsys, optimizer):
    # The driver's own per-epoch (iteration) lines, the same as for the dense X: sparse
    # training runs the one loop of bpnet_xp.training, not a copy with lines of its own.
    X, y, w = _sparse_data()
    kwargs = dict(optimizer=optimizer, max_iter=4, batch_size=32, random_state=0, backend="numpy", verbose=1)
    _fit_quietly(BPClassifier((6,), **kwargs), X, y, sample_weight=w)
    dense = capsys.readouterr().out
    _fit_quietly(BPClassifier((6,), **kwargs), sparse.csr_matrix(X), y, sample_weight=w)
    lines = capsys.readouterr().out
    unit = "epoch" if optimizer == "adam" else "iteration"
    assert re.search(rf"^{unit} 1/4  loss \d", dense, re.MULTILINE), dense
    assert lines == dense


def test_messages_quote_plain_values_not_numpy_reprs():
    X, y, _ = _sparse_data()
    with pytest.raises(ValueError, match=r"got \[3, 0\]") as info:
        BPClassifier(np.array([3, 0]), backend="numpy").fit(X, y)
    assert "array(" not in str(info.value)
    with pytest.raises(ValueError, match="only one class: 5$") as info:
        BPClassifier((3,), backend="numpy").fit(X, np.full(len(X), 5, dtype=np.int64))
    assert "np." not in str(info.value)


@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_predict_on_a_library_array_names_a_float32_overflow(library):
    # The native branch of predict casts X to the network's float32: a value past float32's
    # largest (3.4e38) is refused naming X, never turned into inf.
    pytest.importorskip(library)
    be = bp.get_backend(library)
    rng = np.random.default_rng(0)
    X_host = rng.normal(size=(20, 3))
    model = _fit_quietly(BPClassifier((3,), dtype="float32", max_iter=3, random_state=0),
                         be.asarray(X_host, dtype="float64"), np.arange(20) % 2)
    X_host[4, 2] = 1e308
    with pytest.raises(ValueError, match=r"X has a value of magnitude 1e\+308 that overflows float32"):
        model.predict(be.asarray(X_host, dtype="float64"))
