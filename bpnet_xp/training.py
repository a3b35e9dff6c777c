"""Training: the ``fit`` loop behind :meth:`bpnet_xp.MLP.fit`.

Two families of optimizers share one loop around them:

* **stochastic** ("gd", "sgd", "adam", from :mod:`bpnet_xp.optimizers`) run a fixed
  number of *epochs*; each epoch shuffles the training rows with a seeded host
  ``numpy.random.Generator``, cuts them into mini-batches (``batch_size=None`` is
  the full batch, ``1`` is purely stochastic) and updates the flat ``theta`` once
  per batch;
* **full batch** ("cg", "lbfgs", from :mod:`bpnet_xp.solvers`) run
  :func:`bpnet_xp.solvers.minimize` for at most ``max_iter`` iterations with a
  strong-Wolfe line search.

Data moves to the device once (:meth:`MLP.prepare`); each epoch moves one index
array (the permutation) there and takes its batches with ``xp.take``.  Inside an
epoch nothing crosses back to the host: the epoch's loss is accumulated on the
device and read with one ``float()`` at the end of the epoch (plus one each for the
validation loss and score when there is validation data).  Because the batch order
comes from the host generator, the same seed gives the same batches on every
backend.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .backend import inplace_namespace
from .network import data_loss_and_grad, forward, loss_value, penalty_and_grad

__all__ = ["History", "fit", "OPTIMIZERS"]

#: Every optimizer name ``fit`` accepts.
OPTIMIZERS = ("gd", "sgd", "adam", "cg", "lbfgs")
_STOCHASTIC = ("gd", "sgd", "adam")
_SOLVERS = ("cg", "lbfgs")
_DEFAULT_LEARNING_RATE = {"gd": 0.1, "sgd": 0.01, "adam": 1e-3}
_SCHEDULES = ("constant", "inverse_scaling", "step", "plateau")


@dataclass
class History:
    """What happened during :func:`fit`, one entry per epoch (or solver iteration).

    Attributes
    ----------
    loss : list of float
        Training loss J (mean data loss plus the L2 penalty).  For "cg"/"lbfgs" it
        is J(theta) after each iteration.  For the stochastic optimizers it is the
        mean of the mini-batch losses over the epoch, each weighted by its batch
        size (its total sample weight, with ``sample_weight``) and evaluated at the parameters *before* that batch's update (the
        number a mini-batch loop gets for free; with ``batch_size=None`` it is
        exactly J at the start of the epoch).
    val_loss : list of float
        J on the validation data (mean data loss over the validation samples, weighted
        by their weights when they have them, plus the same L2 penalty as ``loss``),
        after each epoch; empty without validation.
    val_score : list of float
        Accuracy (classifiers) or R^2 (regression) on the validation data.
    time : list of float
        Seconds since the start of ``fit`` at the end of each epoch/iteration.
    stop_reason : str
        Why training stopped.
    n_iter : int
        Epochs (stochastic) or iterations (solvers) run.
    best_iteration : int or None
        With ``early_stopping``: the 1-based epoch/iteration whose parameters were
        kept (``loss[best_iteration - 1]`` is its loss).
    optimizer : str
    n_evaluations : int
        Loss-and-gradient evaluations: one per mini-batch for the stochastic
        optimizers, every line-search trial included for "cg"/"lbfgs".
    """

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_score: list = field(default_factory=list)
    time: list = field(default_factory=list)
    stop_reason: str = ""
    n_iter: int = 0
    best_iteration: int | None = None
    optimizer: str = ""
    n_evaluations: int = 0

    def as_dict(self) -> dict:
        """A plain dict of the fields (JSON-serialisable)."""
        return asdict(self)


# ---------------------------------------------------------------------------------------
# Small device-side helpers (standard array API only).


def _weight_sum(weight):
    """sum(w) as a 0-d array, replaced by 1 where it is 0.

    A mini-batch whose rows all have weight 0 has a data term and gradient of exactly
    0 (each row's term is multiplied by its weight); dividing by 1 keeps them 0 instead
    of 0/0 = NaN, so such a batch moves theta by the penalty alone.
    """
    xp = array_namespace(weight)
    s = xp.sum(weight)
    return xp.where(s > 0, s, xp.ones_like(s))


def _batch_loss_and_grad(spec, theta, Xb, Yb, m_total, wb=None, out=None):
    """Mini-batch estimate of J and its gradient.

    The data term is the mean over the batch; the L2 penalty uses the size of the
    whole training set, (l2 / (2 m)) sum(W**2), so every batch estimates the same
    objective J that "cg"/"lbfgs" minimise (a penalty scaled by the batch size would
    regularise m / batch_size times harder).  With the full batch this is exactly
    :func:`bpnet_xp.network.loss_and_grad`.

    With per-sample weights ``wb`` (shape (batch,)) the data term is the weighted
    mean over the batch, sum_i w_i L_i / sum_i w_i, and ``m_total`` is the total
    weight of the training set (a Python number), so the penalty is
    (l2 / (2 sum(w))) sum(W**2): again exactly the weighted
    :func:`~bpnet_xp.network.loss_and_grad` for the full batch.
    """
    mb = Xb.shape[0] if wb is None else _weight_sum(wb)
    # The 1/mb is applied to the output delta inside (an (mb, K) array), not to the gradient.
    loss, grad = data_loss_and_grad(spec, theta, Xb, Yb, wb, scale=1 / mb, out=out)
    if spec.l2 == 0:
        return loss, grad
    penalty, penalty_grad = penalty_and_grad(spec, theta, m_total)
    grad += penalty_grad  # grad is this call's own (fresh, or the loop's buffer): no copy needed
    return loss + penalty, grad


def _objective(spec, theta, X, Y, m_total, weight=None):
    """J evaluated on (X, Y) (weighted mean with ``weight``) with the training set's L2
    penalty (``m_total``: its size, or its total weight), as a 0-d array."""
    xp = array_namespace(theta, X, Y)
    Z, A = forward(spec, theta, X)
    if weight is None:
        value = spec.loss.value(Z, A, Y) / X.shape[0]
    else:
        value = spec.loss.value(Z, A, Y, xp.reshape(weight, (-1, 1))) / xp.sum(weight)
    if spec.l2 == 0:
        return value
    return value + penalty_and_grad(spec, theta, m_total)[0]


def _score(spec, theta, X, Y, weight=None):
    """Accuracy (classifiers) or uniform-average R^2 (regression), as a 0-d array;
    weighted as scikit-learn's accuracy_score / r2_score with ``weight``."""
    xp = array_namespace(theta, X, Y)
    _, A = forward(spec, theta, X)
    if spec.loss.classification:
        if A.shape[1] == 1:
            hit = (A[:, 0] >= 0.5) == (Y[:, 0] >= 0.5)
        else:
            hit = xp.argmax(A, axis=1) == xp.argmax(Y, axis=1)
        if weight is None:
            return xp.mean(xp.astype(hit, A.dtype))
        return xp.sum(weight * xp.astype(hit, A.dtype)) / xp.sum(weight)
    if weight is None:
        ss_res = xp.sum((Y - A) ** 2, axis=0)
        ss_tot = xp.sum((Y - xp.mean(Y, axis=0)) ** 2, axis=0)
    else:
        wc = xp.reshape(weight, (-1, 1))
        mean = xp.sum(wc * Y, axis=0) / xp.sum(weight)
        ss_res = xp.sum(wc * (Y - A) ** 2, axis=0)
        ss_tot = xp.sum(wc * (Y - mean) ** 2, axis=0)
    # A constant target is fitted perfectly only by a perfect prediction (scikit-learn's rule).
    safe = xp.where(ss_tot > 0, ss_tot, xp.ones_like(ss_tot))
    constant = xp.where(ss_res == 0, xp.ones_like(ss_res), xp.zeros_like(ss_res))
    return xp.mean(xp.where(ss_tot > 0, 1 - ss_res / safe, constant))


def _copy(theta):
    """A private copy of the parameter vector, on its device."""
    xp = array_namespace(theta)
    return xp.asarray(theta, copy=True)


def _all_finite(theta) -> bool:
    xp = array_namespace(theta)
    return bool(xp.all(xp.isfinite(theta)))


# ---------------------------------------------------------------------------------------
# Argument handling.


def _rng(seed, net) -> np.random.Generator:
    """The host generator for the validation split and the batch order.

    ``seed=None`` derives a stream from the network's seed (a child of it, so it is
    not the stream the initial weights were drawn from): the same network seed
    gives the same batch order on every backend.
    """
    if seed is None:
        seed = net.seed
        if isinstance(seed, np.random.Generator):
            return seed
        if seed is None:
            return np.random.default_rng()
        return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _is_host(a) -> bool:
    return isinstance(a, (np.ndarray, list, tuple))


def _split(net, X, y, fraction: float, rng: np.random.Generator, sample_weight=None):
    """Move (X, y) to the device as a training part and a validation part.

    The validation part is the last ``ceil(fraction * m)`` rows of a seeded host
    permutation.  Host data is split on the host and each part moved once; device
    data is moved (validated) once and split with ``xp.take``.

    Returns ``(X_train, Y_train, X_val, Y_val)``, plus ``(w_train, w_val)`` when
    ``sample_weight`` is given (split with the same permutation).
    """
    m = len(X) if _is_host(X) else X.shape[0]
    n_val = math.ceil(fraction * m)
    if n_val < 1 or n_val >= m:
        raise ValueError(
            f"validation_fraction={fraction} of {m} samples leaves {m - n_val} for training "
            f"and {n_val} for validation; both need at least one"
        )
    perm = rng.permutation(m)
    train_idx, val_idx = perm[: m - n_val], perm[m - n_val:]
    xp, be = net.backend.xp, net.backend
    if _is_host(X) and _is_host(y):
        X, y = np.asarray(X), np.asarray(y)
        if y.ndim == 0 or y.shape[0] != m:
            raise ValueError(f"y has {y.shape[0] if y.ndim else 0} samples but X has {m}")
        X_train, Y_train = net.prepare(X[train_idx], y[train_idx])
        X_val, Y_val = net.prepare(X[val_idx], y[val_idx])
        parts = (X_train, Y_train, X_val, Y_val)
    else:
        Xd, Yd = net.prepare(X, y)
        ti, vi = be.asarray(train_idx), be.asarray(val_idx)
        parts = (xp.take(Xd, ti, axis=0), xp.take(Yd, ti, axis=0),
                 xp.take(Xd, vi, axis=0), xp.take(Yd, vi, axis=0))
    if sample_weight is None:
        return parts
    # Validated as a whole (not all zero, ...), then each part must keep a positive weight.
    w = net.prepare_weight(sample_weight, m)
    w_train = xp.take(w, be.asarray(train_idx), axis=0)
    w_val = xp.take(w, be.asarray(val_idx), axis=0)
    if not be.is_lazy:
        for part, ww in (("training", w_train), ("validation", w_val)):
            if not bool(xp.any(ww > 0)):
                raise ValueError(f"sample_weight is zero for every sample of the {part} part of "
                                 f"validation_fraction={fraction}; at least one weight there must be positive")
    return (*parts, w_train, w_val)


def _make_optimizer(name, learning_rate, schedule, momentum, nesterov, beta1, beta2, n_batches):
    """The optimizer and (for schedule="plateau") the plateau helper."""
    from . import optimizers

    lr = _DEFAULT_LEARNING_RATE[name] if learning_rate is None else learning_rate
    if not callable(lr):
        lr = float(lr)
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    plateau = None
    if callable(schedule):
        lr = schedule
    elif schedule in ("constant", None):
        pass
    elif schedule in ("inverse_scaling", "invscaling"):
        lr = optimizers.inverse_scaling(lr)
    elif schedule == "step":
        # Halve the rate every 10 epochs; the schedule counts updates, so 10 epochs
        # are 10 * n_batches of them.
        lr = optimizers.step_decay(lr, every=10 * n_batches)
    elif schedule == "plateau":
        plateau = optimizers.ReduceOnPlateau(learning_rate=lr if not callable(lr) else 1.0)
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {list(_SCHEDULES)} or pass a callable")
    if name == "adam":
        opt = optimizers.get_optimizer("adam", learning_rate=lr, beta1=beta1, beta2=beta2)
    elif name == "sgd":
        opt = optimizers.get_optimizer("sgd", learning_rate=lr, momentum=momentum, nesterov=nesterov)
    else:  # "gd": plain steepest descent with a fixed step, the classic batch gradient descent
        opt = optimizers.get_optimizer("gd", learning_rate=lr)
    return opt, plateau


class _Progress:
    """A tqdm bar when asked for, stderr is a terminal and tqdm is installed; else nothing."""

    def __init__(self, enabled: bool, total: int, unit: str):
        self.bar = None
        if enabled and getattr(sys.stderr, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit=unit)

    def update(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------
# The loop.


def fit(
    net,
    X,
    y,
    optimizer: str = "adam",
    *,
    epochs: int = 200,
    max_iter: int = 100,
    batch_size: Any = "auto",
    learning_rate: Any = None,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta1: float = 0.9,
    beta2: float = 0.999,
    schedule: Any = "constant",
    validation_fraction: float = 0.0,
    validation_data: Any = None,
    early_stopping: bool = False,
    patience: int = 10,
    tol: float = 1e-4,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    memory: int = 10,
    shuffle: bool = True,
    seed: Any = None,
    callbacks: Any = (),
    verbose: int = 0,
    progress: bool = False,
    sample_weight: Any = None,
) -> History:
    """Train ``net`` on (X, y); sets ``net.theta`` and ``net.history``.

    Parameters
    ----------
    net : MLP
    X : array, shape (m, n_inputs)
        NumPy or an array of the network's backend; moved to the device once.
    y : array, shape (m,) or (m, n_outputs)
        Class labels or targets, as :meth:`MLP.prepare` accepts them.
    optimizer : {"adam", "sgd", "gd", "cg", "lbfgs"}
        "gd", "sgd" and "adam" run ``epochs`` epochs of mini-batch updates
        ("gd" is plain gradient descent with a fixed step, full batch by default;
        "sgd" adds ``momentum``/``nesterov``).  "cg" (nonlinear conjugate gradient,
        Polak-Ribiere+) and "lbfgs" run at most ``max_iter`` full-batch iterations
        with a strong-Wolfe line search.
    epochs : int
        Epochs for the stochastic optimizers.
    max_iter : int
        Iterations for "cg"/"lbfgs".
    batch_size : int, None or "auto"
        Rows per mini-batch; None is the full batch, 1 is purely stochastic.
        "auto": the full batch for "gd", ``min(200, m)`` for "sgd"/"adam".
    learning_rate : float or callable, optional
        Step size (default 0.1 for gd, 0.01 for sgd, 1e-3 for adam) or a schedule
        ``schedule(count) -> float`` of the number of updates done.
    momentum, nesterov : float, bool
        Heavy-ball momentum and Nesterov's variant, for "sgd".
    beta1, beta2 : float
        Adam's decay rates.
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
    tol : float
        Minimum decrease of the monitored loss that counts as an improvement.
    gtol, ftol, memory : float, float, int
        Passed to :func:`bpnet_xp.solvers.minimize` for "cg"/"lbfgs".
    shuffle : bool
        Draw a new batch order every epoch (stochastic optimizers).
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

    Returns
    -------
    History
        Also stored as ``net.history``.

    Notes
    -----
    A non-finite training loss stops training with ``stop_reason`` starting with
    "non-finite loss" and a :class:`RuntimeWarning`; the network keeps the last
    parameters at which the loss was finite.
    """
    from .dask import is_dask_array

    if is_dask_array(X) or is_dask_array(y):
        # Data larger than memory: chunk-wise objective and streaming (bpnet_xp.dask).
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with dask arrays yet")
        from .dask import fit_dask

        return fit_dask(net, X, y, optimizer, epochs=epochs, max_iter=max_iter, batch_size=batch_size,
                        learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, beta1=beta1,
                        beta2=beta2, schedule=schedule, validation_fraction=validation_fraction,
                        validation_data=validation_data, early_stopping=early_stopping, patience=patience,
                        tol=tol, gtol=gtol, ftol=ftol, memory=memory, shuffle=shuffle, seed=seed,
                        callbacks=callbacks, verbose=verbose, progress=progress)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}")
    epochs = _positive_int(epochs, "epochs")
    max_iter = _positive_int(max_iter, "max_iter")
    patience = _positive_int(patience, "patience")
    if isinstance(verbose, bool):
        verbose = int(verbose)
    if not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative integer, got {verbose!r}")
    tol = float(tol)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    validation_fraction = float(validation_fraction)
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if validation_fraction > 0 and validation_data is not None:
        raise ValueError("pass validation_fraction or validation_data, not both")
    if callable(callbacks):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks must be callables callback(epoch, net, history), got {cb!r}")

    rng = _rng(seed, net)
    W = W_val = None
    if validation_fraction > 0:
        parts = _split(net, X, y, validation_fraction, rng, sample_weight)
        X, Y, X_val, Y_val = parts[:4]
        if sample_weight is not None:
            W, W_val = parts[4:]
    else:
        X, Y = net.prepare(X, y)
        if sample_weight is not None:
            W = net.prepare_weight(sample_weight, X.shape[0])
        X_val = Y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, w_val)")
            Xv, yv = validation_data[:2]
            if yv is None:
                raise ValueError("validation_data needs targets y_val")
            X_val, Y_val = net.prepare(Xv, yv)
            if len(validation_data) == 3 and validation_data[2] is not None:
                W_val = net.prepare_weight(validation_data[2], X_val.shape[0])

    run = _Run(net, X, Y, X_val, Y_val, optimizer, early_stopping, patience, tol, callbacks, verbose,
               W=W, W_val=W_val)
    if optimizer in _SOLVERS:
        run.solve(max_iter, gtol, ftol, memory, progress)
    else:
        m = X.shape[0]
        if batch_size == "auto":
            batch_size = None if optimizer == "gd" else min(200, m)
        elif batch_size is not None:
            batch_size = _positive_int(batch_size, "batch_size")
        batch_size = m if batch_size is None else min(batch_size, m)
        n_batches = -(-m // batch_size)
        opt, plateau = _make_optimizer(optimizer, learning_rate, schedule, momentum, nesterov,
                                       beta1, beta2, n_batches)
        run.descend(opt, plateau, epochs, batch_size, bool(shuffle), rng, progress)
    net.history = run.history
    return run.history


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _warn(message: str, category=RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside bpnet_xp (the user's
    ``fit`` line), however deep inside the package it is raised (Python 3.12's
    ``skip_file_prefixes``, by hand)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class _Run:
    """The state one call of :func:`fit` shares between its epochs."""

    def __init__(self, net, X, Y, X_val, Y_val, optimizer, early_stopping, patience, tol, callbacks, verbose,
                 W=None, W_val=None):
        self.net, self.X, self.Y, self.X_val, self.Y_val = net, X, Y, X_val, Y_val
        self.W, self.W_val = W, W_val
        self.spec = net.spec
        self.m = X.shape[0]
        # What the penalty is divided by: the number of training rows, or their total
        # weight (one device->host read, at the start).
        self.total = self.m if W is None else float(net.backend.xp.sum(W))
        self.early_stopping, self.patience, self.tol = early_stopping, patience, tol
        self.callbacks, self.verbose = callbacks, verbose
        self.history = History(optimizer=optimizer)
        self.start = time.perf_counter()
        self.best_value = math.inf
        self.best_theta = None
        self.best_iteration = None
        self.since_best = 0

    # -- bookkeeping shared by both families ---------------------------------------------------
    def record(self, k: int, total: int, theta, loss: float, word: str) -> bool:
        """Log epoch/iteration k (1-based); True when training should stop (reason set)."""
        h = self.history
        h.loss.append(loss)
        if self.X_val is not None:
            h.val_loss.append(float(_objective(self.spec, theta, self.X_val, self.Y_val, self.total, self.W_val)))
            h.val_score.append(float(_score(self.spec, theta, self.X_val, self.Y_val, self.W_val)))
        h.time.append(time.perf_counter() - self.start)
        h.n_iter = k
        if self.verbose and k % self.verbose == 0:
            line = f"{word} {k}/{total}  loss {loss:.6f}"
            if h.val_loss:
                line += f"  val_loss {h.val_loss[-1]:.6f}  val_score {h.val_score[-1]:.4f}"
            print(line, flush=True)
        stop = False
        if self.early_stopping:
            monitored = h.val_loss[-1] if h.val_loss else loss
            if monitored < self.best_value - self.tol:
                self.best_value, self.best_iteration, self.since_best = monitored, k, 0
                self.best_theta = _copy(theta)
            else:
                self.since_best += 1
                if self.since_best >= self.patience:
                    what = "validation loss" if h.val_loss else "training loss"
                    h.stop_reason = (f"early stopping: {what} did not decrease by more than tol={self.tol:g} "
                                     f"for {self.patience} {word}s")
                    stop = True
        if self.callbacks:
            self.net.theta = theta
            for cb in self.callbacks:
                if cb(k, self.net, h) is True:
                    if not stop:
                        h.stop_reason = "stopped by callback"
                    stop = True
        return stop

    def finish(self, theta) -> None:
        """Keep the best parameters under early stopping, store theta, announce odd stops."""
        h = self.history
        if self.early_stopping and self.best_theta is not None and not h.stop_reason.startswith("non-finite"):
            theta = self.best_theta
            h.best_iteration = self.best_iteration
        self.net.theta = theta
        if self.verbose and not h.stop_reason.startswith("maximum"):
            print(f"stopped after {h.n_iter}: {h.stop_reason}", flush=True)

    def non_finite(self, where: str) -> None:
        reason = (f"non-finite loss {where}; training stopped and the network keeps the last "
                  "parameters with a finite loss (lower the learning rate, or standardise the inputs)")
        self.history.stop_reason = reason
        _warn(reason)

    def run_epochs(self, theta, opt, plateau, epochs, bar, epoch_step, last_finite, finite_at) -> None:
        """The epoch loop of every stochastic optimizer (in memory and Dask): the loss of
        each epoch, the guard against non-finite losses, early stopping, callbacks and the
        plateau schedule, in one place.

        ``epoch_step(theta, state, scale) -> (theta, state, value)`` runs one epoch of
        updates and returns its mean loss as a Python float (the epoch's one
        device->host sync).  ``last_finite(start_theta, safe) -> theta`` says where to go
        back to after an epoch whose loss is not finite.  ``finite_at(theta) -> bool``
        checks the parameters after the last update, which no epoch loss has seen.
        """
        state = opt.init(theta)
        scale = 1.0
        safe = theta  # parameters known to have a finite loss
        try:
            for epoch in range(1, epochs + 1):
                start_theta = theta
                theta, state, value = epoch_step(theta, state, scale)
                if not math.isfinite(value):
                    theta = last_finite(start_theta, safe)
                    self.non_finite(f"at epoch {epoch}")
                    break
                safe = start_theta
                bar.update(value)
                if self.record(epoch, epochs, theta, value, "epoch"):
                    break
                if plateau is not None:
                    scale = plateau.scale(self.history.val_loss[-1] if self.history.val_loss else value)
            else:
                self.history.stop_reason = "maximum epochs reached"
            if not self.history.stop_reason.startswith("non-finite") and not finite_at(theta):
                # The last update was never evaluated (its batch loss is from before it):
                # one check at the end keeps a final overflow from slipping through.
                theta = safe
                self.non_finite(f"after the last update of epoch {self.history.n_iter}")
        finally:
            bar.close()
        self.finish(theta)

    # -- stochastic: epochs of mini-batches ----------------------------------------------------
    def descend(self, opt, plateau, epochs, batch_size, shuffle, rng, progress) -> None:
        net, spec, X, Y, m, W, total_weight = self.net, self.spec, self.X, self.Y, self.m, self.W, self.total
        xp, be = net.backend.xp, net.backend
        # Compiled where that pays (jax.jit on JAX; m_total and the spec are static).
        batch_loss_and_grad = be.compile(_batch_loss_and_grad, static_argnums=(0, 4))
        # One gradient vector for every step where the library can write into it: the
        # optimizers read each gradient before the next is computed and keep no reference
        # to it, and the layers' products then land in place instead of being
        # concatenated (None elsewhere).
        lib = inplace_namespace(net.theta)
        grad_buffer = None if lib is None else lib.empty_like(net.theta)
        last_batch = [X, Y]

        def epoch_step(theta, state, scale):
            if shuffle:
                order = be.asarray(rng.permutation(m))  # the one host->device copy of the epoch
            total = None
            for lo in range(0, m, batch_size):
                hi = min(lo + batch_size, m)
                Wb = None
                if shuffle:
                    idx = order[lo:hi]
                    Xb, Yb = xp.take(X, idx, axis=0), xp.take(Y, idx, axis=0)
                    if W is not None:
                        Wb = xp.take(W, idx, axis=0)
                elif lo == 0 and hi == m:
                    Xb, Yb, Wb = X, Y, W
                else:
                    Xb, Yb = X[lo:hi, ...], Y[lo:hi, ...]
                    if W is not None:
                        Wb = W[lo:hi]
                if Wb is None:
                    loss, grad = batch_loss_and_grad(spec, theta, Xb, Yb, m, out=grad_buffer)
                    term = loss * (hi - lo)
                else:
                    loss, grad = batch_loss_and_grad(spec, theta, Xb, Yb, total_weight, Wb, grad_buffer)
                    # The epoch's loss weights each batch by its share of the total weight.
                    term = loss * xp.sum(Wb)
                theta, state = opt.step(grad, state, theta, scale=scale)
                self.history.n_evaluations += 1
                total = term if total is None else total + term
            last_batch[:] = Xb, Yb
            return theta, state, float(total / total_weight)  # the one device->host sync of the epoch

        def finite_at(theta):
            # On the last batch, not the whole training set: a full forward pass would cost a
            # third of an epoch and the activations of every sample at once.  Unweighted: a
            # last batch whose weights are all 0 would divide by 0.
            Xb, Yb = last_batch
            return _all_finite(theta) and math.isfinite(float(loss_value(spec, theta, Xb, Yb)))

        self.run_epochs(net.theta, opt, plateau, epochs, _Progress(progress, epochs, "epoch"),
                        epoch_step, self._last_finite, finite_at)

    def _last_finite(self, start_theta, safe):
        """After an epoch with a non-finite loss: its starting theta if J is finite there, else ``safe``."""
        if _all_finite(start_theta) and math.isfinite(
                float(loss_value(self.spec, start_theta, self.X, self.Y, self.W))):
            return start_theta
        return safe

    # -- full batch: conjugate gradient and L-BFGS ---------------------------------------------
    def solve(self, max_iter, gtol, ftol, memory, progress) -> None:
        spec, X, Y, W = self.spec, self.X, self.Y, self.W
        objective = self.net.objective  # loss_and_grad, compiled where that pays (JAX)
        fun = (lambda t: objective(spec, t, X, Y)) if W is None else (lambda t: objective(spec, t, X, Y, W))
        self.minimize(fun, max_iter, gtol, ftol, memory, _Progress(progress, max_iter, "iteration"))

    def minimize(self, fun, max_iter, gtol, ftol, memory, bar) -> None:
        """Run the history's solver ("cg"/"lbfgs") on ``fun(theta) -> (J, grad)``, recording
        every iteration; also used by :mod:`bpnet_xp.dask` with its map-reduce ``fun``."""
        from .solvers import minimize

        stopped = [False]

        def callback(iteration, theta, loss):
            bar.update(loss)
            k = len(self.history.loss) + 1  # 1-based, as the solver's own count
            if self.record(k, max_iter, theta, float(loss), "iteration"):
                stopped[0] = True
                return True
            return None

        try:
            result = minimize(fun, self.net.theta, method=self.history.optimizer,
                              max_iter=max_iter, gtol=gtol, ftol=ftol, memory=memory, callback=callback)
        finally:
            bar.close()
        h = self.history
        h.loss = [float(v) for v in result.losses]
        h.n_iter = int(result.n_iter)
        h.n_evaluations = int(result.n_evaluations)
        if not stopped[0]:
            h.stop_reason = result.stop_reason
        if result.stop_reason.startswith("non-finite"):
            h.stop_reason = result.stop_reason
            _warn(f"{result.stop_reason}; the network keeps the last parameters with a finite loss")
        self.finish(result.theta)
