"""Stochastic optimizers on the flat parameter vector, as pure ``init``/``update`` pairs.

Every optimizer here is an :class:`Optimizer`, a pair of pure functions in the
style of optax::

    optimizer = sgd(learning_rate=0.1, momentum=0.9)
    state = optimizer.init(theta)
    for batch in batches:
        loss, grad = loss_and_grad(theta, batch)
        updates, state = optimizer.update(grad, state, theta)
        theta = apply_updates(theta, updates)

``theta`` is the network's ONE flat parameter vector (see :mod:`bpnet_xp.network`),
so an update is a handful of whole-vector array operations, never a loop over
layers.  The state is an immutable :class:`~typing.NamedTuple` holding a Python
``int`` step count and device arrays of the same shape as ``theta``; nothing is
mutated in place (JAX arrays cannot be), and nothing crosses to the host, so a
training epoch runs without a single device synchronisation.

The algorithms
--------------
Notation: ``g`` the gradient of the mini-batch loss at ``theta``, ``lr`` the
learning rate of this step (schedule value times the ``scale`` multiplier),
``t`` the number of the step being taken (1 for the first).

SGD with momentum ("heavy ball", Polyak 1964), in the form of Sutskever et al.
(2013) that scikit-learn's MLP also uses::

    v      <- momentum * v - lr * g
    update  = v                              (classical momentum)
    update  = momentum * v - lr * g          (Nesterov, with the new v)

The Nesterov form is the "look-ahead" gradient rewritten so that the gradient
is still taken at the current ``theta`` (Sutskever et al., eq. 3-4 after the
change of variables of Bengio et al. 2013); it needs no second gradient
evaluation.  With ``momentum=0`` the state carries no velocity (``None``), so
plain gradient descent allocates nothing beyond the update itself.

Adam (Kingma & Ba 2015, Algorithm 1), with ``epsilon`` meaning exactly what the
paper's Algorithm 1 says (as in optax)::

    mu     <- beta1 * mu + (1 - beta1) * g
    nu     <- beta2 * nu + (1 - beta2) * g**2
    mu_hat  = mu / (1 - beta1**t)
    nu_hat  = nu / (1 - beta2**t)
    update  = -lr * mu_hat / (sqrt(nu_hat) + epsilon)

computed in the equivalent folded order of the paper's section 2,
``update = -alpha_t * mu / (sqrt(nu) + eps_hat)`` with the host scalars
``alpha_t = lr sqrt(1 - beta2**t) / (1 - beta1**t)`` and
``eps_hat = epsilon sqrt(1 - beta2**t)``: the same update up to rounding, two
passes over the parameter vector fewer.  (The paper's "efficient version" instead
treats eps_hat as the constant; here it is derived from ``epsilon`` each step, so
the hyperparameter keeps its Algorithm 1 meaning.)

The bias correction undoes the initialisation of the moment estimates at zero:
without it the first steps would be too small by a factor (1 - beta1).

Learning-rate schedules
-----------------------
``learning_rate`` is either a number or a *schedule*: a callable
``schedule(count) -> float`` of the number of updates done so far (a Python int
held in the state), evaluated on the host once per step, so a schedule never
touches the device.  :func:`constant`, :func:`inverse_scaling` (scikit-learn's
"invscaling") and :func:`step_decay` are provided.

Reducing the rate when the validation loss stops improving needs that loss,
which only the training loop knows, once per epoch; :class:`ReduceOnPlateau` is
a small stateful helper that turns the sequence of epoch losses into a
multiplier, which the loop passes to ``update(..., scale=multiplier)``.

References
----------
- B. T. Polyak, "Some methods of speeding up the convergence of iteration methods",
  USSR Comp. Math. and Math. Phys. 4(5), 1964.
- I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
  initialization and momentum in deep learning", ICML 2013.
- D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from array_api_compat import array_namespace

from .backend import inplace_namespace

__all__ = [
    "Optimizer",
    "SGDState",
    "AdamState",
    "apply_updates",
    "sgd",
    "adam",
    "get_optimizer",
    "constant",
    "inverse_scaling",
    "step_decay",
    "ReduceOnPlateau",
    "OPTIMIZER_NAMES",
]

#: Names accepted by :func:`get_optimizer`.
OPTIMIZER_NAMES = ("gd", "sgd", "adam")


class Optimizer(NamedTuple):
    """A pure optimizer: ``state = init(theta)``; ``updates, state = update(grad, state, theta)``.

    ``update`` also takes the keyword ``scale`` (default 1.0), a multiplier of
    the learning rate for this step (see :class:`ReduceOnPlateau`).

    ``step(grad, state, theta, scale=1.0) -> (theta, state)`` is ``update`` followed
    by :func:`apply_updates`, fused: on libraries whose arrays can be written in place
    (NumPy, CuPy, PyTorch) it may reuse the buffers of ``state`` instead of allocating
    a dozen temporaries per step, so the ``state`` passed in must not be used again.
    The result is bit-identical to ``update`` + ``apply_updates`` (the same operations
    in the same order), which the tests check; ``theta`` itself is never modified.
    """

    init: Callable
    update: Callable
    step: Callable | None = None


def copy_state(state):
    """A copy of an optimizer state whose arrays share no memory with ``state``.

    The fused ``step`` writes into the state's buffers, so a caller that may need to
    roll back (a step that produced a non-finite loss) keeps a copy.
    """
    def copy(field):
        if getattr(field, "shape", None) is None:
            return field
        return array_namespace(field).asarray(field, copy=True)

    return type(state)(*(copy(field) for field in state))


def _step_from_update(update: Callable) -> Callable:
    def step(grad, state, theta, *, scale: float = 1.0):
        updates, state = update(grad, state, theta, scale=scale)
        return apply_updates(theta, updates), state

    return step


class SGDState(NamedTuple):
    """State of :func:`sgd`.

    Attributes
    ----------
    count : int
        Number of updates done so far.
    velocity : array of shape (n,), or None
        The momentum buffer ``v``; ``None`` when ``momentum == 0``.
    """

    count: int
    velocity: Any


class AdamState(NamedTuple):
    """State of :func:`adam`.

    Attributes
    ----------
    count : int
        Number of updates done so far.
    mu : array, shape (n,)
        Exponential moving average of the gradient (first moment).
    nu : array, shape (n,)
        Exponential moving average of the squared gradient (second raw moment).
    """

    count: int
    mu: Any
    nu: Any
    buffer: Any = None  # scratch space of the fused in-place ``step`` (NumPy/CuPy/PyTorch only)


def apply_updates(theta, updates):
    """Return ``theta + updates`` (a new array; ``theta`` is not modified).

    Parameters
    ----------
    theta : array, shape (n,)
    updates : array, shape (n,)

    Returns
    -------
    array, shape (n,)
    """
    return theta + updates


# ---------------------------------------------------------------------------------------
# Schedules: host-side callables count -> learning rate.


def _positive(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _count(count: Any) -> int:
    if isinstance(count, bool) or int(count) != count or count < 0:
        raise ValueError(f"a schedule's count must be an integer >= 0, got {count!r}")
    return int(count)


@dataclass(frozen=True)
class constant:
    """The same learning rate at every step: ``schedule(count) = learning_rate``.

    Parameters
    ----------
    learning_rate : float
        Positive.
    """

    learning_rate: float

    def __post_init__(self):
        object.__setattr__(self, "learning_rate", _positive("learning_rate", self.learning_rate))

    def __call__(self, count: int) -> float:
        _count(count)
        return self.learning_rate


@dataclass(frozen=True)
class inverse_scaling:
    """``schedule(count) = learning_rate / (count + 1) ** power`` (scikit-learn's "invscaling").

    The ``+ 1`` makes the first step (count 0) use ``learning_rate`` itself.
    With ``power`` in (0.5, 1] the step sizes satisfy the Robbins-Monro
    conditions (sum diverges, sum of squares converges).

    Parameters
    ----------
    learning_rate : float
        Positive; the rate of the first step.
    power : float
        Non-negative exponent (0 gives a constant rate).
    """

    learning_rate: float
    power: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "learning_rate", _positive("learning_rate", self.learning_rate))
        power = float(self.power)
        if not math.isfinite(power) or power < 0:
            raise ValueError(f"power must be a finite number >= 0, got {self.power!r}")
        object.__setattr__(self, "power", power)

    def __call__(self, count: int) -> float:
        return self.learning_rate / (_count(count) + 1) ** self.power


@dataclass(frozen=True)
class step_decay:
    """``schedule(count) = learning_rate * factor ** (count // every)``.

    The rate is multiplied by ``factor`` after every ``every`` updates.

    Parameters
    ----------
    learning_rate : float
        Positive; the rate of the first ``every`` steps.
    factor : float
        In (0, 1].
    every : int
        Positive number of updates between reductions.
    """

    learning_rate: float
    factor: float = 0.5
    every: int = 10

    def __post_init__(self):
        object.__setattr__(self, "learning_rate", _positive("learning_rate", self.learning_rate))
        factor = float(self.factor)
        if not (0 < factor <= 1):
            raise ValueError(f"factor must be in (0, 1], got {self.factor!r}")
        object.__setattr__(self, "factor", factor)
        if isinstance(self.every, bool) or int(self.every) != self.every or self.every < 1:
            raise ValueError(f"every must be a positive integer, got {self.every!r}")
        object.__setattr__(self, "every", int(self.every))

    def __call__(self, count: int) -> float:
        return self.learning_rate * self.factor ** (_count(count) // self.every)


@dataclass
class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` when a monitored loss stops improving.

    Call :meth:`scale` once per epoch with the epoch's (validation) loss and pass
    the multiplier it returns to ``optimizer.update(..., scale=multiplier)``.

    A value *improves* when it is below ``best - threshold * |best|`` (a relative
    threshold, as PyTorch's default, so that noise in the last digits does not
    count as progress).  When ``patience`` consecutive values have not improved,
    the call that sees the ``patience``-th of them multiplies the multiplier by
    ``factor`` and starts counting again.  A non-finite value never improves.
    The multiplier never takes the rate below ``min_lr``.

    Parameters
    ----------
    factor : float
        In (0, 1).
    patience : int
        Number of consecutive non-improving values that trigger a reduction (>= 1).
    min_lr : float
        Lower bound of ``learning_rate * multiplier`` (>= 0).
    learning_rate : float
        The base rate the multiplier applies to, used only for ``min_lr``; with the
        default 1.0, ``min_lr`` bounds the multiplier itself.
    threshold : float
        Relative improvement needed (>= 0).

    Attributes
    ----------
    multiplier : float
        The current multiplier (starts at 1.0).
    best : float
        The best value seen so far (``inf`` before the first call).
    bad_epochs : int
        Consecutive non-improving values since the last improvement or reduction.
    """

    factor: float = 0.5
    patience: int = 5
    min_lr: float = 1e-6
    learning_rate: float = 1.0
    threshold: float = 1e-4
    multiplier: float = field(default=1.0, init=False)
    best: float = field(default=math.inf, init=False)
    bad_epochs: int = field(default=0, init=False)

    def __post_init__(self):
        self.factor = float(self.factor)
        if not (0 < self.factor < 1):
            raise ValueError(f"factor must be in (0, 1), got {self.factor!r}")
        if isinstance(self.patience, bool) or int(self.patience) != self.patience or self.patience < 1:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")
        self.patience = int(self.patience)
        self.min_lr = float(self.min_lr)
        if not math.isfinite(self.min_lr) or self.min_lr < 0:
            raise ValueError(f"min_lr must be a finite number >= 0, got {self.min_lr!r}")
        self.learning_rate = _positive("learning_rate", self.learning_rate)
        self.threshold = float(self.threshold)
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold must be a finite number >= 0, got {self.threshold!r}")

    def scale(self, value: Any) -> float:
        """Record this epoch's loss and return the learning-rate multiplier to use next.

        Parameters
        ----------
        value : float or 0-d array
            The monitored loss of the epoch.

        Returns
        -------
        float
            The multiplier, in (0, 1].
        """
        value = float(value)
        improved = math.isfinite(value) and (
            not math.isfinite(self.best) or value < self.best - self.threshold * abs(self.best)
        )
        if improved:
            self.best = value
            self.bad_epochs = 0
            return self.multiplier
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            floor = self.min_lr / self.learning_rate
            self.multiplier = max(self.multiplier * self.factor, min(floor, self.multiplier))
            self.bad_epochs = 0
        return self.multiplier


def _as_schedule(learning_rate: Any) -> Callable[[int], float]:
    if callable(learning_rate):
        return learning_rate
    return constant(learning_rate)


def _check_scale(scale: Any) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    return scale


# ---------------------------------------------------------------------------------------
# The optimizers.


def sgd(learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False) -> Optimizer:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number or a schedule ``schedule(count) -> float``.
    momentum : float
        In [0, 1); 0 is plain gradient descent (no velocity is stored).
    nesterov : bool
        Use Nesterov's accelerated gradient (needs ``momentum > 0``).

    Returns
    -------
    Optimizer
        ``init(theta) -> SGDState``;
        ``update(grad, state, theta=None, *, scale=1.0) -> (updates, SGDState)``,
        with ``grad`` and ``updates`` of shape (n,).
    """
    schedule = _as_schedule(learning_rate)
    momentum = float(momentum)
    if not (0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    nesterov = bool(nesterov)

    def init(theta) -> SGDState:
        if momentum == 0:
            return SGDState(0, None)
        xp = array_namespace(theta)
        return SGDState(0, xp.zeros_like(theta))

    def update(grad, state: SGDState, theta=None, *, scale: float = 1.0):
        lr = schedule(state.count) * _check_scale(scale)
        step = -lr * grad
        if momentum == 0:
            return step, SGDState(state.count + 1, None)
        velocity = momentum * state.velocity + step
        updates = momentum * velocity + step if nesterov else velocity
        return updates, SGDState(state.count + 1, velocity)

    return Optimizer(init, update, _step_from_update(update))


def adam(
    learning_rate: Any = 1e-3, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1), with bias-corrected moment estimates.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number or a schedule ``schedule(count) -> float``.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float
        Positive constant added to ``sqrt(nu_hat)`` to avoid division by zero.

    Returns
    -------
    Optimizer
        ``init(theta) -> AdamState``;
        ``update(grad, state, theta=None, *, scale=1.0) -> (updates, AdamState)``,
        with ``grad`` and ``updates`` of shape (n,).
    """
    schedule = _as_schedule(learning_rate)
    beta1, beta2 = float(beta1), float(beta2)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not (0 <= beta < 1):
            raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
    epsilon = _positive("epsilon", epsilon)

    def init(theta) -> AdamState:
        xp = array_namespace(theta)
        return AdamState(0, xp.zeros_like(theta), xp.zeros_like(theta))

    def corrected(count: int, scale: Any) -> tuple[int, float, float]:
        """Step number t, step size alpha_t and epsilon-hat: host floats, one per step.

        Kingma & Ba (2015, end of section 2) fold the bias corrections into the step:
        lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - beta1**t) and
        v_hat = v / (1 - beta2**t) equals alpha_t * m / (sqrt(v) + eps_hat) with
        alpha_t = lr sqrt(1 - beta2**t) / (1 - beta1**t), eps_hat = eps sqrt(1 - beta2**t).
        Same algorithm, two passes over the parameter vector fewer (no m_hat, no v_hat).
        """
        t = count + 1
        lr = schedule(count) * _check_scale(scale)
        root = math.sqrt(1 - beta2**t)
        return t, lr * root / (1 - beta1**t), epsilon * root

    def update(grad, state: AdamState, theta=None, *, scale: float = 1.0):
        xp = array_namespace(grad)
        t, alpha, eps_hat = corrected(state.count, scale)
        mu = beta1 * state.mu + (1 - beta1) * grad
        nu = beta2 * state.nu + (1 - beta2) * (grad * grad)
        updates = (-alpha) * mu / (xp.sqrt(nu) + eps_hat)
        return updates, AdamState(t, mu, nu)

    def step(grad, state: AdamState, theta, *, scale: float = 1.0):
        lib = inplace_namespace(grad)
        if lib is None:
            return _pure_step(grad, state, theta, scale=scale)
        # The same operations as ``update``, in the same order (so the same bits), written
        # into the state's own buffers: one scratch vector instead of ~8 temporaries of the
        # size of theta per step, which on a 235k-parameter network is most of the memory
        # traffic of an Adam step.  12 passes over the vector in all.
        t, alpha, eps_hat = corrected(state.count, scale)
        mu, nu = state.mu, state.nu
        tmp = state.buffer if state.buffer is not None else lib.empty_like(grad)
        mu *= beta1
        lib.multiply(grad, 1 - beta1, out=tmp)
        mu += tmp                                   # mu = beta1 mu + (1 - beta1) g
        nu *= beta2
        lib.multiply(grad, grad, out=tmp)
        tmp *= 1 - beta2
        nu += tmp                                   # nu = beta2 nu + (1 - beta2) g^2
        lib.sqrt(nu, out=tmp)
        tmp += eps_hat                              # sqrt(nu) + eps_hat
        step_vector = lib.multiply(mu, -alpha)      # the one new vector: the next theta
        step_vector /= tmp
        step_vector += theta  # theta + update, in the fresh vector: theta itself is not written
        return step_vector, AdamState(t, mu, nu, tmp)

    _pure_step = _step_from_update(update)
    return Optimizer(init, update, step)


_FACTORIES = {"gd": sgd, "sgd": sgd, "adam": adam}


def get_optimizer(name: str, **hyperparameters: Any) -> Optimizer:
    """An optimizer by name.

    Parameters
    ----------
    name : {"gd", "sgd", "adam"}
        "gd" is :func:`sgd` (the training loop runs it on full batches).
    **hyperparameters
        Keyword arguments of :func:`sgd` (learning_rate, momentum, nesterov) or
        :func:`adam` (learning_rate, beta1, beta2, epsilon).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name or a hyperparameter the optimizer does not take.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _FACTORIES:
        raise ValueError(
            f"unknown optimizer {name!r}; stochastic optimizers are {', '.join(OPTIMIZER_NAMES)} "
            "(full-batch 'cg' and 'lbfgs' are in bpnet_xp.solvers)"
        )
    factory = _FACTORIES[key]
    allowed = factory.__code__.co_varnames[: factory.__code__.co_argcount]
    unknown = sorted(set(hyperparameters) - set(allowed))
    if unknown:
        raise ValueError(
            f"optimizer {key!r} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}"
        )
    return factory(**hyperparameters)
