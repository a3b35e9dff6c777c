"""Numerical gradient checking: back-propagation against central differences.

For small networks every partial derivative is checked (element-wise mode); for
large ones, directional derivatives along random unit directions ``v`` are
compared with ``grad . v`` (directional mode), which checks all parameters at
once for the cost of two loss evaluations per direction.

The differences use the fourth-order central stencil

    f'(t) ~ [f(t - 2h) - 8 f(t - h) + 8 f(t + h) - f(t + 2h)] / (12 h)

whose truncation error is O(h^4): with h = 1e-3 in float64 the error is ~1e-12
relative to the loss scale, far below what a wrong back-propagation produces
(errors of order 1).  The classic two-point stencil (f(t+h) - f(t-h)) / 2h is
available with ``order=2``.

The check runs in float64 where the device has it (a float32 network is copied
to float64 for the check); on a float64-less device it runs in float32 with a
wider step and a warning, and its errors are only meaningful to ~1e-3.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .network import NetworkSpec, loss_and_grad, loss_value, unpack

__all__ = ["GradientCheckResult", "check_gradients", "parameter_name"]


class GradientCheckResult(NamedTuple):
    """Outcome of :func:`check_gradients`.

    Attributes
    ----------
    max_relative_error : float
        max_i |a_i - n_i| / max(|a_i|, |n_i|, floor) over the checked elements or directions.
    worst_index : int
        Index into theta (element-wise) or direction number (directional) of the maximum.
    worst_location : str
        The worst parameter in words, e.g. ``"layer 2 W[3, 0]"`` (element-wise mode).
    analytic, numeric : ndarray
        Back-propagated and finite-difference derivatives that were compared (host, float64).
    relative_errors : ndarray
        The per-element (or per-direction) relative errors.
    mode : str
        "elementwise" or "directional".
    dtype : str
        The dtype the check ran in.
    epsilon : float
        The finite-difference step h.
    kink_distance : float
        For ReLU networks, the smallest |pre-activation| of a hidden unit over the
        batch: finite differences are only valid when every such kink is further away
        than the steps (a few h times the input scale) move it; ``inf`` for smooth networks.
    """

    max_relative_error: float
    worst_index: int
    worst_location: str
    analytic: np.ndarray
    numeric: np.ndarray
    relative_errors: np.ndarray
    mode: str
    dtype: str
    epsilon: float
    kink_distance: float = float("inf")

    def __str__(self) -> str:
        return (
            f"gradient check ({self.mode}, {self.dtype}, {self.analytic.size} checks, h={self.epsilon:g}): "
            f"max relative error {self.max_relative_error:.3e} at {self.worst_location}"
        )


#: What check_gradients uses of a network (an MLP, duck-typed: gradcheck sits below
#: the model module and must not import it).
_NETWORK_ATTRIBUTES = ("spec", "theta", "prepare", "backend", "dtype", "copy")


def parameter_name(net, index: int) -> str:
    """Name the parameter at position ``index`` of ``theta``.

    Parameters
    ----------
    net : MLP
        Anything with a ``spec`` (:class:`~bpnet_xp.network.NetworkSpec`).
    index : int
        Position in the flat theta, 0 <= index < n_parameters.

    Returns
    -------
    str
        ``"layer 1 W[2, 0]"`` or ``"layer 2 b[1]"`` (layers 1-based, W of shape (n_in, n_out)).
    """
    spec = net.spec
    for layer, ((n_in, n_out), _), (w0, b0, b1) in zip(range(1, 10**9), spec.shapes, spec.offsets):
        if w0 <= index < b0:
            i, j = divmod(index - w0, n_out)
            return f"layer {layer} W[{i}, {j}]"
        if b0 <= index < b1:
            return f"layer {layer} b[{index - b0}]"
    raise IndexError(f"parameter index {index} out of range ({spec.n_parameters} parameters)")


def check_gradients(
    net,
    X,
    y,
    *,
    mode: str = "auto",
    max_elements: int = 2000,
    n_directions: int = 32,
    order: int = 4,
    epsilon: float | None = None,
    floor: float | None = None,
    theta=None,
    seed: int = 0,
) -> GradientCheckResult:
    """Compare the back-propagated gradient of ``net`` with finite differences.

    Parameters
    ----------
    net : MLP
        Duck-typed: anything with ``spec``, ``theta``, ``prepare(X, y)``,
        ``backend``, ``dtype`` and ``copy(dtype=...)``.
    X : array, shape (m, n_inputs)
    y : array, shape (m,) or (m, n_outputs)
    mode : {"auto", "elementwise", "directional"}
        "auto": element-wise when the network has at most ``max_elements`` parameters.
    max_elements : int
    n_directions : int
        Random unit directions checked in directional mode.
    order : {2, 4}
        Order of the central-difference stencil.
    epsilon : float, optional
        Step h; default 1e-3 (order 4) or 1e-6 (order 2) in float64, larger in float32.
    floor : float, optional
        Smallest denominator of the relative error, so that derivatives that are
        exactly 0 on both sides (a dead ReLU unit) do not divide by 0; default
        1e-8 in float64, 1e-3 in float32.
    theta : array, shape (n_parameters,), optional
        Check at these parameters instead of ``net.theta`` (``net`` is left unchanged).
    seed : int
        Seeds the random directions.

    Returns
    -------
    GradientCheckResult
        ``analytic``/``numeric`` of shape (n_parameters,) element-wise, (n_directions,)
        directional.
    """
    _check_arguments(net, mode, order)
    be = net.backend
    dtype = _check_dtype(be)
    # A float32 network is checked on a float64 copy; a given theta goes into a copy too,
    # so that the caller's network keeps its own parameters.
    work = net if net.dtype == dtype and theta is None else net.copy(dtype=dtype)
    Xd, Y = work.prepare(X, y)
    if theta is not None:
        work.theta = theta  # the network's setter checks shape, library and device
    t, spec = work.theta, work.spec
    h = float(epsilon if epsilon is not None else _default_epsilon(order, dtype))
    if floor is None:
        floor = 1e-8 if dtype == "float64" else 1e-3
    kink = _kink_distance(spec, t, Xd, be.xp)
    _warn_near_kink(kink, h)
    _, grad = loss_and_grad(spec, t, Xd, Y)
    g = be.to_numpy(grad).astype(np.float64)
    derivative = _stencil(spec, t, Xd, Y, h, order)
    n = spec.n_parameters
    if mode == "auto":
        mode = "elementwise" if n <= max_elements else "directional"
    if mode == "elementwise":
        analytic, numeric = g, _elementwise(derivative, be, n, dtype)
    else:
        analytic, numeric = _directional(derivative, be, g, n_directions, seed, dtype)
    return _compare(analytic, numeric, float(floor), mode, work, dtype, h, kink)


# ---------------------------------------------------------------------------------------
# The steps of check_gradients.


def _check_arguments(net, mode: str, order: int) -> None:
    """Refuse a non-network and unknown options before any work is done."""
    missing = [a for a in _NETWORK_ATTRIBUTES if not hasattr(net, a)]
    if missing or not isinstance(net.spec, NetworkSpec):
        what = f"it has no {', '.join(missing)}" if missing else "its spec is not a NetworkSpec"
        raise TypeError(f"check_gradients needs an MLP, got {type(net).__name__} ({what})")
    if mode not in ("auto", "elementwise", "directional"):
        raise ValueError(f"mode must be 'auto', 'elementwise' or 'directional', got {mode!r}")
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order}")


def _check_dtype(be) -> str:
    """The dtype the check runs in: float64 where the device has it, else float32 (warned)."""
    if be.has_float64:
        return "float64"
    warnings.warn(
        f"device {be.device} of backend {be.name!r} has no float64: checking gradients in float32, "
        "where relative errors are only meaningful to about 1e-3",
        RuntimeWarning,
        stacklevel=3,  # the caller of check_gradients
    )
    return "float32"


def _default_epsilon(order: int, dtype: str) -> float:
    # Near the step that balances truncation (~h^order) against rounding (~eps / h),
    # h ~ eps^(1/(order+1)): float32's eps is ~5e8 times float64's, so its steps are larger.
    if dtype == "float64":
        return 1e-3 if order == 4 else 1e-6
    return 3e-2 if order == 4 else 1e-2


def _warn_near_kink(kink: float, h: float) -> None:
    """Warn when a ReLU kink is within reach of the finite-difference steps."""
    if kink < 10 * h:
        warnings.warn(
            f"a ReLU pre-activation is {kink:.2e} from the kink at 0, within reach of the "
            f"finite-difference steps (h={h:g}): the numerical derivative straddles a point "
            "where the loss is not differentiable, so large errors there are expected",
            RuntimeWarning,
            stacklevel=3,  # the caller of check_gradients
        )


def _stencil(spec: NetworkSpec, t, X, Y, h: float, order: int):
    """The numerical directional derivative of the loss at ``t``: direction (n_parameters,)
    on the device -> float."""

    def f(step):
        return float(loss_value(spec, t + step, X, Y))

    def derivative(direction):
        if order == 2:
            return (f(h * direction) - f(-h * direction)) / (2 * h)
        # Differences first, then the weights: f(t+h) - f(t-h) is exactly 0 when the loss
        # does not change, whereas -8 f + 8 f would leave a rounding residue.
        near = f(h * direction) - f(-h * direction)
        far = f(2 * h * direction) - f(-2 * h * direction)
        return (8 * near - far) / (12 * h)

    return derivative


def _elementwise(derivative, be, n: int, dtype: str) -> np.ndarray:
    """The numerical partial derivative along every unit vector e_i, shape (n,)."""
    xp, dt = be.xp, be.dtype(dtype)
    index = xp.arange(n, device=be.device)
    numeric = np.empty(n)
    for i in range(n):
        # The unit vector e_i is built on the device from an index comparison:
        # no host transfer and no in-place write (JAX arrays are immutable).
        numeric[i] = derivative(xp.astype(index == i, dt))
    return numeric


def _directional(derivative, be, g: np.ndarray, n_directions: int, seed: int, dtype: str):
    """(analytic V g, numeric) along ``n_directions`` random unit directions V (host-seeded,
    so every backend checks the same directions), each of shape (n_directions,)."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n_directions, g.shape[0]))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    numeric = np.empty(n_directions)
    for k in range(n_directions):
        numeric[k] = derivative(be.asarray(V[k].astype(dtype), dtype))
    return V @ g, numeric


def _compare(analytic, numeric, floor: float, mode: str, work, dtype: str, h: float,
             kink: float) -> GradientCheckResult:
    """Relative errors |a - n| / max(|a|, |n|, floor) and the worst of them."""
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    rel = np.abs(analytic - numeric) / denom
    worst = int(np.argmax(rel))
    where = parameter_name(work, worst) if mode == "elementwise" else f"direction {worst}"
    return GradientCheckResult(float(rel[worst]), worst, where, analytic, numeric, rel, mode, dtype, h, kink)


def _kink_distance(spec: NetworkSpec, theta, X, xp) -> float:
    """min |Z| over the hidden ReLU pre-activations (inf for networks without ReLU)."""
    if spec.activation.name != "relu" or len(spec.layer_sizes) < 3:
        return float("inf")
    A, smallest = X, float("inf")
    for W, b in unpack(spec, theta)[:-1]:
        Z = A @ W + b
        smallest = min(smallest, float(xp.min(xp.abs(Z))))
        A = spec.activation.function(Z)
    return smallest
