"""The first hour on the command line: a person's own CSV, its task, its files.

Lost files (an output that is an input, links included; writing through a
symbolic link), string class labels in and out, ``--task``, the progress
options, checkpoints and Ctrl-C.  Commands run in-process through
``bpnet_xp.cli.main``; expected values come from the files written (read back
with plain NumPy/csv) and from hand-made data whose answer is known.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from bpnet_xp.cli import main


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``bpnet-xp argv...`` run in-process."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def blobs(m=60, seed=0):
    """Three well-separated classes in 2-D, named by strings."""
    rng = np.random.default_rng(seed)
    names = np.array(["setosa", "versicolor", "virginica"])
    index = np.arange(m) % 3
    X = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])[index] + 0.5 * rng.standard_normal((m, 2))
    return X, names[index]


@pytest.fixture
def flowers(tmp_path):
    X, labels = blobs()
    rows = [[f"{a:.4f}", f"{b:.4f}", name] for (a, b), name in zip(X, labels)]
    return write_csv(tmp_path / "flowers.csv", ["width", "length", "species"], rows), X, labels


QUICK = ("--max-iter", "20", "--quiet")


# ---------------------------------------------------------------------------------------
# Lost files: an output is never an input; a link is written through.


def test_predict_output_equal_to_the_input_csv_is_refused(capsys, tmp_path, flowers):
    path, X, _ = flowers
    model = tmp_path / "model.npz"
    assert run(capsys, "train", "--csv", path, "--target", "species", "--save", model, *QUICK)[0] == 0
    features = write_csv(tmp_path / "features.csv", ["width", "length"], X.tolist())
    before_features, before_model = features.read_bytes(), model.read_bytes()
    status, _, err = run(capsys, "predict", model, "--csv", features, "--output", features)
    assert status == 1 and "same file as the input" in err
    status, _, err = run(capsys, "predict", model, "--csv", features, "--output", model)
    assert status == 1 and "same file as the model" in err
    # A second name for the same file: a symbolic link and a hard link.
    os.symlink(features, tmp_path / "alias.csv")
    status, _, err = run(capsys, "predict", model, "--csv", features, "--output", tmp_path / "alias.csv")
    assert status == 1 and "same file" in err
    os.link(model, tmp_path / "hard.npz")
    status, _, err = run(capsys, "predict", tmp_path / "hard.npz", "--csv", features, "--output", model)
    assert status == 1 and "same file" in err
    assert features.read_bytes() == before_features and model.read_bytes() == before_model


def test_train_save_equal_to_the_training_csv_is_refused(capsys, tmp_path, flowers):
    path, _, _ = flowers
    before = path.read_bytes()
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--save", path, *QUICK)
    assert status == 1 and "--save" in err and "same file as the training data" in err
    link = tmp_path / "link.npz"
    os.symlink(path, link)
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--save", link, *QUICK)
    assert status == 1 and "same file" in err
    assert path.read_bytes() == before


def test_saving_through_a_symbolic_link_writes_its_target_and_keeps_the_link(capsys, tmp_path, flowers):
    path, X, _ = flowers
    target_dir = tmp_path / "store"
    target_dir.mkdir()
    target, link = target_dir / "model.npz", tmp_path / "current.npz"
    target.write_bytes(b"old")
    os.symlink(target, link)
    assert run(capsys, "train", "--csv", path, "--target", "species", "--save", link, *QUICK)[0] == 0
    assert os.path.islink(link) and os.readlink(link) == str(target)
    with np.load(target, allow_pickle=False) as archive:
        assert "theta" in archive.files
    # predict --output through a link too.
    features = write_csv(tmp_path / "features.csv", None, X.tolist())
    out_target, out_link = target_dir / "predictions.csv", tmp_path / "predictions.csv"
    out_target.write_text("old\n")
    os.symlink(out_target, out_link)
    assert run(capsys, "predict", link, "--csv", features, "--output", out_link)[0] == 0
    assert os.path.islink(out_link)
    assert out_target.read_text().splitlines()[0] == "prediction"


# ---------------------------------------------------------------------------------------
# String class labels: trained, evaluated and predicted with their names.


def test_string_labels_train_evaluate_and_predict_with_the_names(capsys, tmp_path, flowers):
    path, X, labels = flowers
    model = tmp_path / "flowers.npz"
    status, out, err = run(capsys, "train", "--csv", path, "--target", "species", "--save", model,
                           "--max-iter", "50")
    assert status == 0, err
    assert "task:      classification (auto: text labels)" in out
    assert "3 classes" in out and "test accuracy:  100.00 %" in out  # the blobs are 12 sigma apart
    with np.load(model, allow_pickle=False) as archive:
        assert archive["classes"].tolist() == ["setosa", "versicolor", "virginica"]
    status, out, _ = run(capsys, "evaluate", model)
    assert status == 0 and "accuracy: 100.00 %" in out
    assert "versicolor" in out.splitlines()[-2]  # a confusion-matrix row named by its class
    header = out.splitlines()[[i for i, l in enumerate(out.splitlines()) if "true\\pred" in l][0]]
    assert header.split()[1:] == ["setosa", "versicolor", "virginica"]  # names apart, not run together
    features = write_csv(tmp_path / "new.csv", ["width", "length"], X.tolist())
    predictions = tmp_path / "predictions.csv"
    assert run(capsys, "predict", model, "--csv", features, "--output", predictions)[0] == 0
    with open(predictions, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["prediction"] and [r[0] for r in rows[1:]] == labels.tolist()


def test_string_regression_target_is_refused_with_the_remedy(capsys, flowers):
    path, _, _ = flowers
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--task", "regression", *QUICK)
    assert status == 1 and "'setosa'" in err and "--task classification" in err


# ---------------------------------------------------------------------------------------
# --task: the auto rule says what it chose, and warns when the choice is doubtful.


def prices(tmp_path, m=200, seed=1):
    """Whole-number prices, a linear function of three features plus noise, all distinct-ish."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 10.0, (m, 3))
    price = np.round(1000 + 300 * X[:, 0] + 120 * X[:, 1] - 80 * X[:, 2] + 5 * rng.standard_normal(m))
    rows = [[f"{a:.3f}", f"{b:.3f}", f"{c:.3f}", str(int(p))] for (a, b, c), p in zip(X, price)]
    return write_csv(tmp_path / "houses.csv", ["rooms", "age", "distance", "price"], rows), X, price


def test_whole_number_prices_train_as_regression_under_auto(capsys, tmp_path):
    path, X, price = prices(tmp_path)
    distinct = np.unique(price).shape[0]
    assert distinct > 20
    status, out, err = run(capsys, "train", "--csv", path, "--target", "price", "--json", "--max-iter", "60")
    assert status == 0, err
    record = json.loads(out)
    assert record["task"] == "regression" and "test_r2" in record
    # The reference: least squares on the same data explains nearly all of the variance.
    A = np.column_stack([X, np.ones(len(X))])
    residual = price - A @ np.linalg.lstsq(A, price, rcond=None)[0]
    assert 1 - residual.var() / price.var() > 0.99
    assert record["test_r2"] > 0.9
    status, out, _ = run(capsys, "train", "--csv", path, "--target", "price", "--max-iter", "5")
    assert f"task:      regression (auto: {distinct} distinct whole numbers, more than 20)" in out


@pytest.mark.parametrize(
    "labels, task, doubtful",
    [
        (["a", "b"] * 15, "classification", False),
        (["True", "False"] * 15, "classification", False),
        ([0, 1, 2] * 10, "classification", False),
        ([0.0, 1.0, 2.0] * 10, "classification", True),  # whole numbers written as decimals
        (list(range(15)) * 2, "classification", True),  # 15 classes: more than 10
        (list(range(30)), "regression", True),  # 30 distinct whole numbers: could be classes
        ([i * 0.5 for i in range(30)], "regression", False),  # fractional
        (list(range(0, 3000, 10)), "regression", False),  # 300 distinct
    ],
)
def test_auto_task_rule(capsys, tmp_path, labels, task, doubtful):
    rng = np.random.default_rng(0)
    rows = [[f"{v:.3f}", str(label)] for v, label in zip(rng.standard_normal(len(labels)), labels)]
    path = write_csv(tmp_path / "t.csv", ["x", "y"], rows)
    status, out, err = run(capsys, "train", "--csv", path, "--max-iter", "2", "--test-fraction", "0", "--json")
    assert status == 0, err
    assert json.loads(out)["task"] == task
    assert ("warning:" in err and "--task" in err) == doubtful


def test_task_option_overrides_auto(capsys, tmp_path):
    path, _, _ = prices(tmp_path, m=40)
    status, out, _ = run(capsys, "train", "--csv", path, "--task", "classification", "--max-iter", "2",
                         "--test-fraction", "0")
    assert status == 0 and "task:      classification (--task classification)" in out


# ---------------------------------------------------------------------------------------
# Progress: a bar in the default install with validation metrics; --verbose, --validation-fraction,
# --early-stopping, --checkpoint; Ctrl-C keeps the best parameters.


def test_tqdm_is_a_core_dependency():
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("tqdm") for d in dependencies)


def test_progress_bar_shows_validation_metrics(monkeypatch, capsys):
    tqdm = pytest.importorskip("tqdm")  # a core dependency; absent only in a broken install
    import io
    import sys

    import bpnet_xp as bp

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert tqdm is not None
    X, labels = blobs(m=60)
    y = (labels == "setosa").astype(int)
    net = bp.MLP([2, 4, 1], backend="numpy", dtype="float64", seed=0)
    history = net.fit(X, y, optimizer="adam", epochs=3, validation_fraction=0.25, progress=True)
    shown = terminal.getvalue()
    # The bar's last line carries the last epoch's values, as the History recorded them.
    assert "3/3" in shown
    assert f"val_loss={history.val_loss[-1]:.6g}" in shown and f"val_score={history.val_score[-1]:.4f}" in shown
    assert f"loss={history.loss[-1]:.6g}" in shown


def test_verbose_validation_fraction_and_early_stopping(capsys, tmp_path, flowers):
    path, _, _ = flowers
    status, out, err = run(capsys, "train", "--csv", path, "--target", "species", "--optimizer", "adam",
                           "--epochs", "400", "--learning-rate", "0.05", "--early-stopping",
                           "--verbose", "5", "--test-fraction", "0")
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 5/400") and "val_loss" in lines[0] and "val_score" in lines[0]
    # Early stopping watched a validation split of 0.1 (6 of 60 rows) and stopped before 400 epochs.
    assert "early stopping: validation loss" in out
    assert len(lines) < 80
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--verbose", "--json")
    assert status == 1 and "--verbose" in err


def test_checkpoint_writes_last_and_best_atomically(capsys, tmp_path, flowers):
    path, _, _ = flowers
    checkpoint = tmp_path / "run.npz"
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--optimizer", "adam",
                         "--epochs", "12", "--checkpoint", checkpoint, "--checkpoint-every", "4",
                         "--validation-fraction", "0.2", "--quiet")
    assert status == 0, err
    import bpnet_xp as bp

    best = tmp_path / "run.best.npz"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npz") == ["run.best.npz", "run.npz"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    last_meta = bp.io.read_metadata(checkpoint)["user"]["training"]
    best_meta = bp.io.read_metadata(best)["user"]["training"]
    assert last_meta["checkpoint"] == "last" and last_meta["iterations"] == 12
    assert best_meta["checkpoint"] == "best" and 1 <= best_meta["iterations"] <= 12
    assert np.all(np.isfinite(bp.load(best).theta))
    # With validation data the recorded loss is measured at the saved parameters, and says so.
    assert best_meta["loss_measured"] == last_meta["loss_measured"] == "validation loss at these parameters"
    # Without, it is the epoch's training loss, measured before the epoch's last update; and the
    # end of training writes the checkpoint even between two --checkpoint-every (default 10) epochs.
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--optimizer", "gd",
                         "--epochs", "3", "--checkpoint", tmp_path / "gd.npz", "--quiet")
    assert status == 0, err
    assert bp.io.read_metadata(tmp_path / "gd.best.npz")["user"]["training"]["loss_measured"] == (
        "training loss of the epoch, measured during it (before its last update)")
    # A checkpoint is refused over the training data.
    status, _, err = run(capsys, "train", "--csv", path, "--target", "species", "--checkpoint", path, *QUICK)
    assert status == 1 and "same file" in err


def test_ctrl_c_during_train_save_keeps_the_best_parameters(tmp_path, flowers):
    import signal
    import subprocess
    import sys
    import time

    path, X, labels = flowers
    model, checkpoint = tmp_path / "model.npz", tmp_path / "run.npz"
    child = subprocess.Popen(
        [sys.executable, "-m", "bpnet_xp", "train", "--csv", str(path), "--target", "species", "--optimizer",
         "adam", "--learning-rate", "0.01", "--epochs", "1000000", "--checkpoint", str(checkpoint),
         "--checkpoint-every", "1", "--save", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run.best.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "interrupted after" in out and "saved the best parameters so far" in out and str(model) in out
    import bpnet_xp as bp

    meta = bp.io.read_metadata(model)["user"]["training"]
    assert meta["stop_reason"] == "interrupted"
    net = bp.load(model)
    assert np.all(np.isfinite(net.theta))
    # The best epoch's training loss is at most the loss of the initial weights (same seed, same network).
    start = bp.MLP(net.layer_sizes, backend="numpy", dtype="float64", seed=0)
    assert meta["final_loss"] < start.loss(net.scaler.transform(X), np.searchsorted(net.classes, labels))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------
# --plot: which pictures apply (the digit grid and hidden-weight images only for images).


def _record_drawn(monkeypatch):
    """Record the rows that plot_digits draws (the function still draws them)."""
    from bpnet_xp import plotting

    drawn = []
    original = plotting.plot_digits

    def recording(images, *args, **kwargs):
        drawn.append(np.array(images, dtype=np.float64))
        return original(images, *args, **kwargs)

    monkeypatch.setattr(plotting, "plot_digits", recording)
    return drawn


@pytest.mark.parametrize("extra", [[], ["--no-standardize"], ["--test-fraction", "0"]])
def test_plot_on_the_bundled_digits_draws_the_digit_grid_and_hidden_weights(capsys, tmp_path, monkeypatch, extra):
    pytest.importorskip("matplotlib")
    from bpnet_xp.datasets import load_digits

    drawn = _record_drawn(monkeypatch)
    out = tmp_path / "plots"
    status, text, _ = run(capsys, "train", "--max-iter", "3", "--plot", out, *extra)
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "digits.png", "hidden_weights.png",
                                                     "loss.png"]
    assert "digits.png" in text and "hidden_weights.png" in text
    # The grid shows raw digit images (0..16 ink counts of the bundled file), never the
    # standardised inputs the network trained on.
    raw = {row.tobytes() for row in np.asarray(load_digits()[0], dtype=np.float64)}
    [images] = drawn
    assert images.shape[1] == 64 and images.min() >= 0 and images.max() <= 16
    assert all(row.tobytes() in raw for row in images)


@pytest.mark.parametrize("n_features", [4, 64])
def test_plot_on_a_tabular_csv_draws_no_images(capsys, tmp_path, monkeypatch, n_features):
    # 4 columns, and 64 columns (a square count, but not the bundled digits): no image pictures.
    pytest.importorskip("matplotlib")
    drawn = _record_drawn(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, n_features))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = write_csv(tmp_path / "table.csv", [f"x{i}" for i in range(n_features)] + ["label"],
                     np.column_stack([X, y]).tolist())
    out = tmp_path / "plots"
    status, _, _ = run(capsys, "train", "--csv", path, "--target", "label", "--max-iter", "3", "--plot", out)
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "loss.png"]
    assert drawn == []
