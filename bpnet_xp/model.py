"""The public front: :class:`MLP` builds a network and delegates to the math.

The math lives in :mod:`bpnet_xp.network` (pure functions of spec, theta, X, Y);
validation in :mod:`bpnet_xp.validation`, training in :mod:`bpnet_xp.training`,
files in :mod:`bpnet_xp.io`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as array_device

from . import backend as _backend
from . import metrics, validation
from .activations import get_activation
from .initializers import initial_parameters
from .losses import check_pair, get_loss
from .network import NetworkSpec, forward, loss_and_grad, loss_value, unpack
from .validation import plain

# training (solvers, optimizers, sources), dask, curvature, io (tempfile, zipfile, json),
# preprocessing and pickle are imported inside the methods that use them: building an MLP
# and evaluating its loss need none of them, and `import bpnet_xp` should stay cheap
# (issue 15 item 6; scripts/bench/imports.py measures it).

__all__ = ["MLP", "Summary", "load"]

_DEFAULT_LOSS = {"sigmoid": "cross_entropy", "softmax": "softmax_cross_entropy"}


def _dtype_name(dtype) -> str:
    """``"float32"`` or ``"float64"`` from a name, np.dtype or NumPy scalar type; else ValueError.

    Stored by name, as save() writes it; the message quotes what the caller passed, not
    NumPy's name for it.
    """
    given = dtype
    if not isinstance(dtype, str):
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            pass
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {plain(given)!r}")
    return dtype

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
                # NumPy scalars shown as plain numbers, not as np.int64(0).
                shown = [n.item() if isinstance(n, np.generic) else n for n in sizes]
                raise ValueError(f"layer sizes must be positive integers, got {shown!r}")
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
        dtype = _dtype_name(dtype)
        self._dtype = self.backend.dtype(dtype)  # raises if the device lacks float64
        self.dtype = dtype
        self.seed = seed
        self.init = init
        try:
            host = initial_parameters(self.layer_sizes, init, hidden.name, seed)
        except MemoryError:
            raise ValueError(f"layer_sizes {list(self.layer_sizes)} need {self.spec.n_parameters} parameters: "
                             "more than the memory available") from None
        # Cast on the host, then one transfer: bit-identical on every backend.
        self._theta = self.backend.asarray(host.astype(dtype), dtype)
        self.history = None
        # Optional preprocessing carried with the model (set by the CLI / callers, saved by
        # io.save): the original label values that outputs 0..K-1 stand for, and the
        # StandardScaler fitted on the training inputs.  The math never applies them.
        self.classes = None
        self.scaler = None
        # The DataFrame columns fit saw (all strings), or None: a DataFrame with other
        # columns is refused, never reordered.
        self.feature_names_in_ = None
        self._trained = False

    # -- structure --------------------------------------------------------------------------
    @property
    def activation(self) -> str:
        """The name of the hidden layers' activation ("sigmoid", "tanh", "relu" or "identity")."""
        return self.spec.activation.name

    @property
    def output(self) -> str:
        """The name of the output layer's activation ("sigmoid", "softmax", "identity", ...)."""
        return self.spec.output.name

    @property
    def loss_name(self) -> str:
        """The name of the loss ("cross_entropy", "softmax_cross_entropy" or "mse")."""
        return self.spec.loss.name

    @property
    def l2(self) -> float:
        """The L2 strength lambda (assignable: a finite number >= 0, else ValueError)."""
        return self.spec.l2

    @l2.setter
    def l2(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {value}")
        self.spec = self.spec._replace(l2=value)

    @property
    def n_parameters(self) -> int:
        """The number of weights and biases: the length of :attr:`theta`."""
        return self.spec.n_parameters

    @property
    def n_inputs(self) -> int:
        """The number of input features, ``layer_sizes[0]``: the columns of ``X``."""
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        """The number of output units, ``layer_sizes[-1]``: the columns of the targets ``Y``."""
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
        self._theta = self._theta_argument(value)

    def _theta_argument(self, value, what: str = "theta"):
        """A vector in theta's layout given by the caller (``theta``, or a direction ``v``),
        on the device: shape (n_parameters,), finite; the messages name ``what``."""
        if getattr(value, "shape", None) is None and not isinstance(value, (list, tuple)):
            raise ValueError(f"{what} must be an array of shape ({self.n_parameters},), got {type(value).__name__}")
        arr = self._to_device(value, what)
        if arr.ndim != 1 or arr.shape[0] != self.n_parameters:
            raise ValueError(f"{what} must have shape ({self.n_parameters},), got {tuple(arr.shape)}")
        values = validation.read_checks(validation.feature_checks(arr))
        if not (math.isfinite(values["X min"]) and math.isfinite(values["X max"])):
            raise ValueError(f"{what} contains NaN or infinite values")
        return arr

    def __getstate__(self) -> dict:
        """Picklable state: the backend by name and device, arrays through the host."""
        state = dict(self.__dict__)
        state.pop("_compiled", None)
        state.pop("_dtype", None)
        default_device = _backend.get_backend(self.backend.name).device
        device = None if self.backend.device == default_device else self.backend.device
        try:
            import pickle

            pickle.dumps(device)
        except Exception:
            device = str(device)  # a device object that cannot be pickled travels by name
        state["backend"] = (self.backend.name, device)
        state["_theta"] = self.backend.to_numpy(self._theta)
        if self.classes is not None and not isinstance(self.classes, (list, tuple, np.ndarray)):
            state["classes"] = _backend.to_numpy(self.classes)
        return state

    def __setstate__(self, state: dict) -> None:
        name, device = state["backend"]
        state = dict(state, backend=_backend.get_backend(name, device))
        self.__dict__.update(state)
        self._dtype = self.backend.dtype(self.dtype)
        self._theta = self.backend.asarray(np.asarray(state["_theta"]), self._dtype)

    @property
    def weights(self) -> list:
        """Per-layer ``(W, b)``, W of shape (n_in, n_out): views of ``theta`` where the library has views."""
        return unpack(self.spec, self._theta)

    @property
    def is_trained(self) -> bool:
        """True once :meth:`fit` has run on this network or it was loaded from a file."""
        return bool(getattr(self, "_trained", False) or getattr(self, "history", None) is not None)

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.layer_sizes)}, activation={self.activation!r}, output={self.output!r}, "
            f"loss={self.loss_name!r}, l2={self.l2}, backend={self.backend.name!r}, dtype={self.dtype!r})"
            f" [{'trained' if self.is_trained else 'untrained'}]"
        )

    def summary(self) -> "Summary":
        """A table of the layers: shapes, activations, parameter counts, and whether it is trained.

        Returns
        -------
        Summary
            A ``str`` (print it, or let a notebook show it) with one row per layer of
            weights: ``W`` of shape (n_in, n_out), the bias of shape (n_out,), the
            activation and the layer's parameter count ``n_in * n_out + n_out``.
        """
        rows = [("layer", "W shape", "b shape", "activation", "parameters"),
                ("input", "-", "-", "-", f"{self.n_inputs} features")]
        for index, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            last = index == len(self.layer_sizes) - 2
            rows.append(("output" if last else f"hidden {index + 1}", f"({n_in}, {n_out})", f"({n_out},)",
                         self.output if last else self.activation, str(n_in * n_out + n_out)))
        rows.append(("total", "", "", "", str(self.n_parameters)))
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        history = getattr(self, "history", None)
        state = "untrained (initial weights)" if not self.is_trained else (
            f"trained ({history.optimizer}, {history.n_iter} iterations: {history.stop_reason})"
            if history is not None else "trained (loaded from a file)")
        notes = [f"MLP {'-'.join(map(str, self.layer_sizes))}, loss {self.loss_name}, l2={self.l2:g}, "
                 f"{self.backend.name} ({self.backend.device}), {self.dtype}: {state}"]
        if self.scaler is not None:
            notes.append("inputs standardised by net.scaler inside predict, score and loss")
        if self.classes is not None:
            notes.append(f"classes: {list(np.asarray(self.classes).tolist())!r}")
        if getattr(self, "feature_names_in_", None) is not None:
            notes.append(f"features: {list(self.feature_names_in_)!r}")
        return Summary("\n".join([notes[0], *table, *notes[1:]]))

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

        Nothing is preprocessed here: ``X`` is taken as the math takes it (no scaler,
        see :meth:`preprocess`) and ``y`` as class indices or targets (string labels
        go through :meth:`encode_labels` first).

        Parameters
        ----------
        X : array, shape (m, n_inputs)
            NumPy data, a list, or an array of the network's backend.
        y : array, shape (m,) or (m, n_outputs), optional
            Class indices 0..K-1 (classifiers), or targets; None: only ``X``.

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
                                       self._dtype, self.expects, loss=self.loss_name)
        return Xd, Y

    # -- the math, bound to this network ------------------------------------------------------
    def preprocess(self, X):
        """The inputs as the network's math takes them: what the model carries, applied.

        A pandas DataFrame becomes a NumPy array (its columns checked against
        ``feature_names_in_``: never reordered), then ``net.scaler`` (when set)
        standardises it.  :meth:`predict`, :meth:`predict_proba`, :meth:`score`,
        :meth:`loss`, :meth:`loss_and_grad` and :meth:`fit` call it; :meth:`prepare`
        does not (it takes inputs already preprocessed).

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)

        Returns
        -------
        array, shape (m, n_inputs)
            NumPy for host input, else an array of X's library.
        """
        X = validation.host_features(X, getattr(self, "feature_names_in_", None))
        if getattr(self, "scaler", None) is None:
            return X
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        message = validation.feature_shape_error(tuple(getattr(X, "shape", ())), self.n_inputs)
        if message is not None:
            raise ValueError(message)
        return self.scaler.transform(X)

    def encode_labels(self, y, *, fitting: bool = False):
        """``y`` as the math takes it: pandas converted; non-numeric labels -> indices 0..K-1.

        Numeric labels are class indices 0..K-1 already (as they always were) and pass
        unchanged; labels that are not numbers (strings, objects, categories) are
        encoded with ``net.classes`` (label ``classes[k]`` is output k).  Fitting on
        such labels with ``net.classes`` unset learns them (sorted) first.

        Parameters
        ----------
        y : array, pandas Series/DataFrame or sequence, shape (m,) or (m, n_outputs)
        fitting : bool
            True in :meth:`fit`: unset classes may be learnt from ``y``.

        Returns
        -------
        array, shape (m,) or (m, n_outputs)
        """
        y = validation.host_targets(y)
        if isinstance(y, (list, tuple)):
            y = np.asarray(y)
        if (not self.is_classifier or not isinstance(y, np.ndarray) or y.dtype.kind in "biuf"
                or y.ndim != 1):
            return y
        from .preprocessing import LabelEncoder

        encoder = LabelEncoder()
        if self.classes is None:
            if not fitting:
                raise ValueError(f"y holds labels such as {plain(y[0])!r} but this network has no classes to "
                                 "encode them with (net.classes is None): fit it on such labels first")
            encoder.fit(y)
            count, k = encoder.classes_.shape[0], max(self.n_outputs, 2)
            if count != k:
                raise ValueError(
                    f"y has {count} distinct labels {encoder.classes_.tolist()!r} but this network has {k} "
                    f"classes ({self.n_outputs} outputs); build it for {count} classes, or set net.classes "
                    f"to all {k} labels before fit")
            self.classes = encoder.classes_
        else:
            encoder.classes_ = np.asarray(self.classes)
        try:
            return encoder.transform(y)
        except ValueError as exc:
            raise ValueError(f"y: {str(exc).removeprefix('transform: ')}") from None

    def _decode(self, predicted):
        """Class indices -> labels of ``net.classes`` (unchanged when there are none, or 0..K-1)."""
        classes = None if self.classes is None else np.asarray(self.classes)
        if classes is None or (classes.dtype.kind in "biu"
                               and np.array_equal(classes, np.arange(classes.shape[0]))):
            return predicted
        if isinstance(predicted, np.ndarray) or classes.dtype.kind not in "biuf":
            return classes[_backend.to_numpy(predicted)]
        # Numeric classes stay in the array's library and on its device (lazy on Dask).
        xp = array_namespace(predicted)
        return xp.take(xp.asarray(classes, device=array_device(predicted)), predicted)

    def _prepare_weighted(self, X, y, sample_weight):
        """(X, Y, weight or None) on the device, the model's preprocessing applied to X and y."""
        X, y = self.preprocess(X), self.encode_labels(y)
        sample_weight = validation.host_targets(sample_weight)
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
        t, Xd, Y, w = self._checked_arguments(X, y, theta, sample_weight)
        value, grad = loss_and_grad(self.spec, t, Xd, Y, w)
        return float(value), grad

    def _checked_arguments(self, X, y, theta, sample_weight):
        """``(theta, X, Y, weight)`` on the device, each checked by name: what loss, loss_and_grad
        and the curvature products evaluate (a wrong shape or a NaN in theta is refused)."""
        Xd, Y, w = self._prepare_weighted(X, y, sample_weight)
        return (self._theta if theta is None else self._theta_argument(theta)), Xd, Y, w

    def hessian_vector_product(self, X, y, v, theta=None, sample_weight=None):
        """The exact Hessian of the loss (L2 penalty included) times ``v``, by the R-operator.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.
        y : array, shape (m,) or (m, n_outputs)
            Class indices, labels of ``net.classes`` (strings), or targets.
        v : array, shape (n_parameters,)
            A direction in theta's layout (NumPy or the backend's arrays).
        theta : array, shape (n_parameters,), optional
            Evaluate at these parameters instead of ``self.theta``.
        sample_weight : array, shape (m,), optional
            Non-negative per-sample weights, weighting the loss as in :meth:`loss_and_grad`.

        Returns
        -------
        backend array, shape (n_parameters,)
            H v (:func:`bpnet_xp.curvature.hessian_vector_product`).
        """
        t, Xd, Y, w = self._checked_arguments(X, y, theta, sample_weight)
        from . import curvature

        return curvature.hessian_vector_product(self.spec, t, Xd, Y, self._theta_argument(v, "v"), w)

    def gauss_newton_vector_product(self, X, y, v, theta=None, sample_weight=None):
        """The Gauss-Newton matrix (Schraudolph 2002; positive semi-definite) times ``v``.

        As :meth:`hessian_vector_product`, with G = J_z^T H_L J_z (+ the penalty's Hessian) for H.
        G is positive semi-definite where the Hessian may be indefinite, which is why the
        truncated-Newton solver can use it (``fit(..., optimizer="newton",
        curvature="gauss_newton")``).

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.
        y : array, shape (m,) or (m, n_outputs)
            Class indices, labels of ``net.classes`` (strings), or targets.
        v : array, shape (n_parameters,)
            A direction in theta's layout (NumPy or the backend's arrays).
        theta : array, shape (n_parameters,), optional
            Evaluate at these parameters instead of ``self.theta``.
        sample_weight : array, shape (m,), optional
            Non-negative per-sample weights, weighting the loss as in :meth:`loss_and_grad`.

        Returns
        -------
        backend array, shape (n_parameters,)
            G v (:func:`bpnet_xp.curvature.gauss_newton_vector_product`).
        """
        t, Xd, Y, w = self._checked_arguments(X, y, theta, sample_weight)
        from . import curvature

        return curvature.gauss_newton_vector_product(self.spec, t, Xd, Y, self._theta_argument(v, "v"), w)

    def loss(self, X, y, theta=None, sample_weight=None) -> float:
        """Mean loss over the samples plus the L2 penalty, as a Python float.

        With ``sample_weight`` (shape (m,)), the weighted mean and the penalty divided
        by the total weight, as in :meth:`loss_and_grad`.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.
        y : array or pandas Series/DataFrame, shape (m,) or (m, n_outputs)
            Class indices, labels of ``net.classes`` (strings), or targets.
        theta : array, shape (n_parameters,), optional
        sample_weight : array, shape (m,), optional

        Returns
        -------
        float
        """
        if _backend.is_dask_array(X) and sample_weight is None:
            t = self._theta if theta is None else self._theta_argument(theta)
            from . import dask  # Dask input only

            return dask.DaskObjective(self.spec, self.preprocess(X), y).loss_and_score(t)[0]
        t, Xd, Y, w = self._checked_arguments(X, y, theta, sample_weight)
        return float(loss_value(self.spec, t, Xd, Y, w))

    def forward(self, X):
        """Output activations for X (preprocessed by :meth:`preprocess`), as an array of the
        backend, shape (m, n_outputs).

        Unlike :meth:`predict_proba`, the result stays on the backend's device whatever
        ``X`` was (no transfer back to the host), and Dask input is not handled.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.

        Returns
        -------
        backend array, shape (m, n_outputs)
            The output layer's activations (class probabilities for classifiers).
        """
        Xd, _ = self.prepare(self.preprocess(X))
        return forward(self.spec, self._theta, Xd)[1]

    def _return_like(self, X, result):
        # Host data in, host data out: the transfer back to the host happens here, explicitly.
        if isinstance(X, (np.ndarray, list, tuple)):
            return _backend.to_numpy(result)
        return result

    def predict_proba(self, X):
        """Output activations (class probabilities for classifiers).

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.

        Returns
        -------
        array, shape (m, n_outputs)
            Column k is output k (class ``net.classes[k]``).  NumPy for NumPy or pandas
            input, an array of the backend for backend input, a lazy Dask array for Dask
            input.
        """
        if _backend.is_dask_array(X):
            from . import dask  # Dask input only

            return dask.predict_dask(self, self.preprocess(X), "proba")
        return self._return_like(validation.host_features(X), self.forward(X))

    def _predict_device(self, X):
        A = self.forward(X)
        if self.is_classifier:
            return metrics.decide(A)
        return A[:, 0] if self.n_outputs == 1 else A

    def predict(self, X, *, encoded: bool = False):
        """Class labels (classifiers: argmax, or p >= 0.5 for one sigmoid output) or outputs.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            Raw inputs: ``net.scaler`` (when set) standardises them here.
        encoded : bool
            Classifiers: return the class indices 0..K-1 instead of ``net.classes`` labels.

        Returns
        -------
        array, shape (m,) — or (m, n_outputs) for multi-output regression.
            Labels of ``net.classes`` when it is set (NumPy for string classes),
            else class indices.  NumPy for NumPy or pandas input, an array of the
            backend for backend input, a lazy Dask array for Dask input.
        """
        if _backend.is_dask_array(X):
            from . import dask  # Dask input only

            predicted = dask.predict_dask(self, self.preprocess(X), "predict")
        else:
            predicted = self._return_like(validation.host_features(X), self._predict_device(X))
        return predicted if encoded or not self.is_classifier else self._decode(predicted)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classifiers, coefficient of determination R^2 for regression.

        ``X`` (shape (m, n_inputs), array or DataFrame) is standardised by ``net.scaler``
        when set; ``y`` (shape (m,) or (m, n_outputs)) holds class indices, labels of
        ``net.classes`` (strings), or targets.

        R^2 of several outputs is their uniform average, as in scikit-learn.  With
        ``sample_weight`` (shape (m,)) both are weighted as scikit-learn's
        ``accuracy_score`` / ``r2_score`` weight them: sum_i w_i [hit_i] / sum_i w_i, and
        R^2 = 1 - sum_i w_i (y_i - h_i)**2 / sum_i w_i (y_i - ybar_w)**2 with the
        weighted mean ybar_w.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
        y : array or pandas Series/DataFrame, shape (m,) or (m, n_outputs)
        sample_weight : array, shape (m,), optional

        Returns
        -------
        float
            Accuracy in [0, 1], or R^2 (at most 1).
        """
        if _backend.is_dask_array(X) and sample_weight is None:
            # Chunk-wise sums and one reduction; X is never gathered on the client.
            from . import dask  # Dask input only

            return dask.DaskObjective(self.spec, self.preprocess(X), y).loss_and_score(self._theta)[1]
        Xd, Y, w = self._prepare_weighted(X, y, sample_weight)
        return float(metrics.network_score(self.spec, self._theta, Xd, Y, w))

    # -- training and persistence (implemented in training.py and io.py) -----------------------
    def fit(self, X, y, optimizer: str = "adam", **options):
        """Train the network; see :func:`bpnet_xp.training.fit` for the options.

        Parameters
        ----------
        X : array or pandas.DataFrame, shape (m, n_inputs)
            A DataFrame's column names are kept (``feature_names_in_``); ``net.scaler``,
            when set, standardises the inputs (it is not refitted).
        y : array or pandas Series/DataFrame, shape (m,) or (m, n_outputs)
            Class indices 0..K-1, labels that are not numbers (strings: learnt into
            ``net.classes`` when it is unset), targets in [0, 1] or regression targets.
        optimizer : str
            One of ``bpnet_xp.config.OPTIMIZERS``.
        **options
            ``validation_data`` is preprocessed as ``X``, ``y``.

        Returns
        -------
        History
        """
        names = validation.feature_names(X)
        self.feature_names_in_ = names
        X, y = self.preprocess(X), self.encode_labels(y, fitting=True)
        if options.get("sample_weight") is not None:
            options["sample_weight"] = validation.host_targets(options["sample_weight"])
        if isinstance(options.get("validation_data"), (tuple, list)) and len(options["validation_data"]) in (2, 3):
            X_val, y_val, *rest = options["validation_data"]
            options["validation_data"] = (self.preprocess(X_val), self.encode_labels(y_val),
                                          *(validation.host_targets(w) for w in rest))
        from . import training

        history = training.fit(self, X, y, optimizer=optimizer, **options)
        self._trained = True
        return history

    def save(self, path, *, metadata: dict | None = None) -> None:
        """Save to ``path`` (.npz arrays + JSON metadata), atomically; see :func:`bpnet_xp.io.save`.

        Parameters
        ----------
        path : str or os.PathLike
            Written exactly as given (no ``.npz`` is appended); :func:`bpnet_xp.load`
            reads it back on any backend.
        metadata : dict, optional
            Extra JSON-serialisable information, stored under the ``"user"`` key of the
            file's metadata.
        """
        from . import io

        io.save(self, path, metadata=metadata)

    def copy(self, backend=None, device=None, dtype=None) -> "MLP":
        """A copy of this network, optionally on another backend/device or in another dtype.

        The parameters are copied through the host (a new array, cast to the new
        dtype); the other attributes (history, classes, scaler, ...) are shared with
        this network, not copied.

        Parameters
        ----------
        backend : str or Backend, optional
            The backend of the copy (as in :class:`MLP`); None: this network's backend.
        device : optional
            The device of the copy, within ``backend``; with ``backend`` None, a device
            of this network's backend (``net.copy(device="device1")``).  An unknown
            device raises :class:`~bpnet_xp.backend.BackendUnavailableError` (a
            ``ValueError``).
        dtype : {"float32", "float64"}, optional
            The dtype of the copy; None: this network's dtype.

        Returns
        -------
        MLP
            The new network.
        """
        new = MLP.__new__(MLP)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_compiled", None)
        if backend is None and device is not None:
            backend = self.backend.name  # a device alone moves the copy within this backend
        new.backend = self.backend if backend is None else _backend.get_backend(backend, device)
        new.dtype = self.dtype if dtype is None else _dtype_name(dtype)
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
        With ``classes``, ``scaler`` and ``feature_names_in_`` restored when they were saved.

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
    from . import io

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
    # Checked by io (n_inputs strings of bounded length); None for files without them.
    net.feature_names_in_ = meta.get("feature_names")
    net._trained = True
    return net


class Summary(str):
    """The text of :meth:`MLP.summary`: a ``str`` that a notebook or the prompt shows as a table."""

    def __repr__(self) -> str:
        return str(self)
