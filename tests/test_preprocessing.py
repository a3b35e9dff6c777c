"""Tests of bpnet_xp.preprocessing: scaler, one-hot, label encoder, train/test split.

References are independent of the code under test: per-column statistics with
``math.fsum`` loops, hand-written one-hot tables and encodings, and counts done
by hand in comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpnet_xp.backend import to_numpy
from bpnet_xp.preprocessing import (
    LabelEncoder,
    NotFittedError,
    StandardScaler,
    one_hot,
    train_test_split,
)


def _column_stats(X: np.ndarray):
    """Mean and population std of each column, by exact summation (math.fsum), in float64."""
    means, stds = [], []
    for j in range(X.shape[1]):
        col = [float(v) for v in X[:, j]]
        mean = math.fsum(col) / len(col)
        var = math.fsum((v - mean) ** 2 for v in col) / len(col)
        means.append(mean)
        stds.append(math.sqrt(var))
    return np.array(means), np.array(stds)


def _data(seed=0, m=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[3.0, -1.0, 0.0, 100.0], scale=[1.0, 0.01, 5.0, 20.0], size=(m, 4))
    X[:, 2] = 7.25  # a constant column: zero variance
    return X


# ---------------------------------------------------------------------------------------
# StandardScaler


def test_scaler_statistics_against_exact_sums(backend):
    X = _data()
    scaler = StandardScaler().fit(backend.asarray(X, "float64" if backend.has_float64 else "float32"))
    mean, std = _column_stats(X)
    assert isinstance(scaler.mean_, np.ndarray) and scaler.mean_.dtype == np.float64
    assert isinstance(scaler.scale_, np.ndarray) and scaler.scale_.dtype == np.float64
    assert scaler.n_features_in_ == 4
    np.testing.assert_allclose(scaler.mean_, mean, rtol=1e-12, atol=1e-12)
    # The constant column (index 2) gets scale 1; the others their standard deviation.
    expected_scale = np.where(std == 0.0, 1.0, std)
    assert std[2] == 0.0 and scaler.scale_[2] == 1.0
    np.testing.assert_allclose(scaler.scale_, expected_scale, rtol=1e-10)


def test_scaler_transform_on_the_backend(backend):
    X = _data()
    dtype = "float64" if backend.has_float64 else "float32"
    Xd = backend.asarray(X, dtype)
    scaler = StandardScaler()
    Z = scaler.fit_transform(Xd)
    # Same library and device as the input, same dtype.
    assert backend.is_native(Z) and backend.same_device(Z)
    assert Z.dtype == Xd.dtype
    mean, std = _column_stats(X)
    expected = (X - mean) / np.where(std == 0.0, 1.0, std)
    np.testing.assert_allclose(to_numpy(Z), expected, rtol=1e-10, atol=1e-10)
    # The zero-variance column is exactly 0, not NaN or tiny noise.
    assert np.all(to_numpy(Z)[:, 2] == 0.0)
    # inverse_transform gives the data back.
    np.testing.assert_allclose(to_numpy(scaler.inverse_transform(Z)), X, rtol=1e-12, atol=1e-12)


def test_scaler_float32_input_keeps_float32(backend):
    X = _data().astype(np.float32)
    Xd = backend.asarray(X, "float32")
    Z = StandardScaler().fit(Xd).transform(Xd)
    assert Z.dtype == backend.xp.float32
    mean, std = _column_stats(X.astype(np.float64))
    expected = (X - mean) / np.where(std == 0.0, 1.0, std)
    np.testing.assert_allclose(to_numpy(Z), expected, rtol=1e-4, atol=1e-4)


def test_scaler_uses_training_statistics_for_test_data(backend):
    # Fit on training rows only; the test rows are transformed with the training
    # mean and scale, never their own.
    X_train = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    X_test = np.array([[6.0, 11.0], [-2.0, 10.0]])
    scaler = StandardScaler().fit(backend.asarray(X_train))
    # By hand: column 0 mean 2, population std sqrt((4+0+4)/3) = sqrt(8/3);
    # column 1 constant 10 -> scale 1, so 11 -> 1 and 10 -> 0.
    s = math.sqrt(8.0 / 3.0)
    expected = np.array([[4.0 / s, 1.0], [-4.0 / s, 0.0]])
    Z = scaler.transform(backend.asarray(X_test))
    np.testing.assert_allclose(to_numpy(Z), expected, rtol=1e-12)


def test_scaler_integer_input_gives_floats(backend):
    X = np.array([[1, 2], [3, 2], [5, 2]], dtype=np.int64)
    Z = StandardScaler().fit_transform(backend.asarray(X))
    assert backend.xp.isdtype(Z.dtype, "real floating")
    # Column 0: mean 3, std sqrt(8/3); column 1 constant.
    s = math.sqrt(8.0 / 3.0)
    np.testing.assert_allclose(to_numpy(Z), [[-2 / s, 0.0], [0.0, 0.0], [2 / s, 0.0]], rtol=1e-6)


def test_scaler_on_numpy_and_lists_returns_numpy():
    Z = StandardScaler().fit_transform([[1.0, 0.0], [3.0, 0.0]])
    assert isinstance(Z, np.ndarray)
    # mean (2, 0), std (1, 0 -> 1)
    np.testing.assert_array_equal(Z, [[-1.0, 0.0], [1.0, 0.0]])


def test_scaler_near_constant_column_counts_as_constant():
    # 0.1 summed 1000 times is not exactly 100, so the naive variance is a
    # rounding residue, not 0; the column must still be treated as constant.
    X = np.full((1000, 1), 0.1)
    X = np.concatenate([X, np.arange(1000.0)[:, None]], axis=1)
    scaler = StandardScaler().fit(X)
    assert scaler.scale_[0] == 1.0
    assert np.all(scaler.transform(X)[:, 0] == 0.0)


def test_scaler_errors(backend):
    scaler = StandardScaler()
    X = backend.asarray(_data())
    with pytest.raises(NotFittedError, match="fit"):
        scaler.transform(X)
    with pytest.raises(ValueError, match="fit"):
        scaler.inverse_transform(X)
    with pytest.raises(ValueError, match="2-D"):
        scaler.fit(backend.asarray(np.arange(5.0)))
    with pytest.raises(ValueError, match="2-D"):
        scaler.fit(backend.asarray(np.zeros((2, 2, 2))))
    with pytest.raises(ValueError, match="0 samples"):
        scaler.fit(backend.asarray(np.zeros((0, 3))))
    for bad in (np.nan, np.inf, -np.inf):
        data = _data()
        data[3, 1] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            StandardScaler().fit(backend.asarray(data))
    scaler.fit(X)
    with pytest.raises(ValueError, match="3 features but this StandardScaler was fitted on 4"):
        scaler.transform(backend.asarray(np.zeros((2, 3))))
    data = _data()
    data[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        scaler.transform(backend.asarray(data))


def test_scaler_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        StandardScaler().fit(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="supported backend"):
        StandardScaler().fit({"X": 1})


def test_scaler_restored_from_attributes_only():
    # A scaler rebuilt from saved mean_ and scale_ (as io.load does) must transform.
    scaler = StandardScaler()
    scaler.mean_ = np.array([1.0, 2.0])
    scaler.scale_ = np.array([2.0, 4.0])
    np.testing.assert_array_equal(scaler.transform(np.array([[3.0, 10.0]])), [[1.0, 2.0]])


finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
                  elements=finite_floats))
def test_scaler_round_trip_and_moments(X):
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    assert np.all(np.isfinite(Z))
    # Round trip back to the data, within rounding of the data's magnitude.
    tol = 1e-9 * (1.0 + np.max(np.abs(X)))
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=0, atol=tol)
    # Reference moments by exact summation: standardised columns have mean 0 and
    # std 1, except constant columns, which are all 0.
    _, std = _column_stats(X)
    z_mean, z_std = _column_stats(Z)
    for j in range(X.shape[1]):
        if scaler.scale_[j] == 1.0 and np.ptp(X[:, j]) <= 1e-12 * (1.0 + np.max(np.abs(X[:, j]))):
            assert np.all(np.abs(Z[:, j]) <= 1e-6)
        elif std[j] > 1e-6 * (1.0 + np.max(np.abs(X[:, j]))):
            assert abs(z_mean[j]) <= 1e-8
            assert abs(z_std[j] - 1.0) <= 1e-8


# ---------------------------------------------------------------------------------------
# one_hot


def test_one_hot_hand_written_table(backend):
    labels = backend.asarray(np.array([2, 0, 1, 2, 0], dtype=np.int64))
    Y = one_hot(labels)
    assert backend.is_native(Y) and backend.same_device(Y)
    assert Y.shape == (5, 3)
    assert backend.xp.isdtype(Y.dtype, "real floating")
    expected = [
        [0, 0, 1],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 0, 0],
    ]
    np.testing.assert_array_equal(to_numpy(Y), expected)


def test_one_hot_more_classes_and_dtype(backend):
    labels = backend.asarray(np.array([1, 3], dtype=np.int64))
    Y = one_hot(labels, 5, dtype="float32")
    assert Y.dtype == backend.xp.float32
    np.testing.assert_array_equal(to_numpy(Y), [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])


def test_one_hot_whole_floats_accepted(backend):
    labels = backend.asarray(np.array([1.0, 0.0]), "float32")
    np.testing.assert_array_equal(to_numpy(one_hot(labels, 2)), [[0, 1], [1, 0]])


def test_one_hot_empty_with_n_classes():
    assert one_hot(np.zeros(0, dtype=np.int64), 4).shape == (0, 4)


def test_one_hot_errors(backend):
    be = backend
    with pytest.raises(ValueError, match="out of range"):
        one_hot(be.asarray(np.array([0, 3], dtype=np.int64)), 3)
    with pytest.raises(ValueError, match="out of range"):
        one_hot(be.asarray(np.array([0, -1], dtype=np.int64)), 3)
    with pytest.raises(ValueError, match="out of range"):
        one_hot(be.asarray(np.array([-1, -2], dtype=np.int64)))
    with pytest.raises(ValueError, match="non-integer"):
        one_hot(be.asarray(np.array([0.0, 1.5]), "float32"), 3)
    with pytest.raises(ValueError, match="1-D"):
        one_hot(be.asarray(np.zeros((2, 2), dtype=np.int64)), 3)
    with pytest.raises(ValueError, match="positive integer"):
        one_hot(be.asarray(np.array([0], dtype=np.int64)), 0)
    with pytest.raises(ValueError, match="positive integer"):
        one_hot(be.asarray(np.array([0], dtype=np.int64)), 2.5)
    with pytest.raises(ValueError, match="empty"):
        one_hot(be.asarray(np.zeros(0, dtype=np.int64)))


def test_one_hot_nan_is_not_an_integer():
    with pytest.raises(ValueError, match="non-integer"):
        one_hot(np.array([0.0, np.nan]), 2)


# ---------------------------------------------------------------------------------------
# LabelEncoder


def test_label_encoder_strings():
    enc = LabelEncoder().fit(["cat", "dog", "cat", "bird"])
    # Sorted unique labels: bird < cat < dog.
    assert enc.classes_.tolist() == ["bird", "cat", "dog"]
    codes = enc.transform(["dog", "bird", "cat", "cat"])
    assert codes.dtype == np.int64
    assert codes.tolist() == [2, 0, 1, 1]
    assert enc.inverse_transform(np.array([1, 2, 0])).tolist() == ["cat", "dog", "bird"]


def test_label_encoder_sparse_integers(backend):
    enc = LabelEncoder()
    codes = enc.fit_transform(backend.asarray(np.array([10, -3, 10, 7], dtype=np.int64)))
    # classes -3, 7, 10 -> codes 0, 1, 2
    assert enc.classes_.tolist() == [-3, 7, 10]
    assert codes.tolist() == [2, 0, 2, 1]
    decoded = enc.inverse_transform(backend.asarray(np.array([0, 2], dtype=np.int64)))
    assert decoded.tolist() == [-3, 10]


def test_label_encoder_errors():
    enc = LabelEncoder()
    with pytest.raises(NotFittedError, match="fit"):
        enc.transform([1])
    enc.fit(["cat", "dog"])
    with pytest.raises(ValueError, match="'fish'"):
        enc.transform(["cat", "fish", "fish"])
    with pytest.raises(ValueError, match="unknown label"):
        enc.transform([1, 2])
    with pytest.raises(ValueError, match="out of range"):
        enc.inverse_transform([0, 2])
    with pytest.raises(ValueError, match="integers"):
        enc.inverse_transform([0.5])
    with pytest.raises(ValueError, match="1-D"):
        enc.fit(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="empty"):
        enc.fit([])
    with pytest.raises(ValueError, match="NaN"):
        enc.fit([0.0, np.nan])
    num = LabelEncoder().fit([0, 1, 2])
    with pytest.raises(ValueError, match="1.5"):
        num.transform([1.5])
    assert num.transform([2.0, 0.0]).tolist() == [2, 0]


# ---------------------------------------------------------------------------------------
# train_test_split


def _ids(m, width=2):
    """X whose first column is the sample's id, y the same id: makes alignment checkable."""
    X = np.stack([np.arange(m, dtype=np.float64)] + [np.arange(m) * 10.0] * (width - 1), axis=1)
    return X, np.arange(m)


def test_split_sizes_disjoint_and_aligned():
    X, y = _ids(100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_fraction=0.25, seed=0)
    # ceil(0.25 * 100) = 25 test samples, 75 training samples.
    assert X_te.shape == (25, 2) and X_tr.shape == (75, 2)
    assert y_te.shape == (25,) and y_tr.shape == (75,)
    assert set(y_tr.tolist()).isdisjoint(y_te.tolist())
    assert sorted(y_tr.tolist() + y_te.tolist()) == list(range(100))
    np.testing.assert_array_equal(X_tr[:, 0], y_tr)
    np.testing.assert_array_equal(X_te[:, 0], y_te)
    np.testing.assert_array_equal(X_te[:, 1], 10.0 * y_te)


def test_split_rounding():
    X, y = _ids(30)
    # 0.1 * 30 = 3.0000000000000004 in floating point; the test set still gets 3.
    assert train_test_split(X, y, 0.1, seed=0)[1].shape[0] == 3
    X, y = _ids(7)
    # ceil(0.5 * 7) = 4
    assert train_test_split(X, y, 0.5, seed=0)[1].shape[0] == 4


def test_split_deterministic_by_seed():
    X, y = _ids(50)
    a = train_test_split(X, y, seed=123)
    b = train_test_split(X, y, seed=123)
    c = train_test_split(X, y, seed=124)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    g = train_test_split(X, y, seed=np.random.default_rng(123))
    np.testing.assert_array_equal(g[3], a[3])


def test_split_accepts_backend_arrays(backend):
    X, y = _ids(20)
    X_tr, X_te, y_tr, y_te = train_test_split(backend.asarray(X), backend.asarray(y), 0.25, seed=1)
    assert all(isinstance(a, np.ndarray) for a in (X_tr, X_te, y_tr, y_te))
    np.testing.assert_array_equal(X_te[:, 0], y_te)
    assert y_te.shape == (5,)


def test_split_stratified_keeps_proportions():
    # 50 / 30 / 20 samples of classes 0 / 1 / 2, test fraction 0.25 -> 25 test samples,
    # ideally 12.5 / 7.5 / 5 of each; each count is within 1 of that.
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100.0)[:, None]
    for seed in range(5):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, 0.25, seed=seed, stratify=True)
        assert y_te.shape == (25,)
        counts = np.bincount(y_te, minlength=3)
        assert np.all(np.abs(counts - np.array([12.5, 7.5, 5.0])) < 1)
        assert counts[2] == 5  # exact when the ideal count is whole
        np.testing.assert_array_equal(np.bincount(y_tr, minlength=3) + counts, [50, 30, 20])
        np.testing.assert_array_equal(y[X_te[:, 0].astype(int)], y_te)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(2, 30), min_size=1, max_size=6), st.floats(0.05, 0.95),
       st.integers(0, 2**32 - 1))
def test_split_stratified_property(counts, fraction, seed):
    y = np.repeat(np.arange(len(counts)) * 3 - 1, counts)  # labels -1, 2, 5, ...
    m = y.shape[0]
    n_test = math.ceil(round(fraction * m, 9))
    X = np.arange(m)[:, None]
    if n_test >= m:
        with pytest.raises(ValueError):
            train_test_split(X, y, fraction, seed=seed, stratify=True)
        return
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, fraction, seed=seed, stratify=True)
    assert y_te.shape[0] == n_test and y_tr.shape[0] == m - n_test
    assert set(X_tr[:, 0].tolist()).isdisjoint(X_te[:, 0].tolist())
    for k, label in enumerate(np.arange(len(counts)) * 3 - 1):
        in_test = int(np.sum(y_te == label))
        assert abs(in_test - n_test * counts[k] / m) < 1


def test_split_errors():
    X, y = _ids(10)
    for bad in (0, 1, 0.0, 1.0, -0.1, 1.5, float("nan"), True, "a", None):
        with pytest.raises(ValueError, match="test_fraction"):
            train_test_split(X, y, bad)
    with pytest.raises(ValueError, match="10 samples but y has 9"):
        train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="both parts"):
        train_test_split(X[:3], y[:3], 0.99)  # ceil(2.97) = 3 test, 0 training
    with pytest.raises(ValueError, match="both parts"):
        train_test_split(X[:1], y[:1], 0.5)
    with pytest.raises(ValueError, match="only 1 sample"):
        train_test_split(X, np.array([0] * 9 + [1]), 0.3, stratify=True)
    with pytest.raises(ValueError, match="1-D"):
        train_test_split(X, np.zeros((10, 2)), 0.3, stratify=True)
    with pytest.raises(ValueError, match="stratify"):
        train_test_split(X, y, 0.3, stratify="yes")
