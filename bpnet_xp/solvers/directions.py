"""Search-direction strategies for :func:`bpnet_xp.solvers.minimize`, and their registry.

A strategy is a stateless object; what it remembers between iterations is an immutable
NamedTuple state that it creates (``init``), reads (``direction``), advances after each
accepted step (``update``) and forgets (``reset``).  Here: steepest descent, Polak-Ribière+
CG (N&W 2006, Alg. 5.4, eq. 5.44-5.45) and L-BFGS (N&W Alg. 7.4-7.5).  :data:`DIRECTIONS`
maps method names to strategies, so more (truncated Newton, SCG) can join later.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

from array_api_compat import array_namespace

from .vectors import dot

__all__ = [
    "AcceptedStep",
    "DirectionStrategy",
    "SteepestDescent",
    "PolakRibierePlus",
    "LBFGS",
    "CGState",
    "LBFGSState",
    "DIRECTIONS",
]


class AcceptedStep(NamedTuple):
    """What a strategy may learn from one accepted line-search step.

    Attributes
    ----------
    theta, grad : array, shape (n,)
        The iterate before the step and its gradient.
    new_theta, new_grad : array, shape (n,)
        The iterate after the step and its gradient.
    direction : array, shape (n,)
        The direction searched.
    steepest : bool
        True when the direction was ``-grad`` (the strategy's own direction was
        None, or was abandoned and its history reset).
    """

    theta: Any
    grad: Any
    new_theta: Any
    new_grad: Any
    direction: Any
    steepest: bool


class DirectionStrategy(Protocol):
    """The interface :func:`~bpnet_xp.solvers.minimize` drives.

    Attributes
    ----------
    c2 : float
        The default curvature constant of the strong Wolfe line search.
    scaled : bool
        True when the directions carry a step length (quasi-Newton: the first
        trial step is 1); False when only their orientation means something (the
        first trial step then comes from the previous decrease, N&W eq. 3.60).

    Parameters
    ----------
    *args, **kwargs
        Unused: a Protocol is never instantiated (``typing`` gives it a placeholder
        constructor); :class:`SteepestDescent`, :class:`PolakRibierePlus` and
        :class:`LBFGS` are the implementations.
    """

    c2: float
    scaled: bool

    def init(self, theta: Any, memory: int) -> Any:
        """The state before the first iteration, for ``theta`` of shape (n,).

        Parameters
        ----------
        theta : array, shape (n,)
            The starting iterate (its size and dtype shape the state).
        memory : int
            The number of curvature pairs a quasi-Newton strategy keeps; others
            ignore it.

        Returns
        -------
        object
            The strategy's immutable state.
        """

    def direction(self, state: Any, grad: Any) -> Any:
        """A direction of shape (n,) at the iterate with gradient ``grad``, or None
        when the state has nothing better than steepest descent, ``-grad``.

        Parameters
        ----------
        state : object
            The strategy's state.
        grad : array, shape (n,)
            The gradient at the current iterate.

        Returns
        -------
        array, shape (n,), or None
            The search direction, in grad's library, device and dtype.
        """

    def update(self, state: Any, step: AcceptedStep) -> Any:
        """The state after an accepted step.

        Parameters
        ----------
        state : object
            The strategy's state before the step.
        step : AcceptedStep
            The step the line search accepted.

        Returns
        -------
        object
            The new state (the old one is not changed).
        """

    def reset(self, state: Any) -> Any:
        """The state with its history forgotten (its next direction is None).

        Parameters
        ----------
        state : object
            The strategy's state.

        Returns
        -------
        object
            A state without history.
        """


class SteepestDescent:
    """``d = -g``: no state, so :meth:`direction` is always None."""

    c2 = 0.9  # a loose curvature test: fewer evaluations per step
    scaled = False

    def init(self, theta: Any, memory: int) -> tuple:
        """The empty state: steepest descent remembers nothing.

        Parameters
        ----------
        theta : array, shape (n,)
            The starting iterate (unused).
        memory : int
            Unused.

        Returns
        -------
        tuple
            ``()``.
        """
        return ()

    def direction(self, state: tuple, grad: Any) -> None:
        """None: the minimizer then searches along ``-grad``.

        Parameters
        ----------
        state : tuple
            The empty state.
        grad : array, shape (n,)
            The gradient (unused).

        Returns
        -------
        None
            Always.
        """
        return None

    def update(self, state: tuple, step: AcceptedStep) -> tuple:
        """The state unchanged.

        Parameters
        ----------
        state : tuple
            The empty state.
        step : AcceptedStep
            The accepted step (unused).

        Returns
        -------
        tuple
            ``state``.
        """
        return state

    def reset(self, state: tuple) -> tuple:
        """The state unchanged (there is no history to forget).

        Parameters
        ----------
        state : tuple
            The empty state.

        Returns
        -------
        tuple
            ``state``.
        """
        return state


class CGState(NamedTuple):
    """Polak-Ribière+ state: the previous direction and gradient, and the restart count.

    Attributes
    ----------
    n : int
        Number of parameters: the restart period.
    previous_grad, previous_direction : array, shape (n,) or None
        None before the first step and after a reset.
    previous_grad_norm2 : array, shape () or None
        ``||previous_grad||^2``, kept on the device.
    since_restart : int
        Steps since the last steepest-descent step.
    """

    n: int
    previous_grad: Any = None
    previous_grad_norm2: Any = None
    previous_direction: Any = None
    since_restart: int = 0


class PolakRibierePlus:
    """Nonlinear CG, ``d = -g + beta d_prev`` with ``beta = max(0, g.(g - g_prev) / ||g_prev||^2)``.

    Clipping beta at 0 is itself a restart; the strategy also restarts (returns None)
    every n steps, after which conjugacy is lost anyway (N&W Alg. 5.4 with PR+ for FR).
    """

    # Nearly exact line searches keep the directions conjugate (N&W section 5.2).
    c2 = 0.1
    scaled = False

    def init(self, theta: Any, memory: int) -> CGState:
        """A state without history, restarting every n = theta.shape[0] steps.

        Parameters
        ----------
        theta : array, shape (n,)
            The starting iterate.
        memory : int
            Unused (CG keeps one direction).

        Returns
        -------
        CGState
            With ``n`` set and no previous direction.
        """
        return CGState(n=theta.shape[0])

    def direction(self, state: CGState, grad: Any) -> Any:
        """``-grad + beta d_prev`` (PR+ beta, clipped at 0), or None at a restart.

        Parameters
        ----------
        state : CGState
            The previous direction and gradient.
        grad : array, shape (n,)
            The gradient at the current iterate.

        Returns
        -------
        array, shape (n,), or None
            None before the first step, after a reset, and once n steps have passed
            since the last steepest-descent step.
        """
        if state.previous_direction is None or state.since_restart >= state.n:
            return None
        xp = array_namespace(grad)
        norm2 = state.previous_grad_norm2
        # beta stays a 0-d device array; 0 * norm2 is a zero of the same kind for maximum.
        beta = xp.maximum(dot(xp, grad, grad - state.previous_grad) / norm2, 0.0 * norm2)
        return -grad + beta * state.previous_direction

    def update(self, state: CGState, step: AcceptedStep) -> CGState:
        """Remember the step's direction and the gradient it started from.

        Parameters
        ----------
        state : CGState
            The state before the step.
        step : AcceptedStep
            The accepted step; ``step.grad`` and ``step.direction`` are kept.

        Returns
        -------
        CGState
            With ``since_restart`` 1 after a steepest-descent step, else one more.
        """
        xp = array_namespace(step.grad)
        return state._replace(
            previous_grad=step.grad,
            previous_grad_norm2=dot(xp, step.grad, step.grad),
            previous_direction=step.direction,
            since_restart=1 if step.steepest else state.since_restart + 1,
        )

    def reset(self, state: CGState) -> CGState:
        """Forget the previous direction (the next direction is None).

        Parameters
        ----------
        state : CGState
            The current state.

        Returns
        -------
        CGState
            With only ``n`` kept.
        """
        return CGState(n=state.n)


class LBFGSState(NamedTuple):
    """L-BFGS state: the newest ``memory`` curvature pairs, oldest first.

    Attributes
    ----------
    memory : int
        Most pairs kept.
    eps : float
        Machine epsilon of theta's dtype, for the curvature test.
    s, y : tuple of arrays, shape (n,) each
        ``s = theta_{k+1} - theta_k`` and ``y = g_{k+1} - g_k``.
    rho : tuple of float
        ``1 / s.y`` per pair (host floats: they were on the host for the test anyway).
    gamma : float
        ``s.y / y.y`` of the newest pair: H0 = gamma I (N&W eq. 7.20).
    """

    memory: int
    eps: float
    s: tuple = ()
    y: tuple = ()
    rho: tuple = ()
    gamma: float = 1.0


class LBFGS:
    """Limited-memory BFGS: ``d = -H g`` by the two-loop recursion (N&W Alg. 7.4), O(m n)."""

    c2 = 0.9  # a loose curvature test: fewer evaluations per step
    scaled = True

    def init(self, theta: Any, memory: int) -> LBFGSState:
        """A state without curvature pairs.

        Parameters
        ----------
        theta : array, shape (n,)
            The starting iterate; its dtype's epsilon sets the curvature test.
        memory : int
            The most curvature pairs kept.

        Returns
        -------
        LBFGSState
            With no pairs and gamma = 1.
        """
        xp = array_namespace(theta)
        return LBFGSState(memory=memory, eps=float(xp.finfo(theta.dtype).eps))

    def direction(self, state: LBFGSState, grad: Any) -> Any:
        """``-H grad`` by the two-loop recursion, H0 = gamma I; None without pairs.

        Parameters
        ----------
        state : LBFGSState
            The curvature pairs.
        grad : array, shape (n,)
            The gradient at the current iterate.

        Returns
        -------
        array, shape (n,), or None
            The quasi-Newton direction in grad's library, device and dtype; None
            when no pair is stored (first iteration, after a reset).
        """
        if not state.s:
            return None
        xp = array_namespace(grad)
        q = grad
        coefficients = []
        for s, y, rho in zip(reversed(state.s), reversed(state.y), reversed(state.rho)):
            a = rho * dot(xp, s, q)  # 0-d device arrays: the recursion needs no host sync
            coefficients.append(a)
            q = q - a * y
        r = state.gamma * q
        for s, y, rho, a in zip(state.s, state.y, state.rho, reversed(coefficients)):
            b = rho * dot(xp, y, r)
            r = r + (a - b) * s
        return -r

    def update(self, state: LBFGSState, step: AcceptedStep) -> LBFGSState:
        """Add the pair ``s = new_theta - theta``, ``y = new_grad - grad`` when s.y > 0.

        Parameters
        ----------
        state : LBFGSState
            The state before the step.
        step : AcceptedStep
            The accepted step.

        Returns
        -------
        LBFGSState
            With the new pair appended (the oldest dropped beyond ``memory``) and
            gamma = s.y / y.y; ``state`` itself when the pair fails the curvature
            test ``s.y > eps y.y`` (the pair would spoil H's positive definiteness).
        """
        xp = array_namespace(step.new_theta)
        s = step.new_theta - step.theta
        y = step.new_grad - step.grad
        sy = float(dot(xp, s, y))
        yy = float(dot(xp, y, y))
        # A pair without usable positive curvature is skipped: H stays positive definite.
        if not (sy > state.eps * yy and math.isfinite(sy) and yy > 0):
            return state
        keep = -state.memory  # the oldest pair goes: memory stays bounded
        return state._replace(
            s=(state.s + (s,))[keep:],
            y=(state.y + (y,))[keep:],
            rho=(state.rho + (1.0 / sy,))[keep:],
            gamma=sy / yy,
        )

    def reset(self, state: LBFGSState) -> LBFGSState:
        """Forget every curvature pair (the next direction is None).

        Parameters
        ----------
        state : LBFGSState
            The current state.

        Returns
        -------
        LBFGSState
            With no pairs; ``memory``, ``eps`` and ``gamma`` kept.
        """
        return state._replace(s=(), y=(), rho=())


#: Method name -> direction strategy, the methods :func:`~bpnet_xp.solvers.minimize` accepts.
DIRECTIONS: dict[str, DirectionStrategy] = {
    "steepest_descent": SteepestDescent(),
    "cg": PolakRibierePlus(),
    "lbfgs": LBFGS(),
}
