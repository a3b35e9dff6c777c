"""An independent NumPy float64 reference of the classic network cost, for tests only.

Written from the textbook formulas, as directly as possible (explicit sigmoid and
log, explicit loops over layers, explicit bias columns as in the classic
"Theta" matrices), so that it shares no code with bpnet_xp.  It is only used on
small, well-scaled inputs where the naive formulas are accurate.
"""

from __future__ import annotations

import numpy as np


def unroll_to_thetas(theta, layer_sizes):
    """bpnet_xp's flat layout [W1 (n_in, n_out) row-major, b1, ...] -> classic Theta matrices.

    Theta_l has shape (n_out, n_in + 1): the bias in column 0, as in the classic exercise.
    """
    thetas, start = [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = np.asarray(theta[start : start + n_in * n_out], dtype=np.float64).reshape(n_in, n_out)
        start += n_in * n_out
        b = np.asarray(theta[start : start + n_out], dtype=np.float64)
        start += n_out
        thetas.append(np.column_stack([b, W.T]))
    assert start == len(theta)
    return thetas


def _act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "identity":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def targets(y, n_out, loss):
    y = np.asarray(y)
    if y.ndim == 1 and loss != "mse":
        if n_out == 1:
            return y.reshape(-1, 1).astype(np.float64)
        return np.eye(n_out)[y.astype(int)]
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


def cost(theta, layer_sizes, X, y, activation="sigmoid", output="sigmoid", loss="cross_entropy", l2=0.0):
    """J(theta) in float64: mean loss over the m samples + (l2 / (2m)) * sum of non-bias weights^2."""
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[0]
    Y = targets(y, layer_sizes[-1], loss)
    thetas = unroll_to_thetas(theta, layer_sizes)
    a = X
    for i, T in enumerate(thetas):
        a1 = np.column_stack([np.ones(m), a])  # add the bias unit
        z = a1 @ T.T
        a = _act(output if i == len(thetas) - 1 else activation, z)
    h = a
    if loss == "cross_entropy":
        J = -np.sum(Y * np.log(h) + (1 - Y) * np.log(1 - h)) / m
    elif loss == "softmax_cross_entropy":
        J = -np.sum(Y * np.log(h)) / m
    elif loss == "mse":
        J = np.sum((h - Y) ** 2) / (2 * m)
    else:
        raise ValueError(loss)
    reg = sum(np.sum(T[:, 1:] ** 2) for T in thetas)  # column 0 is the bias: not penalised
    return J + l2 / (2 * m) * reg


def numerical_gradient(f, theta, h=1e-5):
    """Plain two-point central differences of a host function, element by element."""
    theta = np.asarray(theta, dtype=np.float64)
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g
