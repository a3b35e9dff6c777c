"""Levenberg-Marquardt ("lm") and Bayesian regularisation on top of it ("br"), for mse.

lm (Levenberg 1944, Marquardt 1963; Hagan and Menhaj 1994 for networks) solves
(J^T J + lambda M + mu I) dx = -(J^T e + lambda M theta) each iteration, with J the
Jacobian of the residuals e = a - y, lambda = l2 and M the mask of the penalised
weights: the Gauss-Newton system of m times the package's loss J, damped by mu.  mu
falls by mu_dec after a step that lowers the loss and rises by mu_inc until one does,
with MATLAB trainlm's defaults and stopping rules (mu 1e-3, mu_dec 0.1, mu_inc 10,
mu_max 1e10; epochs, goal, min_grad, mu above mu_max, max_fail validation failures).

br (MacKay 1992; Foresee and Hagan 1997, MATLAB trainbr) minimises beta E_D + alpha E_W,
E_D = sum e^2, E_W = sum theta^2 (every parameter, as trainbr), re-estimating after each
step gamma = P - alpha tr((beta J^T J + alpha I)^-1), alpha = gamma / (2 E_W),
beta = (N - gamma) / (2 E_D), N the number of residuals.

Memory: P x P for J^T J and the damped matrix, plus one chunk of J (chunk rows x K x P);
above ``max_parameters`` the solvers refuse with a message that suggests "newton" or
"scg".  The P x P solve runs on the device: the Cholesky factor of the damped matrix
through ``xp.linalg.cholesky`` and two ``xp.linalg.solve`` with it; where the namespace
has no Cholesky, ``xp.linalg.solve`` on the damped matrix (an LU), stated in the result.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

from array_api_compat import array_namespace

from .minimize import SolverResult

__all__ = ["levenberg_marquardt", "bayesian_regularization", "damped_solve", "LMOptions", "MAX_PARAMETERS"]

#: The default largest number of parameters lm and br accept: 5000^2 float64 = 200 MB per P x P matrix.
MAX_PARAMETERS = 5000


class LMOptions(NamedTuple):
    """lm's options, with MATLAB trainlm's defaults.

    Attributes
    ----------
    max_iter : int
        Most iterations (1000).
    goal : float
        Stop once the loss is at most ``goal`` (0).
    min_grad : float
        Stop when the gradient's 2-norm falls below it (1e-7).
    mu, mu_dec, mu_inc, mu_max : float
        The initial damping, its factors down and up, and the largest damping before
        giving up (1e-3, 0.1, 10, 1e10).
    max_parameters : int
        The largest P accepted (P x P matrices are held).
    """

    max_iter: int = 1000
    goal: float = 0.0
    min_grad: float = 1e-7
    mu: float = 1e-3
    mu_dec: float = 0.1
    mu_inc: float = 10.0
    mu_max: float = 1e10
    max_parameters: int = MAX_PARAMETERS


def check_size(n_parameters: int, limit: int, chunk_rows: int = 1024, n_outputs: int = 1) -> None:
    """ValueError when P x P would be too large for lm/br, naming the memory and the way out.

    Parameters
    ----------
    n_parameters : int
        P.
    limit : int
        The largest P accepted (``max_parameters``).
    chunk_rows : int
        Rows per chunk of the Jacobian (for the memory estimate).
    n_outputs : int
        Outputs per row (for the memory estimate).
    """
    if n_parameters > limit:
        need = 8 * (2 * n_parameters ** 2 + chunk_rows * n_outputs * n_parameters) / 2 ** 20
        raise ValueError(
            f"'lm' and 'br' hold P x P matrices: with P = {n_parameters} parameters that is about {need:.0f} MiB "
            f"in float64, above the limit of max_parameters={limit}; train with optimizer='newton' or 'scg' "
            f"(Hessian-vector products, O(P) memory), or raise max_parameters")


def damped_solve(A, b, damping: float):
    """x with (A + damping I) x = b, on the device; None when the damped matrix is not positive definite.

    Cholesky where ``xp.linalg`` has it (which also detects a matrix that is not positive
    definite: an exception on NumPy, PyTorch and CuPy, NaN on JAX); an LU solve otherwise.

    Parameters
    ----------
    A : array, shape (n, n)
        Symmetric positive semi-definite (J^T J plus the penalty's diagonal).
    b : array, shape (n,)
        The right-hand side.
    damping : float
        mu, added to the diagonal.

    Returns
    -------
    array, shape (n,) or None
        The solution, or None when the damped matrix is not positive definite.
    """
    xp = array_namespace(A, b)
    n = A.shape[0]
    damped = A + damping * xp.eye(n, dtype=A.dtype, device=A.device)
    linalg = getattr(xp, "linalg", None)
    try:
        if hasattr(linalg, "cholesky"):
            L = linalg.cholesky(damped)
            y = linalg.solve(L, b[:, None])
            x = linalg.solve(xp.matrix_transpose(L), y)[:, 0]
        else:  # pragma: no cover - every namespace the suite runs has cholesky
            x = linalg.solve(damped, b[:, None])[:, 0]
    except Exception:  # noqa: BLE001 - each library raises its own LinAlgError type
        return None
    return x if math.isfinite(float(xp.sum(x))) else None


def _penalised(xp, JTJ, JTe, theta, lam: float, mask):
    """The normal equations of m J: (J^T J + lam M, J^T e + lam M theta)."""
    if lam == 0:
        return JTJ, JTe
    return JTJ + lam * _diag(xp, mask), JTe + lam * mask * theta


def _diag(xp, vector):
    n = vector.shape[0]
    return xp.eye(n, dtype=vector.dtype, device=vector.device) * vector[None, :]


def levenberg_marquardt(objective, theta0, *, options: LMOptions = LMOptions(), l2: float = 0.0, mask=None,
                        callback: Callable | None = None) -> SolverResult:
    """Minimise the mse objective by Levenberg-Marquardt (MATLAB trainlm's rules).

    Parameters
    ----------
    objective : callable with ``normal_equations(theta) -> (sse, J^T J, J^T e)``
        ``objective(theta) -> (loss, grad)`` is the package's mean loss J; the loss is
        read as J for the history and the tests against ``goal`` and ``min_grad``.
    theta0 : array, shape (P,)
    options : LMOptions
    l2, mask : float, array (P,)
        The network's L2 strength and the 0/1 mask of the penalised weights.
    callback : callable, optional
        ``callback(iteration, theta, loss) -> bool | None``; True stops (validation failures).

    Returns
    -------
    SolverResult
        ``stop_reason`` one of MATLAB's: "performance goal met", "minimum gradient reached",
        "maximum mu reached", "maximum iterations reached", or "stopped by callback".
    """
    xp = array_namespace(theta0)
    check_size(int(theta0.shape[0]), options.max_parameters)
    theta, mu = theta0, options.mu
    loss, grad = objective(theta)
    loss, evaluations, losses = float(loss), 1, []
    reason = None if math.isfinite(loss) else f"non-finite loss at the initial point (loss = {loss})"
    while reason is None:
        reason = _lm_stop(xp, loss, grad, mu, len(losses), options)
        if reason is not None:
            break
        _, JTJ, JTe = objective.normal_equations(theta)
        A, b = _penalised(xp, JTJ, JTe, theta, l2, mask)
        while mu <= options.mu_max:
            dx = damped_solve(A, -b, mu)
            if dx is not None:
                trial_loss, trial_grad = objective(theta + dx)
                evaluations += 1
                if float(trial_loss) < loss:
                    theta, loss, grad = theta + dx, float(trial_loss), trial_grad
                    mu *= options.mu_dec
                    break
            mu *= options.mu_inc
        else:
            reason = "maximum mu reached"
            break
        losses.append(loss)
        if callback is not None and callback(len(losses), theta, loss):
            reason = "stopped by callback"
    converged = reason in ("performance goal met", "minimum gradient reached")
    return SolverResult(theta, loss, grad, len(losses), evaluations, reason, converged, losses, [])


def _lm_stop(xp, loss, grad, mu, iteration, options):
    if loss <= options.goal:
        return "performance goal met"
    if math.sqrt(float(xp.sum(grad * grad))) < options.min_grad:
        return "minimum gradient reached"
    if mu > options.mu_max:
        return "maximum mu reached"
    if iteration >= options.max_iter:
        return "maximum iterations reached"
    return None


class BRResult(NamedTuple):
    """:func:`bayesian_regularization`'s result: the solver's, plus gamma, alpha and beta per iteration.

    Attributes
    ----------
    result : SolverResult
        The run's parameters and record.
    effective_parameters : list of float
        gamma per iteration.
    alpha, beta : float
        The final hyperparameters of beta E_D + alpha E_W.
    """

    result: SolverResult
    effective_parameters: list
    alpha: float
    beta: float


def _hyperparameters(xp, JTJ, alpha, beta, sse, ssx, n_residuals, n_parameters):
    """MacKay's re-estimate: (gamma, alpha, beta), from the trace of the inverse Hessian."""
    eye = xp.eye(n_parameters, dtype=JTJ.dtype, device=JTJ.device)
    inverse = xp.linalg.inv(beta * JTJ + alpha * eye) if alpha > 0 else None
    gamma = n_parameters - (alpha * float(xp.linalg.trace(inverse)) if inverse is not None else 0.0)
    gamma = min(max(gamma, 0.0), float(n_parameters))
    if ssx == 0:
        return gamma, 0.0, 1.0
    return gamma, gamma / (2.0 * ssx), max(n_residuals - gamma, 0.0) / (2.0 * sse) if sse > 0 else beta


def bayesian_regularization(objective, theta0, *, options: LMOptions = LMOptions(), n_residuals: int,
                            callback: Callable | None = None) -> BRResult:
    """Bayesian regularisation (MATLAB trainbr): lm on beta E_D + alpha E_W with alpha, beta re-estimated.

    The history loss is the package's J at each iterate; ``effective_parameters`` is gamma.

    Parameters
    ----------
    objective : callable with ``normal_equations(theta)``
        ``objective(theta) -> (loss, grad)``, as for :func:`levenberg_marquardt`.
    theta0 : array, shape (n_parameters,)
        The initial parameters.
    options : LMOptions
        The damping schedule and stopping rules.
    n_residuals : int
        N = m K.
    callback : callable, optional
        ``callback(k, theta, loss)`` after each iteration; True stops.

    Returns
    -------
    BRResult
        The solver's result with gamma, alpha and beta.
    """
    xp = array_namespace(theta0)
    P = int(theta0.shape[0])
    check_size(P, options.max_parameters)
    theta, mu = theta0, options.mu
    sse, JTJ, JTe = objective.normal_equations(theta)
    sse, ssx = float(sse), float(xp.sum(theta * theta))
    gamma = float(P)  # trainbr's start: every parameter effective
    beta = 1.0 if ssx == 0 else max(n_residuals - gamma, 1.0) / (2.0 * sse)
    alpha = 0.0 if ssx == 0 else gamma / (2.0 * ssx)
    losses, gammas, evaluations = [], [], 1
    loss, grad = objective(theta)
    reason = None
    while reason is None:
        performance = beta * sse + alpha * ssx
        if len(losses) >= options.max_iter:
            reason = "maximum iterations reached"
            break
        step = _br_step(xp, objective, theta, JTJ, JTe, alpha, beta, mu, performance, options)
        if step is None:
            reason = "maximum mu reached"
            break
        theta, mu, tries = step
        evaluations += tries
        sse, JTJ, JTe = objective.normal_equations(theta)
        sse, ssx = float(sse), float(xp.sum(theta * theta))
        gamma, alpha, beta = _hyperparameters(xp, JTJ, alpha, beta, sse, ssx, n_residuals, P)
        loss, grad = objective(theta)
        losses.append(float(loss))
        gammas.append(gamma)
        if callback is not None and callback(len(losses), theta, float(loss)):
            reason = "stopped by callback"
        elif float(loss) <= options.goal:
            reason = "performance goal met"
    result = SolverResult(theta, float(loss), grad, len(losses), evaluations, reason,
                          reason == "performance goal met", losses, [])
    return BRResult(result, gammas, alpha, beta)


def _br_step(xp, objective, theta, JTJ, JTe, alpha, beta, mu, performance, options):
    """One damped step on beta E_D + alpha E_W: (theta, mu, tries), or None past mu_max."""
    A, b = beta * JTJ, beta * JTe + alpha * theta
    tries = 0
    while mu <= options.mu_max:
        dx = damped_solve(A, -b, mu + alpha)
        if dx is not None:
            trial = theta + dx
            sse = float(objective.sum_of_squares(trial))
            tries += 1
            if beta * sse + alpha * float(xp.sum(trial * trial)) < performance:
                return trial, mu * options.mu_dec, tries
        mu *= options.mu_inc
    return None
