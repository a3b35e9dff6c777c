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


def _jax():
    try:
        return bp.get_backend("jax")
    except bp.BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _fit(backend, dtype, batch_size, shuffle, seed=0, optimizer="adam"):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    net = bp.MLP([5, 7, 3], activation="tanh", output="softmax", loss="softmax_cross_entropy", l2=0.1,
                 backend=backend, dtype=dtype, seed=seed)
    history = net.fit(X, y, optimizer=optimizer, epochs=4, batch_size=batch_size, learning_rate=0.01,
                      shuffle=shuffle)
    return net, history


@pytest.mark.parametrize("scan", [True, False], ids=["scan", "step-by-step"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("batch_size, shuffle", [(16, True), (10, True), (16, False), (50, True)],
                         ids=["ragged-last-batch", "equal-batches", "in-order", "full-batch"])
def test_jax_compiled_epoch_follows_numpy_float64(batch_size, shuffle, optimizer, scan, monkeypatch):
    """The whole epoch compiled (a scan over the equal batches, the ragged one apart; or one
    compiled step per batch) on JAX float32 against NumPy float64 running the generic loop:
    the same batches in the same order give the same losses per epoch and the same
    parameters, to float32 rounding."""
    from bpnet_xp.sources import MemorySource

    jax_backend = _jax()
    monkeypatch.setattr(MemorySource, "scan_epoch", scan)
    ref_net, ref = _fit("numpy", "float64", batch_size, shuffle, optimizer=optimizer)
    net, history = _fit(jax_backend, "float32", batch_size, shuffle, optimizer=optimizer)
    np.testing.assert_allclose(history.loss, ref.loss, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(jax_backend.to_numpy(net.theta), ref_net.theta, rtol=1e-5, atol=1e-6)
    assert history.n_evaluations == ref.n_evaluations == 4 * -(-50 // batch_size)


def test_jax_compiled_epoch_is_not_traced_again_by_an_equal_fit(monkeypatch):
    """A second fit with equal hyperparameters and data shapes (another network, another
    seed) reuses the compiled epoch: jax.jit's cache does not grow."""
    jax_backend = _jax()
    from bpnet_xp.sources import MemorySource, join_pieces, scanned_steps, split_pieces, whole_step

    monkeypatch.setattr(MemorySource, "scan_epoch", True)  # the scan too, on any device

    _fit(jax_backend, "float32", 16, True, seed=1)
    compiled = [jax_backend.compile(scanned_steps, static_argnums=(0, 1, 2), donate_argnums=(3, 4)),
                jax_backend.compile(whole_step, static_argnums=(0, 1, 2, 3), donate_argnums=(4, 5)),
                jax_backend.compile(split_pieces, static_argnums=(0,)), jax_backend.compile(join_pieces)]
    sizes = [fn._cache_size() for fn in compiled]
    assert all(size >= 1 for size in sizes), "the epoch ran the compiled scan and step"
    _fit(jax_backend, "float32", 16, True, seed=2)
    assert [fn._cache_size() for fn in compiled] == sizes


@pytest.mark.parametrize("scan", [True, False], ids=["scan", "step-by-step"])
def test_jax_compiled_epoch_leaves_its_inputs_intact(scan, monkeypatch):
    """The compiled epoch donates only the per-layer pieces it made itself: the theta and
    optimizer state it is given (what training keeps for a rollback or as the best
    parameters) are neither deleted nor changed, and an epoch run again from them gives
    the same result; the pieces are the layers of theta (network.unpack), joined back
    exactly."""
    from bpnet_xp.history import History
    from bpnet_xp.network import unpack
    from bpnet_xp.optimizers import get_optimizer
    from bpnet_xp.sources import MemorySource, join_pieces, split_pieces

    jax_backend = _jax()
    monkeypatch.setattr(MemorySource, "scan_epoch", scan)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    net = bp.MLP([5, 7, 3], activation="tanh", output="softmax", l2=0.1, backend=jax_backend, seed=0)
    Xd, Y = net.prepare(X, y)
    theta = net.theta
    pieces = split_pieces(net.spec, (theta,))[0]
    layers = [part for layer in unpack(net.spec, theta) for part in layer]
    assert all(np.array_equal(np.asarray(p), np.asarray(q)) for p, q in zip(pieces, layers))
    np.testing.assert_array_equal(np.asarray(join_pieces((pieces,))[0]), np.asarray(theta))

    optimizer = get_optimizer("adam", learning_rate=0.01)
    state = optimizer.init(theta)
    before = [np.asarray(a).copy() for a in (theta, state.mu, state.nu)]
    source = MemorySource(net.spec, jax_backend, Xd, Y, None, 16, True)
    run = source.compiled_epoch(optimizer)
    first = run(theta, state, np.random.default_rng(1), History())
    for array, copy in zip((theta, state.mu, state.nu), before):
        assert not array.is_deleted()
        np.testing.assert_array_equal(np.asarray(array), copy)
    again = run(theta, state, np.random.default_rng(1), History())
    np.testing.assert_array_equal(np.asarray(again[0]), np.asarray(first[0]))
    np.testing.assert_array_equal(np.asarray(again[1].nu), np.asarray(first[1].nu))
    assert again[2] == first[2] and again[1].count == first[1].count == 4
