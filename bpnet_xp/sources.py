"""Batch sources: where the mini-batches of an epoch come from.

A source says, for the one mini-batch loop of :mod:`bpnet_xp.training`, which batches
an epoch visits (:meth:`batches`), how a batch's loss and gradient are evaluated
(:meth:`evaluate`), what the epoch's summed loss is divided by (``epoch_weight``), and
how to check the parameters after the last update (:meth:`finite_at`) or pick the
parameters to fall back to after a non-finite epoch (:meth:`fallback`):

* :class:`MemorySource`: arrays already on the device.  Each epoch draws one
  permutation from the seeded host ``numpy.random.Generator``, moves it to the device
  and takes its batches with ``xp.take`` (the full batch neither shuffles nor gathers);
  the same seed gives the same batches on every backend.
* :class:`ChunkStream`: a row-chunked Dask array, pulled to the client one chunk at a
  time in a seeded order, its rows shuffled and cut into batches.
* :class:`FullBatchObjective`: one evaluation of a full-batch objective per epoch (the
  Dask map-reduce :class:`~bpnet_xp.dask.DaskObjective`).

:func:`batch_rows` is the one rule for the size of a batch.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from array_api_compat import array_namespace

from .backend import inplace_namespace, scan
from .config import optimizer_info
from .dask import ChunkFeed
from .network import (batch_plan, data_loss_and_grad, layer_loss_and_grad, layer_penalty_and_grad, loss_value,
                      penalty_and_grad, unpack)
from .optimizers import apply_updates, update_with

__all__ = [
    "batch_rows",
    "random_generator",
    "batch_loss_and_grad",
    "MemorySource",
    "ChunkStream",
    "FullBatchObjective",
]


def batch_rows(batch_size, optimizer: str, m: int) -> int:
    """Rows per mini-batch: the one batch-size rule.

    Parameters
    ----------
    batch_size : "auto", None or int
        "auto" is the optimizer's default of :data:`bpnet_xp.config.OPTIMIZERS` (the full
        batch for "gd", at most 200 rows for "sgd"/"adam"); None is the full batch.
    optimizer : str
    m : int
        Rows of the training data.

    Returns
    -------
    int
        In [1, m].
    """
    if batch_size == "auto":
        batch_size = optimizer_info(optimizer).batch_size
    return m if batch_size is None else min(int(batch_size), m)


def random_generator(seed, network_seed) -> np.random.Generator:
    """The host generator of the validation split and the batch order.

    ``seed=None`` derives a stream from the network's seed (a child of it, not the
    stream the initial weights were drawn from): the same network seed gives the same
    batch order on every backend.  A Generator is used as it is (and advanced).

    Parameters
    ----------
    seed : None, int or numpy.random.Generator
        The fit's own seed; None derives the stream from ``network_seed``.
    network_seed : None, int or numpy.random.Generator
        The network's seed (used only when ``seed`` is None); None as well gives an
        unseeded generator, a Generator is used as it is.

    Returns
    -------
    numpy.random.Generator
        ``seed`` or ``network_seed`` itself when it is a Generator (shared, advanced by
        the caller's draws), else a new generator.
    """
    if seed is None:
        if network_seed is None:
            return np.random.default_rng()
        if isinstance(network_seed, np.random.Generator):
            return network_seed
        return np.random.default_rng(np.random.SeedSequence(int(network_seed), spawn_key=(1,)))
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(int(seed))


def _weight_sum(weight):
    """sum(w) as a 0-d array, replaced by 1 where it is 0.

    A batch whose rows all have weight 0 has a data term and gradient of exactly 0;
    dividing by 1 keeps them 0 instead of 0/0 = NaN, so the batch moves theta by the
    penalty alone.
    """
    xp = array_namespace(weight)
    total = xp.sum(weight)
    return xp.where(total > 0, total, xp.ones_like(total))


def batch_loss_and_grad(spec, theta, Xb, Yb, m_total, wb=None, out=None):
    """Mini-batch estimate of J and its gradient.

    The data term is the (weighted) mean over the batch; the L2 penalty uses the whole
    training set, (l2 / (2 m)) sum(W**2), so every batch estimates the objective J that
    the full-batch solvers minimise (a penalty scaled by the batch would regularise
    m / batch_size times harder); on the full batch it is exactly
    :func:`bpnet_xp.network.loss_and_grad`.

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    Xb : array, shape (b, n_inputs)
    Yb : array, shape (b, n_outputs)
    m_total : int or float
        Rows of the training set, or its total weight with ``wb``.
    wb : array, shape (b,), optional
        Per-sample weights: the data term is sum_i w_i L_i / sum_i w_i.
    out : array, shape (n_parameters,), optional
        Where the gradient is written, on libraries that write in place.

    Returns
    -------
    loss : 0-d array
    grad : array, shape (n_parameters,)
    """
    mb = Xb.shape[0] if wb is None else _weight_sum(wb)
    # The 1/mb is applied to the output delta inside (an (mb, K) array), not to the gradient.
    loss, grad = data_loss_and_grad(spec, theta, Xb, Yb, wb, scale=1 / mb, out=out)
    if spec.l2 == 0:
        return loss, grad
    penalty, penalty_grad = penalty_and_grad(spec, theta, m_total)
    grad += penalty_grad  # grad is this call's own (fresh, or the buffer): no copy needed
    return loss + penalty, grad


def split_pieces(spec, vectors):
    """Flat vectors laid out like theta, cut into per-layer pieces ``(W1, b1, W2, b2, ...)``.

    What :meth:`MemorySource.compiled_epoch` carries through an epoch instead of the
    flat theta and optimizer state (see :func:`whole_step`); :func:`join_pieces` puts
    them back together.

    Parameters
    ----------
    spec : NetworkSpec
    vectors : tuple of arrays, each of shape (n_parameters,)
        Theta and the optimizer state's vectors.

    Returns
    -------
    tuple of tuples of arrays
        For each vector, its pieces: ``W`` of shape (n_in, n_out), ``b`` of shape (n_out,).
    """
    return tuple(tuple(part for layer in unpack(spec, v) for part in layer) for v in vectors)


def join_pieces(pieces):
    """The flat vectors of :func:`split_pieces`' pieces: the inverse of the split.

    Parameters
    ----------
    pieces : tuple of tuples of arrays
        For each vector, its per-layer pieces ``(W1, b1, ...)``.

    Returns
    -------
    tuple of arrays, each of shape (n_parameters,)
    """
    xp = array_namespace(pieces[0][0])
    return tuple(xp.concat([xp.reshape(p, (-1,)) for p in parts]) for parts in pieces)


def _piece_state(state, i: int):
    """The optimizer state of piece ``i``: each per-parameter field (a tuple of pieces) -> its piece."""
    return type(state)(*(field[i] if isinstance(field, tuple) else field for field in state))


def _update_pieces(kernel, grads, state, scalars):
    """The optimizer's rule on each piece: ``(updates per piece, state of pieces)``.

    The kernels (sgd, momentum, nesterov, adam) are elementwise (every entry of the
    update and of the new state depends on the same entry of the gradient and the
    state, and on the scalars only), so the rule applied piece by piece is the rule
    applied to the flat vector, entry for entry.
    """
    updates, states = [], []
    for i, grad in enumerate(grads):
        update, new = update_with(kernel, grad, _piece_state(state, i), scalars)
        updates.append(update)
        states.append(new)
    fields = (tuple(new[j] for new in states) if isinstance(field, tuple) else states[0][j]
              for j, field in enumerate(state))
    return updates, type(state)(*fields)


def _step_on_pieces(spec, m_total, kernel, pieces, state, X, Y, index, scalars):
    """One step on the per-layer pieces: gather, loss and gradient, the rule, ``theta + updates``."""
    xp = array_namespace(X)
    Xb, Yb = (X, Y) if index is None else (xp.take(X, index, axis=0), xp.take(Y, index, axis=0))
    layers = list(zip(pieces[0::2], pieces[1::2]))
    loss, grads = layer_loss_and_grad(spec, layers, Xb, Yb, scale=1 / Xb.shape[0])
    grads = [part for layer in grads for part in layer]
    if spec.l2 != 0:
        penalty, weight_grads = layer_penalty_and_grad(spec, layers, m_total)
        loss = loss + penalty
        for layer, dW in enumerate(weight_grads):
            grads[2 * layer] = grads[2 * layer] + dW  # the biases' entries get + 0: left as they are
    updates, state = _update_pieces(kernel, grads, state, scalars)
    return tuple(apply_updates(p, u) for p, u in zip(pieces, updates)), state, loss


def whole_step(spec, m_total, kernel, size, pieces, state, total, X, Y, order, start, scalars):
    """One training step as one function: the batch's rows, its loss and gradient, the update.

    What :meth:`MemorySource.compiled_epoch` compiles (``jax.jit``, with ``spec``,
    ``m_total``, ``kernel`` and ``size`` static, ``pieces`` and ``state`` donated): the
    generic path's operations (``xp.take``, the loss and gradient of
    :func:`batch_loss_and_grad`, the optimizer's rule with operations that allocate,
    ``theta + updates``) traced once.  Measured on XLA's CPU (W1, 784-256-128-10,
    batch 128, against a natively jitted step): with the flat theta, every step copied
    each ``W`` out of theta before its matmul and concatenated the layers' gradients
    into one vector (1.1-1.3x the native step; 784-1024-1024-10: erratic, up to 4x);
    on the per-layer pieces of :func:`split_pieces` it is 0.95-1.0x.  The batch's rows
    are sliced out of the epoch's order here, and its loss added to the epoch's total
    here, not by three more calls to the device per step (~55 us of a 1.5 ms step).

    Parameters
    ----------
    spec : NetworkSpec
    m_total : int
        Rows of the training set (the penalty's divisor).
    kernel : callable
        The optimizer's ``kernel(ops, grad, state, scalars)``, elementwise (sgd, adam).
    size : int
        Rows of the batch.
    pieces : tuple of arrays
        Theta's per-layer pieces ``(W1, b1, ...)`` (:func:`split_pieces`).
    state : NamedTuple
        The optimizer's state, each per-parameter vector as a tuple of pieces (its count
        is not used by the kernels' arithmetic).
    total : 0-d array
        The epoch's summed loss so far (loss times rows, per batch).
    X : array, shape (m, n_inputs)
        The training inputs, on the device.
    Y : array, shape (m, n_outputs)
        The training targets, on the device.
    order : array of ints, shape (m,), or None
        The epoch's row order (None: all of X and Y, in order; ``size`` is then m).
    start : int
        Position in ``order`` of the batch's first row.
    scalars : tuple of floats
        The optimizer's ``coefficients(count)``.

    Returns
    -------
    pieces : tuple of arrays
    state : NamedTuple
    total : 0-d array
        ``total`` plus the batch's J at the ``pieces`` given (before the update) times ``size``.
    """
    index = None
    if order is not None:
        xp = array_namespace(order)
        index = xp.take(order, xp.arange(size, dtype=order.dtype) + start)
    pieces, state, loss = _step_on_pieces(spec, m_total, kernel, pieces, state, X, Y, index, scalars)
    return pieces, state, total + loss * size


def scanned_steps(spec, m_total, kernel, pieces, state, X, Y, indices, scalars):
    """Consecutive steps of :func:`whole_step` as one loop (:func:`bpnet_xp.backend.scan`).

    What :meth:`MemorySource.compiled_epoch` compiles (``jax.jit`` of a ``jax.lax.scan``,
    ``spec``, ``m_total`` and ``kernel`` static) for the equal-sized batches of an epoch:
    one call to the device per epoch instead of one per batch.

    Parameters
    ----------
    spec, m_total, kernel, pieces, state
        As in :func:`whole_step`.
    X : array, shape (m, n_inputs)
        The training inputs, on the device.
    Y : array, shape (m, n_outputs)
        The training targets, on the device.
    indices : array of ints, shape (n_steps, b)
        The rows of each batch, in order.
    scalars : array, shape (n_steps, k)
        The optimizer's ``coefficients(count)`` of each step, in theta's dtype.

    Returns
    -------
    pieces : tuple of arrays
    state : NamedTuple
        Its count is the traced one; the caller puts back the host's int.
    losses : array, shape (n_steps,)
        Each batch's J before its update.
    """
    k = scalars.shape[1]

    def body(carry, batch):
        index, row = batch
        pieces, state, loss = _step_on_pieces(spec, m_total, kernel, *carry, X, Y, index,
                                              tuple(row[j] for j in range(k)))
        return (pieces, state), loss

    (pieces, state), losses = scan(body, (pieces, state), (indices, scalars))
    return pieces, state, losses


def _all_finite(theta) -> bool:
    xp = array_namespace(theta)
    return bool(xp.all(xp.isfinite(theta)))


class MemorySource:
    """Mini-batches of (X, Y[, W]) held on the device.

    Parameters
    ----------
    spec : NetworkSpec
    backend : Backend
        The network's backend (its ``xp``, ``asarray`` and ``compile``).
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
    W : array, shape (m,), optional
        Sample weights.
    batch_size : int
        Rows per batch, in [1, m] (see :func:`batch_rows`).
    shuffle : bool
        A new row order every epoch.
    total_weight : float, optional
        Rows, or the sum of ``W``, when the caller has it already.
    """

    #: Whether :meth:`compiled_epoch` runs the equal batches as one scan (True) or as one
    #: compiled step per batch (False; the same arithmetic); None: as the backend says
    #: (:meth:`~bpnet_xp.backend.Backend.scan_pays`).
    scan_epoch = None

    def __init__(self, spec, backend, X, Y, W, batch_size: int, shuffle: bool, total_weight=None):
        self.spec, self.backend, self.X, self.Y, self.W = spec, backend, X, Y, W
        self.m = X.shape[0]
        self.batch_size = batch_size
        # The full batch has one order only: no permutation to draw, no rows to gather.
        self.shuffle = bool(shuffle) and batch_size < self.m
        self.n_batches = -(-self.m // batch_size)
        # The penalty's divisor and the epoch loss's: rows, or their total weight (one read).
        if total_weight is None:
            total_weight = self.m if W is None else float(backend.xp.sum(W))
        self.epoch_weight = total_weight
        # Compiled where that pays (jax.jit; the spec and m_total are static).
        self._loss_and_grad = backend.compile(batch_loss_and_grad, static_argnums=(0, 4))
        self._grad_buffer = None
        self._plan = None  # network.batch_plan, built at the first batch (it needs theta)
        self._whole_step = None  # whole_step compiled (JAX), built at the first compiled epoch
        self._last = (X, Y)

    def _buffer(self, theta):
        """One gradient vector for every batch where the library writes in place (None
        elsewhere): the optimizers read each gradient before the next is computed, and
        the layers' products land in it instead of being concatenated."""
        if self._grad_buffer is None:
            lib = inplace_namespace(theta)
            self._grad_buffer = (None if lib is None else lib.empty_like(theta),)
        return self._grad_buffer[0]

    def batches(self, rng: np.random.Generator):
        """The epoch's batches ``(Xb, Yb, Wb)`` (``Wb`` None without weights).

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws the epoch's row permutation (one draw per epoch, only when shuffling).

        Yields
        ------
        Xb : array, shape (b, n_inputs)
        Yb : array, shape (b, n_outputs)
        Wb : array, shape (b,), or None
            ``b`` is ``batch_size``, smaller for the last batch.
        """
        xp, X, Y, W, m = self.backend.xp, self.X, self.Y, self.W, self.m
        if self.shuffle:
            order = self.backend.asarray(rng.permutation(m))  # the one host->device copy of the epoch
        for lo in range(0, m, self.batch_size):
            hi = min(lo + self.batch_size, m)
            if self.shuffle:
                index = order[lo:hi]
                batch = (xp.take(X, index, axis=0), xp.take(Y, index, axis=0),
                         None if W is None else xp.take(W, index, axis=0))
            elif lo == 0 and hi == m:
                batch = (X, Y, W)
            else:
                batch = (X[lo:hi, ...], Y[lo:hi, ...], None if W is None else W[lo:hi])
            self._last = batch[:2]
            yield batch

    def compiled_epoch(self, optimizer):
        """``run(theta, state, rng, history) -> (theta, state, loss)``: one epoch compiled,
        where the backend compiles (JAX) and the data have no sample weights; None
        elsewhere (the generic loop of :mod:`bpnet_xp.training`).

        Where the loop pays (:attr:`scan_epoch`), the equal-sized batches run as one
        compiled call (:func:`scanned_steps`), the permutation drawn on the host as in
        :meth:`batches` and passed in with every step's coefficients; every other batch
        (the smaller last one, the full batch, all of them without the scan) is one
        compiled :func:`whole_step`.  The same batches in the same order, the same loss
        per epoch.

        Parameters
        ----------
        optimizer : Optimizer
            The stochastic optimizer of the fit (its ``kernel`` and ``coefficients``);
            one without a ``kernel`` gets None.

        Returns
        -------
        callable or None
            ``run(theta, state, rng, history)``: ``theta`` of shape (n_parameters,), the
            optimizer's ``state``, the host generator of the batch order, and the
            :class:`~bpnet_xp.history.History` whose ``n_evaluations`` it advances; it
            returns the new theta and state and the epoch's loss (a Python float, the
            batches' losses weighted by their rows over ``epoch_weight``).  None where
            nothing is compiled or the data have sample weights.
        """
        if not self.backend.compiles or self.W is not None or getattr(optimizer, "kernel", None) is None:
            return None
        if self._whole_step is None:
            compile = self.backend.compile
            # The pieces and the state are donated: each step's outputs replace its inputs,
            # and nothing else holds them (the epoch's split made them; the theta and state
            # the caller keeps for a rollback are never donated).
            self._whole_step = (compile(whole_step, static_argnums=(0, 1, 2, 3), donate_argnums=(4, 5)),
                                compile(scanned_steps, static_argnums=(0, 1, 2), donate_argnums=(3, 4)),
                                compile(split_pieces, static_argnums=(0,)), compile(join_pieces))
        scanning = self.backend.scan_pays(self.spec.n_parameters) if self.scan_epoch is None else self.scan_epoch
        return functools.partial(self._run_compiled, optimizer.kernel, optimizer.coefficients, scanning)

    def _run_compiled(self, kernel, coefficients, scanning, theta, state, rng, history):
        """One epoch of :meth:`compiled_epoch`: theta and the state's vectors split into
        per-layer pieces once (:func:`split_pieces`), the steps on the pieces, joined back
        at the end: one copy of each vector per epoch each way, where the flat step copied
        every ``W`` and the whole gradient at every step (see :func:`whole_step`)."""
        (step, steps, split, join), spec, X, Y = self._whole_step, self.spec, self.X, self.Y
        m, size, xp, asarray = self.m, self.batch_size, self.backend.xp, self.backend.asarray
        order = rng.permutation(m) if self.shuffle else np.arange(m)
        # The epoch's one host->device copy of the row order; the steps slice it there.
        order = None if size >= m else asarray(order)
        fields = [name for name, value in zip(state._fields, state)
                  if getattr(value, "shape", None) == (spec.n_parameters,)]  # the state's vectors
        pieces, *parts = split(spec, (theta, *(getattr(state, name) for name in fields)))
        state = state._replace(**dict(zip(fields, parts)))
        count, total = state.count, xp.zeros((), dtype=theta.dtype)
        n_scan = m // size if scanning and size < m else 0  # the equal batches in the scan
        if n_scan:
            # The host's scalars of every step (the schedule's checks run here, on the host).
            rows = [coefficients(count + i) for i in range(n_scan)]
            indices = xp.reshape(order[: n_scan * size], (n_scan, size))
            pieces, state, losses = steps(spec, m, kernel, pieces, state, X, Y, indices,
                                          asarray(np.asarray(rows), dtype=theta.dtype))
            count += n_scan
            state = state._replace(count=count)  # the host's int, not the traced copy
            total = xp.sum(losses) * size
        for lo in range(n_scan * size, m, size):  # the ragged last batch; every batch without the scan
            pieces, state, total = step(spec, m, kernel, min(size, m - lo), pieces, state, total, X, Y, order, lo,
                                        coefficients(count))
            count += 1
            state = state._replace(count=count)
        theta, *parts = join((pieces, *(getattr(state, name) for name in fields)))
        state = state._replace(**dict(zip(fields, parts)))
        history.n_evaluations += self.n_batches
        last = None if order is None else order[(m - 1) // size * size:]
        self._last = (X, Y) if last is None else (xp.take(X, last, axis=0), xp.take(Y, last, axis=0))
        return theta, state, float(total / self.epoch_weight)

    def evaluate(self, theta, batch):
        """``(loss, grad, weight)`` of a batch; ``weight`` (rows or total weight) weighs its loss.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
        batch : tuple
            ``(Xb, Yb, Wb)`` as yielded by :meth:`batches`.

        Returns
        -------
        loss : 0-d array
            The batch's J (:func:`batch_loss_and_grad`).
        grad : array, shape (n_parameters,)
            Its gradient; on libraries that write in place, one buffer reused by every
            batch (read it before the next call).
        weight : int or 0-d array
            The batch's rows, or the sum of ``Wb``.
        """
        Xb, Yb, Wb = batch
        if self._plan is None:
            self._plan = (batch_plan(self.spec, theta, self.epoch_weight if self.W is not None else self.m),)
        plan = self._plan[0]
        if plan is not None:
            # The step plan: the same operations, resolved once per fit (NumPy, CuPy, PyTorch).
            loss, grad = plan(theta, Xb, Yb, Wb)
            return loss, grad, (Xb.shape[0] if Wb is None else self.backend.xp.sum(Wb))
        if Wb is None:
            loss, grad = self._loss_and_grad(self.spec, theta, Xb, Yb, self.m, out=self._buffer(theta))
            return loss, grad, Xb.shape[0]
        loss, grad = self._loss_and_grad(self.spec, theta, Xb, Yb, self.epoch_weight, Wb, self._buffer(theta))
        return loss, grad, self.backend.xp.sum(Wb)

    def finite_at(self, theta) -> bool:
        """Finite parameters with a finite loss on the last batch.

        The last batch, not the whole set: a full forward pass would cost a third of an
        epoch.  Unweighted: a last batch whose weights are all 0 would divide by 0.

        Parameters
        ----------
        theta : array, shape (n_parameters,)

        Returns
        -------
        bool
            True when every entry of ``theta`` and the loss on the last batch are finite.
        """
        Xb, Yb = self._last
        return _all_finite(theta) and math.isfinite(float(loss_value(self.spec, theta, Xb, Yb)))

    def fallback(self, start_theta, safe):
        """After an epoch with a non-finite loss: its start if J is finite there, else ``safe``.

        Parameters
        ----------
        start_theta : array, shape (n_parameters,)
            The parameters at the start of the epoch.
        safe : array, shape (n_parameters,)
            The parameters to use otherwise (the best finite ones so far).

        Returns
        -------
        array, shape (n_parameters,)
            ``start_theta`` when it and the weighted J over all the data are finite,
            else ``safe``.
        """
        if _all_finite(start_theta) and math.isfinite(
                float(loss_value(self.spec, start_theta, self.X, self.Y, self.W))):
            return start_theta
        return safe


class ChunkStream:
    """Mini-batches streamed over the row chunks of a :class:`~bpnet_xp.dask.DaskObjective`'s data.

    Each epoch visits the chunks in an order drawn from the host generator, pulls one
    chunk at a time to the client, moves it to the device with ``prepare``, shuffles its
    rows and takes batches of ``batch_size`` rows.  A batch never spans two chunks (the
    last one of a chunk may be smaller).

    Parameters
    ----------
    spec : NetworkSpec
    backend : Backend
    objective : DaskObjective
        Holds the checked X and y (``X``, ``y``, ``n_samples``, ``n_chunks``); its
        map-reduce pass checks the parameters at the end (:meth:`finite_at`).
    prepare : callable
        ``prepare(X_chunk, y_chunk) -> (X, Y)`` on the device (:meth:`MLP.prepare`).
    batch_size : int
        In [1, m).
    shuffle : bool
    """

    def __init__(self, spec, backend, objective, prepare, batch_size: int, shuffle: bool):
        self.spec, self.backend, self.objective, self.prepare = spec, backend, objective, prepare
        self.batch_size, self.shuffle = batch_size, bool(shuffle)
        self.sizes = [int(rows) for rows in objective.X.chunks[0]]
        self.n_batches = sum(-(-rows // batch_size) for rows in self.sizes)
        self.epoch_weight = objective.n_samples
        self._feed = ChunkFeed(objective.X, objective.y)

    def batches(self, rng: np.random.Generator):
        """The epoch's batches ``(Xb, Yb, None)``, chunk by chunk.

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws the chunk order and each chunk's row permutation (only when shuffling).

        Yields
        ------
        Xb : array, shape (b, n_inputs)
        Yb : array, shape (b, n_outputs)
        None
            No sample weights.
        """
        xp, size = self.backend.xp, self.batch_size
        order = rng.permutation(len(self.sizes)) if self.shuffle else np.arange(len(self.sizes))
        order = [int(c) for c in order if self.sizes[c] > 0]
        pending = self._feed.request(order[0])
        for position in range(len(order)):
            X_chunk, y_chunk = self._feed.receive(pending)
            pending = self._feed.request(order[position + 1]) if position + 1 < len(order) else None
            Xd, Yd = self.prepare(X_chunk, y_chunk)
            del X_chunk, y_chunk
            rows = Xd.shape[0]
            index = self.backend.asarray(rng.permutation(rows)) if self.shuffle else None
            for lo in range(0, rows, size):
                hi = min(lo + size, rows)
                if index is None:
                    yield Xd[lo:hi, ...], Yd[lo:hi, ...], None
                else:
                    yield xp.take(Xd, index[lo:hi], axis=0), xp.take(Yd, index[lo:hi], axis=0), None
            Xd = Yd = None  # one block on the client at a time

    def compiled_epoch(self, optimizer):
        """None: a streamed epoch runs the generic loop.

        Parameters
        ----------
        optimizer : Optimizer
            Not used.

        Returns
        -------
        None
        """
        return None

    def evaluate(self, theta, batch):
        """``(loss, grad, rows)`` of a batch.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
        batch : tuple
            ``(Xb, Yb, None)`` as yielded by :meth:`batches`.

        Returns
        -------
        loss : 0-d array
            The batch's J, its penalty over all ``n_samples`` rows.
        grad : array, shape (n_parameters,)
        rows : int
            The batch's rows.
        """
        Xb, Yb, _ = batch
        loss, grad = batch_loss_and_grad(self.spec, theta, Xb, Yb, self.epoch_weight)
        return loss, grad, Xb.shape[0]

    def finite_at(self, theta) -> bool:
        """Finite parameters with a finite J over all the chunks (one map-reduce pass).

        Parameters
        ----------
        theta : array, shape (n_parameters,)

        Returns
        -------
        bool
        """
        return _all_finite(theta) and math.isfinite(float(self.objective(theta)[0]))

    def fallback(self, start_theta, safe):
        """After an epoch with a non-finite loss: its start if J is finite there, else ``safe``.

        Parameters
        ----------
        start_theta : array, shape (n_parameters,)
            The parameters at the start of the epoch.
        safe : array, shape (n_parameters,)
            The parameters to use otherwise (the best finite ones so far).

        Returns
        -------
        array, shape (n_parameters,)
            ``start_theta`` when :meth:`finite_at` holds there, else ``safe``.
        """
        return start_theta if self.finite_at(start_theta) else safe


class FullBatchObjective:
    """One full-batch gradient step per epoch on ``objective(theta) -> (J, grad)``.

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (loss, grad)`` over all the data (a ``DaskObjective``).
    """

    n_batches = 1
    epoch_weight = 1  # the loss is J itself: summed with weight 1, divided by 1

    def __init__(self, objective):
        self.objective = objective

    def batches(self, rng: np.random.Generator):
        """One placeholder batch per epoch: the objective holds the data.

        Parameters
        ----------
        rng : numpy.random.Generator
            Not used (the full batch has one order).

        Yields
        ------
        None
            Once.
        """
        yield None

    def compiled_epoch(self, optimizer):
        """None: the map-reduce objective runs the generic loop.

        Parameters
        ----------
        optimizer : Optimizer
            Not used.

        Returns
        -------
        None
        """
        return None

    def evaluate(self, theta, batch):
        """``(J, grad, 1)``: the objective over all the data.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
        batch : None
            The placeholder of :meth:`batches`.

        Returns
        -------
        loss : 0-d array
            J at ``theta``.
        grad : array, shape (n_parameters,)
        weight : int
            1: the epoch's loss is J itself.
        """
        loss, grad = self.objective(theta)
        return loss, grad, 1

    def finite_at(self, theta) -> bool:
        """Finite parameters with a finite J (one more evaluation of the objective).

        Parameters
        ----------
        theta : array, shape (n_parameters,)

        Returns
        -------
        bool
        """
        return _all_finite(theta) and math.isfinite(float(self.objective(theta)[0]))

    def fallback(self, start_theta, safe):
        """After an epoch with a non-finite loss: always ``safe``.

        Parameters
        ----------
        start_theta : array, shape (n_parameters,)
            The parameters at the start of the epoch (J was not finite there).
        safe : array, shape (n_parameters,)
            The best finite parameters so far.

        Returns
        -------
        array, shape (n_parameters,)
            ``safe``.
        """
        # The epoch's loss is J at its start: a non-finite one means J(start) is not finite.
        return safe
