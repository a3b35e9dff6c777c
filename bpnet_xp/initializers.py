"""Symmetry-breaking initial weights, drawn on the host and moved to the device once.

All randomness comes from a ``numpy.random.Generator`` seeded by the user, so the
same seed gives bit-identical initial parameters on every backend: the numbers are
drawn in float64 on the host, cast to the requested dtype on the host, and only
then handed to the backend.

Weights are never initialised to zeros: with equal weights every hidden unit of a
layer computes the same function and receives the same gradient, so they would
stay identical for ever (the symmetry that random initialisation breaks).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .text import plain

__all__ = ["INITIALIZERS", "classic", "glorot", "he", "initial_parameters", "get_initializer", "check_seed"]


def classic(rng: np.random.Generator, fan_in: int, fan_out: int):
    """The classic BP-exercise initialisation: W and b uniform in +-sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    rng : numpy.random.Generator
        The host generator (seeded by the network).
    fan_in, fan_out : int
        Units feeding the layer and units of the layer.

    Returns
    -------
    W : ndarray, shape (fan_in, fan_out)
    b : ndarray, shape (fan_out,)
    """
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    W = rng.uniform(-bound, bound, size=(fan_in, fan_out))
    b = rng.uniform(-bound, bound, size=(fan_out,))
    return W, b


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int):
    """Glorot/Xavier uniform: W uniform in +-sqrt(6 / (fan_in + fan_out)), b = 0.

    Parameters
    ----------
    rng : numpy.random.Generator
        The host generator (seeded by the network).
    fan_in, fan_out : int
        Units feeding the layer and units of the layer.

    Returns
    -------
    W : ndarray, shape (fan_in, fan_out)
    b : ndarray, shape (fan_out,)
    """
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_in, fan_out)), np.zeros(fan_out)


def he(rng: np.random.Generator, fan_in: int, fan_out: int):
    """He/Kaiming normal for ReLU layers: W ~ N(0, 2 / fan_in), b = 0.

    Parameters
    ----------
    rng : numpy.random.Generator
        The host generator (seeded by the network).
    fan_in, fan_out : int
        Units feeding the layer and units of the layer.

    Returns
    -------
    W : ndarray, shape (fan_in, fan_out)
    b : ndarray, shape (fan_out,)
    """
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out)


INITIALIZERS: dict[str, Callable] = {"classic": classic, "glorot": glorot, "he": he}


def get_initializer(name: str | Callable, activation: str = "sigmoid") -> Callable:
    """Look an initializer up; ``"auto"`` is He for ReLU networks, the classic one otherwise.

    Parameters
    ----------
    name : {"auto", "classic", "glorot", "he"} or callable
        A callable is returned as it is.
    activation : str
        The hidden activation, for ``"auto"``.

    Returns
    -------
    callable
        ``init(rng, fan_in, fan_out) -> (W, b)``.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if callable(name):
        return name
    if name == "auto":
        return he if activation == "relu" else classic
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown init {plain(name)!r}; choose 'auto' or one of {sorted(INITIALIZERS)}") from None


def check_seed(seed):
    """``seed`` if it is None, a non-negative integer or a Generator; else a clear error.

    Parameters
    ----------
    seed : None, int or numpy.random.Generator
        What the user gave.

    Returns
    -------
    None, int or numpy.random.Generator
        ``seed``, unchanged.

    Raises
    ------
    TypeError
        For a seed that is not an integer (a string, a float, a bool).
    ValueError
        For a negative integer.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be None, a non-negative integer or a numpy.random.Generator, "
                        f"got {type(seed).__name__} {plain(seed)!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {int(seed)}")
    return int(seed)


def initial_parameters(layer_sizes, init="auto", activation="sigmoid", seed=None) -> np.ndarray:
    """The flat initial parameter vector, on the host, in float64.

    Parameters
    ----------
    layer_sizes : sequence of int
        (n_inputs, n_hidden_1, ..., n_outputs).
    init : str or callable
        "auto", "classic", "glorot", "he", or ``f(rng, fan_in, fan_out) -> (W, b)``.
    activation : str
        The hidden activation (for "auto").
    seed : int, numpy.random.Generator or None

    Returns
    -------
    ndarray, shape (n_parameters,)
        [W1 row-major, b1, W2, b2, ...], the layout of ``MLP.theta``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    f = get_initializer(init, activation)
    parts = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W, b = f(rng, fan_in, fan_out)
        W = np.asarray(W, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if W.shape != (fan_in, fan_out) or b.shape != (fan_out,):
            raise ValueError(
                f"initializer returned shapes {W.shape}, {b.shape}; expected {(fan_in, fan_out)}, {(fan_out,)}"
            )
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ValueError(f"init returned NaN or infinite values for the {fan_in}x{fan_out} layer")
        parts += [W.reshape(-1), b]
    return np.concatenate(parts)
