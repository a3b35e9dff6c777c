"""The network core: the classic cost by hand, an independent NumPy reference,
gradient checks on every backend, and equality across backends."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.network import unpack

from reference import cost as reference_cost
from reference import numerical_gradient

LN3 = math.log(3.0)


def hand_made_2_3_2(backend, l2):
    """The 2-3-2 sigmoid network of the hand computation below, with theta set explicitly."""
    net = bp.MLP([2, 3, 2], activation="sigmoid", output="sigmoid", loss="cross_entropy",
                 l2=l2, backend=backend, dtype="float64" if backend.has_float64 else "float32")
    W1 = [[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]]
    b1 = [0.0, 1.0, -2.0]
    W2 = [[LN3, 1.0], [LN3, -1.0], [0.0, 0.0]]
    b2 = [0.0, 0.0]
    net.theta = np.concatenate([np.ravel(W1), b1, np.ravel(W2), b2])
    return net


@pytest.mark.parametrize("l2", [0.0, 1.0])
def test_classic_cost_by_hand(backend, l2):
    # Two samples, both x = (1, -1); labels 0 and 1 (one-hot (1, 0) and (0, 1)).
    # Hidden layer: z1 = x W1 + b1 = (1 - 1 + 0, 0 - 1 + 1, 2 - 0 - 2) = (0, 0, 0),
    #   so a1 = sigmoid(0) = (1/2, 1/2, 1/2).
    # Output: z2 = a1 W2 + b2 = (1/2 (ln3 + ln3 + 0), 1/2 (1 - 1 + 0)) = (ln 3, 0),
    #   so h = (sigmoid(ln 3), sigmoid(0)) = (3/4, 1/2) for both samples.
    # Classic cost J = -(1/m) sum_i sum_k [y_ik log h_k + (1 - y_ik) log(1 - h_k)]:
    #   sample 1, y = (1, 0): -log(3/4) - log(1/2) = log(4/3) + log 2 = log(8/3)
    #   sample 2, y = (0, 1): -log(1/4) - log(1/2) = log 4 + log 2 = log 8
    #   J = (log(8/3) + log 8) / 2 = log(64/3) / 2 = 1.530 1...
    # L2 (biases excluded): sum W1^2 = 1 + 0 + 4 + 1 + 1 + 0 = 7,
    #   sum W2^2 = ln3^2 + 1 + ln3^2 + 1 + 0 + 0 = 2 + 2 ln3^2,
    #   penalty = l2 / (2 m) * (9 + 2 ln3^2) = l2 / 4 * (9 + 2 ln3^2)
    #   (the biases b1 = (0, 1, -2) would add l2 / 4 * 5 if they were penalised).
    net = hand_made_2_3_2(backend, l2)
    X = np.array([[1.0, -1.0], [1.0, -1.0]])
    y = np.array([0, 1])
    expected = math.log(64.0 / 3.0) / 2.0 + l2 / 4.0 * (9.0 + 2.0 * LN3**2)
    rtol = 1e-14 if net.dtype == "float64" else 1e-6
    assert net.loss(X, y) == pytest.approx(expected, rel=rtol)
    loss, _ = net.loss_and_grad(X, y)
    assert loss == pytest.approx(expected, rel=rtol)


def test_hand_made_gradient_of_output_bias(backend):
    # dJ/db2_k = (1/m) sum_i (h_ik - y_ik): with h = (3/4, 1/2) for both samples and
    # labels 0, 1: ((3/4 - 1) + (3/4 - 0)) / 2 = 1/4 and ((1/2 - 0) + (1/2 - 1)) / 2 = 0.
    net = hand_made_2_3_2(backend, l2=1.0)
    _, grad = net.loss_and_grad(np.array([[1.0, -1.0], [1.0, -1.0]]), np.array([0, 1]))
    g = backend.to_numpy(grad)
    np.testing.assert_allclose(g[-2:], [0.25, 0.0], atol=1e-12 if net.dtype == "float64" else 1e-6)


CONFIGS = [
    # (hidden activation, output, loss, y kind)
    ("sigmoid", "sigmoid", "cross_entropy", "labels"),
    ("tanh", "softmax", "softmax_cross_entropy", "labels"),
    ("relu", "identity", "mse", "targets"),
    ("sigmoid", "sigmoid", "mse", "targets"),
]


def _data(seed, m=12, n_in=4, n_out=3, kind="labels"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_in))
    y = rng.integers(0, n_out, m) if kind == "labels" else rng.uniform(0, 1, (m, n_out))
    return X, y


@pytest.mark.parametrize("activation,output,loss,kind", CONFIGS)
@pytest.mark.parametrize("hidden", [[], [5], [5, 4, 3]], ids=["0hidden", "1hidden", "3hidden"])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_loss_matches_independent_reference(backend, activation, output, loss, kind, hidden, l2):
    if not backend.has_float64:
        pytest.skip("float64 reference comparison")
    sizes = [4, *hidden, 3]
    X, y = _data(1, kind=kind)
    net = bp.MLP(sizes, activation=activation, output=output, loss=loss, l2=l2,
                 backend=backend, dtype="float64", seed=3, init="classic")
    theta = backend.to_numpy(net.theta)
    expected = reference_cost(theta, sizes, X, y, activation, output, loss, l2)
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-12)


def _kink_free_seed(sizes, X, start=0):
    """First init seed whose hidden ReLU pre-activations all lie >= 0.02 from the kink at 0.

    Finite differences are only defined away from kinks: a step that crosses one
    measures a one-sided slope, whatever back-propagation computes.  Computed here
    independently in NumPy from the host copy of the initial theta.
    """
    from reference import unroll_to_thetas

    for seed in range(start, start + 200):
        theta = bp.initializers.initial_parameters(sizes, "classic", "relu", seed)
        a, ok = X, True
        for T in unroll_to_thetas(theta, sizes)[:-1]:
            z = np.column_stack([np.ones(len(a)), a]) @ T.T
            ok &= np.min(np.abs(z)) >= 0.02
            a = np.maximum(z, 0)
        if ok:
            return seed
    raise AssertionError("no kink-free seed found")


ACTIVATIONS = ["sigmoid", "tanh", "relu"]
LOSSES = [("sigmoid", "cross_entropy"), ("softmax", "softmax_cross_entropy"), ("identity", "mse")]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output,loss", LOSSES, ids=[l for _, l in LOSSES])
@pytest.mark.parametrize("hidden", [[], [5], [5, 4, 3]], ids=["0hidden", "1hidden", "3hidden"])
@pytest.mark.parametrize("l2", [0.0, 0.7], ids=["noL2", "L2"])
def test_gradient_check_float64(backend, activation, output, loss, hidden, l2):
    if not hidden and activation != "sigmoid":
        pytest.skip("no hidden layer: the hidden activation plays no part")
    if not backend.has_float64:
        pytest.skip("this device has no float64 (see test_gradient_check_without_float64)")
    sizes = [4, *hidden, 3]
    X, y = _data(2, m=8, kind="labels" if loss != "mse" else "targets")
    seed = _kink_free_seed(sizes, X) if activation == "relu" else 0
    net = bp.MLP(sizes, activation=activation, output=output, loss=loss, l2=l2,
                 backend=backend, dtype="float64", seed=seed, init="classic")
    result = bp.check_gradients(net, X, y)
    assert result.mode == "elementwise" and result.dtype == "float64"
    assert result.max_relative_error < 1e-7, str(result)


def test_gradient_matches_finite_differences_of_reference(backend):
    """The back-propagated gradient against central differences of the independent reference cost."""
    if not backend.has_float64:
        pytest.skip("float64 reference comparison")
    sizes = [4, 5, 3]
    X, y = _data(4)
    net = bp.MLP(sizes, activation="tanh", l2=0.5, backend=backend, dtype="float64", seed=1)
    _, grad = net.loss_and_grad(X, y)
    numeric = numerical_gradient(lambda t: reference_cost(t, sizes, X, y, "tanh", "sigmoid", "cross_entropy", 0.5),
                                 backend.to_numpy(net.theta))
    np.testing.assert_allclose(backend.to_numpy(grad), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("l2", [0.0, 0.5], ids=["noL2", "L2"])
def test_gradient_written_into_a_buffer(backend, l2):
    """The training loop's ``out=`` path: same bits as the concatenating path, and right.

    Reference: central differences of the independent textbook cost (the generic
    path is checked against the same elsewhere); on libraries without ``out=`` the
    buffer is ignored and the result must still be right.
    """
    from bpnet_xp.network import data_loss_and_grad
    from bpnet_xp.sources import batch_loss_and_grad as _batch_loss_and_grad

    if not backend.has_float64:
        pytest.skip("float64 reference comparison")
    sizes = [4, 5, 4, 3]
    X, y = _data(5)
    net = bp.MLP(sizes, activation="relu", l2=l2, backend=backend, dtype="float64", seed=2)
    Xd, Yd = net.prepare(X, y)
    buffer = backend.xp.full((net.n_parameters,), float("nan"), dtype=backend.xp.float64,
                             device=backend.device)
    m = X.shape[0]
    loss_out, grad_out = _batch_loss_and_grad(net.spec, net.theta, Xd, Yd, m, out=buffer)
    loss_ref, grad_ref = _batch_loss_and_grad(net.spec, net.theta, Xd, Yd, m)
    np.testing.assert_array_equal(backend.to_numpy(grad_out), backend.to_numpy(grad_ref))
    assert float(loss_out) == float(loss_ref)
    numeric = numerical_gradient(
        lambda t: reference_cost(t, sizes, X, y, "relu", "sigmoid", "cross_entropy", l2),
        backend.to_numpy(net.theta))
    np.testing.assert_allclose(backend.to_numpy(grad_out), numeric, rtol=1e-6, atol=1e-9)
    if backend.writes_in_place:  # the libraries with out=
        assert grad_out is buffer  # written in place: no new vector
        with pytest.raises(ValueError, match="shape"):
            data_loss_and_grad(net.spec, net.theta, Xd, Yd, out=buffer[1:])


def test_directional_gradient_check_on_a_larger_network(backend):
    if not backend.has_float64:
        pytest.skip("float64")
    X, y = _data(5, m=30, n_in=20, n_out=4)
    net = bp.MLP([20, 64, 32, 4], activation="tanh", output="softmax", l2=0.1,
                 backend=backend, dtype="float64", seed=0)
    assert net.n_parameters > 2000
    result = bp.check_gradients(net, X, y, n_directions=8)
    assert result.mode == "directional"
    assert result.max_relative_error < 1e-7, str(result)


def test_gradient_check_detects_a_wrong_gradient(backend, monkeypatch):
    """A gradient check that cannot fail proves nothing: break back-propagation on purpose."""
    if not backend.has_float64:
        pytest.skip("float64")
    import bpnet_xp.activations as acts

    broken = acts.ACTIVATIONS["tanh"]._replace(derivative=lambda a: 1 - a)  # wrong: should be 1 - a^2
    X, y = _data(6)
    net = bp.MLP([4, 5, 3], activation="tanh", backend=backend, dtype="float64", seed=0)
    net.spec = net.spec._replace(activation=broken)
    result = bp.check_gradients(net, X, y)
    assert result.max_relative_error > 1e-3
    assert result.worst_location.startswith("layer 1")


def test_gradient_check_without_float64():
    """On a float64-less device the check runs in float32, warns, and still separates right from wrong."""
    be = bp.get_backend("array_api_strict", device="no_float64") if "array_api_strict" in bp.available_backends() else None
    if be is None:
        pytest.skip("array_api_strict not installed")
    X, y = _data(7)
    net = bp.MLP([4, 5, 3], activation="sigmoid", backend=be, dtype="float32", seed=0)
    with pytest.warns(RuntimeWarning, match="no float64"):
        result = bp.check_gradients(net, X, y)
    assert result.dtype == "float32"
    assert result.max_relative_error < 5e-2
    with pytest.raises(bp.BackendUnavailableError, match="float64"):
        bp.MLP([4, 5, 3], backend=be, dtype="float64")


def test_same_seed_same_loss_and_gradient_across_backends(other_backend):
    """numpy vs every other backend: same seed, same data -> same loss and gradient (float64)."""
    if not other_backend.has_float64:
        pytest.skip("float64 comparison")
    X, y = _data(8, m=50, n_in=6, n_out=4)
    kwargs = dict(activation="tanh", output="softmax", l2=0.3, dtype="float64", seed=11)
    ref = bp.MLP([6, 7, 5, 4], backend="numpy", **kwargs)
    net = bp.MLP([6, 7, 5, 4], backend=other_backend, **kwargs)
    np.testing.assert_array_equal(other_backend.to_numpy(net.theta), ref.theta)  # bit-identical init
    loss_ref, grad_ref = ref.loss_and_grad(X, y)
    loss, grad = net.loss_and_grad(X, y)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    np.testing.assert_allclose(other_backend.to_numpy(grad), grad_ref, rtol=1e-12, atol=1e-15)


def test_float32_default_and_dtype_of_results(backend):
    X, y = _data(9)
    net = bp.MLP([4, 5, 3], backend=backend, seed=0)
    assert net.dtype == "float32"
    assert net.theta.dtype == backend.xp.float32
    _, grad = net.loss_and_grad(X, y)
    assert grad.dtype == backend.xp.float32
    assert grad.shape == net.theta.shape


def test_weights_are_views_in_the_theta_layout(backend):
    net = bp.MLP([3, 4, 2], backend=backend, dtype="float32", seed=0)
    theta = backend.to_numpy(net.theta)
    (W1, b1), (W2, b2) = net.weights
    assert W1.shape == (3, 4) and b1.shape == (4,) and W2.shape == (4, 2) and b2.shape == (2,)
    np.testing.assert_array_equal(backend.to_numpy(W1), theta[:12].reshape(3, 4))
    np.testing.assert_array_equal(backend.to_numpy(b1), theta[12:16])
    np.testing.assert_array_equal(backend.to_numpy(W2), theta[16:24].reshape(4, 2))
    np.testing.assert_array_equal(backend.to_numpy(b2), theta[24:26])
    assert net.n_parameters == 26


def test_weights_share_memory_with_theta_on_numpy():
    net = bp.MLP([3, 4, 2], backend="numpy", seed=0)
    W1, _ = net.weights[0]
    W1[0, 0] = 123.0
    assert net.theta[0] == 123.0


def test_predict_and_score_against_numpy(backend):
    if not backend.has_float64:
        pytest.skip("float64")
    X, y = _data(10, m=40)
    net = bp.MLP([4, 6, 3], output="softmax", backend=backend, dtype="float64", seed=2)
    proba = net.predict_proba(X)
    assert isinstance(proba, np.ndarray)  # NumPy in, NumPy out
    # Independent forward pass in NumPy from the host copy of theta.
    t = backend.to_numpy(net.theta)
    W1, b1, W2, b2 = t[:24].reshape(4, 6), t[24:30], t[30:48].reshape(6, 3), t[48:51]
    h = 1 / (1 + np.exp(-(X @ W1 + b1)))
    z = h @ W2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(proba, p, rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), p.argmax(1))
    assert net.score(X, y) == pytest.approx(np.mean(p.argmax(1) == y))
    # Backend input gives backend output, on the device.
    out = net.predict(backend.asarray(X))
    assert not isinstance(out, np.ndarray) or backend.name == "numpy"


def test_binary_sigmoid_and_regression_score(backend):
    if not backend.has_float64:
        pytest.skip("float64")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    clf = bp.MLP([2, 1], backend=backend, dtype="float64", seed=0)  # logistic regression
    p = clf.predict_proba(X)[:, 0]
    np.testing.assert_array_equal(clf.predict(X), (p >= 0.5).astype(int))
    reg = bp.MLP([2, 1], output="identity", backend=backend, dtype="float64", seed=0)  # linear regression
    t = rng.standard_normal(30)
    pred = reg.predict(X)
    r2 = 1 - np.sum((t - pred) ** 2) / np.sum((t - t.mean()) ** 2)
    assert reg.score(X, t) == pytest.approx(r2, rel=1e-10)
    assert reg.loss_name == "mse" and clf.loss_name == "cross_entropy"


def test_one_hot_targets_equal_labels(backend):
    X, y = _data(12)
    net = bp.MLP([4, 5, 3], backend=backend, seed=0)
    assert net.loss(X, y) == pytest.approx(net.loss(X, np.eye(3)[y]), rel=1e-6)


def test_layer_sizes_and_configuration_errors():
    with pytest.raises(ValueError, match="layer_sizes"):
        bp.MLP([4], backend="numpy")
    with pytest.raises(ValueError, match="positive integers"):
        bp.MLP([4, 0, 2], backend="numpy")
    with pytest.raises(ValueError, match="unknown activation"):
        bp.MLP([4, 2], activation="swish", backend="numpy")
    with pytest.raises(ValueError, match="output layer"):
        bp.MLP([4, 3, 2], activation="softmax", backend="numpy")
    with pytest.raises(ValueError, match="unknown loss"):
        bp.MLP([4, 2], loss="hinge", backend="numpy")
    with pytest.raises(ValueError, match="needs an output activation"):
        bp.MLP([4, 2], output="identity", loss="cross_entropy", backend="numpy")
    with pytest.raises(ValueError, match="l2"):
        bp.MLP([4, 2], l2=-1, backend="numpy")
    with pytest.raises(ValueError, match="dtype"):
        bp.MLP([4, 2], dtype="float16", backend="numpy")
    with pytest.raises(ValueError, match="theta must have shape"):
        bp.MLP([4, 2], backend="numpy").theta = np.zeros(3)


def test_layer_loss_and_penalty_gradients_match_finite_differences_of_reference(backend):
    """network.layer_loss_and_grad + layer_penalty_and_grad, the per-layer forms the
    compiled epoch calls, against central differences of the independent textbook cost
    (on every backend; float32 backends with a float32 tolerance)."""
    from bpnet_xp.network import layer_loss_and_grad, layer_penalty_and_grad

    from reference import targets

    sizes, l2 = [4, 5, 3], 0.5
    X, y = _data(7)
    dtype = "float64" if backend.has_float64 else "float32"
    net = bp.MLP(sizes, activation="tanh", l2=l2, backend=backend, dtype=dtype, seed=2)
    layers = unpack(net.spec, net.theta)
    Xd, Yd = backend.asarray(X, dtype=dtype), backend.asarray(targets(y, 3, "cross_entropy"), dtype=dtype)
    loss, grads = layer_loss_and_grad(net.spec, layers, Xd, Yd, scale=1 / X.shape[0])
    penalty, weight_grads = layer_penalty_and_grad(net.spec, layers, X.shape[0])
    assert [tuple(dW.shape) for dW, _ in grads] == [(4, 5), (5, 3)] == [tuple(g.shape) for g in weight_grads]
    flat = np.concatenate([part for (dW, db), dP in zip(grads, weight_grads)
                           for part in (backend.to_numpy(dW + dP).ravel(), backend.to_numpy(db))])
    theta = backend.to_numpy(net.theta).astype(np.float64)
    cost = lambda t: reference_cost(t, sizes, X, y, "tanh", "sigmoid", "cross_entropy", l2)  # noqa: E731
    tol = dict(rtol=1e-6, atol=1e-9) if dtype == "float64" else dict(rtol=2e-3, atol=2e-4)
    assert float(loss + penalty) == pytest.approx(cost(theta), rel=tol["rtol"])
    np.testing.assert_allclose(flat, numerical_gradient(cost, theta), **tol)


def test_split_and_join_pieces_follow_the_theta_layout(backend):
    """sources.split_pieces against the textbook unrolling of the reference (Theta_l with
    the bias in column 0, W transposed), and join_pieces as its exact inverse, on every
    backend."""
    from bpnet_xp.sources import join_pieces, split_pieces

    from reference import unroll_to_thetas

    sizes = [3, 4, 2]
    net = bp.MLP(sizes, backend=backend, seed=0)
    twice = net.theta * 2
    theta_pieces, twice_pieces = split_pieces(net.spec, (net.theta, twice))
    host = backend.to_numpy(net.theta)
    for layer, Theta in enumerate(unroll_to_thetas(host, sizes)):
        W, b = theta_pieces[2 * layer], theta_pieces[2 * layer + 1]
        np.testing.assert_array_equal(backend.to_numpy(W), Theta[:, 1:].T.astype(host.dtype))
        np.testing.assert_array_equal(backend.to_numpy(b), Theta[:, 0].astype(host.dtype))
    joined, joined_twice = join_pieces((theta_pieces, twice_pieces))
    np.testing.assert_array_equal(backend.to_numpy(joined), host)
    np.testing.assert_array_equal(backend.to_numpy(joined_twice), 2 * host)
