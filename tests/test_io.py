"""Saving and loading models: format, cross-backend round trips, atomic writes, corrupt files.

References are independent of bpnet_xp.io: the original parameters themselves,
the archive read back with plain ``numpy.load`` and ``json``, and a NumPy float64
forward pass written out here.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp import io as bio
from bpnet_xp.preprocessing import StandardScaler

from conftest import make_backend


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_forward(theta: np.ndarray, sizes, X: np.ndarray) -> np.ndarray:
    """Sigmoid network forward pass in NumPy float64, straight from the documented theta layout."""
    A, start = X.astype(np.float64), 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        b = theta[start:start + n_out]
        start += n_out
        A = _sigmoid(A @ W + b)
    return A


def _raw(path):
    """The archive's arrays and metadata, read without bpnet_xp."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("metadata").tobytes().decode("utf-8"))
    return arrays, meta


@pytest.fixture
def small_net():
    """A 4-3-3 sigmoid classifier on NumPy, float64, with classes and a scaler."""
    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 2.0, size=(30, 4))
    net = bp.MLP([4, 3, 3], l2=0.5, backend="numpy", dtype="float64", seed=7)
    net.scaler = StandardScaler().fit(X)
    net.classes = np.array([10, 20, 30])
    return net, X


# ---------------------------------------------------------------------------------------
# The format, read back without bpnet_xp.


def test_file_is_plain_npz_with_json_metadata(tmp_path, small_net):
    net, X = small_net
    path = tmp_path / "model.npz"
    net.save(path)
    arrays, meta = _raw(path)  # would raise if anything needed unpickling
    assert set(arrays) == {"theta", "scaler_mean", "scaler_scale", "classes"}
    np.testing.assert_array_equal(arrays["theta"], net.theta)
    assert arrays["theta"].dtype == np.float64
    np.testing.assert_array_equal(arrays["scaler_mean"], X.mean(axis=0))
    np.testing.assert_array_equal(arrays["classes"], [10, 20, 30])
    assert meta["format"] == "bpnet_xp.MLP" and meta["format_version"] == 1
    assert meta["library_version"] == bp.__version__
    assert meta["layer_sizes"] == [4, 3, 3]
    assert (meta["activation"], meta["output"], meta["loss"]) == ("sigmoid", "sigmoid", "cross_entropy")
    assert meta["l2"] == 0.5 and meta["dtype"] == "float64" and meta["seed"] == 7
    assert meta["backend"] == "numpy" and meta["has_scaler"] is True


def test_save_writes_exactly_the_given_path_with_normal_permissions(tmp_path, small_net):
    net, _ = small_net
    path = tmp_path / "model"  # no .npz suffix: not appended (numpy.savez would append one)
    bio.save(net, path)
    assert sorted(os.listdir(tmp_path)) == ["model"]
    mask = os.umask(0)
    os.umask(mask)
    # A temporary file is created 0600; the model must get the usual 0666 & ~umask instead.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links on this platform")
def test_save_through_a_symbolic_link_writes_its_target_and_keeps_the_link(tmp_path, small_net):
    net = small_net[0]
    real = tmp_path / "models" / "real.npz"
    real.parent.mkdir()
    bp.MLP([3, 4, 2], seed=7).save(real)
    link = tmp_path / "link.npz"
    os.symlink(real, link)
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    # The target holds the new parameters, read back by NumPy itself (not by bp.load).
    with np.load(real, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["theta"], bp.backend.to_numpy(net.theta))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "models"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.npz"]


def test_loaded_network_predicts_like_a_numpy_reference(tmp_path, small_net):
    net, X = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    loaded = bp.load(path, backend="numpy")
    arrays, meta = _raw(path)
    Xs = (X - arrays["scaler_mean"]) / arrays["scaler_scale"]
    expected = reference_forward(arrays["theta"], meta["layer_sizes"], Xs)
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-13, atol=0)  # the scaler is applied inside
    np.testing.assert_array_equal(loaded.classes, [10, 20, 30])


def test_public_api_names():
    # The design's contract: net.save(path); bp.load(path, backend=...).
    import bpnet_xp.model

    assert bp.load is bpnet_xp.model.load
    assert callable(bp.MLP.save)


# ---------------------------------------------------------------------------------------
# Round trips over backends.


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_identical(tmp_path, backend, dtype):
    if dtype == "float64" and not backend.has_float64:
        pytest.skip(f"{backend} has no float64")
    net = bp.MLP([5, 4, 2], activation="tanh", output="softmax", l2=0.25, backend=backend, dtype=dtype, seed=3)
    original = np.array(backend.to_numpy(net.theta), copy=True)
    path = tmp_path / "m.npz"
    net.save(path)
    arrays, meta = _raw(path)
    np.testing.assert_array_equal(arrays["theta"], original)
    assert arrays["theta"].dtype == np.dtype(dtype)
    assert meta["backend"] == backend.name
    # back onto the same backend and device, and onto numpy
    same = bp.load(path, backend=backend)
    assert same.backend.name == backend.name and same.dtype == dtype
    assert same.backend.to_numpy(same.theta).tobytes() == original.tobytes()
    assert (same.activation, same.output, same.loss_name, same.l2) == ("tanh", "softmax", "softmax_cross_entropy", 0.25)
    host = bp.load(path, backend="numpy")
    assert np.asarray(host.theta).tobytes() == original.tobytes()


def test_numpy_model_loads_on_every_backend(tmp_path, backend, small_net):
    net, X = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    if not backend.has_float64:
        pytest.skip(f"{backend} has no float64")
    loaded = bp.load(path, backend=backend)
    assert loaded.backend.to_numpy(loaded.theta).tobytes() == np.asarray(net.theta).tobytes()
    arrays, meta = _raw(path)
    expected = reference_forward(arrays["theta"], meta["layer_sizes"], (X - arrays["scaler_mean"]) / arrays["scaler_scale"])
    # Raw inputs: the loaded model applies its scaler inside predict and predict_proba.
    # predict returns the labels of net.classes ([10, 20, 30]) that output k stands for.
    np.testing.assert_array_equal(loaded.predict(X), np.array([10, 20, 30])[expected.argmax(axis=1)])
    np.testing.assert_array_equal(loaded.predict(X, encoded=True), expected.argmax(axis=1))
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-12, atol=0)


def test_trained_digits_model_predicts_identically_on_strict_and_torch(tmp_path):
    from bpnet_xp.datasets import load_digits

    X, y = load_digits()
    scaler = StandardScaler().fit(X)
    net = bp.MLP([64, 25, 10], l2=1.0, backend="numpy", dtype="float64", seed=0)
    net.scaler, net.classes = scaler, np.arange(10)
    net.fit(X, y, optimizer="lbfgs", max_iter=30)  # fit, predict and predict_proba apply net.scaler
    path = tmp_path / "digits.npz"
    net.save(path)
    Xs = scaler.transform(X)
    expected_labels = np.asarray(net.predict(X))
    arrays, meta = _raw(path)
    reference = reference_forward(arrays["theta"], meta["layer_sizes"], Xs)
    np.testing.assert_array_equal(expected_labels, reference.argmax(axis=1))
    for name in ("array_api_strict", "torch"):
        make_backend(name)  # skips (or fails when required) if unavailable
        other = bp.load(path, backend=name)
        np.testing.assert_array_equal(other.predict(X), expected_labels)
        np.testing.assert_allclose(other.predict_proba(X), reference, rtol=1e-12, atol=1e-300)


def test_load_can_change_dtype(tmp_path, small_net):
    net, _ = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    loaded = bp.load(path, backend="numpy", dtype="float32")
    assert loaded.dtype == "float32"
    np.testing.assert_array_equal(loaded.theta, np.asarray(net.theta).astype(np.float32))


def test_string_classes_and_no_scaler_round_trip(tmp_path):
    net = bp.MLP([2, 3, 1], backend="numpy", dtype="float64", seed=1)
    net.classes = np.array(["cat", "dog"], dtype=object)  # object arrays are stored as strings, not pickled
    path = tmp_path / "m.npz"
    net.save(path)
    arrays, meta = _raw(path)
    assert arrays["classes"].dtype.kind == "U" and meta["has_scaler"] is False
    loaded = bp.load(path, backend="numpy")
    assert loaded.classes.tolist() == ["cat", "dog"] and loaded.scaler is None


def test_user_metadata_round_trips_and_must_be_json(tmp_path, small_net):
    net, _ = small_net
    path = tmp_path / "m.npz"
    bio.save(net, path, metadata={"data": {"source": "digits"}, "note": "hello"})
    assert bio.read_metadata(path)["user"] == {"data": {"source": "digits"}, "note": "hello"}
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        bio.save(net, tmp_path / "other.npz", metadata={"bad": object()})
    assert not (tmp_path / "other.npz").exists()


# ---------------------------------------------------------------------------------------
# Atomic writes.


def _only(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_interrupted_save_leaves_old_file_and_no_temporary(tmp_path, small_net, monkeypatch, error):
    net, _ = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()

    def half_written_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 partial archive")  # some bytes reach the temporary file first
        raise error

    monkeypatch.setattr(np, "savez", half_written_savez)
    net.l2 = 3.0  # the new save would differ from the old file
    with pytest.raises(type(error)):
        net.save(path)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["m.npz"]
    assert bp.load(path, backend="numpy").l2 == 0.5


def test_failed_rename_or_fsync_leaves_old_file(tmp_path, small_net, monkeypatch):
    net, _ = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()
    for target in ("replace", "fsync"):
        with monkeypatch.context() as patch:
            def fail(*args, **kwargs):
                raise OSError(28, "No space left on device")
            patch.setattr(bio.os, target, fail)
            net.l2 = 2.0
            with pytest.raises(OSError, match="No space left"):
                net.save(path)
        assert path.read_bytes() == before
        assert _only(tmp_path) == ["m.npz"]


def test_first_save_that_fails_creates_nothing(tmp_path, small_net, monkeypatch):
    net, _ = small_net
    monkeypatch.setattr(np, "savez", lambda handle, **a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        net.save(tmp_path / "new.npz")
    assert _only(tmp_path) == []


def test_save_into_missing_directory(tmp_path, small_net):
    net, _ = small_net
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.save(tmp_path / "no" / "such" / "m.npz")


# ---------------------------------------------------------------------------------------
# Bad files: one clear error each, naming the file.


@pytest.fixture
def saved(tmp_path, small_net):
    net, _ = small_net
    path = tmp_path / "m.npz"
    net.save(path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        bp.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0, 4, 40, 0.5, -30, -1])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    saved.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"m\.npz.*(truncated|corrupt|empty|not a)") as info:
        bp.load(saved)
    assert "\n" not in str(info.value)


def test_flipped_byte_is_caught_by_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("theta.npy")
    # Local file header: 30 fixed bytes, then the name and the extra field (lengths at 26, 28).
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    assert data[start:start + 6] == b"\x93NUMPY"  # the .npy member begins here
    data[info.file_size + start - 8] ^= 0xFF  # a byte of the last parameter, not the .npy header
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        bp.load(saved)


def test_not_an_npz(tmp_path):
    text = tmp_path / "model.npz"
    text.write_text("layer sizes: 64 25 10\n")
    with pytest.raises(ValueError, match="not a bpnet_xp model file"):
        bp.load(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3.0))
    with pytest.raises(ValueError, match="single .npy array"):
        bp.load(npy)
    with pytest.raises(ValueError, match="directory"):
        bp.load(tmp_path)


def _rewrite(path, drop=(), **replace):
    arrays, meta = _raw(path)
    for key in drop:
        arrays.pop(key, None)
    meta_text = replace.pop("metadata_text", None)
    meta.update(replace)
    text = meta_text if meta_text is not None else json.dumps(meta)
    if "metadata" not in drop:
        arrays["metadata"] = np.frombuffer(text.encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"drop": ["theta"]}, "no 'theta' entry"),
        ({"drop": ["metadata"]}, "no 'metadata' entry"),
        ({"drop": ["scaler_mean"]}, "no 'scaler_mean' entry"),
        ({"drop": ["classes"]}, "no 'classes' entry"),
        ({"metadata_text": "{not json"}, "unreadable metadata"),
        ({"format": "something.else"}, "not a bpnet_xp model file"),
        ({"format_version": 2}, "format version 2.*upgrade bpnet_xp"),
        ({"format_version": "1"}, "malformed format version"),
        ({"layer_sizes": [4, 3, 3, 2]}, "theta.*need"),
        ({"layer_sizes": [4, -3, 3]}, "layer_sizes"),
        ({"activation": "swish"}, "cannot be built.*swish"),
        ({"dtype": "float16"}, "dtype"),
        ({"loss": None}, "'loss'"),
    ],
)
def test_inconsistent_files(saved, change, message):
    _rewrite(saved, **change)
    with pytest.raises(ValueError, match=message) as info:
        bp.load(saved)
    assert "m.npz" in str(info.value)


def test_object_arrays_are_refused_not_unpickled(saved):
    arrays, meta = _raw(saved)
    arrays["classes"] = np.array([1, "two", 3.0], dtype=object)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(saved, "wb") as handle:
        np.savez(handle, **arrays)  # numpy pickles the object array into the archive
    with pytest.raises(ValueError, match="not a readable bpnet_xp model file"):
        bp.load(saved)


def test_saved_object_classes_that_are_not_strings_are_refused(tmp_path, small_net):
    net, _ = small_net
    net.classes = np.array([1, "b", None], dtype=object)
    with pytest.raises(ValueError, match="not strings"):
        net.save(tmp_path / "m.npz")
    assert _only(tmp_path) == []


# ---------------------------------------------------------------------------------------
# DataFrame column names (issue 13): kept in the metadata, checked on the way back.


def test_feature_names_round_trip_with_pandas(tmp_path):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    rng = np.random.default_rng(3)
    columns = ["petal length", "petal width", "sépal", "x" * 40]
    X = pd.DataFrame(rng.normal(size=(24, 4)), columns=columns)
    y = np.arange(24) % 2
    net = bp.MLP([4, 3, 1], backend="numpy", dtype="float64", seed=1)
    net.fit(X, y, optimizer="gd", epochs=2, learning_rate=0.1)
    path = tmp_path / "named.npz"
    net.save(path)
    _, meta = _raw(path)  # read without bpnet_xp: the names are plain JSON strings
    assert meta["feature_names"] == columns
    loaded = bp.load(path)
    assert loaded.feature_names_in_ == columns
    reference = reference_forward(np.asarray(loaded.theta), [4, 3, 1], X.to_numpy())
    np.testing.assert_allclose(loaded.predict_proba(X).reshape(-1), reference.reshape(-1), rtol=1e-12)
    # The loaded names are checked again, as after fit: columns in another order are refused.
    with pytest.raises(ValueError, match="another order"):
        loaded.predict(X[columns[::-1]])


def test_file_without_feature_names_loads_with_none(saved):
    # Files written before issue 13 have no "feature_names" key.
    arrays, meta = _raw(saved)
    del meta["feature_names"]
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(saved, "wb") as handle:
        np.savez(handle, **arrays)
    assert bp.load(saved).feature_names_in_ is None
    assert bp.load(saved).theta.shape == (4 * 3 + 3 + 3 * 3 + 3,)


@pytest.mark.parametrize(
    "names, message",
    [
        (["a", "b", "c"], "feature_names has 3 names but the network has 4 inputs"),
        (["a", "b", "c", "d", "e"], "feature_names has 5 names but the network has 4 inputs"),
        (["a", "b", 3, "d"], r"feature_names\[2\] is 3, not a string"),
        ("abcd", "feature_names must be a list of strings or null"),
        ({"a": 1}, "feature_names must be a list of strings or null"),
        (["a", "b", "c", "y" * 1025], r"feature_names\[3\] has 1025 characters"),
    ],
)
def test_crafted_feature_names_are_refused(saved, names, message):
    _rewrite(saved, feature_names=names)
    with pytest.raises(ValueError, match=message) as info:
        bp.load(saved)
    assert "m.npz" in str(info.value)
    with pytest.raises(ValueError, match=message):
        bio.read_metadata(saved)


def test_save_refuses_feature_names_that_load_would_refuse(tmp_path, small_net):
    net, _ = small_net
    net.feature_names_in_ = ["a", "b"]  # 2 names, 4 inputs
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="load\\(\\) would refuse.*feature_names has 2 names"):
        net.save(path)
    assert not path.exists()
