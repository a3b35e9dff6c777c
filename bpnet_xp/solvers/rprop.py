"""iRprop+, full batch (Igel and Huesken 2000, "Improving the Rprop learning algorithm").

Each parameter has its own step size Delta_i, adapted from the signs of successive
gradients only (Riedmiller and Braun 1993): grown by eta_plus while the sign stays,
shrunk by eta_minus when it flips.  The "+" is weight-backtracking: after a sign flip the
last change of that parameter is undone, but only when the loss went up ("i").  All
element-wise, on the device, with ``xp.where``; one loss-and-gradient per epoch.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

from .minimize import SolverResult
from .vectors import first_evaluation, stopping_rule

__all__ = ["RpropState", "rprop_init", "rprop_step", "rprop"]


class RpropState(NamedTuple):
    """What iRprop+ carries from one epoch to the next (arrays of theta's shape).

    Attributes
    ----------
    grad : array, shape (n,)
        The previous gradient (0 where a sign flipped).
    step : array, shape (n,)
        The step sizes Delta_i.
    change : array, shape (n,)
        The previous change of theta.
    loss : float
        The previous loss (inf before the first step).
    """

    grad: Any  # the previous gradient (0 where a sign flipped)
    step: Any  # Delta_i
    change: Any  # the previous change of theta
    loss: float  # the previous loss (inf before the first step)


def rprop_init(theta, delta0: float = 0.1) -> RpropState:
    """The state before the first iRprop+ step: every Delta_i = ``delta0``, no history.

    Parameters
    ----------
    theta : array, shape (n,)
        The initial parameters (their namespace, shape, dtype and device).
    delta0 : float
        The initial step size of every parameter.

    Returns
    -------
    RpropState
    """
    xp = array_namespace(theta)
    return RpropState(xp.zeros_like(theta), xp.full_like(theta, delta0), xp.zeros_like(theta), math.inf)


def rprop_step(theta, grad, loss: float, state: RpropState, *, eta_plus: float = 1.2, eta_minus: float = 0.5,
               delta_min: float = 1e-6, delta_max: float = 50.0):
    """One iRprop+ update: ``(new theta, grad to remember, new state)``.

    With s = g_prev * g:  s > 0: Delta = min(eta+ Delta, Delta_max), dtheta = -sign(g) Delta;
    s < 0: Delta = max(eta- Delta, Delta_min), dtheta = -dtheta_prev if loss > loss_prev else 0,
    and g is remembered as 0; s = 0: dtheta = -sign(g) Delta.

    Parameters
    ----------
    theta : array, shape (n,)
        The parameters.
    grad : array, shape (n,)
        The gradient at ``theta``.
    loss : float
        The loss at ``theta`` (for the weight-backtracking decision).
    state : RpropState
        From :func:`rprop_init` or the previous step.
    eta_plus, eta_minus : float
        Growth (> 1) and shrink (< 1) factors of the step sizes.
    delta_min, delta_max : float
        Bounds of the step sizes.

    Returns
    -------
    theta : array, shape (n,)
        The updated parameters.
    state : RpropState
        The state for the next step.
    """
    xp = array_namespace(theta, grad)
    s = state.grad * grad
    grow, flip = s > 0, s < 0
    step = xp.where(grow, xp.minimum(state.step * eta_plus, delta_max),
                    xp.where(flip, xp.maximum(state.step * eta_minus, delta_min), state.step))
    move = -xp.sign(grad) * step
    undo = -state.change if loss > state.loss else xp.zeros_like(theta)
    change = xp.where(flip, undo, move)
    remembered = xp.where(flip, xp.zeros_like(grad), grad)
    return theta + change, RpropState(remembered, step, change, loss)


def rprop(objective, theta0, *, max_iter: int = 100, gtol: float = 1e-6, goal: float = 0.0,
          delta0: float = 0.1, eta_plus: float = 1.2, eta_minus: float = 0.5, delta_min: float = 1e-6,
          delta_max: float = 50.0, callback: Callable | None = None) -> SolverResult:
    """Minimise ``objective(theta) -> (loss, grad)`` by full-batch iRprop+ for ``max_iter`` epochs.

    Stops early when ``max|g| <= gtol`` or the loss is at most ``goal``.  ``losses[k]`` is
    J after the k-th update; the best parameters seen are returned (Rprop does not
    decrease J monotonically).

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (loss, grad)``, grad of theta's shape.
    theta0 : array, shape (n,)
        The initial parameters.
    max_iter : int
        Most updates (epochs).
    gtol : float
        Stop when ``max|g| <= gtol``.
    goal : float
        Stop when the loss is at most ``goal``.
    delta0 : float
        The initial step size of every parameter.
    eta_plus, eta_minus : float
        Growth and shrink factors of the step sizes.
    delta_min, delta_max : float
        Bounds of the step sizes.
    callback : callable, optional
        ``callback(k, theta, loss)`` after each update; True stops.

    Returns
    -------
    SolverResult
        The best parameters seen, their loss and gradient, and the run's record.
    """
    xp = array_namespace(theta0)
    theta, state = theta0, rprop_init(theta0, delta0)
    loss, grad, reason = first_evaluation(objective, theta)
    losses, evaluations = [], 1
    best = (loss, theta, grad)
    converged = False
    while reason is None:
        reason, converged = stopping_rule(xp, grad, loss, len(losses), gtol=gtol, goal=goal, max_iter=max_iter)
        if reason is not None:
            break
        theta, state = rprop_step(theta, grad, loss, state, eta_plus=eta_plus, eta_minus=eta_minus,
                                  delta_min=delta_min, delta_max=delta_max)
        loss, grad = objective(theta)
        loss, evaluations = float(loss), evaluations + 1
        if not math.isfinite(loss):
            reason = "non-finite loss"
            break
        losses.append(loss)
        if loss < best[0]:
            best = (loss, theta, grad)
        if callback is not None and callback(len(losses), theta, loss):
            reason = "stopped by callback"
    loss, theta, grad = best
    return SolverResult(theta, loss, grad, len(losses), evaluations, reason, converged, losses, [])
