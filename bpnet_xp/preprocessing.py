"""Preprocessing: standardisation, label encoding, one-hot targets, train/test split.

:class:`StandardScaler` and :func:`one_hot` are array-API generic (any backend in,
the same library and device out; the scaler's statistics stay on the host in
float64, easy to save with a model).  :class:`LabelEncoder` and
:func:`train_test_split` (seeded, optionally stratified) work on the host, where
labels may be strings.  Why each exists in a BP library: docs/theory.md.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from . import backend as _backend
from .backend import is_concrete
from .text import plain

__all__ = [
    "NotFittedError",
    "StandardScaler",
    "LabelEncoder",
    "one_hot",
    "train_test_split",
]


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before :meth:`fit` was called."""


# ---------------------------------------------------------------------------------------
# Input helpers.


def _as_array(x: Any, what: str):
    """``x`` as an array some array-API namespace understands (lists become NumPy)."""
    if isinstance(x, (list, tuple, int, float, bool, np.generic)):
        x = np.asarray(x)
    try:
        array_namespace(x)
    except TypeError:
        raise ValueError(
            f"{what} must be a NumPy array or an array of a supported backend, "
            f"got {type(x).__module__}.{type(x).__name__}"
        ) from None
    if isinstance(x, np.ndarray) and x.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
    return x


def _is_numeric(xp, dtype) -> bool:
    try:
        return bool(xp.isdtype(dtype, ("bool", "integral", "real floating")))
    except (TypeError, ValueError):
        return False


def _has_float64(x) -> bool:
    """Whether ``x``'s device holds float64 (False on e.g. Apple MPS or JAX without x64)."""
    try:
        return _backend.backend_of(x).has_float64
    except Exception:  # an array library bpnet_xp does not name: ask the standard
        try:
            xp = array_namespace(x)
            return "float64" in xp.__array_namespace_info__().dtypes(device=_device(x))
        except Exception:
            return True


def _default_dtypes(xp, dev) -> dict:
    try:
        return xp.__array_namespace_info__().default_dtypes(device=dev)
    except Exception:  # pragma: no cover - namespaces without the inspection API
        return {"real floating": xp.float64, "integral": xp.int64}


def _n_rows(x) -> int | None:
    """Number of rows, or None where the library does not know it yet (lazy arrays)."""
    n = x.shape[0]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return None
    return int(n)


def _host(x: Any, what: str) -> np.ndarray:
    """Host NumPy copy of ``x`` (NumPy, nested sequence, or any backend's array)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple, int, float, bool, str, np.generic)):
        return np.asarray(x)
    try:
        return _backend.to_numpy(x)
    except TypeError:
        raise ValueError(
            f"{what} must be a NumPy array, a sequence or an array of a supported backend, "
            f"got {type(x).__module__}.{type(x).__name__}"
        ) from None


# ---------------------------------------------------------------------------------------
# Standardisation.


class StandardScaler:
    """Centre each feature to mean 0 and scale it to standard deviation 1.

    Fit it on the training data only, then transform training, validation and
    test data (and later inputs) with the same statistics.  A feature that is
    constant on the training data gets ``scale_ = 1``, so it becomes exactly 0.

    Attributes
    ----------
    mean_ : numpy.ndarray of float64, shape (n_features,)
        Per-feature mean of the training data (for an exactly constant feature,
        its value, so that centring gives exactly 0).
    scale_ : numpy.ndarray of float64, shape (n_features,)
        Per-feature population standard deviation (``ddof=0``), or 1 where the
        feature is constant.
    var_ : numpy.ndarray of float64, shape (n_features,)
        Per-feature population variance.
    n_features_in_ : int
        Number of features seen by :meth:`fit`.
    n_samples_seen_ : int or None
        Number of samples seen by :meth:`fit`.

    Notes
    -----
    The statistics are computed on the input's device (in float64 where the
    device has it) with the two-pass formula, then kept on the host as float64.
    A feature counts as constant when its minimum equals its maximum, or when its
    computed variance is within the rounding error of a constant column (the
    bound scikit-learn uses: ``var <= m*eps*var + (m*|mean|*eps)**2``).

    Examples
    --------
    >>> scaler = StandardScaler().fit(X_train)           # doctest: +SKIP
    >>> X_train_s, X_test_s = scaler.transform(X_train), scaler.transform(X_test)  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.n_features_in_: int | None = None
        self.n_samples_seen_: int | None = None

    def __repr__(self) -> str:
        state = "unfitted" if self.mean_ is None else f"n_features_in_={self.n_features}"
        return f"StandardScaler({state})"

    # -- validation -------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Number of features the fitted scaler transforms."""
        self._check_fitted("n_features")
        return int(np.shape(self.mean_)[0])

    def _check_fitted(self, method: str) -> None:
        if getattr(self, "mean_", None) is None or getattr(self, "scale_", None) is None:
            raise NotFittedError(
                f"this StandardScaler is not fitted yet: call fit(X_train) before {method}()"
            )

    def _validate(self, X, method: str):
        """Namespace and array for a 2-D numeric finite ``X`` (finiteness unchecked when lazy)."""
        X = _as_array(X, "X")
        xp = array_namespace(X)
        if X.ndim != 2:
            hint = (" (use X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample)"
                    if X.ndim == 1 else "")
            raise ValueError(
                f"{method}: X must be 2-D of shape (n_samples, n_features), got a {X.ndim}-D array "
                f"of shape {tuple(X.shape)}{hint}"
            )
        if not _is_numeric(xp, X.dtype):
            raise ValueError(f"{method}: X must be real numeric (bool, integer or floating), got dtype {X.dtype}")
        if X.shape[1] == 0:
            raise ValueError(f"{method}: X has 0 features")
        if method != "fit":
            n = self.n_features
            if X.shape[1] != n:
                raise ValueError(
                    f"{method}: X has {X.shape[1]} features but this StandardScaler was fitted on {n}"
                )
        if _n_rows(X) == 0:
            raise ValueError(f"{method}: X is empty: it has 0 samples")
        return xp, X

    @staticmethod
    def _check_finite(xp, X, method: str) -> None:
        # One host sync per call: cheap next to the transform itself, and the only
        # way to name the problem before it turns into NaN losses later.  Lazy
        # arrays are not computed here; their NaNs surface downstream.
        if not is_concrete(X):
            return
        if xp.isdtype(X.dtype, "real floating") and not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{method}: X contains NaN or infinite values")

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X) -> "StandardScaler":
        """Compute the per-feature mean and standard deviation of the training data.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
            Training data: NumPy or any backend's array, real numeric, finite.

        Returns
        -------
        StandardScaler
            ``self``, fitted.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, is empty, is not numeric, or holds NaN/inf.
        """
        xp, X = self._validate(X, "fit")
        dev = _device(X)
        if _has_float64(X):
            work = xp.float64
        elif xp.isdtype(X.dtype, "real floating"):
            work = X.dtype
        else:
            work = _default_dtypes(xp, dev)["real floating"]
        Xw = X if X.dtype == work else xp.astype(X, work)

        finite = xp.all(xp.isfinite(Xw))
        if not bool(finite):
            raise ValueError("fit: X contains NaN or infinite values")
        mean = xp.mean(Xw, axis=0)
        centred = Xw - mean
        # Corrected two-pass variance (Chan, Golub & LeVeque): the second term
        # removes the rounding error left in the first-pass mean.
        m = Xw.shape[0]
        var = xp.mean(centred * centred, axis=0) - (xp.sum(centred, axis=0) / m) ** 2
        hi = xp.max(Xw, axis=0)
        lo = xp.min(Xw, axis=0)

        # Only these four (n_features,) vectors cross to the host.
        mean_h, var_h, hi_h, lo_h = (np.asarray(_backend.to_numpy(a), dtype=np.float64)
                                     for a in (mean, var, hi, lo))
        if not (np.all(np.isfinite(mean_h)) and np.all(np.isfinite(var_h))):
            raise ValueError("fit: the mean or variance of X overflowed; rescale the data first")
        var_h = np.maximum(var_h, 0.0)
        m_host = _n_rows(Xw)
        exact = hi_h == lo_h
        constant = exact
        if m_host is not None:  # a lazy array of unknown length: exact constants only
            eps = float(xp.finfo(work).eps)
            constant = exact | (var_h <= m_host * eps * var_h + (m_host * np.abs(mean_h) * eps) ** 2)

        self.mean_ = np.where(exact, hi_h, mean_h)
        self.var_ = np.where(constant, 0.0, var_h)
        self.scale_ = np.where(constant, 1.0, np.sqrt(var_h))
        self.n_features_in_ = int(self.mean_.shape[0])
        self.n_samples_seen_ = m_host
        return self

    # -- transforming ---------------------------------------------------------------------
    def _statistics_like(self, xp, X):
        """``mean_`` and ``scale_`` on X's device in X's floating dtype (the default one for ints)."""
        dev = _device(X)
        if xp.isdtype(X.dtype, "real floating"):
            dtype = X.dtype
        else:
            dtype = _default_dtypes(xp, dev)["real floating"]
        mean = xp.asarray(np.asarray(self.mean_, dtype=np.float64), dtype=dtype, device=dev)
        scale = xp.asarray(np.asarray(self.scale_, dtype=np.float64), dtype=dtype, device=dev)
        Xf = X if X.dtype == dtype else xp.astype(X, dtype)
        return Xf, mean, scale

    def transform(self, X):
        """Standardise ``X`` with the statistics learnt by :meth:`fit`.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
            NumPy or any backend's array.

        Returns
        -------
        array, shape (n_samples, n_features)
            ``(X - mean_) / scale_``, an array of the same library and device as
            ``X``, in ``X``'s floating dtype (integer input gives the library's
            default floating dtype).

        Raises
        ------
        NotFittedError
            If called before :meth:`fit` (a ``ValueError``).
        ValueError
            If ``X`` is not 2-D, has the wrong number of features, or holds NaN/inf.
        """
        self._check_fitted("transform")
        xp, X = self._validate(X, "transform")
        self._check_finite(xp, X, "transform")
        Xf, mean, scale = self._statistics_like(xp, X)
        return (Xf - mean) / scale

    def fit_transform(self, X):
        """:meth:`fit` on ``X``, then :meth:`transform` it (training data only).

        Parameters
        ----------
        X : array, shape (m, n_features)
            Training inputs.

        Returns
        -------
        array, shape (m, n_features)
            ``(X - mean_) / scale_``.
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Undo :meth:`transform`: ``X * scale_ + mean_``.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
            Standardised data, NumPy or any backend's array.

        Returns
        -------
        array, shape (n_samples, n_features)
            Data on the original scale, same library, device and floating dtype as ``X``.
        """
        self._check_fitted("inverse_transform")
        xp, X = self._validate(X, "inverse_transform")
        self._check_finite(xp, X, "inverse_transform")
        Xf, mean, scale = self._statistics_like(xp, X)
        return Xf * scale + mean


# ---------------------------------------------------------------------------------------
# Labels.


def one_hot(labels, n_classes: int | None = None, *, dtype=None):
    """One-hot encode integer class labels ``0..K-1``.

    Parameters
    ----------
    labels : array, shape (m,)
        Integer labels (or floats holding whole numbers, or booleans); NumPy or
        any backend's array.
    n_classes : int, optional
        ``K``, the number of classes; default ``max(labels) + 1``.
    dtype : dtype or {"float32", "float64"}, optional
        Floating dtype of the result; default the library's default floating
        dtype on the labels' device.

    Returns
    -------
    array, shape (m, K)
        ``Y[i, k] = 1.0 if labels[i] == k else 0.0``, same library and device as
        ``labels``.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, not integer-valued, or a label lies outside
        ``0..K-1``; if ``n_classes`` is not a positive integer.
    """
    labels = _as_array(labels, "labels")
    xp = array_namespace(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D of shape (m,), got shape {tuple(labels.shape)}")
    dev = _device(labels)
    defaults = _default_dtypes(xp, dev)
    if xp.isdtype(labels.dtype, "real floating"):
        # NaN fails the equality, so it is reported as non-integer too.
        if not bool(xp.all(labels == xp.round(labels))):
            raise ValueError("labels must be integers; got non-integer values")
    elif not xp.isdtype(labels.dtype, ("integral", "bool")):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    m = _n_rows(labels)
    if n_classes is None:
        if m == 0:
            raise ValueError("cannot infer n_classes from an empty labels array; pass n_classes")
        n_classes = int(float(xp.max(xp.astype(labels, defaults["real floating"])))) + 1
        n_classes = max(n_classes, 1)
    else:
        if isinstance(n_classes, (bool, np.bool_)):
            raise ValueError(f"n_classes must be a positive integer, got {plain(n_classes)!r}")
        try:
            n_classes = operator.index(n_classes)
        except TypeError:
            raise ValueError(f"n_classes must be a positive integer, got {plain(n_classes)!r}") from None
        if n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes}")
    if m != 0:
        values = xp.astype(labels, defaults["real floating"]) if xp.isdtype(labels.dtype, "bool") else labels
        lo, hi = float(xp.min(values)), float(xp.max(values))
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"label {bad:g} is out of range: with {n_classes} classes, labels must be 0..{n_classes - 1}"
            )
    if dtype is None:
        dtype = defaults["real floating"]
    elif isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {plain(dtype)!r}")
        dtype = getattr(xp, dtype)
    index = xp.astype(labels, defaults["integral"])
    classes = xp.arange(n_classes, dtype=defaults["integral"], device=dev)
    return xp.astype(xp.reshape(index, (-1, 1)) == classes, dtype)


def _host_labels(y, what: str = "y") -> np.ndarray:
    y = _host(y, what)
    if y.ndim != 1:
        hint = " (pass y[:, 0] for a single column)" if y.ndim == 2 and y.shape[1] == 1 else ""
        raise ValueError(f"{what} must be 1-D of shape (m,), got shape {tuple(y.shape)}{hint}")
    return y


def _numeric_kind(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuf"


class LabelEncoder:
    """Map arbitrary class labels to ``0..K-1`` (in sorted order) and back.

    Works on the host: labels may be strings or any sortable NumPy values.  Feed
    the encoded labels to a network (``MLP.fit`` moves them to the device once);
    decode its predictions with :meth:`inverse_transform`.

    Attributes
    ----------
    classes_ : numpy.ndarray, shape (K,)
        The sorted unique labels seen by :meth:`fit`; label ``classes_[k]`` is
        encoded as ``k``.
    """

    def __init__(self) -> None:
        self.classes_: np.ndarray | None = None

    def __repr__(self) -> str:
        state = "unfitted" if self.classes_ is None else f"classes_={self.classes_.tolist()!r}"
        return f"LabelEncoder({state})"

    def _check_fitted(self, method: str) -> np.ndarray:
        if getattr(self, "classes_", None) is None:
            raise NotFittedError(f"this LabelEncoder is not fitted yet: call fit(y) before {method}()")
        return np.asarray(self.classes_)

    def fit(self, y) -> "LabelEncoder":
        """Learn the sorted set of labels.

        Parameters
        ----------
        y : array_like, shape (m,)
            Class labels (numbers or strings), NumPy, a sequence or any backend's array.

        Returns
        -------
        LabelEncoder
            ``self``, fitted.
        """
        y = _host_labels(y)
        if y.shape[0] == 0:
            raise ValueError("fit: y is empty")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("fit: y contains NaN or infinite labels")
        if y.dtype.kind == "c":
            raise ValueError("fit: complex labels are not supported")
        try:
            self.classes_ = np.unique(y)
        except TypeError as exc:
            raise ValueError(f"fit: labels of mixed types cannot be sorted ({exc})") from None
        return self

    def transform(self, y) -> np.ndarray:
        """Encode labels as integers ``0..K-1``.

        Parameters
        ----------
        y : array_like, shape (m,)

        Returns
        -------
        numpy.ndarray of int64, shape (m,)

        Raises
        ------
        ValueError
            Naming the labels that were not seen by :meth:`fit`.
        """
        classes = self._check_fitted("transform")
        y = _host_labels(y)
        if y.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        known = np.zeros(y.shape, dtype=bool)
        index = np.zeros(y.shape, dtype=np.int64)
        if _numeric_kind(classes) == _numeric_kind(y):
            try:
                index = np.searchsorted(classes, y)
                index = np.clip(index, 0, classes.shape[0] - 1)
                known = np.asarray(classes[index] == y, dtype=bool)
            except TypeError:
                known = np.zeros(y.shape, dtype=bool)
        if not np.all(known):
            unknown = list(dict.fromkeys(y[~known].tolist()))
            shown = ", ".join(repr(u) for u in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
            raise ValueError(
                f"transform: unknown label(s) {shown}; the encoder was fitted on {classes.tolist()!r}"
            )
        return np.asarray(index, dtype=np.int64)

    def fit_transform(self, y) -> np.ndarray:
        """:meth:`fit` on ``y``, then :meth:`transform` it.

        Parameters
        ----------
        y : array-like, shape (m,)
            Labels of any sortable kind (ints, strings, ...).

        Returns
        -------
        ndarray of int64, shape (m,)
            Each label's index in ``classes_``.
        """
        return self.fit(y).transform(y)

    def inverse_transform(self, indices) -> np.ndarray:
        """Decode integers ``0..K-1`` back to the original labels.

        Parameters
        ----------
        indices : array_like of int, shape (m,)
            Encoded labels (for example ``net.predict(X)``), NumPy or any backend's array.

        Returns
        -------
        numpy.ndarray, shape (m,)
            ``classes_[indices]``.
        """
        classes = self._check_fitted("inverse_transform")
        idx = _host_labels(indices, "indices")
        if idx.dtype.kind == "f":
            if not (np.all(np.isfinite(idx)) and np.all(idx == np.round(idx))):
                raise ValueError("inverse_transform: indices must be integers")
        elif idx.dtype.kind not in "biu":
            raise ValueError(f"inverse_transform: indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        K = classes.shape[0]
        bad = (idx < 0) | (idx >= K)
        if np.any(bad):
            raise ValueError(
                f"inverse_transform: index {int(idx[np.argmax(bad)])} is out of range 0..{K - 1}"
            )
        return classes[idx]


# ---------------------------------------------------------------------------------------
# Splitting.


def _check_fraction(test_fraction, name: str = "test_fraction") -> float:
    # ``name``: the argument the user gave (test_fraction, or scikit-learn's test_size).
    if isinstance(test_fraction, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {plain(test_fraction)!r}")
    try:
        f = float(test_fraction)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number strictly between 0 and 1, got {plain(test_fraction)!r}"
        ) from None
    if not (0.0 < f < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be strictly between 0 and 1, got {plain(test_fraction)!r}")
    return f


class _Default(float):
    """The default test_fraction, 0.25, told apart from an explicit 0.25 (to refuse two names)."""

    def __repr__(self) -> str:
        return "0.25"


_DEFAULT_FRACTION = _Default(0.25)


def _test_count(test_fraction, test_size, m: int) -> int:
    """How many of the m samples go to the test set, from test_fraction or scikit-learn's test_size."""
    if test_fraction is not _DEFAULT_FRACTION and test_size is not None:
        raise ValueError("give test_fraction or test_size (its scikit-learn name), not both")
    if test_size is not None and not isinstance(test_size, (bool, np.bool_, float, np.floating)):
        try:
            n_test = operator.index(test_size)  # an int: a count of samples, as in scikit-learn
        except TypeError:
            raise ValueError(f"test_size must be a fraction in (0, 1) or a number of samples, "
                             f"got {plain(test_size)!r}") from None
        if not 1 <= n_test < m:
            raise ValueError(f"test_size={n_test} of {m} samples leaves {m - n_test} training samples; "
                             f"it must be between 1 and {m - 1}")
        return n_test
    name = "test_fraction" if test_size is None else "test_size"
    f = _check_fraction(test_fraction if test_size is None else test_size, name)
    # round() first so that e.g. 0.1 * 30 = 3.0000000000000004 gives 3, not 4.
    n_test = int(math.ceil(round(f * m, 9)))
    if n_test < 1 or m - n_test < 1:
        raise ValueError(
            f"{name}={f:g} of {m} samples leaves {n_test} test and {m - n_test} training "
            "samples; both parts need at least one"
        )
    return n_test


def _stratified_indices(y: np.ndarray, n_test: int, m: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(test, train) row indices keeping each class's proportion, by largest remainder."""
    if y.ndim != 1:
        raise ValueError(f"stratify=True needs 1-D class labels y, got shape {tuple(y.shape)}")
    try:
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise ValueError(f"stratify=True: labels of mixed types cannot be sorted ({exc})") from None
    inverse = np.reshape(inverse, (-1,))
    if np.any(counts < 2):
        rare = classes[np.argmin(counts)]
        raise ValueError(
            f"stratify=True: class {plain(rare)!r} has only {int(counts.min())} sample; "
            "every class needs at least 2 to appear in both parts"
        )
    exact = n_test * counts / m
    per_class = np.floor(exact).astype(np.int64)
    short = n_test - int(per_class.sum())
    # Largest remainder; stable sort so ties go to the earlier class.
    order = np.argsort(-(exact - per_class), kind="stable")
    per_class[order[:short]] += 1
    test_parts, train_parts = [], []
    for c, n_c in enumerate(per_class):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test_parts.append(members[:n_c])
        train_parts.append(members[n_c:])
    return rng.permutation(np.concatenate(test_parts)), rng.permutation(np.concatenate(train_parts))


def train_test_split(X, y, test_fraction: float = _DEFAULT_FRACTION, seed=None, stratify: bool = False, *,
                     test_size=None, random_state=None):
    """Split samples at random into a training and a test set.

    Parameters
    ----------
    X : array_like, shape (m, ...)
        Inputs (NumPy, a sequence, a pandas DataFrame or any backend's array; copied to
        the host).
    y : array_like, shape (m,) or (m, k)
        Targets or labels, aligned with the rows of ``X``.
    test_fraction : float, default 0.25
        Fraction of the samples in the test set, strictly between 0 and 1; the
        test set gets ``ceil(test_fraction * m)`` samples (as scikit-learn).
    seed : int, numpy.random.Generator or None
        Seed of the host ``numpy.random.Generator``; the same seed gives the same split.
    stratify : bool, default False
        Keep each class's proportion (of the 1-D labels ``y``) in both parts:
        class ``c`` with ``m_c`` samples gets ``n_test * m_c / m`` test samples,
        rounded by largest remainder so the total is exact.
    test_size : float or int, optional
        scikit-learn's name: a fraction as ``test_fraction``, or (an int) the number
        of test samples.  Give it or ``test_fraction``, not both.
    random_state : int, numpy.random.Generator or None, optional
        scikit-learn's name for ``seed`` (the same split for the same value).

    Returns
    -------
    X_train : numpy.ndarray, shape (m - n_test, ...)
    X_test : numpy.ndarray, shape (n_test, ...)
    y_train : numpy.ndarray, shape (m - n_test, ...)
    y_test : numpy.ndarray, shape (n_test, ...)

    Raises
    ------
    ValueError
        If ``test_fraction``/``test_size`` is not in (0, 1) (or not a count between 1
        and m - 1) or leaves a part empty, if both names of an option are given, if
        ``X`` and ``y`` differ in length, or (stratified) if ``y`` is not 1-D or a
        class has fewer than 2 samples.
    """
    if seed is not None and random_state is not None:
        raise ValueError("give seed or random_state (its scikit-learn name), not both")
    seed = random_state if seed is None else seed
    X = _host(_frame_values(X), "X")
    y = _host(_frame_values(y), "y")
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must be arrays with one row per sample, not scalars")
    m = int(X.shape[0])
    if int(y.shape[0]) != m:
        raise ValueError(f"X has {m} samples but y has {y.shape[0]}; they must have one row per sample")
    n_test = _test_count(test_fraction, test_size, m)
    if not isinstance(stratify, (bool, np.bool_)):
        raise ValueError(f"stratify must be True or False (it stratifies by y), got {plain(stratify)!r}")
    rng = np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(m)
        test_idx, train_idx = order[:n_test], order[n_test:]
    else:
        test_idx, train_idx = _stratified_indices(y, n_test, m, rng)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _frame_values(a):
    """A pandas DataFrame or Series -> its NumPy values (rows in order); anything else unchanged."""
    if (type(a).__module__ or "").startswith("pandas") and hasattr(a, "to_numpy"):
        return a.to_numpy()
    return a
