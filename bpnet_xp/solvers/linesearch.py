"""Strong-Wolfe line search: Nocedal & Wright 2006, Alg. 3.5 (bracketing) and 3.6 (zoom).

:func:`line_search` finds a step ``alpha`` along a direction ``d`` from ``theta`` such that
``phi(alpha) = f(theta + alpha d)`` meets the strong Wolfe conditions; the zoom picks trial
steps by safeguarded cubic/quadratic interpolation (N&W eq. 3.59; Moré & Thuente 1994).
The vectors stay on their device: each trial sends only phi and phi' to the host.
Why strong Wolfe, and the give-up rules, are explained in docs/theory.md.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

from .vectors import dot

__all__ = ["LineSearchRecord", "Trial", "line_search", "MAX_LINE_SEARCH_EVALUATIONS"]

# Most function evaluations one line search may spend (extrapolation and zoom
# together).  Bisection from alpha = 1 reaches 1e-15 in 50 halvings, so this is
# enough to back away from a non-finite region however close it is.
MAX_LINE_SEARCH_EVALUATIONS = 50
# Growth factor of the trial step while no bracket is known (N&W Alg. 3.5 leaves
# the choice open; SciPy doubles too).
_EXTRAPOLATION = 2.0
# The zoom gives up when its bracket is narrower than this, relative to alpha:
# below it the trial points are numerically the same point.
_BRACKET_RTOL = 1e-14
# The search also gives up after this many trials whose loss equals phi(0) to
# rounding: near a minimiser, at the resolution of the loss's dtype, it would
# otherwise spend its whole budget on noise.
_MAX_FLAT_TRIALS = 8


class LineSearchRecord(NamedTuple):
    """One accepted line-search step; all fields are Python floats.

    The fields are such that ``phi_alpha <= phi0 + c1 * alpha * dphi0`` and
    ``abs(dphi_alpha) <= c2 * abs(dphi0)`` hold.

    Attributes
    ----------
    alpha : float
        The accepted step.
    phi0, dphi0 : float
        The loss and directional derivative at alpha = 0.
    phi_alpha, dphi_alpha : float
        The loss and directional derivative at the accepted ``alpha``.
    c1, c2 : float
        The Wolfe constants it was accepted under (sufficient decrease, curvature).
    """

    alpha: float
    phi0: float
    dphi0: float
    phi_alpha: float
    dphi_alpha: float
    c1: float
    c2: float


class Trial(NamedTuple):
    """An evaluated point of the line.

    Attributes
    ----------
    alpha, phi, dphi : float
        The step, ``phi(alpha)`` and ``phi'(alpha)``; ``phi = inf`` and ``dphi = nan``
        where the loss or its slope was not finite.
    theta, grad : array, shape (n,) or None
        ``theta + alpha d`` and the gradient there (None where not finite).
    """

    alpha: float
    phi: float
    dphi: float
    theta: Any
    grad: Any


def _cubic_minimiser(a, fa, da, b, fb, db):
    """Minimiser of the cubic matching f, f' at a and b (N&W eq. 3.59), or None."""
    try:
        d1 = da + db - 3.0 * (fa - fb) / (a - b)
        disc = d1 * d1 - da * db
        if not math.isfinite(disc) or disc < 0:
            return None
        d2 = math.copysign(math.sqrt(disc), b - a)
        denominator = db - da + 2.0 * d2
        if denominator == 0:
            return None
        x = b - (b - a) * (db + d2 - d1) / denominator
    except (ZeroDivisionError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _quadratic_minimiser(a, fa, da, b, fb):
    """Minimiser of the quadratic matching f(a), f'(a), f(b), or None if it is not convex."""
    try:
        curvature = 2.0 * (fb - fa - da * (b - a))
        if not (curvature > 0):
            return None
        x = a - da * (b - a) ** 2 / curvature
    except (ZeroDivisionError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _zoom_step(lo: Trial, hi: Trial) -> float:
    """The next trial step inside the bracket [lo, hi].

    The cubic's minimiser, else the quadratic's, else bisection: an interpolant that is
    undefined or lands within 20 % (cubic) or 10 % (quadratic) of an end is refused,
    as in SciPy's ``scalar_search_wolfe2``; without that the zoom can stall at one end.
    """
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    width = right - left
    if math.isfinite(hi.phi):
        x = _cubic_minimiser(lo.alpha, lo.phi, lo.dphi, hi.alpha, hi.phi, hi.dphi)
        if x is not None and left + 0.2 * width <= x <= right - 0.2 * width:
            return x
        x = _quadratic_minimiser(lo.alpha, lo.phi, lo.dphi, hi.alpha, hi.phi)
        if x is not None and left + 0.1 * width <= x <= right - 0.1 * width:
            return x
    return lo.alpha + 0.5 * (hi.alpha - lo.alpha)


class _Search:
    """One line search: its fixed data and its two counts (trials made, trials that were flat)."""

    def __init__(self, fun, start: Trial, direction, c1, c2, eps, budget):
        self.xp = array_namespace(start.theta, direction)
        self.fun, self.start, self.direction = fun, start, direction
        self.c1, self.c2, self.eps, self.budget = c1, c2, eps, budget
        # Below this step length the decrease a step can make to first order,
        # alpha |phi'(0)|, is smaller than the rounding error of phi itself: the
        # search can no longer tell better from worse, so it gives up.
        self.resolution = eps * abs(start.phi) / abs(start.dphi) if start.dphi != 0 else math.inf
        self.used = self.flat = 0

    def measure(self, alpha: float) -> Trial:
        """Evaluate the line at ``alpha``, counting the trial against the budget."""
        self.used += 1
        trial = self._evaluate(alpha)
        # A trial whose loss equals phi0 to rounding tells the search nothing; a
        # line that is flat at working precision has no measurable decrease left.
        if abs(trial.phi - self.start.phi) <= 4.0 * self.eps * abs(self.start.phi):
            self.flat += 1
        return trial

    def _evaluate(self, alpha: float) -> Trial:
        point = self.start.theta + alpha * self.direction
        loss, grad = self.fun(point)
        dphi = float(dot(self.xp, grad, self.direction)) if math.isfinite(loss) else math.nan
        if not (math.isfinite(loss) and math.isfinite(dphi)):
            # Too far: outside the function's domain or past an overflow.  Treat phi
            # as +inf so the point can only become the upper end of a bracket.
            return Trial(alpha, math.inf, math.nan, None, None)
        return Trial(alpha, loss, dphi, point, grad)

    def exhausted(self) -> bool:
        return self.used >= self.budget or self.flat >= _MAX_FLAT_TRIALS

    def armijo_fails(self, trial: Trial) -> bool:
        return not (trial.phi <= self.start.phi + self.c1 * trial.alpha * self.start.dphi)

    def curvature_holds(self, trial: Trial) -> bool:
        return abs(trial.dphi) <= self.c2 * abs(self.start.dphi)

    def bracket(self, alpha: float) -> Trial | None:
        """N&W Alg. 3.5: grow the step until it is acceptable or a bracket is found."""
        previous, first = self.start, True
        while not self.exhausted():
            trial = self.measure(alpha)
            if self.armijo_fails(trial) or (not first and trial.phi >= previous.phi):
                return self.zoom(previous, trial)
            if self.curvature_holds(trial):
                return trial
            if trial.dphi >= 0:
                return self.zoom(trial, previous)
            previous, alpha, first = trial, _EXTRAPOLATION * alpha, False
        return None

    def zoom(self, lo: Trial, hi: Trial) -> Trial | None:
        """N&W Alg. 3.6: shrink the bracket [lo, hi] until a step is acceptable."""
        # Invariants (N&W p. 61): the bracket between lo and hi contains steps
        # satisfying strong Wolfe; lo satisfies sufficient decrease and has the
        # lowest phi so far; dphi(lo) * (hi - lo) < 0.
        while not self.exhausted():
            widest = max(abs(lo.alpha), abs(hi.alpha))
            if abs(hi.alpha - lo.alpha) <= _BRACKET_RTOL * widest or widest <= self.resolution:
                return None
            trial = self.measure(_zoom_step(lo, hi))
            if self.armijo_fails(trial) or trial.phi >= lo.phi:
                hi = trial
                continue
            if self.curvature_holds(trial):
                return trial
            if trial.dphi * (hi.alpha - lo.alpha) >= 0:
                hi = lo
            lo = trial
        return None


def line_search(
    fun: Callable,
    start: Trial,
    direction,
    alpha: float,
    *,
    c1: float,
    c2: float,
    eps: float,
    evaluations_left: float = math.inf,
) -> Trial | None:
    """Find a step along ``direction`` that satisfies the strong Wolfe conditions.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (loss, grad)`` with ``loss`` a Python float and ``grad`` of shape (n,).
    start : Trial
        The point at alpha = 0: ``Trial(0.0, phi0, dphi0, theta, grad)`` with
        ``dphi0 = grad . direction < 0``.
    direction : array, shape (n,)
        A descent direction, on the device of ``start.theta``.
    alpha : float
        The first trial step, > 0.
    c1, c2 : float
        The Wolfe constants, ``0 < c1 < c2 < 1``.
    eps : float
        Machine epsilon of the loss's dtype: the rounding level below which
        differences of phi are noise.
    evaluations_left : float
        Calls of ``fun`` the whole run may still make; the search makes at most
        ``min(MAX_LINE_SEARCH_EVALUATIONS, evaluations_left)``.

    Returns
    -------
    Trial or None
        The accepted point (its loss is finite), or None when no acceptable step was
        found within the budget, the bracket collapsed, or the line is flat at working
        precision.
    """
    budget = min(MAX_LINE_SEARCH_EVALUATIONS, evaluations_left)
    return _Search(fun, start, direction, c1, c2, eps, budget).bracket(alpha)
