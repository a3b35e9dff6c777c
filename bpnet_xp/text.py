"""Values as messages show them: the lowest module, importable by every other.

A message that quotes an argument with ``{value!r}`` prints ``np.int64(0)`` or
``np.float64(1.5)`` for a NumPy scalar (NumPy 2's repr), which names a type the user
never wrote; :func:`plain` turns such values back into Python ones first.  It lives
here, below :mod:`bpnet_xp.validation` (which re-exports it), so that the modules
validation itself sits on (config, initializers, datasets, preprocessing, the
solvers) can use it without an import circle.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plain"]


def plain(value):
    """A value as a message shows it, so a message reads ``got 0`` or ``got [3, 0]``, never
    ``got np.int64(0)`` or ``array(0)``.

    Parameters
    ----------
    value : object
        Any value; typically an argument a message quotes.

    Returns
    -------
    object
        NumPy scalars and 0-d arrays as Python numbers or strings, arrays as lists,
        lists and tuples element by element; anything else unchanged.  Use it as
        ``f"... got {plain(value)!r}"``: the repr of the result is plain.
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    return value
