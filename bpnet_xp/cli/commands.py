"""The ``bpnet-xp`` commands: train, evaluate, predict, gradcheck, backends.

Each command is one function ``(args, console) -> exit status`` made of named
steps: read the data, build (or load) the network, train or score it, save,
report.  What they print is in :mod:`.report`, their options in :mod:`.parser`.
A problem the user can fix raises :class:`CommandError`, which
:func:`bpnet_xp.cli.main` prints as one line (exit status 1).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import MLP, backend_status, check_gradients, get_backend, load
from ..datasets import load_csv, load_digits, load_npz, make_xor
from ..io import read_metadata, save
from .. import metrics
from ..metrics import confusion_counts as confusion_matrix
from ..preprocessing import LabelEncoder, StandardScaler, train_test_split
from ..validation import plain
from . import report
from .parser import DATASETS, LINE_SEARCH_OPTIMIZERS
from .checkpoint import Checkpoint
from .paths import describe_kind, file_kind, refuse_overwriting_inputs, write_path
from .task import choose_task

__all__ = ["CommandError", "COMMANDS", "train", "evaluate", "predict", "gradcheck", "backends"]


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


class FileKindError(CommandError):
    """A file given to the wrong option (a CSV as --npz, a model as --csv); exit status 2,
    as for any other mistake on the command line itself."""


# What each option reads, in words, and what to do with each other kind of file.
# A damaged archive is left to the loader of an archive, which names the damage.
_OPTION_READS = {"--csv": (("text",), "a CSV text file"),
                 "--npz": (("npz", "archive"), "a NumPy .npz archive of data arrays"),
                 "MODEL": (("model", "archive"), "a bpnet_xp model file")}
_KIND_HINT = {"text": "use --csv {path}", "npz": "use --npz {path}",
              "model": "a model is the first argument of evaluate and predict, not data"}


def _check_file_kind(option: str, path) -> None:
    """Refuse, in one line, a file that is not the kind ``option`` reads (a missing or
    unreadable file is left to the loader, which names it)."""
    kind = file_kind(path) if path is not None else None
    expected, words = _OPTION_READS[option]
    if kind is None or kind in expected:
        return
    path = os.fspath(path)
    where = f"the model {path}" if option == "MODEL" else f"{option} {path}"
    hint = _KIND_HINT.get(kind, "").format(path=path)
    if option == "MODEL" and kind in ("text", "npz"):
        hint += " for the data; MODEL is the file 'train --save' wrote"
    raise FileKindError(f"{where} is not {words} (it looks like {describe_kind(kind)})" + (f": {hint}" if hint else ""))


# Defaults that differ between the bundled data sets (None: the generic default applies).
# XOR is the classic 2-10-1 network trained on all four points, unregularised.
_DATASET_DEFAULTS = {
    "digits": {"hidden": [25], "l2": 1.0, "test_fraction": 0.25, "standardize": True},
    "xor": {"hidden": [10], "l2": 0.0, "test_fraction": 0.0, "standardize": False},
    None: {"hidden": [25], "l2": 1.0, "test_fraction": 0.25, "standardize": True},
}


# ---------------------------------------------------------------------------------------
# Data.


def _header_option(value: str):
    return {"auto": None, "yes": True, "no": False}[value]


def _load_source(source: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) host arrays for a data description (what the model file records)."""
    kind = source["source"]
    if kind in ("csv", "npz"):
        _check_file_kind("--" + kind, source["path"])
    if kind == "digits":
        return load_digits()
    if kind == "xor":
        return make_xor()
    if kind == "csv":
        return load_csv(source["path"], target=source.get("target", -1), header=source.get("header"),
                        delimiter=source.get("delimiter", ","))
    if kind == "npz":
        return load_npz(source["path"], x_key=source.get("x_key", "X"), y_key=source.get("y_key", "y"))
    raise CommandError(f"unknown data source {kind!r}")


def _source_from_args(args, *, required: bool) -> dict | None:
    """The data the options name, as the model file records it; digits (or None) when none is named."""
    if args.csv is not None:
        return {"source": "csv", "path": args.csv, "target": args.target,
                "header": _header_option(args.header), "delimiter": args.delimiter}
    if args.npz is not None:
        return {"source": "npz", "path": args.npz, "x_key": args.x_key, "y_key": args.y_key}
    if args.dataset is not None:
        return {"source": args.dataset}
    return {"source": "digits"} if required else None


def _source_name(source: dict) -> str:
    if source["source"] in DATASETS:
        return source["source"]
    return os.path.basename(source["path"])


def _split(X, y, fraction: float, seed: int, classification: bool):
    """The train/test split: stratified for classification when every class has 2+ samples."""
    stratify = False
    if classification and y.ndim == 1:
        _, counts = np.unique(y, return_counts=True)
        stratify = bool(counts.min() >= 2)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=fraction, seed=seed, stratify=stratify)
    return X_train, X_test, y_train, y_test, stratify


def _check_features(net, X, where: str, model: str) -> None:
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
        hint = ""
        if X.ndim == 2 and X.shape[1] == net.n_inputs + 1:
            hint = "; if one column is the label, name it with --target"
        raise CommandError(f"{where} has {got} feature columns but the model {model} takes {net.n_inputs} inputs{hint}")
    _check_representable(where, "the feature value", X, net.dtype,
                         f"the model {model} computes in float32: rescale the data, or train a float64 "
                         "model (train --dtype float64)")


def _check_representable(name: str, what: str, values: np.ndarray, dtype: str, advice: str) -> None:
    """Refuse, naming the value and where it is, data that overflow the network's dtype.

    A float32 network casts the float64 values read from the file: 1e308 would become
    inf and be reported as "NaN or infinite"; here it is named as the overflow it is,
    with its sample and column, before any standardisation changes the number.
    """
    if dtype != "float32" or values.dtype.kind != "f":
        return
    limit = float(np.finfo(np.float32).max)
    too_big = np.abs(values) > limit
    if not np.any(too_big):
        return
    where = np.argwhere(too_big.reshape(values.shape[0], -1))[0]
    value = float(values.reshape(values.shape[0], -1)[tuple(where)])
    column = f", column {int(where[1]) + 1}" if values.ndim == 2 else ""
    raise CommandError(f"{name}: sample {int(where[0]) + 1}{column} holds {what} {value:g}, which overflows "
                       f"float32 (largest {limit:g}); {advice}")


def _check_writable(save_path: str | None, plot: str | None) -> None:
    """Fail before training, not after it, when the outputs cannot be written."""
    if save_path is not None:
        parent = os.path.dirname(os.path.abspath(save_path))
        if os.path.isdir(save_path):
            raise CommandError(f"--save {save_path}: it is a directory; give a file name such as model.npz")
        if not os.path.isdir(parent):
            raise CommandError(f"--save {save_path}: directory {parent!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise CommandError(f"--save {save_path}: directory {parent!r} is not writable")
    if plot is not None:
        _check_plot_directory(plot)


def _check_plot_directory(plot: str) -> None:
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise CommandError("--plot needs matplotlib, which is not installed; install it with: "
                           "pip install 'bpnet_xp[plot]'") from None
    if os.path.exists(plot) and not os.path.isdir(plot):
        raise CommandError(f"--plot {plot}: it exists and is not a directory")
    try:
        os.makedirs(plot, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"--plot {plot}: cannot create the directory ({exc.strerror})") from None
    if not os.access(plot, os.W_OK):
        raise CommandError(f"--plot {plot}: directory is not writable")


# ---------------------------------------------------------------------------------------
# Metrics (host NumPy; the same code for 'train' and 'evaluate', so their numbers agree).


def _predictions(net, X) -> tuple[np.ndarray, np.ndarray]:
    """Host predictions (class indices or targets) and output activations for host inputs X."""
    # net.predict and net.predict_proba apply the model's scaler themselves.
    activations = np.asarray(net.predict_proba(X), dtype=np.float64)
    predicted = np.asarray(net.predict(X, encoded=True))
    return predicted, activations


def _accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(metrics.accuracy(np.asarray(predicted), np.asarray(truth)))


def _r2(predicted: np.ndarray, truth: np.ndarray) -> float:
    """R^2 averaged over the target columns (metrics.r2_score, in float64 on the host)."""
    predicted = np.asarray(predicted, dtype=np.float64).reshape(truth.shape[0], -1)
    truth = np.asarray(truth, dtype=np.float64).reshape(truth.shape[0], -1)
    return float(metrics.r2_score(truth, predicted))


def _encode_labels(net, y, what: str) -> np.ndarray:
    """Original label values -> class indices 0..K-1 with the model's classes."""
    encoder = LabelEncoder()
    encoder.classes_ = np.arange(max(net.n_outputs, 2)) if net.classes is None else np.asarray(net.classes)
    try:
        return encoder.transform(np.asarray(y).reshape(-1))
    except ValueError as exc:
        raise CommandError(f"{what}: {str(exc).removeprefix('transform: ')}") from None


def _finite_or_none(value: float):
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------
# train


@dataclass
class _TrainingData:
    """One 'train' run's data, prepared: labels checked and encoded, split, scaler fitted."""

    name: str
    source: dict
    task: str  # "classification" or "regression"
    task_reason: str  # why: "--task regression", "auto: text labels", ...
    n_samples: int
    n_features: int
    classes: np.ndarray | None  # the original label values (classification)
    X_train: np.ndarray
    X_test: np.ndarray | None  # None: no test split
    targets_train: np.ndarray  # class indices 0..K-1, or float targets
    targets_test: np.ndarray | None
    test_fraction: float
    stratified: bool
    scaler: Any


@dataclass
class _NetworkSettings:
    """The network the options and the data ask for."""

    sizes: list[int]
    output: str | None  # None: the loss's canonical output
    loss: str
    l2: float


@dataclass
class _Scores:
    """Training (and test) predictions and their score: accuracy or R^2."""

    metric: str  # "accuracy" or "r2"
    train: float
    test: float | None
    has_test: bool
    predicted_train: np.ndarray
    predicted_test: np.ndarray | None


def _check_targets(name: str, task: str, y: np.ndarray) -> tuple[LabelEncoder | None, np.ndarray]:
    """The label encoder (classification) and the targets, refused when they cannot serve the task."""
    if task != "classification":
        if y.dtype.kind not in "biuf":
            example = np.asarray(y).reshape(-1)[0]
            raise CommandError(f"{name}: regression targets must be numbers, the target column holds text "
                               f"such as {str(example)!r} (use --task classification)")
        return None, y.astype(np.float64)
    if y.ndim != 1:
        raise CommandError(f"{name}: class labels must be one column, got targets of shape {y.shape}")
    if np.asarray(y).dtype.kind == "f" and not np.all(y == np.round(y)):
        raise CommandError(f"{name}: classification needs integer labels, the targets are fractional "
                           "(use --task regression)")
    encoder = LabelEncoder().fit(y)
    if encoder.classes_.shape[0] < 2:
        raise CommandError(f"{name}: every sample has the label {plain(encoder.classes_[0])!r}; "
                           "classification needs 2+ classes")
    return encoder, y


def _read_training_data(args, source: dict, defaults: dict) -> _TrainingData:
    X, y = _load_source(source)
    name = _source_name(source)
    if y is None:
        raise CommandError(f"{name} has no targets to train on")
    advice = "use --dtype float64, or rescale it"
    _check_representable(name, "the feature value", X, args.dtype, advice)
    choice = choose_task(y, args.task, args.loss, args.output)
    if choice.doubt is not None:
        warnings.warn(f"{name}: {choice.doubt}", UserWarning, stacklevel=2)
    task = choice.task
    encoder, y = _check_targets(name, task, y)
    if encoder is None:
        _check_representable(name, "the target value", y, args.dtype, advice)
    test_fraction = defaults["test_fraction"] if args.test_fraction is None else args.test_fraction
    stratified = False
    if test_fraction > 0:
        X_train, X_test, y_train, y_test, stratified = _split(X, y, test_fraction, args.seed,
                                                               task == "classification")
    else:
        X_train, X_test, y_train, y_test = X, None, y, None
    standardize = defaults["standardize"] if args.standardize is None else args.standardize
    if encoder is not None:
        y_train = encoder.transform(y_train)
        y_test = None if y_test is None else encoder.transform(y_test)
    return _TrainingData(
        name=name, source=source, task=task, task_reason=choice.reason, n_samples=X.shape[0], n_features=X.shape[1],
        classes=None if encoder is None else encoder.classes_, X_train=X_train, X_test=X_test,
        targets_train=y_train, targets_test=y_test, test_fraction=test_fraction, stratified=stratified,
        scaler=StandardScaler().fit(X_train) if standardize else None)


def _hidden_layers(args, default: list[int]) -> list[int]:
    """--hidden, given once or repeated, as one list of sizes."""
    return [n for group in args.hidden for n in group] if args.hidden is not None else default


def _network_settings(args, data: _TrainingData, defaults: dict) -> _NetworkSettings:
    if data.task == "classification":
        count = data.classes.shape[0]
        loss = args.loss or ("softmax_cross_entropy" if args.output == "softmax" else "cross_entropy")
        # Two classes need one sigmoid unit, except for softmax, which needs a unit per class.
        n_outputs = count if (loss == "softmax_cross_entropy" or count > 2) else 1
        output = args.output
    else:
        loss = args.loss or "mse"
        if loss != "mse":
            raise CommandError(f"--loss {loss} is a classification loss but the task is regression")
        targets = data.targets_train
        n_outputs = 1 if targets.ndim == 1 else targets.shape[1]
        output = args.output or "identity"
    sizes = [data.n_features, *_hidden_layers(args, defaults["hidden"]), n_outputs]
    return _NetworkSettings(sizes, output, loss, defaults["l2"] if args.l2 is None else args.l2)


def _build_network(args, data: _TrainingData, settings: _NetworkSettings) -> MLP:
    net = MLP(settings.sizes, activation=args.activation, output=settings.output, loss=settings.loss,
              l2=settings.l2, backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed,
              init=args.init)
    # Saved with the model, so evaluate and predict standardise and decode as training did.
    net.scaler = data.scaler
    net.classes = data.classes
    return net


def _fit_batch_size(value):
    """--batch-size -> fit's batch_size: absent = "auto", "full" = None (the full batch)."""
    return "auto" if value is None else (None if value == "full" else value)


def _validation_options(args) -> dict[str, Any]:
    """--validation-fraction, --early-stopping and --verbose as fit's options."""
    fraction = args.validation_fraction
    if fraction is None and args.early_stopping:
        fraction = 0.1  # early stopping never watches the test split: it would choose by it
    options: dict[str, Any] = {"early_stopping": args.early_stopping, "verbose": args.verbose}
    if fraction:
        options["validation_fraction"] = fraction
    return options


def _fit(args, net: MLP, data: _TrainingData, tracker: Checkpoint | None = None):
    """Train; returns the History and the seconds it took."""
    options: dict[str, Any] = {"max_iter": args.max_iter, "epochs": args.epochs,
                               "batch_size": _fit_batch_size(args.batch_size),
                               "learning_rate": args.learning_rate, "progress": not args.quiet,
                               **_validation_options(args)}
    if tracker is not None:
        options["callbacks"] = [tracker]
    if args.plot is not None and data.X_test is not None and "validation_fraction" not in options:
        # Only monitored, never used to choose anything: the loss curve's second line.
        options["validation_data"] = (data.X_test, data.targets_test)  # net.fit applies net.scaler
    start = time.perf_counter()
    history = net.fit(data.X_train, data.targets_train, optimizer=args.optimizer, **options)
    return history, time.perf_counter() - start


def _score_training(net: MLP, data: _TrainingData) -> _Scores:
    has_test = data.X_test is not None
    predicted_train, _ = _predictions(net, data.X_train)
    predicted_test = _predictions(net, data.X_test)[0] if has_test else None
    metric, score = ("accuracy", _accuracy) if data.task == "classification" else ("r2", _r2)
    return _Scores(metric=metric, train=score(predicted_train, data.targets_train),
                   test=score(predicted_test, data.targets_test) if has_test else None, has_test=has_test,
                   predicted_train=predicted_train, predicted_test=predicted_test)


def _model_record(args, data: _TrainingData, training: dict) -> dict:
    """The metadata a model file keeps so 'evaluate' can re-create the data and the split."""
    recorded_source = dict(data.source)
    if "path" in recorded_source:  # so 'evaluate' finds it from any working directory
        recorded_source["path"] = os.path.abspath(recorded_source["path"])
    return {"data": recorded_source, "task": data.task,
            "split": {"test_fraction": data.test_fraction, "seed": args.seed, "stratify": data.stratified},
            "training": training}


def _tracker(args, data: _TrainingData) -> Checkpoint | None:
    """The callback that keeps the best parameters (for Ctrl-C) and writes --checkpoint files."""
    if args.save is None and args.checkpoint is None:
        return None

    def record(kind: str, epoch: int, loss: float) -> dict:
        return _model_record(args, data, {"optimizer": args.optimizer, "checkpoint": kind, "iterations": epoch,
                                          "stop_reason": "checkpoint", "final_loss": _finite_or_none(loss)})

    return Checkpoint(args.checkpoint, args.checkpoint_every, record)


def _interrupted(args, console, net: MLP, tracker: Checkpoint | None) -> int:
    """Ctrl-C during training: save the best finite parameters so far (with --save) and say so."""
    if tracker is None or args.save is None:
        raise KeyboardInterrupt  # nothing to keep: main says "interrupted"
    if not tracker.restore_best(net):
        console.result("interrupted before the first epoch ended: no model saved")
        return 130
    tracker.write(net)
    record = tracker.record("best", tracker.best_epoch, tracker.best_loss)
    record["training"]["stop_reason"] = "interrupted"
    try:
        save(net, write_path(args.save), metadata=record)
    except OSError as exc:
        raise CommandError(f"cannot save the model to {args.save}: {exc.strerror or exc}") from exc
    unit = "iteration" if args.optimizer in LINE_SEARCH_OPTIMIZERS else "epoch"
    console.result(f"interrupted after {tracker.last_epoch} {unit}s: saved the best parameters so far "
                   f"({unit} {tracker.best_epoch}, loss {tracker.best_loss:.6g}) to {args.save}")
    console.summary({"command": "train", "interrupted": True, "model": args.save,
                     "best_iteration": tracker.best_epoch, "best_loss": tracker.best_loss})
    return 130


def _kept_loss(console, net: MLP, data: _TrainingData, last: float) -> float | None:
    """After a diverged run: the training loss of the parameters the network kept, said as such.

    The last recorded loss is the one that diverged, not the loss of the parameters
    kept (those of the lowest finite loss); printing it as "the" loss would describe
    a model that no longer exists.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a kept point may still overflow; said below
        kept = float(net.loss(data.X_train, data.targets_train))
    if math.isfinite(kept):
        console.info(f"kept:      the parameters of the lowest finite loss; their training loss is {kept:.6g} "
                     f"(the last recorded loss, {last:.6g}, is the one that diverged)")
        return kept
    console.info("kept:      no parameters with a finite training loss")
    return None


def _save_model(args, console, net: MLP, data: _TrainingData, outcome: dict, seconds: float) -> str | None:
    """Save with what 'evaluate' needs to re-create the data and the split; returns the path."""
    if args.save is None:
        return None
    scores = {key: value for key, value in outcome.items() if key.startswith(("train_", "test_"))}
    record = _model_record(args, data, {"optimizer": args.optimizer, "iterations": outcome["iterations"],
                                        "stop_reason": outcome["stop_reason"],
                                        "final_loss": outcome["final_loss"], "seconds": seconds, **scores})
    try:
        save(net, write_path(args.save), metadata=record)
    except OSError as exc:
        raise CommandError(f"cannot save the model to {args.save}: {exc.strerror or exc}") from exc
    report.saved_model(console, args.save)
    return args.save


def _plot_training(args, console, net: MLP, history, data: _TrainingData, scores: _Scores) -> dict:
    """The pictures of the held-out samples (or of the training ones, without a test split)."""
    if args.plot is None:
        return {}
    held_out = data.X_test is not None
    labels = predictions = None
    if data.task == "classification":
        labels = data.targets_test if held_out else data.targets_train
        predictions = scores.predicted_test if held_out else scores.predicted_train
    plots = report.write_plots(args.plot, net, history, data.X_test if held_out else data.X_train, labels,
                               predictions, "test (held out)" if held_out else "validation")
    report.plots_written(console, plots)
    return plots


def train(args, console: report.Console) -> int:
    """``bpnet-xp train``: read the data, build the network, train, score, save, plot, report.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``train`` options.
    console : report.Console
        Where the lines go.

    Returns
    -------
    int
        The exit status: 0, or 1 when training diverged (then no model is saved, so a
        diverged model never replaces a file).
    """
    _check_writable(args.save, args.plot)
    source = _source_from_args(args, required=True)
    refuse_overwriting_inputs("--save", args.save, {"the training data": source.get("path")}, CommandError)
    refuse_overwriting_inputs("--checkpoint", args.checkpoint, {"the training data": source.get("path")},
                              CommandError)
    if args.verbose and args.json:
        raise CommandError("--verbose prints lines on standard output, which --json keeps for its one line")
    defaults = _DATASET_DEFAULTS.get(source["source"], _DATASET_DEFAULTS[None])
    data = _read_training_data(args, source, defaults)
    settings = _network_settings(args, data, defaults)
    net = _build_network(args, data, settings)
    report.training_plan(console, args, data, net, settings)
    tracker = _tracker(args, data)
    try:
        history, seconds = _fit(args, net, data, tracker)
    except KeyboardInterrupt:
        return _interrupted(args, console, net, tracker)
    scores = _score_training(net, data)
    final_loss = history.loss[-1] if history.loss else float("nan")
    diverged = history.stop_reason.startswith("diverged")
    report.training_outcome(console, args, history, seconds, final_loss, scores)
    outcome = {f"train_{scores.metric}": scores.train, f"test_{scores.metric}": scores.test,
               "final_loss": _finite_or_none(final_loss), "iterations": history.n_iter,
               "stop_reason": history.stop_reason, "seconds": round(seconds, 4)}
    if diverged:
        outcome["kept_loss"] = _kept_loss(console, net, data, final_loss)
    if tracker is not None and not diverged and tracker.last_epoch % tracker.every:
        tracker.write(net)  # the end of training is a checkpoint too, whatever --checkpoint-every says
    saved = None if diverged else _save_model(args, console, net, data, outcome, seconds)
    plots = _plot_training(args, console, net, history, data, scores)
    report.training_summary(console, args, data, net, settings.sizes, {**outcome, "diverged": diverged}, saved,
                            plots)
    if diverged:
        report.training_diverged(args.save)
        return 1
    return 0


# ---------------------------------------------------------------------------------------
# evaluate and predict: a saved model, scored or applied


def _load_model(args) -> MLP:
    """The model file named by MODEL, on --backend/--device (a CSV given as MODEL is named as such)."""
    _check_file_kind("MODEL", args.model)
    return load(args.model, backend=args.backend, device=args.device)


def _model_run_record(command: str, args, net: MLP, n_samples: int, **fields) -> dict[str, Any]:
    """The ``--json`` line's fields that 'evaluate' and 'predict' share, then ``fields``."""
    return {"command": command, "model": args.model, **fields, "n_samples": int(n_samples),
            "backend": net.backend.name, "device": str(net.backend.device)}


def _recorded_split(model: str, recorded: dict, split: str, X, y):
    """The training or the test part of (X, y), split as the model file says training split it."""
    split_record = recorded.get("split")
    if not split_record or not split_record.get("test_fraction"):
        raise CommandError(f"{model} was trained without a test split; use --split all")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_fraction=split_record["test_fraction"], seed=split_record["seed"],
        stratify=bool(split_record.get("stratify")))
    return (X_test, y_test) if split == "test" else (X_train, y_train)


def _read_evaluation_data(args, net: MLP, recorded: dict):
    """(name, split, X, y): the data named by the options, or else the data and test split recorded."""
    source = _source_from_args(args, required=False)
    split = args.split
    if source is None:
        source = recorded.get("data")
        if source is None:
            raise CommandError(f"{args.model} does not record its training data; name the data with "
                               "--dataset, --csv or --npz")
        split = split or "test"
    split = split or "all"
    name = _source_name(source)
    X, y = _load_source(source)
    if y is None:
        raise CommandError(f"{name} has no labels/targets to score against")
    _check_features(net, X, name, args.model)
    if split != "all":
        X, y = _recorded_split(args.model, recorded, split, X, y)
    return name, split, X, y


def _score_classifier(args, console, net: MLP, X, y, name: str, predicted, record: dict) -> dict:
    """Accuracy, per-class table and confusion matrix into ``record`` and the text; returns the plots."""
    truth = _encode_labels(net, y, name)
    names = report.class_names(net)
    matrix = confusion_matrix(truth, predicted, len(names))
    accuracy = _accuracy(predicted, truth)
    report.classification_report(console, accuracy, matrix, names, X.shape[0])
    record.update(accuracy=accuracy, confusion_matrix=matrix.tolist(), classes=names)
    if args.plot is None:
        return {}
    return report.write_plots(args.plot, net, None, X, truth, predicted, "validation")


def _score_regressor(console, y, predicted, record: dict) -> None:
    """R^2, mean squared and mean absolute error into ``record`` and the text."""
    truth = np.asarray(y, dtype=np.float64)
    r2 = _r2(predicted, truth)
    residual = predicted.reshape(truth.shape[0], -1) - truth.reshape(truth.shape[0], -1)
    mse, mae = float(np.mean(residual ** 2)), float(np.mean(np.abs(residual)))
    report.regression_report(console, r2, mse, mae)
    record.update(r2=r2, mse=mse, mae=mae)


def evaluate(args, console: report.Console) -> int:
    """``bpnet-xp evaluate``: load the model, read the data, predict, score, report.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``evaluate`` options.
    console : report.Console
        Where the lines go.

    Returns
    -------
    int
        The exit status, 0.
    """
    net = _load_model(args)
    metadata = read_metadata(args.model)
    recorded = metadata.get("user") or {}
    name, split, X, y = _read_evaluation_data(args, net, recorded)
    predicted, _ = _predictions(net, X)
    record = _model_run_record("evaluate", args, net, X.shape[0], data=name, split=split)
    report.evaluation_context(console, args.model, net, metadata, name, split, X.shape[0])
    plots: dict = {}
    if net.is_classifier:
        plots = _score_classifier(args, console, net, X, y, name, predicted, record)
    else:
        _score_regressor(console, y, predicted, record)
    if plots:
        report.plots_written(console, plots)
    record["plots"] = [str(p) for p in plots.values()]
    console.summary(record)
    return 0


# ---------------------------------------------------------------------------------------
# predict


def _read_prediction_inputs(args) -> tuple[np.ndarray, str]:
    """The inputs to predict and the file they came from; a --target column is dropped."""
    if args.csv is not None:
        _check_file_kind("--csv", args.csv)
        X, _ = load_csv(args.csv, target=args.target, header=_header_option(args.header), delimiter=args.delimiter)
        return X, args.csv
    _check_file_kind("--npz", args.npz)
    X, _ = load_npz(args.npz, x_key=args.x_key, y_key=None)
    return X, args.npz


def predict(args, console: report.Console) -> int:
    """``bpnet-xp predict``: load the model, read the inputs, predict, write the CSV, report.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``predict`` options.
    console : report.Console
        Where the lines go.

    Returns
    -------
    int
        The exit status, 0.
    """
    if args.json and args.output == "-":
        raise CommandError("--json needs --output FILE: the predictions would share standard output")
    refuse_overwriting_inputs("--output", args.output, {"the model": args.model, "the input": args.csv or args.npz},
                              CommandError)
    net = _load_model(args)
    X, where = _read_prediction_inputs(args)
    _check_features(net, X, where, args.model)
    predicted, activations = _predictions(net, X)
    columns, rows = report.prediction_table(net, predicted, activations, args.proba)
    report.write_predictions(console, args.output, columns, rows)
    console.summary(_model_run_record("predict", args, net, len(rows), input=where, output=args.output))
    return 0


# ---------------------------------------------------------------------------------------
# gradcheck


def _random_problem(args, net: MLP) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and targets of the shapes the network takes, from the seed after the weights' one."""
    rng = np.random.default_rng(args.seed + 1)
    X = rng.standard_normal((args.samples, args.inputs))
    if net.is_classifier:
        y = np.arange(args.samples) % max(args.outputs, 2)  # every class present, as in the classic check
    elif args.outputs > 1:
        y = rng.standard_normal((args.samples, args.outputs))
    else:
        y = rng.standard_normal(args.samples)
    return X, y


def gradcheck(args, console: report.Console) -> int:
    """``bpnet-xp gradcheck``: build a small network, compare its gradient with finite differences.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``gradcheck`` options.
    console : report.Console
        Where the lines go.

    Returns
    -------
    int
        The exit status: 0 when the largest relative error is within the tolerance, else 1.
    """
    sizes = [args.inputs, *_hidden_layers(args, [5]), args.outputs]
    # Unset output and loss: the network's defaults (sigmoid + cross-entropy, or the canonical pair).
    net = MLP(sizes, activation=args.activation, output=args.output, loss=args.loss, l2=args.l2,
              backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)
    X, y = _random_problem(args, net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the float32 notice; the tolerance below says it
        result = check_gradients(net, X, y)
    tolerance = args.tolerance or (1e-7 if result.dtype == "float64" else 1e-2)
    ok = result.max_relative_error <= tolerance
    report.gradcheck_report(console, net, result, sizes, args, tolerance, ok)
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------
# backends


def backends(args, console: report.Console) -> int:
    """``bpnet-xp backends``: which backends work here, on which device, and why the others do not.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``backends`` options (none are read: --json and --quiet act through ``console``).
    console : report.Console
        Where the lines go.

    Returns
    -------
    int
        The exit status, 0.
    """
    rows, record = [], {}
    for name, reason in backend_status().items():
        device = None
        if reason is None:
            try:
                device = str(get_backend(name).device)
            except Exception as exc:  # a backend that worked a moment ago; report, don't crash
                reason = report.single_line(str(exc))
        rows.append((name, "yes" if reason is None else "no", device or "-", reason or ""))
        record[name] = {"available": reason is None, "device": device, "reason": reason}
    try:
        auto, auto_problem = get_backend("auto"), None
    except Exception as exc:  # "auto" failing is worth a line of the table, not a crash
        auto, auto_problem = None, report.single_line(str(exc))
    report.backend_table(console, rows, record, auto, auto_problem)
    return 0


COMMANDS = {"train": train, "evaluate": evaluate, "predict": predict, "gradcheck": gradcheck, "backends": backends}
