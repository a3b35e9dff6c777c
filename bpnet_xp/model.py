"""The public front: :class:`MLP` builds a network and delegates to the math.

The math lives in :mod:`bpnet_xp.network` (pure functions of spec, theta, X, Y);
validation in :mod:`bpnet_xp.validation`, training in :mod:`bpnet_xp.training`,
files in :mod:`bpnet_xp.io`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import backend as _backend
from . import dask, io, metrics, training, validation
from .activations import get_activation
from .initializers import initial_parameters
from .losses import check_pair, get_loss
from .network import NetworkSpec, forward, loss_and_grad, loss_value, unpack

__all__ = ["MLP", "load"]

_DEFAULT_LOSS = {"sigmoid": "cross_entropy", "softmax": "softmax_cross_entropy"}

class MLP:
    """A fully connected feed-forward network trained by back-propagation.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_inputs, n_hidden_1, ..., n_outputs)``; two entries (no hidden layer)
        give linear regression (identity output + mse) or logistic regression
        (sigmoid output + cross_entropy).
    activation : str
        Hidden activation: "sigmoid", "tanh", "relu" or "identity".
    output : str, optional
        Output activation: "sigmoid", "softmax", "identity", "tanh" or "relu".
        Default: the canonical output of ``loss``, or "sigmoid".
    loss : str, optional
        "cross_entropy" (sigmoid outputs, the classic cost summed over the K outputs),
        "softmax_cross_entropy" or "mse" (the 1/(2m) convention).  Default: the
        canonical loss of ``output`` (mse for identity, tanh and relu outputs).
    l2 : float
        L2 strength lambda; the penalty (lambda / (2m)) sum(W**2) skips the biases
        (with sample weights, m is their sum).
    backend : str or Backend
        Where the math runs: "auto", "numpy", "cupy", "torch", "jax", "array_api_strict".
    device : optional
        Device within the backend ("cuda:1", "device1", ...).
    dtype : {"float32", "float64"}
        Floating dtype of the parameters and of the data moved to the device.
    seed : int or numpy.random.Generator, optional
        Seeds the host RNG for the initial weights (and, by default, for shuffling
        in ``fit``): the same seed gives the same network on every backend.
    init : str or callable
        "auto" (He for relu, classic otherwise), "classic", "glorot", "he".

    Attributes
    ----------
    theta : array, shape (n_parameters,)
        All parameters, flat, on the backend's device (assignable).
    weights : list of (W, b)
        Per-layer views of ``theta``; ``W`` has shape (n_in, n_out).
    history : History or None
        Set by :meth:`fit`.
    """

    def __init__(
        self,
        layer_sizes,
        activation: str = "sigmoid",
        output: str | None = None,
        loss: str | None = None,
        l2: float = 0.0,
        backend: Any = "auto",
        device: Any = None,
        dtype: str = "float32",
        seed: Any = None,
        init: Any = "auto",
    ):
        sizes = tuple(layer_sizes) if not isinstance(layer_sizes, (int, str)) else None
        if sizes is None or len(sizes) < 2:
            raise ValueError(f"layer_sizes must list at least the input and output sizes, got {layer_sizes!r}")
        for n in sizes:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"layer sizes must be positive integers, got {layer_sizes!r}")
        self.layer_sizes = tuple(int(n) for n in sizes)

        hidden = get_activation(activation, hidden=True)
        if output is None:
            output = get_loss(loss).canonical_output if loss is not None else "sigmoid"
        out = get_activation(output)
        if loss is None:
            loss = _DEFAULT_LOSS.get(out.name, "mse")
        lo = get_loss(loss)
        check_pair(lo, out)
        l2 = float(l2)
        if not math.isfinite(l2) or l2 < 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
        if out.name == "softmax" and self.layer_sizes[-1] < 2:
            raise ValueError("a softmax output needs at least 2 output units")

        self.spec = NetworkSpec(self.layer_sizes, hidden, out, lo, l2)
        self.backend = _backend.get_backend(backend, device)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self._dtype = self.backend.dtype(dtype)  # raises if the device lacks float64
        self.dtype = dtype
        self.seed = seed
        self.init = init
        host = initial_parameters(self.layer_sizes, init, hidden.name, seed)
        # Cast on the host, then one transfer: bit-identical on every backend.
        self._theta = self.backend.asarray(host.astype(dtype), dtype)
        self.history = None
        # Optional preprocessing carried with the model (set by the CLI / callers, saved by
        # io.save): the original label values that outputs 0..K-1 stand for, and the
        # StandardScaler fitted on the training inputs.  The math never applies them.
        self.classes = None
        self.scaler = None

    # -- structure --------------------------------------------------------------------------
    @property
    def activation(self) -> str:
        return self.spec.activation.name

    @property
    def output(self) -> str:
        return self.spec.output.name

    @property
    def loss_name(self) -> str:
        return self.spec.loss.name

    @property
    def l2(self) -> float:
        return self.spec.l2

    @l2.setter
    def l2(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {value}")
        self.spec = self.spec._replace(l2=value)

    @property
    def n_parameters(self) -> int:
        return self.spec.n_parameters

    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    @property
    def is_classifier(self) -> bool:
        """True for classification losses: ``y`` is labels 0..K-1 (or (m, K) probabilities)."""
        return self.spec.loss.classification

    @property
    def expects(self) -> str:
        """What ``y`` this network takes, in words."""
        return validation.describe_expected(self.is_classifier, self.n_outputs)

    # -- parameters -------------------------------------------------------------------------
    @property
    def theta(self):
        """The flat parameter vector on the backend's device, shape (n_parameters,)."""
        return self._theta

    @theta.setter
    def theta(self, value) -> None:
        arr = self._to_device(value, "theta")
        if arr.ndim != 1 or arr.shape[0] != self.n_parameters:
            raise ValueError(f"theta must have shape ({self.n_parameters},), got {tuple(arr.shape)}")
        self._theta = arr

    @property
    def weights(self) -> list:
        """Per-layer ``(W, b)``, W of shape (n_in, n_out): views of ``theta`` where the library has views."""
        return unpack(self.spec, self._theta)

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.layer_sizes)}, activation={self.activation!r}, output={self.output!r}, "
            f"loss={self.loss_name!r}, l2={self.l2}, backend={self.backend.name!r}, dtype={self.dtype!r})"
        )

    @property
    def objective(self):
        """``objective(spec, theta, X, Y, weight=None) -> (loss, grad)``: :func:`loss_and_grad`,
        compiled for this backend where that pays (JAX: jit with ``spec`` static; ``weight``
        is an ordinary array argument, or None), generic elsewhere."""
        key = (self.backend.name, str(self.backend.device))
        cache = self.__dict__.setdefault("_compiled", {})
        if key not in cache:
            cache[key] = self.backend.compile(loss_and_grad, static_argnums=(0,))
        return cache[key]

    # -- data validation and placement (the checks live in validation.py) -----------------
    def _to_device(self, value, what: str):
        """Host data or an array of this backend -> array of this backend, device and dtype."""
        return validation.to_device(self.backend, value, what, self._dtype)

    def prepare_weight(self, sample_weight, m: int):
        """Validate per-sample weights and move them to the device once.

        Parameters
        ----------
        sample_weight : array, shape (m,) (or (m, 1))
            NumPy, a list, or an array of the network's backend.
        m : int
            The number of samples they weight.

        Returns
        -------
        weight : array, shape (m,), on the device, in the network's dtype

        Raises
        ------
        ValueError
            For a wrong shape, a non-numeric dtype, NaN or infinite values, a negative
            weight, or weights that are all zero (each named in the message).
        """
        return validation.prepare_weight(self.backend, sample_weight, m, self._dtype)

    def prepare(self, X, y=None):
        """Validate ``X`` (and ``y``) and move them to the device once.

        Returns
        -------
        X : array, shape (m, n_inputs), on the device, in the network's dtype
        Y : array, shape (m, n_outputs), or None
            Targets; class labels become one-hot rows.
        """
        Xd = validation.prepare_features(self.backend, X, self.n_inputs, self._dtype)
        if y is None:
            return Xd, None
        Y = validation.prepare_targets(self.backend, y, Xd.shape[0], self.n_outputs, self.is_classifier,
                                       self._dtype, self.expects)
        return Xd, Y

    # -- the math, bound to this network ------------------------------------------------------
    def _prepare_weighted(self, X, y, sample_weight):
        """(X, Y, weight or None) on the device."""
        if sample_weight is None:
            return (*self.prepare(X, y), None)
        Xd, Y = self.prepare(X, y)
        return Xd, Y, self.prepare_weight(sample_weight, Xd.shape[0])

    def loss_and_grad(self, X, y, theta=None, sample_weight=None):
        """Loss (L2 penalty included) and its gradient with respect to ``theta``.

        Parameters
        ----------
        X : array, shape (m, n_inputs)
        y : array, shape (m,) or (m, n_outputs)
        theta : array, shape (n_parameters,), optional
            Evaluate at these parameters instead of ``self.theta``.
        sample_weight : array, shape (m,), optional
            Non-negative per-sample weights, not all zero (NumPy or the backend's
            arrays): the loss becomes sum_i w_i L_i / S + (l2 / (2S)) sum(W**2)
            with S = sum_i w_i (see :func:`loss_and_grad`).

        Returns
        -------
        loss : float
        grad : backend array, shape (n_parameters,), same layout as ``theta``
        """
        Xd, Y, w = self._prepare_weighted(X, y, sample_weight)
        t = self._theta if theta is None else self._to_device(theta, "theta")
        value, grad = loss_and_grad(self.spec, t, Xd, Y, w)
        return float(value), grad

    def loss(self, X, y, theta=None, sample_weight=None) -> float:
        """Mean loss over the samples plus the L2 penalty, as a Python float.

        With ``sample_weight`` (shape (m,)), the weighted mean and the penalty divided
        by the total weight, as in :meth:`loss_and_grad`.
        """
        if _backend.is_dask_array(X) and sample_weight is None:
            t = self._theta if theta is None else self._to_device(theta, "theta")
            return dask.DaskObjective(self.spec, X, y).loss_and_score(t)[0]
        Xd, Y, w = self._prepare_weighted(X, y, sample_weight)
        t = self._theta if theta is None else self._to_device(theta, "theta")
        return float(loss_value(self.spec, t, Xd, Y, w))

    def forward(self, X):
        """Output activations for X, as an array of the backend, shape (m, n_outputs)."""
        Xd, _ = self.prepare(X)
        return forward(self.spec, self._theta, Xd)[1]

    def _return_like(self, X, result):
        # Host data in, host data out: the transfer back to the host happens here, explicitly.
        if isinstance(X, (np.ndarray, list, tuple)):
            return _backend.to_numpy(result)
        return result

    def predict_proba(self, X):
        """Output activations (class probabilities for classifiers), shape (m, n_outputs).

        Returns NumPy for NumPy input, an array of the backend for backend input, and a
        lazy Dask array for Dask input.
        """
        if _backend.is_dask_array(X):
            return dask.predict_dask(self, X, "proba")
        return self._return_like(X, self.forward(X))

    def _predict_device(self, X):
        A = self.forward(X)
        if self.is_classifier:
            return metrics.decide(A)
        return A[:, 0] if self.n_outputs == 1 else A

    def predict(self, X):
        """Class labels (classifiers: argmax, or p >= 0.5 for one sigmoid output) or outputs.

        Returns
        -------
        array, shape (m,) — or (m, n_outputs) for multi-output regression.
            NumPy for NumPy input, an array of the backend for backend input, a lazy
            Dask array for Dask input.
        """
        if _backend.is_dask_array(X):
            return dask.predict_dask(self, X, "predict")
        return self._return_like(X, self._predict_device(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classifiers, coefficient of determination R^2 for regression.

        R^2 of several outputs is their uniform average, as in scikit-learn.  With
        ``sample_weight`` (shape (m,)) both are weighted as scikit-learn's
        ``accuracy_score`` / ``r2_score`` weight them: sum_i w_i [hit_i] / sum_i w_i, and
        R^2 = 1 - sum_i w_i (y_i - h_i)**2 / sum_i w_i (y_i - ybar_w)**2 with the
        weighted mean ybar_w.
        """
        if _backend.is_dask_array(X) and sample_weight is None:
            # Chunk-wise sums and one reduction; X is never gathered on the client.
            return dask.DaskObjective(self.spec, X, y).loss_and_score(self._theta)[1]
        Xd, Y, w = self._prepare_weighted(X, y, sample_weight)
        return float(metrics.network_score(self.spec, self._theta, Xd, Y, w))

    # -- training and persistence (implemented in training.py and io.py) -----------------------
    def fit(self, X, y, optimizer: str = "adam", **options):
        """Train the network; see :func:`bpnet_xp.training.fit` for the options.

        Returns
        -------
        History
        """
        return training.fit(self, X, y, optimizer=optimizer, **options)

    def save(self, path, *, metadata: dict | None = None) -> None:
        """Save to ``path`` (.npz arrays + JSON metadata), atomically; see :func:`bpnet_xp.io.save`."""
        io.save(self, path, metadata=metadata)

    def copy(self, backend=None, device=None, dtype=None) -> "MLP":
        """A copy of this network, optionally on another backend/device or in another dtype."""
        new = MLP.__new__(MLP)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_compiled", None)
        new.backend = self.backend if backend is None else _backend.get_backend(backend, device)
        new.dtype = dtype or self.dtype
        new._dtype = new.backend.dtype(new.dtype)
        host = self.backend.to_numpy(self._theta).astype(new.dtype)
        new._theta = new.backend.asarray(host, new._dtype)
        return new


def _n_classes(metadata: dict) -> int | None:
    """How many classes the network a file describes has (None for a regression loss)."""
    sizes, loss = metadata["layer_sizes"], metadata["loss"]
    try:
        classification = get_loss(loss).classification
    except ValueError:
        return None  # an unknown loss is reported when the network is built
    return max(sizes[-1], 2) if classification else None


def load(path, backend: Any = "auto", device: Any = None, dtype: str | None = None) -> MLP:
    """Load a network saved by :meth:`MLP.save` (or :func:`bpnet_xp.io.save`) onto any backend.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str or Backend
        Where the loaded network runs; need not be the backend it was trained on.
    device : optional
        Device within the backend.
    dtype : {"float32", "float64"}, optional
        Default: the dtype it was saved in (then the parameters are bit-identical).

    Returns
    -------
    MLP
        With ``classes`` and ``scaler`` restored when they were saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a bpnet_xp model, is corrupt or truncated, lacks an
        entry, has malformed metadata, or was written in a newer format version.
    BackendUnavailableError
        If the backend or device cannot be used here (a subclass of ValueError).
    """
    saved = io.read_model(path, _n_classes)
    meta, name = saved.metadata, str(path)
    try:
        net = MLP(meta["layer_sizes"], activation=meta["activation"], output=meta["output"],
                  loss=meta["loss"], l2=meta["l2"], backend=backend, device=device,
                  dtype=dtype or meta["dtype"],
                  seed=meta.get("seed") if isinstance(meta.get("seed"), int) else None,
                  init=meta.get("init") or "auto")
    except _backend.BackendUnavailableError:
        raise
    except ValueError as exc:
        raise ValueError(f"{name!r} describes a network that cannot be built: {exc}") from None
    net.theta = saved.theta
    net.scaler, net.classes = saved.scaler, saved.classes
    return net
