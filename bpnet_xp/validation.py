"""The checks on X, y and sample weights, written once for every path.

Each check is planned from metadata first (shapes, dtypes: raised at once), then
as a few scalar reductions (finite? integral? in range?) that are computed
eagerly on device arrays or lazily, all in one pass, on Dask arrays; one
:func:`raise_on` turns their values into the same messages everywhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from .backend import library_name
from .metrics import one_hot
from .text import plain  # re-exported: the one conversion for messages, defined below everything

__all__ = [
    "TargetPlan",
    "to_device",
    "feature_shape_error",
    "feature_checks",
    "plan_targets",
    "target_checks",
    "make_targets",
    "weight_checks",
    "raise_on",
    "dtype_limit",
    "read_checks",
    "prepare_features",
    "prepare_targets",
    "prepare_weight",
    "describe_expected",
    "pandas_kind",
    "feature_names",
    "host_features",
    "host_targets",
    "plain",
    "check_cast",
]


class TargetPlan(NamedTuple):
    """How a y becomes targets Y of shape (m, n_outputs).

    Made by :func:`plan_targets` from y's metadata; read by :func:`target_checks` and
    :func:`make_targets`.

    Attributes
    ----------
    kind : {"labels", "targets", "matrix"}
        "labels": class labels -> one-hot (or a 0/1 column for one output);
        "targets": a 1-D regression target -> a column; "matrix": already (m, K).
    n_outputs : int
        K, the network's number of outputs (the targets' columns).
    classification : bool
        Whether the loss is a classification loss (targets must lie in [0, 1]).
    squeeze : bool
        y has shape (m, 1) for one output: ``y[:, 0]`` is used.
    loss : str or None
        The loss's name; "softmax_cross_entropy" requires rows of a target matrix
        that sum to 1.
    """

    kind: str
    n_outputs: int
    classification: bool
    squeeze: bool  # y of shape (m, 1) for one output: use y[:, 0]
    # The loss the targets feed: softmax cross-entropy needs each row of a target
    # matrix to be a distribution, or its shortcut delta h - Y is not the gradient.
    loss: str | None = None


def _numeric_kind(dtype) -> str:
    """'integral', 'floating' or the dtype's name when it is neither (bool counts as integral)."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind in ("b", "i", "u"):
        return "integral"
    if kind == "f":
        return "floating"
    if kind is not None:
        return str(np.dtype(dtype))
    xp_name = str(dtype)
    if "int" in xp_name or "bool" in xp_name:
        return "integral"
    return "floating" if "float" in xp_name else xp_name


def to_device(backend, value, what: str, dtype=None):
    """Host data or an array of ``backend`` -> an array of the backend, on its device.

    Parameters
    ----------
    backend : Backend
        The network's backend (its namespace and device).
    value : NumPy array, list, scalar, or an array of the backend
        Numeric (bool, integer or real floating) data of any shape.
    what : str
        The argument's name, for the messages.
    dtype : dtype of the backend, optional
        Cast to it; None keeps integers as int64 and floats as they are.

    Returns
    -------
    array of the backend
        ``value`` on the backend's device, of the same shape; an array of the backend
        already in ``dtype`` (or with ``dtype`` None) is returned as it is.

    Raises
    ------
    ValueError
        For non-numeric data, an array of another library or device, or a PyTorch
        tensor that requires grad (each message names ``what``).
    """
    if isinstance(value, (list, tuple, int, float, np.ndarray)):
        host = np.asarray(value)
        if host.dtype.kind not in "biuf":
            raise ValueError(f"{what} must be numeric, got dtype {host.dtype}")
        if dtype is None and host.dtype.kind in "biu":
            host = host.astype(np.int64)
        return backend.asarray(host, dtype)
    if getattr(value, "requires_grad", False) is True:
        # bpnet_xp computes its own gradients; an autograd graph would only be in the way.
        raise ValueError(f"{what} requires grad (it is part of an autograd graph); pass {what}.detach()")
    try:
        library = library_name(value)
    except TypeError:
        # A scipy.sparse matrix is named by its module (scipy itself is never imported here).
        hint = ("; sparse input is taken by bpnet_xp.sklearn.BPClassifier/BPRegressor, which densify "
                f"one mini-batch at a time, or pass {what}.toarray()"
                if type(value).__module__.startswith("scipy.sparse") else "")
        raise ValueError(f"{what} must be a NumPy array or an array of the {backend.name!r} backend, "
                         f"got {type(value).__module__}.{type(value).__name__}{hint}") from None
    if library != backend.name:
        raise ValueError(
            f"{what} is a {library} array but this network runs on the {backend.name!r} backend; "
            f"pass NumPy data or an array of {backend.name}"
        )
    if not backend.same_device(value):
        raise ValueError(f"{what} is on device {_device(value)!r} but this network is on {backend.device!r}")
    xp = backend.xp
    if not (xp.isdtype(value.dtype, "real floating") or xp.isdtype(value.dtype, "integral")
            or value.dtype == xp.bool):
        raise ValueError(f"{what} must be numeric, got dtype {value.dtype}")
    if dtype is None or value.dtype == dtype:
        return value
    return xp.astype(value, dtype)


def feature_shape_error(shape, n_inputs: int, what: str = "array") -> str | None:
    """The message for an X of the wrong shape, or None when the shape is right.

    Parameters
    ----------
    shape : tuple
        X's shape (a Dask array's row count may be NaN: unknown chunk sizes).
    n_inputs : int
        The number of features the network expects.
    what : str, optional
        What X is, in the message ("array", "dask array", ...).

    Returns
    -------
    str or None
        The message when X is not 2-D, has unknown or zero rows, or has another
        number of columns than ``n_inputs``; None otherwise.
    """
    if len(shape) != 2:
        hint = (" (use X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample)"
                if len(shape) == 1 else "")
        return (f"X must be 2-D of shape (n_samples, {n_inputs}), got a {len(shape)}-D {what} "
                f"of shape {tuple(shape)}{hint}")
    if isinstance(shape[0], float) and math.isnan(shape[0]):
        return ("X has unknown chunk sizes (NaN rows); call X.compute_chunk_sizes() first "
                "(it computes only the sizes, not the data)")
    if shape[0] == 0:
        return "X is empty: it has 0 samples"
    if shape[1] != n_inputs:
        return f"X has {shape[1]} features but the network expects {n_inputs}"
    return None


def feature_checks(X) -> dict:
    """Scalar reductions that say whether X is finite (0-d arrays, lazy on Dask).

    The standard's max/min propagate NaN and show +-inf: two reductions and no
    temporary the size of the data (isfinite would allocate one).

    Parameters
    ----------
    X : array, shape (m, n_inputs)
        Features, of any array-API library (bool is read as 0/1).

    Returns
    -------
    dict
        ``{"X min": 0-d array, "X max": 0-d array}``, for :func:`raise_on` after
        :func:`read_checks` (or a Dask compute).
    """
    xp = array_namespace(X)
    X = _orderable(xp, X)
    return {"X min": xp.min(X), "X max": xp.max(X)}


def _orderable(xp, a):
    # The standard's min/max take real numbers only; a bool array is read as 0/1.
    return xp.astype(a, xp.int8) if a.dtype == xp.bool else a


def plan_targets(shape, dtype, n_outputs: int, classification: bool, m, loss: str | None = None) -> TargetPlan:
    """Check y's metadata against X and the network; say how it becomes targets.

    Parameters
    ----------
    shape : tuple
        y's shape: (m,) or (m, n_outputs) (or (m, 1) for one output).
    dtype : dtype
        y's dtype (NumPy or any array-API library's); it must be numeric.
    n_outputs : int
        The network's number of outputs.
    classification : bool
        Whether the network's loss is a classification loss.
    m : int
        The number of samples of X; y must have as many.
    loss : str, optional
        The loss's name, which decides which target values are valid (see
        :func:`target_checks`).

    Returns
    -------
    TargetPlan
        How y becomes targets of shape (m, n_outputs).

    Raises
    ------
    ValueError
        When y's sample count, number of dimensions, columns or dtype do not fit
        (the message names y).
    """
    K = n_outputs
    if len(shape) == 0 or shape[0] != m:
        raise ValueError(f"y has {shape[0] if len(shape) else 0} samples but X has {m}")
    if classification and len(shape) == 2 and shape[1] == 1 == K:
        # One output: (m, 1) targets in [0, 1], as describe_expected promises (a 0/1
        # column of labels is the same matrix).
        if _numeric_kind(dtype) not in ("integral", "floating"):
            raise ValueError(f"y must be numeric, got dtype {dtype}")
        return TargetPlan("matrix", K, classification, False, loss)
    squeeze = len(shape) == 2 and shape[1] == 1 and K == 1
    ndim = 1 if squeeze else len(shape)
    if ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D, got shape {tuple(shape)}")
    kind = _numeric_kind(dtype)
    if ndim == 2:
        if shape[1] != K:
            raise ValueError(f"y has {shape[1]} columns but the network has {K} outputs")
        if kind not in ("integral", "floating"):
            raise ValueError(f"y must be numeric, got dtype {dtype}")
        return TargetPlan("matrix", K, classification, squeeze, loss)
    if classification or (kind == "integral" and K > 1):
        if kind not in ("integral", "floating"):
            raise ValueError(f"class labels must be integers 0..{max(K, 2) - 1}, got dtype {dtype}")
        return TargetPlan("labels", K, True, squeeze, loss)
    if K != 1:
        raise ValueError(f"y is 1-D but the network has {K} outputs; pass y of shape (m, {K})")
    if kind not in ("integral", "floating"):
        raise ValueError(f"y must be numeric, got dtype {dtype}")
    return TargetPlan("targets", K, classification, squeeze, loss)


def target_checks(y, plan: TargetPlan) -> dict:
    """Scalar reductions for the values of y (0-d arrays, lazy on Dask).

    Parameters
    ----------
    y : array, shape (m,) or (m, n_outputs)
        The targets or labels, as ``plan`` read them (already squeezed to (m,)
        when ``plan.squeeze``).
    plan : TargetPlan
        From :func:`plan_targets`.

    Returns
    -------
    dict
        Named 0-d arrays for :func:`raise_on`: labels' min, max (and integrality for
        floating labels), or targets' min, max (and, for a classification matrix,
        whether they lie in [0, 1] and, for softmax cross-entropy, whether rows sum
        to 1).
    """
    xp = array_namespace(y)
    y = _orderable(xp, y)
    if plan.kind == "labels":
        checks = {"labels min": xp.min(y), "labels max": xp.max(y)}
        if xp.isdtype(y.dtype, "real floating"):
            checks["labels integral"] = xp.all(xp.isfinite(y) & (y == xp.round(y)))
        return checks
    checks = {"y min": xp.min(y), "y max": xp.max(y)}
    if plan.kind == "matrix" and plan.classification:
        checks["y in [0, 1]"] = xp.all((y >= 0) & (y <= 1))
        if plan.loss == "softmax_cross_entropy":
            checks["y rows sum to 1"] = _rows_sum_to_one(xp, y)
    return checks


def _rows_sum_to_one(xp, y):
    """0-d bool: every row of y sums to 1 within a tolerance of y's precision.

    Rows that sum to s != 1 make softmax cross-entropy's gradient h s - y, not the
    h - y the network back-propagates: a silently wrong gradient, so they are refused.
    """
    if xp.isdtype(y.dtype, "real floating"):
        tolerance = max(1e-6, math.sqrt(float(xp.finfo(y.dtype).eps)))
        return xp.all(xp.abs(xp.sum(y, axis=1) - 1) <= tolerance)
    return xp.all(xp.sum(y, axis=1) == 1)


def make_targets(y, plan: TargetPlan, dtype):
    """Targets Y of shape (m, n_outputs) in ``dtype`` from a y checked by ``plan``.

    Parameters
    ----------
    y : array, shape (m,) or (m, n_outputs)
        Labels or targets, already checked (:func:`target_checks`, :func:`raise_on`).
    plan : TargetPlan
        From :func:`plan_targets`.
    dtype : floating dtype of y's namespace
        The network's dtype.

    Returns
    -------
    array, shape (m, n_outputs)
        One-hot rows for labels (a 0/1 column for one output), a column for a 1-D
        target, or y cast to ``dtype``.
    """
    xp = array_namespace(y)
    if plan.squeeze:
        y = y[:, 0]
    if plan.kind == "labels":
        return one_hot(y, plan.n_outputs, dtype)
    if plan.kind == "targets":
        return xp.reshape(xp.astype(y, dtype), (-1, 1))
    return xp.astype(y, dtype)


def weight_checks(weight) -> dict:
    """Scalar reductions for sample weights (0-d arrays, lazy on Dask).

    Parameters
    ----------
    weight : array, shape (m,)
        Per-sample weights, of any array-API library.

    Returns
    -------
    dict
        ``"sample_weight min"``, ``"sample_weight max"`` and ``"sample_weight any
        positive"`` as 0-d arrays, for :func:`raise_on`.
    """
    xp = array_namespace(weight)
    weight = _orderable(xp, weight)
    return {"sample_weight min": xp.min(weight), "sample_weight max": xp.max(weight),
            "sample_weight any positive": xp.any(weight > 0)}


def _finite(values: dict, name: str) -> bool:
    return math.isfinite(float(values[f"{name} min"])) and math.isfinite(float(values[f"{name} max"]))


def _raise_on_labels(values: dict, n_outputs: int) -> None:
    n_classes = max(n_outputs, 2)
    if not bool(values.get("labels integral", True)):
        raise ValueError(f"class labels must be integers 0..{n_classes - 1}; y has non-integer values")
    lo, hi = float(values["labels min"]), float(values["labels max"])
    if lo < 0 or hi >= n_classes:
        raise ValueError(
            f"label {lo if lo < 0 else hi:g} is out of range: this network has {n_classes} classes, "
            f"so labels must be 0..{n_classes - 1}"
        )


def _raise_on_overflow(values: dict, name: str, what: str, dtype_limit) -> None:
    # Finite values that do not fit the network's dtype would become inf in the cast.
    if dtype_limit is None or f"{name} min" not in values:
        return
    largest = max(abs(float(values[f"{name} min"])), abs(float(values[f"{name} max"])))
    limit, dtype_name = dtype_limit
    if largest > limit:
        raise ValueError(f"{what} has a value of magnitude {largest:g} that overflows {dtype_name} "
                         f"(largest {limit:g}); rescale {what} or use dtype='float64'")


def raise_on(values: dict, n_outputs: int = 1, what_x: str = "X", dtype_limit=None) -> None:
    """Turn computed checks into the ValueError every path raises (nothing when all pass).

    Parameters
    ----------
    values : dict
        The checks of :func:`feature_checks`, :func:`target_checks` and
        :func:`weight_checks` (any of them), read to host numbers.
    n_outputs : int, optional
        The network's number of outputs (labels must be 0..max(n_outputs, 2) - 1).
    what_x : str, optional
        The name of the features in the messages.
    dtype_limit : tuple of (float, str), optional
        ``(largest finite value, dtype name)`` of the dtype the values are cast to,
        when the checks were computed before the cast (overflow is named as such).

    Raises
    ------
    ValueError
        For non-finite values, values that overflow the dtype, targets out of
        [0, 1] or rows not summing to 1, labels out of range or not integral, and
        negative or all-zero sample weights.
    """
    if "X min" in values and not _finite(values, "X"):
        raise ValueError(f"{what_x} contains NaN or infinite values")
    _raise_on_overflow(values, "X", what_x, dtype_limit)
    if "y min" in values and not _finite(values, "y"):
        raise ValueError("y contains NaN or infinite values")
    _raise_on_overflow(values, "y", "y", dtype_limit)
    if not bool(values.get("y in [0, 1]", True)):
        raise ValueError("y (targets of a classification loss) must lie in [0, 1]")
    if not bool(values.get("y rows sum to 1", True)):
        raise ValueError("y (soft targets of softmax_cross_entropy) must have rows that sum to 1: "
                         "each row is a probability distribution over the classes")
    if "labels min" in values:
        _raise_on_labels(values, n_outputs)
    if "sample_weight min" in values:
        if not _finite(values, "sample_weight"):
            raise ValueError("sample_weight contains NaN or infinite values")
        _raise_on_overflow(values, "sample_weight", "sample_weight", dtype_limit)
        if float(values["sample_weight min"]) < 0:
            raise ValueError(f"sample_weight must be non-negative; its smallest value is "
                             f"{float(values['sample_weight min']):g}")
        if not bool(values["sample_weight any positive"]):
            raise ValueError("sample_weight is zero for every sample: at least one weight must be positive")


def dtype_limit(xp, dtype) -> tuple:
    """``(largest finite value, name)`` of a floating dtype, for :func:`raise_on`.

    Parameters
    ----------
    xp : namespace
        The array-API namespace of ``dtype``.
    dtype : floating dtype of ``xp``
        The dtype values are cast to.

    Returns
    -------
    tuple of (float, str)
        Its largest finite value and its name ("float32", "float64", ...).
    """
    info = xp.finfo(dtype)
    return float(info.max), f"float{info.bits}"


def check_cast(values, dtype, what: str = "X") -> None:
    """Refuse, naming the overflow, ``values`` that become inf when cast to ``dtype``.

    Parameters
    ----------
    values : array, shape (m, n) or (m,)
        Host or device data, before the cast (an eager array; not Dask).
    dtype : floating dtype of ``values``' namespace
        The dtype the values are cast to (the network's).
    what : str
        The argument's name, for the message.

    Raises
    ------
    ValueError
        "``what`` contains NaN or infinite values", or "``what`` has a value of
        magnitude ... that overflows float32 ...; rescale ``what`` or use
        dtype='float64'".
    """
    xp = array_namespace(values)
    checks = read_checks(feature_checks(values))
    raise_on(checks, what_x=what, dtype_limit=dtype_limit(xp, dtype))


def _native(backend, value, what: str):
    """Host data stays on the host (checked numeric); other arrays are checked as the
    backend's, uncast: the checks then see the values before any narrowing cast."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{what} must be numeric, got dtype {value.dtype}")
        return value
    return to_device(backend, value, what)


def read_checks(checks: dict) -> dict:
    """Eager arrays: each 0-d check read to the host (one small transfer each).

    Parameters
    ----------
    checks : dict
        Named 0-d arrays (of an eager library, not Dask).

    Returns
    -------
    dict
        The same names, each value a Python float (booleans as 0.0/1.0).
    """
    return {name: float(value) for name, value in checks.items()}


def _host_or_array(value, what: str, shape_hint: str):
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if getattr(value, "shape", None) is None:
        raise ValueError(f"{what} must be an array{shape_hint}, got {type(value).__name__}")
    return value


def prepare_features(backend, X, n_inputs: int, dtype):
    """Validate X and move it to the device: shape (m, n_inputs), numeric, finite, non-empty.

    Parameters
    ----------
    backend : Backend
        The network's backend.
    X : array, shape (m, n_inputs)
        NumPy data, a list, or an array of the backend.
    n_inputs : int
        The number of features the network expects.
    dtype : floating dtype of the backend
        The network's dtype; values that would overflow it are refused.

    Returns
    -------
    array of the backend, shape (m, n_inputs)
        X in ``dtype``, on the backend's device.

    Raises
    ------
    ValueError
        For a wrong shape, non-numeric, non-finite or overflowing values, or an
        array of another library or device.
    """
    X = _host_or_array(X, "X", f" of shape (n_samples, {n_inputs})")
    message = feature_shape_error(X.shape, n_inputs)
    if message is not None:
        raise ValueError(message)
    raw = _native(backend, X, "X")
    raise_on(read_checks(feature_checks(raw)), dtype_limit=dtype_limit(backend.xp, dtype))
    return to_device(backend, raw, "X", dtype)


def prepare_targets(backend, y, m: int, n_outputs: int, classification: bool, dtype, expects: str = "",
                    loss: str | None = None):
    """Validate y for a network and turn it into targets Y of shape (m, n_outputs) on the device.

    Parameters
    ----------
    backend : Backend
        The network's backend.
    y : array, shape (m,) or (m, n_outputs)
        Integer class labels, or targets (NumPy, a list, or an array of the backend).
    m : int
        The number of samples of X.
    n_outputs : int
        The network's number of outputs.
    classification : bool
        Whether the network's loss is a classification loss.
    dtype : floating dtype of the backend
        The network's dtype.
    expects : str, optional
        What the network takes, in words (:func:`describe_expected`), for the
        message when y is missing or not an array.
    loss : str, optional
        The loss's name, which decides the valid target values (soft targets of
        softmax_cross_entropy must be distributions).

    Returns
    -------
    array of the backend, shape (m, n_outputs)
        The targets Y in ``dtype`` (labels one-hot encoded).

    Raises
    ------
    ValueError
        For a missing y, a wrong shape or dtype, non-finite or overflowing values,
        labels out of range, or targets a classification loss cannot take.
    """
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if y is None:
        raise ValueError(f"y is required: this network expects {expects}")
    if getattr(y, "shape", None) is None:
        raise ValueError(f"y must be an array; this network expects {expects}")
    plan = plan_targets(y.shape, y.dtype, n_outputs, classification, m, loss)
    # Labels stay integers (or floats checked for integrality); targets are checked
    # before the cast to the network's dtype, so an overflow is named as one.
    yd = to_device(backend, y, "y")
    checked = yd[:, 0] if plan.squeeze else yd
    limit = None if plan.kind == "labels" else dtype_limit(backend.xp, dtype)
    raise_on(read_checks(target_checks(checked, plan)), n_outputs, dtype_limit=limit)
    return make_targets(yd, plan, dtype)


def prepare_weight(backend, sample_weight, m: int, dtype):
    """Validate per-sample weights and move them to the device, shape (m,), in ``dtype``.

    Parameters
    ----------
    backend : Backend
        The network's backend.
    sample_weight : array, shape (m,) or (m, 1), or list
        One non-negative finite weight per sample, at least one positive.
    m : int
        The number of samples.
    dtype : floating dtype of the backend
        The network's dtype.

    Returns
    -------
    array of the backend, shape (m,)
        The weights in ``dtype``, on the backend's device.

    Raises
    ------
    ValueError
        For a wrong shape, non-numeric, non-finite, negative or overflowing
        weights, or weights that are all zero.
    """
    if isinstance(sample_weight, (list, tuple, int, float)):
        sample_weight = np.asarray(sample_weight)
    shape = getattr(sample_weight, "shape", None)
    if shape is None:
        raise ValueError(f"sample_weight must be an array of shape ({m},), "
                         f"got {type(sample_weight).__name__}")
    if len(shape) == 2 and shape[1] == 1:
        sample_weight = sample_weight[:, 0]
        shape = sample_weight.shape
    if len(shape) != 1 or shape[0] != m:
        raise ValueError(f"sample_weight must have shape ({m},) (one weight per sample), got {tuple(shape)}")
    raw = _native(backend, sample_weight, "sample_weight")
    raise_on(read_checks(weight_checks(raw)), dtype_limit=dtype_limit(backend.xp, dtype))
    return to_device(backend, raw, "sample_weight", dtype)


def describe_expected(classification: bool, n_outputs: int) -> str:
    """What y a network takes, in words.

    Parameters
    ----------
    classification : bool
        Whether the network's loss is a classification loss.
    n_outputs : int
        The network's number of outputs.

    Returns
    -------
    str
        E.g. "integer class labels 0..9 of shape (m,), or targets in [0, 1] of
        shape (m, 10)".
    """
    if classification:
        k = max(n_outputs, 2)
        return f"integer class labels 0..{k - 1} of shape (m,), or targets in [0, 1] of shape (m, {n_outputs})"
    return "float targets of shape (m,)" + (f" or (m, {n_outputs})" if n_outputs > 1 else "")



# ---------------------------------------------------------------------------------------
# pandas at the entry: converted on the host before the checks above (pandas stays optional;
# it is recognised by its type's module, never imported here).


def pandas_kind(value) -> str | None:
    """``"frame"`` for a pandas DataFrame, ``"series"`` for a Series, None for anything else.

    Parameters
    ----------
    value : object
        Anything; pandas is recognised by the type's module, never imported.

    Returns
    -------
    {"frame", "series"} or None
        The kind of pandas object, or None when ``value`` is none.
    """
    if not (type(value).__module__ or "").startswith("pandas"):
        return None
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):
        return "frame"
    if hasattr(value, "to_numpy") and getattr(value, "ndim", None) == 1:
        return "series"
    return None


def feature_names(X) -> list | None:
    """The column names of a DataFrame X when they are all strings (scikit-learn's rule), else None.

    Parameters
    ----------
    X : pandas.DataFrame, shape (m, n_features), or any array
        The features as given to fit.

    Returns
    -------
    list of str or None
        The column names; None for anything but a DataFrame whose columns are all
        strings.
    """
    if pandas_kind(X) != "frame":
        return None
    names = list(X.columns)
    return names if names and all(isinstance(name, str) for name in names) else None


def _column_message(actual: list, expected: list) -> str:
    actual, expected = plain(list(actual)), plain(list(expected))  # names loaded from a file may be np.str_
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    if not missing and not extra:
        return (f"X has the columns the network was fitted on but in another order {actual!r}; "
                f"they are never reordered silently: pass X[{list(expected)!r}]")
    parts = ([f"missing {missing!r}"] if missing else []) + ([f"unexpected {extra!r}"] if extra else [])
    return (f"X's columns differ from those the network was fitted on ({', '.join(parts)}); "
            f"expected {list(expected)!r}")


def host_features(X, expected_names=None):
    """A pandas DataFrame -> NumPy float64 on the host (anything else is returned unchanged).

    Parameters
    ----------
    X : pandas.DataFrame, shape (m, n_features), or any array
    expected_names : list of str, optional
        ``feature_names_in_`` of the network: a DataFrame must have exactly these
        columns, in this order (a DataFrame is never reordered silently).

    Returns
    -------
    numpy.ndarray of float64, shape (m, n_features), or ``X`` itself

    Raises
    ------
    ValueError
        For a Series, other columns than ``expected_names``, or a column that is not
        numeric (each named).
    """
    kind = pandas_kind(X)
    if kind is None:
        return X
    if kind == "series":
        raise ValueError("X is a pandas Series; pass a DataFrame: X.to_frame() for one feature, "
                         "X.to_frame().T for one sample")
    if expected_names is not None and list(X.columns) != list(expected_names):
        raise ValueError(_column_message(list(X.columns), list(expected_names)))
    for column, dtype in X.dtypes.items():
        if getattr(dtype, "kind", "O") not in "biuf":
            raise ValueError(f"X column {plain(column)!r} is not numeric (dtype {dtype}); encode it as numbers first")
    return X.to_numpy(dtype=np.float64, na_value=np.nan)


def host_targets(y):
    """A pandas Series or DataFrame -> NumPy on the host (anything else is returned unchanged).

    Numeric columns become int64/bool/float64 arrays (missing values as NaN, refused later
    by the finite check); other Series (strings, categories, objects) become object arrays
    of their values, as class labels.

    Parameters
    ----------
    y : pandas.Series, shape (m,), pandas.DataFrame, shape (m, n_outputs), or any array
        The targets as given to fit.

    Returns
    -------
    numpy.ndarray, shape (m,) or (m, n_outputs), or ``y`` itself
        A DataFrame as float64; a Series as int64, bool, float64 or object values.

    Raises
    ------
    ValueError
        For a non-numeric Series with missing labels.
    """
    kind = pandas_kind(y)
    if kind is None:
        return y
    if kind == "frame":
        return y.to_numpy(dtype=np.float64, na_value=np.nan)
    dtype_kind = getattr(y.dtype, "kind", "O")
    has_missing = bool(y.isna().any())
    if dtype_kind in "biu" and not has_missing:
        return y.to_numpy(dtype=np.bool_ if dtype_kind == "b" else np.int64)
    if dtype_kind in "biuf":
        return y.to_numpy(dtype=np.float64, na_value=np.nan)
    if has_missing:
        raise ValueError("y has missing labels (NaN/None); drop or fill those rows first")
    return np.asarray(y.to_numpy(dtype=object))
