"""Learning-rate schedules: host functions ``schedule(count) -> float`` of the number of updates done.

A schedule is evaluated on the host once per update (the count is a Python int in
the optimizer's state), so it never touches the device.  :func:`get_schedule` is the
one switch from the names of :data:`bpnet_xp.config.SCHEDULES` to a schedule.

Reducing the rate when the monitored loss stops improving needs that loss, known once
per epoch, so :func:`plateau` is not a schedule but a small transformation of the
sequence of epoch losses into a multiplier, with a pure ``init``/``update`` pair;
:func:`scaled` composes a schedule with that multiplier.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

__all__ = [
    "positive_number",
    "Schedule",
    "constant",
    "inverse_scaling",
    "step_decay",
    "scaled",
    "get_schedule",
    "PlateauState",
    "Plateau",
    "plateau",
]

#: ``schedule(count) -> learning rate``, ``count`` the number of updates done so far (>= 0).
Schedule = Callable[[int], float]


def positive_number(name: str, value: Any) -> float:
    """``value`` as a positive finite float, or a ValueError naming ``name`` (every hyperparameter check).

    Parameters
    ----------
    name : str
        The hyperparameter's name, for the message.
    value : Any
        What was given.

    Returns
    -------
    float
        ``float(value)``, positive and finite.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _count(count: Any) -> int:
    if isinstance(count, bool) or int(count) != count or count < 0:
        raise ValueError(f"a schedule's count must be an integer >= 0, got {count!r}")
    return int(count)


def constant(learning_rate: float) -> Schedule:
    """The same rate at every update: ``schedule(count) = learning_rate``.

    Parameters
    ----------
    learning_rate : float
        Positive.

    Returns
    -------
    callable
        ``schedule(count) -> float``.
    """
    rate = positive_number("learning_rate", learning_rate)

    def schedule(count: int) -> float:
        _count(count)
        return rate

    return schedule


def inverse_scaling(learning_rate: float, power: float = 0.5) -> Schedule:
    """``schedule(count) = learning_rate / (count + 1) ** power`` (scikit-learn's "invscaling").

    The ``+ 1`` makes the first update (count 0) use ``learning_rate`` itself.  With
    ``power`` in (0.5, 1] the rates satisfy the Robbins-Monro conditions.

    Parameters
    ----------
    learning_rate : float
        Positive; the rate of the first update.
    power : float
        Finite, >= 0 (0 gives a constant rate).

    Returns
    -------
    callable
        ``schedule(count) -> float``.
    """
    rate = positive_number("learning_rate", learning_rate)
    exponent = float(power)
    if not math.isfinite(exponent) or exponent < 0:
        raise ValueError(f"power must be a finite number >= 0, got {power!r}")

    def schedule(count: int) -> float:
        return rate / (_count(count) + 1) ** exponent

    return schedule


def step_decay(learning_rate: float, factor: float = 0.5, every: int = 10) -> Schedule:
    """``schedule(count) = learning_rate * factor ** (count // every)``.

    Parameters
    ----------
    learning_rate : float
        Positive; the rate of the first ``every`` updates.
    factor : float
        In (0, 1].
    every : int
        Positive number of updates between reductions.

    Returns
    -------
    callable
        ``schedule(count) -> float``.
    """
    rate = positive_number("learning_rate", learning_rate)
    multiplier = float(factor)
    if not (0 < multiplier <= 1):
        raise ValueError(f"factor must be in (0, 1], got {factor!r}")
    if isinstance(every, bool) or int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    period = int(every)

    def schedule(count: int) -> float:
        return rate * multiplier ** (_count(count) // period)

    return schedule


def scaled(schedule: Schedule, multiplier: float) -> Schedule:
    """``schedule`` times ``multiplier`` (the plateau's scale); ``schedule`` itself when it is 1.

    Returning the same function for a multiplier of 1 keeps the rates bit-identical to
    the unscaled schedule's.

    Parameters
    ----------
    schedule : callable
        ``schedule(count) -> float``.
    multiplier : float
        The factor applied to every rate.

    Returns
    -------
    callable
        ``schedule(count) * multiplier``.
    """
    if multiplier == 1.0:
        return schedule
    return lambda count: schedule(count) * multiplier


def get_schedule(name: Any, learning_rate: Any, n_batches: int) -> Schedule:
    """The schedule that a ``fit`` option names: the one switch over schedule names.

    Parameters
    ----------
    name : {"constant", "inverse_scaling", "step", "plateau"} or callable
        "inverse_scaling": ``learning_rate / (count + 1) ** 0.5``; "step": halve every
        10 epochs (``10 * n_batches`` updates); "plateau": the constant rate (the
        plateau's multiplier is applied by the training loop, see :func:`scaled`); a
        callable is the schedule itself.
    learning_rate : float or callable
        The base rate, or a schedule (used as it is by "constant" and "plateau").
    n_batches : int
        Updates per epoch.

    Returns
    -------
    callable
        ``schedule(count) -> float``.
    """
    if callable(name):
        return name
    if name in ("constant", "plateau"):
        return learning_rate if callable(learning_rate) else constant(learning_rate)
    if name == "inverse_scaling":
        return inverse_scaling(learning_rate)
    if name == "step":
        return step_decay(learning_rate, every=10 * n_batches)
    raise ValueError(f"unknown schedule {name!r}")


# ---------------------------------------------------------------------------------------
# Reduce on plateau: epoch losses -> a multiplier of the rate.


class PlateauState(NamedTuple):
    """State of :func:`plateau`.

    Attributes
    ----------
    scale : float
        The current multiplier of the learning rate (1.0 at first).
    best : float
        The best value seen (``inf`` before the first).
    bad_epochs : int
        Consecutive non-improving values since the last improvement or reduction.
    """

    scale: float = 1.0
    best: float = math.inf
    bad_epochs: int = 0


class Plateau(NamedTuple):
    """``state = init()``; ``state = update(state, value)``; the multiplier is ``state.scale``.

    Attributes
    ----------
    init : callable
        ``init() -> PlateauState``, the state before the first value.
    update : callable
        ``update(state, value) -> PlateauState`` after each monitored value.
    """

    init: Callable[[], PlateauState]
    update: Callable[[PlateauState, Any], PlateauState]


def plateau(factor: float = 0.5, patience: int = 5, min_lr: float = 1e-6, learning_rate: float = 1.0,
            threshold: float = 1e-4) -> Plateau:
    """Multiply the learning rate by ``factor`` when a monitored loss stops improving.

    A value *improves* when it is below ``best - threshold * |best|`` (relative, as
    PyTorch's default, so noise in the last digits is no progress); a non-finite value
    never improves.  The update that sees the ``patience``-th consecutive non-improving
    value multiplies the scale by ``factor`` and starts counting again; the scale never
    takes ``learning_rate * scale`` below ``min_lr``.

    Parameters
    ----------
    factor : float
        In (0, 1).
    patience : int
        Consecutive non-improving values that trigger a reduction (>= 1).
    min_lr : float
        Lower bound of ``learning_rate * scale`` (>= 0).
    learning_rate : float
        The base rate the scale applies to, used only for ``min_lr``; with 1.0,
        ``min_lr`` bounds the scale itself.
    threshold : float
        Relative improvement needed (>= 0).

    Returns
    -------
    Plateau
        ``init() -> PlateauState``; ``update(state, value) -> PlateauState`` with
        ``value`` the epoch's monitored loss (a float or a 0-d array).
    """
    factor = float(factor)
    if not (0 < factor < 1):
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    if isinstance(patience, bool) or int(patience) != patience or patience < 1:
        raise ValueError(f"patience must be a positive integer, got {patience!r}")
    patience = int(patience)
    min_lr = float(min_lr)
    if not math.isfinite(min_lr) or min_lr < 0:
        raise ValueError(f"min_lr must be a finite number >= 0, got {min_lr!r}")
    floor = min_lr / positive_number("learning_rate", learning_rate)
    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")

    def init() -> PlateauState:
        return PlateauState()

    def update(state: PlateauState, value: Any) -> PlateauState:
        value = float(value)
        best = state.best
        if math.isfinite(value) and (not math.isfinite(best) or value < best - threshold * abs(best)):
            return PlateauState(state.scale, value, 0)
        if state.bad_epochs + 1 < patience:
            return PlateauState(state.scale, best, state.bad_epochs + 1)
        # Never below the floor, and never raised back up to it either.
        return PlateauState(max(state.scale * factor, min(floor, state.scale)), best, 0)

    return Plateau(init, update)
