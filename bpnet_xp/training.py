"""Training: the one driver behind :meth:`bpnet_xp.MLP.fit`, in memory and on Dask alike.

:func:`fit` checks its options once (:func:`bpnet_xp.config.fit_options`), moves the
data to the device once, and runs one of two loops, each recording every epoch or
iteration the same way (:class:`History`, validation loss and score, verbose lines,
early stopping, callbacks, the guard against a non-finite loss):

* the stochastic optimizers ("gd", "sgd", "adam" of :mod:`bpnet_xp.optimizers`) run
  ``epochs`` epochs of the one mini-batch loop over a batch source of
  :mod:`bpnet_xp.sources` (arrays in memory, a Dask chunk stream, or the Dask
  map-reduce objective for the full batch);
* the full-batch optimizers ("cg", "lbfgs") run :func:`bpnet_xp.solvers.minimize`
  on the full-batch objective for at most ``max_iter`` iterations.

Inside an epoch nothing crosses back to the host: the epoch's loss is accumulated on
the device and read once at its end (plus once each for the validation loss and
score).  :func:`train` is the same driver with checked options and the optimizer state
in and out (scikit-learn's ``partial_fit`` runs one epoch of it per call); it also takes a
batch source or full-batch objective built by the caller (``source=``, e.g. scikit-learn's
sparse X densified a block of rows at a time), so there is one mini-batch loop only.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, NamedTuple

import numpy as np
from array_api_compat import array_namespace

from .backend import is_dask_array, to_numpy
from .config import OPTIMIZER_NAMES, FitOptions, fit_options, is_full_batch
from .curvature import CurvatureObjective, weight_mask
from .dask import DaskObjective
from .history import History
from .metrics import network_score
from .network import forward, penalty_and_grad
from .optimizers import fused_step, get_optimizer
from .progress import Progress, warn_at_caller
from .schedules import get_schedule, plateau, scaled
from .solvers import LMOptions, bayesian_regularization, levenberg_marquardt, minimize, newton, rprop, scg
from .sources import ChunkStream, FullBatchObjective, MemorySource, batch_rows, random_generator

__all__ = ["History", "TrainingResult", "fit", "train", "OPTIMIZERS"]

#: Every optimizer name ``fit`` accepts (the registry :data:`bpnet_xp.config.OPTIMIZERS`).
OPTIMIZERS = OPTIMIZER_NAMES

#: The divergence rule (see :func:`fit`, Notes): a run has diverged when its loss is not
#: finite, or when it has been above both ``DIVERGENCE_FACTOR`` times the lowest loss so far
#: and the first loss for ``DIVERGENCE_PATIENCE`` consecutive epochs (iterations).  The first
#: loss is the floor of the limit so that a loss near 0 (a fit that went well) is not called
#: diverged for rising back to where it started.
DIVERGENCE_FACTOR = 1e3
DIVERGENCE_PATIENCE = 3
_NOTHING_FINITE_HINT = "check the scale of the inputs and of the initial weights"


class TrainingResult(NamedTuple):
    """What :func:`train` returns.

    Attributes
    ----------
    history : History
    optimizer_state : NamedTuple or None
        The stochastic optimizer's state after the last update kept (the state that
        goes with the parameters a divergence rolled back to); None for the
        full-batch optimizers.
    """

    history: History
    optimizer_state: Any


def fit(net, X, y, optimizer: str = "adam", **options) -> History:
    """Train ``net`` on (X, y); sets ``net.theta`` and ``net.history``.

    Parameters
    ----------
    net : MLP
    X : array, shape (m, n_inputs)
        NumPy, an array of the network's backend (moved to the device once), or a
        row-chunked Dask array (see Notes).
    y : array, shape (m,) or (m, n_outputs)
        Class labels or targets, as :meth:`MLP.prepare` accepts them.
    optimizer : {"adam", "sgd", "gd", "cg", "lbfgs"}
        "gd", "sgd" and "adam" run ``epochs`` epochs of mini-batch updates
        ("gd" is plain gradient descent with a fixed step, full batch by default;
        "sgd" adds ``momentum``/``nesterov``).  "cg" (nonlinear conjugate gradient,
        Polak-Ribiere+) and "lbfgs" run at most ``max_iter`` full-batch iterations
        with a strong-Wolfe line search.
    epochs : int
        Epochs for the stochastic optimizers (default 200).
    max_iter : int
        Iterations for "cg"/"lbfgs" (default 100).
    batch_size : int, None or "auto"
        Rows per mini-batch; None is the full batch, 1 is purely stochastic.
        "auto" (default): the full batch for "gd", ``min(200, m)`` for "sgd"/"adam".
    learning_rate : float or callable, optional
        Step size (default 0.1 for gd, 0.01 for sgd, 1e-3 for adam) or a schedule
        ``schedule(count) -> float`` of the number of updates done.
    momentum, nesterov : float, bool
        Heavy-ball momentum (default 0.9) and Nesterov's variant, for "sgd".
    beta1, beta2 : float
        Adam's decay rates (default 0.9, 0.999).
    schedule : {"constant", "inverse_scaling", "step", "plateau"} or callable
        "inverse_scaling": lr / (t + 1) ** 0.5 with t the number of updates;
        "step": halve every 10 epochs; "plateau": halve when the monitored loss
        (validation loss, else training loss) has not improved for 5 epochs.
    validation_fraction : float
        Hold out the last ``ceil(fraction * m)`` rows of a seeded permutation for validation.
    validation_data : tuple (X_val, y_val) or (X_val, y_val, w_val), optional
        Explicit validation data (instead of ``validation_fraction``), with optional
        per-sample weights ``w_val`` for the validation loss and score.
    early_stopping : bool
        Stop when the monitored loss (validation loss, else training loss) has not
        decreased by more than ``tol`` for ``patience`` epochs/iterations, and
        restore the parameters of the best one.
    patience : int
        Default 10.
    tol : float
        Minimum decrease of the monitored loss that counts as an improvement (default 1e-4).
    gtol, ftol, memory : float, float, int
        Passed to :func:`bpnet_xp.solvers.minimize` for "cg"/"lbfgs".
    shuffle : bool
        Draw a new batch order every epoch (stochastic optimizers; default True).
    seed : int, numpy.random.Generator or None
        Seeds the host generator of the validation split and the batch order.
        None derives it from ``net.seed``: the same seed gives the same batches on
        every backend.
    callbacks : callable or sequence of callables
        ``callback(epoch, net, history) -> bool | None`` after each epoch/iteration
        (1-based; ``net.theta`` holds the current parameters); True stops training.
    verbose : int
        Print ``epoch k/N  loss ...  val_loss ...  val_score ...`` every ``verbose``
        epochs (iterations for the solvers); 0 prints nothing.
    progress : bool
        Show a tqdm progress bar (only when stderr is a terminal and tqdm is installed).
    sample_weight : array, shape (m,), optional
        Non-negative per-sample weights, not all zero (NumPy or the backend's
        arrays); moved to the device once with the data.  The objective becomes
        sum_i w_i L_i / S + (l2 / (2S)) sum(W**2) with S = sum_i w_i, so an integer
        weight k is the row repeated k times and a weight 0 the row removed.
        Mini-batches take their weights with the same index as their rows and divide
        their data term by their own weight sum; the penalty always uses the whole
        training part's S.  ``validation_fraction`` splits the weights with the rows.
    split_every : int
        Dask only: fan-in of the tree reduction of full-batch evaluations (default 8).

    Returns
    -------
    History
        Also stored as ``net.history``.

    Notes
    -----
    Divergence stops training with ``stop_reason`` starting with "diverged" and a
    :class:`RuntimeWarning` (attributed to the caller's line).  A run has diverged when
    its training loss is not finite (NaN or infinite, also checked once after the last
    update), or when, for 3 consecutive epochs (iterations), it is above both 1000 times
    the lowest loss so far and the first epoch's loss (:data:`DIVERGENCE_FACTOR`,
    :data:`DIVERGENCE_PATIENCE`).  The network then keeps the parameters of the lowest
    loss: those at the start of that epoch for the stochastic optimizers (where its
    evaluation starts; exactly the parameters of that loss for the full batch), after
    that iteration for the solvers, with the optimizer state that goes with them.  When
    the loss is not finite before any was recorded, the network keeps its initial
    parameters and the reason says whether the loss is finite there; when it is not
    ("no parameters with a finite loss to keep"), nothing was trained.

    Dask arrays (X chunked by rows, y with the same row chunks or NumPy): "cg",
    "lbfgs" and full-batch "gd" evaluate J by map-reduce over the chunks
    (:class:`bpnet_xp.dask.DaskObjective`), the same numbers as in memory up to
    rounding; the mini-batch optimizers stream, one chunk at a time in a seeded
    order, each chunk's rows shuffled and cut into batches (a batch never spans two
    chunks).  ``validation_fraction`` and ``sample_weight`` are not supported there;
    ``validation_data`` may be Dask or in-memory arrays.  A "dask"-backend network
    trains through a NumPy copy of theta.
    """
    return train(net, X, y, fit_options(optimizer, **options)).history


def train(net, X, y, options: FitOptions, *, optimizer_state=None, source=None,
          validate: Callable | None = None) -> TrainingResult:
    """The driver of :func:`fit` with checked options and the optimizer state in and out.

    Parameters
    ----------
    net : MLP
    X : array, shape (m, n_inputs), or None
        As in :func:`fit`: NumPy, an array of the network's backend, or a row-chunked
        Dask array.  Not read when ``source`` is given (None is fine there).
    y : array, shape (m,) or (m, n_outputs), or None
        Class labels or targets, as in :func:`fit`.  Not read when ``source`` is given.
    options : FitOptions
        From :func:`bpnet_xp.config.fit_options`.
    optimizer_state : NamedTuple, optional
        A stochastic optimizer's state to continue from (its step count and moments),
        as returned by an earlier call; never modified.
    source : object, optional
        Data the caller has prepared, used instead of (X, y) (which are then not moved
        or checked): for the stochastic optimizers a batch source, as those of
        :mod:`bpnet_xp.sources` (``batches(rng)``, ``evaluate(theta, batch) -> (loss,
        grad, weight)``, ``compiled_epoch(optimizer)`` (None for the generic loop),
        ``finite_at(theta)``, ``fallback(start_theta, safe)``, ``n_batches``,
        ``epoch_weight``); for the full-batch optimizers an objective ``source(theta)
        -> (J, grad)`` over all the data (the second-order trainers also need its
        curvature products, as :class:`bpnet_xp.curvature.CurvatureObjective`
        offers).  The source holds its own sample weights and split: ``options`` must
        not carry ``sample_weight``, ``validation_fraction`` or ``validation_data``
        then (ValueError); pass ``validate`` instead.
    validate : callable, optional
        ``validate(theta) -> (validation loss, validation score)``, Python floats,
        recorded after every epoch (iteration) as the validation data of ``options``
        would be; only with ``source``.

    Returns
    -------
    TrainingResult
    """
    rng = random_generator(options.seed, net.seed)
    if source is not None:
        data = _source_data(net, options, source, validate)
    elif validate is not None:
        raise ValueError("validate is used with source only; without a source pass validation_data "
                         "(or validation_fraction) in the options")
    elif y is None:
        raise ValueError(f"y is required to train: this network expects {net.expects}")
    elif is_dask_array(X) or is_dask_array(y):
        data = _dask_data(net, X, y, options)
    else:
        data = _memory_data(net, X, y, options, rng)
    recorder = _Recorder(data.network, options, data.validate)
    state = None
    if is_full_batch(options.optimizer):
        _solve(recorder, data.source, options)
    else:
        state = _descend(recorder, data.source, options, rng, optimizer_state)
    if data.network is not net:
        net.theta = to_numpy(data.network.theta)
    net.history = recorder.history
    return TrainingResult(recorder.history, state)


# ---------------------------------------------------------------------------------------
# The data: moved to the device (or checked on the cluster) once.


class _Data(NamedTuple):
    network: Any  # the network trained: net, or a NumPy copy of a "dask"-backend one
    source: Any  # a batch source (stochastic) or fun(theta) -> (J, grad) (full batch); maybe the caller's
    validate: Callable | None  # theta -> (validation loss, validation score), floats


def _memory_data(net, X, y, options: FitOptions, rng: np.random.Generator) -> _Data:
    W = X_val = Y_val = W_val = None
    if options.validation_fraction > 0:
        X, Y, W, X_val, Y_val, W_val = _split(net, X, y, options.validation_fraction, rng, options.sample_weight)
    else:
        X, Y = net.prepare(X, y)
        if options.sample_weight is not None:
            W = net.prepare_weight(options.sample_weight, X.shape[0])
        if options.validation_data is not None:
            X_val, Y_val = net.prepare(*options.validation_data[:2])
            if len(options.validation_data) == 3 and options.validation_data[2] is not None:
                W_val = net.prepare_weight(options.validation_data[2], X_val.shape[0])
    spec, m = net.spec, X.shape[0]
    # What the penalty is divided by: the rows, or their total weight (one device->host read).
    total = m if W is None else float(net.backend.xp.sum(W))
    validate = None if X_val is None else _validation(spec, X_val, Y_val, W_val, total)
    if is_full_batch(options.optimizer):
        # loss_and_grad (compiled where that pays: JAX), plus the curvature products of the
        # second-order trainers on the same data.
        return _Data(net, CurvatureObjective(spec, X, Y, W, net.objective), validate)
    rows = batch_rows(options.batch_size, options.optimizer, m)
    return _Data(net, MemorySource(spec, net.backend, X, Y, W, rows, options.shuffle, total), validate)


#: What a caller-built batch source offers the mini-batch loop (see :func:`train`).
_SOURCE_PROTOCOL = ("batches", "evaluate", "compiled_epoch", "finite_at", "fallback", "n_batches", "epoch_weight")


def _source_data(net, options: FitOptions, source, validate: Callable | None) -> _Data:
    """A caller-built source: checked for what the loop of ``options.optimizer`` calls."""
    given = [name for name, value in (("sample_weight", options.sample_weight),
                                      ("validation_data", options.validation_data))
             if value is not None] + (["validation_fraction"] if options.validation_fraction > 0 else [])
    if given:
        raise ValueError(f"options {', '.join(given)} cannot be applied to a caller-built source: its data "
                         "(and weights) are the source's; pass the held-out data as validate")
    if validate is not None and not callable(validate):
        raise TypeError(f"validate must be a callable theta -> (loss, score), got {type(validate).__name__}")
    if is_full_batch(options.optimizer):
        if not callable(source):
            raise TypeError(f"source must be an objective source(theta) -> (J, grad) for the full-batch "
                            f"optimizer {options.optimizer!r}, got {type(source).__name__}")
    else:
        missing = [name for name in _SOURCE_PROTOCOL if not hasattr(source, name)]
        if missing:
            raise TypeError(f"source must be a batch source for optimizer {options.optimizer!r} (see "
                            f"bpnet_xp.sources); {type(source).__name__} lacks {', '.join(missing)}")
    return _Data(net, source, validate)


def _dask_data(net, X, y, options: FitOptions) -> _Data:
    if options.sample_weight is not None:
        raise ValueError("sample_weight is not supported with dask arrays yet")
    if options.validation_fraction != 0.0:
        raise ValueError(
            "validation_fraction is not supported for dask arrays (a random split would shuffle X "
            "across the cluster); pass validation_data=(X_val, y_val) instead"
        )
    if not is_dask_array(X):
        raise ValueError("training on dask arrays needs X as a dask array; y is a dask array, so pass X as "
                         "one too (da.from_array(X, chunks=...))")
    # The client-side math needs computed arrays: a "dask"-backend network trains a NumPy copy.
    work = net.copy(backend="numpy") if net.backend.is_lazy else net
    objective = DaskObjective(work.spec, X, y, split_every=options.split_every)
    m = objective.n_samples
    validate = None
    if options.validation_data is not None:
        if len(options.validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        X_val, y_val = options.validation_data
        if is_dask_array(X_val):
            held_out = DaskObjective(work.spec, X_val, y_val, split_every=options.split_every)
            validate = lambda theta: held_out.loss_and_score(theta, m)  # noqa: E731
        else:
            validate = _validation(work.spec, *work.prepare(X_val, y_val), None, m)
    if is_full_batch(options.optimizer):
        return _Data(work, objective, validate)
    rows = batch_rows(options.batch_size, options.optimizer, m)
    if rows == m:
        return _Data(work, FullBatchObjective(objective), validate)
    return _Data(work, ChunkStream(work.spec, work.backend, objective, work.prepare, rows, options.shuffle), validate)


def _is_host(a) -> bool:
    return isinstance(a, (np.ndarray, list, tuple))


def _split(net, X, y, fraction: float, rng: np.random.Generator, sample_weight=None):
    """Move (X, y) to the device as a training part and a validation part.

    The validation part is the last ``ceil(fraction * m)`` rows of a seeded host
    permutation.  Host data is split on the host and each part moved once; device
    data is moved (validated) once and split with ``xp.take``.

    Returns
    -------
    tuple
        ``(X_train, Y_train, w_train, X_val, Y_val, w_val)``; the weights are None
        without ``sample_weight`` (split with the same permutation otherwise).
    """
    m = len(X) if _is_host(X) else X.shape[0]
    n_val = math.ceil(fraction * m)
    if n_val < 1 or n_val >= m:
        raise ValueError(
            f"validation_fraction={fraction} of {m} samples leaves {m - n_val} for training "
            f"and {n_val} for validation; both need at least one"
        )
    perm = rng.permutation(m)
    xp, be = net.backend.xp, net.backend
    train_index, val_index = be.asarray(perm[: m - n_val]), be.asarray(perm[m - n_val:])
    if _is_host(X) and _is_host(y):
        X, y = np.asarray(X), np.asarray(y)
        if y.ndim == 0 or y.shape[0] != m:
            raise ValueError(f"y has {y.shape[0] if y.ndim else 0} samples but X has {m}")
        X_train, Y_train = net.prepare(X[perm[: m - n_val]], y[perm[: m - n_val]])
        X_val, Y_val = net.prepare(X[perm[m - n_val:]], y[perm[m - n_val:]])
    else:
        Xd, Yd = net.prepare(X, y)
        X_train, Y_train = xp.take(Xd, train_index, axis=0), xp.take(Yd, train_index, axis=0)
        X_val, Y_val = xp.take(Xd, val_index, axis=0), xp.take(Yd, val_index, axis=0)
    if sample_weight is None:
        return X_train, Y_train, None, X_val, Y_val, None
    # Validated as a whole (not all zero, ...), then each part must keep a positive weight.
    w = net.prepare_weight(sample_weight, m)
    w_train, w_val = xp.take(w, train_index, axis=0), xp.take(w, val_index, axis=0)
    if not be.is_lazy:
        for part, weights in (("training", w_train), ("validation", w_val)):
            if not bool(xp.any(weights > 0)):
                raise ValueError(f"sample_weight is zero for every sample of the {part} part of "
                                 f"validation_fraction={fraction}; at least one weight there must be positive")
    return X_train, Y_train, w_train, X_val, Y_val, w_val


def _validation_loss(spec, theta, X, Y, m_total, weight=None):
    """J on (X, Y) (weighted mean with ``weight``) with the training set's L2 penalty
    (``m_total``: its size, or its total weight), as a 0-d array."""
    xp = array_namespace(theta, X, Y)
    Z, A = forward(spec, theta, X)
    if weight is None:
        value = spec.loss.value(Z, A, Y) / X.shape[0]
    else:
        value = spec.loss.value(Z, A, Y, xp.reshape(weight, (-1, 1))) / xp.sum(weight)
    if spec.l2 == 0:
        return value
    return value + penalty_and_grad(spec, theta, m_total)[0]


def _validation(spec, X_val, Y_val, W_val, m_total) -> Callable:
    """``validate(theta) -> (loss, score)`` on validation data held on the device."""

    def validate(theta):
        return (float(_validation_loss(spec, theta, X_val, Y_val, m_total, W_val)),
                float(network_score(spec, theta, X_val, Y_val, W_val)))

    return validate


# ---------------------------------------------------------------------------------------
# What every epoch or iteration records.


class _Recorder:
    """The history of one training run, and the decisions taken from it after every
    epoch or iteration: verbose lines, early stopping, callbacks."""

    def __init__(self, net, options: FitOptions, validate: Callable | None):
        self.net, self.options, self.validate = net, options, validate
        self.unit = options.info.unit
        self.total = options.max_iter if is_full_batch(options.optimizer) else options.epochs
        self.history = History(optimizer=options.optimizer)
        self.start = time.perf_counter()
        self.best_value, self.best_theta, self.best_iteration, self.since_best = math.inf, None, None, 0
        # The divergence guard: the lowest loss, where it was reached, and the run of
        # epochs/iterations above the limit (see DIVERGENCE_FACTOR).
        self.first_loss, self.lowest, self.lowest_at, self.lowest_point = None, math.inf, None, None
        self.limit = math.inf  # max(DIVERGENCE_FACTOR * lowest, first loss), kept up to date
        self.above, self.diverged = 0, False
        # Read once: record runs after every epoch (a full-batch XOR epoch is ~20 us).
        self.verbose, self.early_stopping, self.callbacks = options.verbose, options.early_stopping, options.callbacks

    def record(self, k: int, theta, loss: float, point=None) -> bool:
        """Log epoch/iteration k (1-based); True when training should stop (reason set).

        ``point``: ``(theta, optimizer state)`` at which ``loss`` was evaluated, kept
        should the run diverge later (default ``(theta, None)``: the solvers' loss is
        J(theta) after the iteration).
        """
        h = self.history
        h.loss.append(loss)
        if self.validate is not None:
            value, score = self.validate(theta)
            h.val_loss.append(value)
            h.val_score.append(score)
        h.time.append(time.perf_counter() - self.start)
        h.n_iter = k
        verbose = self.verbose
        if verbose and k % verbose == 0:
            line = f"{self.unit} {k}/{self.total}  loss {loss:.6f}"
            if h.val_loss:
                line += f"  val_loss {h.val_loss[-1]:.6f}  val_score {h.val_score[-1]:.4f}"
            print(line, flush=True)
        if self._diverging(k, loss, (theta, None) if point is None else point):
            return True
        stop = self.early_stopping and self._no_progress(k, theta)
        if self.callbacks:
            self.net.theta = theta
            for callback in self.callbacks:
                if callback(k, self.net, h) is True:
                    if not stop:
                        h.stop_reason = "stopped by callback"
                    stop = True
        return stop

    def _no_progress(self, k: int, theta) -> bool:
        """Early stopping: keep the best parameters; True after ``patience`` without progress."""
        h, tol, patience = self.history, self.options.tol, self.options.patience
        monitored = h.val_loss[-1] if h.val_loss else h.loss[-1]
        if monitored < self.best_value - tol:
            self.best_value, self.best_iteration, self.since_best = monitored, k, 0
            self.best_theta = array_namespace(theta).asarray(theta, copy=True)
            return False
        self.since_best += 1
        if self.since_best < patience:
            return False
        what = "validation loss" if h.val_loss else "training loss"
        h.stop_reason = (f"early stopping: {what} did not decrease by more than tol={tol:g} "
                         f"for {patience} {self.unit}s")
        return True

    def _diverging(self, k: int, loss: float, point) -> bool:
        """The divergence rule on a finite loss: True (reason set, warned) once the loss has been
        above ``max(DIVERGENCE_FACTOR * lowest, first)`` for ``DIVERGENCE_PATIENCE`` in a row."""
        # The limit changes only with the first loss and the lowest: updated there, not per call.
        if self.first_loss is None:
            self.first_loss = loss
            self.limit = max(DIVERGENCE_FACTOR * self.lowest, loss)
        if loss < self.lowest:
            self.lowest, self.lowest_at, self.lowest_point = loss, k, point
            self.limit = max(DIVERGENCE_FACTOR * loss, self.first_loss)
        if not loss > self.limit:
            self.above = 0
            return False
        self.above += 1
        if self.above < DIVERGENCE_PATIENCE:
            return False
        self.diverge(f"the loss stayed above {DIVERGENCE_FACTOR:g} x its lowest value and above its first "
                     f"value for {DIVERGENCE_PATIENCE} {self.unit}s in a row (now {loss:.6g}, lowest "
                     f"{self.lowest:.6g}, first {self.first_loss:.6g})")
        return True

    def kept(self) -> str:
        """What the network keeps after a divergence: the parameters of the lowest loss."""
        if self.unit == "epoch":
            where = f"at the start of epoch {self.lowest_at}"
        else:
            where = f"after iteration {self.lowest_at}"
        return f"the parameters {where}, where the loss was lowest ({self.lowest:.6g})"

    def diverge(self, what: str, kept: str | None = None,
                hint: str = "lower the learning rate, or standardise the inputs") -> None:
        """Stop as diverged: ``stop_reason`` "diverged: <what>; ...", a warning at the caller's line."""
        self.diverged = True
        kept = self.kept() if kept is None else kept
        reason = f"diverged: {what}; training stopped and the network keeps {kept} ({hint})"
        self.history.stop_reason = reason
        warn_at_caller(reason)

    def non_finite(self, where: str, start_is_finite: bool = True) -> None:
        """A non-finite loss: diverged; with nothing recorded yet, say what the start offers."""
        if self.lowest_point is not None:
            self.diverge(f"non-finite loss {where}")
        elif start_is_finite:
            self.diverge(f"non-finite loss {where}", "its initial parameters, where the loss is finite")
        else:
            self.diverge(f"non-finite loss {where} and at the initial parameters",
                         "its initial parameters, but there are no parameters with a finite loss to keep",
                         _NOTHING_FINITE_HINT)

    def finish(self, theta) -> None:
        """Keep the best parameters under early stopping, store theta, announce odd stops."""
        h = self.history
        if self.options.early_stopping and self.best_theta is not None and not self.diverged:
            theta = self.best_theta
            h.best_iteration = self.best_iteration
        self.net.theta = theta
        if self.options.verbose and not h.stop_reason.startswith("maximum"):
            print(f"stopped after {h.n_iter}: {h.stop_reason}", flush=True)


# ---------------------------------------------------------------------------------------
# The two loops.


def _epoch(source, step: Callable, theta, state, rng: np.random.Generator, history: History):
    """One epoch of updates over ``source``: THE mini-batch loop.

    Returns ``(theta, state, loss)``, the loss the mean of the batch losses weighted by
    the batches' rows (or weights), read from the device once.
    """
    total = None
    for batch in source.batches(rng):
        loss, grad, weight = source.evaluate(theta, batch)
        del batch  # a view of a streamed chunk would keep the whole chunk on the client
        theta, state = step(grad, state, theta)
        history.n_evaluations += 1
        term = loss * weight
        total = term if total is None else total + term
    return theta, state, float(total / source.epoch_weight)


def _array_free(state) -> bool:
    """Whether an optimizer state holds no arrays (gd, sgd without momentum: a step count)."""
    try:
        return all(value is None or isinstance(value, (bool, int, float)) for value in state)
    except TypeError:  # not a tuple of fields: assume it holds arrays
        return False


def _epoch_runner(source, optimizer: Callable) -> Callable:
    """``run(theta, state, rng, history) -> (theta, state, loss)``: one epoch with the
    optimizer that ``optimizer()`` gives now, its way of stepping resolved once per optimizer.

    Where the backend compiles (JAX), the source runs the epoch as compiled whole steps.
    Elsewhere :func:`_epoch` runs with a fused step.  A fused step writes into the buffers
    of the state it returned last, so a new one per epoch starts in buffers of its own and
    the states kept for a rollback (the recorder's lowest point) are never written; a state
    that holds no arrays (gd, sgd without momentum) has no buffers to write, and one fused
    step serves every epoch (its setup is a tenth of a full-batch XOR epoch).
    """
    current = [None, None, None, False]  # optimizer, its compiled epoch, its fused step, array-free state

    def run(theta, state, rng, history):
        opt = optimizer()
        if opt is not current[0]:
            current[:] = [opt, source.compiled_epoch(opt), None, _array_free(state)]
        if current[1] is not None:
            return current[1](theta, state, rng, history)
        step = current[2]
        if step is None or not current[3]:
            step = current[2] = fused_step(opt)
        return _epoch(source, step, theta, state, rng, history)

    return run


def _descend(recorder: _Recorder, source, options: FitOptions, rng, state):
    """``epochs`` epochs of the stochastic optimizer over ``source``; returns its state."""
    history, theta = recorder.history, recorder.net.theta
    schedule = get_schedule(options.schedule, options.learning_rate, source.n_batches)
    # "plateau" scales the schedule by a multiplier of the epoch losses: the optimizer is
    # rebuilt each epoch with the scaled schedule (and its state continued).
    reduce = None
    if options.schedule == "plateau":
        reduce = plateau(learning_rate=1.0 if callable(options.learning_rate) else options.learning_rate)
    reduction = None if reduce is None else reduce.init()

    built = {}  # the optimizer of the current scale: pure, so one serves every epoch at that scale

    def optimizer():
        key = None if reduction is None else reduction.scale
        if key not in built:
            rate = schedule if reduction is None else scaled(schedule, reduction.scale)
            built.clear()
            built[key] = get_optimizer(options.optimizer, learning_rate=rate, **options.hyperparameters())
        return built[key]

    state = optimizer().init(theta) if state is None else state
    run_epoch = _epoch_runner(source, optimizer)
    bar = Progress(options.progress, options.epochs, "epoch")
    try:
        for epoch in range(1, options.epochs + 1):
            start, start_state = theta, state
            theta, state, value = run_epoch(theta, state, rng, history)
            if not math.isfinite(value):
                # Back to the lowest loss recorded; before any, to the start (the loss
                # there checked on the whole data: the sources' fallback).
                kept = recorder.lowest_point
                theta, state = (start, start_state) if kept is None else kept
                recorder.non_finite(f"at epoch {epoch}", kept is not None or source.fallback(start, None) is start)
                break
            # The epoch's loss is evaluated from its start on (exactly J there for the full batch).
            stop = recorder.record(epoch, theta, value, (start, start_state))
            bar.update(value, history)  # after record: the bar shows this epoch's validation metrics
            if stop:
                if recorder.diverged:
                    theta, state = recorder.lowest_point
                break
            if reduce is not None:
                reduction = reduce.update(reduction, history.val_loss[-1] if history.val_loss else value)
        else:
            history.stop_reason = "maximum epochs reached"
        if not recorder.diverged and not source.finite_at(theta):
            # The last update was never evaluated (its batch loss is from before it):
            # one check at the end keeps a final overflow from slipping through.
            theta, state = recorder.lowest_point
            recorder.non_finite(f"after the last update of epoch {history.n_iter}")
    finally:
        bar.close()
    recorder.finish(theta)
    return state


def _solve(recorder: _Recorder, fun: Callable, options: FitOptions) -> None:
    """The full-batch solver on ``fun(theta) -> (J, grad)``, recording every iteration."""
    bar = Progress(options.progress, options.max_iter, "iteration")
    stopped = [False]

    def callback(iteration, theta, loss):
        k = len(recorder.history.loss) + 1  # 1-based, as the solver's own count
        stop = recorder.record(k, theta, float(loss))
        bar.update(loss, recorder.history)  # after record: with this iteration's validation metrics
        if stop:
            stopped[0] = True
            return True
        return None

    try:
        result = _run_solver(recorder, fun, options, _validation_guard(recorder, options, callback))
    finally:
        bar.close()
    h = recorder.history
    h.loss = [float(v) for v in result.losses]
    h.n_iter = int(result.n_iter)
    h.n_evaluations = int(result.n_evaluations)
    theta = result.theta
    if not stopped[0] and not h.stop_reason.startswith("validation stop"):
        h.stop_reason = result.stop_reason
    if recorder.diverged:
        theta = recorder.lowest_point[0]
    elif result.stop_reason.startswith("non-finite") and recorder.lowest_point is not None:
        # A solver without a line search (rprop) met it mid-run: back to the lowest loss.
        recorder.diverge(result.stop_reason)
        theta = recorder.lowest_point[0]
    elif result.stop_reason.startswith("non-finite"):
        # At the initial point (a line search never accepts a non-finite step).
        recorder.diverge(result.stop_reason,
                         "its initial parameters, but there are no parameters with a finite loss and "
                         "gradient to keep", _NOTHING_FINITE_HINT)
    recorder.finish(theta)


# What each second-order trainer needs of the objective, beyond (loss, grad).
_NEEDS = {"newton": "hessian_vector_product", "scg": "hessian_vector_product",
          "lm": "normal_equations", "br": "normal_equations"}


def _run_solver(recorder: _Recorder, fun, options: FitOptions, callback: Callable):
    """Dispatch to the full-batch solver of ``options.optimizer``; a SolverResult."""
    name, theta, spec = options.optimizer, recorder.net.theta, recorder.net.spec
    need = _NEEDS.get(name)
    if need is not None and not hasattr(fun, need):
        raise ValueError(f"optimizer {name!r} needs {need.replace('_', ' ')}s, which this data source "
                         "does not offer; train in memory, or use 'cg' or 'lbfgs'")
    if name in ("lm", "br") and spec.loss.name != "mse":
        raise ValueError(f"optimizer {name!r} minimises a sum of squared residuals and needs loss='mse', "
                         f"got {spec.loss.name!r}; use 'newton' or 'scg' for other losses")
    common = dict(max_iter=options.max_iter, callback=callback)
    lm = LMOptions(options.max_iter, options.goal, options.min_grad, options.mu, options.mu_dec,
                   options.mu_inc, options.mu_max, options.max_parameters)
    if name == "newton":
        return newton(fun, theta, gtol=options.gtol, ftol=options.ftol, curvature=options.curvature, **common)
    if name == "scg":
        return scg(fun, theta, gtol=options.gtol, goal=options.goal, **common)
    if name == "rprop":
        return rprop(fun, theta, gtol=options.gtol, goal=options.goal, **common)
    if name == "lm":
        return levenberg_marquardt(fun, theta, options=lm, l2=spec.l2, mask=weight_mask(spec, theta),
                                   callback=callback)
    if name == "br":
        n_residuals = int(fun.n_samples) * int(spec.layer_sizes[-1])
        outcome = bayesian_regularization(fun, theta, options=lm, n_residuals=n_residuals, callback=callback)
        recorder.history.effective_parameters = list(outcome.effective_parameters)
        return outcome.result
    return minimize(fun, theta, method=name, gtol=options.gtol, ftol=options.ftol, memory=options.memory, **common)


def _validation_guard(recorder: _Recorder, options: FitOptions, callback: Callable) -> Callable:
    """For "lm"/"br" with validation data, MATLAB's rule: stop after ``max_fail`` iterations
    in a row without a lower validation loss (the best parameters are kept by early
    stopping when it is on, as by MATLAB's train)."""
    if options.optimizer not in ("lm", "br") or recorder.validate is None:
        return callback
    fails = [0, math.inf]

    def guarded(iteration, theta, loss):
        if callback(iteration, theta, loss):
            return True
        value = recorder.history.val_loss[-1]
        fails[:] = [0, value] if value < fails[1] else [fails[0] + 1, fails[1]]
        if fails[0] >= options.max_fail:
            recorder.history.stop_reason = f"validation stop: {options.max_fail} validation failures in a row"
            return True
        return None

    return guarded
