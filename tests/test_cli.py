"""The bpnet-xp command: train/evaluate/predict/gradcheck/backends, error paths, progress.

Commands run in-process through ``bpnet_xp.cli.main(argv)``; two tests run the
installed console script and ``python -m bpnet_xp`` in a subprocess.  Scores are
checked against a NumPy float64 forward pass over the arrays of the saved model
file, read with plain ``numpy.load``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bpnet_xp.cli import main
from bpnet_xp.datasets import load_digits
from bpnet_xp.preprocessing import train_test_split

from conftest import make_backend


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``bpnet-xp argv...`` run in-process."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_outputs(model_path, X):
    """Output activations of a saved sigmoid network, computed in NumPy from the raw archive."""
    with np.load(model_path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["metadata"].tobytes().decode("utf-8"))
    assert meta["activation"] == "sigmoid" and meta["output"] == "sigmoid"
    A = X.astype(np.float64)
    if meta["has_scaler"]:
        A = (A - arrays["scaler_mean"]) / arrays["scaler_scale"]
    sizes, theta, start = meta["layer_sizes"], arrays["theta"].astype(np.float64), 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        b = theta[start + n_in * n_out:start + n_in * n_out + n_out]
        start += n_in * n_out + n_out
        A = _sigmoid(A @ W + b)
    return A, arrays.get("classes"), meta


def reference_labels(model_path, X):
    A, classes, _ = reference_outputs(model_path, X)
    index = A.argmax(axis=1) if A.shape[1] > 1 else (A[:, 0] >= 0.5).astype(int)
    return index if classes is None else classes[index]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``bpnet-xp train --save ... --plot ... --json`` with the defaults, run once for the module."""
    directory = tmp_path_factory.mktemp("trained")
    model, plots = directory / "digits.npz", directory / "plots"
    out = io.StringIO()
    from contextlib import redirect_stdout

    try:
        import matplotlib  # noqa: F401

        plot = ["--plot", str(plots)]
    except ImportError:  # matplotlib is an optional extra; test_plot_writes_four_pngs skips
        plot = []
    with redirect_stdout(out):
        status = main(["train", "--save", str(model), *plot, "--json"])
    assert status == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # --json: exactly one line on stdout
    return model, plots, json.loads(lines[0])


def _digits_test_split():
    X, y = load_digits()
    # The documented default split: 25 %, seed 0, stratified by class.
    _, X_test, _, y_test = train_test_split(X, y, test_fraction=0.25, seed=0, stratify=True)
    return X_test, y_test


# ---------------------------------------------------------------------------------------
# train / evaluate / predict.


def test_default_train_prints_train_and_test_accuracy(capsys):
    status, out, err = run(capsys, "train")
    assert status == 0, err
    lines = out.splitlines()
    train_line = [line for line in lines if line.startswith("train accuracy:")]
    test_line = [line for line in lines if line.startswith("test accuracy:")]
    assert len(train_line) == 1 and len(test_line) == 1
    test_accuracy = float(test_line[0].split(":")[1].split("%")[0]) / 100
    assert test_accuracy >= 0.95
    assert "64-25-10" in out and "float64" in out and "cg" in out
    assert err == ""  # not a terminal: no progress bar, and no warnings


def test_train_json_summary_matches_a_numpy_reference(trained):
    model, _, summary = trained
    assert summary["command"] == "train" and summary["backend"] in ("numpy", "cupy")
    assert summary["layer_sizes"] == [64, 25, 10] and summary["dtype"] == "float64"
    assert summary["n_train"] == 1347 and summary["n_test"] == 450
    assert summary["iterations"] <= 100 and summary["seconds"] > 0
    assert summary["model"] == str(model)
    X_test, y_test = _digits_test_split()
    expected = float(np.mean(reference_labels(model, X_test) == y_test))
    assert summary["test_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert summary["test_accuracy"] >= 0.95 and summary["train_accuracy"] >= summary["test_accuracy"]


def test_evaluate_reproduces_the_test_accuracy(trained, capsys):
    model, _, summary = trained
    status, out, err = run(capsys, "evaluate", model, "--json")
    assert status == 0, err
    record = json.loads(out)
    assert record["split"] == "test" and record["n_samples"] == 450
    assert record["accuracy"] == summary["test_accuracy"]
    # The confusion matrix against a hand count from the NumPy reference predictions.
    X_test, y_test = _digits_test_split()
    predicted = reference_labels(model, X_test)
    expected = np.zeros((10, 10), dtype=int)
    for t, p in zip(y_test, predicted):
        expected[t, p] += 1
    np.testing.assert_array_equal(record["confusion_matrix"], expected)

    status, out, _ = run(capsys, "evaluate", model)
    assert status == 0
    assert f"accuracy: {100 * summary['test_accuracy']:.2f} %" in out
    assert "confusion matrix" in out and "precision" in out
    table = out[out.index("true\\pred"):].splitlines()
    assert [int(v) for v in table[1].split()[1:]] == expected[0].tolist()


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
def test_saved_model_evaluates_identically_on_other_backends(trained, capsys, backend, tmp_path):
    make_backend(backend)
    model, _, summary = trained
    status, out, err = run(capsys, "evaluate", model, "--backend", backend, "--json")
    assert status == 0, err
    record = json.loads(out)
    assert record["backend"] == backend
    assert record["accuracy"] == summary["test_accuracy"]
    # and the predict command writes the same labels on this backend as the reference
    X_test, _ = _digits_test_split()
    features = tmp_path / "features.csv"
    np.savetxt(features, X_test, delimiter=",", fmt="%g")
    output = tmp_path / "pred.csv"
    status, _, err = run(capsys, "predict", model, "--csv", features, "--output", output, "--backend", backend)
    assert status == 0, err
    with open(output, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["prediction"]
    np.testing.assert_array_equal([int(r[0]) for r in rows[1:]], reference_labels(model, X_test))


def test_evaluate_named_data_and_splits(trained, capsys):
    model, _, summary = trained
    status, out, _ = run(capsys, "evaluate", model, "--split", "train", "--json")
    assert status == 0 and json.loads(out)["n_samples"] == 1347
    status, out, _ = run(capsys, "evaluate", model, "--dataset", "digits", "--json")
    record = json.loads(out)
    X, y = load_digits()
    assert record["split"] == "all" and record["n_samples"] == 1797
    assert record["accuracy"] == pytest.approx(np.mean(reference_labels(model, X) == y), abs=1e-12)


def test_plot_writes_four_pngs(trained):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    _, plots, summary = trained
    names = sorted(os.path.basename(p) for p in summary["plots"])
    assert names == ["confusion_matrix.png", "digits.png", "hidden_weights.png", "loss.png"]
    for name in names:
        image = imread(plots / name)
        assert image.shape[0] >= 300 and image.shape[1] >= 300
        assert float(image[..., :3].std()) > 0.01


def test_csv_with_arbitrary_labels_train_predict(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    labels = np.where(X[:, 0] - X[:, 1] > 0, 7, -3)  # non-contiguous, negative labels
    data = tmp_path / "data.csv"
    with open(data, "w") as handle:
        handle.write("a,b,label\n")
        for row, label in zip(X, labels):
            handle.write(f"{row[0]:.6f},{row[1]:.6f},{label}\n")
    model = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", "--csv", data, "--target", "label", "--hidden", "4",
                           "--l2", "0", "--save", model, "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["layer_sizes"] == [2, 4, 1] and summary["test_accuracy"] >= 0.9
    # predict the labelled file, ignoring its label column; the output holds original labels
    out_csv = tmp_path / "pred.csv"
    status, _, err = run(capsys, "predict", model, "--csv", data, "--target", "label", "-o", out_csv, "--proba")
    assert status == 0, err
    with open(out_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["prediction", "p_7"]
    X_read = np.array([[float(v) for v in line.split(",")[:2]] for line in data.read_text().splitlines()[1:]])
    A, _, _ = reference_outputs(model, X_read)
    np.testing.assert_array_equal([int(r[0]) for r in rows[1:]], np.where(A[:, 0] >= 0.5, 7, -3))
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], A[:, 0], rtol=1e-12)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_regression_csv(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.05 * rng.normal(size=150)
    data = tmp_path / "reg.csv"
    np.savetxt(data, np.c_[X, y], delimiter=",")
    model = tmp_path / "reg.npz"
    status, out, err = run(capsys, "train", "--csv", data, "--hidden", "none", "--l2", "0", "--save", model, "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["task"] == "regression" and summary["layer_sizes"] == [3, 1]
    # a linear model on linear data: R^2 close to the noise-limited 1 - 0.05^2 / var(y)
    assert summary["test_r2"] > 0.99
    status, out, _ = run(capsys, "evaluate", model, "--json")
    assert json.loads(out)["r2"] == summary["test_r2"]


def test_xor_trains_to_zero_error(capsys):
    status, out, err = run(capsys, "train", "--dataset", "xor", "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["layer_sizes"] == [2, 10, 1] and summary["n_test"] == 0
    assert summary["train_accuracy"] == 1.0 and summary["test_accuracy"] is None


def test_gradcheck_and_backends(capsys):
    status, out, err = run(capsys, "gradcheck", "--json")
    assert status == 0, err
    record = json.loads(out)
    assert record["ok"] and record["max_relative_error"] < 1e-7 and record["checks"] == 38  # 3*5+5 + 5*3+3
    status, out, _ = run(capsys, "gradcheck", "--backend", "array_api_strict", "--device", "device1")
    assert status == 0 and "OK" in out
    status, out, _ = run(capsys, "backends", "--json")
    record = json.loads(out)
    assert record["backends"]["numpy"] == {"available": True, "device": "cpu", "reason": None}
    for name, entry in record["backends"].items():
        assert entry["available"] or entry["reason"]  # every unusable backend says why
    status, out, _ = run(capsys, "backends")
    assert status == 0 and out.splitlines()[0].split() == ["backend", "usable", "device"]


def test_gradcheck_failure_exits_one(capsys, monkeypatch):
    import bpnet_xp.gradcheck as gradcheck

    real = gradcheck.loss_and_grad

    def wrong(spec, theta, X, Y):  # a back-propagation bug: the gradient is off by 1 %
        loss, grad = real(spec, theta, X, Y)
        return loss, grad * 1.01

    monkeypatch.setattr(gradcheck, "loss_and_grad", wrong)
    status, out, _ = run(capsys, "gradcheck")
    assert status == 1 and "FAILED" in out


# ---------------------------------------------------------------------------------------
# Errors: one line on stderr, no traceback, exit 1 (2 for usage errors).


@pytest.fixture
def bad_files(tmp_path, trained):
    model, _, _ = trained
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    (tmp_path / "text.csv").write_text("1,2,0\n3,x,1\n")
    (tmp_path / "three.csv").write_text("1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    data = model.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    np.savez(tmp_path / "data.npz", X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    return tmp_path, model


ERRORS = [
    # (argv, status, words in the message)
    (["evaluate", "{d}/missing.npz"], 1, ["missing.npz", "does not exist"]),
    (["train", "--csv", "{d}/missing.csv"], 1, ["missing.csv"]),
    (["train", "--csv", "{d}/ragged.csv"], 1, ["row 2", "columns"]),
    (["train", "--csv", "{d}/text.csv"], 1, ["row 2", "column 2", "'x'"]),
    (["train", "--backend", "nosuch"], 2, ["--backend", "nosuch"]),
    (["train", "--backend", "torch", "--device", "cuda:7"], 1, ["torch"]),
    (["train", "--backend", "cupy"], 1, ["cupy"]),
    (["evaluate", "{model}", "--csv", "{d}/three.csv"], 1, ["2 feature columns", "64 inputs"]),
    (["predict", "{model}", "--csv", "{d}/three.csv"], 1, ["3 feature columns", "64 inputs"]),
    (["evaluate", "{d}/truncated.npz"], 1, ["truncated.npz", "corrupt or truncated"]),
    (["train", "--save", "{d}/no/such/dir/m.npz"], 1, ["does not exist"]),
    (["train", "--hidden", "abc"], 2, ["--hidden"]),
    (["train", "--test-fraction", "1.5"], 2, ["--test-fraction"]),
    (["frobnicate"], 2, ["invalid choice"]),
    # A file given to the wrong option (issue 12 (c)): named with the option, what it holds, the fix.
    (["train", "--npz", "{d}/three.csv"], 2, ["--npz", "three.csv", "not a NumPy .npz archive", "CSV text",
                                              "use --csv"]),
    (["predict", "{model}", "--npz", "{d}/three.csv"], 2, ["--npz", "CSV text", "use --csv"]),
    (["evaluate", "{d}/three.csv"], 2, ["three.csv", "not a bpnet_xp model file", "CSV text", "--csv"]),
    (["predict", "{d}/three.csv", "--csv", "{d}/three.csv"], 2, ["not a bpnet_xp model file", "CSV text"]),
    (["train", "--csv", "{model}"], 2, ["--csv", "not a CSV text file", "a bpnet_xp model file"]),
    (["evaluate", "{model}", "--csv", "{model}"], 2, ["--csv", "a bpnet_xp model file"]),
    (["evaluate", "{d}/data.npz"], 2, ["data.npz", "not a bpnet_xp model file", "use --npz"]),
    (["train", "--npz", "{model}"], 2, ["--npz", "a bpnet_xp model file", "not data"]),
    ([], 2, ["no command"]),
]


@pytest.mark.parametrize("argv, status, words", ERRORS, ids=[" ".join(e[0][:2]) or "none" for e in ERRORS])
def test_errors_are_one_line(bad_files, capsys, argv, status, words):
    directory, model = bad_files
    if "cupy" in argv:
        try:
            import bpnet_xp as bp

            bp.get_backend("cupy")
            pytest.skip("cupy works here; its absence cannot be tested")
        except bp.BackendUnavailableError:
            pass
    if "cuda:7" in argv:
        import bpnet_xp as bp

        try:
            bp.get_backend("torch", "cuda:7")
            pytest.skip("this machine has 8 CUDA devices")
        except bp.BackendUnavailableError:
            pass
    argv = [a.format(d=directory, model=model) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == status
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bpnet-xp: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]
    if status == 2:
        assert out == ""


def test_plot_without_matplotlib_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    status, out, err = run(capsys, "train", "--dataset", "xor", "--plot", tmp_path / "plots")
    assert status == 1 and out == ""
    assert err.splitlines() == ["bpnet-xp: error: --plot needs matplotlib, which is not installed; "
                                "install it with: pip install 'bpnet_xp[plot]'"]


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(FileNotFoundError):
        main(["evaluate", str(tmp_path / "missing.npz"), "--debug"])
    with pytest.raises(FileNotFoundError):
        main(["--debug", "evaluate", str(tmp_path / "missing.npz")])


def test_failed_save_leaves_the_old_model(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--dataset", "xor", "--save", model)[0] == 0
    before = model.read_bytes()

    def broken(handle, **arrays):
        handle.write(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    status, _, err = run(capsys, "train", "--dataset", "xor", "--l2", "0.5", "--save", model)
    assert status == 1
    assert err.strip() == f"bpnet-xp: error: cannot save the model to {model}: No space left on device"
    assert model.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


# ---------------------------------------------------------------------------------------
# Progress bar.


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_and_not_with_quiet(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["train", "--dataset", "xor", "--max-iter", "5"]) == 0
    assert "0/5" in terminal.getvalue() and "iteration" in terminal.getvalue()  # tqdm's bar over iterations
    assert "data:" in capsys.readouterr().out
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["train", "--dataset", "xor", "--max-iter", "5", "--quiet"]) == 0
    assert quiet.getvalue() == ""
    out = capsys.readouterr().out
    assert out.startswith("train accuracy")  # --quiet: results only


# ---------------------------------------------------------------------------------------
# The real console script and python -m.


def _script():
    found = shutil.which("bpnet-xp", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.skip("the bpnet-xp console script is not installed (pip install -e .)")
    return found


def test_console_script_trains_xor():
    result = subprocess.run([_script(), "train", "--dataset", "xor", "--json"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["train_accuracy"] == 1.0


def test_module_entry_point_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bpnet_xp", "evaluate", str(tmp_path / "missing.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"bpnet-xp: error: model file {str(tmp_path / 'missing.npz')!r} does not exist"]
    assert result.stdout == ""


# -- issue 12 (a): a value that overflows float32 is named, with its place, on every command -------

def _csv_with(path, X, y):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "label"])
        writer.writerows([*(repr(float(v)) for v in row), label] for row, label in zip(X, y))
    return path


def test_float32_overflow_in_a_csv_is_named_by_train_evaluate_and_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    labels = (X[:, 0] > 0).astype(int)
    good = _csv_with(tmp_path / "good.csv", X, labels)
    X[5, 1] = 1e308  # sample 6, feature column 2: finite in float64, inf in float32
    big = _csv_with(tmp_path / "big.csv", X, labels)
    status, _, err = run(capsys, "train", "--csv", big, "--dtype", "float32", "-q")
    assert status == 1 and len(err.strip().splitlines()) == 1
    for words in ("big.csv", "sample 6, column 2", "1e+308", "overflows float32", "--dtype float64"):
        assert words in err, err
    assert run(capsys, "train", "--csv", big, "-q")[0] == 0  # float64 holds it
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--csv", good, "--dtype", "float32", "--save", model, "-q")[0] == 0
    for command in ("evaluate", "predict"):
        status, _, err = run(capsys, command, model, "--csv", big, "--target", "label")
        assert status == 1 and "Traceback" not in err
        assert "sample 6, column 2" in err and "overflows float32" in err and "float64 model" in err, err
    targets = X[:, 0] * 3.0
    targets[9] = -2e300
    X[5, 1] = 0.5
    huge = _csv_with(tmp_path / "targets.csv", X, targets)
    status, _, err = run(capsys, "train", "--csv", huge, "--task", "regression", "--dtype", "float32", "-q")
    assert status == 1 and "sample 10 holds the target value -2e+300, which overflows float32" in err, err


# -- issue 12 (b): a huge whole number in the label column makes --task auto doubtful ---------------

@pytest.mark.parametrize("labels, task", [
    (["0", "1"] * 20 + ["1e30"], "classification"),  # 3 distinct values: classes, by rule 4
    ([str(k) for k in range(30)] * 2 + ["1e30"], "regression"),  # 31 distinct values: regression
])
def test_a_label_beyond_two_to_the_53_is_named_in_the_task_warning(tmp_path, capsys, labels, task):
    rng = np.random.default_rng(1)
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "label"])
        writer.writerows([f"{a:.3f}", f"{b:.3f}", label] for (a, b), label in
                         zip(rng.standard_normal((len(labels), 2)), labels))
    status, out, err = run(capsys, "train", "--csv", path, "--max-iter", "2", "--test-fraction", "0")
    assert status == 0
    assert f"task:      {task} (auto: " in out
    warning = [line for line in err.splitlines() if "warning:" in line and "--task" in line]
    assert len(warning) == 1, err
    assert "1e+30" in warning[0] and "2^53" in warning[0] and f"chose {task}" in warning[0]
