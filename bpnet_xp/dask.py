"""Data-parallel evaluation and prediction on row-chunked Dask arrays.

The loss and gradient are sums over samples, so one full-batch evaluation is a map
(``network.data_loss_and_grad`` on each row block, next to its data, in the block's
own library) and a tree reduction of small host vectors: only theta goes out and
n_parameters + 1 floats come back.  :class:`DaskObjective` is that evaluation;
:func:`predict_dask` returns lazy predictions; training runs through the one driver
in :mod:`bpnet_xp.training`.  Besides :mod:`bpnet_xp.backend`, the one module that
names Dask.  The whole story: docs/dask.md.
"""

from __future__ import annotations

import functools
import math
import sys
import uuid

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from . import metrics, validation
from .backend import is_dask_array, to_numpy
from .curvature import data_product, finish_product, normal_equations, outputs
from .network import data_loss_and_grad, finish, forward, penalty_and_grad

__all__ = [
    "is_dask_array",
    "DaskObjective",
    "ChunkFeed",
    "current_client",
    "dask_objective",
    "predict_dask",
    "make_dask_classification",
]


# ---------------------------------------------------------------------------------------
# Scheduler helpers.


def current_client():
    """The ``dask.distributed`` Client that ``dask.compute`` would use now, or None.

    None when distributed was never imported, no client exists, or the user
    picked another scheduler (``dask.config.set(scheduler="threads")``).

    Returns
    -------
    distributed.Client or None
        The default client, when it is the scheduler in use.
    """
    if "distributed" not in sys.modules:
        return None
    import dask.base
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    return client if dask.base.get_scheduler() == client.get else None


def _theta_reference(theta_host: np.ndarray, client):
    """How ``theta`` enters a task graph: a broadcast future, or a graph literal."""
    if client is not None:
        # Every worker needs theta once per evaluation: broadcast it up front instead
        # of letting the first task's worker serve it to all the others.
        return client.scatter(theta_host, broadcast=True, hash=False)
    import dask

    return dask.delayed(theta_host, name=f"bpnet-theta-{uuid.uuid4().hex}")


# ---------------------------------------------------------------------------------------
# Validation (metadata, then lazy scalar reductions computed once).


def _require_dask():
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - only reached when dask is missing
        raise ImportError("training on dask arrays needs dask: pip install 'dask[array,distributed]'") from None
    return da


def _rows_known(chunks: tuple, what: str) -> None:
    if any(isinstance(c, float) and math.isnan(c) for c in chunks):
        raise ValueError(
            f"{what} has unknown chunk sizes (NaN rows); call {what}.compute_chunk_sizes() first "
            "(it computes only the sizes, not the data)"
        )


def _check_features(X, n_inputs: int):
    """X: a 2-D numeric dask array of n_inputs columns, returned with the columns in one chunk."""
    if X.ndim == 2:
        _rows_known(X.chunks[0], "X")
    message = validation.feature_shape_error(X.shape, n_inputs, "dask array")
    if message is not None:
        raise ValueError(message)
    if np.dtype(X.dtype).kind not in "biuf":
        raise ValueError(f"X must be numeric, got dtype {X.dtype}")
    if len(X.chunks[1]) > 1:
        # A row block must hold whole samples; rechunking is lazy (no data are read here).
        X = X.rechunk({1: -1})
    return X


def _dask_labels(y, X):
    """y as a dask array cut along X's row chunks (host labels are cut here)."""
    da = _require_dask()
    if is_dask_array(y):
        return y
    if y is None:
        raise ValueError("y is required: the targets or class labels of the rows of X")
    host = np.asarray(y)
    if host.dtype.kind not in "biuf":
        raise ValueError(f"y must be numeric, got dtype {host.dtype}")
    if host.ndim == 0 or host.shape[0] != X.shape[0]:
        raise ValueError(f"y has {host.shape[0] if host.ndim else 0} samples but X has {X.shape[0]}")
    # Host labels are cut along X's row chunks so that every block pairs with its rows.
    return da.from_array(host, chunks=(X.chunks[0],) + tuple((s,) for s in host.shape[1:]))


def _targets_plan(y, X, n_outputs: int, classification: bool, loss: str | None = None):
    """Check y against X and the network: (y, TargetPlan, lazy scalar checks), as in memory."""
    y = _dask_labels(y, X)
    if y.ndim == 0:
        raise ValueError("y must be 1-D or 2-D, got a 0-d array")
    _rows_known(y.chunks[0], "y")
    if y.shape[0] == X.shape[0] and y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"y's row chunks {y.chunks[0][:4]}{'...' if len(y.chunks[0]) > 4 else ''} do not match X's "
            f"{X.chunks[0][:4]}{'...' if len(X.chunks[0]) > 4 else ''}: every row block of X needs its "
            "labels in the same block; use y = y.rechunk({0: X.chunks[0]})"
        )
    plan = validation.plan_targets(y.shape, y.dtype, n_outputs, classification, X.shape[0], loss)
    if plan.squeeze:
        y = y[:, 0]
        plan = plan._replace(squeeze=False)
    if y.ndim == 2 and len(y.chunks[1]) > 1:
        y = y.rechunk({1: -1})
    return y, plan, validation.target_checks(y, plan)


# ---------------------------------------------------------------------------------------
# What runs on a worker, next to a chunk: array API only, in the chunk's library.


def _chunk_setup(Xb, yb, theta_host, plan):
    """theta in the chunk's library and device, X in theta's dtype, Y as targets."""
    xp = array_namespace(Xb)
    where = _device(Xb)
    theta = xp.asarray(theta_host, device=where)
    if Xb.dtype != theta.dtype:
        Xb = xp.astype(Xb, theta.dtype)
    Y = None if yb is None else validation.make_targets(yb, plan, theta.dtype)
    return xp, theta, Xb, Y


def _chunk_sums(Xb, yb, theta_host, *, spec, plan):
    """[L_c, dL_c/dtheta] of one row block as a host float64 array of shape (1, n_parameters + 1)."""
    xp, theta, Xb, Y = _chunk_setup(Xb, yb, theta_host, plan)
    loss_sum, grad_sum = data_loss_and_grad(spec, theta, Xb, Y)
    terms = xp.concat([xp.reshape(loss_sum, (1,)), grad_sum])
    # Back to the host on the worker: the reduction adds small host vectors, and the
    # client needs no GPU library to read the result.
    return np.reshape(np.asarray(to_numpy(terms), dtype=np.float64), (1, -1))


def _chunk_product(Xb, yb, theta_and_v, *, spec, plan, gauss_newton):
    """The summed data term of H v (or G v) of one block, (1, n_parameters) float64;
    ``theta_and_v`` is theta and v end to end (one broadcast vector)."""
    xp, both, Xb, Y = _chunk_setup(Xb, yb, theta_and_v, plan)
    P = spec.n_parameters
    product = data_product(spec, both[:P], Xb, Y, both[P:], gauss_newton=gauss_newton)
    return np.reshape(np.asarray(to_numpy(product), dtype=np.float64), (1, -1))


def _chunk_normal(Xb, yb, theta_host, *, spec, plan):
    """[sum e^2, J^T J (row-major), J^T e] of one block (mse), (1, 1 + P^2 + P) float64."""
    xp, theta, Xb, Y = _chunk_setup(Xb, yb, theta_host, plan)
    sse, JTJ, JTe = normal_equations(spec, theta, Xb, Y)
    terms = xp.concat([xp.reshape(sse, (1,)), xp.reshape(JTJ, (-1,)), JTe])
    return np.reshape(np.asarray(to_numpy(terms), dtype=np.float64), (1, -1))


def _chunk_squares(Xb, yb, theta_host, *, spec, plan):
    """sum e^2 of one block (mse), (1, 1) float64: one forward pass."""
    xp, theta, Xb, Y = _chunk_setup(Xb, yb, theta_host, plan)
    e = outputs(spec, theta, Xb) - Y
    return np.reshape(np.asarray(to_numpy(xp.sum(e * e)), dtype=np.float64), (1, 1))


def _chunk_metrics(Xb, yb, theta_host, *, spec, plan):
    """Validation terms of one block, float64 host row: [L_c, hits] or [L_c, ss_res, sum y, sum y^2]."""
    xp, theta, Xb, Y = _chunk_setup(Xb, yb, theta_host, plan)
    Z, A = forward(spec, theta, Xb)
    parts = [xp.reshape(spec.loss.value(Z, A, Y), (1,))]
    if spec.loss.classification:
        hits = xp.sum(xp.astype(metrics.decide(A) == metrics.decide(Y), A.dtype))
        parts.append(xp.reshape(hits, (1,)))
    else:
        parts += list(metrics.regression_sums(Y, A))
    return np.reshape(np.asarray(to_numpy(xp.concat(parts)), dtype=np.float64), (1, -1))


def _predict_block(Xb, theta_host, *, spec, what):
    """Predictions of one block, in the block's library; raises, at compute, for a block
    with NaN or infinite values or values that overflow the network's dtype, as in memory."""
    xp = array_namespace(Xb)
    limit = validation.dtype_limit(xp, xp.asarray(theta_host).dtype)
    validation.raise_on(validation.read_checks(validation.feature_checks(Xb)), dtype_limit=limit)
    _, theta, Xb, _ = _chunk_setup(Xb, None, theta_host, None)
    _, A = forward(spec, theta, Xb)
    if what == "proba":
        return A
    if spec.loss.classification:
        return metrics.decide(A)
    return A[:, 0] if A.shape[1] == 1 else A


# ---------------------------------------------------------------------------------------
# The full-batch objective.


class DaskObjective:
    """J(theta) and its gradient over a row-chunked Dask array, by map-reduce.

    Calling the object with ``theta`` (an array of any backend, shape
    (n_parameters,)) returns ``(loss, grad)``: a 0-d array and an array of shape
    (n_parameters,), both of theta's library, device and dtype, equal to
    :func:`bpnet_xp.network.loss_and_grad` on the whole data.

    Parameters
    ----------
    spec : NetworkSpec
        The network structure (``net.spec``).
    X : dask array, shape (m, n_inputs)
        Chunked by rows; column chunks are merged lazily.
    y : dask array (or NumPy array), shape (m,) or (m, n_outputs)
        Class labels or targets, with the same row chunks as X.  NumPy labels are
        cut along X's row chunks (and, on a distributed cluster, sent to it once).
    n_outputs : int, optional
        Defaults to ``spec.layer_sizes[-1]``.
    classification : bool, optional
        Defaults to ``spec.loss.classification``.
    split_every : int
        Fan-in of the tree reduction.
    validate : bool
        Check shapes, finiteness and label range once, now (a few scalar
        reductions; X itself is never gathered).
    """

    def __init__(self, spec, X, y, *, n_outputs=None, classification=None, split_every: int = 8,
                 validate: bool = True):
        _require_dask()
        if not is_dask_array(X):
            raise ValueError(f"X must be a dask array, got {type(X).__module__}.{type(X).__name__}")
        self.spec = spec
        self.n_outputs = int(spec.layer_sizes[-1] if n_outputs is None else n_outputs)
        self.classification = bool(spec.loss.classification if classification is None else classification)
        if isinstance(split_every, bool) or not isinstance(split_every, (int, np.integer)) or split_every < 2:
            raise ValueError(f"split_every must be an integer >= 2, got {validation.plain(split_every)!r}")
        self.split_every = int(split_every)
        X = _check_features(X, spec.layer_sizes[0])
        host_y = y is not None and not is_dask_array(y)
        y, self.plan, checks = _targets_plan(y, X, self.n_outputs, self.classification, spec.loss.name)
        client = current_client()
        if host_y and client is not None:
            # Labels that came from the client go to the cluster once, not once per evaluation.
            y = client.persist(y)
        self.X, self.y = X, y
        self.n_samples = int(X.shape[0])
        self.n_chunks = len(X.chunks[0])
        self.n_evaluations = 0
        self._checked = None  # the computed checks, read again for theta's dtype (_check_cast)
        if validate:
            import dask

            checks.update(validation.feature_checks(X))
            (values,) = dask.compute(checks)  # one pass over the data, scalars back
            validation.raise_on(values, self.n_outputs)
            self._checked = {name: float(value) for name, value in values.items()}
        self._cast_checked: set = set()

    def _check_cast(self, theta) -> None:
        """Refuse, naming the overflow, data that do not fit the dtype of ``theta``.

        Each block is cast to theta's dtype on its worker, and theta's dtype is known
        only at the first evaluation: the extremes computed at construction are compared
        with it then (no second pass over the data), once per dtype.
        """
        dtype = str(theta.dtype)
        if self._checked is None or dtype in self._cast_checked:
            return
        xp = array_namespace(theta)
        if xp.isdtype(theta.dtype, "real floating"):
            validation.raise_on(self._checked, self.n_outputs, dtype_limit=validation.dtype_limit(xp, theta.dtype))
        self._cast_checked.add(dtype)

    # -- the graph of one evaluation ------------------------------------------------------
    def _reduce(self, function, theta, width: int):
        """Sum over chunks of ``function(X_c, y_c, theta)``, a host float64 vector of ``width``."""
        import dask
        import dask.array as da

        self._check_cast(theta)
        theta_host = np.asarray(to_numpy(theta))
        client = current_client()
        theta_ref = _theta_reference(theta_host, client)
        y_index = "i" if self.y.ndim == 1 else "ik"
        parts = da.blockwise(
            function, "ij", self.X, "ij", self.y, y_index, theta_ref, None,
            spec=self.spec, plan=self.plan,
            adjust_chunks={"i": 1, "j": width}, dtype=np.float64,
            meta=np.empty((0, 0), dtype=np.float64), concatenate=True,
            name=f"bpnet-chunk-{uuid.uuid4().hex}",
        )
        total = parts.sum(axis=0, split_every=self.split_every)
        (result,) = dask.compute(total)
        del theta_ref  # releases the broadcast copies on the workers
        return np.asarray(result, dtype=np.float64)

    def sums(self, theta) -> np.ndarray:
        """``[sum_c L_c, sum_c dL_c/dtheta]``: host float64, shape (n_parameters + 1,).

        Counts one evaluation (``n_evaluations``).

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend (read to the host and broadcast).

        Returns
        -------
        numpy.ndarray of float64, shape (n_parameters + 1,)
            The summed data loss over all rows, then its summed gradient: no mean
            taken and no L2 penalty added (:meth:`__call__` does both).
        """
        self.n_evaluations += 1
        return self._reduce(_chunk_sums, theta, self.spec.n_parameters + 1)

    def __call__(self, theta):
        xp = array_namespace(theta)
        total = self.sums(theta)
        where = _device(theta)
        loss_sum = xp.asarray(total[0], dtype=theta.dtype, device=where)
        grad_sum = xp.asarray(total[1:], dtype=theta.dtype, device=where)
        return finish(self.spec, theta, loss_sum, grad_sum, self.n_samples)

    # -- the curvature of the second-order trainers, reduced over chunks like the gradient --
    def _on_device(self, theta, host):
        xp = array_namespace(theta)
        return xp.asarray(host, dtype=theta.dtype, device=_device(theta))

    def _product(self, theta, v, gauss_newton: bool):
        xp = array_namespace(theta)
        both = xp.concat([theta, v])  # one broadcast vector: theta and v end to end
        function = functools.partial(_chunk_product, gauss_newton=gauss_newton)
        total = self._reduce(function, both, self.spec.n_parameters)
        return finish_product(self.spec, self._on_device(theta, total), v, self.n_samples)

    def hessian_vector_product(self, theta, v):
        """H v of J on the whole data (:func:`bpnet_xp.curvature.hessian_vector_product`), by map-reduce.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend.
        v : array, shape (n_parameters,)
            The direction, in theta's library, device and dtype.

        Returns
        -------
        array, shape (n_parameters,)
            The Hessian of the mean loss plus the L2 penalty times v, on theta's
            device in theta's dtype.
        """
        return self._product(theta, v, gauss_newton=False)

    def gauss_newton_vector_product(self, theta, v):
        """G v of J on the whole data, by map-reduce.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend.
        v : array, shape (n_parameters,)
            The direction, in theta's library, device and dtype.

        Returns
        -------
        array, shape (n_parameters,)
            The Gauss-Newton matrix of the mean loss plus the L2 penalty's, times v,
            on theta's device in theta's dtype
            (:func:`bpnet_xp.curvature.gauss_newton_vector_product`).
        """
        return self._product(theta, v, gauss_newton=True)

    def normal_equations(self, theta):
        """(sum e^2, J^T J, J^T e) over every chunk (mse), on theta's device; each chunk's J is
        built and dropped on its worker, so memory is P^2 per worker plus one chunk of J.
        All three are sums over the rows (no 1/m) without the L2 penalty, in theta's
        library, device and dtype.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend.

        Returns
        -------
        sse : 0-d array
            The sum of squared residuals e = outputs - Y over all rows and outputs.
        JTJ : array, shape (n_parameters, n_parameters)
            J^T J of the residuals' Jacobian J, summed over the chunks.
        JTe : array, shape (n_parameters,)
            J^T e, summed over the chunks.
        """
        P = self.spec.n_parameters
        total = self._reduce(_chunk_normal, theta, 1 + P * P + P)
        sse, JTJ, JTe = total[0], total[1:1 + P * P].reshape(P, P), total[1 + P * P:]
        return tuple(self._on_device(theta, part) for part in (sse, JTJ, JTe))

    def sum_of_squares(self, theta):
        """sum e^2 over every chunk (mse), a 0-d array of theta's library.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend.

        Returns
        -------
        0-d array
            The sum of squared residuals (outputs - Y) over all rows and outputs, on
            theta's device in theta's dtype: one forward pass per chunk.
        """
        return self._on_device(theta, self._reduce(_chunk_squares, theta, 1)[0])

    def loss_and_score(self, theta, m_train: int | None = None) -> tuple[float, float]:
        """Validation loss (penalty with ``m_train`` samples) and accuracy or R^2, as floats.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The flat parameters, of any backend.
        m_train : int, optional
            The number of training samples, which scales the L2 penalty added to the
            loss as in training; None uses this data's own number of rows.

        Returns
        -------
        loss : float
            The mean loss over these rows plus the L2 penalty.
        score : float
            Accuracy for a classification loss, R^2 (averaged over the outputs, as
            :func:`bpnet_xp.metrics.r2_from_sums`) otherwise.
        """
        K = self.n_outputs
        width = 2 if self.spec.loss.classification else 1 + 3 * K
        total = self._reduce(_chunk_metrics, theta, width)
        m = self.n_samples
        loss = total[0] / m
        if self.spec.l2 != 0:
            theta_host = np.asarray(to_numpy(theta), dtype=np.float64)
            loss += float(penalty_and_grad(self.spec, theta_host, m if m_train is None else m_train)[0])
        if self.spec.loss.classification:
            return float(loss), float(total[1] / m)
        ss_res, sum_y, sum_y2 = total[1:1 + K], total[1 + K:1 + 2 * K], total[1 + 2 * K:]
        return float(loss), metrics.r2_from_sums(ss_res, sum_y, sum_y2, m)


def dask_objective(spec, X, y, *, n_outputs=None, classification=None, split_every: int = 8):
    """``fun(theta) -> (loss, grad)`` over a row-chunked Dask array (see :class:`DaskObjective`).

    Parameters
    ----------
    spec : NetworkSpec
    X : dask array, shape (m, n_inputs), chunked by rows
    y : dask array, shape (m,) or (m, n_outputs), with X's row chunks
    n_outputs : int, optional
    classification : bool, optional
    split_every : int

    Returns
    -------
    DaskObjective
        A callable: ``loss, grad = fun(theta)``, loss a 0-d array, grad of shape
        (n_parameters,), in theta's library; the mean loss over all m rows plus
        the L2 penalty, as :func:`bpnet_xp.network.loss_and_grad`.
    """
    return DaskObjective(spec, X, y, n_outputs=n_outputs, classification=classification,
                         split_every=split_every)


# ---------------------------------------------------------------------------------------
# Prediction.


def predict_dask(net, X, what: str = "predict"):
    """Lazy predictions for a Dask array X, one task per row chunk.

    Parameters
    ----------
    net : MLP
    X : dask array, shape (m, n_inputs)
    what : {"predict", "proba"}
        "proba": the output activations, shape (m, n_outputs), in the network's
        dtype.  "predict": class labels (int64, shape (m,)) for classifiers, the
        outputs (shape (m,) or (m, n_outputs)) for regression, as :meth:`MLP.predict`.

    Returns
    -------
    dask array
        Not computed; each block is computed in its chunk's library (NumPy or CuPy).
    """
    da = _require_dask()
    import dask
    from dask.base import tokenize

    if what not in ("predict", "proba"):
        raise ValueError(f"what must be 'predict' or 'proba', got {validation.plain(what)!r}")
    if not is_dask_array(X):
        raise ValueError(f"X must be a dask array, got {type(X).__module__}.{type(X).__name__}")
    X = _check_features(X, net.n_inputs)
    spec, K = net.spec, net.n_outputs
    theta_host = np.asarray(to_numpy(net.theta))
    theta_ref = dask.delayed(theta_host, name=f"bpnet-theta-{tokenize(theta_host)}")
    meta_xp = array_namespace(X._meta)
    float_dtype = getattr(meta_xp, net.dtype)
    if what == "proba" or (not net.is_classifier and K > 1):
        meta = meta_xp.empty((0, 0), dtype=float_dtype)
        return da.map_blocks(_predict_block, X, theta_ref, spec=spec, what=what,
                             chunks=(X.chunks[0], (K,)), dtype=float_dtype, meta=meta)
    dtype = meta_xp.int64 if net.is_classifier else float_dtype
    return da.map_blocks(_predict_block, X, theta_ref, spec=spec, what=what, drop_axis=1,
                         chunks=(X.chunks[0],), dtype=dtype, meta=meta_xp.empty((0,), dtype=dtype))


# ---------------------------------------------------------------------------------------
# The chunk stream of the stochastic optimizers.


class ChunkFeed:
    """Row blocks of (X, y) pulled to the client one at a time.

    On a distributed cluster the next block is requested as a future while the current
    one is used: it is computed (or already held) on a worker and crosses to the client
    only when asked for, so the client holds one block at a time.

    Parameters
    ----------
    X : dask array, shape (m, n_inputs)
        The features, chunked by rows.
    y : dask array, shape (m,) or (m, n_outputs)
        Labels or targets, with the same row chunks as X.
    """

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.client = current_client()

    def request(self, index: int):
        """Start fetching row block ``index`` of X and y.

        Parameters
        ----------
        index : int
            The row block, 0 .. number of row chunks - 1.

        Returns
        -------
        list of two futures, or tuple of two dask arrays
            A handle for :meth:`receive`: futures already being computed on a
            distributed cluster, or the two lazy blocks otherwise.
        """
        pair = (self.X.blocks[index], self.y.blocks[index])
        if self.client is not None:
            return self.client.compute(list(pair))
        return pair

    def receive(self, handle):
        """The blocks a :meth:`request` asked for, on the client.

        Parameters
        ----------
        handle : list or tuple
            What :meth:`request` returned.

        Returns
        -------
        tuple of two arrays
            ``(X block, y block)``, computed, in the chunks' library (NumPy or CuPy).
        """
        if self.client is not None:
            return tuple(future.result() for future in handle)
        import dask  # the local schedulers: both blocks in one graph (y may be computed from X)

        return dask.compute(*handle)


# ---------------------------------------------------------------------------------------
# A large synthetic data set built chunk by chunk (tests, benchmark, README guide).


def _synthetic_block(block_id=None, *, rows, n_features, seed, value_dtype):
    index = block_id[0]
    rng = np.random.default_rng([seed, index])
    return rng.standard_normal((rows[index], n_features)).astype(value_dtype, copy=False)


def _synthetic_labels(Xb, *, coef, seed, noise, block_id=None):
    # The noise stream is a different child of the seed than the features' stream.
    rng = np.random.default_rng([seed, block_id[0], 1])
    score = np.asarray(Xb, dtype=np.float64) @ coef + noise * rng.standard_normal(Xb.shape[0])
    return (score > 0).astype(np.int64)


def make_dask_classification(n_samples: int = 1_000_000, n_features: int = 100, *, chunk_rows: int = 100_000,
                             noise: float = 0.5, seed: int = 0, dtype: str = "float64"):
    """A seeded two-class data set as lazy Dask arrays, generated chunk by chunk.

    Row block c of X is standard normal from ``numpy.random.default_rng([seed, c])``;
    the label of a row x is ``x . w + noise * e > 0`` with ``w`` a fixed unit vector
    drawn from ``default_rng([seed])`` and ``e`` standard normal noise.  Nothing is
    generated until a block is computed, and then on the worker that computes it,
    so the data set never exists on the client; ``X.compute()`` gives the same
    numbers as NumPy in one process (for a reference run).

    Parameters
    ----------
    n_samples, n_features : int
    chunk_rows : int
        Rows per block (the last block may be smaller).
    noise : float
        Standard deviation of the label noise (0 gives linearly separable data).
    seed : int
    dtype : {"float64", "float32"}

    Returns
    -------
    X : dask array, shape (n_samples, n_features), chunks (chunk_rows, n_features)
    y : dask array of int64 labels 0/1, shape (n_samples,), chunks (chunk_rows,)
    """
    da = _require_dask()
    for name, value in (("n_samples", n_samples), ("n_features", n_features), ("chunk_rows", chunk_rows)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {validation.plain(value)!r}")
    rows = tuple(min(chunk_rows, n_samples - start) for start in range(0, n_samples, chunk_rows))
    X = da.map_blocks(_synthetic_block, rows=rows, n_features=n_features, seed=seed, value_dtype=np.dtype(dtype),
                      chunks=(rows, (n_features,)), dtype=np.dtype(dtype), meta=np.empty((0, 0), dtype=dtype),
                      name=f"bpnet-synthetic-X-{seed}-{n_samples}-{n_features}-{chunk_rows}-{dtype}")
    coef = np.random.default_rng([seed]).standard_normal(n_features)
    coef /= np.linalg.norm(coef)
    y = da.map_blocks(_synthetic_labels, X, coef=coef, seed=seed, noise=float(noise), drop_axis=1,
                      dtype=np.int64, meta=np.empty((0,), dtype=np.int64))
    return X, y
