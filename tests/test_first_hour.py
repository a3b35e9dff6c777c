"""Issue 13, "the first hour": what a newcomer meets bringing their own data to Python.

* a model trained and saved by ``bpnet-xp train`` (which standardises) scores, loaded in
  Python, what ``bpnet-xp evaluate`` prints: the scaler is part of predict/score/loss;
* pandas DataFrames/Series and string labels in fit/predict/score/loss, the column
  names kept and checked, the labels returned in the original classes;
* summary() and the repr say what the network is and whether it is trained;
* ``sigmoid_gradient``; ``train_test_split(test_size=, random_state=)``;
* packaging: LICENSE, CHANGELOG, py.typed, one version.

References are independent: NumPy float64 forward passes over the saved arrays,
scikit-learn's LabelEncoder, central differences, pyproject.toml read with tomllib.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.cli import main
from bpnet_xp.datasets import load_digits
from bpnet_xp.preprocessing import StandardScaler, train_test_split

ROOT = Path(__file__).resolve().parent.parent


def _cli_json(*argv) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(a) for a in argv]) == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _reference_proba(path, X):
    """Sigmoid network outputs from the raw archive in float64, the saved scaler applied by hand."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["metadata"].tobytes().decode("utf-8"))
    A = (np.asarray(X, dtype=np.float64) - arrays["scaler_mean"]) / arrays["scaler_scale"]
    theta, start = arrays["theta"].astype(np.float64), 0
    for n_in, n_out in zip(meta["layer_sizes"][:-1], meta["layer_sizes"][1:]):
        W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        b = theta[start + n_in * n_out:start + n_in * n_out + n_out]
        start += n_in * n_out + n_out
        A = 1.0 / (1.0 + np.exp(-(A @ W + b)))
    return A


# ---------------------------------------------------------------------------------------
# 4. The scaler a model carries is part of predict, predict_proba, score and loss.


def test_cli_digits_model_loaded_in_python_scores_what_evaluate_prints(tmp_path):
    model = tmp_path / "digits.npz"
    trained = _cli_json("train", "--max-iter", 30, "--save", model, "--json", "--quiet")
    evaluated = _cli_json("evaluate", model, "--json", "--quiet")
    X, y = load_digits()
    _, X_test, _, y_test = train_test_split(X, y, test_fraction=0.25, seed=0, stratify=True)
    net = bp.load(model, backend="numpy")
    assert net.scaler is not None
    reference = float(np.mean(_reference_proba(model, X_test).argmax(axis=1) == y_test))
    assert net.score(X_test, y_test) == pytest.approx(evaluated["accuracy"], abs=1e-12)
    assert evaluated["accuracy"] == pytest.approx(reference, abs=1e-12)
    assert trained["test_accuracy"] == pytest.approx(reference, abs=1e-12)
    assert reference > 0.9
    np.testing.assert_allclose(net.predict_proba(X_test), _reference_proba(model, X_test), rtol=1e-5, atol=1e-6)
    # Scaling by hand as well would scale twice: visibly different numbers, so no silent double path.
    assert net.score(net.scaler.transform(X_test), y_test) < reference - 0.05


def test_scaler_applies_in_loss_and_gradient_on_every_backend(backend):
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 5.0, size=(20, 3))
    y = np.arange(20) % 2
    scaler = StandardScaler().fit(X)
    net = bp.MLP([3, 4, 1], backend=backend, dtype="float64" if backend.has_float64 else "float32", seed=0)
    plain = bp.MLP([3, 4, 1], backend="numpy", dtype="float64", seed=0)
    net.scaler = scaler
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)  # the reference standardisation, by hand
    tol = 1e-10 if backend.has_float64 else 1e-5
    assert net.loss(X, y) == pytest.approx(plain.loss(Xs, y), rel=tol)
    _, grad = net.loss_and_grad(X, y)
    np.testing.assert_allclose(backend.to_numpy(grad), np.asarray(plain.loss_and_grad(Xs, y)[1]),
                               rtol=max(tol, 1e-6), atol=tol)
    np.testing.assert_allclose(backend.to_numpy(net.predict_proba(backend.asarray(X))),
                               np.asarray(plain.predict_proba(Xs)), rtol=max(tol, 1e-6), atol=tol)


# ---------------------------------------------------------------------------------------
# 5. pandas and string labels.


@pytest.fixture
def flowers():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    species = np.array(["setosa", "versicolor", "virginica"])[np.arange(90) % 3]
    centre = {"setosa": 0.0, "versicolor": 3.0, "virginica": 6.0}
    offset = np.array([centre[s] for s in species])
    frame = pd.DataFrame({"sepal": rng.normal(size=90) + offset, "petal": rng.normal(size=90) - offset})
    return pd, frame, pd.Series(species, name="species")


def test_dataframe_and_string_labels(flowers):
    from sklearn.preprocessing import LabelEncoder

    pd, X, y = flowers
    net = bp.MLP([2, 6, 3], output="softmax", backend="numpy", dtype="float64", seed=0)
    net.fit(X, y, optimizer="lbfgs", max_iter=100)
    assert net.feature_names_in_ == ["sepal", "petal"]
    assert list(net.classes) == ["setosa", "versicolor", "virginica"]
    predicted = net.predict(X)
    assert predicted.dtype.kind in "UO" and set(predicted) <= set(net.classes)
    # The labels are the classes of the output argmax (scikit-learn's encoder, independently).
    encoder = LabelEncoder().fit(y)
    index = np.asarray(net.predict_proba(X.to_numpy())).argmax(axis=1)
    np.testing.assert_array_equal(predicted, encoder.inverse_transform(index))
    np.testing.assert_array_equal(net.predict(X, encoded=True), index)
    assert net.score(X, y) == pytest.approx(np.mean(predicted == y.to_numpy()))
    assert net.score(X, y) > 0.9
    assert net.loss(X, y) == pytest.approx(net.loss(X.to_numpy(), encoder.transform(y)), rel=1e-12)


def test_dataframe_columns_are_never_reordered(flowers):
    pd, X, y = flowers
    net = bp.MLP([2, 4, 3], output="softmax", backend="numpy", seed=0)
    net.fit(X, y, optimizer="lbfgs", max_iter=5)
    with pytest.raises(ValueError, match="another order"):
        net.predict(X[["petal", "sepal"]])
    with pytest.raises(ValueError, match=r"missing \['petal'\].*unexpected \['width'\]"):
        net.predict(X.rename(columns={"petal": "width"}))
    with pytest.raises(ValueError, match="not numeric"):
        net.predict(X.assign(petal=["x"] * len(X)))
    with pytest.raises(ValueError, match="Series"):
        net.predict(X["sepal"])
    np.testing.assert_array_equal(net.predict(X.to_numpy()), net.predict(X))  # NumPy: by position


def test_string_label_errors(flowers):
    pd, X, y = flowers
    with pytest.raises(ValueError, match="3 distinct labels.*2 classes"):
        bp.MLP([2, 4, 1], backend="numpy", seed=0).fit(X, y, max_iter=2, optimizer="lbfgs")
    with pytest.raises(ValueError, match="no classes"):
        bp.MLP([2, 4, 3], backend="numpy", seed=0).score(X, y)
    net = bp.MLP([2, 4, 3], backend="numpy", seed=0)
    net.fit(X, y, optimizer="lbfgs", max_iter=2)
    with pytest.raises(ValueError, match="unknown label.*'rose'"):
        net.score(X.iloc[:2], pd.Series(["setosa", "rose"]))


def test_string_classes_survive_save_and_load(flowers, tmp_path):
    pd, X, y = flowers
    net = bp.MLP([2, 4, 3], output="softmax", backend="numpy", dtype="float64", seed=0)
    net.fit(X, y, optimizer="lbfgs", max_iter=20)
    net.save(tmp_path / "flowers.npz")
    loaded = bp.load(tmp_path / "flowers.npz", backend="numpy")
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), net.predict(X))
    assert loaded.score(X.to_numpy(), y) == pytest.approx(net.score(X, y))


# ---------------------------------------------------------------------------------------
# 7. summary() and the repr.


def test_summary_and_repr_say_what_and_whether_trained():
    net = bp.MLP([4, 5, 3], activation="tanh", output="softmax", backend="numpy", seed=0)
    assert repr(net).endswith("[untrained]")
    text = str(net.summary())
    assert "untrained" in text
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("hidden") else ""): line
            for line in text.splitlines()[1:]}
    assert "(4, 5)" in rows["hidden 1"] and "tanh" in rows["hidden 1"] and rows["hidden 1"].endswith(" 25")
    assert "(5, 3)" in rows["output"] and "softmax" in rows["output"] and rows["output"].endswith(" 18")
    assert rows["total"].endswith(str(4 * 5 + 5 + 5 * 3 + 3))
    net.fit(np.eye(4), np.arange(4) % 3, optimizer="lbfgs", max_iter=3)
    assert repr(net).endswith("[trained]") and "trained (lbfgs" in str(net.summary())
    assert repr(net.summary()) == str(net.summary())  # a notebook shows the table, not a quoted string


# ---------------------------------------------------------------------------------------
# 11, 12. train_test_split's scikit-learn names; sigmoid_gradient.


def test_train_test_split_takes_test_size_and_random_state():
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    ours = train_test_split(X, y, test_fraction=0.3, seed=4)
    for got, expected in zip(train_test_split(X, y, test_size=0.3, random_state=4), ours):
        np.testing.assert_array_equal(got, expected)
    parts = train_test_split(X, y, test_size=5, random_state=0)
    assert parts[1].shape == (5, 2) and parts[0].shape == (15, 2)
    assert sorted(np.concatenate([parts[2], parts[3]]).tolist()) == list(range(20))
    with pytest.raises(ValueError, match="not both"):
        train_test_split(X, y, 0.3, test_size=0.3)
    with pytest.raises(ValueError, match="not both"):
        train_test_split(X, y, seed=1, random_state=1)
    with pytest.raises(ValueError, match="between 1 and 19"):
        train_test_split(X, y, test_size=20)


def test_sigmoid_gradient_against_central_differences(backend):
    z = np.array([-800.0, -40.0, -3.0, -0.5, 0.0, 0.5, 3.0, 40.0, 800.0])
    dtype = "float64" if backend.has_float64 else "float32"
    got = backend.to_numpy(bp.sigmoid_gradient(backend.asarray(z.astype(dtype))))
    h = 1e-5
    sig = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
    with np.errstate(over="ignore"):
        central = (sig(z + h) - sig(z - h)) / (2 * h)
    assert got[4] == pytest.approx(0.25)
    np.testing.assert_allclose(got[2:7], central[2:7], rtol=1e-6 if dtype == "float64" else 1e-4)
    # Far tails: exp(-|z|) (1 - ...) to full relative precision, not 0 from 1 - g(z) cancelling.
    if dtype == "float64":
        assert got[1] == pytest.approx(math.exp(-40.0), rel=1e-12)
    assert np.all(np.isfinite(got)) and got[0] == 0.0 and got[-1] == 0.0


# ---------------------------------------------------------------------------------------
# 9. Packaging.


def test_license_changelog_typed_marker_and_one_version():
    tomllib = pytest.importorskip("tomllib")
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "WITHOUT WARRANTY" in license_text
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert (ROOT / "bpnet_xp" / "py.typed").exists()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["bpnet_xp"]
    assert project["project"]["license"] == {"text": "MIT"}
    assert bp.__version__ == project["project"]["version"]
    from bpnet_xp import version

    assert version._from_pyproject(ROOT / "pyproject.toml") == project["project"]["version"]
    assert version._from_pyproject(ROOT / "README.md") is None


def test_public_functions_and_classes_have_numpydoc_docstrings():
    missing = []
    for name in bp.__all__:
        obj = getattr(bp, name)
        if callable(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
    for name in ("fit", "predict", "predict_proba", "score", "loss", "loss_and_grad", "preprocess",
                 "encode_labels", "summary"):
        doc = getattr(bp.MLP, name).__doc__ or ""
        if not re.search(r"^\s*(Parameters|Returns)\n\s*-+$", doc, re.M):
            missing.append(f"MLP.{name}")
    assert missing == []
