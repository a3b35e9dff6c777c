"""Activation functions, each beside its derivative.

The registry maps a name to an :class:`Activation`: ``function(z)`` and
``derivative(a)``, the derivative written in terms of the activation's *output*
``a = function(z)``.  Back-propagation then needs to keep only the activations of
each layer, not the pre-activations too: for every hidden activation here the
derivative is a cheap function of ``a`` (sigmoid: a(1-a); tanh: 1-a^2; relu:
[a > 0]; identity: 1).

Every function takes the namespace as an optional keyword ``xp``: the step plan of
:func:`bpnet_xp.network.batch_plan` binds it once per fit, so that no
``array_namespace`` call (about 1 us on NumPy) happens inside a training step.

Softmax is registered as an output activation only: its Jacobian is never formed,
because it is only ever paired with softmax cross-entropy, whose output delta is
simply ``a - y`` (see :mod:`bpnet_xp.losses`).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

from array_api_compat import array_namespace

from .backend import inplace_namespace, maximum_inplace

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "sigmoid", "sigmoid_gradient", "log_sigmoid", "softmax",
           "log_softmax", "sigmoid_kernel", "sigmoid_kernel_inplace"]


class Activation(NamedTuple):
    """An activation function and its derivative.

    Attributes
    ----------
    name : str
    function : callable
        ``function(z) -> a``, elementwise (row-wise for softmax).
    derivative : callable or None
        ``derivative(a) -> da/dz`` elementwise, written in terms of the output ``a``.
        ``None`` for softmax, whose Jacobian is never needed.
    hidden : bool
        Whether it may be used in a hidden layer.
    inplace : callable or None
        ``inplace(z) -> a or None``: the same function written into ``z`` itself, for
        a fresh pre-activation nothing else refers to (the forward pass's ``A @ W + b``);
        returns ``None`` where the library cannot write into arrays (JAX, Dask,
        array-api-strict), and the caller then uses ``function``.  It saves a new
        (m, n) array per layer and step, written through memory that is not in cache
        (about 0.1 ms per (512, 256) layer on a 2-core CPU).  Same values, bit for bit.

    Every callable may take the keyword ``xp`` (the array namespace, looked up when
    absent); :func:`bpnet_xp.network.batch_plan` binds it once per fit where the
    callable's signature has it.
    """

    name: str
    function: Callable
    derivative: Callable | None
    hidden: bool = True
    inplace: Callable | None = None


# -- identity ----------------------------------------------------------------------------
def identity(z, *, xp=None):
    """The identity activation (linear output for regression): ``z`` itself, not a copy.

    Parameters
    ----------
    z : array, any shape
        Pre-activations.
    xp : namespace, optional
        Unused; accepted so that every activation has the same signature.

    Returns
    -------
    array, the shape of ``z``
        ``z`` itself.
    """
    return z


def identity_derivative(a, *, xp=None):
    """Derivative of the identity: an array of ones like ``a``.

    Parameters
    ----------
    a : array, any shape
        Activations (outputs of :func:`identity`); only their shape, dtype and device are used.
    xp : namespace, optional
        The array namespace of ``a`` (looked up when absent).

    Returns
    -------
    array, the shape of ``a``
        Ones, in the dtype and on the device of ``a``.
    """
    xp = array_namespace(a) if xp is None else xp
    return xp.ones_like(a)


# -- sigmoid -----------------------------------------------------------------------------
def sigmoid(z, *, xp=None):
    """Logistic function 1 / (1 + exp(-z)), exact and overflow-free for any z.

    exp is only ever taken of -|z| <= 0, so it never overflows; for z < 0 the
    algebraically equal form e / (1 + e) keeps full relative precision for tiny
    outputs (1 / (1 + exp(-z)) would be fine too, but 1 - tanh-based forms lose
    the digits of sigmoid(-40) ~ 4e-18 to cancellation).  The whole range, subnormal
    outputs included (z < -708 in float64), keeps this guarantee; the network's
    layers use the cheaper :func:`sigmoid_kernel`.

    Parameters
    ----------
    z : array, any shape
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
    """
    xp = array_namespace(z) if xp is None else xp
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


# log(smallest normal number) per dtype: the floor of sigmoid_kernel's argument.  Keyed by
# (type of the dtype, dtype): the type first, so that dtypes of two libraries with equal
# hashes are never compared with each other (array-api-strict warns on that).
_FLOORS: dict = {}


def _floor(xp, dtype) -> float:
    key = (type(dtype), dtype)
    try:
        return _FLOORS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable dtype object: computed every time
        return math.log(float(xp.finfo(dtype).smallest_normal))
    floor = _FLOORS[key] = math.log(float(xp.finfo(dtype).smallest_normal))
    return floor


def sigmoid_kernel(z, *, xp=None):
    """The sigmoid of the network's layers: 1 / (1 + exp(-max(z, log(tiny)))).

    ``tiny`` is the dtype's smallest normal number (log(tiny) = -708.4 in float64,
    -87.3 in float32).  Why this form: it is 5 elementwise operations instead of the
    9 of :func:`sigmoid`'s two-branch form (about 2.2 us instead of 7 us on a (1, 25)
    float64 array, and 8x less time on a (128, 256) one when written in place by
    :func:`sigmoid_kernel_inplace`), and it is as accurate wherever the output is a
    normal number: for z >= log(tiny), exp(-z) <= 1/tiny does not overflow, and
    exp, the addition and the division each round once, so the result keeps full
    relative precision (sigmoid(-40) = 4.248354255291589e-18 to a few ulp).  Below
    log(tiny), where the exact value is subnormal or 0, it returns sigmoid(log(tiny))
    ~ tiny instead: an absolute error of at most about tiny (2.2e-308, 1.2e-38), far under the
    ulp of any sum the next layer forms, and exp never overflows (no RuntimeWarning,
    no inf).  The cross-entropy uses the logits, not this output, so nothing needs
    the relative precision of subnormal outputs; :func:`sigmoid` keeps it for
    callers that do.  The same formula on every backend (in place where the library
    writes into arrays, the same bits).

    Parameters
    ----------
    z : array, any shape
        Pre-activations, real floating dtype.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
        Values in [0, 1]: about tiny at the floor (0 where the device flushes subnormals).
    """
    xp = array_namespace(z) if xp is None else xp
    return 1 / (1 + xp.exp(-xp.maximum(z, _floor(xp, z.dtype))))


def sigmoid_kernel_inplace(z, *, xp=None):
    """:func:`sigmoid_kernel` written into ``z`` (NumPy, CuPy, PyTorch); None elsewhere.

    For a fresh pre-activation nothing else refers to (see :class:`Activation`):
    the same five operations in the same order, so the same bits, without four
    temporaries the size of ``z``.  The floor and the 1 are 0-d arrays of z's dtype
    and device, made once per (library, dtype, device): a Python scalar operand costs
    NumPy a conversion per call (about 0.25 us, a tenth of this kernel on a (1, 25)
    array).

    Parameters
    ----------
    z : array, any shape
        Overwritten where the library can write into arrays.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when needed).

    Returns
    -------
    array or None
        ``z`` itself, or None (``z`` untouched) where the library cannot write into arrays.
    """
    constants = _inplace_constants(z, xp)
    if constants is None:
        return None
    lib, floor, one = constants
    lib.maximum(z, floor, out=z)
    lib.negative(z, out=z)
    lib.exp(z, out=z)
    z += one  # the standard's in-place operator
    # reciprocal is the correctly rounded 1 / x of the out-of-place form (one division).
    return lib.reciprocal(z, out=z)


# Array type -> the library that writes into its arrays (None: it cannot), and
# (type, dtype, device) -> (library, floor, one) for sigmoid_kernel_inplace.
_WRITERS: dict = {}
_CONSTANTS: dict = {}


def _inplace_constants(z, xp):
    kind = type(z)
    lib = _WRITERS.get(kind, False)
    if lib is False:
        lib = _WRITERS[kind] = inplace_namespace(z)
    if lib is None:
        return None
    key = (kind, z.dtype, z.device)  # .device: the standard's array attribute
    constants = _CONSTANTS.get(key)
    if constants is None:
        xp = array_namespace(z) if xp is None else xp
        floor = xp.asarray(_floor(xp, z.dtype), dtype=z.dtype, device=z.device)
        constants = _CONSTANTS[key] = (lib, floor, xp.asarray(1, dtype=z.dtype, device=z.device))
    return constants


def sigmoid_derivative(a, *, xp=None):
    """Derivative of the sigmoid from its output: ``a (1 - a)``, where ``a = sigmoid(z)``.

    Parameters
    ----------
    a : array, any shape
        Sigmoid activations, values in [0, 1].
    xp : namespace, optional
        Unused (only operators are needed); accepted for the common signature.

    Returns
    -------
    array, the shape of ``a``
        Values in [0, 0.25].
    """
    # 1.0, not 1: NumPy converts a Python float operand faster (0.15 us of a small step); same value.
    return a * (1.0 - a)


def sigmoid_gradient(z, *, xp=None):
    """g'(z) = g(z) (1 - g(z)) of the sigmoid g, from z: the classic exercise's ``sigmoidGradient``.

    Computed as e / (1 + e)**2 with e = exp(-|z|) (g' is even), so it neither
    overflows nor loses its digits to 1 - g(z) cancelling for large |z|.

    Parameters
    ----------
    z : array, any shape
        Pre-activations (any array-API library).
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
        Values in (0, 0.25]; 0.25 at z = 0.
    """
    xp = array_namespace(z) if xp is None else xp
    e = xp.exp(-xp.abs(z))
    return e / ((1 + e) * (1 + e))


def log_sigmoid(z, *, xp=None):
    """log(sigmoid(z)) = -softplus(-z), computed without overflow or log(0).

    ``logaddexp(0, -z)`` with the Python scalar 0.0 (array API 2024.12 scalar operands):
    the same values as with a zeros array, without allocating one.

    Parameters
    ----------
    z : array, any shape
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
        Values <= 0.
    """
    xp = array_namespace(z) if xp is None else xp
    return -xp.logaddexp(0.0, -z)


# -- tanh --------------------------------------------------------------------------------
def tanh(z, *, xp=None):
    """Hyperbolic tangent activation, elementwise.

    Parameters
    ----------
    z : array, any shape
        Pre-activations.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
        Values in [-1, 1].
    """
    xp = array_namespace(z) if xp is None else xp
    return xp.tanh(z)


def tanh_derivative(a, *, xp=None):
    """Derivative of tanh from its output: ``1 - a**2``, where ``a = tanh(z)``.

    Parameters
    ----------
    a : array, any shape
        Tanh activations, values in [-1, 1].
    xp : namespace, optional
        Unused (only operators are needed); accepted for the common signature.

    Returns
    -------
    array, the shape of ``a``
        Values in [0, 1].
    """
    return 1 - a * a


# -- relu --------------------------------------------------------------------------------
def relu(z, *, xp=None):
    """Rectified linear activation ``max(z, 0)``, elementwise.

    Parameters
    ----------
    z : array, any shape
        Pre-activations.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, the shape of ``z``
        Values >= 0 (a new array).
    """
    # A Python scalar operand (array API 2024.12) saves a zeros array the size of z.
    xp = array_namespace(z) if xp is None else xp
    return xp.maximum(z, 0.0)


def relu_inplace(z, *, xp=None):
    """:func:`relu` written into ``z`` where the library can write into arrays; None elsewhere.

    For a fresh pre-activation nothing else refers to (see :class:`Activation`); the
    write goes through :func:`bpnet_xp.backend.maximum_inplace`.

    Parameters
    ----------
    z : array, any shape
        Pre-activations; overwritten where the library can write into arrays.
    xp : namespace, optional
        Unused; accepted for the common signature.

    Returns
    -------
    array or None
        ``z`` itself holding ``max(z, 0)``, or None (``z`` untouched) where the library
        cannot write into arrays.
    """
    return maximum_inplace(z, 0.0)


def relu_derivative(a, *, xp=None):
    """Derivative of relu from its output: 1 where ``a > 0``, else 0.

    Parameters
    ----------
    a : array, any shape
        Relu activations (values >= 0).
    xp : namespace, optional
        The array namespace of ``a`` (looked up when absent).

    Returns
    -------
    array, the shape of ``a``
        Zeros and ones in the dtype of ``a``.
    """
    # a > 0 exactly where z > 0; the subgradient at z = 0 is taken as 0.
    xp = array_namespace(a) if xp is None else xp
    return xp.astype(a > 0, a.dtype)


# -- softmax (output only) ---------------------------------------------------------------
def log_softmax(z, *, xp=None):
    """Row-wise log-softmax by the log-sum-exp shift: never overflows, never log(0).

    Parameters
    ----------
    z : array, shape (m, K)
        Output pre-activations (logits), one row per sample.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, shape (m, K)
        ``log(softmax(z))`` row by row; values <= 0.
    """
    xp = array_namespace(z) if xp is None else xp
    shifted = z - xp.max(z, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(z, *, xp=None):
    """Row-wise softmax with the max subtracted first, so exp never overflows.

    Parameters
    ----------
    z : array, shape (m, K)
        Output pre-activations (logits), one row per sample.
    xp : namespace, optional
        The array namespace of ``z`` (looked up when absent).

    Returns
    -------
    array, shape (m, K)
        Class probabilities: values in [0, 1], each row summing to 1.
    """
    xp = array_namespace(z) if xp is None else xp
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", identity, identity_derivative),
    "sigmoid": Activation("sigmoid", sigmoid_kernel, sigmoid_derivative, inplace=sigmoid_kernel_inplace),
    "tanh": Activation("tanh", tanh, tanh_derivative),
    "relu": Activation("relu", relu, relu_derivative, inplace=relu_inplace),
    "softmax": Activation("softmax", softmax, None, hidden=False),
}


def get_activation(name: str, *, hidden: bool = False) -> Activation:
    """Look an activation up by name; ``hidden=True`` rejects output-only ones.

    Parameters
    ----------
    name : str or Activation
        One of the keys of :data:`ACTIVATIONS` ("identity", "sigmoid", "tanh",
        "relu", "softmax"); an :class:`Activation` is returned as it is.
    hidden : bool, default False
        Whether the activation is for a hidden layer: then an output-only one
        (softmax) raises ValueError.

    Returns
    -------
    Activation
        The registered activation.

    Raises
    ------
    ValueError
        For an unknown name, or an output-only activation asked for a hidden layer.
    """
    if isinstance(name, Activation):
        return name
    try:
        act = ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None
    if hidden and not act.hidden:
        hidden_names = sorted(k for k, v in ACTIVATIONS.items() if v.hidden)
        raise ValueError(f"activation {name!r} can only be used for the output layer; "
                         f"hidden layers take {hidden_names}")
    return act
