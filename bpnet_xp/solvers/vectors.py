"""The two vector reductions the solvers need, as array-API calls on the vectors' device.

:func:`dot` stays a 0-d device array (so the L-BFGS recursion and the PR+ coefficient need
no host sync); :func:`max_abs` is the one that crosses to the host, for a stopping test.
:func:`first_evaluation` and :func:`stopping_rule` are the start and the stopping tests
that the solvers without a line search (rprop, scg) share.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["dot", "max_abs", "first_evaluation", "stopping_rule"]


def dot(xp: Any, a: Any, b: Any) -> Any:
    """The inner product of two vectors.

    Parameters
    ----------
    xp : namespace
        The array namespace of ``a`` and ``b``.
    a, b : array, shape (n,)

    Returns
    -------
    array, shape ()
        ``a . b``, a 0-d array on the device of ``a``.
    """
    if hasattr(xp, "vecdot"):
        return xp.vecdot(a, b)
    return xp.sum(a * b)  # pragma: no cover - namespaces before the 2023.12 standard


def max_abs(xp: Any, a: Any) -> float:
    """The infinity norm of a vector, ``max(|a|)``, as a Python float.

    Parameters
    ----------
    xp : namespace
        The array-API namespace of ``a``.
    a : array, shape (n,)
        The vector.

    Returns
    -------
    float
        ``max(|a|)`` (one device-to-host read).
    """
    return float(xp.max(xp.abs(a)))


def first_evaluation(objective: Any, theta0: Any) -> tuple:
    """J and its gradient at the start, and why not to go on when J is not finite there.

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (loss, grad)``.
    theta0 : array, shape (n,)
        The initial parameters.

    Returns
    -------
    loss : float
        J(theta0).
    grad : array, shape (n,)
        Its gradient.
    reason : str or None
        The stop reason for a non-finite J(theta0), else None.
    """
    loss, grad = objective(theta0)
    loss = float(loss)
    reason = None if math.isfinite(loss) else f"non-finite loss at the initial point (loss = {loss})"
    return loss, grad, reason


def stopping_rule(xp: Any, grad: Any, loss: float, n_iter: int, *, gtol: float, goal: float,
                  max_iter: int) -> tuple:
    """The tests before each iteration: small gradient, goal met, budget spent (in that order).

    Parameters
    ----------
    xp : namespace
        The array namespace of ``grad``.
    grad : array, shape (n,)
        The current gradient (or its negative: only ``max|g|`` is read).
    loss : float
        The current J.
    n_iter : int
        Iterations done.
    gtol : float
        Stop when ``max|g| <= gtol``.
    goal : float
        Stop when ``loss <= goal``.
    max_iter : int
        Stop when ``n_iter >= max_iter``.

    Returns
    -------
    reason : str or None
        None: go on.
    converged : bool
        True for the gradient and goal tests.
    """
    if max_abs(xp, grad) <= gtol:
        return "gradient norm below gtol", True
    if loss <= goal:
        return "performance goal met", True
    if n_iter >= max_iter:
        return "maximum iterations reached", False
    return None, False
