"""Arguments of :class:`bpnet_xp.MLP` methods that used to be silently wrong (issue 12).

* ``copy(device=...)`` without ``backend`` moves the copy to that device of the
  network's own backend (it used to ignore ``device``).
* ``hessian_vector_product`` / ``gauss_newton_vector_product`` check ``theta`` and ``v``
  as ``loss_and_grad`` checks ``theta``: shape (n_parameters,) and finite, refused with
  a message naming the argument (a NaN theta used to give a NaN product).
* ``MLP(dtype=...)`` quotes the dtype as the caller gave it, not NumPy's name for it.

References: array_api_strict's own ``Device`` objects, the original parameters on the
host in NumPy, central differences of the gradient for H v.
"""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.backend import to_numpy

from conftest import make_backend

PRODUCTS = ["hessian_vector_product", "gauss_newton_vector_product"]


def _net(backend, **kwargs):
    return bp.MLP([3, 4, 2], activation="tanh", output="sigmoid", loss="cross_entropy", l2=0.1,
                  dtype="float64", seed=0, backend=backend, **kwargs)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(6, 3)), rng.integers(0, 2, size=(6, 2)).astype(np.float64)


# -- a. copy(device=...) ------------------------------------------------------------------


@pytest.mark.parametrize("start, target", [(None, "device1"), ("device1", "CPU_DEVICE")])
def test_copy_device_alone_moves_within_the_backend(start, target):
    pytest.importorskip("array_api_strict", reason="the two-device check needs array_api_strict")
    import array_api_strict

    net = _net(make_backend("array_api_strict", start))
    clone = net.copy(device=target)
    assert clone.backend.name == "array_api_strict"
    assert clone.theta.device == array_api_strict.Device(target)
    assert clone.backend.device == array_api_strict.Device(target)
    # The network itself stays where it was.
    assert net.theta.device != array_api_strict.Device(target)
    np.testing.assert_array_equal(to_numpy(clone.theta), to_numpy(net.theta))
    assert clone.dtype == "float64"


def test_copy_to_an_unknown_device_is_refused_by_name(backend):
    net = _net(backend)
    with pytest.raises(ValueError, match="device") as info:
        net.copy(device="nonsense")
    assert "nonsense" in str(info.value)


def test_copy_without_device_keeps_the_backend_and_device(backend):
    net = _net(backend)
    clone = net.copy(dtype="float32")
    assert clone.backend is net.backend
    np.testing.assert_allclose(to_numpy(clone.theta), to_numpy(net.theta).astype(np.float32), rtol=0, atol=0)


# -- b. theta and v of the curvature products ------------------------------------------


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("argument", ["theta", "v"])
def test_products_refuse_a_wrong_shape_by_name(backend, product, argument):
    net = _net(backend)
    X, y = _data()
    n = net.n_parameters
    good = np.zeros(n)
    for bad in (np.zeros(n - 1), np.zeros((n, 1)), np.zeros(n + 3)):
        kwargs = {"theta": good, "v": good, argument: bad}
        v = kwargs.pop("v")
        with pytest.raises(ValueError, match=rf"^{argument} must have shape \({n},\)"):
            getattr(net, product)(X, y, v, **kwargs)


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("argument", ["theta", "v"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_products_refuse_non_finite_values_by_name(backend, product, argument, value):
    net = _net(backend)
    X, y = _data()
    bad = np.ones(net.n_parameters)
    bad[3] = value
    kwargs = {"theta": np.ones(net.n_parameters) * 0.1, "v": np.ones(net.n_parameters), argument: bad}
    v = kwargs.pop("v")
    with pytest.raises(ValueError, match=rf"^{argument} contains NaN or infinite values"):
        getattr(net, product)(X, y, v, **kwargs)


@pytest.mark.parametrize("product", PRODUCTS)
def test_products_refuse_a_non_array_theta_by_name(backend, product):
    net = _net(backend)
    X, y = _data()
    with pytest.raises(ValueError, match="^theta must be an array"):
        getattr(net, product)(X, y, np.zeros(net.n_parameters), theta=object())


def test_hessian_product_at_a_given_theta_matches_finite_differences(backend):
    # The checked path still accepts a valid host theta and evaluates there, not at net.theta.
    net = _net(backend)
    X, y = _data(1)
    rng = np.random.default_rng(2)
    theta = rng.normal(scale=0.5, size=net.n_parameters)
    v = rng.normal(size=net.n_parameters)
    got = to_numpy(net.hessian_vector_product(X, y, list(v), theta=list(theta))).astype(np.float64)
    eps = 1e-5
    plus = to_numpy(net.loss_and_grad(X, y, theta=theta + eps * v)[1]).astype(np.float64)
    minus = to_numpy(net.loss_and_grad(X, y, theta=theta - eps * v)[1]).astype(np.float64)
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-7)


# -- c. the dtype as given ---------------------------------------------------------------


@pytest.mark.parametrize("dtype, shown", [(np.dtype("U5"), "dtype('<U5')"), (np.dtype("S3"), "dtype('S3')"),
                                          (np.dtype("int32"), "dtype('int32')"), ("float16", "'float16'")])
def test_a_wrong_dtype_is_quoted_as_given(backend, dtype, shown):
    with pytest.raises(ValueError, match="^dtype must be 'float32' or 'float64'") as info:
        bp.MLP([3, 2], backend=backend, dtype=dtype)
    message = str(info.value)
    assert message.endswith(f"got {shown}"), message
    assert "str160" not in message and "bytes24" not in message


def test_copy_takes_the_dtypes_the_constructor_takes_and_refuses_the_others():
    net = bp.MLP([3, 4, 2], dtype="float32", backend="numpy", seed=0)
    for given in (np.float64, np.dtype("float64"), "float64"):
        copied = net.copy(dtype=given)
        assert copied.dtype == "float64"
        # The parameters are the float32 ones widened exactly (NumPy's own cast as the reference).
        np.testing.assert_array_equal(copied.theta, np.asarray(net.theta).astype(np.float64))
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64', got 'int8'"):
        net.copy(dtype="int8")
