"""metrics.output_score and validation.check_cast on every backend, against scikit-learn and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.backend import to_numpy
from bpnet_xp.metrics import output_score
from bpnet_xp.validation import check_cast

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference")


def _on(backend, array):
    return backend.asarray(np.asarray(array, dtype=np.float64 if backend.has_float64 else np.float32))


def test_output_score_is_scikit_learns_accuracy_and_r2(backend):
    rng = np.random.default_rng(3)
    weight = rng.uniform(0.1, 2.0, 40)
    # Classification: softmax outputs against one-hot targets; the decision is the largest output.
    classifier = bp.MLP([4, 5, 3], output="softmax", backend=backend)
    A = rng.dirichlet(np.ones(3), size=40)
    truth = rng.integers(0, 3, 40)
    for w in (None, weight):
        expected = sklearn_metrics.accuracy_score(truth, A.argmax(axis=1), sample_weight=w)
        got = output_score(classifier.spec, _on(backend, A), _on(backend, np.eye(3)[truth]),
                           None if w is None else _on(backend, w))
        assert float(to_numpy(got)) == pytest.approx(expected, abs=1e-6)
    # Regression: R^2 averaged over two outputs, as scikit-learn's default.
    regressor = bp.MLP([4, 5, 2], output="identity", loss="mse", backend=backend)
    Y = rng.normal(size=(40, 2))
    P = Y + rng.normal(scale=0.5, size=(40, 2))
    for w in (None, weight):
        expected = sklearn_metrics.r2_score(Y, P, sample_weight=w)
        got = output_score(regressor.spec, _on(backend, P), _on(backend, Y), None if w is None else _on(backend, w))
        assert float(to_numpy(got)) == pytest.approx(expected, rel=1e-5)


def test_check_cast_refuses_exactly_what_overflows_float32(backend):
    if backend.is_lazy:
        pytest.skip("check_cast is the eager check; Dask's lazy checks are tested in test_trust.py")
    if not backend.has_float64:
        pytest.skip("values beyond float32 need a float64 array on this backend")
    xp = backend.xp
    largest = float(np.finfo(np.float32).max)  # NumPy's own limit is the reference
    fits = backend.asarray(np.array([[1.0, -largest]]), "float64")
    check_cast(fits, xp.float32, "X")  # the largest float32 itself fits: nothing raised
    check_cast(fits, xp.float64, "X")
    beyond = backend.asarray(np.array([[1.0, -3e39]]), "float64")
    with pytest.raises(ValueError, match=r"X has a value of magnitude 3e\+39 that overflows float32"):
        check_cast(beyond, xp.float32, "X")
    check_cast(beyond, xp.float64, "X")


def test_mlp_refuses_sparse_input_by_name_and_points_to_the_estimators():
    sparse = pytest.importorskip("scipy.sparse", reason="scipy makes the sparse matrix")
    X = sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    y = np.arange(20) % 2
    net = bp.MLP([4, 3, 1], backend="numpy")
    for call in (lambda: net.fit(X, y, epochs=1), lambda: net.predict(X), lambda: net.loss(X, y)):
        with pytest.raises(ValueError, match=r"X must be a NumPy array.*csr_matrix; sparse input is taken by "
                                             r"bpnet_xp\.sklearn\.BPClassifier/BPRegressor"):
            call()
