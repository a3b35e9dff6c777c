"""The compiled objective (jax.jit on JAX, the generic function elsewhere) against the generic path."""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.network import loss_and_grad


def test_compiled_objective_equals_generic_path(backend):
    if not backend.has_float64:
        pytest.skip("float64")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, 40)
    net = bp.MLP([6, 8, 3], activation="tanh", output="softmax", l2=0.2, backend=backend, dtype="float64", seed=0)
    Xd, Y = net.prepare(X, y)
    loss_c, grad_c = net.objective(net.spec, net.theta, Xd, Y)
    loss_g, grad_g = loss_and_grad(net.spec, net.theta, Xd, Y)
    assert float(loss_c) == pytest.approx(float(loss_g), rel=1e-13)
    np.testing.assert_allclose(backend.to_numpy(grad_c), backend.to_numpy(grad_g), rtol=1e-12, atol=1e-15)
    # A second call with other parameters re-uses the compiled function and stays correct.
    theta2 = net.theta * 0.5
    loss_c2, _ = net.objective(net.spec, theta2, Xd, Y)
    assert float(loss_c2) == pytest.approx(float(loss_and_grad(net.spec, theta2, Xd, Y)[0]), rel=1e-13)


def test_jax_objective_is_jitted():
    try:
        be = bp.get_backend("jax")
    except bp.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    net = bp.MLP([3, 2], backend=be, seed=0)
    assert hasattr(net.objective, "lower"), "on JAX the objective is a jax.jit-compiled function"
