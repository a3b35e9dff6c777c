"""The fast paths of issue 15 against the generic path they replace, bit for bit.

The generic functions (:func:`bpnet_xp.sources.batch_loss_and_grad`, the optimizers'
``update``) stay the reference; the step plan of :func:`bpnet_xp.network.batch_plan`
and the cached library lookup of :func:`bpnet_xp.optimizers.fused_step` must give the
same bits on every backend that takes them (NumPy, PyTorch, CuPy), and must not be
taken where the library cannot write into arrays.
"""

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.network import batch_plan
from bpnet_xp.optimizers import fused_step, get_optimizer
from bpnet_xp.sources import batch_loss_and_grad


def _net(backend, activation, output, loss, l2):
    return bp.MLP([5, 4, 3, 2], activation=activation, output=output, loss=loss, l2=l2,
                  backend=backend, dtype="float64" if backend.has_float64 else "float32", seed=3)


CASES = [("sigmoid", "sigmoid", "cross_entropy", 0.7), ("relu", "softmax", "softmax_cross_entropy", 0.0),
         ("tanh", "identity", "mse", 0.3),
         # Not canonical: the plan's chain-rule delta (dL/da * da/dz) and the sigmoid kernel at the output.
         ("sigmoid", "sigmoid", "mse", 0.2)]


@pytest.mark.parametrize("activation,output,loss,l2", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_batch_plan_is_the_generic_batch_loss_and_grad_bit_for_bit(backend, activation, output, loss, l2, weighted):
    net = _net(backend, activation, output, loss, l2)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 5))
    y = rng.integers(0, 2, 7) if loss != "mse" else rng.standard_normal((7, 2))
    Xd, Yd = net.prepare(X, y)
    wb = net.prepare_weight(rng.uniform(0.5, 2.0, 7), 7) if weighted else None
    m_total = 11.5
    plan = batch_plan(net.spec, net.theta, m_total)
    if not backend.writes_in_place:
        assert plan is None  # JAX, Dask, array-api-strict keep the generic path
        return
    want_loss, want_grad = batch_loss_and_grad(net.spec, net.theta, Xd, Yd, m_total, wb)
    for _ in range(2):  # the buffer is reused: the second call must not see the first
        got_loss, got_grad = plan(net.theta, Xd, Yd, wb)
        np.testing.assert_array_equal(bp.backend.to_numpy(got_loss), bp.backend.to_numpy(want_loss))
        np.testing.assert_array_equal(bp.backend.to_numpy(got_grad), bp.backend.to_numpy(want_grad))
    # And the generic path agrees with a NumPy float64 finite-difference reference (so the
    # comparison above is against something right, not just something equal).
    if backend.has_float64 and weighted is False:
        theta = bp.backend.to_numpy(net.theta).astype(np.float64)
        fd = np.zeros_like(theta)
        h = 1e-6
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = h
            up = float(batch_loss_and_grad(net.spec, backend.asarray(theta + e), Xd, Yd, m_total)[0])
            down = float(batch_loss_and_grad(net.spec, backend.asarray(theta - e), Xd, Yd, m_total)[0])
            fd[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(bp.backend.to_numpy(want_grad), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,options", [("sgd", {"momentum": 0.9, "nesterov": True}), ("adam", {}),
                                          ("gd", {})])
def test_fused_step_is_update_then_apply_bit_for_bit(backend, name, options):
    xp = backend.xp
    rng = np.random.default_rng(1)
    theta = backend.asarray(rng.standard_normal(50), dtype="float32")
    optimizer = get_optimizer(name, learning_rate=0.05, **options)
    step = fused_step(optimizer)
    state_fused = state_pure = optimizer.init(theta)
    theta_fused = theta_pure = theta
    for _ in range(3):
        grad = backend.asarray(rng.standard_normal(50), dtype="float32")
        theta_fused, state_fused = step(grad, state_fused, theta_fused)
        updates, state_pure = optimizer.update(grad, state_pure, theta_pure)
        theta_pure = theta_pure + updates
    np.testing.assert_array_equal(bp.backend.to_numpy(theta_fused), bp.backend.to_numpy(theta_pure))
    assert xp.all(xp.isfinite(theta_fused))


def test_native_sum_is_numpy_sum_bit_for_bit():
    from bpnet_xp.backend import native_sum

    x = np.random.default_rng(2).standard_normal((33, 17)).astype(np.float32)
    total = native_sum(np)
    np.testing.assert_array_equal(total(x, axis=0), np.sum(x, axis=0))
    assert total(x * x, axis=None) == np.sum(x * x)
    # Against an independent float64 reference too.
    np.testing.assert_allclose(total(x, axis=0), x.astype(np.float64).sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("name,options", [("adam", {}), ("sgd", {"momentum": 0.9})])
@pytest.mark.parametrize("batch_size", [3, 10])
def test_compiled_epoch_matches_the_generic_loop(backend, monkeypatch, name, options, batch_size):
    """JAX: the whole step (gather, loss and gradient, update) compiled as one function
    gives the generic loop's losses and parameters (to a few ulp: XLA may fuse the
    elementwise update); elsewhere no compiled epoch is offered."""
    from bpnet_xp.sources import MemorySource

    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((10, 5)), rng.integers(0, 2, 10)

    def train():
        net = _net(backend, "tanh", "sigmoid", "cross_entropy", 0.5)
        history = net.fit(X, y, optimizer=name, epochs=3, batch_size=batch_size, learning_rate=0.05, **options)
        return np.asarray(history.loss), bp.backend.to_numpy(net.theta)

    source = MemorySource(_net(backend, "tanh", "sigmoid", "cross_entropy", 0.5).spec, backend,
                          *_net(backend, "tanh", "sigmoid", "cross_entropy", 0.5).prepare(X, y), None, 3, True)
    offered = source.compiled_epoch(get_optimizer(name, **options)) is not None
    assert offered == backend.compiles
    if not offered:
        return
    fast_loss, fast_theta = train()
    monkeypatch.setattr(MemorySource, "compiled_epoch", lambda self, optimizer: None)
    loss, theta = train()
    tol = 4 * np.finfo(theta.dtype).eps
    np.testing.assert_allclose(fast_loss, loss, rtol=tol)
    np.testing.assert_allclose(fast_theta, theta, rtol=tol, atol=tol)
    assert np.all(np.diff(loss) < 0)  # and the run trains (its loss falls), a check independent of both


def test_batch_plan_takes_user_kernels_without_xp_and_reuses_views_of_one_buffer(backend):
    """A user's own Activation whose functions take no ``xp`` keyword is called as it is;
    a theta written in place between two calls (the same buffer) gives the new gradient.
    Both against the generic path, which agrees with the NumPy float64 reference above."""
    from array_api_compat import array_namespace

    from bpnet_xp.activations import Activation

    def softsign(z):
        xp = array_namespace(z)
        return z / (1 + xp.abs(z))

    def softsign_derivative(a):
        return (1 - abs(a)) ** 2  # 1 / (1 + |z|)^2, as |a| = |z| / (1 + |z|)

    custom = Activation("softsign", softsign, softsign_derivative)
    net = bp.MLP([5, 4, 2], activation=custom, output="sigmoid", loss="cross_entropy", l2=0.4, backend=backend,
                 dtype="float64" if backend.has_float64 else "float32", seed=2)
    rng = np.random.default_rng(6)
    Xd, Yd = net.prepare(rng.standard_normal((6, 5)), rng.integers(0, 2, 6))
    plan = batch_plan(net.spec, net.theta, 6)
    if plan is None:
        assert not backend.writes_in_place
        return
    theta = backend.xp.asarray(net.theta, copy=True)
    for scale in (1.0, -2.0):  # the second call sees the same buffer, rewritten in place
        if scale != 1.0:
            theta *= scale
        got_loss, got_grad = plan(theta, Xd, Yd)
        want_loss, want_grad = batch_loss_and_grad(net.spec, theta, Xd, Yd, 6)
        np.testing.assert_array_equal(bp.backend.to_numpy(got_loss), bp.backend.to_numpy(want_loss))
        np.testing.assert_array_equal(bp.backend.to_numpy(got_grad), bp.backend.to_numpy(want_grad))
    # The softsign derivative itself against central differences (the reference of both paths).
    z = np.linspace(-3, 3, 7)
    h = 1e-6
    fd = (z + h) / (1 + np.abs(z + h)) - (z - h) / (1 + np.abs(z - h))
    np.testing.assert_allclose(softsign_derivative(softsign(z)), fd / (2 * h), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# ReLU in one pass (Numba): the kernels, and the step plan that takes them.

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 5e-324, -5e-324, 1.0, -1.0, 3.0e38, -3.0e38]


def _with_specials(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    positions = rng.choice(flat.size, size=min(flat.size, 4 * len(SPECIAL)), replace=False)
    flat[positions] = np.resize(np.asarray(SPECIAL, dtype=dtype), positions.size)
    return a


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_relu_kernels_are_numpys_operations_bit_for_bit(dtype):
    pytest.importorskip("numba")
    from bpnet_xp import numba_kernels

    rng = np.random.default_rng(5)
    with np.errstate(all="ignore"):
        for shape in [(1, 1), (7, 33), (512, 256)]:  # odd sizes leave a tail after the SIMD width
            z, b = _with_specials(rng, shape, dtype), _with_specials(rng, shape[1:], dtype)
            want = np.maximum(z + b, 0.0)  # the generic path: Z += b, then relu_inplace
            got = z.copy()
            assert numba_kernels.bias_relu(got, b) is got
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
            d, a = _with_specials(rng, shape, dtype), np.maximum(_with_specials(rng, shape, dtype), 0.0)
            d[:, 0] = -0.0  # a column summing to zero of either sign
            want = d * bp.activations.relu_derivative(a)  # the generic backward: D *= derivative(A)
            got, sums = d.copy(), np.full(shape[1], 7.0, dtype)
            assert numba_kernels.relu_backward(got, a, sums) is got
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
            # ... then the bias gradient below: numpy.add.reduce over the rows (native_sum).
            want_sums = np.add.reduce(want, 0)
            np.testing.assert_array_equal(sums.view(f"u{sums.itemsize}"), want_sums.view(f"u{sums.itemsize}"))
            if dtype == "float32" and shape[0] > 100:  # a summation order of its own would show
                d = rng.standard_normal(shape).astype(dtype) * np.exp(rng.standard_normal(shape) * 4).astype(dtype)
                numba_kernels.relu_backward(d, np.ones_like(d), sums)
                np.testing.assert_array_equal(sums, np.add.reduce(d, 0))
                assert not np.array_equal(sums, np.sum(d.astype(np.float64), 0).astype(dtype))
        # Every pair of special values, z + b and d * mask, in one array each.
        pairs = np.array(np.meshgrid(SPECIAL, SPECIAL)).reshape(2, -1).astype(dtype)
        z, b = pairs[0].reshape(1, -1), pairs[1]
        got, want = numba_kernels.bias_relu(z.copy(), b), np.maximum(z + b, 0.0)
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
        a = np.maximum(pairs[1], 0.0).reshape(1, -1)
        got = numba_kernels.relu_backward(z.copy(), a, np.empty(a.shape[1], dtype))
        want = z * bp.activations.relu_derivative(a)
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
    # What the comparisons rely on: -0.0 + -0.0 clips to +0.0, NaN goes on, and NaN * 0 stays NaN.
    assert not np.signbit(numba_kernels.bias_relu(np.array([[-0.0]], dtype), np.array([-0.0], dtype)))[0, 0]
    assert np.isnan(numba_kernels.bias_relu(np.array([[np.nan]], dtype), np.array([1.0], dtype)))[0, 0]
    assert np.isnan(numba_kernels.relu_backward(np.array([[np.nan]], dtype), np.array([[0.0]], dtype),
                                                np.empty(1, dtype)))[0, 0]


def test_fused_relu_follows_the_numba_rules(monkeypatch):
    import importlib.util

    be = bp.backend
    has_numba = importlib.util.find_spec("numba") is not None
    assert (be.fused_relu(np, be.NUMBA_MIN_PARAMETERS) is not None) == has_numba
    assert be.fused_relu(np, be.NUMBA_MIN_PARAMETERS - 1) is None  # a small network: not worth loading Numba
    monkeypatch.setenv("BPNET_XP_NUMBA", "0")
    assert be.fused_relu(np, be.NUMBA_MIN_PARAMETERS) is None


@pytest.mark.parametrize("weighted", [False, True])
def test_batch_plan_with_fused_relu_is_the_generic_path_bit_for_bit(monkeypatch, weighted):
    pytest.importorskip("numba")
    from bpnet_xp import numba_kernels

    calls = []
    for name in ("bias_relu", "relu_backward"):
        real = getattr(numba_kernels, name)
        monkeypatch.setattr(numba_kernels, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    net = bp.MLP([64, 200, 80, 10], activation="relu", output="softmax", l2=0.3, backend="numpy",
                 dtype="float32", seed=1)
    assert net.spec.n_parameters >= bp.backend.NUMBA_MIN_PARAMETERS
    rng = np.random.default_rng(2)
    X = rng.standard_normal((37, 64)).astype(np.float32)
    X[3, :] = 0.0  # rows whose hidden units sit at exactly 0 (the subgradient's corner)
    Xd, Yd = net.prepare(X, rng.integers(0, 10, 37))
    wb = net.prepare_weight(rng.uniform(0.5, 2.0, 37), 37) if weighted else None
    plan = batch_plan(net.spec, net.theta, 50.0)
    want_loss, want_grad = batch_loss_and_grad(net.spec, net.theta, Xd, Yd, 50.0, wb)
    got_loss, got_grad = plan(net.theta, Xd, Yd, wb)
    assert calls == ["bias_relu"] * 2 + ["relu_backward"] * 2  # really taken, for both hidden layers
    np.testing.assert_array_equal(np.asarray(got_loss), np.asarray(want_loss))
    np.testing.assert_array_equal(got_grad.view(np.uint32), np.asarray(want_grad).view(np.uint32))


def test_relu_plan_of_a_numba_sized_network_is_the_generic_path_on_every_backend(backend):
    # Above NUMBA_MIN_PARAMETERS the plan takes the one-pass ReLU where the backend has it
    # (NumPy with Numba) and NumPy's passes elsewhere (PyTorch, CuPy); either way the bits of
    # the generic path, which a float64 central difference checks in turn.
    net = bp.MLP([40, 300, 60, 10], activation="relu", output="softmax", l2=0.2, backend=backend,
                 dtype="float64" if backend.has_float64 else "float32", seed=4)
    assert net.spec.n_parameters >= bp.backend.NUMBA_MIN_PARAMETERS
    rng = np.random.default_rng(6)
    Xd, Yd = net.prepare(rng.standard_normal((23, 40)), rng.integers(0, 10, 23))
    plan = batch_plan(net.spec, net.theta, 30.0)
    lib = bp.backend.inplace_namespace(net.theta)
    if lib is not np:
        assert bp.backend.fused_relu(lib, net.spec.n_parameters) is None  # NumPy only
    if plan is None:
        assert not backend.writes_in_place
        return
    want_loss, want_grad = batch_loss_and_grad(net.spec, net.theta, Xd, Yd, 30.0)
    got_loss, got_grad = plan(net.theta, Xd, Yd)
    np.testing.assert_array_equal(bp.backend.to_numpy(got_loss), bp.backend.to_numpy(want_loss))
    np.testing.assert_array_equal(bp.backend.to_numpy(got_grad), bp.backend.to_numpy(want_grad))
    if backend.has_float64:
        theta = bp.backend.to_numpy(net.theta)
        grad = bp.backend.to_numpy(want_grad)
        for i in rng.choice(theta.size, 12, replace=False):  # a sample of the entries
            e = np.zeros_like(theta)
            e[i] = 1e-6
            up = float(batch_loss_and_grad(net.spec, backend.asarray(theta + e), Xd, Yd, 30.0)[0])
            down = float(batch_loss_and_grad(net.spec, backend.asarray(theta - e), Xd, Yd, 30.0)[0])
            np.testing.assert_allclose(grad[i], (up - down) / 2e-6, rtol=1e-5, atol=1e-8)
