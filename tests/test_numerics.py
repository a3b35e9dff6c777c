"""Activations and losses: each derivative against finite differences, and stability at |z| = 1e4."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpnet_xp.activations import ACTIVATIONS, log_softmax, sigmoid, softmax
from bpnet_xp.losses import LOSSES


def _f64(backend):
    if not backend.has_float64:
        pytest.skip("float64")
    return "float64"


@pytest.mark.parametrize("name", ["identity", "sigmoid", "tanh", "relu"])
def test_derivative_matches_central_differences(backend, name):
    dt = _f64(backend)
    act = ACTIVATIONS[name]
    # Points away from relu's kink at 0, where the derivative is not defined.
    z_host = np.array([-3.0, -1.2, -0.4, 0.3, 0.9, 2.5])
    h = 1e-6
    numeric = (
        backend.to_numpy(act.function(backend.asarray(z_host + h, dt)))
        - backend.to_numpy(act.function(backend.asarray(z_host - h, dt)))
    ) / (2 * h)
    a = act.function(backend.asarray(z_host, dt))
    np.testing.assert_allclose(backend.to_numpy(act.derivative(a)), numeric, rtol=1e-8, atol=1e-10)


def test_hidden_activations_against_numpy(backend):
    dt = _f64(backend)
    z = np.linspace(-6, 6, 25)
    zb = backend.asarray(z, dt)
    np.testing.assert_allclose(backend.to_numpy(ACTIVATIONS["sigmoid"].function(zb)), 1 / (1 + np.exp(-z)), rtol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(ACTIVATIONS["tanh"].function(zb)), np.tanh(z), rtol=1e-14)
    np.testing.assert_array_equal(backend.to_numpy(ACTIVATIONS["relu"].function(zb)), np.maximum(z, 0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_relu_against_numpy(backend, dtype):
    """The forward pass's in-place ReLU: np.maximum's values (NaN and -0.0 included),
    written into its argument where the library can, and ``None`` (nothing written) elsewhere."""
    if dtype == "float64" and not backend.has_float64:
        pytest.skip("no float64 on this device")
    z = np.array([[-3.5, -0.0, 0.0, 2.25], [np.nan, -1e-30, 1e30, -np.inf]], dtype=dtype)
    zb = backend.asarray(z, dtype)
    result = ACTIVATIONS["relu"].inplace(zb)
    if backend.name in ("numpy", "cupy", "torch"):  # the libraries that can write into an array
        assert result is zb
        np.testing.assert_array_equal(backend.to_numpy(zb), np.maximum(z, 0))
    else:
        assert result is None
        np.testing.assert_array_equal(backend.to_numpy(zb), z)


def test_sigmoid_is_exact_in_the_tails(backend):
    dt = _f64(backend)
    z = backend.asarray(np.array([-1e4, -745.0, -40.0, 0.0, 40.0, 1e4]), dt)
    s = backend.to_numpy(sigmoid(z))
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    # sigmoid(-40) = e^-40 / (1 + e^-40) = 4.248354255291589e-18 (full relative precision kept)
    assert s[2] == pytest.approx(math.exp(-40) / (1 + math.exp(-40)), rel=1e-14)


def test_softmax_and_log_softmax_do_not_overflow(backend):
    dt = _f64(backend)
    z = backend.asarray(np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]]), dt)
    p = backend.to_numpy(softmax(z))
    lp = backend.to_numpy(log_softmax(z))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-15)
    # log softmax of (1e4, 0, -1e4): (0, -1e4, -2e4) up to log(1 + e^-1e4) = 0.
    np.testing.assert_allclose(lp, [[0.0, -1e4, -2e4], [-math.log(3)] * 3], rtol=1e-15)


@pytest.mark.parametrize("z0,y0,expected", [
    # softplus(z) - y z:  z = 1e4, y = 0 -> 1e4 ;  z = 1e4, y = 1 -> log(1 + e^-1e4) = 0
    (1e4, 0.0, 1e4), (1e4, 1.0, 0.0),
    # z = -1e4, y = 1 -> softplus(-1e4) + 1e4 = 1e4 ; y = 0 -> 0
    (-1e4, 1.0, 1e4), (-1e4, 0.0, 0.0),
    (0.0, 1.0, math.log(2.0)),
])
def test_cross_entropy_from_logits_is_finite_and_exact(backend, z0, y0, expected):
    dt = _f64(backend)
    z = backend.asarray(np.array([[z0]]), dt)
    y = backend.asarray(np.array([[y0]]), dt)
    value = float(LOSSES["cross_entropy"].value(z, sigmoid(z), y))
    assert math.isfinite(value)
    assert value == pytest.approx(expected, abs=1e-12)


def test_softmax_cross_entropy_extreme_logits(backend):
    dt = _f64(backend)
    z = backend.asarray(np.array([[1e4, -1e4, 0.0]]), dt)
    y = backend.asarray(np.array([[0.0, 1.0, 0.0]]), dt)
    # -log softmax_2 = -(-1e4 - 1e4) = 2e4
    assert float(LOSSES["softmax_cross_entropy"].value(z, softmax(z), y)) == pytest.approx(2e4, rel=1e-15)


def test_mse_half_convention(backend):
    dt = _f64(backend)
    a = backend.asarray(np.array([[1.0, 2.0], [3.0, 5.0]]), dt)
    y = backend.asarray(np.array([[0.0, 2.0], [1.0, 2.0]]), dt)
    # 0.5 * (1 + 0 + 4 + 9) = 7
    assert float(LOSSES["mse"].value(a, a, y)) == pytest.approx(7.0)


@pytest.mark.parametrize("loss,output", [("cross_entropy", "sigmoid"), ("softmax_cross_entropy", "softmax"), ("mse", "identity")])
def test_canonical_delta_is_the_derivative_of_the_loss(backend, loss, output):
    """For the canonical pairs, a - y equals dL/dz, checked by central differences on z."""
    dt = _f64(backend)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = np.eye(3)[[0, 2, 1, 1]]
    f = ACTIVATIONS[output].function
    L = LOSSES[loss]
    yb = backend.asarray(y, dt)

    def value(zz):
        zb = backend.asarray(zz, dt)
        return float(L.value(zb, f(zb), yb))

    h = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(*z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric[idx] = (value(z + e) - value(z - e)) / (2 * h)
    delta = backend.to_numpy(f(backend.asarray(z, dt))) - y
    np.testing.assert_allclose(delta, numeric, rtol=1e-7, atol=1e-9)
