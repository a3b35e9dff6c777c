"""Full-batch solvers (steepest_descent, cg, lbfgs) against SciPy, closed forms and the Wolfe conditions.

The test problems are written here in array-API form, so they run on every
backend; SciPy (a test-only dependency) minimises the same functions on NumPy
as the independent reference, and quadratics are checked against the solution
of the linear system by ``numpy.linalg.solve``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from array_api_compat import array_namespace
from array_api_compat import device as device_of

import bpnet_xp as bp
from bpnet_xp.backend import to_numpy
from bpnet_xp.solvers import LineSearchRecord, SolverResult, minimize

METHODS = ["steepest_descent", "cg", "lbfgs"]


def _need_float64(backend):
    if not backend.has_float64:
        pytest.skip(f"{backend} has no float64; these tolerances need it")


# ---------------------------------------------------------------------------------------
# Test problems, array-API form.


def logistic_problem(backend, m=80, d=4, lam=0.1, seed=0):
    """L2-regularised logistic regression on synthetic data: (fun, n, host data).

    J(w) = mean(log(1 + exp(z)) - y z) + lam/2 ||w||^2 with z = X w (X has a column of
    ones for the intercept); grad J = X^T (sigmoid(z) - y) / m + lam w.  Strongly convex.
    """
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(m, d)), np.ones((m, 1))], axis=1)
    w_true = rng.normal(size=d + 1) * 2
    y = (rng.random(m) < 1 / (1 + np.exp(-X @ w_true))).astype(np.float64)
    Xd, yd = backend.asarray(X, dtype="float64"), backend.asarray(y, dtype="float64")

    def fun(w):
        xp = array_namespace(w)
        z = Xd @ w
        softplus = xp.logaddexp(xp.zeros_like(z), z)  # log(1 + e^z), without overflow
        loss = xp.mean(softplus - yd * z) + 0.5 * lam * xp.sum(w * w)
        p = 0.5 * (1.0 + xp.tanh(0.5 * z))  # sigmoid(z), without overflow
        grad = (Xd.T @ (p - yd)) / m + lam * w
        return loss, grad

    return fun, d + 1, (X, y, lam)


def logistic_loss_numpy(w, X, y, lam):
    """The same loss in NumPy float64, for checking values reported by the solver."""
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * w @ w)


def rosenbrock(theta):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at all ones."""
    xp = array_namespace(theta)
    a, b = theta[:-1], theta[1:]
    r = b - a * a
    loss = xp.sum(100.0 * r * r + (1.0 - a) ** 2)
    zero = xp.zeros((1,), dtype=theta.dtype, device=device_of(theta))
    # d/da_i = -400 a_i r_i - 2 (1 - a_i);  d/db_i = 200 r_i
    grad = xp.concat([-400.0 * a * r - 2.0 * (1.0 - a), zero]) + xp.concat([zero, 200.0 * r])
    return loss, grad


def quadratic_problem(backend, n=20, condition=1e4, seed=1):
    """f(x) = (x - x*).A(x - x*)/2, eigenvalues of A log-spaced in [1, condition]; (fun, x*).

    Written around its minimiser x* (minimum value 0) so that the loss keeps its
    relative precision near the solution and tight gradient tolerances are reachable.
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = (Q * np.logspace(0, math.log10(condition), n)) @ Q.T
    A = 0.5 * (A + A.T)
    x_star = rng.normal(size=n)
    Ad, sd = backend.asarray(A, dtype="float64"), backend.asarray(x_star, dtype="float64")

    def fun(x):
        xp = array_namespace(x)
        d = x - sd
        Ad_ = Ad @ d
        return 0.5 * xp.sum(d * Ad_), Ad_

    return fun, x_star


def _zeros(backend, n):
    return backend.asarray(np.zeros(n), dtype="float64")


def _assert_strong_wolfe(result: SolverResult):
    assert len(result.line_searches) == result.n_iter == len(result.losses)
    for k, ls in enumerate(result.line_searches):
        assert isinstance(ls, LineSearchRecord)
        assert ls.alpha > 0 and ls.dphi0 < 0, (k, ls)
        # phi(a) <= phi0 + c1 a phi'(0)  and  |phi'(a)| <= c2 |phi'(0)|
        assert ls.phi_alpha <= ls.phi0 + ls.c1 * ls.alpha * ls.dphi0, (k, ls)
        assert abs(ls.dphi_alpha) <= ls.c2 * abs(ls.dphi0), (k, ls)
        assert ls.phi_alpha == result.losses[k]


def _assert_on_device(backend, x):
    assert backend.is_native(x)
    assert backend.same_device(x), f"{device_of(x)} is not {backend.device}"


# ---------------------------------------------------------------------------------------
# Agreement with SciPy on a convex problem.


@pytest.fixture(scope="module")
def scipy_logistic_minimum():
    """Minimum of the logistic problem by SciPy on NumPy (two methods, which must agree)."""
    fun, n, _ = logistic_problem(bp.get_backend("numpy"))

    def f(w):
        loss, grad = fun(w)
        return float(loss), np.asarray(grad, dtype=np.float64)

    lbfgsb = scipy.optimize.minimize(f, np.zeros(n), jac=True, method="L-BFGS-B",
                                     options=dict(gtol=1e-12, ftol=1e-16, maxiter=10_000))
    bfgs = scipy.optimize.minimize(f, np.zeros(n), jac=True, method="BFGS", options=dict(gtol=1e-11))
    assert abs(lbfgsb.fun - bfgs.fun) <= 1e-12 * abs(bfgs.fun)
    return bfgs.fun, bfgs.x


@pytest.mark.parametrize("method", ["cg", "lbfgs", "steepest_descent"])
def test_logistic_regression_agrees_with_scipy(backend, method, scipy_logistic_minimum):
    _need_float64(backend)
    fun, n, (X, y, lam) = logistic_problem(backend)
    result = minimize(fun, _zeros(backend, n), method, gtol=1e-7, ftol=0.0, max_iter=2000)
    assert result.converged and result.stop_reason == "gradient norm below gtol", result.stop_reason
    reference_loss, reference_w = scipy_logistic_minimum
    assert abs(result.loss - reference_loss) <= 1e-6 * abs(reference_loss)
    assert abs(result.loss - reference_loss) <= 1e-12 * abs(reference_loss)  # in fact much closer
    # ||w - w*|| <= ||grad|| / lam (strong convexity) = sqrt(5) * 1e-7 / 0.1
    np.testing.assert_allclose(to_numpy(result.theta), reference_w, atol=3e-6)
    # The reported loss and gradient are those of the returned theta (NumPy re-evaluation).
    w = to_numpy(result.theta)
    assert result.loss == pytest.approx(logistic_loss_numpy(w, X, y, lam), rel=1e-13)
    grad = X.T @ (1 / (1 + np.exp(-X @ w)) - y) / X.shape[0] + lam * w
    np.testing.assert_allclose(to_numpy(result.grad), grad, atol=1e-12)
    assert np.max(np.abs(grad)) <= 1e-7 * 1.01
    _assert_on_device(backend, result.theta)
    _assert_on_device(backend, result.grad)
    _assert_strong_wolfe(result)
    # Quasi-Newton and CG need far fewer iterations than steepest descent.
    if method != "steepest_descent":
        assert result.n_iter < 60


# ---------------------------------------------------------------------------------------
# Robustness: Rosenbrock and an ill-conditioned quadratic.


@pytest.mark.parametrize("method", ["cg", "lbfgs"])
def test_rosenbrock(backend, method):
    _need_float64(backend)
    x0 = backend.asarray(np.array([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0]), dtype="float64")
    result = minimize(rosenbrock, x0, method, gtol=1e-8, ftol=0.0, max_iter=2000)
    assert result.converged, result.stop_reason
    np.testing.assert_allclose(to_numpy(result.theta), np.ones(6), atol=1e-6)
    assert result.loss < 1e-12
    _assert_strong_wolfe(result)
    _assert_on_device(backend, result.theta)


@pytest.mark.parametrize("method", ["cg", "lbfgs"])
def test_ill_conditioned_quadratic(backend, method):
    _need_float64(backend)
    fun, x_star = quadratic_problem(backend, n=10, condition=1e4)
    result = minimize(fun, _zeros(backend, 10), method, gtol=1e-9, ftol=0.0, max_iter=2000)
    assert result.converged and result.stop_reason == "gradient norm below gtol", result.stop_reason
    # ||x - x*|| <= ||g|| / lambda_min = sqrt(10) * 1e-9.
    np.testing.assert_allclose(to_numpy(result.theta), x_star, atol=5e-9)
    _assert_strong_wolfe(result)


def test_gradient_descent_on_a_quadratic_and_monotone_decrease(backend):
    _need_float64(backend)
    fun, x_star = quadratic_problem(backend, n=5, condition=20.0)
    result = minimize(fun, _zeros(backend, 5), "steepest_descent", gtol=1e-9, ftol=0.0, max_iter=5000)
    assert result.converged and result.stop_reason == "gradient norm below gtol", result.stop_reason
    np.testing.assert_allclose(to_numpy(result.theta), x_star, atol=5e-9)
    A_x_star = np.asarray(to_numpy(fun(_zeros(backend, 5))[1]))  # grad at 0 = -A x*
    losses = [0.5 * float(-A_x_star @ x_star)] + result.losses  # f(0) = x*.A x* / 2
    # Strictly decreasing: every step met sufficient decrease with a measurable change.
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    _assert_strong_wolfe(result)


@pytest.mark.parametrize("method", METHODS)
def test_every_step_satisfies_strong_wolfe_and_decreases(backend, method):
    _need_float64(backend)
    fun, n, (X, y, lam) = logistic_problem(backend, seed=3)
    result = minimize(fun, _zeros(backend, n), method, max_iter=25, gtol=0.0, ftol=0.0)
    _assert_strong_wolfe(result)
    initial = logistic_loss_numpy(np.zeros(n), X, y, lam)  # = log 2
    losses = [initial] + result.losses
    # Monotone; strictly so until the loss reaches its rounding level, where a step
    # that changes phi by less than an ulp still passes phi(a) <= phi0 + c1 a phi'(0).
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))
    assert all(later < earlier for earlier, later in zip(losses[:6], losses[1:6]))
    x0 = backend.asarray(np.array([-1.2, 1.0, 0.5, -0.5]), dtype="float64")
    result = minimize(rosenbrock, x0, method, max_iter=40, gtol=0.0, ftol=0.0)
    _assert_strong_wolfe(result)
    assert result.line_searches[0].c2 == (0.1 if method == "cg" else 0.9)


def test_custom_wolfe_constants_are_used(backend):
    _need_float64(backend)
    x0 = backend.asarray(np.array([-1.2, 1.0]), dtype="float64")
    result = minimize(rosenbrock, x0, "lbfgs", max_iter=30, c1=0.01, c2=0.5)
    assert {(ls.c1, ls.c2) for ls in result.line_searches} == {(0.01, 0.5)}
    _assert_strong_wolfe(result)


# ---------------------------------------------------------------------------------------
# Stopping rules.


@pytest.mark.parametrize("method", METHODS)
def test_stop_on_gtol(backend, method):
    fun, n, (X, y, lam) = logistic_problem(backend)
    result = minimize(fun, _zeros(backend, n), method, gtol=1e-3, ftol=0.0)
    assert result.stop_reason == "gradient norm below gtol" and result.converged
    w = to_numpy(result.theta)
    grad = X.T @ (1 / (1 + np.exp(-X @ w)) - y) / X.shape[0] + lam * w  # NumPy re-evaluation
    assert np.max(np.abs(grad)) <= 1e-3 * 1.001
    assert result.n_iter >= 1


def test_stop_on_ftol(backend):
    fun, n, (X, y, lam) = logistic_problem(backend)
    ftol = 1e-4
    result = minimize(fun, _zeros(backend, n), "steepest_descent", gtol=0.0, ftol=ftol, max_iter=1000)
    assert result.stop_reason == "relative loss change below ftol" and result.converged
    losses = [logistic_loss_numpy(np.zeros(n), X, y, lam)] + result.losses

    def small(f_prev, f):
        return f_prev - f <= ftol * max(abs(f_prev), abs(f), 1.0)

    assert small(losses[-2], losses[-1])
    assert not any(small(a, b) for a, b in zip(losses[:-2], losses[1:-1]))


@pytest.mark.parametrize("method", METHODS)
def test_stop_on_max_iter(backend, method):
    fun, n, _ = logistic_problem(backend)
    result = minimize(fun, _zeros(backend, n), method, max_iter=3, gtol=0.0, ftol=0.0)
    assert result.stop_reason == "maximum iterations reached" and not result.converged
    assert result.n_iter == 3 and len(result.losses) == 3 and len(result.line_searches) == 3
    assert result.n_evaluations >= 4


def test_max_iter_zero_and_max_evaluations(backend):
    fun, n, (X, y, lam) = logistic_problem(backend)
    result = minimize(fun, _zeros(backend, n), max_iter=0)
    assert result.stop_reason == "maximum iterations reached" and result.n_iter == 0
    assert result.n_evaluations == 1
    assert result.loss == pytest.approx(math.log(2.0), rel=1e-6)  # w = 0: mean log(1 + 1)
    result = minimize(fun, _zeros(backend, n), "cg", max_evaluations=5, gtol=0.0, ftol=0.0)
    assert result.stop_reason == "maximum evaluations reached"
    assert result.n_evaluations <= 5


def test_stop_by_callback(backend):
    fun, n, (X, y, lam) = logistic_problem(backend)
    seen = []

    def callback(iteration, theta, loss):
        _assert_on_device(backend, theta)
        seen.append((iteration, logistic_loss_numpy(to_numpy(theta), X, y, lam), loss))
        return iteration == 2

    result = minimize(fun, _zeros(backend, n), "lbfgs", callback=callback, gtol=0.0, ftol=0.0)
    assert result.stop_reason == "stopped by callback" and not result.converged
    assert result.n_iter == 2 and [s[0] for s in seen] == [1, 2]
    for (_, expected, loss), reported in zip(seen, result.losses):
        assert isinstance(loss, float)
        assert loss == reported == pytest.approx(expected, rel=1e-6)


def test_already_optimal_start_stops_at_once(backend):
    _need_float64(backend)
    fun, x_star = quadratic_problem(backend, n=5, condition=10.0)
    result = minimize(fun, backend.asarray(x_star, dtype="float64"), "lbfgs", gtol=1e-8)
    assert result.stop_reason == "gradient norm below gtol" and result.converged
    assert result.n_iter == 0 and result.n_evaluations == 1


def test_wrong_gradient_makes_the_line_search_fail(backend):
    # The "gradient" points uphill, so no step along -grad decreases the loss.
    def fun(x):
        xp = array_namespace(x)
        return 0.5 * xp.sum(x * x), -x

    x0 = backend.asarray(np.array([1.0, -2.0, 0.5]), dtype="float64" if backend.has_float64 else "float32")
    result = minimize(fun, x0, "lbfgs")
    assert result.stop_reason == "line search failed" and not result.converged
    assert result.n_iter == 0
    np.testing.assert_array_equal(to_numpy(result.theta), [1.0, -2.0, 0.5])
    assert result.loss == pytest.approx(2.625)  # (1 + 4 + 0.25) / 2


# ---------------------------------------------------------------------------------------
# Non-finite losses.


def _counting(fun, record):
    def wrapped(x):
        loss, grad = fun(x)
        record.append(math.isfinite(float(loss)))
        return loss, grad

    return wrapped


def barrier(x):
    """f(x) = ||x - 5||^2 / 2 - sum log(1 - x_i): NaN (outside its domain) where any x_i >= 1.

    grad = x - 5 + 1 / (1 - x); the minimiser solves (x - 5)(1 - x) + 1 = 0, x = 3 - sqrt(5).
    """
    xp = array_namespace(x)
    room = 1.0 - x
    room = xp.where(room > 0, room, xp.full_like(room, math.nan))  # log of a negative: NaN
    return 0.5 * xp.sum((x - 5.0) ** 2) - xp.sum(xp.log(room)), (x - 5.0) + 1.0 / room


@pytest.mark.parametrize("method", METHODS)
def test_non_finite_region_is_avoided_and_the_solver_converges(backend, method):
    _need_float64(backend)
    finite = []
    result = minimize(_counting(barrier, finite), _zeros(backend, 3), method, gtol=1e-7, max_iter=200)
    assert not all(finite), "the test must actually reach the NaN region"
    assert result.converged, result.stop_reason
    np.testing.assert_allclose(to_numpy(result.theta), np.full(3, 3 - math.sqrt(5)), atol=1e-7)
    assert math.isfinite(result.loss)
    _assert_strong_wolfe(result)


@pytest.mark.parametrize("method", METHODS)
def test_nan_beyond_a_radius_returns_finite_theta(backend, method):
    # A quadratic bowl centred at c, ||c|| = 5, but NaN outside the ball of radius 3: the
    # minimiser is out of reach, and the solver must stop with a finite loss inside the ball.
    _need_float64(backend)
    c = backend.asarray(np.array([3.0, 4.0, 0.0]), dtype="float64")
    scales = backend.asarray(np.array([1.0, 3.0, 10.0]), dtype="float64")

    def fun(x):
        xp = array_namespace(x)
        d = x - c
        loss = 0.5 * xp.sum(scales * d * d)
        outside = xp.sum(x * x) > 9.0
        return xp.where(outside, xp.asarray(math.nan, dtype=x.dtype, device=device_of(x)), loss), scales * d

    finite = []
    x0 = backend.asarray(np.array([0.0, 0.0, 1.0]), dtype="float64")
    result = minimize(_counting(fun, finite), x0, method, max_iter=300)
    assert not all(finite), "the test must actually reach the NaN region"
    theta = to_numpy(result.theta)
    assert np.all(np.isfinite(theta)) and np.sum(theta**2) <= 9.0
    expected_loss = 0.5 * np.sum(np.array([1.0, 3.0, 10.0]) * (theta - [3.0, 4.0, 0.0]) ** 2)
    assert math.isfinite(result.loss) and result.loss == pytest.approx(expected_loss, rel=1e-12)
    initial = 0.5 * (9 + 3 * 16 + 10)  # = 33.5 at x0
    assert result.loss < 0.5 * initial
    assert all(math.isfinite(v) for v in result.losses)
    _assert_strong_wolfe(result)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_initial_loss_stops_at_once(backend, bad):
    def fun(x):
        xp = array_namespace(x)
        return xp.sum(x) * bad, xp.ones_like(x)

    x0 = backend.asarray(np.array([1.0, 2.0]), dtype="float64" if backend.has_float64 else "float32")
    for method in METHODS:
        result = minimize(fun, x0, method)
        assert result.stop_reason.startswith("non-finite loss"), result.stop_reason
        assert "initial" in result.stop_reason
        assert not result.converged and result.n_iter == 0 and result.n_evaluations == 1
        assert result.losses == [] and result.line_searches == []
        np.testing.assert_array_equal(to_numpy(result.theta), [1.0, 2.0])


def test_non_finite_initial_gradient_stops_at_once(backend):
    def fun(x):
        xp = array_namespace(x)
        return xp.sum(x * x), x * math.inf  # an infinite gradient, finite loss

    x0 = backend.asarray(np.array([1.0, 2.0]), dtype="float64" if backend.has_float64 else "float32")
    result = minimize(fun, x0, "lbfgs")
    assert result.stop_reason.startswith("non-finite gradient") and result.n_iter == 0


# ---------------------------------------------------------------------------------------
# Reproducibility across backends and input validation.


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("strict_device", [None, "device1"])
def test_numpy_and_array_api_strict_give_the_same_history(method, strict_device):
    # Rosenbrock for 30 iterations (none of the methods converges that soon), then the
    # logistic problem to convergence: same losses, evaluations, stop reason and theta.
    x0 = np.array([-1.2, 1.0, -1.2, 1.0])
    for problem in ("rosenbrock", "logistic"):
        histories = []
        for backend in (bp.get_backend("numpy"), bp.get_backend("array_api_strict", device=strict_device)):
            if problem == "rosenbrock":
                result = minimize(rosenbrock, backend.asarray(x0, dtype="float64"), method, max_iter=30)
            else:
                fun, n, _ = logistic_problem(backend, seed=5)
                result = minimize(fun, _zeros(backend, n), method, max_iter=200, gtol=1e-7)
            histories.append(result)
        a, b = histories
        assert len(a.losses) == len(b.losses) >= (30 if problem == "rosenbrock" else 5)
        assert a.n_evaluations == b.n_evaluations and a.stop_reason == b.stop_reason
        np.testing.assert_allclose(b.losses, a.losses, rtol=1e-10, atol=0)
        np.testing.assert_allclose(to_numpy(b.theta), to_numpy(a.theta), rtol=1e-10, atol=1e-14)


def test_lbfgs_with_memory_one_still_converges(backend):
    _need_float64(backend)
    fun, x_star = quadratic_problem(backend, n=10, condition=100.0)
    result = minimize(fun, _zeros(backend, 10), "lbfgs", memory=1, gtol=1e-9, ftol=0.0, max_iter=1000)
    assert result.stop_reason == "gradient norm below gtol"
    np.testing.assert_allclose(to_numpy(result.theta), x_star, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="newton"), "unknown method"),
        (dict(method="gd"), "unknown method.*'steepest_descent'"),  # fit's "gd" is fixed-step
        (dict(max_iter=-1), "max_iter"),
        (dict(memory=0), "memory"),
        (dict(gtol=-1.0), "gtol"),
        (dict(ftol=math.nan), "ftol"),
        (dict(c1=0.5, c2=0.4), "Wolfe"),
        (dict(c1=0.0), "Wolfe"),
        (dict(max_evaluations=0), "max_evaluations"),
        # Not numbers at all: named, not Python's own int()/float() message.
        (dict(max_iter="a"), "max_iter must be an integer, got 'a'"),
        (dict(max_iter=None), "max_iter must be an integer, got None"),
        (dict(max_iter=math.inf), "max_iter must be an integer"),
        (dict(memory="x"), "memory must be an integer"),
        (dict(max_evaluations="3"), "max_evaluations must be a positive integer"),
        (dict(max_evaluations=2.5), "max_evaluations must be a positive integer"),
        (dict(c1="a"), "c1 must be a finite number"),
        (dict(c2=math.nan), "c2 must be a finite number"),
    ],
)
def test_bad_options_raise_value_error(kwargs, match):
    fun, n, _ = logistic_problem(bp.get_backend("numpy"))
    with pytest.raises(ValueError, match=match):
        minimize(fun, np.zeros(n), **kwargs)


def test_bad_theta_or_gradient_shape_raise_value_error():
    fun, n, _ = logistic_problem(bp.get_backend("numpy"))
    with pytest.raises(ValueError, match="1-D"):
        minimize(fun, np.zeros((n, 1)))
    with pytest.raises(ValueError, match="gradient of shape"):
        minimize(lambda x: (np.sum(x * x), np.zeros(n + 1)), np.zeros(n))
