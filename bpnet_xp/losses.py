"""Losses, each beside its output delta: name -> (value, output delta).

Values are summed over samples (the caller divides by m or by the total sample
weight) and computed from logits in stable forms; the shortcut delta = a - y is
used only for the canonical output/loss pairs.  The derivation is in
docs/theory.md ("Losses and output deltas"); the L2 penalty is in network.py.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from array_api_compat import array_namespace

from .activations import log_softmax

__all__ = ["Loss", "LOSSES", "get_loss", "output_delta", "check_pair"]


class Loss(NamedTuple):
    """A loss and its derivative.

    Attributes
    ----------
    name : str
    value : callable
        ``value(z, a, y, weight=None, *, xp=None, total=None) -> 0-d array``: the loss
        summed over all samples and outputs, from the output pre-activations ``z``,
        activations ``a`` (both (m, K)) and targets ``y`` (m, K).  ``weight``, an array
        of shape (m, 1) (or None: every weight 1), multiplies each sample's per-element
        terms before the sum, giving sum_i w_i sum_k L_ik.  ``xp`` is the array
        namespace (looked up when absent) and ``total(x)`` the sum of all elements
        (default ``xp.sum``): the step plan of :func:`bpnet_xp.network.batch_plan` binds
        both once per fit, the second to the native library's reduction (the same
        operation without NumPy's Python wrapper).
    gradient : callable
        ``gradient(a, y) -> dL/da`` (m, K), used for non-canonical output activations.
    canonical_output : str
        The output activation for which dL/dz = a - y exactly.
    outputs : tuple of str or None
        The output activations the loss may be paired with (None: any).
    classification : bool
        Whether targets are class labels / probabilities (labels are one-hot encoded).
    """

    name: str
    value: Callable
    gradient: Callable
    canonical_output: str
    outputs: tuple | None
    classification: bool


# -- cross-entropy on sigmoid outputs (the classic cost) ---------------------------------
def _weighted_sum(xp, terms, weight, total=None):
    """sum of ``terms`` (m, K), each row multiplied by its weight (m, 1) first."""
    total = xp.sum if total is None else total
    if weight is None:
        return total(terms)
    return total(terms * weight)


def cross_entropy_value(z, a, y, weight=None, *, xp=None, total=None):
    """Cross-entropy of sigmoid outputs, from the logits: sum of softplus(z) - y z.

    Parameters
    ----------
    z : array, shape (m, K)
        Output pre-activations (logits).
    a : array, shape (m, K)
        Output activations, ``sigmoid(z)``. Unused: the value is computed from ``z``.
    y : array, shape (m, K)
        Targets, values in [0, 1] (one-hot labels or probabilities).
    weight : array, shape (m, 1), optional
        Per-sample weights multiplying each row's terms; None: every weight 1.
    xp : namespace, optional
        The array namespace (looked up when absent).
    total : callable, optional
        ``total(x)``, the sum of all elements of ``x`` (default ``xp.sum``).

    Returns
    -------
    array, shape ()
        The weighted sum over samples and outputs (not divided by m).
    """
    # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, because
    # log s(z) = -softplus(-z), log(1 - s(z)) = -softplus(z), softplus(-z) = softplus(z) - z.
    # softplus(z) = logaddexp(0, z) with the Python scalar 0.0 (array API 2024.12): the same
    # values as with a zeros array (NumPy, array-api-strict, PyTorch, JAX and Dask take it),
    # without allocating one; stable for any z (log1p(exp(-|z|)) + max(z, 0) inside).
    xp = array_namespace(z) if xp is None else xp
    return _weighted_sum(xp, xp.logaddexp(0.0, z) - y * z, weight, total)


def cross_entropy_gradient(a, y):
    """dL/da of the sigmoid cross-entropy: ``(a - y) / (a (1 - a))``.

    For a non-canonical output activation only; cross-entropy accepts the sigmoid
    output alone, whose delta is the exact ``a - y`` (:func:`output_delta`), so the
    network does not call it.

    Parameters
    ----------
    a : array, shape (m, K)
        Output activations.
    y : array, shape (m, K)
        Targets.

    Returns
    -------
    array, shape (m, K)
        ``dL/da`` elementwise, summed-loss convention.
    """
    return (a - y) / (a * (1 - a))


# -- softmax cross-entropy ---------------------------------------------------------------
def softmax_cross_entropy_value(z, a, y, weight=None, *, xp=None, total=None):
    """Softmax cross-entropy from the logits: minus the sum of y log_softmax(z).

    Parameters
    ----------
    z : array, shape (m, K)
        Output pre-activations (logits).
    a : array, shape (m, K)
        Output activations, ``softmax(z)``. Unused: the value is computed from ``z``.
    y : array, shape (m, K)
        Targets, rows of class probabilities (one-hot labels).
    weight : array, shape (m, 1), optional
        Per-sample weights multiplying each row's terms; None: every weight 1.
    xp : namespace, optional
        The array namespace (looked up when absent).
    total : callable, optional
        ``total(x)``, the sum of all elements of ``x`` (default ``xp.sum``).

    Returns
    -------
    array, shape ()
        The weighted sum over samples and outputs (not divided by m).
    """
    xp = array_namespace(z) if xp is None else xp
    return -_weighted_sum(xp, y * log_softmax(z, xp=xp), weight, total)


def softmax_cross_entropy_gradient(a, y):  # pragma: no cover - softmax is always canonical
    """dL/da of the softmax cross-entropy: ``-y / a``.

    Never called: softmax cross-entropy is paired with the softmax output only,
    whose delta is the exact ``a - y`` (:func:`output_delta`).

    Parameters
    ----------
    a : array, shape (m, K)
        Output activations.
    y : array, shape (m, K)
        Targets.

    Returns
    -------
    array, shape (m, K)
        ``dL/da`` elementwise, summed-loss convention.
    """
    return -y / a


# -- mean squared error, with the 1/(2m) convention --------------------------------------
def mse_value(z, a, y, weight=None, *, xp=None, total=None):
    """Half the sum of squared errors, ``0.5 * sum((a - y)**2)``: the caller's 1/m makes it 1/(2m).

    Parameters
    ----------
    z : array, shape (m, K)
        Output pre-activations. Unused: the value is computed from ``a``.
    a : array, shape (m, K)
        Output activations, ``output(z)``.
    y : array, shape (m, K)
        Targets, real values.
    weight : array, shape (m, 1), optional
        Per-sample weights multiplying each row's terms; None: every weight 1.
    xp : namespace, optional
        The array namespace (looked up when absent).
    total : callable, optional
        ``total(x)``, the sum of all elements of ``x`` (default ``xp.sum``).

    Returns
    -------
    array, shape ()
        The weighted sum over samples and outputs (not divided by m).
    """
    xp = array_namespace(a) if xp is None else xp
    r = a - y
    return 0.5 * _weighted_sum(xp, r * r, weight, total)


def mse_gradient(a, y):
    """dL/da of the halved squared error: ``a - y``.

    Parameters
    ----------
    a : array, shape (m, K)
        Output activations.
    y : array, shape (m, K)
        Targets.

    Returns
    -------
    array, shape (m, K)
        ``dL/da`` elementwise, summed-loss convention.
    """
    return a - y


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", cross_entropy_value, cross_entropy_gradient, "sigmoid", ("sigmoid",), True),
    "softmax_cross_entropy": Loss(
        "softmax_cross_entropy", softmax_cross_entropy_value, softmax_cross_entropy_gradient, "softmax", ("softmax",), True
    ),
    "mse": Loss("mse", mse_value, mse_gradient, "identity", ("identity", "sigmoid", "tanh", "relu"), False),
}


def get_loss(name: str) -> Loss:
    """Look a loss up by name.

    Parameters
    ----------
    name : str or Loss
        One of the keys of :data:`LOSSES` ("cross_entropy", "softmax_cross_entropy",
        "mse"); a :class:`Loss` is returned as it is.

    Returns
    -------
    Loss
        The registered loss.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None


def output_delta(loss: Loss, output, a, y):
    """dL/dz at the output layer, summed-loss convention (divide by m outside).

    Unweighted: a per-sample weight multiplies each row of the delta afterwards.

    ``output`` is the output :class:`~bpnet_xp.activations.Activation`.  Exact
    ``a - y`` for the canonical pairs (see the module docstring); the chain rule
    ``dL/da * da/dz`` otherwise.

    Parameters
    ----------
    loss : Loss
        The network's loss.
    output : Activation
        The output layer's activation.
    a : array, shape (m, K)
        Output activations.
    y : array, shape (m, K)
        Targets.

    Returns
    -------
    array, shape (m, K)
        ``dL/dz`` of the summed loss, one row per sample, not yet weighted.
    """
    if output.name == loss.canonical_output:
        return a - y
    return loss.gradient(a, y) * output.derivative(a)


def check_pair(loss: Loss, output) -> None:
    """Raise ValueError for an output activation the loss cannot be paired with.

    Parameters
    ----------
    loss : Loss
        The loss; its ``outputs`` lists the activations it may be paired with.
    output : Activation
        The output layer's activation.

    Raises
    ------
    ValueError
        When ``output.name`` is not among ``loss.outputs``.
    """
    if loss.outputs is not None and output.name not in loss.outputs:
        raise ValueError(
            f"loss {loss.name!r} needs an output activation in {list(loss.outputs)}, "
            f"got {output.name!r}"
        )
