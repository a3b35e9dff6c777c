"""Stochastic optimizers on the flat parameter vector, as pure ``init``/``update`` pairs (optax's form).

::

    optimizer = sgd(learning_rate=0.1, momentum=0.9)     # or adam(...), gd(...)
    state = optimizer.init(theta)
    updates, state = optimizer.update(grad, state, theta)
    theta = apply_updates(theta, updates)

States are NamedTuples (a Python int step count and arrays shaped like theta); nothing
is mutated.  Each optimizer's arithmetic is written once, as a *rule* over a small set
of array operations; :func:`update` runs it with operations that return new arrays
(every library, JAX included), and :func:`fused_step` runs the same rule writing into
buffers on libraries that allow it (NumPy, CuPy, PyTorch), bit-identically.  Learning
rates are schedules of the step count (:mod:`bpnet_xp.schedules`).  The algorithms:
SGD with (Nesterov) momentum in Sutskever et al.'s form (ICML 2013), Adam as Kingma &
Ba's Algorithm 1 (ICLR 2015) with the bias corrections folded into the step size
(their section 2); the derivations are in docs/theory.md.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

from .backend import fused_adam, inplace_namespace
from .config import STOCHASTIC, optimizer_names
from .schedules import constant, positive_number

__all__ = [
    "Optimizer",
    "SGDState",
    "AdamState",
    "apply_updates",
    "fused_step",
    "update_with",
    "gd",
    "sgd",
    "adam",
    "get_optimizer",
    "OPTIMIZER_NAMES",
]

#: Names accepted by :func:`get_optimizer`: the stochastic ones of :data:`bpnet_xp.config.OPTIMIZERS`.
OPTIMIZER_NAMES = optimizer_names(STOCHASTIC)


class Optimizer(NamedTuple):
    """A pure optimizer.

    Attributes
    ----------
    init : callable
        ``init(theta) -> state``.
    update : callable
        ``update(grad, state, theta=None) -> (updates, state)``, all arrays of shape (n,).
    rule : callable
        ``rule(ops, grad, state) -> (updates, state)``: the arithmetic of ``update``
        written against the operations ``ops`` (``update`` is the rule with operations
        that allocate; :func:`fused_step` the rule with operations that write in place).
    coefficients : callable
        ``coefficients(count) -> tuple of floats``: the host scalars of the update
        after ``count`` updates (learning rate, bias corrections).
    kernel : callable
        ``kernel(ops, grad, state, coefficients) -> (updates, state)``: the rule with its
        scalars given (``rule(ops, grad, state)`` is ``kernel(ops, grad, state,
        coefficients(state.count))``), so a compiled step can take them as arguments
        instead of being traced again for every step count.
    """

    init: Callable
    update: Callable
    rule: Callable
    coefficients: Callable | None = None
    kernel: Callable | None = None


class SGDState(NamedTuple):
    """State of :func:`sgd`: ``count`` updates done, ``velocity`` (shape (n,), None without momentum).

    Attributes
    ----------
    count : int
        The number of updates done (the step count the learning-rate schedule reads).
    velocity : array, shape (n,), or None
        The momentum buffer, shaped like theta; None when ``momentum == 0``.
    """

    count: int
    velocity: Any


class AdamState(NamedTuple):
    """State of :func:`adam`: ``count`` updates done, moment averages ``mu`` and ``nu`` (shape (n,)).

    Attributes
    ----------
    count : int
        The number of updates done (``t - 1`` in Kingma & Ba's notation).
    mu : array, shape (n,)
        The running average of the gradient (first moment, not bias-corrected).
    nu : array, shape (n,)
        The running average of the squared gradient (second moment, not bias-corrected).
    """

    count: int
    mu: Any
    nu: Any


def apply_updates(theta, updates):
    """``theta + updates``, a new array of shape (n,) (``theta`` is not modified).

    Parameters
    ----------
    theta : array, shape (n,)
        The flat parameter vector.
    updates : array, shape (n,)
        The step returned by an optimizer's ``update``.

    Returns
    -------
    array, shape (n,)
        ``theta + updates``.
    """
    return theta + updates


# ---------------------------------------------------------------------------------------
# The operations a rule is written against.


class _NewArrays:
    """Operations that return new arrays (the reference; every library).  The ``into``
    arguments, where the in-place operations write, are ignored."""

    def state_buffer(self, current):
        return None

    def scratch(self, like):
        return None

    def fresh(self, like):
        return None

    def multiply(self, x, y, into=None):
        return x * y

    def add(self, x, y, into=None):
        return x + y

    def divide(self, x, y, into=None):
        return x / y

    def sqrt(self, x, into=None):
        return array_namespace(x).sqrt(x)


_NEW_ARRAYS = _NewArrays()


class _InPlace:
    """The same operations written into ``into`` with the library's ``out=`` (NumPy, CuPy,
    PyTorch): the same arithmetic in the same order, so the same bits, without a
    temporary the size of theta per operation."""

    def __init__(self, lib):
        self.lib = lib
        self.state_is_own = False  # set by the step before each rule
        self.one_pass_adam = {}  # (shape, dtype) -> backend.fused_adam's kernel or None
        self.fresh_arrays = []
        self._scratch = None

    def state_buffer(self, current):
        # Only the buffers of the state this step returned last are overwritten: any
        # other state (from init, from the caller, from an earlier epoch) stays valid.
        return current if self.state_is_own else self.lib.empty_like(current)

    def scratch(self, like):
        buffer = self._scratch
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self._scratch = self.lib.empty_like(like)
        return buffer

    def fresh(self, like):
        buffer = self.lib.empty_like(like)
        self.fresh_arrays.append(buffer)
        return buffer

    def is_fresh(self, array) -> bool:
        return any(array is buffer for buffer in self.fresh_arrays)

    def multiply(self, x, y, into=None):
        return self.lib.multiply(x, y, out=into)

    def add(self, x, y, into=None):
        return self.lib.add(x, y, out=into)

    def divide(self, x, y, into=None):
        return self.lib.divide(x, y, out=into)

    def sqrt(self, x, into=None):
        return self.lib.sqrt(x, out=into)


def _make(init: Callable, coefficients: Callable, kernel: Callable) -> Optimizer:
    def rule(ops, grad, state):
        return kernel(ops, grad, state, coefficients(state.count))

    def update(grad, state, theta=None):
        return rule(_NEW_ARRAYS, grad, state)

    return Optimizer(init, update, rule, coefficients, kernel)


def update_with(kernel: Callable, grad, state, scalars):
    """``kernel`` with operations that allocate: :attr:`Optimizer.update` with the
    coefficients given (a compiled step passes them as arguments).

    Parameters
    ----------
    kernel : callable
        An optimizer's :attr:`Optimizer.kernel`,
        ``kernel(ops, grad, state, scalars) -> (updates, state)``.
    grad : array, shape (n,)
        The flat gradient, shaped like theta.
    state : SGDState or AdamState
        The optimizer state the kernel belongs to; it is not modified.
    scalars : tuple of float
        ``Optimizer.coefficients(state.count)``: the host scalars of this step
        (``(-learning_rate,)`` for SGD; the bias-corrected ``(-alpha, epsilon)`` for Adam).

    Returns
    -------
    updates : array, shape (n,)
        The step to add to theta (:func:`apply_updates`).
    state : SGDState or AdamState
        The new state, ``count`` one more.
    """
    return kernel(_NEW_ARRAYS, grad, state, scalars)


def fused_step(optimizer: Optimizer) -> Callable:
    """``step(grad, state, theta) -> (theta, state)``: ``update`` then :func:`apply_updates`.

    On libraries whose arrays take ``out=`` (:func:`bpnet_xp.backend.inplace_namespace`)
    the optimizer's rule writes into buffers: one scratch vector kept by the step, the
    state it returned last (passing that state back in consumes it), and one new vector
    per step, the next theta.  ``theta`` is never written, and neither is a state the
    step did not return itself, so a caller rolls back by keeping any earlier state: a
    new step (one per epoch in :mod:`bpnet_xp.training`) starts in fresh buffers.
    Elsewhere (JAX, array-api-strict) it is ``update`` and ``apply_updates``.  Both
    paths give the same bits.

    Parameters
    ----------
    optimizer : Optimizer

    Returns
    -------
    callable
        ``step(grad, state, theta) -> (theta, state)``, arrays of shape (n,).
    """
    last = [None]  # the state returned last: its buffers are this step's own
    in_place = {}  # array type -> its operations (with the scratch vector they keep), False: none
    # sgd/gd without momentum keeps no arrays in its state: its step is two calls (-lr g,
    # then + theta, as the rule and the add below make them: the same bits) without the
    # bookkeeping a stateful rule needs.  A tiny network's step is a few microseconds, so
    # that bookkeeping would be a tenth of it.
    kernel = optimizer.kernel
    stateless = isinstance(kernel, _SGDKernel) and kernel.momentum == 0
    is_adam = isinstance(kernel, _AdamKernel)

    def step(grad, state, theta):
        # The library is looked up once per array type (a step of a small network is a
        # few microseconds of arithmetic; the lookup would be a tenth of it).
        kind = type(theta)
        ops = in_place.get(kind)
        if ops is None:
            lib = inplace_namespace(theta)
            ops = in_place[kind] = False if lib is None else _InPlace(lib)
        # A gradient of another dtype than theta: the pure rule, whose promotions the
        # in-place buffers (theta's dtype) would round away.
        if ops is False or grad.dtype != theta.dtype:
            updates, state = optimizer.update(grad, state, theta)
            return apply_updates(theta, updates), state
        if stateless:
            lib = ops.lib
            new = lib.multiply(grad, optimizer.coefficients(state.count)[0], out=lib.empty_like(theta))
            return lib.add(new, theta, out=new), SGDState(state.count + 1, None)
        ops.state_is_own, ops.fresh_arrays = state is last[0], []
        one_pass = _adam_in_one_pass(ops, theta) if is_adam else None
        if one_pass is not None and not _alike(theta, grad, state.mu, state.nu):
            one_pass = None  # mixed dtypes or shapes: the generic rule's promotions apply
        if one_pass is not None:
            # The same update, the same bits, in one pass (bpnet_xp.backend.fused_adam).
            mu, nu = ops.state_buffer(state.mu), ops.state_buffer(state.nu)
            theta = one_pass(grad, state.mu, state.nu, theta, mu, nu, ops.lib.empty_like(theta),
                             kernel.beta1, kernel.beta2, *optimizer.coefficients(state.count))
            last[0] = state = AdamState(state.count + 1, mu, nu)
            return theta, state
        updates, state = optimizer.rule(ops, grad, state)
        # updates + theta (the same bits as theta + updates), into updates when it is
        # this step's new vector, else into a new one.
        theta = ops.add(updates, theta, into=updates if ops.is_fresh(updates) else ops.fresh(theta))
        ops.fresh_arrays = []
        last[0] = state
        return theta, state

    return step


# ---------------------------------------------------------------------------------------
# The optimizers.


def _adam_in_one_pass(ops, theta) -> Callable | None:
    """The one-pass Adam of :func:`bpnet_xp.backend.fused_adam` for ``theta``, or None.

    Looked up once per vector size and dtype and kept by ``ops`` (the in-place operations
    of one :func:`fused_step`); float32 and float64 C-contiguous vectors only, where the
    one-pass kernels are compiled and tested.

    Parameters
    ----------
    ops : object
        The in-place operations of a :func:`fused_step` (their ``lib`` and cache).
    theta : array, shape (n,)

    Returns
    -------
    callable or None
        ``adam(grad, mu, nu, theta, mu_out, nu_out, theta_out, beta1, beta2,
        negative_alpha, eps_hat) -> theta_out``.
    """
    key = (theta.shape, theta.dtype)
    cache = ops.one_pass_adam
    if key not in cache:
        usable = str(theta.dtype) in ("float32", "float64") and _is_contiguous(theta)
        cache[key] = fused_adam(ops.lib, theta.shape[0]) if usable else None
    return cache[key]


def _alike(theta, *others) -> bool:
    return all(x.dtype == theta.dtype and x.shape == theta.shape for x in others)


def _is_contiguous(x) -> bool:
    # NumPy and CuPy arrays, the two with one-pass kernels, say so in their flags.
    return bool(getattr(getattr(x, "flags", None), "c_contiguous", False))


def _as_schedule(learning_rate: Any) -> Callable[[int], float]:
    """A number as a constant schedule (checked once), a callable as a checked schedule.

    A callable's value is checked at every call, on the host, where the coefficients
    are computed: a negative rate would silently ascend and a NaN would poison theta,
    so either is a ValueError naming ``learning_rate`` and the count.  Zero is allowed
    (a decay may reach it; the update is then no move).
    """
    if not callable(learning_rate):
        return constant(learning_rate)

    def checked(count: int) -> float:
        value = learning_rate(count)
        # The hot path: a finite float >= 0 (every schedule of bpnet_xp.schedules) costs one test.
        if type(value) is float and 0.0 <= value < math.inf:
            return value
        return _schedule_value(value, count)

    return checked


def _schedule_value(value: Any, count: int) -> float:
    """``value`` (a schedule's rate after ``count`` updates) as a float, or a ValueError."""
    number = math.nan
    if not isinstance(value, (bool, str, bytes)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    if not (0.0 <= number < math.inf):
        raise ValueError(
            f"the learning_rate schedule returned {number if number == number else value!r} at step count "
            f"{count} (updates done); "
            "a learning rate must be a finite number >= 0"
        )
    return number


def sgd(learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False) -> Optimizer:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    ``v <- momentum v - lr g``; the update is ``v`` (classical) or ``momentum v - lr g``
    (Nesterov, with the new ``v``); ``-lr g`` without momentum (no velocity is stored).

    Parameters
    ----------
    learning_rate : float or callable
        A positive number or a schedule ``schedule(count) -> float``.
    momentum : float
        In [0, 1).
    nesterov : bool
        Nesterov's accelerated gradient (needs ``momentum > 0``).

    Returns
    -------
    Optimizer
        ``init(theta) -> SGDState``; ``update(grad, state, theta=None) -> (updates, SGDState)``.
    """
    schedule = _as_schedule(learning_rate)
    momentum = float(momentum)
    if not (0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    nesterov = bool(nesterov)

    def init(theta) -> SGDState:
        return SGDState(0, None if momentum == 0 else array_namespace(theta).zeros_like(theta))

    def coefficients(count: int) -> tuple:
        return (-schedule(count),)

    return _make(init, coefficients, _SGDKernel(momentum, nesterov))


def gd(learning_rate: Any = 0.01) -> Optimizer:
    """Plain gradient descent, ``update = -lr g``: :func:`sgd` without momentum.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number or a schedule ``schedule(count) -> float``.

    Returns
    -------
    Optimizer
    """
    return sgd(learning_rate)


def adam(learning_rate: Any = 1e-3, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1), bias-corrected, ``epsilon`` as in Algorithm 1.

    ``mu <- b1 mu + (1 - b1) g``; ``nu <- b2 nu + (1 - b2) g^2``; the update
    ``-lr mu_hat / (sqrt(nu_hat) + eps)`` is computed as ``-alpha_t mu / (sqrt(nu) + eps_hat)``
    with the host scalars ``alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t)`` and
    ``eps_hat = eps sqrt(1 - b2^t)``: the same update, two passes over theta fewer.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number or a schedule ``schedule(count) -> float``.
    beta1, beta2 : float
        Decay rates of the moment estimates, in [0, 1).
    epsilon : float
        Positive.

    Returns
    -------
    Optimizer
        ``init(theta) -> AdamState``; ``update(grad, state, theta=None) -> (updates, AdamState)``.
    """
    schedule = _as_schedule(learning_rate)
    beta1, beta2 = float(beta1), float(beta2)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not (0 <= beta < 1):
            raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
    epsilon = positive_number("epsilon", epsilon)

    def init(theta) -> AdamState:
        xp = array_namespace(theta)
        return AdamState(0, xp.zeros_like(theta), xp.zeros_like(theta))

    def coefficients(count: int) -> tuple:
        t = count + 1
        root = math.sqrt(1 - beta2**t)
        return -(schedule(count) * root / (1 - beta1**t)), epsilon * root

    return _make(init, coefficients, _AdamKernel(beta1, beta2))


# The kernels are NamedTuples of their hyperparameters: equal hyperparameters give equal
# (hashable) kernels, so a compiled step (jax.jit, the kernel a static argument) traced in
# one fit serves the next one instead of being compiled again.


class _SGDKernel(NamedTuple):
    momentum: float
    nesterov: bool

    def __call__(self, ops, grad, state: SGDState, scalars):
        momentum = self.momentum
        step = ops.multiply(grad, scalars[0], into=ops.scratch(grad))  # -lr g
        if momentum == 0:
            return step, SGDState(state.count + 1, None)
        velocity = ops.state_buffer(state.velocity)
        velocity = ops.add(ops.multiply(state.velocity, momentum, into=velocity), step, into=velocity)
        if not self.nesterov:
            return velocity, SGDState(state.count + 1, velocity)
        look_ahead = ops.fresh(grad)
        updates = ops.add(ops.multiply(velocity, momentum, into=look_ahead), step, into=look_ahead)
        return updates, SGDState(state.count + 1, velocity)


class _AdamKernel(NamedTuple):
    beta1: float
    beta2: float

    def __call__(self, ops, grad, state: AdamState, scalars):
        beta1, beta2 = self.beta1, self.beta2
        negative_alpha, eps_hat = scalars
        mu, nu, tmp = ops.state_buffer(state.mu), ops.state_buffer(state.nu), ops.scratch(grad)
        mu = ops.add(ops.multiply(state.mu, beta1, into=mu), ops.multiply(grad, 1 - beta1, into=tmp), into=mu)
        square = ops.multiply(ops.multiply(grad, grad, into=tmp), 1 - beta2, into=tmp)
        nu = ops.add(ops.multiply(state.nu, beta2, into=nu), square, into=nu)
        denominator = ops.add(ops.sqrt(nu, into=tmp), eps_hat, into=tmp)
        updates = ops.fresh(grad)
        updates = ops.divide(ops.multiply(mu, negative_alpha, into=updates), denominator, into=updates)
        return updates, AdamState(state.count + 1, mu, nu)


# The implementation of each stochastic name of the registry (bpnet_xp.config.OPTIMIZERS).
_FACTORIES = {"gd": gd, "sgd": sgd, "adam": adam}


def get_optimizer(name: str, **hyperparameters: Any) -> Optimizer:
    """An optimizer by name.

    Parameters
    ----------
    name : {"gd", "sgd", "adam"}
        Case-insensitive.
    **hyperparameters
        Keyword arguments of :func:`gd` (learning_rate), :func:`sgd` (learning_rate,
        momentum, nesterov) or :func:`adam` (learning_rate, beta1, beta2, epsilon).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a hyperparameter the optimizer does not take.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in OPTIMIZER_NAMES or key not in _FACTORIES:
        raise ValueError(
            f"unknown optimizer {name!r}; stochastic optimizers are {', '.join(OPTIMIZER_NAMES)} "
            "(the full-batch ones are methods of bpnet_xp.solvers.minimize)"
        )
    factory = _FACTORIES[key]
    allowed = factory.__code__.co_varnames[: factory.__code__.co_argcount]
    unknown = sorted(set(hyperparameters) - set(allowed))
    if unknown:
        raise ValueError(f"optimizer {key!r} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}")
    return factory(**hyperparameters)
