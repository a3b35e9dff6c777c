"""``--task auto``: whether a target column holds class labels or numbers to regress on.

The rule (docs/command-line.md documents it):

1. ``--loss cross_entropy`` / ``softmax_cross_entropy`` or ``--output softmax``
   ask for classification, ``--loss mse`` for regression.
2. Text labels and booleans are classes.
3. Targets with more than one column, or with a fractional value, are regression.
4. Whole numbers (``3``, or ``3.0``) are classes when there are at most
   :data:`MAX_CLASSES` distinct values, else regression: 202 distinct prices are
   not 202 classes.

A choice close to the line is announced as doubtful (a warning naming
``--task``): classes from whole numbers not all written as integers, more than
10 classes or a class with a single sample (its label named); regression on
whole numbers with at most 50 distinct values; and, either way, a label beyond
2**53 in magnitude (such as ``1e30``), where every float is a whole number, so
"whole" says nothing about it being a class (the value is named).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["TaskChoice", "choose_task", "MAX_CLASSES"]

#: Whole-number targets with at most this many distinct values are class labels.
MAX_CLASSES = 20
_MANY_CLASSES = 10  # more classes than this from whole numbers: say that it could be regression
_FEW_VALUES = 50  # regression on at most this many distinct whole numbers: say that it could be classes
# Beyond 2**53 every float64 is a whole number: such a "label" is no evidence of a class.
_EXACT_INTEGERS = 2.0 ** 53

_CLASSIFICATION_LOSSES = ("cross_entropy", "softmax_cross_entropy")


class TaskChoice(NamedTuple):
    """What ``--task`` resolved to, why, and whether the choice is doubtful.

    Parameters
    ----------
    task : str
        "classification" or "regression".
    reason : str
        Why, as the ``task:`` line prints it, e.g. "auto: text labels".
    doubt : str or None
        A warning's sentence when the choice is close to the line, else None.
    """

    task: str  # "classification" or "regression"
    reason: str  # e.g. "auto: text labels"
    doubt: str | None  # a sentence for a warning, or None


def _from_options(task: str, loss: str | None, output: str | None) -> TaskChoice | None:
    if task != "auto":
        return TaskChoice(task, "--task " + task, None)
    if loss in _CLASSIFICATION_LOSSES or output == "softmax":
        return TaskChoice("classification", f"auto: --{'loss ' + loss if loss else 'output softmax'}", None)
    if loss == "mse":
        return TaskChoice("regression", "auto: --loss mse", None)
    return None


def _plain(value) -> str:
    """A label value as the user wrote it: ``3``, ``1e+30`` (never ``np.float64(3.0)``)."""
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _listed(values, limit: int = 3) -> str:
    shown = ", ".join(_plain(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _huge(values: np.ndarray) -> str | None:
    """The doubt for whole numbers beyond 2**53 (a typo such as 1e30 is "whole"), else None."""
    huge = values[np.abs(values.astype(np.float64)) > _EXACT_INTEGERS]
    if huge.shape[0] == 0:
        return None
    return (f"the label value(s) {_listed(huge)} lie beyond 2^53, where every number is whole, "
            "so they may be a typo or a quantity rather than a class")


def _whole_numbers(y: np.ndarray) -> TaskChoice:
    """Rule 4 for integer or whole-valued float targets."""
    values, counts = np.unique(y, return_counts=True)
    k = values.shape[0]
    written = "whole numbers" if y.dtype.kind in "iu" else "whole numbers written as decimals"
    huge = _huge(values)
    if k <= MAX_CLASSES:
        doubts = [] if huge is None else [huge]
        if y.dtype.kind == "f" and huge is None:
            doubts.append("the labels are not all written as integers")
        if k > _MANY_CLASSES:
            doubts.append(f"there are {k} classes")
        if counts.min() < 2:
            doubts.append(f"{int(np.sum(counts < 2))} class(es) have a single sample "
                          f"(label {_listed(values[counts < 2])})")
        doubt = None
        if doubts:
            doubt = (f"chose classification for {k} distinct {written}, but {' and '.join(doubts)}; "
                     "pass --task regression if they are quantities")
        return TaskChoice("classification", f"auto: {k} distinct {written}, at most {MAX_CLASSES}", doubt)
    doubt = None
    if k <= _FEW_VALUES or huge is not None:
        doubt = (f"chose regression for {k} distinct {written} (more than {MAX_CLASSES})"
                 f"{'' if huge is None else ', and ' + huge}; "
                 "pass --task classification if they are class labels")
    return TaskChoice("regression", f"auto: {k} distinct {written}, more than {MAX_CLASSES}", doubt)


def choose_task(y, task: str = "auto", loss: str | None = None, output: str | None = None) -> TaskChoice:
    """Resolve ``--task`` for the targets ``y``.

    Parameters
    ----------
    y : numpy.ndarray, shape (m,) or (m, k)
        The target column(s) as read: text, booleans, integers or floats.
    task : {"auto", "classification", "regression"}
        The ``--task`` option; anything but "auto" is taken as given.
    loss, output : str or None
        ``--loss`` and ``--output``, which may decide the task (rule 1).

    Returns
    -------
    TaskChoice
        ``task``, the ``reason`` printed beside it, and ``doubt``: a warning's
        text when the choice is close to the line, else None.
    """
    chosen = _from_options(task, loss, output)
    if chosen is not None:
        return chosen
    y = np.asarray(y)
    kind = y.dtype.kind
    if kind in "USO":
        return TaskChoice("classification", "auto: text labels", None)
    if kind == "b":
        return TaskChoice("classification", "auto: boolean labels", None)
    if y.ndim != 1:
        return TaskChoice("regression", f"auto: {y.shape[1]} target columns", None)
    if kind == "f" and not np.all(y == np.round(y)):
        return TaskChoice("regression", "auto: fractional targets", None)
    return _whole_numbers(y)
