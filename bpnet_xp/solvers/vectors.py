"""The two vector reductions the solvers need, as array-API calls on the vectors' device.

:func:`dot` stays a 0-d device array (so the L-BFGS recursion and the PR+ coefficient need
no host sync); :func:`max_abs` is the one that crosses to the host, for a stopping test.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dot", "max_abs"]


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
    """The infinity norm of a vector, ``max(|a|)`` of ``a`` of shape (n,), as a Python float."""
    return float(xp.max(xp.abs(a)))
