"""scikit-learn estimators on bpnet_xp networks: :class:`BPClassifier` and :class:`BPRegressor`.

They behave as scikit-learn's own estimators do (``__init__`` only stores
hyperparameters, ``fit`` returns ``self``, learned attributes end in ``_``, input
validation through scikit-learn's helpers, tags through ``__sklearn_tags__``) and
pass ``sklearn.utils.estimator_checks``; underneath, every forward and backward pass
is :class:`bpnet_xp.MLP`'s array-API code and training is :func:`bpnet_xp.training.fit`.

Where the work runs: "everything follows X"
-------------------------------------------
* ``X`` a CuPy, PyTorch, JAX, array-api-strict or Dask array: the network is built on
  X's library and device (``backend``/``device`` are ignored), and predictions and
  probabilities come back as arrays of that library on that device.  ``y`` and
  ``sample_weight`` may come from any library: they are small, and are copied to the
  host once (the class labels have to be found there anyway).
* ``X`` NumPy (or a list, a memmap, anything ``numpy.asarray`` takes): the
  ``backend`` and ``device`` parameters decide where the work runs ("auto": CuPy when
  a CUDA device works, else NumPy), and results come back as NumPy.
* ``dtype=None`` follows X too: float32 data trains in float32, anything else in
  float64 (as scikit-learn's MLP); ``dtype="float32"``/``"float64"`` forces one.

With scikit-learn's ``array_api_dispatch`` enabled, a fitted estimator refuses data
from another namespace or device than the one it was fitted on (scikit-learn's rule
and message); without it, NumPy data given to a network fitted on another backend is
moved there and the result moved back.

Sparse X
--------
A ``scipy.sparse`` matrix or array (CSR, CSC, COO) is validated as dense input is
(NaN/inf among the stored values refused, shapes, dtype) and kept sparse, as CSR, on
the host; it is densified one mini-batch at a time (stochastic optimizers: the same
batches, order, schedule and penalty as the dense path, so a fixed seed gives the same
numbers), or in blocks of at most ``2**22`` values whose loss and gradient are summed
(the full-batch "lbfgs", "cg", "rprop" and full-batch "gd", predictions, the
early-stopping hold-out).  "newton", "scg", "lm" and "br" need curvature products of
the whole data and refuse sparse X with a ValueError naming the optimizer.  Training
is the one driver, :func:`bpnet_xp.training.train`, given a source built over the sparse
rows: its verbose lines, progress bar, callbacks, stopping and divergence rules apply.

Sample weights
--------------
``sample_weight`` (any finite, non-negative reals, not all zero) goes to the network
core as a per-sample weight in the loss: the objective is
``sum_i w_i L_i / sum(w) + l2 / (2 sum(w)) * sum(W**2)`` (scikit-learn's MLP
definition), so an integer weight k is exactly the row repeated k times and a weight
0 the row removed.  Mini-batches divide their data term by their own weight sum
(see :func:`bpnet_xp.training.fit`); the early-stopping hold-out keeps the weights of
its rows for the validation loss and score.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

try:
    from sklearn import get_config
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_array,
        check_consistent_length,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - scikit-learn is an optional extra
    raise ImportError(
        "bpnet_xp.sklearn needs scikit-learn; install it with: pip install 'bpnet_xp[sklearn]'"
    ) from exc

from array_api_compat import array_namespace, is_array_api_obj
from scipy import sparse as scipy_sparse  # scikit-learn's own dependency: present wherever it is

from . import backend as _backend
from .activations import log_sigmoid, log_softmax, sigmoid
from .config import OPTIMIZER_NAMES, SCHEDULES, STOCHASTIC, fit_options, is_full_batch, optimizer_names
from .history import History
from .metrics import output_score
from .model import MLP
from .network import data_loss_and_grad, forward, loss_value, penalty_and_grad
from .sources import batch_loss_and_grad, batch_rows
from .training import train
from .validation import check_cast, plain

__all__ = ["BPClassifier", "BPRegressor"]

_STOCHASTIC = optimizer_names(STOCHASTIC)
_ACTIVATION_ALIASES = {"logistic": "sigmoid"}  # scikit-learn's name for the sigmoid


# ---------------------------------------------------------------------------------------
# Helpers: where data lives.


def _native_backend(X):
    """The Backend of a non-NumPy array-API array (torch, cupy, ...), else None (host data)."""
    if X is None or isinstance(X, (np.ndarray, np.generic, list, tuple)):
        return None
    if not is_array_api_obj(X):
        return None
    try:
        be = _backend.backend_of(X)
    except TypeError:
        return None
    return None if be.name == "numpy" else be


def _to_host(a):
    """Arrays of any backend -> NumPy (one explicit copy); other objects unchanged."""
    if _native_backend(a) is not None:
        return _backend.to_numpy(a)
    return a


def _dispatch_enabled() -> bool:
    return bool(get_config().get("array_api_dispatch", False))


def _namespace_error(estimator, method: str, detail: str) -> ValueError:
    return ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same namespace and the "
        f"same device as those passed to fit(). {detail}"
    )


# ---------------------------------------------------------------------------------------
# scipy.sparse X: densified one block of rows at a time, never as a whole.

#: The sparse formats taken as they are (any other is converted by scikit-learn's check_array).
_SPARSE_FORMATS = ("csr", "csc", "coo")
#: The most elements one densified block of a sparse X holds where a pass covers more rows
#: than a mini-batch (full-batch objectives, predictions, validation): 2**22, 32 MiB in float64.
_BLOCK_ELEMENTS = 1 << 22
#: The trainers that need curvature products of the whole data, which the blocks do not offer.
_SPARSE_REFUSED = ("newton", "scg", "lm", "br")


class _SparseRows:
    """A scipy.sparse X (CSR on the host) with its targets and weights, dense one block at a time.

    Parameters
    ----------
    net : MLP
        The network whose device, dtype and target encoding the blocks get.
    X : scipy.sparse matrix or array, shape (m, n_features)
        Validated; kept as CSR (row slices are cheap there).
    targets : ndarray, shape (m,) or (m, n_outputs), or None
        As the network's ``prepare`` takes them (None: predictions only).
    weight : ndarray, shape (m,), optional
        Sample weights.
    total : float, optional
        The L2 penalty's divisor (the training part's rows or weight); default: this data's.
    """

    def __init__(self, net, X, targets, weight=None, total=None):
        self.net, self.X, self.targets, self.weight = net, X.tocsr(), targets, weight
        self.m = X.shape[0]
        self.block_rows = max(1, _BLOCK_ELEMENTS // max(1, X.shape[1]))
        if total is None:
            total = self.m if weight is None else float(np.sum(weight))
        self.total = total

    def block(self, index):
        """``(X, Y, W)`` of the rows ``index`` (a slice or host int array) on the device, dense."""
        Xd, Yd = self.net.prepare(self.X[index].toarray(), None if self.targets is None else self.targets[index])
        Wd = None if self.weight is None else self.net.backend.asarray(self.weight[index], self.net.dtype)
        return Xd, Yd, Wd

    def pieces(self, index):
        """The rows ``index`` cut into blocks of at most ``block_rows`` rows (slices or index arrays)."""
        n = (index.stop - index.start) if isinstance(index, slice) else len(index)
        if n <= self.block_rows:
            return [index]
        if isinstance(index, slice):
            return [slice(lo, min(lo + self.block_rows, index.stop))
                    for lo in range(index.start, index.stop, self.block_rows)]
        return [index[lo:lo + self.block_rows] for lo in range(0, n, self.block_rows)]

    def loss_and_grad(self, theta, index):
        """``(loss, grad, weight)`` of the batch ``index``: :func:`batch_loss_and_grad` of the
        dense rows, summed block by block when the batch is larger than a block."""
        spec, xp = self.net.spec, self.net.backend.xp
        parts = self.pieces(index)
        if len(parts) == 1:
            Xb, Yb, Wb = self.block(index)
            loss, grad = batch_loss_and_grad(spec, theta, Xb, Yb, self.total, Wb)
            return loss, grad, (Xb.shape[0] if Wb is None else xp.sum(Wb))
        if self.weight is None:
            weight = sum(len(range(self.m)[p]) if isinstance(p, slice) else len(p) for p in parts)
        else:
            weight = float(np.sum(self.weight[index]))
        scale = 1.0 / (weight if weight > 0 else 1.0)  # an all-zero batch: data term 0, as in memory
        loss = grad = None
        for part in parts:
            Xb, Yb, Wb = self.block(part)
            value, g = data_loss_and_grad(spec, theta, Xb, Yb, Wb, scale=scale)
            loss, grad = (value, g) if grad is None else (loss + value, grad + g)
        if spec.l2 != 0:
            penalty, penalty_grad = penalty_and_grad(spec, theta, self.total)
            loss, grad = loss + penalty, grad + penalty_grad
        return loss, grad, weight

    def objective(self, theta):
        """J(theta) and its gradient over all the rows, for the full-batch solvers."""
        loss, grad, _ = self.loss_and_grad(theta, slice(0, self.m))
        return loss, grad

    def finite_loss(self, theta, index) -> bool:
        """Whether the unweighted loss of the rows ``index`` is finite, block by block."""
        spec = self.net.spec
        for part in self.pieces(index):
            Xb, Yb, _ = self.block(part)
            if not math.isfinite(float(loss_value(spec, theta, Xb, Yb))):
                return False
        return True

    def outputs(self, theta):
        """``(Z, A, Y)``: output pre-activations, activations and targets of every row, shape (m, K)."""
        xp, spec = self.net.backend.xp, self.net.spec
        Zs, As, Ys = [], [], []
        for part in self.pieces(slice(0, self.m)):
            Xb, Yb, _ = self.block(part)
            Z, A = forward(spec, theta, Xb)
            Zs, As, Ys = Zs + [Z], As + [A], Ys + [Yb]
        return xp.concat(Zs), xp.concat(As), (None if self.targets is None else xp.concat(Ys))

    def loss_and_score(self, theta, m_total):
        """Validation J (the training part's penalty, divisor ``m_total``) and score, floats."""
        spec, be = self.net.spec, self.net.backend
        Z, A, Y = self.outputs(theta)
        W = None if self.weight is None else be.asarray(self.weight, self.net.dtype)
        if W is None:
            value = spec.loss.value(Z, A, Y) / self.m
        else:
            value = spec.loss.value(Z, A, Y, be.xp.reshape(W, (-1, 1))) / be.xp.sum(W)
        if spec.l2 != 0:
            value = value + penalty_and_grad(spec, theta, m_total)[0]
        return float(value), float(output_score(spec, A, Y, W))


def _all_finite(theta) -> bool:
    xp = array_namespace(theta)
    return bool(xp.all(xp.isfinite(theta)))


class _SparseBatches:
    """A batch source of :func:`bpnet_xp.training.train` over sparse rows, densified one batch at a time.

    The batches of :class:`bpnet_xp.sources.MemorySource` on the dense X: the same size,
    the same row order (one host permutation per epoch from the driver's generator; none
    for the full batch) and the same weights, so a fixed seed gives the same numbers.
    A batch is the host index of its rows (a slice or an int array), densified when it is
    evaluated (in blocks of :data:`_BLOCK_ELEMENTS` when larger).

    Parameters
    ----------
    rows : _SparseRows
        The training rows, targets and weights.
    batch_size : int
        Rows per batch, in [1, m] (:func:`bpnet_xp.sources.batch_rows`).
    shuffle : bool
        A new row order every epoch.
    """

    def __init__(self, rows: _SparseRows, batch_size: int, shuffle: bool):
        self.rows, self.batch_size = rows, batch_size
        self.shuffle = bool(shuffle) and batch_size < rows.m  # the full batch has one order only
        self.n_batches = -(-rows.m // batch_size)
        self.epoch_weight = rows.total
        self._last = slice(0, min(batch_size, rows.m))

    def batches(self, rng: np.random.Generator):
        """The epoch's batches: host row indices, in MemorySource's order."""
        m, size = self.rows.m, self.batch_size
        order = rng.permutation(m) if self.shuffle else None
        for lo in range(0, m, size):
            index = slice(lo, min(lo + size, m)) if order is None else order[lo:lo + size]
            self._last = index
            yield index

    def compiled_epoch(self, optimizer):
        """None: host slicing and densifying per batch runs the driver's generic loop."""
        return None

    def evaluate(self, theta, batch):
        """``(loss, grad, weight)`` of the rows ``batch``."""
        return self.rows.loss_and_grad(theta, batch)

    def finite_at(self, theta) -> bool:
        """As MemorySource: finite parameters with a finite (unweighted) loss on the last batch."""
        return _all_finite(theta) and self.rows.finite_loss(theta, self._last)

    def fallback(self, start_theta, safe):
        """After a non-finite epoch: its start if J (all rows, weighted) is finite there, else ``safe``."""
        if _all_finite(start_theta) and math.isfinite(float(self.rows.objective(start_theta)[0])):
            return start_theta
        return safe


def _sparse_source(rows: _SparseRows, options):
    """What :func:`bpnet_xp.training.train` trains on for sparse rows: a batch source for the
    stochastic optimizers, the block-by-block objective for the full-batch ones."""
    name = options.optimizer
    if name in _SPARSE_REFUSED:
        raise ValueError(
            f"optimizer={name!r} needs curvature products (Hessian-vector or Jacobian) of the whole "
            "data, which sparse X does not offer without densifying it; use optimizer='lbfgs' or 'cg' "
            "(full batch, evaluated a block of rows at a time), or 'adam'/'sgd' (one dense mini-batch "
            "at a time), or pass X dense"
        )
    if is_full_batch(name):
        return rows.objective
    return _SparseBatches(rows, batch_rows(options.batch_size, name, rows.m), options.shuffle)


# ---------------------------------------------------------------------------------------
# The shared base.


class _BaseBP(BaseEstimator):
    """Hyperparameters, validation, fitting and pickling shared by the two estimators."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "sigmoid", "logistic", "tanh", "relu"})],
        "loss": [None, StrOptions({"cross_entropy", "softmax_cross_entropy", "mse"})],
        "l2": [Interval(numbers.Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZER_NAMES))],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left"), None],
        "learning_rate": [None, Interval(numbers.Real, 0, None, closed="neither"), callable],
        "schedule": [StrOptions(set(SCHEDULES)), callable],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), Options(numbers.Real, {np.inf})],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "backend": [str, _backend.Backend],
        "device": "no_validation",
        "dtype": [None, StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    _regression = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss=None,
        l2=1e-4,
        optimizer="adam",
        max_iter=200,
        batch_size="auto",
        learning_rate=None,
        schedule="constant",
        momentum=0.9,
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        backend="auto",
        device=None,
        dtype=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.l2 = l2
        self.optimizer = optimizer
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.momentum = momentum
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.warm_start = warm_start

    # -- tags -----------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.sparse = True  # scipy.sparse X: densified one mini-batch (or block) at a time
        return tags

    # -- learned attributes that are views of theta -----------------------------------------
    @property
    def coefs_(self):
        """Per-layer weight matrices, shape (n_in, n_out): views of ``network_.theta``."""
        check_is_fitted(self, "network_")
        return [W for W, _ in self.network_.weights]

    @property
    def intercepts_(self):
        """Per-layer bias vectors, shape (n_out,): views of ``network_.theta``."""
        check_is_fitted(self, "network_")
        return [b for _, b in self.network_.weights]

    # -- pickling: the Backend holds a module, so rebuild it from theta ------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("network_", None)
        if net is not None:
            state["_network_state"] = {k: v for k, v in net.__dict__.items() if k not in ("backend", "_dtype")}
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_network_state", None)
        if saved is not None:
            net = MLP.__new__(MLP)
            net.__dict__.update(saved)
            # theta pickles as an array of its own library and device; the backend follows it.
            net.backend = _backend.backend_of(saved["_theta"])
            net._dtype = net.backend.dtype(net.dtype)
            state["network_"] = net
        super().__setstate__(state)

    # -- small parameter helpers ----------------------------------------------------------------
    def _hidden_sizes(self) -> tuple:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        for n in sizes:
            if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
                raise ValueError("hidden_layer_sizes must be positive integers, "
                                 f"got {plain(self.hidden_layer_sizes)!r}")
        return tuple(int(n) for n in sizes)

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)  # the same seed as MLP(seed=...) would get
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _stochastic(self) -> bool:
        return self.optimizer in _STOCHASTIC

    def _check_stochastic(self) -> bool:
        if not self._stochastic():
            raise AttributeError(
                f"partial_fit is only available for the stochastic optimizers {_STOCHASTIC}, "
                f"not optimizer={self.optimizer!r}"
            )
        return True

    # -- input validation ------------------------------------------------------------------------
    def _check_native_X(self, X, be, reset: bool):
        """scikit-learn's checks for an array of another library, kept on its device."""
        xp, name = be.xp, type(self).__name__
        if X.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead. Reshape your data either using "
                "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
                "if it contains a single sample."
            )
        m, n = X.shape
        if m < 1:
            raise ValueError(f"Found array with {m} sample(s) (shape={tuple(X.shape)}) "
                             f"while a minimum of 1 is required by {name}.")
        if n < 1:
            raise ValueError(f"Found array with {n} feature(s) (shape={tuple(X.shape)}) "
                             f"while a minimum of 1 is required by {name}.")
        if xp.isdtype(X.dtype, "complex floating"):
            raise ValueError("Complex data not supported")
        if not xp.isdtype(X.dtype, "real floating"):
            if not (xp.isdtype(X.dtype, "integral") or X.dtype == xp.bool):
                raise ValueError(f"X must be numeric, got dtype {X.dtype}")
            X = xp.astype(X, xp.float64 if be.has_float64 else xp.float32)
        if not be.is_lazy and not bool(xp.all(xp.isfinite(X))):
            if bool(xp.any(xp.isnan(X))):
                raise ValueError("Input X contains NaN.")
            raise ValueError(f"Input X contains infinity or a value too large for dtype('{X.dtype}').")
        if reset:
            self.n_features_in_ = int(n)
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif n != self.n_features_in_:
            raise ValueError(f"X has {n} features, but {name} is expecting {self.n_features_in_} features as input.")
        return X

    def _validate_fit(self, X, y, reset: bool):
        """Validate (X, y): X stays on its device (or host), y comes back as host NumPy."""
        native = _native_backend(X)
        if native is None:
            X, y = validate_data(self, X, y, reset=reset, multi_output=True, accept_sparse=_SPARSE_FORMATS,
                                 dtype=(np.float64, np.float32), y_numeric=self._regression)
            if scipy_sparse.issparse(X):
                X = X.tocsr()  # rows are taken (hold-out, batches): CSR slices them without a copy of the rest
        else:
            if y is None:
                raise ValueError(f"This {type(self).__name__} estimator requires y to be passed, "
                                 "but the target y is None.")
            X = self._check_native_X(X, native, reset)
            y = check_array(_to_host(y), ensure_2d=False, dtype="numeric" if self._regression else None,
                            input_name="y")
            check_consistent_length(np.empty((X.shape[0], 0)), y)
        if y.ndim == 2 and y.shape[1] == 1 and not self._regression:
            y = column_or_1d(y, warn=True)
        return X, np.asarray(y), native

    def _validate_predict(self, X, method: str):
        """Validate X for a prediction; returns (X on the network's device, results-to-host flag)."""
        check_is_fitted(self, "network_")
        net = self.network_
        native = _native_backend(X)
        if native is None:
            if _dispatch_enabled() and self._fitted_on_native:
                raise _namespace_error(
                    self, method, f"It was fitted on {net.backend} arrays but was given {type(X).__name__} input."
                )
            X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32), accept_sparse=_SPARSE_FORMATS)
            if scipy_sparse.issparse(X):
                return X, True  # densified a block at a time by _outputs
            if X.dtype != net.dtype:  # float64 data for a float32 network: refuse what overflows
                check_cast(X, getattr(np, net.dtype), "X")
            return net.backend.asarray(X, net.dtype), True
        if not net.backend.is_native(X) or not net.backend.same_device(X):
            raise _namespace_error(
                self, method, f"It was fitted on {net.backend} but X is a {native.name} array on {native.device}."
            )
        X = self._check_native_X(X, native, reset=False)
        dtype = net.backend.dtype(net.dtype)  # the network's dtype object on its backend
        if X.dtype != dtype:
            check_cast(X, dtype, "X")  # a value a float32 network cannot hold is named, not made inf
            X = native.xp.astype(X, dtype)
        return X, False

    def _outputs(self, X, method: str):
        """Output pre-activations Z and activations A, shape (m, n_outputs), on the device."""
        Xd, to_host = self._validate_predict(X, method)
        if scipy_sparse.issparse(Xd):
            Z, A, _ = _SparseRows(self.network_, Xd, None).outputs(self.network_.theta)
            return Z, A, to_host
        Z, A = forward(self.network_.spec, self.network_.theta, Xd)
        return Z, A, to_host

    def _result(self, array, to_host: bool):
        return self.network_.backend.to_numpy(array) if to_host else array

    # -- fitting ---------------------------------------------------------------------------------
    def _targets(self, y, first: bool, classes=None):
        """(targets for MLP, n_outputs, output activation, loss); sets the label attributes."""
        raise NotImplementedError

    def _network_dtype(self, X, be) -> str:
        if self.dtype is not None:
            return self.dtype
        if not be.has_float64:
            return "float32"
        return "float32" if "float32" in str(X.dtype) else "float64"

    def _new_network(self, n_features, n_outputs, output, loss, be, dtype, seed) -> MLP:
        activation = _ACTIVATION_ALIASES.get(self.activation, self.activation)
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        return MLP(sizes, activation=activation, output=output, loss=loss, l2=self.l2,
                   backend=be, dtype=dtype, seed=seed)

    def _fit_backend(self, native):
        if native is not None:
            return native
        return _backend.get_backend(self.backend, self.device)

    def _rows(self, X, index, native):
        """Rows ``index`` (host int array) of X, on X's side of the bus."""
        if index is None:
            return X
        if native is None:
            return X[index]
        return native.xp.take(X, native.asarray(index), axis=0)

    def _fit(self, X, y, sample_weight=None, *, partial: bool, classes=None):
        if partial and self.early_stopping:
            # scikit-learn's rule, also after a fit with early stopping: one epoch has nothing to stop.
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not (partial and hasattr(self, "network_"))
        X, y, native = self._validate_fit(X, y, reset=first)
        m = X.shape[0]
        if sample_weight is not None:
            # Small and needed on the host for the hold-out split; the network moves the
            # training part to the device once, with X.
            sample_weight = _check_sample_weight(_to_host(sample_weight), np.empty((m, 0)),
                                                 dtype=np.float64, ensure_non_negative=True)
            if np.all(sample_weight == 1.0):
                sample_weight = None  # the unweighted objective, exactly
        if not partial and self.warm_start and hasattr(self, "classes_") and hasattr(self, "network_"):
            self._check_warm_start_classes(y)
        targets, n_outputs, output, loss = self._targets(y, first, classes)
        seed = self._seed() if first else None
        net = self._network(X, native, n_outputs, output, loss, first, partial, seed)
        holdout = self.early_stopping and self._stochastic() and not partial
        X_train, y_train, w_train, validation = self._split(X, targets, sample_weight, native, holdout, seed)
        if partial:
            self._partial_epoch(net, X_train, y_train, w_train)
        else:
            self._full_fit(net, X_train, y_train, validation, w_train)
        return self

    def _network(self, X, native, n_outputs, output, loss, first: bool, partial: bool, seed) -> MLP:
        """The network to train: the fitted one (partial_fit, warm_start) or a new one."""
        be = self._fit_backend(native)
        reuse = (not first) or (
            self.warm_start and hasattr(self, "network_") and not partial
            and self.network_.layer_sizes == (X.shape[1], *self._hidden_sizes(), n_outputs)
            and self.network_.output == output and self.network_.loss_name == loss
            and self.network_.backend == be
        )
        if not reuse:
            self.network_ = self._new_network(X.shape[1], n_outputs, output, loss, be,
                                              self._network_dtype(X, be), seed)
            self.loss_curve_ = []
            self.n_iter_ = 0
            self._optimizer_state = None
            self._reset_convergence()
            # partial_fit's batch order: its own stream, derived from the same seed.
            self._partial_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
        net = self.network_
        self._fitted_on_native = native is not None
        if not self._regression and self._mode != "multilabel":
            net.classes = self.classes_  # the labels outputs 0..K-1 stand for; io.save keeps them
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(net.layer_sizes)
        self.out_activation_ = net.output
        return net

    def _split(self, X, targets, sample_weight, native, holdout: bool, seed):
        """``(X_train, y_train, w_train, validation)``: an early-stopping hold-out (stratified
        for class labels) when ``holdout``, else all the rows and ``validation`` None."""
        index = validation = None
        if holdout:
            stratify = targets if (not self._regression and targets.ndim == 1) else None
            index, val_index = train_test_split(np.arange(X.shape[0]), test_size=self.validation_fraction,
                                                random_state=seed if seed is not None else 0,
                                                stratify=stratify)
            index, val_index = np.sort(index), np.sort(val_index)
            if val_index.shape[0] < 2:  # a score of one sample cannot rank epochs (scikit-learn's check)
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size "
                                 f"of your dataset (validation_fraction={self.validation_fraction} of "
                                 f"{X.shape[0]} samples leaves {val_index.shape[0]} for validation; 2 are needed).")
            validation = (self._rows(X, val_index, native), targets[val_index])
            if sample_weight is not None:
                if not np.any(sample_weight[val_index] > 0):
                    raise ValueError("The sample weights for the validation set are all zero, consider using a "
                                     "different random_state or validation_fraction.")
                validation = (*validation, sample_weight[val_index])
        X_train = self._rows(X, index, native)
        y_train = targets if index is None else targets[index]
        w_train = None
        if sample_weight is not None:
            w_train = sample_weight if index is None else sample_weight[index]
            if not np.any(w_train > 0):
                raise ValueError("Sample weights must contain at least one non-zero number in the training part.")
        return X_train, y_train, w_train, validation

    def _check_warm_start_classes(self, y) -> None:
        """warm_start refits only on the classes of the previous fit (scikit-learn's rule)."""
        classes = unique_labels(y) if not self._regression else None
        if classes is not None and set(classes.tolist()) != set(np.asarray(self.classes_).tolist()):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                             f"call to fit. Previously got {self.classes_}, `y` has {classes}")

    def _reset_convergence(self) -> None:
        """The state of scikit-learn's convergence rule for a new network (kept by warm_start)."""
        self._no_improvement_count = 0
        holdout = self.early_stopping and self._stochastic()
        self.best_loss_ = None if holdout else math.inf
        self.best_validation_score_ = -math.inf if holdout else None
        self.validation_scores_ = [] if holdout else None
        net = self.network_
        self._best_theta, self._best_epoch = net.backend.xp.asarray(net.theta, copy=True), None

    def _convergence(self, early_stopping: bool, stopped: list):
        """scikit-learn's convergence rule for the stochastic solvers, as a ``fit`` callback.

        After each epoch: without early stopping, an epoch whose training loss is above
        ``best_loss_ - tol`` counts as no improvement (``best_loss_`` the lowest loss);
        with it, one whose validation score is below ``best_validation_score_ + tol``
        (the parameters of the best score are kept).  Training stops when more than
        ``n_iter_no_change`` epochs in a row did not improve.  ``stopped`` receives
        scikit-learn's message.
        """
        tol, patience = self.tol, self.n_iter_no_change

        def callback(epoch, net, history):
            if early_stopping:
                score = history.val_score[-1]
                self.validation_scores_.append(score)
                best = -math.inf if self.best_validation_score_ is None else self.best_validation_score_
                self._no_improvement_count = self._no_improvement_count + 1 if not score >= best + tol else 0
                if score > best:
                    self.best_validation_score_ = score
                    self._best_theta = net.backend.xp.asarray(net.theta, copy=True)
                    self._best_epoch = epoch
            else:
                self._track_best_loss(history.loss[-1])
            if self._no_improvement_count <= patience:
                return None
            what = "Validation score" if early_stopping else "Training loss"
            stopped.append(f"{what} did not improve more than tol={tol:f} for {patience} consecutive epochs.")
            return True

        return callback

    def _track_best_loss(self, loss: float) -> None:
        """scikit-learn's count of epochs without improving ``best_loss_`` by ``tol``."""
        best = math.inf if self.best_loss_ is None else self.best_loss_
        self._no_improvement_count = self._no_improvement_count + 1 if not loss <= best - self.tol else 0
        self.best_loss_ = min(best, loss)

    def _full_fit(self, net, X, y, validation, sample_weight=None) -> None:
        stochastic = self._stochastic()
        early_stopping = stochastic and validation is not None
        stopped: list = []
        if early_stopping and self.validation_scores_ is None:  # warm start after a fit without it
            self.validation_scores_ = []
        callbacks = [self._convergence(early_stopping, stopped)] if stochastic else ()
        options = dict(epochs=self.max_iter, max_iter=self.max_iter, batch_size=self.batch_size,
                       learning_rate=self.learning_rate, momentum=self.momentum, schedule=self.schedule,
                       shuffle=self.shuffle, callbacks=callbacks,
                       gtol=self.tol,  # for "cg"/"lbfgs": max |gradient| <= tol, as scikit-learn's lbfgs
                       verbose=int(self.verbose), sample_weight=sample_weight)
        if scipy_sparse.issparse(X):
            history = self._sparse_fit(net, X, y, validation, options)
        else:
            history = net.fit(X, y, optimizer=self.optimizer, validation_data=validation, **options)
        if stopped:
            history.stop_reason = stopped[0]
        if early_stopping:
            # scikit-learn keeps the parameters of the best validation score, however it stopped.
            net.theta = self._best_theta
            history.best_iteration = self._best_epoch
        self.history_ = history
        self.loss_curve_ = list(history.loss)
        self.n_iter_ = int(history.n_iter)
        self.stop_reason_ = history.stop_reason
        if not stochastic:
            self.best_loss_ = min(history.loss) if history.loss else None
            self.validation_scores_ = self.best_validation_score_ = None
        self._optimizer_state = None  # fit's optimizer state is not kept; partial_fit starts afresh
        if history.stop_reason in ("maximum epochs reached", "maximum iterations reached"):
            what = "epochs" if stochastic else "iterations"
            warnings.warn(
                f"{type(self).__name__}: maximum {what} ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.", ConvergenceWarning, stacklevel=4,
            )

    def _sparse_fit(self, net, X, y, validation, options: dict) -> History:
        """:meth:`MLP.fit` for a scipy.sparse X: the one driver (:func:`bpnet_xp.training.train`)
        on a source that densifies a block of rows at a time."""
        rows = _SparseRows(net, X, y, options.pop("sample_weight"))  # the weights are the source's
        checked = fit_options(self.optimizer, **options)
        validate = None
        if validation is not None:
            held_out = _SparseRows(net, validation[0], validation[1], validation[2] if len(validation) == 3 else None)
            validate = lambda theta: held_out.loss_and_score(theta, rows.total)  # noqa: E731
        return train(net, None, None, checked, source=_sparse_source(rows, checked), validate=validate).history

    def _partial_epoch(self, net, X, y, sample_weight=None) -> None:
        """One epoch of the training driver over (X, y), continuing the optimizer's state.

        With ``sample_weight`` each batch is weighted as in :func:`bpnet_xp.training.fit`,
        the penalty divided by the total weight of this call's data.  A non-finite loss
        warns and rolls back, as in ``fit``: the parameters and the optimizer state stay
        those of the previous call, and ``loss_curve_`` and ``n_iter_`` do not grow.
        """
        if self.schedule == "plateau":
            raise ValueError("schedule='plateau' needs the loss of whole epochs; partial_fit cannot use it")
        sparse_X = scipy_sparse.issparse(X)  # its weights go to the source, not the options
        options = fit_options(
            self.optimizer, epochs=1, batch_size=self.batch_size, learning_rate=self.learning_rate,
            momentum=self.momentum, schedule=self.schedule, shuffle=self.shuffle,
            seed=self._partial_rng, sample_weight=None if sparse_X else sample_weight,
        )
        source = _sparse_source(_SparseRows(net, X, y, sample_weight), options) if sparse_X else None
        result = train(net, X, y, options, optimizer_state=self._optimizer_state, source=source)
        history, self._optimizer_state = result.history, result.optimizer_state
        if history.stop_reason.startswith("diverged"):
            self.stop_reason_ = history.stop_reason
            return
        self._track_best_loss(history.loss[-1])
        self.loss_curve_.append(history.loss[-1])
        self.n_iter_ += 1
        self.stop_reason_ = "partial_fit"

    # -- public API shared by both -----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy/array-like (work runs on ``backend``) or an array of any array-API
            library (work runs on its library and device).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a 0/1 indicator matrix (multilabel) or regression targets.
        sample_weight : array-like of shape (n_samples,), optional
            Finite, non-negative weights, not all zero: each sample's loss is multiplied
            by its weight and the objective divided by their sum (see the module docstring).

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, partial=False)


class BPClassifier(ClassifierMixin, _BaseBP):
    """Multilayer-perceptron classifier trained by back-propagation on any array-API backend.

    Multiclass targets get a softmax output layer with softmax cross-entropy; binary
    targets one sigmoid unit with cross-entropy (``predict_proba`` still returns two
    columns); a 0/1 indicator matrix (multilabel) one sigmoid unit per label with
    cross-entropy.  ``loss="cross_entropy"`` on multiclass targets gives the classic
    one-sigmoid-per-class network (probabilities normalised to sum to 1), and
    ``loss="mse"`` sigmoid outputs with squared error.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units of each hidden layer; ``()`` gives logistic regression (linear regression
        for :class:`BPRegressor`).
    activation : {"relu", "tanh", "sigmoid", "logistic", "identity"}, default="relu"
        Hidden activation ("logistic" is scikit-learn's name for "sigmoid").
    loss : {None, "cross_entropy", "softmax_cross_entropy", "mse"}, default=None
        None picks the canonical loss for the targets (see above).
    l2 : float, default=1e-4
        L2 strength lambda: the penalty (lambda / (2 n)) sum(W**2) skips biases (n is the
        sum of the sample weights when there are any); the same convention as
        scikit-learn's ``alpha``.
    optimizer : {"adam", "sgd", "gd", "lbfgs", "cg"}, default="adam"
    max_iter : int, default=200
        Epochs for "adam"/"sgd"/"gd", iterations for "lbfgs"/"cg".
    batch_size : int, "auto" or None, default="auto"
        Mini-batch size; "auto" is min(200, n_samples) (full batch for "gd"); None the full batch.
    learning_rate : float or callable, optional
        Step size (default 1e-3 for adam, 0.01 for sgd, 0.1 for gd) or a schedule of the
        number of updates.
    schedule : {"constant", "inverse_scaling", "step", "plateau"} or callable, default="constant"
    momentum : float, default=0.9
        For "sgd".
    shuffle : bool, default=True
        Reshuffle the rows every epoch.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified; at least 2 rows) and
        stop when the validation score has not improved by ``tol`` for more than
        ``n_iter_no_change`` epochs, keeping the parameters of the best score.  Without it
        training stops when the training loss has not improved ``best_loss_`` by ``tol``
        for more than ``n_iter_no_change`` epochs, keeping the last parameters
        (scikit-learn's rule, exactly).  Stochastic optimizers only; ``partial_fit``
        refuses it, as scikit-learn.
    validation_fraction : float, default=0.1
    n_iter_no_change : int or numpy.inf, default=10
        ``np.inf`` never stops early.
    tol : float, default=1e-4
        Loss improvement that counts (stochastic); gradient tolerance max|g| (lbfgs/cg).
    random_state : int, RandomState instance or None
        Seeds the initial weights and the batch order; an int is used as ``MLP(seed=...)``,
        so the same int gives the same network on every backend.
    backend : str or Backend, default="auto"
        Where the work runs for NumPy input ("auto", "numpy", "cupy", "torch", ...).
        Ignored for arrays of another library: the work follows X.
    device : optional
        Device within ``backend`` ("cuda:1", ...).
    dtype : {None, "float32", "float64"}, default=None
        None follows X (float32 stays float32, anything else float64).
    verbose : int, default=0
        Print the loss every ``verbose`` epochs.
    warm_start : bool, default=False
        Continue from the previous solution (and convergence state) when refitting; y
        must have the classes of the previous fit (else ValueError, as scikit-learn).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (host NumPy; ``arange(n_labels)`` for multilabel targets).
    n_features_in_ : int
    network_ : bpnet_xp.MLP
        The trained network (on X's backend, or ``backend`` for NumPy input).
    coefs_, intercepts_ : list of arrays
        Per-layer weights (n_in, n_out) and biases (n_out,): views of ``network_.theta``.
    loss_curve_ : list of float
        Training loss (L2 included) per epoch or iteration.
    n_iter_ : int
    best_loss_ : float or None
        The lowest training loss; None with ``early_stopping`` (as scikit-learn).
    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping``.
    best_validation_score_ : float or None
        The best of ``validation_scores_`` (its parameters are kept); None without
        ``early_stopping``.
    stop_reason_ : str
    history_ : bpnet_xp.training.History
    n_outputs_, n_layers_, out_activation_ : int, int, str
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # -- targets ---------------------------------------------------------------------------------
    def _targets(self, y, first: bool, classes=None):
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"{type(self).__name__} fits binary, multiclass or multilabel-indicator targets, "
                f"not {target_type!r} ones"
            )
        multilabel = target_type == "multilabel-indicator"
        if first:
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
                self._mode = "multilabel"
                self._label_dtype = y.dtype
            else:
                if classes is not None:
                    self.classes_ = unique_labels(np.asarray(classes))
                else:
                    self.classes_ = unique_labels(y)
                if len(self.classes_) < 2:
                    raise ValueError(
                        f"{type(self).__name__} needs samples of at least 2 classes in the data, but the data "
                        f"contain only one class: {plain(self.classes_[0])!r}"
                    )
                self._mode = None  # set below from the loss
        elif multilabel != (self._mode == "multilabel"):
            raise ValueError("y changed between a multilabel indicator matrix and class labels since the first call")

        if multilabel:
            if not first and y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels but the network was built for {len(self.classes_)}")
            loss = self.loss or "cross_entropy"
            if loss == "softmax_cross_entropy":
                raise ValueError("loss='softmax_cross_entropy' cannot fit multilabel targets; use 'cross_entropy'")
            return y.astype(np.float64), y.shape[1], "sigmoid", loss

        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels {unknown.tolist()} that are not in classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y).astype(np.int64)
        K = len(self.classes_)
        loss = self.loss
        if K == 2 and loss != "softmax_cross_entropy":
            mode, n_outputs, output, loss = "binary", 1, "sigmoid", loss or "cross_entropy"
        elif loss in (None, "softmax_cross_entropy"):
            mode, n_outputs, output, loss = "softmax", K, "softmax", "softmax_cross_entropy"
        else:  # one sigmoid unit per class: the classic network
            mode, n_outputs, output = "ovr", K, "sigmoid"
        if first:
            self._mode = mode
        return index, n_outputs, output, loss

    # -- public API ------------------------------------------------------------------------------
    @available_if(_BaseBP._check_stochastic)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of the stochastic optimizer over (X, y), continuing from earlier calls.

        The optimizer state (momentum, Adam's moments and step count) is kept between
        calls.  ``classes`` (all the labels that will ever appear) is required on the
        first call, unless y is a multilabel indicator matrix.  A non-finite loss warns
        (RuntimeWarning) and keeps the parameters and optimizer state of the previous
        call, as ``fit`` does.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            This call's rows (NumPy/array-like, scipy.sparse, or an array of any
            array-API library).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels or a 0/1 indicator matrix (multilabel).
        classes : array-like of shape (n_classes,), optional
            Every label that will ever appear; required on the first call (not for
            multilabel targets).
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights, as in :meth:`fit`.

        Returns
        -------
        self
            The estimator.
        """
        if not hasattr(self, "network_"):
            self._validate_params()
            y_host = _to_host(y)
            if classes is None and type_of_target(np.asarray(y_host)) != "multilabel-indicator":
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(unique_labels(np.asarray(classes)), self.classes_):
            raise ValueError(f"`classes={list(classes)}` is not the same as on the first call to partial_fit, "
                             f"which was: {self.classes_.tolist()}")
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes) (n_labels for multilabel).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.

        Returns
        -------
        array of shape (n_samples, n_classes)
            An array of X's library and device (NumPy for NumPy and sparse input).
        """
        Z, A, to_host = self._outputs(X, "predict_proba")
        return self._result(self._proba(Z, A), to_host)

    def _proba(self, Z, A):
        xp = self.network_.backend.xp
        if self._mode == "binary":
            # sigmoid(-z), not 1 - sigmoid(z): keeps the small probability's digits (no 1 - 1 = 0).
            z = Z[:, 0:1]
            return xp.concat([sigmoid(-z), sigmoid(z)], axis=1)
        if self._mode == "ovr":
            return A / xp.sum(A, axis=1, keepdims=True)
        return A

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed from the logits (no log(0)).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.

        Returns
        -------
        array of shape (n_samples, n_classes)
            As :meth:`predict_proba`.
        """
        Z, _, to_host = self._outputs(X, "predict_log_proba")
        xp = self.network_.backend.xp
        if self._mode == "binary":
            z = Z[:, 0:1]
            log_p = xp.concat([log_sigmoid(-z), log_sigmoid(z)], axis=1)
        elif self._mode == "softmax":
            log_p = log_softmax(Z)
        elif self._mode == "ovr":
            log_p = log_softmax(log_sigmoid(Z))  # log(s_k / sum_j s_j) with s = sigmoid(z)
        else:
            log_p = log_sigmoid(Z)
        return self._result(log_p, to_host)

    def predict(self, X):
        """Predicted labels, shape (n_samples,), or (n_samples, n_labels) 0/1 for multilabel.

        Labels are ``classes_`` values; for array input of a library with numeric classes
        they come back as an array of that library and device.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_labels)
            The predicted labels.
        """
        Z, A, to_host = self._outputs(X, "predict")
        be = self.network_.backend
        xp = be.xp
        if self._mode == "multilabel":
            hit = A > 0.5
            if to_host:
                return be.to_numpy(hit).astype(self._label_dtype)
            return xp.astype(hit, getattr(xp, np.dtype(self._label_dtype).name, xp.int64))
        index = xp.argmax(self._proba(Z, A), axis=1)
        if to_host or self.classes_.dtype.kind not in "biuf":
            return self.classes_[be.to_numpy(index)]
        return xp.take(be.asarray(self.classes_), index)

    def score(self, X, y, sample_weight=None):
        """Accuracy (subset accuracy for multilabel), as a Python float.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples in the mean.

        Returns
        -------
        float
            scikit-learn's ``accuracy_score`` of the predictions.
        """
        predicted = _to_host(self.predict(X))
        y = _to_host(y)
        if sample_weight is not None:
            sample_weight = _to_host(sample_weight)
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))


class BPRegressor(RegressorMixin, _BaseBP):
    """Multilayer-perceptron regressor (identity outputs, squared error) on any array-API backend.

    Takes the same parameters as :class:`BPClassifier` (``loss`` may only be None or
    "mse"); ``hidden_layer_sizes=()`` gives linear regression.  ``y`` of shape
    (n_samples, n_outputs) fits several outputs at once; predictions have shape
    (n_samples,) when there is one output, as scikit-learn's MLPRegressor.

    Attributes
    ----------
    n_features_in_, network_, coefs_, intercepts_, loss_curve_, n_iter_, best_loss_,
    validation_scores_ (R^2), best_validation_score_, stop_reason_, history_, n_outputs_, n_layers_,
    out_activation_
        As for :class:`BPClassifier`.
    """

    _regression = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _targets(self, y, first: bool, classes=None):
        if self.loss not in (None, "mse"):
            raise ValueError(f"BPRegressor fits the squared error; loss must be None or 'mse', got {self.loss!r}")
        y = np.asarray(y, dtype=np.float64)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if not first and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs but the network was built for {self.n_outputs_}")
        return y, n_outputs, "identity", "mse"

    @available_if(_BaseBP._check_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of the stochastic optimizer over (X, y), continuing from earlier calls.

        The optimizer state (momentum, Adam's moments and step count) is kept between calls.
        A non-finite loss warns (RuntimeWarning) and keeps the parameters and optimizer
        state of the previous call, as ``fit`` does.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            This call's rows (NumPy/array-like, scipy.sparse, or an array of any
            array-API library).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Regression targets.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights, as in :meth:`fit`.

        Returns
        -------
        self
            The estimator.
        """
        if not hasattr(self, "network_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_outputs)
            An array of X's library and device (NumPy for NumPy and sparse input).
        """
        _, A, to_host = self._outputs(X, "predict")
        if A.shape[1] == 1:
            A = A[:, 0]
        return self._result(A, to_host)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 (uniform average over outputs), a Python float.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            NumPy/array-like, scipy.sparse, or an array of the library the estimator was
            fitted on.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples.

        Returns
        -------
        float
            scikit-learn's ``r2_score`` of the predictions.
        """
        predicted = _to_host(self.predict(X))
        y = _to_host(y)
        if sample_weight is not None:
            sample_weight = _to_host(sample_weight)
        return float(r2_score(y, predicted, sample_weight=sample_weight))


def _shared_parameters(doc: str) -> str:
    """The Parameters section of ``doc`` (BPClassifier's), which BPRegressor shares: one __init__."""
    start, end = doc.index("    Parameters\n    ----------\n"), doc.index("    Attributes\n    ----------\n")
    return doc[start:end]


if BPClassifier.__doc__ and BPRegressor.__doc__:  # None under python -OO
    BPRegressor.__doc__ = BPRegressor.__doc__.replace(
        "    Attributes\n    ----------\n",
        _shared_parameters(BPClassifier.__doc__) + "    Attributes\n    ----------\n", 1)
