"""The multilayer perceptron: flat parameters, forward, backward, loss and gradient.

Parameters live in ONE flat vector ``theta`` (the "unrolling" of the classic
material): ``[W1 row-major, b1, W2, b2, ...]`` with ``W`` of shape (n_in, n_out).
``MLP.weights`` gives per-layer ``(W, b)`` views of it (true views on NumPy, CuPy
and PyTorch; copies on JAX, whose arrays are immutable).  Optimizers and solvers
see only the flat vector, so one update touches all parameters at once.

The math is written once, in pure functions of ``(spec, theta, X, Y)`` that use
only the array API standard; :class:`MLP` adds validation, data placement and
the public API around them.  Notation inside the math: ``m`` samples, ``A`` the
activations of a layer (``A0 = X``), ``Z = A @ W + b`` the pre-activations, and
``D`` the delta dJ/dZ that back-propagation carries backwards.
"""

from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

from array_api_compat import array_namespace

from . import backend as _backend
from .activations import Activation, relu
from .losses import Loss, output_delta

__all__ = ["NetworkSpec", "column", "unpack", "forward", "data_loss_and_grad", "layer_loss_and_grad",
           "penalty_and_grad", "layer_penalty_and_grad", "loss_and_grad", "loss_value"]

class NetworkSpec(NamedTuple):
    """The static structure of a network: everything but the parameter values.

    Hashable, so it can be a static argument of a compiled function (JAX jit).

    Attributes
    ----------
    layer_sizes : tuple of int
        Units per layer, inputs first and outputs last: ``(n_inputs, ..., n_outputs)``.
    activation : Activation
        The activation of every hidden layer.
    output : Activation
        The activation of the output layer.
    loss : Loss
        The data loss, paired with ``output``.
    l2 : float
        Strength of the L2 penalty on the weights (biases are not penalised); 0 for none.
    """

    layer_sizes: tuple
    activation: Activation
    output: Activation
    loss: Loss
    l2: float

    @property
    def shapes(self) -> tuple[tuple[tuple[int, int], tuple[int]], ...]:
        """``((n_in, n_out), (n_out,))``, the shapes of ``(W, b)``, for each layer in order."""
        return _layout(self.layer_sizes)[0]

    @property
    def n_parameters(self) -> int:
        """The length of the flat parameter vector theta: all weights and biases."""
        return _layout(self.layer_sizes)[2]

    @property
    def offsets(self) -> tuple[tuple[int, int, int], ...]:
        """(start of W, start of b, end of b) in theta for each layer."""
        return _layout(self.layer_sizes)[1]


@functools.lru_cache(maxsize=256)
def _layout(layer_sizes: tuple) -> tuple[tuple, tuple, int]:
    """Shapes, offsets and size of theta for these layer sizes, computed once: the
    training loop asks for them several times per step."""
    shapes, offsets, start = [], [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        shapes.append(((n_in, n_out), (n_out,)))
        offsets.append((start, start + n_in * n_out, start + n_in * n_out + n_out))
        start += n_in * n_out + n_out
    return tuple(shapes), tuple(offsets), start


# ---------------------------------------------------------------------------------------
# The math: pure functions of theta, standard array API only.


def unpack(spec: NetworkSpec, theta) -> list:
    """Per-layer ``(W, b)`` of shapes ((n_in, n_out), (n_out,)) from the flat ``theta``.

    Slices and a C-order reshape of a contiguous vector: views, not copies, on the
    libraries that have views.

    Parameters
    ----------
    spec : NetworkSpec
        The structure that fixes the layout of ``theta``.
    theta : array, shape (n_parameters,)
        The flat parameters ``[W1 row-major, b1, W2, b2, ...]``.

    Returns
    -------
    list of (array, array)
        ``(W, b)`` per layer, first to last: ``W`` of shape (n_in, n_out), ``b`` of
        shape (n_out,).
    """
    xp = array_namespace(theta)
    layers = []
    for ((n_in, n_out), _), (w0, b0, b1) in zip(spec.shapes, spec.offsets):
        layers.append((xp.reshape(theta[w0:b0], (n_in, n_out)), theta[b0:b1]))
    return layers


def _affine(A, W, b):
    """A @ W + b without a second (m, n_out) temporary.

    ``+=`` is the standard's in-place operator: NumPy, CuPy, PyTorch and
    array-api-strict add into the fresh matmul result; JAX and Dask, whose arrays have
    no in-place form, rebind the name to a new array.  Safe either way because the
    matmul result is a temporary nothing else refers to.
    """
    Z = A @ W
    Z += b
    return Z


def forward(spec: NetworkSpec, theta, X, *, keep: bool = False):
    """Forward pass over the whole batch.

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    keep : bool
        Also return every layer's activations (for back-propagation).

    Returns
    -------
    Z : array, shape (m, n_outputs)
        Output pre-activations (logits).
    A : array, shape (m, n_outputs)
        Output activations.
    activations : list of arrays
        ``[X, A1, ..., A_{L-1}]`` (only with ``keep=True``): the inputs of each layer.
    """
    return _forward(spec, unpack(spec, theta), X, keep)


def _forward(spec: NetworkSpec, layers: list, X, keep: bool):
    """:func:`forward` on already unpacked ``(W, b)`` layers (back-propagation needs them too)."""
    A = X
    inputs = []
    activation = spec.activation
    for W, b in layers[:-1]:
        inputs.append(A)
        Z = _affine(A, W, b)  # fresh: the activation may overwrite it
        A = activation.inplace(Z) if activation.inplace is not None else None
        if A is None:
            A = activation.function(Z)
    W, b = layers[-1]
    inputs.append(A)
    Z = _affine(A, W, b)
    out = spec.output.function(Z)
    return (Z, out, inputs) if keep else (Z, out)


def column(weight):
    """Per-sample weights (m,) or (m, 1) -> a column (m, 1) that broadcasts over outputs.

    Parameters
    ----------
    weight : array, shape (m,) or (m, 1)
        Per-sample weights.

    Returns
    -------
    array, shape (m, 1)
        The same values as a column (a reshape: a view where the library has views).
    """
    xp = array_namespace(weight)
    return xp.reshape(weight, (-1, 1))


def data_loss_and_grad(spec: NetworkSpec, theta, X, Y, weight=None, scale=None, *, out=None):
    """The data term of the loss and its gradient, *summed* over the samples of X.

    No 1/m and no penalty: sums over row blocks add up exactly, so a full-batch
    gradient can be assembled chunk by chunk (Dask) and then finished by
    :func:`finish`.

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
        Targets, already one-hot for classification.
    weight : array, shape (m,) or (m, 1), optional
        Per-sample weights w_i >= 0 (None: all 1).  The sums become
        sum_i w_i L_i and its gradient.
    scale : float or 0-d array, optional
        Multiply the loss and gradient by this (1/m for the mean).  It is applied to
        the output delta, an (m, n_outputs) array, so the mean costs nothing extra,
        instead of a pass over the whole gradient vector afterwards.
    out : array, shape (n_parameters,), optional
        A buffer of theta's dtype and device to write the gradient into (a training
        loop reuses one for every step).  Used on the libraries that can write into an
        array (NumPy, CuPy, PyTorch: :func:`bpnet_xp.backend.inplace_namespace`), where
        each layer's products go straight into their place in the flat vector instead
        of into temporaries that are then concatenated; ignored elsewhere (JAX, Dask,
        array-api-strict), where a new vector is returned as without it.

    Returns
    -------
    loss_sum : 0-d array
    grad_sum : array, shape (n_parameters,)
    """
    xp = array_namespace(theta, X, Y)
    lib = None if out is None else _backend.inplace_namespace(out)
    if lib is not None and tuple(out.shape) != (spec.n_parameters,):
        raise ValueError(f"out must have shape ({spec.n_parameters},), got {tuple(out.shape)}")
    targets = None if lib is None else unpack(spec, out)  # (dW, db) views of the buffer
    loss_sum, grads = layer_loss_and_grad(spec, unpack(spec, theta), X, Y, weight, scale, targets=targets, xp=xp)
    if targets is not None:
        return loss_sum, out
    return loss_sum, xp.concat([part for dW, db in grads for part in (xp.reshape(dW, (-1,)), db)])


def layer_loss_and_grad(spec: NetworkSpec, layers, X, Y, weight=None, scale=None, *, targets=None, xp=None):
    """:func:`data_loss_and_grad` on per-layer parameters, the gradient per layer too.

    What the flat form is built on, and what a compiled training epoch calls directly
    (:func:`bpnet_xp.sources.whole_step`): with each layer's ``W`` an array of its own,
    the matmuls read it in place and each layer's gradient stays its own array, where a
    flat ``theta`` costs, under XLA, a copy of every ``W`` sliced out of it and a copy
    of the gradient concatenated into one vector, at every step.

    Parameters
    ----------
    spec : NetworkSpec
    layers : sequence of (array, array)
        ``(W, b)`` per layer, of shapes ((n_in, n_out), (n_out,)) (:func:`unpack`).
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
        Targets, already one-hot for classification.
    weight : array, shape (m,) or (m, 1), optional
        Per-sample weights, as in :func:`data_loss_and_grad`.
    scale : float or 0-d array, optional
        As in :func:`data_loss_and_grad`.
    targets : list of (array, array), optional
        ``(dW, db)`` per layer to write the gradient into, on a library that writes in
        place (:func:`bpnet_xp.backend.inplace_namespace`); None: new arrays.
    xp : namespace, optional
        The array namespace of ``X`` (looked up when absent).

    Returns
    -------
    loss_sum : 0-d array
    grads : list of (array, array)
        ``(dW, db)`` per layer, first to last, shaped like ``layers`` (``targets``
        itself when given).
    """
    xp = array_namespace(X, Y) if xp is None else xp
    Z, A, inputs = _forward(spec, layers, X, keep=True)
    w = None if weight is None else column(weight)
    loss_sum = spec.loss.value(Z, A, Y) if w is None else spec.loss.value(Z, A, Y, w)

    D = output_delta(spec.loss, spec.output, A, Y)  # dJ/dZ of the output layer, (m, n_out)
    if w is not None:
        # Each parameter's gradient is linear in each row of D (through the sums over
        # rows below), so weighting the rows here weights every sample's whole gradient.
        D = D * w
    if scale is not None:
        # The same linearity: scaling D scales every gradient entry.
        D = D * scale
        loss_sum = loss_sum * scale
    lib = None if targets is None else _backend.inplace_namespace(targets[0][0])
    grads = [None] * len(layers)
    for layer in range(len(layers) - 1, -1, -1):
        W, _ = layers[layer]
        A_in = inputs[layer]
        # A_in.T @ D: matmul reads the transposed operand through strides; no copy is made.
        if targets is None:
            grads[layer] = (A_in.T @ D, xp.sum(D, axis=0))
        else:
            dW, db = grads[layer] = targets[layer]
            lib.matmul(A_in.T, D, out=dW)
            lib.sum(D, axis=0, out=db)
        if layer > 0:
            D = D @ W.T
            D *= spec.activation.derivative(A_in)  # in place into the fresh product (see _affine)
    return loss_sum, grads


def penalty_and_grad(spec: NetworkSpec, theta, m):
    """L2 penalty (l2 / (2m)) * sum(W**2) over weights only, and its gradient (l2/m) W.

    Biases are not penalised: shrinking them towards zero does not reduce the
    network's capacity, it only biases the fit.  Their entries of the gradient are 0.

    Parameters
    ----------
    spec : NetworkSpec
        The structure; ``spec.l2`` is the penalty's strength.
    theta : array, shape (n_parameters,)
        The flat parameters.
    m : int, float or 0-d array
        The number of samples, or the sum of the sample weights with weights.

    Returns
    -------
    penalty : 0-d array
        ``(l2 / (2m)) * sum(W**2)`` over all layers' weights.
    grad : array, shape (n_parameters,)
        Its gradient, laid out like ``theta``: ``(l2/m) W`` at the weights, 0 at the biases.
    """
    xp = array_namespace(theta)
    layers = unpack(spec, theta)
    penalty, weight_grads = layer_penalty_and_grad(spec, layers, m, xp=xp)
    parts = []
    for dW, (_, b) in zip(weight_grads, layers):
        parts += [xp.reshape(dW, (-1,)), xp.zeros_like(b)]
    return penalty, xp.concat(parts)


def layer_penalty_and_grad(spec: NetworkSpec, layers, m, *, xp=None):
    """:func:`penalty_and_grad` on per-layer parameters: the penalty and each ``W``'s gradient.

    Parameters
    ----------
    spec : NetworkSpec
        The structure; ``spec.l2`` is the penalty's strength.
    layers : sequence of (array, array)
        ``(W, b)`` per layer (:func:`unpack`).
    m : int, float or 0-d array
        The number of samples, or the sum of the sample weights with weights.
    xp : namespace, optional
        The array namespace of the parameters (looked up when absent).

    Returns
    -------
    penalty : 0-d array
        ``(l2 / (2m)) * sum(W**2)`` over all layers' weights.
    weight_grads : list of arrays
        ``(l2/m) W`` per layer, shape (n_in, n_out); the biases' gradient is 0 (not given).
    """
    xp = array_namespace(layers[0][0]) if xp is None else xp
    scale = spec.l2 / m
    total, grads = 0.0, []
    for W, _ in layers:
        total = total + xp.sum(W * W)
        grads.append(scale * W)
    return 0.5 * scale * total, grads


def finish(spec: NetworkSpec, theta, loss_sum, grad_sum, m):
    """Turn summed data terms into the mean loss and add the L2 penalty.

    The second half of a chunked evaluation: the sums of :func:`data_loss_and_grad`
    over row blocks (Dask), added up, become the mean loss and gradient of the whole
    data that :func:`loss_and_grad` computes in one pass (equal up to rounding).

    Parameters
    ----------
    spec : NetworkSpec
        The structure; ``spec.l2`` is the penalty's strength.
    theta : array, shape (n_parameters,)
        The flat parameters (for the penalty).
    loss_sum : 0-d array
        The data loss summed over the samples (``scale=None`` in :func:`data_loss_and_grad`).
    grad_sum : array, shape (n_parameters,)
        Its gradient, summed the same way.
    m : int, float or 0-d array
        The number of samples, or the sum of the sample weights when the sums are weighted.

    Returns
    -------
    loss : 0-d array
        ``loss_sum / m`` plus the L2 penalty.
    grad : array, shape (n_parameters,)
        ``grad_sum / m`` plus the penalty's gradient.
    """
    if spec.l2 == 0:
        return loss_sum / m, grad_sum / m
    penalty, penalty_grad = penalty_and_grad(spec, theta, m)
    return loss_sum / m + penalty, grad_sum / m + penalty_grad


def _total_weight(X, weight):
    """What the data term is divided by: m without weights, sum(w) with them (0-d array)."""
    if weight is None:
        return X.shape[0]
    xp = array_namespace(weight)
    return xp.sum(weight)


def loss_and_grad(spec: NetworkSpec, theta, X, Y, weight=None):
    """Mean loss plus L2 penalty, and its gradient with respect to theta.

    J(theta) = (1/m) sum_i L(h(x_i), y_i) + (l2 / (2m)) sum_layers sum(W**2)

    With sample weights w, m becomes S = sum_i w_i and each L_i is multiplied by w_i:
    J(theta) = (1/S) sum_i w_i L_i + (l2 / (2S)) sum(W**2) (scikit-learn's MLP
    convention; all weights 1 give the classic cost, integer weights the cost of
    the rows repeated).

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
    weight : array, shape (m,), optional
        Non-negative per-sample weights, not all zero (None: all 1).

    Returns
    -------
    loss : 0-d array
    grad : array, shape (n_parameters,)
    """
    total = _total_weight(X, weight)
    loss, grad = data_loss_and_grad(spec, theta, X, Y, weight, scale=1 / total)
    if spec.l2 == 0:
        return loss, grad
    penalty, penalty_grad = penalty_and_grad(spec, theta, total)
    return loss + penalty, grad + penalty_grad


def loss_value(spec: NetworkSpec, theta, X, Y, weight=None):
    """Mean loss plus L2 penalty, without the backward pass (weighted as :func:`loss_and_grad`).

    Parameters
    ----------
    spec : NetworkSpec
        The structure of the network.
    theta : array, shape (n_parameters,)
        The flat parameters.
    X : array, shape (m, n_inputs)
        Inputs.
    Y : array, shape (m, n_outputs)
        Targets, already one-hot for classification.
    weight : array, shape (m,), optional
        Non-negative per-sample weights, not all zero (None: all 1).

    Returns
    -------
    0-d array
        J(theta), the same value as the loss of :func:`loss_and_grad`.
    """
    m = _total_weight(X, weight)
    Z, A = forward(spec, theta, X)
    data = spec.loss.value(Z, A, Y) if weight is None else spec.loss.value(Z, A, Y, column(weight))
    value = data / m
    if spec.l2 == 0:
        return value
    return value + penalty_and_grad(spec, theta, m)[0]


# ---------------------------------------------------------------------------------------
# The step plan: what a training loop resolves once per fit instead of once per step.


class _Kernels(NamedTuple):
    """The spec's functions with the namespace (and the native sum) bound once per fit."""

    hidden: object  # z -> a, written into the fresh z where the activation can (else a new array)
    hidden_function: object  # z -> a, new array (when ``hidden`` returned None)
    derivative: object  # a -> da/dz
    output: object  # z -> a of the output layer (z is kept: the loss reads the logits)
    value: object  # (z, a, y[, w]) -> summed loss
    delta: object  # (a, y) -> dL/dz, None for the canonical pair (exactly a - y)


def _bind(fn, **names):
    """``fn`` with those of the keywords ``names`` that its signature has bound.

    The registry's functions take ``xp`` (and the losses ``total``); a user's own
    :class:`~bpnet_xp.activations.Activation` or :class:`~bpnet_xp.losses.Loss` that does
    not is called as it is.
    """
    if fn is None:
        return None
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return fn
    given = {key: value for key, value in names.items() if key in parameters}
    return functools.partial(fn, **given) if given else fn


def _kernels(spec: NetworkSpec, xp, total) -> _Kernels:
    activation, output, loss = spec.activation, spec.output, spec.loss
    function = _bind(activation.function, xp=xp)
    hidden = function if activation.inplace is None else _bind(activation.inplace, xp=xp)
    delta = None
    if output.name != loss.canonical_output:
        gradient, slope = loss.gradient, _bind(output.derivative, xp=xp)

        def delta(a, y):
            return gradient(a, y) * slope(a)  # output_delta's chain rule

    return _Kernels(hidden, function, _bind(activation.derivative, xp=xp), _bind(output.function, xp=xp),
                    _bind(loss.value, xp=xp, total=total), delta)


def batch_plan(spec: NetworkSpec, theta, m_total):
    """The mini-batch loss and gradient with everything but the math resolved once.

    :func:`bpnet_xp.sources.batch_loss_and_grad` with the gradient written into one
    buffer, on the libraries that write in place (NumPy, CuPy, PyTorch): the namespace,
    the native library, the (dW, db) views of the buffer, the kernels of the spec (with
    the namespace bound: no ``array_namespace`` call inside a step) and the penalty's
    scale are looked up here, once, so that a step of a small network (batch 1,
    64-25-10) is the arithmetic and little else.  Array methods (``reshape``) and the
    native reductions (``numpy.add.reduce``) replace NumPy's Python wrappers of the
    same operations.  The same operations in the same order as the generic path, so the
    same bits (tests/test_speed_paths.py compares them).

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
        Any parameter vector of the fit (its library, dtype and device are used).
    m_total : int or float
        Rows of the training set, or its total weight: the penalty's divisor.

    Returns
    -------
    callable or None
        ``run(theta, Xb, Yb, wb=None) -> (loss, grad)``, ``grad`` the plan's buffer of
        shape (n_parameters,) (overwritten by the next call); None where the library
        cannot write into arrays (JAX, Dask, array-api-strict), which keep the generic
        (compiled) path.
    """
    lib = _backend.inplace_namespace(theta)
    if lib is None:
        return None
    xp = array_namespace(theta)
    buffer = lib.empty_like(theta)
    targets = unpack(spec, buffer)  # (dW, db) views, fixed for the whole fit
    penalty_scale = None if spec.l2 == 0 else spec.l2 / m_total
    total_of = _backend.native_sum(lib)
    k = _kernels(spec, xp, functools.partial(total_of, axis=None))
    hidden, function, derivative, output, value, delta = k
    views = _views(spec)
    backward = tuple((layer, targets[layer], layer > 0) for layer in range(len(targets) - 1, -1, -1))
    matmul = lib.matmul
    activate, mask = _hidden_steps(spec, lib, hidden, function, derivative)

    def run(theta, X, Y, weight=None):
        layers = views(theta)
        A, inputs = X, []
        for W, b in layers[:-1]:
            inputs.append(A)
            A = activate(A @ W, b)
        W, b = layers[-1]
        inputs.append(A)
        Z = A @ W
        Z += b
        A = output(Z)
        if weight is None:
            loss_sum = value(Z, A, Y)
            D = A - Y if delta is None else delta(A, Y)
            scale = 1 / X.shape[0]
            D *= scale  # D is fresh: in place, the same product as D * scale
        else:
            w = weight.reshape((-1, 1))
            loss_sum = value(Z, A, Y, w)
            D = (A - Y if delta is None else delta(A, Y)) * w
            scale = 1 / _backend_weight_sum(xp, weight)
            D = D * scale
        loss_sum = loss_sum * scale
        summed = False  # whether the mask below already wrote this layer's bias gradient
        for layer, (dW, db), more in backward:
            A_in = inputs[layer]
            matmul(A_in.T, D, out=dW)
            if not summed:
                total_of(D, 0, out=db)
            if more:
                D, summed = mask(D @ layers[layer][0].T, A_in, targets[layer - 1][1])
        if penalty_scale is None:
            return loss_sum, buffer
        total = 0.0
        for (W, _), (dW, _) in zip(layers, targets):
            total = total + total_of(W * W, axis=None)
            dW += penalty_scale * W  # the penalty's gradient; the biases' entries get + 0
        return loss_sum + 0.5 * penalty_scale * total, buffer

    return run


def _hidden_steps(spec: NetworkSpec, lib, hidden, function, derivative):
    """``(activate(Z, b) -> A, mask(D, A, db) -> (D, summed))`` for the hidden layers of a
    step plan.

    ``activate`` adds the bias to a fresh product ``Z = A @ W`` and applies the activation
    (both in place where the library writes into arrays); ``mask`` multiplies the fresh
    error ``D`` by the activation's derivative at ``A``, in place, and says whether it also
    wrote the column sums of the result (the bias gradient of that layer) into ``db``.  For
    ReLU on NumPy with Numba (:func:`bpnet_xp.backend.fused_relu`) each is one pass instead
    of two and four, the sums included: the same operations, the same bits.
    """
    fused = _backend.fused_relu(lib, spec.n_parameters) if spec.activation.function is relu else None

    def activate(Z, b):
        if fused is not None and Z.dtype == b.dtype:
            return fused[0](Z, b)
        Z += b  # in place into the fresh product (see _affine)
        A = hidden(Z)
        return function(Z) if A is None else A

    def mask(D, A, db):
        if fused is not None and D.dtype == A.dtype == db.dtype:
            return fused[1](D, A, db), True
        D *= derivative(A)
        return D, False

    return activate, mask


def _views(spec: NetworkSpec):
    """``views(theta) -> [(W, b), ...]``: the layers' views of a native array (NumPy, CuPy,
    PyTorch), by its ``reshape`` method rather than a namespace's Python wrapper; the
    views of the last theta are kept, and given again for the same buffer."""
    pairs = tuple((shape, (w0, b0, b1)) for ((shape, _), (w0, b0, b1)) in zip(spec.shapes, spec.offsets))
    last = [None, None]  # the theta viewed last, and its views

    def views(theta):
        if theta is last[0]:
            return last[1]
        layers = [(theta[w0:b0].reshape(shape), theta[b0:b1]) for shape, (w0, b0, b1) in pairs]
        last[0], last[1] = theta, layers
        return layers

    return views


def _backend_weight_sum(xp, weight):
    """sum(w), replaced by 1 where it is 0 (as :func:`bpnet_xp.sources.batch_loss_and_grad`)."""
    total = xp.sum(weight)
    return xp.where(total > 0, total, xp.ones_like(total))
