"""Full-batch minimisers: gradient descent, nonlinear conjugate gradient and L-BFGS.

:func:`minimize` minimises a smooth function of the flat parameter vector
``theta`` given as ``fun(theta) -> (loss, grad)``.  Everything that touches a
vector is written in the Python array API, so ``theta``, the search directions
and the L-BFGS history stay on the device of ``theta0`` (a GPU with CuPy or
PyTorch).  Only 0-d results cross to the host, as Python floats, where a
*decision* needs them: the loss and the directional derivative at each trial
step of the line search, the stopping tests, and the curvature test of L-BFGS.
That is a few scalars per function evaluation, against the O(n) work of the
evaluation itself.

Every method takes steps ``theta_{k+1} = theta_k + alpha_k d_k`` along a descent
direction ``d_k`` with a step length ``alpha_k`` chosen by the same line search.

The line search (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 3.5 and 3.6)
-----------------------------------------------------------------------------------------
It works on the one-dimensional function ``phi(alpha) = fun(theta + alpha d)``,
``phi'(alpha) = grad(theta + alpha d) . d``, and returns a step satisfying the
*strong Wolfe conditions*

    phi(alpha) <= phi(0) + c1 alpha phi'(0)          (sufficient decrease)
    |phi'(alpha)| <= c2 |phi'(0)|                     (curvature)

with 0 < c1 < c2 < 1.  Algorithm 3.5 tries increasing steps (doubling) until it
either finds an acceptable one or brackets an interval that must contain one;
Algorithm 3.6 ("zoom") then shrinks the bracket, choosing each trial step as the
minimiser of the cubic interpolating phi and phi' at the two ends (N&W eq. 3.59),
falling back to the quadratic through phi(lo), phi'(lo), phi(hi), and to
bisection when the interpolant is undefined or lands within 20 % (cubic) or
10 % (quadratic) of an end of the bracket (the safeguards SciPy's
``scalar_search_wolfe2`` uses; without them the zoom can stall at one end).
Why strong Wolfe: the curvature condition guarantees ``s . y > 0`` for the
L-BFGS update (so its inverse-Hessian approximation stays positive definite),
and the tight version c2 < 1/2 is what the conjugate-gradient theory needs
(N&W Lemma 5.6 proves descent for Fletcher-Reeves under it; for PR+ there is
no such guarantee, so the code checks ``g . d < 0`` and restarts otherwise).
Hence the defaults c1 = 1e-4, and c2 = 0.9 for L-BFGS and gradient descent (a
loose curvature test: fewer evaluations per step) but c2 = 0.1 for CG, which
needs nearly exact line searches to keep its directions conjugate (N&W
section 5.2).

The search gives up, and reports failure, after 50 evaluations, when its
bracket is narrower than alpha can resolve, or when the loss is flat at working
precision: every step in the bracket is too short to change phi by more than
its rounding error (``alpha |phi'(0)| <= eps |phi(0)|``), or 8 trials returned
phi(0) to within 4 ulps.  Near a minimiser, at the resolution of the loss's
dtype, it would otherwise spend its whole budget on rounding noise.

A trial step whose loss or directional derivative is not finite (an overflow, a
NaN from leaving a function's domain) is treated as a step that went too far:
it becomes the upper end of the bracket (as if phi were +inf there) and the
search bisects back towards the last good step.  The returned point therefore
always has a finite loss.  Each iteration's accepted step is recorded in a
:class:`LineSearchRecord`, so the Wolfe conditions can be checked afterwards.

First trial step: for L-BFGS, ``alpha = 1`` (the quasi-Newton step is scaled
well, N&W section 6.1), except on the first iteration, where the direction is
the raw gradient and ``alpha = min(1, 1 / ||d||)`` keeps the first step at most
of unit length (as SciPy does).  For gradient descent and CG, whose directions
carry no scale information, the first step is chosen the same way and later
ones by N&W eq. 3.60, ``alpha = 1.01 * 2 (f_{k-1} - f_k) / (-phi'(0))`` (the
minimiser of the quadratic that matches the last decrease), but at most twice
the previous accepted step.  Why these two choices, measured on this code:
SciPy and N&W also cap eq. 3.60 at 1, but for a network on standardised digits
(CG, 50 iterations) the good steps are much longer than 1 and the cap tripled
the number of function evaluations; without the growth bound, near a solution,
where phi'(0) is tiny, eq. 3.60 overshoots by orders of magnitude (into the
non-finite region of a barrier function, in the tests) and the search spends
tens of evaluations walking back.  With both, CG needs about two evaluations
per iteration on the digits network.

The methods
-----------
"gd"
    Steepest descent, ``d = -g``, with the line search above.  Slow on
    ill-conditioned problems, but every step decreases the loss.
"cg"
    Nonlinear conjugate gradient, Polak-Ribière+ (N&W eq. 5.44-5.45):
    ``d = -g + beta d_prev`` with ``beta = max(0, g . (g - g_prev) / ||g_prev||^2)``.
    Clipping at 0 is itself a restart with steepest descent; the method also
    restarts every n iterations (n = the number of parameters, after which the
    conjugacy of the directions is lost anyway) and whenever ``d`` is not a
    descent direction.  This is Algorithm 5.4 with PR+ in place of FR.
"lbfgs"
    Limited-memory BFGS (N&W Alg. 7.4 two-loop recursion and Alg. 7.5): the
    last ``memory`` pairs ``s = theta_{k+1} - theta_k``, ``y = g_{k+1} - g_k``
    define an approximation of the inverse Hessian applied to ``g`` in O(m n)
    work, starting from ``H0 = gamma I`` with ``gamma = s . y / y . y`` of the
    newest pair (N&W eq. 7.20).  A pair with ``s . y <= eps * y . y`` (eps the
    machine epsilon of theta's dtype) carries no usable positive curvature and
    is skipped, which keeps H positive definite.  The pairs are kept as two
    Python lists of device vectors, at most ``memory`` long (the oldest pair
    is dropped; nothing else of size n is kept between iterations); the two-loop
    coefficients stay 0-d device arrays, so the recursion needs no host sync.

If a line search fails along a CG or L-BFGS direction, the method forgets its
history (CG restarts, L-BFGS clears its memory) and tries once more along
``-g``; only a failure along steepest descent ends the run ("line search
failed"), which in practice means the loss cannot be decreased any further at
the resolution of its dtype.

Stopping
--------
After each iteration, in this order: the largest absolute gradient entry is
``<= gtol`` ("gradient norm below gtol"; the infinity norm does not grow with the
number of parameters, and is what SciPy's gtol means); the relative decrease
``(f_prev - f) <= ftol * max(|f_prev|, |f|, 1)`` ("relative loss change below
ftol", the test of SciPy's L-BFGS-B); the callback returned True ("stopped by
callback"); ``max_iter`` iterations were done ("maximum iterations reached").
``max_evaluations`` bounds the calls of ``fun`` ("maximum evaluations
reached").  The first two set ``converged`` (``ftol=0`` still stops when a step
leaves the loss unchanged, which happens at its rounding level).  Because every
accepted step satisfies the sufficient-decrease condition, the loss never
increases from one iteration to the next, for every method; it decreases
strictly until it reaches its rounding level.

References
----------
J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006:
Alg. 3.5, 3.6 (line search), Alg. 5.4 and eq. 5.44-5.45 (PR+ CG), Alg. 7.4, 7.5
(L-BFGS).  J. J. Moré, D. J. Thuente, "Line search algorithms with guaranteed
sufficient decrease", ACM TOMS 20(3), 1994 (safeguarded interpolation).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

__all__ = ["minimize", "SolverResult", "LineSearchRecord", "SOLVER_METHODS"]

#: Methods accepted by :func:`minimize`.
SOLVER_METHODS = ("gd", "cg", "lbfgs")

# Most function evaluations one line search may spend (extrapolation and zoom
# together).  Bisection from alpha = 1 reaches 1e-15 in 50 halvings, so this is
# enough to back away from a non-finite region however close it is.
_MAX_LINE_SEARCH_EVALUATIONS = 50
# Growth factor of the trial step while no bracket is known (N&W Alg. 3.5 leaves
# the choice open; SciPy doubles too).
_EXTRAPOLATION = 2.0
# The zoom gives up when its bracket is narrower than this, relative to alpha:
# below it the trial points are numerically the same point.
_BRACKET_RTOL = 1e-14
# The search also gives up after this many trials whose loss equals phi(0) to
# rounding (see _line_search): near a minimiser, at the resolution of the
# loss's dtype, it would otherwise spend its whole budget on noise.
_MAX_FLAT_TRIALS = 8


class LineSearchRecord(NamedTuple):
    """One accepted line-search step; all fields are Python floats.

    ``phi0``/``dphi0`` are the loss and directional derivative at alpha = 0,
    ``phi_alpha``/``dphi_alpha`` at the accepted ``alpha``; ``c1``/``c2`` are the
    Wolfe constants it was accepted under, so that
    ``phi_alpha <= phi0 + c1 * alpha * dphi0`` and
    ``abs(dphi_alpha) <= c2 * abs(dphi0)`` hold.
    """

    alpha: float
    phi0: float
    dphi0: float
    phi_alpha: float
    dphi_alpha: float
    c1: float
    c2: float


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
        Why the run stopped (see the module docstring).
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


# ---------------------------------------------------------------------------------------
# Small helpers.


def _dot(xp, a, b):
    """The inner product of two vectors as a 0-d device array."""
    if hasattr(xp, "vecdot"):
        return xp.vecdot(a, b)
    return xp.sum(a * b)  # pragma: no cover - namespaces before the 2023.12 standard


def _max_abs(xp, a) -> float:
    return float(xp.max(xp.abs(a)))


class _Counter:
    """Counts calls of ``fun`` against the optional ``max_evaluations`` budget."""

    def __init__(self, fun: Callable, limit: int | None):
        self.fun, self.limit, self.count = fun, limit, 0

    def left(self) -> float:
        return math.inf if self.limit is None else self.limit - self.count

    def __call__(self, theta):
        self.count += 1
        loss, grad = self.fun(theta)
        return float(loss), grad


class _Trial(NamedTuple):
    """An evaluated point of the line: its step, phi, phi' and device data."""

    alpha: float
    phi: float
    dphi: float
    theta: Any
    grad: Any


def _evaluate(xp, counter: _Counter, theta, direction, alpha: float) -> _Trial:
    point = theta + alpha * direction
    loss, grad = counter(point)
    dphi = float(_dot(xp, grad, direction)) if math.isfinite(loss) else math.nan
    if not (math.isfinite(loss) and math.isfinite(dphi)):
        # Too far: outside the function's domain or past an overflow.  Treat phi
        # as +inf so the point can only become the upper end of a bracket.
        return _Trial(alpha, math.inf, math.nan, None, None)
    return _Trial(alpha, loss, dphi, point, grad)


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


def _zoom_step(lo: _Trial, hi: _Trial) -> float:
    """The next trial step inside the bracket [lo, hi] (safeguarded interpolation)."""
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


def _line_search(xp, counter, theta, direction, phi0, dphi0, grad0, alpha1, c1, c2, eps):
    """Strong-Wolfe line search, N&W Alg. 3.5 (bracketing) and 3.6 (zoom).

    ``eps`` is the machine epsilon of the loss's dtype.  Returns the accepted
    :class:`_Trial`, or None when no acceptable step was found within the
    evaluation budget or the bracket collapsed.
    """
    start = _Trial(0.0, phi0, dphi0, theta, grad0)
    budget = min(_MAX_LINE_SEARCH_EVALUATIONS, counter.left())
    # Below this step length the decrease a step can make to first order,
    # alpha |phi'(0)|, is smaller than the rounding error of phi itself: the
    # search can no longer tell better from worse, so it gives up.
    resolution = eps * abs(phi0) / abs(dphi0) if dphi0 != 0 else math.inf
    flat = [0]  # trials with phi == phi0 to rounding (a list: mutated by measure)

    def measure(alpha: float) -> _Trial:
        trial = _evaluate(xp, counter, theta, direction, alpha)
        # A trial whose loss equals phi0 to rounding tells the search nothing; a
        # line that is flat at working precision has no measurable decrease left.
        if abs(trial.phi - phi0) <= 4.0 * eps * abs(phi0):
            flat[0] += 1
        return trial

    def exhausted(used: int) -> bool:
        return used >= budget or flat[0] >= _MAX_FLAT_TRIALS

    def armijo_fails(trial: _Trial) -> bool:
        return not (trial.phi <= phi0 + c1 * trial.alpha * dphi0)

    def curvature_holds(trial: _Trial) -> bool:
        return abs(trial.dphi) <= c2 * abs(dphi0)

    def zoom(lo: _Trial, hi: _Trial, used: int):
        # Invariants (N&W p. 61): the bracket between lo and hi contains steps
        # satisfying strong Wolfe; lo satisfies sufficient decrease and has the
        # lowest phi so far; dphi(lo) * (hi - lo) < 0.
        while not exhausted(used):
            widest = max(abs(lo.alpha), abs(hi.alpha))
            if abs(hi.alpha - lo.alpha) <= _BRACKET_RTOL * widest or widest <= resolution:
                return None
            trial = measure(_zoom_step(lo, hi))
            used += 1
            if armijo_fails(trial) or trial.phi >= lo.phi:
                hi = trial
                continue
            if curvature_holds(trial):
                return trial
            if trial.dphi * (hi.alpha - lo.alpha) >= 0:
                hi = lo
            lo = trial
        return None

    previous, alpha, used, first = start, alpha1, 0, True
    while not exhausted(used):
        trial = measure(alpha)
        used += 1
        if armijo_fails(trial) or (not first and trial.phi >= previous.phi):
            return zoom(previous, trial, used)
        if curvature_holds(trial):
            return trial
        if trial.dphi >= 0:
            return zoom(trial, previous, used)
        previous, alpha, first = trial, _EXTRAPOLATION * alpha, False
    return None


def _check_options(method, theta0, max_iter, gtol, ftol, memory, c1, c2, max_evaluations):
    if method not in SOLVER_METHODS:
        raise ValueError(f"unknown method {method!r}; methods are {', '.join(SOLVER_METHODS)}")
    if getattr(theta0, "ndim", None) != 1:
        raise ValueError(
            f"theta0 must be a 1-D array (the flat parameter vector), got shape {getattr(theta0, 'shape', None)}"
        )
    for name, value in (("max_iter", max_iter), ("memory", memory)):
        if isinstance(value, bool) or not isinstance(value, int) and int(value) != value:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    if memory < 1:
        raise ValueError(f"memory must be >= 1, got {memory}")
    if max_evaluations is not None and (isinstance(max_evaluations, bool) or int(max_evaluations) < 1):
        raise ValueError(f"max_evaluations must be a positive integer or None, got {max_evaluations!r}")
    for name, value in (("gtol", gtol), ("ftol", ftol)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (0 < c1 < c2 < 1):
        raise ValueError(f"the Wolfe constants must satisfy 0 < c1 < c2 < 1, got c1={c1}, c2={c2}")


# ---------------------------------------------------------------------------------------
# The driver.


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
    """Minimise ``fun`` from ``theta0`` with "gd", "cg" or "lbfgs" and a strong-Wolfe line search.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (loss, grad)`` with ``theta`` of shape (n,), ``loss`` a
        0-d array (or Python float) and ``grad`` an array of shape (n,), both of
        the namespace and device of ``theta0``.
    theta0 : array, shape (n,)
        Starting point; a floating array of any array-API library.
    method : {"lbfgs", "cg", "gd"}
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
        "lbfgs" and "gd" and 0.1 for "cg".
    max_evaluations : int, optional
        Maximum number of calls of ``fun`` (unlimited by default).

    Returns
    -------
    SolverResult

    Raises
    ------
    ValueError
        For an unknown method, a ``theta0`` that is not a vector, a gradient of the
        wrong shape, or invalid options.
    """
    method = method.strip().lower() if isinstance(method, str) else method
    if c2 is None:
        c2 = 0.1 if method == "cg" else 0.9
    c1, c2 = float(c1), float(c2)
    _check_options(method, theta0, max_iter, gtol, ftol, memory, c1, c2, max_evaluations)
    max_iter, memory = int(max_iter), int(memory)
    xp = array_namespace(theta0)
    n = theta0.shape[0]
    try:
        eps = float(xp.finfo(theta0.dtype).eps)
    except (TypeError, ValueError):
        raise ValueError(f"theta0 must be a floating-point array, got dtype {theta0.dtype}") from None

    counter = _Counter(fun, None if max_evaluations is None else int(max_evaluations))
    theta = theta0
    loss, grad = counter(theta)
    if getattr(grad, "shape", None) != theta0.shape:
        raise ValueError(f"fun returned a gradient of shape {getattr(grad, 'shape', None)}, expected {theta0.shape}")

    losses: list[float] = []
    records: list[LineSearchRecord] = []

    def result(reason: str, converged: bool = False) -> SolverResult:
        return SolverResult(theta, loss, grad, len(losses), counter.count, reason, converged, losses, records)

    if not math.isfinite(loss):
        return result(f"non-finite loss at the initial point (loss = {loss})")
    grad_norm = _max_abs(xp, grad)
    if not math.isfinite(grad_norm):
        return result("non-finite gradient at the initial point")
    if grad_norm <= gtol:
        return result("gradient norm below gtol", True)
    if max_iter == 0:
        return result("maximum iterations reached")

    # Method state.  CG: the previous direction and gradient, ||g_prev||^2 as a 0-d
    # device array, and the iterations since the last restart.  L-BFGS: the newest
    # `memory` pairs as lists of device vectors, rho = 1 / s.y as host floats (they
    # were needed on the host for the curvature test anyway), and gamma.
    previous_direction = previous_grad = previous_grad_norm2 = None
    since_restart = 0
    s_history: list = []
    y_history: list = []
    rho_history: list[float] = []
    gamma = 1.0
    previous_loss = None

    def forget():
        """Drop the history: CG restarts, L-BFGS starts again from H0 = I."""
        nonlocal since_restart
        s_history.clear()
        y_history.clear()
        rho_history.clear()
        since_restart = 0

    def steepest_descent_step():
        return -grad, True

    def search_direction():
        """(direction, is_steepest_descent) for the current iterate."""
        if method == "gd":
            return steepest_descent_step()
        if method == "cg":
            if previous_direction is None or since_restart >= n:
                return steepest_descent_step()
            # PR+: beta = max(0, g.(g - g_prev) / ||g_prev||^2), kept on the device.
            beta = xp.maximum(_dot(xp, grad, grad - previous_grad) / previous_grad_norm2, 0.0 * previous_grad_norm2)
            return -grad + beta * previous_direction, False
        if not s_history:
            return steepest_descent_step()
        # N&W Alg. 7.4, the two-loop recursion: r = H g with H0 = gamma I.
        q = grad
        coefficients = []
        for s, y, rho in zip(reversed(s_history), reversed(y_history), reversed(rho_history)):
            a = rho * _dot(xp, s, q)
            coefficients.append(a)
            q = q - a * y
        r = gamma * q
        for s, y, rho, a in zip(s_history, y_history, rho_history, reversed(coefficients)):
            b = rho * _dot(xp, y, r)
            r = r + (a - b) * s
        return -r, False

    def first_alpha(direction, dphi0, steepest: bool) -> float:
        if method == "lbfgs" and not steepest:
            return 1.0
        if previous_loss is None or (method == "lbfgs" and steepest):
            # First iteration (or L-BFGS after a reset): a step of at most unit length.
            return min(1.0, 1.0 / math.sqrt(float(_dot(xp, direction, direction))))
        # N&W eq. 3.60: the minimiser of the quadratic matching the last decrease,
        # at most twice the last accepted step (see the module docstring).
        alpha = min(1.01 * 2.0 * (previous_loss - loss) / (-dphi0), 2.0 * records[-1].alpha)
        return alpha if math.isfinite(alpha) and alpha > 0 else records[-1].alpha

    while True:
        direction, steepest = search_direction()
        dphi0 = float(_dot(xp, grad, direction))
        if not steepest and not (dphi0 < 0):
            # Not a descent direction (CG without a guarantee, or rounding in L-BFGS): restart.
            forget()
            direction, steepest = steepest_descent_step()
            dphi0 = float(_dot(xp, grad, direction))
        trial = _line_search(xp, counter, theta, direction, loss, dphi0, grad,
                             first_alpha(direction, dphi0, steepest), c1, c2, eps)
        if trial is None and not steepest:
            # Forget the history and try once more along steepest descent.
            forget()
            direction, steepest = steepest_descent_step()
            dphi0 = float(_dot(xp, grad, direction))
            trial = _line_search(xp, counter, theta, direction, loss, dphi0, grad,
                                 first_alpha(direction, dphi0, steepest), c1, c2, eps)
        if trial is None:
            if counter.left() <= 0:
                return result("maximum evaluations reached")
            return result("line search failed")

        records.append(LineSearchRecord(trial.alpha, loss, dphi0, trial.phi, trial.dphi, c1, c2))
        if method == "lbfgs":
            s = trial.theta - theta
            y = trial.grad - grad
            sy = float(_dot(xp, s, y))
            yy = float(_dot(xp, y, y))
            if sy > eps * yy and math.isfinite(sy) and yy > 0:
                if len(s_history) == memory:  # the oldest pair goes: memory stays bounded
                    del s_history[0], y_history[0], rho_history[0]
                s_history.append(s)
                y_history.append(y)
                rho_history.append(1.0 / sy)
                gamma = sy / yy  # N&W eq. 7.20, from the newest pair
        elif method == "cg":
            previous_grad = grad
            previous_grad_norm2 = _dot(xp, grad, grad)
            previous_direction = direction
            since_restart = 1 if steepest else since_restart + 1

        previous_loss, theta, loss, grad = loss, trial.theta, trial.phi, trial.grad
        losses.append(loss)
        iteration = len(losses)
        stop = bool(callback(iteration, theta, loss)) if callback is not None else False

        if _max_abs(xp, grad) <= gtol:
            return result("gradient norm below gtol", True)
        if previous_loss - loss <= ftol * max(abs(previous_loss), abs(loss), 1.0):
            return result("relative loss change below ftol", True)
        if stop:
            return result("stopped by callback")
        if iteration >= max_iter:
            return result("maximum iterations reached")
        if counter.left() <= 0:
            return result("maximum evaluations reached")
