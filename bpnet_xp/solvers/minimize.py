"""The full-batch driver :func:`minimize`: a direction strategy plus a strong-Wolfe line search.

Each iteration asks the strategy (:mod:`.directions`) for a direction, finds a step along
it (:mod:`.linesearch`), tells the strategy what the step taught it, and applies the
stopping tests.  ``theta`` stays on its device; only scalars cross to the host, where a
decision needs them.  The choices (first trial steps, restarts) are explained in docs/theory.md.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

from ..text import plain
from .directions import DIRECTIONS, AcceptedStep, DirectionStrategy
from .linesearch import LineSearchRecord, Trial, line_search
from .vectors import dot, max_abs

__all__ = ["minimize", "SolverResult", "SOLVER_METHODS"]

#: Methods accepted by :func:`minimize`.
SOLVER_METHODS = tuple(DIRECTIONS)


class SolverResult(NamedTuple):
    """What :func:`minimize` returns.

    Attributes
    ----------
    theta : array, shape (n,)
        The final parameters, on the device of ``theta0``; their loss is finite
        unless the initial loss was not.
    loss : float
        The loss at ``theta``.
    grad : array, shape (n,)
        The gradient at ``theta``.
    n_iter : int
        Number of iterations (accepted steps).
    n_evaluations : int
        Number of calls of ``fun``.
    stop_reason : str
        Why the run stopped (see :func:`minimize`).
    converged : bool
        True when stopped by gtol or ftol.
    losses : list of float
        The loss after each iteration (``len(losses) == n_iter``).
    line_searches : list of LineSearchRecord
        The accepted line-search step of each iteration.
    """

    theta: Any
    loss: float
    grad: Any
    n_iter: int
    n_evaluations: int
    stop_reason: str
    converged: bool
    losses: list
    line_searches: list


class _Options(NamedTuple):
    """The checked options of one run."""

    max_iter: int
    gtol: float
    ftol: float
    c1: float
    c2: float
    eps: float  # machine epsilon of theta's dtype


class _Counter:
    """Calls ``fun``, returning the loss as a Python float, and counts the calls
    against the optional ``max_evaluations`` budget."""

    def __init__(self, fun: Callable, limit: int | None):
        self.fun, self.limit, self.count = fun, limit, 0

    def left(self) -> float:
        return math.inf if self.limit is None else self.limit - self.count

    def __call__(self, theta):
        self.count += 1
        loss, grad = self.fun(theta)
        return float(loss), grad


def _strategy(method: Any) -> DirectionStrategy:
    method = method.strip().lower() if isinstance(method, str) else method
    if method not in SOLVER_METHODS:
        hint = (" (the line-search descent is 'steepest_descent'; fixed-step 'gd' is an "
                "optimizer of fit)") if method == "gd" else ""
        raise ValueError(f"unknown method {plain(method)!r}; methods are {', '.join(SOLVER_METHODS)}{hint}")
    return DIRECTIONS[method]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_whole_number(value) -> bool:
    # 10 and 10.0 (and NumPy's integers and floats) count; "10", None, True and 2.5 do not.
    return _is_real(value) and math.isfinite(value) and int(value) == value


def _check_options(theta0, max_iter, gtol, ftol, memory, c1, c2, max_evaluations) -> _Options:
    if getattr(theta0, "ndim", None) != 1:
        raise ValueError(
            f"theta0 must be a 1-D array (the flat parameter vector), got shape {getattr(theta0, 'shape', None)}"
        )
    for name, value in (("max_iter", max_iter), ("memory", memory)):
        if not _is_whole_number(value):
            raise ValueError(f"{name} must be an integer, got {plain(value)!r}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {plain(max_iter)}")
    if memory < 1:
        raise ValueError(f"memory must be >= 1, got {plain(memory)}")
    if max_evaluations is not None and not (_is_whole_number(max_evaluations) and max_evaluations >= 1):
        raise ValueError(f"max_evaluations must be a positive integer or None, got {plain(max_evaluations)!r}")
    for name, value in (("gtol", gtol), ("ftol", ftol), ("c1", c1), ("c2", c2)):
        if not (_is_real(value) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {plain(value)!r}")
    if not (0 < c1 < c2 < 1):
        raise ValueError(f"the Wolfe constants must satisfy 0 < c1 < c2 < 1, got c1={plain(c1)}, c2={plain(c2)}")
    xp = array_namespace(theta0)
    try:
        eps = float(xp.finfo(theta0.dtype).eps)
    except (TypeError, ValueError):
        raise ValueError(f"theta0 must be a floating-point array, got dtype {theta0.dtype}") from None
    return _Options(int(max_iter), gtol, ftol, c1, c2, eps)


def _first_step(xp, scaled: bool, steepest: bool, direction, start: Trial, previous_loss, last_alpha) -> float:
    """The line search's first trial step (N&W section 3.5)."""
    if scaled and not steepest:
        return 1.0  # a quasi-Newton step is scaled well (N&W section 6.1)
    if previous_loss is None or scaled:
        # First iteration (or L-BFGS after a reset): a step of at most unit length.
        return min(1.0, 1.0 / math.sqrt(float(dot(xp, direction, direction))))
    # N&W eq. 3.60: the minimiser of the quadratic matching the last decrease, but at
    # most twice the last accepted step (without the bound it overshoots near a solution).
    alpha = min(1.01 * 2.0 * (previous_loss - start.phi) / (-start.dphi), 2.0 * last_alpha)
    return alpha if math.isfinite(alpha) and alpha > 0 else last_alpha


def _along(xp, counter, scaled, current: Trial, direction, steepest, previous_loss, last_alpha, options):
    """Line search from ``current`` along ``direction``: ``(trial or None, start)``.

    A direction that is not one of descent is refused unsearched, unless it is ``-grad``.
    """
    start = Trial(0.0, current.phi, float(dot(xp, current.grad, direction)), current.theta, current.grad)
    if not steepest and not (start.dphi < 0):
        return None, start
    alpha = _first_step(xp, scaled, steepest, direction, start, previous_loss, last_alpha)
    trial = line_search(counter, start, direction, alpha, c1=options.c1, c2=options.c2,
                        eps=options.eps, evaluations_left=counter.left())
    return trial, start


def _search(xp, counter, strategy, state, current: Trial, previous_loss, last_alpha, options):
    """One iteration's line search: along the strategy's direction, else along ``-grad``.

    Returns ``(trial, start, direction, steepest, state)``, ``trial`` None on failure.
    """
    common = (previous_loss, last_alpha, options)
    direction = strategy.direction(state, current.grad)
    if direction is not None:
        trial, start = _along(xp, counter, strategy.scaled, current, direction, False, *common)
        if trial is not None:
            return trial, start, direction, False, state
        # Not a descent direction (PR+ has no guarantee; rounding in L-BFGS), or no step
        # found along it: forget the history and try steepest descent once.
        state = strategy.reset(state)
    direction = -current.grad
    trial, start = _along(xp, counter, strategy.scaled, current, direction, True, *common)
    return trial, start, direction, True, state


def _initial_stop(xp, current: Trial, options: _Options) -> tuple[str, bool] | None:
    """(stop reason, converged) at the initial point, or None to iterate."""
    if not math.isfinite(current.phi):
        return f"non-finite loss at the initial point (loss = {current.phi})", False
    grad_norm = max_abs(xp, current.grad)
    if not math.isfinite(grad_norm):
        return "non-finite gradient at the initial point", False
    if grad_norm <= options.gtol:
        return "gradient norm below gtol", True
    if options.max_iter == 0:
        return "maximum iterations reached", False
    return None


def _stop(xp, current: Trial, previous_loss, iteration, by_callback, counter, options):
    """(stop reason, converged) after an iteration, or None to go on; the tests in order."""
    loss = current.phi
    if max_abs(xp, current.grad) <= options.gtol:
        return "gradient norm below gtol", True
    if previous_loss - loss <= options.ftol * max(abs(previous_loss), abs(loss), 1.0):
        return "relative loss change below ftol", True
    if by_callback:
        return "stopped by callback", False
    if iteration >= options.max_iter:
        return "maximum iterations reached", False
    if counter.left() <= 0:
        return "maximum evaluations reached", False
    return None


def minimize(
    fun: Callable,
    theta0,
    method: str = "lbfgs",
    *,
    max_iter: int = 100,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    memory: int = 10,
    callback: Callable | None = None,
    c1: float = 1e-4,
    c2: float | None = None,
    max_evaluations: int | None = None,
) -> SolverResult:
    """Minimise ``fun`` from ``theta0`` along the directions of ``method``, with a strong-Wolfe line search.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (loss, grad)`` with ``theta`` of shape (n,), ``loss`` a
        0-d array (or Python float) and ``grad`` an array of shape (n,), both of
        the namespace and device of ``theta0``.
    theta0 : array, shape (n,)
        Starting point; a floating array of any array-API library.
    method : {"lbfgs", "cg", "steepest_descent"}
        A key of :data:`bpnet_xp.solvers.directions.DIRECTIONS`: L-BFGS (N&W 2006,
        Alg. 7.5), Polak-Ribière+ CG (Alg. 5.4), or steepest descent ``d = -g``.
    max_iter : int
        Maximum number of iterations (accepted steps), >= 0.
    gtol : float
        Stop when ``max(|grad|) <= gtol``.
    ftol : float
        Stop when ``f_prev - f <= ftol * max(|f_prev|, |f|, 1)``.
    memory : int
        Number of (s, y) pairs L-BFGS keeps.
    callback : callable, optional
        ``callback(iteration, theta, loss) -> bool | None``, called after each
        iteration with the number of iterations done (1 for the first), the
        new ``theta`` (device array) and its loss (float); returning True stops.
    c1, c2 : float
        Strong Wolfe constants, ``0 < c1 < c2 < 1``; ``c2`` defaults to 0.9 for
        "lbfgs" and "steepest_descent" and 0.1 for "cg".
    max_evaluations : int, optional
        Maximum number of calls of ``fun`` (unlimited by default).

    Returns
    -------
    SolverResult
        ``stop_reason`` is, tested in this order after each iteration: "gradient norm
        below gtol", "relative loss change below ftol" (both ``converged``), "stopped by
        callback", "maximum iterations reached", "maximum evaluations reached"; or
        "line search failed" when no step along ``-grad`` decreases the loss, or
        "non-finite loss/gradient at the initial point".

    Raises
    ------
    ValueError
        For an unknown method, a ``theta0`` that is not a vector, a gradient of the
        wrong shape, or invalid options.
    """
    strategy = _strategy(method)
    c2 = strategy.c2 if c2 is None else c2
    options = _check_options(theta0, max_iter, gtol, ftol, memory, c1, c2, max_evaluations)
    c1, c2 = float(c1), float(c2)
    xp = array_namespace(theta0)
    counter = _Counter(fun, None if max_evaluations is None else int(max_evaluations))
    loss, grad = counter(theta0)
    if getattr(grad, "shape", None) != theta0.shape:
        raise ValueError(f"fun returned a gradient of shape {getattr(grad, 'shape', None)}, expected {theta0.shape}")
    current = Trial(0.0, loss, math.nan, theta0, grad)  # the iterate; alpha, dphi unused
    losses: list[float] = []
    records: list[LineSearchRecord] = []
    stop = _initial_stop(xp, current, options)
    state = strategy.init(theta0, int(memory))
    previous_loss = None
    while stop is None:
        last_alpha = records[-1].alpha if records else None
        trial, start, direction, steepest, state = _search(
            xp, counter, strategy, state, current, previous_loss, last_alpha, options)
        if trial is None:
            stop = ("maximum evaluations reached" if counter.left() <= 0 else "line search failed"), False
            break
        records.append(LineSearchRecord(trial.alpha, start.phi, start.dphi, trial.phi, trial.dphi, c1, c2))
        step = AcceptedStep(current.theta, current.grad, trial.theta, trial.grad, direction, steepest)
        state = strategy.update(state, step)
        previous_loss, current = current.phi, trial
        losses.append(current.phi)
        by_callback = bool(callback(len(losses), current.theta, current.phi)) if callback is not None else False
        stop = _stop(xp, current, previous_loss, len(losses), by_callback, counter, options)
    reason, converged = stop
    return SolverResult(current.theta, current.phi, current.grad, len(losses), counter.count,
                        reason, converged, losses, records)
