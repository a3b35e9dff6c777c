"""Issue 12 ("Trust"): no silent wrong answer, no lost file, one clear error per bad input.

One test (or a few) per numbered item of the issue; each failed before the fix.
References are independent: NumPy float64 formulas, hand-built files, finite differences.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp import io as bio
from bpnet_xp.preprocessing import StandardScaler


def _X(m=20, n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((m, n))


def _float64_or_skip(backend):
    if not backend.has_float64:
        pytest.skip(f"{backend.name} on {backend.device} has no float64")


# -- item 1: targets that make the shortcut delta wrong are refused --------------------------

def test_softmax_targets_that_are_not_distributions_are_refused(backend):
    _float64_or_skip(backend)
    net = bp.MLP([3, 4, 3], output="softmax", dtype="float64", backend=backend, seed=0)
    X = _X()
    for bad in (np.ones((20, 3)), np.full((20, 3), 0.2)):
        for call in (lambda: bp.check_gradients(net, X, bad), lambda: net.loss_and_grad(X, bad),
                     lambda: net.fit(X, bad, optimizer="gd", epochs=1)):
            with pytest.raises(ValueError, match="rows that sum to 1"):
                call()


def test_soft_targets_that_are_distributions_give_the_true_gradient(backend):
    _float64_or_skip(backend)
    net = bp.MLP([3, 4, 3], output="softmax", dtype="float64", backend=backend, seed=0)
    Y = np.random.default_rng(1).dirichlet(np.ones(3), size=20)
    # check_gradients compares back-propagation with central finite differences.
    assert bp.check_gradients(net, _X(), Y).max_relative_error < 1e-7


def test_sigmoid_cross_entropy_targets_outside_unit_interval_are_refused(backend):
    net = bp.MLP([3, 4, 2], backend=backend, seed=0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        net.loss_and_grad(_X(), np.full((20, 2), 1.5))


def test_dask_objective_refuses_soft_targets_that_are_not_distributions():
    da = pytest.importorskip("dask.array")
    net = bp.MLP([3, 4, 3], output="softmax", dtype="float64", backend="numpy", seed=0)
    X = da.from_array(_X(), chunks=(10, 3))
    with pytest.raises(ValueError, match="rows that sum to 1"):
        net.loss(X, da.from_array(np.ones((20, 3)), chunks=(10, 3)))


# -- item 3: save() never writes (or replaces a good model with) a file load() refuses ------

@pytest.fixture
def saved(tmp_path):
    net = bp.MLP([3, 4, 2], dtype="float64", backend="numpy", seed=0)
    path = tmp_path / "model.npz"
    net.save(path)
    return net, path, path.read_bytes()


def _break_theta(net):
    theta = np.array(net.theta)
    theta[0] = np.nan
    net.__dict__["_theta"] = theta  # past the setter, which refuses it (tested below)


def _break_scaler(net):
    net.scaler = StandardScaler().fit(_X())
    net.scaler.scale_[1] = 0.0


def _break_classes(net):
    net.classes = np.array([1, 2, 3])  # three labels for a two-class network


@pytest.mark.parametrize("breaks", [_break_theta, _break_scaler, _break_classes])
def test_save_refuses_what_load_refuses_and_keeps_the_good_file(saved, breaks):
    net, path, before = saved
    breaks(net)
    with pytest.raises(ValueError, match="load\\(\\) would refuse"):
        net.save(path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    bp.load(path)


def test_theta_setter_and_init_callable_refuse_non_finite_values():
    net = bp.MLP([3, 4, 2], backend="numpy")
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="theta contains NaN or infinite"):
            net.theta = np.full(net.n_parameters, bad)
    with pytest.raises(ValueError, match="init returned NaN or infinite"):
        bp.MLP([3, 4, 2], init=lambda rng, i, o: (np.full((i, o), np.nan), np.zeros(o)))


# -- item 4 (and 9): crafted files are refused at once, allocating nothing large -------------

def _crafted(path, layer_sizes, theta=np.zeros(11), metadata=None, members=None):
    meta = {"format": "bpnet_xp.MLP", "format_version": 1, "layer_sizes": layer_sizes,
            "activation": "sigmoid", "output": "sigmoid", "loss": "cross_entropy", "l2": 0.0,
            "dtype": "float64", "has_scaler": False}
    text = metadata if metadata is not None else json.dumps(meta)
    buffer = io.BytesIO()
    np.savez(buffer, theta=theta, metadata=np.frombuffer(text.encode(), dtype=np.uint8))
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    if members:
        with zipfile.ZipFile(path, "a") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    return path


def _npy_header(shape, dtype="<f8"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _refused_quickly_and_small(path, match):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=match):
            bp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 100 * 2**20


@pytest.mark.parametrize("sizes", [[15000, 15000], [60000, 60000], [10**9, 10**9, 10**9], [3] * 10000])
def test_metadata_claiming_huge_layers_is_refused_at_once(tmp_path, sizes):
    _refused_quickly_and_small(_crafted(tmp_path / "bomb.npz", sizes), "inconsistent: 'theta'")


def test_header_claiming_a_huge_array_is_refused_at_once(tmp_path):
    # theta's .npy header claims 10**12 floats; the member stores 80 bytes.
    path = tmp_path / "bomb.npz"
    buffer = io.BytesIO()
    meta = json.dumps({"format": "bpnet_xp.MLP", "format_version": 1, "layer_sizes": [10**6, 10**6],
                       "activation": "sigmoid", "output": "sigmoid", "loss": "cross_entropy", "l2": 0.0,
                       "dtype": "float64", "has_scaler": False})
    np.savez(buffer, metadata=np.frombuffer(meta.encode(), dtype=np.uint8))
    path.write_bytes(buffer.getvalue())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("theta.npy", _npy_header((10**12,)) + bytes(80))
    _refused_quickly_and_small(path, "claims shape")


def test_deeply_nested_or_huge_metadata_is_refused(tmp_path):
    _refused_quickly_and_small(_crafted(tmp_path / "deep.npz", [1, 1], metadata="[" * 100_000 + "]" * 100_000),
                               "nested more than")
    big = json.dumps({"format": "bpnet_xp.MLP", "pad": "x" * (2 * 2**20)})
    _refused_quickly_and_small(_crafted(tmp_path / "big.npz", [1, 1], metadata=big), "bytes, more than")
    net = bp.MLP([2, 1], backend="numpy")
    nested: list = []
    for _ in range(100):
        nested = [nested]
    with pytest.raises(ValueError, match="nested"):
        net.save(tmp_path / "m.npz", metadata={"deep": nested})
    assert not os.path.exists(tmp_path / "m.npz")


def test_metadata_member_that_is_not_npy_is_refused(tmp_path):
    net = bp.MLP([2, 1], backend="numpy")
    path = tmp_path / "m.npz"
    buffer = io.BytesIO()
    np.savez(buffer, theta=np.asarray(net.theta, dtype=np.float32))
    path.write_bytes(buffer.getvalue())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("metadata.npy", b"this is not an array")
    with pytest.raises(ValueError, match="'metadata' is not a .npy array"):
        bp.load(path)


def test_theta_length_is_checked_against_the_layer_sizes(tmp_path):
    path = _crafted(tmp_path / "m.npz", [3, 4, 2], theta=np.zeros(25))  # 3*4+4+4*2+2 = 26
    with pytest.raises(ValueError, match=r"'theta' has shape \(25,\).*need \(26,\)"):
        bp.load(path)


# -- item 6: the same checks on Dask, raised at compute ----------------------------------------

@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_dask_predict_with_a_nan_row_raises_at_compute(method):
    da = pytest.importorskip("dask.array")
    net = bp.MLP([3, 4, 2], backend="numpy", seed=0)
    X = _X()
    X[13] = np.nan
    lazy = getattr(net, method)(da.from_array(X, chunks=(5, 3)))
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        lazy.compute()
    X[13] = 1e300  # finite, but not in float32
    with pytest.raises(ValueError, match="overflows float32"):
        getattr(net, method)(da.from_array(X, chunks=(5, 3))).compute()


def test_dask_backend_checks_host_X():
    pytest.importorskip("dask.array")
    net = bp.MLP([3, 2], backend="dask", seed=0)
    X = _X()
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        net.predict(X)


# -- item 8: pickle and deepcopy on every backend ----------------------------------------------

def test_mlp_pickles_and_deep_copies(backend):
    net = bp.MLP([3, 4, 2], backend=backend, seed=0)
    net.classes = np.array(["a", "b"])
    X = _X()
    expected = np.asarray(bp.backend.to_numpy(net.predict_proba(X)))
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert clone.backend.name == backend.name and str(clone.backend.device) == str(backend.device)
        np.testing.assert_array_equal(np.asarray(bp.backend.to_numpy(clone.predict_proba(X))), expected)
        np.testing.assert_array_equal(clone.classes, net.classes)
    clone.fit(X, np.arange(20) % 2, epochs=1)  # trainable, and independent of the original
    np.testing.assert_array_equal(np.asarray(bp.backend.to_numpy(net.predict_proba(X))), expected)


# -- item 9: each bad argument gets a ValueError/TypeError naming it ---------------------------

def test_fit_without_y_names_y(backend):
    with pytest.raises(ValueError, match="y is required"):
        bp.MLP([3, 2], backend=backend).fit(_X(), None)


def test_loss_and_grad_with_a_wrong_theta_names_theta(backend):
    net = bp.MLP([3, 2], backend=backend)
    with pytest.raises(ValueError, match=r"theta must have shape \(8,\), got \(5,\)"):
        net.loss_and_grad(_X(), np.zeros(20, dtype=int), theta=np.zeros(5))
    with pytest.raises(ValueError, match="theta contains NaN"):
        net.loss(_X(), np.zeros(20, dtype=int), theta=np.full(8, np.nan))


@pytest.mark.parametrize("seed, error", [("abc", TypeError), (1.5, TypeError), (True, TypeError),
                                         (-1, ValueError)])
def test_bad_seed_names_seed(seed, error):
    with pytest.raises(error, match="seed must be"):
        bp.MLP([3, 2], seed=seed)


def test_numpy_dtype_objects_are_accepted_and_saved(tmp_path):
    net = bp.MLP([3, 2], dtype=np.dtype("float64"), backend="numpy")
    assert net.dtype == "float64"
    net.save(tmp_path / "m.npz")
    assert bp.load(tmp_path / "m.npz").dtype == "float64"
    with pytest.raises(ValueError, match="dtype must be"):
        bp.MLP([3, 2], dtype=np.dtype("int32"))


def test_huge_layer_sizes_name_layer_sizes():
    with pytest.raises(ValueError, match="layer_sizes .* more than the memory"):
        bp.MLP([10**6, 10**6, 10**6], backend="numpy")


def test_torch_input_that_requires_grad_is_refused_clearly():
    torch = pytest.importorskip("torch")
    net = bp.MLP([3, 2], backend="torch")
    X = torch.ones((4, 3), dtype=torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match=r"X requires grad .* X.detach\(\)"):
        net.predict(X)
    assert net.predict(X.detach()).shape == (4,)


# -- item 10: one-output classifiers take (m, 1) targets in [0, 1] -----------------------------

def test_one_output_classifier_accepts_soft_column_targets(backend):
    _float64_or_skip(backend)
    net = bp.MLP([3, 4, 1], dtype="float64", backend=backend, seed=0)
    X, y = _X(6), np.full((6, 1), 0.3)
    # NumPy float64 reference: mean binary cross-entropy of the sigmoid outputs.
    theta = np.asarray(bp.backend.to_numpy(net.theta))
    W1, b1 = theta[:12].reshape(3, 4), theta[12:16]
    W2, b2 = theta[16:20].reshape(4, 1), theta[20:]
    h = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ W1 + b1)))) @ W2 + b2)))
    expected = -np.mean(y * np.log(h) + (1 - y) * np.log(1 - h))
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.loss(X, np.full((6, 1), 1.3))


# -- item 12: a float32 overflow is called an overflow ----------------------------------------

def test_float32_overflow_is_named(backend):
    net = bp.MLP([3, 2], backend=backend)  # float32
    X = _X()
    X[3, 0] = 1e308
    with pytest.raises(ValueError, match="X has a value of magnitude 1e\\+308 that overflows float32"):
        net.predict(X)
    with pytest.raises(ValueError, match="sample_weight .* overflows float32"):
        net.loss(_X(), np.zeros(20, dtype=int), sample_weight=np.full(20, 1e300))
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        net.predict(X)


def test_messages_do_not_leak_numpy_scalar_reprs(tmp_path):
    with pytest.raises(ValueError) as info:
        bp.MLP([3, 2], seed=np.int64(-3))
    assert "np.int64" not in str(info.value)
    with pytest.raises(ValueError, match=r"got \[3, 0\]") as info:
        bp.MLP([np.int64(3), np.int64(0)])
    assert "np.int64" not in str(info.value)


# -- issue 12 (a): the overflow is named on every path ----------------------------------------

def _overflowing(what):
    """Float64 data with one value (1e308) that a float32 network cannot hold, in X or in y."""
    X = _X()
    y = X @ np.array([1.0, -2.0, 0.5])  # regression targets: a y that is cast to float32
    (X if what == "X" else y)[7, ...] = 1e308
    return X, y


@pytest.mark.parametrize("what", ["X", "y"])
@pytest.mark.parametrize("call", ["fit cg", "fit adam", "loss", "score"])
def test_float32_overflow_is_named_on_dask_arrays(what, call):
    da = pytest.importorskip("dask.array")
    X, y = _overflowing(what)
    net = bp.MLP([3, 1], output="identity", loss="mse", backend="numpy", seed=0)  # float32
    Xd, yd = da.from_array(X, chunks=(5, 3)), da.from_array(y, chunks=5)
    run = {"fit cg": lambda: net.fit(Xd, yd, optimizer="cg", max_iter=3),
           "fit adam": lambda: net.fit(Xd, yd, optimizer="adam", epochs=1, batch_size=5),
           "loss": lambda: net.loss(Xd, yd), "score": lambda: net.score(Xd, yd)}[call]
    with pytest.raises(ValueError, match=f"{what} has a value of magnitude 1e\\+308 that overflows float32 "
                                         r".*dtype='float64'"):
        run()
    # The same data fit a float64 network: the refusal is float32's, not the data's (its loss
    # may overflow, but no ValueError is raised).
    wide = bp.MLP([3, 1], output="identity", loss="mse", backend="numpy", seed=0, dtype="float64")
    with np.errstate(all="ignore"):
        wide.loss(Xd, yd)


def test_float32_overflow_is_named_by_the_dask_backend_and_dask_predict():
    da = pytest.importorskip("dask.array")
    X, y = _overflowing("X")
    on_dask = bp.MLP([3, 1], output="identity", loss="mse", backend="dask", seed=0)
    for run in (lambda: on_dask.fit(X, y, optimizer="cg", max_iter=2), lambda: on_dask.predict(X)):
        with pytest.raises(ValueError, match="X has a value of magnitude 1e\\+308 that overflows float32"):
            run()
    lazy = bp.MLP([3, 1], output="identity", loss="mse", backend="numpy").predict(da.from_array(X, chunks=(5, 3)))
    with pytest.raises(ValueError, match="overflows float32"):
        lazy.compute()  # the lazy check raises at compute


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_sklearn_predict_names_a_float32_overflow(method):
    pytest.importorskip("sklearn")
    from bpnet_xp.sklearn import BPClassifier

    X, y = _X(), np.arange(20) % 2
    model = BPClassifier(dtype="float32", max_iter=3, random_state=0).fit(X, y)
    X[4, 2] = 1e308
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(ValueError, match="X has a value of magnitude 1e\\+308 that overflows float32"):
        getattr(model, method)(*args)


def test_check_cast_names_the_argument_and_the_dtype():
    from bpnet_xp.validation import check_cast

    xp = bp.get_backend("numpy").xp
    values = np.array([[1.0, -3e39]])
    with pytest.raises(ValueError, match=r"sample_weight has a value of magnitude 3e\+39 that overflows float32 "
                                         r"\(largest 3.40282e\+38\)"):
        check_cast(values, xp.float32, "sample_weight")
    check_cast(values, xp.float64, "sample_weight")  # fits float64: nothing raised


# -- issue 12 (d): messages show plain numbers, never NumPy reprs ------------------------------

def _leak_cases():
    i64 = np.int64
    dask_cases = []
    try:
        import dask.array as da
    except ImportError:  # the Dask cases need dask; the others do not
        da = None
    if da is not None:
        from bpnet_xp.dask import DaskObjective, make_dask_classification

        spec = bp.MLP([3, 2], backend="numpy").spec
        dask_cases = [
            pytest.param(lambda: DaskObjective(spec, da.from_array(_X(), chunks=5), np.arange(20) % 2,
                                               split_every=i64(1)), "got 1", id="dask split_every"),
            pytest.param(lambda: make_dask_classification(i64(0)), "got 0", id="dask n_samples"),
        ]
    net = bp.MLP([3, 2], backend="numpy")
    return dask_cases + [
        pytest.param(lambda: bp.MLP([3, 2], seed=i64(-3)), "-3", id="seed"),
        pytest.param(lambda: bp.MLP([i64(3), i64(0)]), "[3, 0]", id="layer sizes"),
        pytest.param(lambda: net.fit(_X(), np.arange(20) % 2, epochs=i64(0)), "got 0", id="epochs"),
        pytest.param(lambda: net.fit(_X(), np.arange(20) % 2, learning_rate=np.float64(-1)), "got -1.0",
                     id="learning_rate"),
        pytest.param(lambda: bp.preprocessing.train_test_split(_X(), np.r_[np.zeros(19, int), [1]],
                                                               test_fraction=0.25, stratify=True),
                     "class 1 ", id="stratify class label"),
    ]


@pytest.mark.parametrize("provoke, shown", _leak_cases())
def test_messages_show_plain_values_not_numpy_reprs(provoke, shown):
    with pytest.raises((ValueError, TypeError)) as info:
        provoke()
    message = str(info.value)
    assert shown in message
    for leak in ("np.", "array(", "tensor("):
        assert leak not in message, message


def test_plain_turns_numpy_values_into_python_ones():
    from bpnet_xp.validation import plain

    assert repr(plain(np.int64(3))) == "3" and repr(plain(np.float64(0.5))) == "0.5"
    assert repr(plain(np.str_("cat"))) == "'cat'" and repr(plain(np.array(2.0))) == "2.0"
    assert repr(plain((np.int64(0), [np.float32(1.5)]))) == "(0, [1.5])"
    assert repr(plain(np.array([1, 2]))) == "[1, 2]"
