"""Hessian-vector and Gauss-Newton products, residual Jacobians: against independent references.

H v against central differences of the gradient; G v against J_z^T H_L J_z v from an
explicit Jacobian by finite differences and the loss's analytic Hessian in NumPy float64;
the residual Jacobian against finite differences of the residuals.
"""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp import curvature
from bpnet_xp.backend import to_numpy
from bpnet_xp.network import forward, loss_and_grad

PAIRS = [("sigmoid", "cross_entropy"), ("softmax", "softmax_cross_entropy"), ("identity", "mse"),
         ("tanh", "mse"), ("sigmoid", "mse")]
EPS = 1e-5


def _problem(backend, activation, output, loss, depth, seed=0, l2=0.3):
    rng = np.random.default_rng(seed)
    sizes = [3] + [4] * depth + [2]
    net = bp.MLP(sizes, activation=activation, output=output, loss=loss, l2=l2, dtype="float64", seed=seed,
                 backend=backend)
    X = rng.normal(size=(7, 3))
    y = rng.integers(0, 2, 7) if loss != "mse" else rng.normal(size=(7, 2))
    Xd, Y = net.prepare(X, y)
    v = backend.asarray(rng.normal(size=net.n_parameters))
    return net, Xd, Y, v


def _same_relu_pattern(net, X, theta, v):
    """True when no relu unit changes side between theta - EPS v and theta + EPS v (no kink crossed)."""
    plus = forward(net.spec, theta + EPS * v, X, keep=True)[2][1:]
    minus = forward(net.spec, theta - EPS * v, X, keep=True)[2][1:]
    return all(np.array_equal(to_numpy(a) > 0, to_numpy(b) > 0) for a, b in zip(plus, minus))


def _relative(a, b) -> float:
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity"])
def test_hessian_vector_product_matches_central_differences(backend, activation):
    for output, loss in PAIRS:
        for depth in range(4):
            if depth == 0 and activation != "sigmoid":
                continue  # no hidden layer: the hidden activation plays no part
            for seed in range(20):  # relu: a draw whose difference crosses no kink (H is piecewise constant)
                net, X, Y, v = _problem(backend, activation, output, loss, depth, seed)
                theta = net.theta
                if activation != "relu" or _same_relu_pattern(net, X, theta, v):
                    break
            Hv = net.hessian_vector_product(X, Y, v)
            reference = (loss_and_grad(net.spec, theta + EPS * v, X, Y)[1]
                         - loss_and_grad(net.spec, theta - EPS * v, X, Y)[1]) / (2 * EPS)
            error = _relative(Hv, reference)
            assert error < 1e-7, (output, loss, depth, error)


def _explicit_jacobian(spec, theta, X):
    """d vec(Z_L) / d theta by central differences, (m K, P) NumPy float64, and Z, A."""
    theta = np.asarray(theta, dtype=np.float64)
    P = theta.shape[0]
    columns = []
    for j in range(P):
        e = np.zeros(P)
        e[j] = 1e-6
        columns.append((forward(spec, theta + e, X)[0] - forward(spec, theta - e, X)[0]).reshape(-1) / 2e-6)
    Z, A = forward(spec, theta, X)
    return np.stack(columns, axis=1), Z, A


def _loss_hessian_blocks(output, loss, A, Y):
    """Per-sample Hessian (K x K) of the loss in the output pre-activations z (mse: in a)."""
    m, K = A.shape
    blocks = np.zeros((m, K, K))
    for i in range(m):
        a = A[i]
        if output == "softmax":
            blocks[i] = np.diag(a) - np.outer(a, a)
        elif loss == "cross_entropy":
            blocks[i] = np.diag(a * (1 - a))
        else:  # mse: J_a^T J_a with da/dz = f'(z) on the diagonal
            slope = {"identity": np.ones_like(a), "tanh": 1 - a * a, "sigmoid": a * (1 - a)}[output]
            blocks[i] = np.diag(slope * slope)
    return blocks


@pytest.mark.parametrize("output,loss", PAIRS)
def test_gauss_newton_product_matches_explicit_jacobian(backend, output, loss):
    net, X, Y, v = _problem(backend, "tanh", output, loss, depth=2)
    Gv = net.gauss_newton_vector_product(X, Y, v)
    host = net.copy(backend="numpy")
    Xh, Yh, vh = (np.asarray(to_numpy(a), dtype=np.float64) for a in (X, Y, v))
    Jz, _, A = _explicit_jacobian(host.spec, host.theta, Xh)
    m, K = A.shape
    H = np.zeros((m * K, m * K))
    for i, block in enumerate(_loss_hessian_blocks(output, loss, A, Yh)):
        H[i * K:(i + 1) * K, i * K:(i + 1) * K] = block
    mask = np.concatenate([np.r_[np.ones(W.size), np.zeros(b.size)] for W, b in host.weights])
    reference = Jz.T @ H @ Jz @ vh / m + 0.3 / m * mask * vh
    assert _relative(Gv, reference) < 1e-7
    # Positive semi-definite: v.G v >= 0 for any v.
    assert float(np.dot(vh, np.asarray(to_numpy(Gv)))) >= 0


@pytest.mark.parametrize("output", ["identity", "tanh", "sigmoid"])
def test_residual_jacobian_matches_finite_differences(backend, output):
    net, X, Y, _ = _problem(backend, "sigmoid", output, "mse", depth=1)
    J = to_numpy(curvature.residual_jacobian(net.spec, net.theta, X))
    host = net.copy(backend="numpy")
    Xh = np.asarray(to_numpy(X), dtype=np.float64)
    theta = host.theta
    columns = []
    for j in range(theta.shape[0]):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        columns.append((forward(host.spec, theta + e, Xh)[1] - forward(host.spec, theta - e, Xh)[1]).reshape(-1) / 2e-6)
    assert np.max(np.abs(J - np.stack(columns, axis=1))) < 1e-8


def test_normal_equations_accumulate_over_chunks(backend):
    net, X, Y, _ = _problem(backend, "tanh", "identity", "mse", depth=1)
    sse, JTJ, JTe = curvature.normal_equations(net.spec, net.theta, X, Y, chunk_rows=3)  # chunks of 3, 3, 1 rows
    host = net.copy(backend="numpy")
    Xh, Yh = (np.asarray(to_numpy(a), dtype=np.float64) for a in (X, Y))
    J = curvature.residual_jacobian(host.spec, host.theta, Xh)  # checked against differences above
    e = (forward(host.spec, host.theta, Xh)[1] - Yh).reshape(-1)
    assert np.allclose(to_numpy(JTJ), J.T @ J, rtol=1e-12, atol=1e-12)
    assert np.allclose(to_numpy(JTe), J.T @ e, rtol=1e-12, atol=1e-12)
    assert abs(float(sse) - float(e @ e)) < 1e-12


def test_products_refuse_a_direction_of_the_wrong_shape():
    net = bp.MLP([2, 3, 1], output="identity", loss="mse", dtype="float64", backend="numpy")
    X, y = np.zeros((4, 2)), np.zeros(4)
    with pytest.raises(ValueError, match="v must have shape"):
        net.hessian_vector_product(X, y, np.zeros(3))
    with pytest.raises(ValueError, match="mse"):
        curvature.residual_jacobian(bp.MLP([2, 2], output="sigmoid", loss="cross_entropy").spec, np.zeros(6), X)
