"""Truncated Newton: Newton-CG with Steihaug's trust region (Nocedal & Wright 2006, Alg. 7.2 and 4.1).

Each iteration solves the Newton system H p = -g approximately by conjugate gradients on
Hessian-vector products (:mod:`bpnet_xp.curvature`; H is never formed), inside a trust
region of radius ``radius``: CG stops at the boundary when it meets negative curvature or
leaves the region, and when the residual falls below eta ||g|| with eta = min(0.5, sqrt(||g||))
(superlinear convergence).  The radius grows after good agreement between the model and J,
shrinks after poor agreement; a step that does not decrease J is refused.  ``theta`` stays
on the device; the scalars of the decisions (curvatures, norms, losses) cross to the host.
"""

from __future__ import annotations

import math
from typing import Callable

from array_api_compat import array_namespace

from .minimize import SolverResult
from .vectors import dot, max_abs

__all__ = ["newton"]


def _boundary(xp, p, d, radius: float) -> float:
    """tau >= 0 with ||p + tau d|| = radius."""
    pd, dd, pp = float(dot(xp, p, d)), float(dot(xp, d, d)), float(dot(xp, p, p))
    return (-pd + math.sqrt(max(pd * pd + dd * (radius * radius - pp), 0.0))) / dd


def steihaug(hvp: Callable, grad, radius: float, max_cg: int):
    """Steihaug-CG for min_p g.p + p.H p / 2 with ||p|| <= radius.

    Parameters
    ----------
    hvp : callable
        ``hvp(d) -> H d``, arrays of grad's shape.
    grad : array, shape (n,)
        The gradient g at the current point.
    radius : float
        The trust-region radius.
    max_cg : int
        Most Hessian-vector products.

    Returns
    -------
    p : array, shape (n,)
        The step.
    decrease : float
        The model's predicted decrease (> 0).
    products : int
        Hessian-vector products used.
    boundary : bool
        Whether p stops on the trust-region boundary.
    """
    xp = array_namespace(grad)
    p = xp.zeros_like(grad)
    r, d = grad, -grad
    rr = float(dot(xp, r, r))
    tolerance = min(0.5, math.sqrt(math.sqrt(rr))) * math.sqrt(rr)
    boundary, products, Hp = False, 0, xp.zeros_like(grad)
    for _ in range(max_cg):
        Hd = hvp(d)
        products += 1
        curvature = float(dot(xp, d, Hd))
        if curvature <= 0 or not math.isfinite(curvature):
            tau = _boundary(xp, p, d, radius)
            p, Hp, boundary = p + tau * d, Hp + tau * Hd, True
            break
        alpha = rr / curvature
        step = p + alpha * d
        if math.sqrt(float(dot(xp, step, step))) >= radius:
            tau = _boundary(xp, p, d, radius)
            p, Hp, boundary = p + tau * d, Hp + tau * Hd, True
            break
        p, Hp = step, Hp + alpha * Hd
        r = r + alpha * Hd
        rr_new = float(dot(xp, r, r))
        if math.sqrt(rr_new) <= tolerance:
            break
        d = -r + (rr_new / rr) * d
        rr = rr_new
    predicted = -(float(dot(xp, grad, p)) + 0.5 * float(dot(xp, p, Hp)))
    return p, predicted, products, boundary


def newton(objective, theta0, *, max_iter: int = 100, gtol: float = 1e-6, ftol: float = 1e-12,
           curvature: str = "hessian", radius: float = 1.0, max_radius: float = 1e4,
           max_cg: int | None = None, callback: Callable | None = None) -> SolverResult:
    """Minimise ``objective`` by truncated Newton (Newton-CG, Steihaug's trust region).

    Parameters
    ----------
    objective : callable with products
        ``objective(theta) -> (loss, grad)``, plus ``hessian_vector_product(theta, v)``
        and ``gauss_newton_vector_product(theta, v)`` (a
        :class:`bpnet_xp.curvature.CurvatureObjective` or the Dask one).
    theta0 : array, shape (n,)
    max_iter : int
        Outer iterations (accepted or refused trust-region steps).
    gtol, ftol : float
        Stop when ``max|g| <= gtol``, or when an accepted step decreases J by at most
        ``ftol * max(|J|, 1)``.
    curvature : {"hessian", "gauss_newton"}
        The inner CG's matrix: the exact Hessian (negative curvature is followed to the
        boundary) or the positive semi-definite Gauss-Newton matrix.
    radius, max_radius : float
        Initial and largest trust-region radius.
    max_cg : int, optional
        Inner CG iterations per step (default: n, CG's exact-arithmetic bound, capped at 250).
    callback : callable, optional
        ``callback(iteration, theta, loss) -> bool | None`` after each iteration; True stops.

    Returns
    -------
    SolverResult
        ``n_evaluations`` counts loss-and-gradient calls (products not included).
    """
    if curvature not in ("hessian", "gauss_newton"):
        raise ValueError(f"curvature must be 'hessian' or 'gauss_newton', got {curvature!r}")
    product = (objective.hessian_vector_product if curvature == "hessian"
               else objective.gauss_newton_vector_product)
    xp = array_namespace(theta0)
    max_cg = min(int(theta0.shape[0]), 250) if max_cg is None else int(max_cg)
    theta = theta0
    loss, grad = objective(theta)
    loss, evaluations, losses = float(loss), 1, []
    reason, converged = _first_stop(xp, loss, grad, gtol, max_iter)
    while reason is None:
        p, predicted, _, boundary = steihaug(lambda v: product(theta, v), grad, radius, max_cg)
        trial = theta + p
        trial_loss, trial_grad = objective(trial)
        trial_loss, evaluations = float(trial_loss), evaluations + 1
        actual = loss - trial_loss
        rho = actual / predicted if predicted > 0 else -1.0
        if not math.isfinite(trial_loss) or rho < 0.25:
            radius = 0.25 * math.sqrt(float(dot(xp, p, p)))
        elif rho > 0.75 and boundary:
            radius = min(2.0 * radius, max_radius)
        accepted = math.isfinite(trial_loss) and rho > 1e-4
        if accepted:
            theta, grad, previous, loss = trial, trial_grad, loss, trial_loss
        losses.append(loss)
        stop = callback is not None and bool(callback(len(losses), theta, loss))
        reason, converged = _next_stop(xp, grad, loss, previous if accepted else None, ftol, gtol,
                                       len(losses), max_iter, stop, radius)
    return SolverResult(theta, loss, grad, len(losses), evaluations, reason, converged, losses, [])


def _first_stop(xp, loss, grad, gtol, max_iter):
    if not math.isfinite(loss):
        return f"non-finite loss at the initial point (loss = {loss})", False
    if max_abs(xp, grad) <= gtol:
        return "gradient norm below gtol", True
    if max_iter == 0:
        return "maximum iterations reached", False
    return None, False


def _next_stop(xp, grad, loss, previous, ftol, gtol, iteration, max_iter, by_callback, radius):
    if max_abs(xp, grad) <= gtol:
        return "gradient norm below gtol", True
    if previous is not None and previous - loss <= ftol * max(abs(previous), abs(loss), 1.0):
        return "relative loss change below ftol", True
    if by_callback:
        return "stopped by callback", False
    if iteration >= max_iter:
        return "maximum iterations reached", False
    if radius < 1e-14:
        return "trust region collapsed (no step decreases the loss)", False
    return None, False
