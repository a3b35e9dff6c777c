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
    "read_checks",
    "prepare_features",
    "prepare_targets",
    "prepare_weight",
    "describe_expected",
]


class TargetPlan(NamedTuple):
    """How a y becomes targets Y of shape (m, n_outputs).

    kind : "labels" (class labels -> one-hot, or a 0/1 column for one output),
    "targets" (a 1-D regression target -> a column), "matrix" (already (m, K)).
    """

    kind: str
    n_outputs: int
    classification: bool
    squeeze: bool  # y of shape (m, 1) for one output: use y[:, 0]


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
    value : NumPy array, list, scalar, or an array of the backend
    what : str
        The argument's name, for the messages.
    dtype : dtype of the backend, optional
        Cast to it; None keeps integers as int64 and floats as they are.
    """
    if isinstance(value, (list, tuple, int, float, np.ndarray)):
        host = np.asarray(value)
        if host.dtype.kind not in "biuf":
            raise ValueError(f"{what} must be numeric, got dtype {host.dtype}")
        if dtype is None and host.dtype.kind in "biu":
            host = host.astype(np.int64)
        return backend.asarray(host, dtype)
    try:
        library = library_name(value)
    except TypeError:
        raise ValueError(f"{what} must be a NumPy array or an array of the {backend.name!r} backend, "
                         f"got {type(value).__module__}.{type(value).__name__}") from None
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
    """The message for an X of the wrong shape, or None when the shape is right."""
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
    """
    xp = array_namespace(X)
    return {"X min": xp.min(X), "X max": xp.max(X)}


def plan_targets(shape, dtype, n_outputs: int, classification: bool, m) -> TargetPlan:
    """Check y's metadata against X and the network; say how it becomes targets."""
    K = n_outputs
    if len(shape) == 0 or shape[0] != m:
        raise ValueError(f"y has {shape[0] if len(shape) else 0} samples but X has {m}")
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
        return TargetPlan("matrix", K, classification, squeeze)
    if classification or (kind == "integral" and K > 1):
        if kind not in ("integral", "floating"):
            raise ValueError(f"class labels must be integers 0..{max(K, 2) - 1}, got dtype {dtype}")
        return TargetPlan("labels", K, True, squeeze)
    if K != 1:
        raise ValueError(f"y is 1-D but the network has {K} outputs; pass y of shape (m, {K})")
    if kind not in ("integral", "floating"):
        raise ValueError(f"y must be numeric, got dtype {dtype}")
    return TargetPlan("targets", K, classification, squeeze)


def target_checks(y, plan: TargetPlan) -> dict:
    """Scalar reductions for the values of y (0-d arrays, lazy on Dask)."""
    xp = array_namespace(y)
    if plan.kind == "labels":
        checks = {"labels min": xp.min(y), "labels max": xp.max(y)}
        if xp.isdtype(y.dtype, "real floating"):
            checks["labels integral"] = xp.all(xp.isfinite(y) & (y == xp.round(y)))
        return checks
    checks = {"y min": xp.min(y), "y max": xp.max(y)}
    if plan.kind == "matrix" and plan.classification:
        checks["y in [0, 1]"] = xp.all((y >= 0) & (y <= 1))
    return checks


def make_targets(y, plan: TargetPlan, dtype):
    """Targets Y of shape (m, n_outputs) in ``dtype`` from a y checked by ``plan``."""
    xp = array_namespace(y)
    if plan.squeeze:
        y = y[:, 0]
    if plan.kind == "labels":
        return one_hot(y, plan.n_outputs, dtype)
    if plan.kind == "targets":
        return xp.reshape(xp.astype(y, dtype), (-1, 1))
    return xp.astype(y, dtype)


def weight_checks(weight) -> dict:
    """Scalar reductions for sample weights (0-d arrays, lazy on Dask)."""
    xp = array_namespace(weight)
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


def raise_on(values: dict, n_outputs: int = 1, what_x: str = "X") -> None:
    """Turn computed checks into the ValueError every path raises (nothing when all pass)."""
    if "X min" in values and not _finite(values, "X"):
        raise ValueError(f"{what_x} contains NaN or infinite values")
    if "y min" in values and not _finite(values, "y"):
        raise ValueError("y contains NaN or infinite values")
    if not bool(values.get("y in [0, 1]", True)):
        raise ValueError("y (targets of a classification loss) must lie in [0, 1]")
    if "labels min" in values:
        _raise_on_labels(values, n_outputs)
    if "sample_weight min" in values:
        if not _finite(values, "sample_weight"):
            raise ValueError("sample_weight contains NaN or infinite values")
        if float(values["sample_weight min"]) < 0:
            raise ValueError(f"sample_weight must be non-negative; its smallest value is "
                             f"{float(values['sample_weight min']):g}")
        if not bool(values["sample_weight any positive"]):
            raise ValueError("sample_weight is zero for every sample: at least one weight must be positive")


def read_checks(checks: dict) -> dict:
    """Eager arrays: each 0-d check read to the host (one small transfer each)."""
    return {name: float(value) for name, value in checks.items()}


def _host_or_array(value, what: str, shape_hint: str):
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if getattr(value, "shape", None) is None:
        raise ValueError(f"{what} must be an array{shape_hint}, got {type(value).__name__}")
    return value


def prepare_features(backend, X, n_inputs: int, dtype):
    """Validate X and move it to the device: shape (m, n_inputs), numeric, finite, non-empty."""
    X = _host_or_array(X, "X", f" of shape (n_samples, {n_inputs})")
    message = feature_shape_error(X.shape, n_inputs)
    if message is not None:
        raise ValueError(message)
    Xd = to_device(backend, X, "X", dtype)
    raise_on(read_checks(feature_checks(Xd)))
    return Xd


def prepare_targets(backend, y, m: int, n_outputs: int, classification: bool, dtype, expects: str = ""):
    """Validate y for a network and turn it into targets Y of shape (m, n_outputs) on the device."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if getattr(y, "shape", None) is None:
        raise ValueError(f"y must be an array; this network expects {expects}")
    plan = plan_targets(y.shape, y.dtype, n_outputs, classification, m)
    keep_dtype = plan.kind == "labels"  # labels stay integers (or floats checked for integrality)
    yd = to_device(backend, y, "y", None if keep_dtype else dtype)
    raise_on(read_checks(target_checks(yd[:, 0] if plan.squeeze else yd, plan)), n_outputs)
    return make_targets(yd, plan, dtype)


def prepare_weight(backend, sample_weight, m: int, dtype):
    """Validate per-sample weights and move them to the device, shape (m,), in ``dtype``."""
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
    w = to_device(backend, sample_weight, "sample_weight", dtype)
    raise_on(read_checks(weight_checks(w)))
    return w


def describe_expected(classification: bool, n_outputs: int) -> str:
    """What y a network takes, in words."""
    if classification:
        k = max(n_outputs, 2)
        return f"integer class labels 0..{k - 1} of shape (m,), or targets in [0, 1] of shape (m, {n_outputs})"
    return "float targets of shape (m,)" + (f" or (m, {n_outputs})" if n_outputs > 1 else "")

