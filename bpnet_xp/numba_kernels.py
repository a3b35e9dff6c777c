"""Adam's step, and ReLU's bias-add-and-clip and its backward mask, on NumPy arrays in
one pass each (Numba): the optional fused paths of :func:`bpnet_xp.backend.fused_adam`
and :func:`bpnet_xp.backend.fused_relu`.

NumPy runs the generic Adam rule of :mod:`bpnet_xp.optimizers` as eleven ufunc passes
plus the add to theta, each one reading and writing the whole parameter vector; on
1.86 M float32 parameters that is about 4 ms of a 784-1024-1024-10 step, against
PyTorch's fused Adam at about 0.5 ms.  Here the same operations, in the same order and
each rounded on its own (no ``fastmath``: LLVM then neither contracts a multiply and an
add into one rounding nor reorders), run in one loop over the elements, vectorised by
LLVM: the same bits as the generic path, in one pass.  The loop runs on the calling
thread.  Measured in fits on the project's 2-core machine (one optimizer step, median):
784-256-128-10 (235 k float32 parameters) 0.10 ms against 0.35 ms for the generic passes
at batch 128; 784-1024-1024-10 (1.86 M) 1.26 ms against 4.4 ms.

ReLU layers get the same treatment in the mini-batch step plan
(:func:`bpnet_xp.network.batch_plan`): ``Z += b`` and ``maximum(Z, 0)`` are two passes over
each hidden layer's ``(batch, width)`` product, and the backward mask ``D *= (A > 0)`` is
three (the comparison, its cast to the float dtype, the product), and the bias gradient
of the layer below sums the result in one more; here each is one pass (the sums in the
mask's).  The same operations in the same order give the same bits (an add, then a
comparison; a multiply by exactly 1 or 0; the column sums in NumPy's order).

Importing this module imports Numba (``pip install bpnet_xp[numba]``); nothing in the
package imports it unless Numba is installed and :func:`bpnet_xp.backend.fused_adam`
asks for it.  The compiled loops are cached on disk (``cache=True``), so a new process
loads them instead of compiling them again.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["adam_step", "bias_relu", "relu_backward"]


# error_model="numpy": a division by zero gives inf/nan as in NumPy instead of raising,
# and without that per-element check LLVM vectorises the loop (measured: 1.4 ms against
# 4.3 ms on 1.86 M float32 elements).
def _compiled(function):
    """``numba.njit`` with the on-disk cache where Numba finds a writable place for it;
    without the cache (compiled once per process) where it finds none, as in a read-only
    installation without a writable home directory, where ``cache=True`` raises."""
    try:
        return numba.njit(nogil=True, cache=True, error_model="numpy")(function)
    except RuntimeError:
        return numba.njit(nogil=True, error_model="numpy")(function)


# The moments are updated where they are: one array per moment, read and then written.
# (A loop with separate outputs, called with mu_out = mu, ran scalar: LLVM's vector loop
# is guarded by a run-time test that no output overlaps an input, which that aliasing
# fails; measured in a 784-256-128-10 fit, 0.57 ms a step against 0.10 ms for this loop.)
@_compiled
def _adam_loop(g, mu, nu, theta, theta_out, b1, c1, b2, c2, na, eh):  # pragma: no cover
    # Numba compiles this body; coverage cannot see it run.  Every name is a scalar of
    # the arrays' dtype, so every operation rounds to that dtype, as NumPy's ufuncs do.
    for i in range(g.shape[0]):
        x = g[i]
        m = mu[i] * b1 + x * c1
        v = nu[i] * b2 + (x * x) * c2
        mu[i] = m
        nu[i] = v
        theta_out[i] = (m * na) / (np.sqrt(v) + eh) + theta[i]


def adam_step(grad, mu, nu, theta, mu_out, nu_out, theta_out, beta1, beta2, negative_alpha, eps_hat):
    """One Adam step in one pass: the new moments and the new theta.

    Writes ``mu_out = b1 mu + (1 - b1) g``, ``nu_out = b2 nu + (1 - b2) g^2`` and
    ``theta_out = (mu_out negative_alpha) / (sqrt(nu_out) + eps_hat) + theta``, each
    operation in that order and rounded to the arrays' dtype, as the generic rule of
    :mod:`bpnet_xp.optimizers` does with NumPy's ufuncs (the tests compare the two bit
    for bit).  ``mu_out`` may be ``mu`` and ``nu_out`` ``nu`` (each element is read
    before it is written); ``theta_out`` must be a vector of its own.

    Parameters
    ----------
    grad : numpy.ndarray, shape (n,)
        The flat gradient, float32 or float64, C-contiguous.
    mu : numpy.ndarray, shape (n,)
        The first moment before the step.
    nu : numpy.ndarray, shape (n,)
        The second moment before the step.
    theta : numpy.ndarray, shape (n,)
        The parameters before the step (not written).
    mu_out : numpy.ndarray, shape (n,)
        Where the new first moment is written.
    nu_out : numpy.ndarray, shape (n,)
        Where the new second moment is written.
    theta_out : numpy.ndarray, shape (n,)
        Where the new parameters are written.
    beta1 : float
        The first moment's decay.
    beta2 : float
        The second moment's decay.
    negative_alpha : float
        Minus the bias-corrected step size (:attr:`bpnet_xp.optimizers.Optimizer.coefficients`).
    eps_hat : float
        The bias-corrected epsilon.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``theta_out``.
    """
    scalar = grad.dtype.type
    # 1 - beta is computed in Python's float64 and then rounded, as NumPy rounds the
    # Python float the generic rule multiplies by.
    scalars = (scalar(beta1), scalar(1 - beta1), scalar(beta2), scalar(1 - beta2), scalar(negative_alpha),
               scalar(eps_hat))
    # New buffers for the moments (an epoch's first step) start as copies: two passes once
    # per epoch, and one loop serves every step.
    if mu_out is not mu:
        np.copyto(mu_out, mu)
    if nu_out is not nu:
        np.copyto(nu_out, nu)
    _adam_loop(grad, mu_out, nu_out, theta, theta_out, *scalars)
    return theta_out


@_compiled
def _bias_relu(z, b, zero):  # pragma: no cover
    # numpy.maximum(v, 0) as NumPy's SIMD loops compute it (the x86 and ARM max
    # instructions): v where v > 0 or v is NaN (a NaN goes on), else the second operand,
    # +0.0 (so -0.0 becomes +0.0).
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + b[j]
            z[i, j] = v if (v > zero or v != v) else zero


@_compiled
def _relu_backward(d, a, db, one, zero):  # pragma: no cover
    # db: the column sums of the masked d, in numpy.add.reduce(d, axis=0)'s order for a
    # C-contiguous d (from +0.0, row after row), so the same bits.
    for j in range(d.shape[1]):
        db[j] = zero
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            v = d[i, j] * (one if a[i, j] > zero else zero)
            d[i, j] = v
            db[j] = db[j] + v


def bias_relu(z, b):
    """``z = maximum(z + b, 0)`` written into ``z`` in one pass: the same bits as
    ``z += b`` and then ``numpy.maximum(z, 0, out=z)``.

    Parameters
    ----------
    z : numpy.ndarray, shape (batch, width)
        A layer's fresh product ``A @ W``, float32 or float64; overwritten.
    b : numpy.ndarray, shape (width,)
        The layer's bias, of the dtype of ``z``.

    Returns
    -------
    numpy.ndarray, shape (batch, width)
        ``z`` itself.
    """
    _bias_relu(z, b, z.dtype.type(0))
    return z


def relu_backward(d, a, db):
    """``d *= (a > 0)`` (the mask cast to the dtype of ``d``) written into ``d``, and the
    column sums of the result written into ``db``, in one pass: the same bits as
    ``d *= astype(a > 0, d.dtype)`` (NaN and the sign of 0 included) followed by
    ``numpy.add.reduce(d, axis=0, out=db)``.

    The sums are the bias gradient of the layer below, which the step plan would
    otherwise compute in a pass of its own.

    Parameters
    ----------
    d : numpy.ndarray, shape (batch, width)
        The error arriving at a ReLU layer's output, C-contiguous; overwritten.
    a : numpy.ndarray, shape (batch, width)
        That layer's activations (of the dtype of ``d``).
    db : numpy.ndarray, shape (width,)
        Where the column sums are written (of the dtype of ``d``).

    Returns
    -------
    numpy.ndarray, shape (batch, width)
        ``d`` itself.
    """
    scalar = d.dtype.type
    _relu_backward(d, a, db, scalar(1), scalar(0))
    return d
