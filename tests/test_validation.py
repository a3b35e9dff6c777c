"""Bad input raises ValueError naming the problem, on every backend, for host and device data."""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp


@pytest.fixture
def net(backend):
    return bp.MLP([3, 4, 2], backend=backend, seed=0)


def _X(m=5, n=3):
    return np.random.default_rng(0).standard_normal((m, n))


@pytest.fixture(params=["host", "device"])
def place(request, backend):
    """Pass the data as NumPy, or as arrays of the backend already on its device."""
    if request.param == "host":
        return lambda a: a
    return lambda a: backend.asarray(a)


ENTRY_POINTS = {
    "loss": lambda net, X, y: net.loss(X, y),
    "loss_and_grad": lambda net, X, y: net.loss_and_grad(X, y),
    "score": lambda net, X, y: net.score(X, y),
    "predict": lambda net, X, y: net.predict(X),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_wrong_number_of_features(net, place, entry):
    with pytest.raises(ValueError, match="X has 4 features but the network expects 3"):
        ENTRY_POINTS[entry](net, place(_X(5, 4)), np.zeros(5, dtype=np.int64))


def test_one_dimensional_X(net, place):
    with pytest.raises(ValueError, match="X must be 2-D.*1-D array of shape \\(3,\\)"):
        net.predict(place(np.ones(3)))


def test_empty_batch(net, place):
    with pytest.raises(ValueError, match="X is empty"):
        net.loss(place(np.zeros((0, 3))), np.zeros(0, dtype=np.int64))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_non_finite_X(net, place, bad, entry):
    X = _X()
    X[2, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        ENTRY_POINTS[entry](net, place(X), np.zeros(5, dtype=np.int64))


def test_y_of_wrong_length(net, place):
    with pytest.raises(ValueError, match="y has 4 samples but X has 5"):
        net.loss(place(_X()), place(np.zeros(4, dtype=np.int64)))


@pytest.mark.parametrize("label", [2, -1, 7])
def test_label_out_of_range(net, place, label):
    y = np.array([0, 1, 0, label, 1])
    with pytest.raises(ValueError, match=f"label {label}.* out of range.*labels must be 0..1"):
        net.loss(place(_X()), place(y))


def test_non_integer_labels(net):
    with pytest.raises(ValueError, match="non-integer"):
        net.loss(_X(), np.array([0, 1, 0.5, 1, 0]))


def test_targets_outside_unit_interval_for_cross_entropy(net, place):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.loss(place(_X()), place(np.full((5, 2), 2.0)))


def test_wrong_number_of_target_columns(net):
    with pytest.raises(ValueError, match="y has 3 columns but the network has 2 outputs"):
        net.loss(_X(), np.zeros((5, 3)))


def test_non_finite_regression_targets(backend):
    reg = bp.MLP([3, 1], output="identity", backend=backend, seed=0)
    y = np.ones(5)
    y[0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        reg.loss(_X(), y)


def test_non_numeric_X(net):
    with pytest.raises(ValueError, match="numeric"):
        net.predict(np.array([["a", "b", "c"]]))


def test_array_of_another_backend_is_refused(backend):
    if backend.name == "numpy":
        pytest.skip("numpy input is host data, accepted by every backend")
    other = bp.get_backend("array_api_strict") if backend.name != "array_api_strict" else bp.get_backend("torch") \
        if "torch" in bp.available_backends() else None
    if other is None:
        pytest.skip("no second non-numpy backend here")
    net = bp.MLP([3, 2], backend=backend, seed=0)
    with pytest.raises(ValueError, match=f"array but this network runs on the '{backend.name}' backend"):
        net.predict(other.asarray(_X()))


def test_array_on_another_device_is_refused():
    if "array_api_strict" not in bp.available_backends():
        pytest.skip("array_api_strict not installed")
    net = bp.MLP([3, 2], backend="array_api_strict", device="device1", seed=0)
    X = bp.get_backend("array_api_strict").asarray(_X())  # on CPU_DEVICE
    with pytest.raises(ValueError, match="on device"):
        net.predict(X)
