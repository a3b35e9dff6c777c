"""Scores: the classification decision, accuracy, R^2 and confusion counts, in one place.

Every path (in memory, Dask, scikit-learn, the command line) scores through these
functions, so they cannot disagree.  Device arrays in, 0-d device arrays out; the
running-sum forms (:func:`r2_from_sums`) combine chunk results on the host.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from .backend import to_numpy
from .network import NetworkSpec, column, forward

__all__ = [
    "decide",
    "one_hot",
    "accuracy",
    "r2_score",
    "r2_from_sums",
    "regression_sums",
    "network_score",
    "output_score",
    "confusion_counts",
]


def decide(A):
    """The class each row of the output activations stands for.

    Parameters
    ----------
    A : array, shape (m, K)
        Output activations of a classifier (K = 1: one sigmoid unit).

    Returns
    -------
    array of int64, shape (m,)
        ``A[:, 0] >= 0.5`` for one output, ``argmax`` over the K outputs otherwise.
    """
    xp = array_namespace(A)
    if A.shape[1] == 1:
        return xp.astype(A[:, 0] >= 0.5, xp.int64)
    return xp.argmax(A, axis=1)


def one_hot(labels, n_classes: int, dtype):
    """Rows of a one-hot matrix for integer labels.

    Parameters
    ----------
    labels : array of int, shape (m,)
        Values 0..n_classes-1.
    n_classes : int
        K; with K = 1 (one sigmoid output) the labels themselves form the column.
    dtype : floating dtype of the array's library

    Returns
    -------
    array, shape (m, K)
    """
    xp = array_namespace(labels)
    if not xp.isdtype(labels.dtype, "integral"):
        # Integral already (int32 on JAX without x64): no cast, so no truncation warning.
        labels = xp.astype(labels, xp.int64)
    column_of_labels = xp.reshape(labels, (-1, 1))
    if n_classes == 1:
        return xp.astype(column_of_labels, dtype)
    device = getattr(labels, "device", None)
    classes = xp.arange(n_classes, device=device) if device is not None else xp.arange(n_classes)
    return xp.astype(column_of_labels == classes, dtype)


def accuracy(predicted, truth, weight=None, dtype=None):
    """Share of rows whose predicted class equals the true one (weighted with ``weight``).

    Parameters
    ----------
    predicted, truth : array of int, shape (m,)
    weight : array, shape (m,), optional
        Non-negative sample weights: sum_i w_i [hit_i] / sum_i w_i, as scikit-learn's
        ``accuracy_score``.
    dtype : floating dtype, optional
        Of the result (default: the weights' dtype, else float64; pass the network's
        dtype on devices without float64).

    Returns
    -------
    0-d array
    """
    xp = array_namespace(predicted, truth)
    if dtype is None:
        dtype = xp.float64 if weight is None else weight.dtype
    hit = xp.astype(predicted == truth, dtype)
    if weight is None:
        return xp.mean(hit)
    return xp.sum(weight * hit) / xp.sum(weight)


def r2_score(Y, A, weight=None):
    """Coefficient of determination, the uniform average over the outputs.

    A constant target column scores 1 for a perfect prediction and 0 otherwise
    (scikit-learn's rule), instead of 0/0.

    Parameters
    ----------
    Y, A : array, shape (m, K)
        Targets and predictions.
    weight : array, shape (m,), optional
        Sample weights, as scikit-learn's ``r2_score`` weights them (weighted mean).

    Returns
    -------
    0-d array
    """
    xp = array_namespace(Y, A)
    if weight is None:
        ss_res = xp.sum((Y - A) ** 2, axis=0)
        ss_tot = xp.sum((Y - xp.mean(Y, axis=0)) ** 2, axis=0)
    else:
        w = column(weight)
        mean = xp.sum(w * Y, axis=0) / xp.sum(weight)
        ss_res = xp.sum(w * (Y - A) ** 2, axis=0)
        ss_tot = xp.sum(w * (Y - mean) ** 2, axis=0)
    safe = xp.where(ss_tot > 0, ss_tot, xp.ones_like(ss_tot))
    perfect = xp.astype(ss_res == 0, ss_res.dtype)
    return xp.mean(xp.where(ss_tot > 0, 1 - ss_res / safe, perfect))


def regression_sums(Y, A):
    """Per-output running sums [ss_res, sum y, sum y^2] of one block, each shape (K,).

    Parameters
    ----------
    Y, A : array, shape (m, K)
        Targets and predictions of the block.

    Returns
    -------
    ss_res, sum_y, sum_y2 : arrays, shape (K,)
        Summed over the blocks on the host, they give R^2 (:func:`r2_from_sums`).
    """
    xp = array_namespace(Y, A)
    return xp.sum((Y - A) ** 2, axis=0), xp.sum(Y, axis=0), xp.sum(Y * Y, axis=0)


def r2_from_sums(ss_res, sum_y, sum_y2, m: int) -> float:
    """R^2 (uniform average) from sums accumulated over blocks, on the host in float64.

    Parameters
    ----------
    ss_res, sum_y, sum_y2 : numpy arrays, shape (K,)
        Sums over all rows of (y - h)^2, y and y^2 (see :func:`regression_sums`).
    m : int
        Number of rows.

    Returns
    -------
    float
    """
    ss_res, sum_y, sum_y2 = (np.asarray(a, dtype=np.float64) for a in (ss_res, sum_y, sum_y2))
    ss_tot = np.maximum(sum_y2 - sum_y * sum_y / m, 0.0)
    # Cancellation leaves rounding noise where the target is constant: treat that as 0.
    constant = ss_tot <= 64 * np.finfo(np.float64).eps * np.maximum(sum_y2, 1e-300)
    r2 = np.where(constant, (ss_res == 0).astype(np.float64), 1 - ss_res / np.where(constant, 1.0, ss_tot))
    return float(np.mean(r2))


def network_score(spec: NetworkSpec, theta, X, Y, weight=None):
    """Accuracy (classification losses) or R^2 (regression) of the network on (X, Y).

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
        Targets as the loss sees them (one-hot rows or a 0/1 column for classifiers).
    weight : array, shape (m,), optional

    Returns
    -------
    0-d array
    """
    _, A = forward(spec, theta, X)
    return output_score(spec, A, Y, weight)


def output_score(spec: NetworkSpec, A, Y, weight=None):
    """Accuracy (classification losses) or R^2 (regression) of output activations already computed.

    What :func:`network_score` scores after its forward pass; a caller that computes
    the outputs block by block (sparse inputs densified a block at a time) concatenates
    them and scores here.

    Parameters
    ----------
    spec : NetworkSpec
        Says whether the loss is a classification loss.
    A : array, shape (m, n_outputs)
        Output activations.
    Y : array, shape (m, n_outputs)
        Targets as the loss sees them (one-hot rows or a 0/1 column for classifiers).
    weight : array, shape (m,), optional
        Sample weights.

    Returns
    -------
    0-d array
        The score.
    """
    if spec.loss.classification:
        return accuracy(decide(A), decide(Y), weight, A.dtype)
    return r2_score(Y, A, weight)


def _host(values) -> np.ndarray:
    if isinstance(values, (list, tuple, np.ndarray)):
        return np.asarray(values)
    return np.asarray(to_numpy(values))


def confusion_counts(truth, predicted, n_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of rows of true class i predicted as class j, on the host.

    Parameters
    ----------
    truth, predicted : array of int, shape (m,)
        Class indices 0..K-1 (NumPy or any backend: read to the host once).
    n_classes : int, optional
        K; default one more than the largest index seen.

    Returns
    -------
    numpy array of int64, shape (K, K)
    """
    t = _host(truth).astype(np.int64).reshape(-1)
    p = _host(predicted).astype(np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size and (t.min() < 0 or p.min() < 0):
        raise ValueError("class indices must be >= 0")
    k = n_classes if n_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if t.size and (t.max() >= k or p.max() >= k):
        raise ValueError(f"class indices must be < n_classes={k}")
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts
