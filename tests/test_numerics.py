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


# -- the network's sigmoid kernel (issue 15) ------------------------------------------------
def _exact_sigmoid(z: float) -> float:
    """sigmoid(z) in float64 from math.exp, the two-branch form (no overflow, full precision)."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _dtype_or_skip(backend, dtype):
    if dtype == "float64" and not backend.has_float64:
        pytest.skip("no float64 on this device")
    return dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_kernel_against_exact_values_without_warnings(backend, dtype):
    """sigmoid_kernel = 1 / (1 + exp(-max(z, log(tiny)))): a few ulp of the exact value
    wherever that value is a normal number, within tiny of it below, over z in [-800, 800];
    never a warning (no overflow in exp), never inf or NaN.  The in-place form gives the same
    bits where the library writes into arrays, None (nothing written) elsewhere."""
    import warnings

    from bpnet_xp.activations import sigmoid_kernel, sigmoid_kernel_inplace

    _dtype_or_skip(backend, dtype)
    z = np.concatenate([np.linspace(-800, 800, 4001), [-745.2, -708.5, -708.3, -87.4, -87.3, -40.0, 0.0, 40.0]])
    z = z.astype(dtype)
    reference = np.array([_exact_sigmoid(float(v)) for v in z])  # from the rounded inputs, in float64
    tiny, eps = float(np.finfo(dtype).smallest_normal), float(np.finfo(dtype).eps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            got = backend.to_numpy(sigmoid_kernel(backend.asarray(z, dtype))).astype(np.float64)
            zb = backend.asarray(z.copy(), dtype)  # a copy: NumPy's asarray would hand z itself
            written = sigmoid_kernel_inplace(zb)
    assert np.all(np.isfinite(got))
    normal = reference >= tiny
    np.testing.assert_allclose(got[normal], reference[normal], rtol=8 * eps, atol=0)
    assert np.all(np.abs(got[~normal] - reference[~normal]) <= 1.001 * tiny)  # ~sigmoid(log(tiny)), log(tiny) rounded
    assert np.all((got >= 0.0) & (got <= 1.0))  # (XLA on CPU flushes subnormals: 0 there)
    # sigmoid(-40) keeps its digits: e^-40 / (1 + e^-40) = 4.248354255291589e-18.
    assert got[np.flatnonzero(z == np.asarray(-40.0, dtype))[0]] == pytest.approx(4.248354255291589e-18, rel=8 * eps)
    if backend.writes_in_place:
        assert written is zb
        np.testing.assert_array_equal(backend.to_numpy(zb).astype(np.float64), got)
    else:
        assert written is None
        np.testing.assert_array_equal(backend.to_numpy(zb), z)


def test_public_sigmoid_keeps_the_subnormal_tail(backend):
    """bpnet_xp.activations.sigmoid stays the exact two-branch form: relative precision even
    where the output is subnormal (where sigmoid_kernel is only within tiny)."""
    dt = _f64(backend)
    if backend.name == "jax":
        pytest.skip("XLA on CPU flushes subnormal results to 0 (a property of the device, not of the formula)")
    z = np.array([-720.0, -740.0])
    got = backend.to_numpy(sigmoid(backend.asarray(z, dt)))
    np.testing.assert_allclose(got, [math.exp(-720.0), math.exp(-740.0)], rtol=1e-6)


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_and_log_sigmoid_on_extreme_logits_against_float64(backend, dtype):
    """logaddexp(0.0, z) with a Python scalar: the float64 softplus reference on logits from
    -1e4 to 1e4, finite, no warning."""
    import warnings

    from bpnet_xp.activations import log_sigmoid

    _dtype_or_skip(backend, dtype)
    z = np.array([[-1e4, -800.0, -90.0, -30.0, -1.0, 0.0, 1e-3, 2.5, 30.0, 90.0, 800.0, 1e4]], dtype=dtype)
    y = np.array([[0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]], dtype=dtype)
    z64 = z.astype(np.float64)
    terms = [_softplus(float(v)) - float(t) * float(v) for v, t in zip(z64[0], y[0].astype(np.float64))]
    eps = float(np.finfo(dtype).eps)
    zb, yb = backend.asarray(z, dtype), backend.asarray(y, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(LOSSES["cross_entropy"].value(zb, sigmoid(zb), yb))
        logs = backend.to_numpy(log_sigmoid(zb)).astype(np.float64)
    # Each term is exact to a few ulp of its size; the sum then to a few ulp of the largest.
    assert value == pytest.approx(math.fsum(terms), rel=8 * eps, abs=8 * eps * max(abs(t) for t in terms))
    np.testing.assert_allclose(logs[0], [-_softplus(-float(v)) for v in z64[0]], rtol=8 * eps,
                               atol=float(np.finfo(dtype).smallest_normal))  # subnormal results may flush to 0 (XLA)


def test_network_gradient_with_saturated_sigmoid_units_against_central_differences(backend):
    """A sigmoid network whose hidden pre-activations reach beyond log(tiny) (the kernel's
    floor) and far above 0: its gradient (the step plan where the library writes in place,
    the generic path elsewhere) against central differences of its loss in float64."""
    import bpnet_xp as bp
    from bpnet_xp.network import batch_plan
    from bpnet_xp.sources import batch_loss_and_grad

    dt = _f64(backend)
    net = bp.MLP([3, 4, 2], activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=0.5,
                 backend=backend, dtype=dt, seed=1)
    rng = np.random.default_rng(5)
    X = np.array([[300.0, -1.0, 0.5], [-300.0, 2.0, 0.1], [0.3, -0.2, 0.9], [1.0, 1.0, -1.0]])
    y = rng.integers(0, 2, 4)
    Xd, Yd = net.prepare(X, y)
    theta = bp.backend.to_numpy(net.theta).astype(np.float64)
    theta[0:4] = [3.0, -3.0, 0.2, -0.1]  # x0 = +-300 drives two hidden units to z = +-900
    theta_b = backend.asarray(theta, dt)
    plan = batch_plan(net.spec, theta_b, 4)
    loss, grad = (plan or (lambda t, a, b: batch_loss_and_grad(net.spec, t, a, b, 4)))(theta_b, Xd, Yd)
    grad = bp.backend.to_numpy(grad).astype(np.float64).copy()

    def J(t):
        return float(batch_loss_and_grad(net.spec, backend.asarray(t, dt), Xd, Yd, 4)[0])

    h = 1e-6
    fd = np.array([(J(theta + h * e) - J(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    assert math.isfinite(float(loss)) and float(loss) == pytest.approx(J(theta), rel=1e-12)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
