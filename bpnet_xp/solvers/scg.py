"""Moller's scaled conjugate gradient (1993), with the exact Hessian-vector product.

SCG replaces CG's line search by a Levenberg-Marquardt-like scale lambda: the step along
p is alpha = mu / delta with delta = p.H p + lambda |p|^2, made positive by raising lambda
where the curvature is not; the comparison Delta of the actual and the predicted decrease
raises or lowers lambda.  Moller estimates H p by a finite difference of gradients; here
it is the exact R-operator product (:mod:`bpnet_xp.curvature`), one product per accepted
step.  Steps and names follow the paper (its steps 1-9).  Only scalars cross to the host.
"""

from __future__ import annotations

import math
from typing import Callable

from array_api_compat import array_namespace

from .minimize import SolverResult
from .vectors import dot, first_evaluation, stopping_rule

__all__ = ["scg"]


def scg(objective, theta0, *, max_iter: int = 100, gtol: float = 1e-6, ftol: float = 0.0, goal: float = -math.inf,
        lambda0: float = 1e-6, callback: Callable | None = None) -> SolverResult:
    """Minimise ``objective`` by scaled conjugate gradient.

    Parameters
    ----------
    objective : callable with ``hessian_vector_product(theta, v)``
        ``objective(theta) -> (loss, grad)``.
    theta0 : array, shape (n,)
    max_iter : int
        Iterations (Moller's k, accepted or not).
    gtol : float
        Stop when ``max|g| <= gtol``.
    ftol : float
        Stop when an accepted step decreases J by at most ``ftol * max(|J|, 1)`` (0: never).
    goal : float
        Stop when J <= goal.
    lambda0 : float
        The initial scale (Moller: 0 < lambda_1 <= 1e-6).
    callback : callable, optional
        ``callback(k, theta, loss)`` after each accepted step; True stops.

    Returns
    -------
    SolverResult
    """
    xp = array_namespace(theta0)
    n = int(theta0.shape[0])
    w = theta0
    loss, grad, reason = first_evaluation(objective, w)
    evaluations, losses = 1, []
    r = -grad
    p = r
    lam, lam_bar, success = lambda0, 0.0, True
    delta = 0.0
    converged = False
    while reason is None:
        reason, converged = stopping_rule(xp, r, loss, len(losses), gtol=gtol, goal=goal, max_iter=max_iter)
        if reason is not None:
            break
        pp = float(dot(xp, p, p))
        if success:  # step 2: second-order information, exactly
            delta = float(dot(xp, p, objective.hessian_vector_product(w, p)))
        delta += (lam - lam_bar) * pp  # step 3: scale
        if delta <= 0:  # step 4: make the Hessian positive definite
            lam_bar = 2.0 * (lam - delta / pp)
            delta = -delta + lam * pp
            lam = lam_bar
        mu = float(dot(xp, p, r))  # step 5
        alpha = mu / delta
        trial = w + alpha * p
        trial_loss, trial_grad = objective(trial)
        trial_loss, evaluations = float(trial_loss), evaluations + 1
        comparison = 2.0 * delta * (loss - trial_loss) / (mu * mu) if math.isfinite(trial_loss) else -1.0  # step 6
        previous = loss
        if comparison >= 0:  # step 7: a successful reduction
            w, loss = trial, trial_loss
            r_new = -trial_grad
            lam_bar, success = 0.0, True
            if (len(losses) + 1) % n == 0:
                p = r_new  # restart every n steps
            else:
                beta = (float(dot(xp, r_new, r_new)) - float(dot(xp, r_new, r))) / mu
                p = r_new + beta * p
            r = r_new
            if comparison >= 0.75:
                lam = 0.25 * lam
        else:
            lam_bar, success = lam, False
        if comparison < 0.25:  # step 8
            lam = lam + delta * (1.0 - comparison) / pp
        losses.append(loss)
        if callback is not None and callback(len(losses), w, loss):
            reason = "stopped by callback"
        elif success and ftol > 0 and previous - loss <= ftol * max(abs(previous), abs(loss), 1.0):
            reason, converged = "relative loss change below ftol", True
        elif not math.isfinite(lam) or lam > 1e300:
            reason = "scale parameter overflowed (no step decreases the loss)"
    return SolverResult(w, loss, -r, len(losses), evaluations, reason, converged, losses, [])
