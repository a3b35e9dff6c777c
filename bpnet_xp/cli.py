"""The ``bpnet-xp`` command: train, evaluate, predict, gradcheck, backends.

Run ``bpnet-xp --help`` (or ``python -m bpnet_xp --help``) for the overview and
``bpnet-xp COMMAND --help`` for each command.  With no options, ``bpnet-xp train``
trains the classic 64-25-10 sigmoid network (cross-entropy, L2 lambda = 1) on the
bundled digits, standardised, with 100 iterations of conjugate gradient in
float64, and prints the training and test accuracy.

Errors the user can fix (a missing file, a malformed CSV, an unusable backend or
device, data that does not fit the model) print one line,
``bpnet-xp: error: ...``, on stderr and exit with status 1 (2 for a command-line
usage error); ``--debug`` shows the traceback instead.

:func:`main` takes the argument list and returns the exit status, so the command
can be run in-process (``bpnet_xp.cli.main(["train", "--json"])``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .backend import BACKEND_NAMES

__all__ = ["main", "build_parser", "CommandError"]

PROG = "bpnet-xp"
OPTIMIZERS = ("gd", "sgd", "adam", "cg", "lbfgs")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
OUTPUTS = ("sigmoid", "softmax", "identity", "tanh", "relu")
LOSSES = ("cross_entropy", "softmax_cross_entropy", "mse")
DATASETS = ("digits", "xor")

# Defaults that differ between the bundled data sets (None: the generic default applies).
# XOR is the classic 2-10-1 network trained on all four points, unregularised.
_DATASET_DEFAULTS = {
    "digits": {"hidden": [25], "l2": 1.0, "test_fraction": 0.25, "standardize": True},
    "xor": {"hidden": [10], "l2": 0.0, "test_fraction": 0.0, "standardize": False},
    None: {"hidden": [25], "l2": 1.0, "test_fraction": 0.25, "standardize": True},
}


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


class _UsageError(Exception):
    """A command-line usage error; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block) and no exit."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        command = self.prog
        raise _UsageError(f"{message} (see '{command} --help')")


# ---------------------------------------------------------------------------------------
# Output helpers.


class _Console:
    """Where a command's lines go: results to stdout, chatter suppressed by --quiet or --json."""

    def __init__(self, quiet: bool, json_mode: bool):
        self.quiet, self.json_mode = quiet, json_mode

    def info(self, text: str = "") -> None:
        """Context (data, network, files written): hidden by --quiet and --json."""
        if not (self.quiet or self.json_mode):
            print(text, flush=True)

    def result(self, text: str = "") -> None:
        """Results (metrics): hidden only by --json, which prints one summary line instead."""
        if not self.json_mode:
            print(text, flush=True)

    def summary(self, record: dict) -> None:
        if self.json_mode:
            print(json.dumps(record, allow_nan=False, default=_json_default), flush=True)


def _json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {os.fspath(exc.filename)!r}"
    if isinstance(exc, (CommandError, ValueError, OSError, ImportError)):
        text = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
        return text or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


# ---------------------------------------------------------------------------------------
# The parser.


def _hidden_sizes(text: str) -> list[int]:
    """``--hidden`` value: "25", "25,10" or "none" (no hidden layer)."""
    if text.strip().lower() in ("none", "0", ""):
        return []
    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive integers, got {part!r}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive integers, got {n}")
        sizes.append(n)
    return sizes


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _batch_size(text: str):
    if text.strip().lower() in ("full", "none", "all"):
        return "full"
    return _positive_int(text)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _column(text: str):
    """A column given as an index (0-based, negative from the end) or a header name."""
    try:
        return int(text)
    except ValueError:
        return text


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # On the subcommands the default is SUPPRESS, so "bpnet-xp --debug train" is not
    # overwritten by the subcommand's own (absent) --debug.
    default = False if top else argparse.SUPPRESS
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the full traceback of an error instead of one line")
    parser.add_argument("--quiet", "-q", action="store_true", default=default,
                        help="no progress bar and no informational lines; results only")


def _add_backend(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument("--backend", default="auto", choices=("auto",) + BACKEND_NAMES,
                       help="array library that runs the math (default: auto = cupy when a CUDA GPU works, "
                            "else numpy; see 'bpnet-xp backends')")
    group.add_argument("--device", default=None,
                       help="device within the backend, e.g. cuda:0 (torch/cupy), device1 (array_api_strict)")


def _add_data(parser: argparse.ArgumentParser, *, default_note: str) -> None:
    group = parser.add_argument_group("data", f"where the samples come from ({default_note})")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=DATASETS, default=None,
                        help="a bundled data set: digits (1797 8x8 handwritten digits) or xor (4 points)")
    source.add_argument("--csv", metavar="PATH", default=None,
                        help="a comma-separated file of numbers (optionally .gz); one row per sample")
    source.add_argument("--npz", metavar="PATH", default=None, help="a NumPy .npz archive holding X and y")
    group.add_argument("--target", type=_column, default=-1, metavar="COLUMN",
                       help="CSV column holding the label/target: index (0-based, negative from the end) "
                            "or header name (default: -1, the last column)")
    group.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                       help="whether the CSV's first row holds column names (default: auto-detect)")
    group.add_argument("--delimiter", default=",", metavar="CHAR", help="CSV field separator (default: ',')")
    group.add_argument("--x-key", default="X", metavar="KEY", help="name of the inputs in the .npz (default: X)")
    group.add_argument("--y-key", default="y", metavar="KEY", help="name of the targets in the .npz (default: y)")


def build_parser() -> argparse.ArgumentParser:
    """The ``bpnet-xp`` argument parser (subcommands train, evaluate, predict, gradcheck, backends)."""
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description="Back-propagation multilayer perceptrons on NumPy, CuPy, PyTorch, JAX, "
                    "array-api-strict and Dask.",
        epilog="Run 'bpnet-xp COMMAND --help' for the options of a command. "
               "With no options, 'bpnet-xp train' trains a 64-25-10 network on the bundled digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # -- train -----------------------------------------------------------------------------
    train = commands.add_parser(
        "train", help="train a network and report its training and test scores",
        description="Train a network. With no options: the bundled digits, a 64-25-10 sigmoid network with "
                    "cross-entropy and L2 lambda=1, inputs standardised with statistics of the training split, "
                    "100 iterations of conjugate gradient in float64, a stratified 25 % test split, seed 0.")
    _add_common(train)
    _add_data(train, default_note="default: --dataset digits")
    net = train.add_argument_group("network")
    net.add_argument("--hidden", type=_hidden_sizes, action="append", metavar="SIZES",
                     help="hidden layer sizes: repeat the option or give a comma list (--hidden 25,10); "
                          "'none' for no hidden layer (default: 25; xor: 10)")
    net.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid", help="hidden activation (default: sigmoid)")
    net.add_argument("--output", choices=OUTPUTS, default=None,
                     help="output activation (default: sigmoid for classification, identity for regression; "
                          "softmax with --loss softmax_cross_entropy)")
    net.add_argument("--loss", choices=LOSSES, default=None,
                     help="loss (default: cross_entropy for classification, mse for regression)")
    net.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                     help="auto: classification when the labels are integers (or --loss is a "
                          "classification loss), regression for floating-point targets")
    net.add_argument("--l2", type=_non_negative_float, default=None, metavar="LAMBDA",
                     help="L2 strength lambda, biases excluded (default: 1; xor: 0)")
    net.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="default: float64")
    net.add_argument("--init", choices=("auto", "classic", "glorot", "he"), default="auto",
                     help="initial weights (default: auto = classic uniform, He for relu)")
    opt = train.add_argument_group("optimisation")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default="cg",
                     help="cg/lbfgs: full-batch with a line search (use --max-iter); gd/sgd/adam: epochs of "
                          "(mini-)batches (use --epochs) (default: cg)")
    opt.add_argument("--max-iter", type=_positive_int, default=100, metavar="N", help="iterations for cg/lbfgs (default: 100)")
    opt.add_argument("--epochs", type=_positive_int, default=200, metavar="N", help="epochs for gd/sgd/adam (default: 200)")
    opt.add_argument("--batch-size", type=_batch_size, default=None, metavar="N",
                     help="mini-batch rows for sgd/adam, or 'full' (default: min(200, m); full for gd)")
    opt.add_argument("--learning-rate", type=_positive_float, default=None, metavar="RATE",
                     help="step size for gd/sgd/adam (default: 0.1 gd, 0.01 sgd, 0.001 adam)")
    prep = train.add_argument_group("preparation")
    prep.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                      help="standardise inputs with mean/std of the training split, saved with the model "
                           "(default: on; xor: off)")
    prep.add_argument("--test-fraction", type=_fraction, default=None, metavar="FRACTION",
                      help="fraction held out for testing, stratified by class; 0 = none (default: 0.25; xor: 0)")
    prep.add_argument("--seed", type=_seed, default=0, metavar="N", help="seeds the split, the initial weights and the batches (default: 0)")
    _add_backend(train)
    out = train.add_argument_group("output")
    out.add_argument("--save", metavar="MODEL", default=None, help="save the trained model (.npz, written atomically)")
    out.add_argument("--plot", metavar="DIR", default=None,
                     help="write loss.png, digits.png, hidden_weights.png, confusion_matrix.png into DIR")
    out.add_argument("--json", action="store_true", help="print one JSON summary line on stdout instead of text")
    train.set_defaults(handler=_cmd_train)

    # -- evaluate ---------------------------------------------------------------------------
    evaluate = commands.add_parser(
        "evaluate", help="score a saved model: metrics and a confusion matrix",
        description="Score a saved model. Without a data option it re-creates the data and the test split the "
                    "model was trained on (so it reproduces the test score 'train' printed); with --dataset, "
                    "--csv or --npz it scores every sample of that data unless --split says otherwise.")
    _add_common(evaluate)
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by 'bpnet-xp train --save'")
    _add_data(evaluate, default_note="default: the data and test split recorded in MODEL")
    evaluate.add_argument("--split", choices=("test", "train", "all"), default=None,
                          help="which part to score, split as in training (default: test for the recorded "
                               "data, all for data you name)")
    _add_backend(evaluate)
    evaluate.add_argument("--plot", metavar="DIR", default=None, help="write confusion_matrix.png (and digits.png)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON summary line on stdout instead of text")
    evaluate.set_defaults(handler=_cmd_evaluate)

    # -- predict ----------------------------------------------------------------------------
    predict = commands.add_parser(
        "predict", help="predict labels/targets for new samples and write them as CSV",
        description="Predict with a saved model. The input holds feature columns only (or name the column to "
                    "drop with --target); the model's standardisation is applied. Writes one row per sample: "
                    "the prediction (an original label value for classifiers), and with --proba the output "
                    "activations.")
    _add_common(predict)
    predict.add_argument("model", metavar="MODEL", help="a model file written by 'bpnet-xp train --save'")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="IN", default=None, help="CSV of feature rows")
    source.add_argument("--npz", metavar="IN", default=None, help=".npz archive with the inputs under --x-key")
    predict.add_argument("--target", type=_column, default=None, metavar="COLUMN",
                         help="a CSV column to ignore (the label column of a labelled file)")
    predict.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                         help="whether the CSV's first row holds column names (default: auto-detect)")
    predict.add_argument("--delimiter", default=",", metavar="CHAR", help="CSV field separator (default: ',')")
    predict.add_argument("--x-key", default="X", metavar="KEY", help="name of the inputs in the .npz (default: X)")
    predict.add_argument("--output", "-o", metavar="OUT", default="-",
                         help="CSV to write, atomically (default: '-', standard output)")
    predict.add_argument("--proba", action="store_true", help="also write the output activations (probabilities)")
    _add_backend(predict)
    predict.add_argument("--json", action="store_true", help="print one JSON summary line (needs --output FILE)")
    predict.set_defaults(handler=_cmd_predict)

    # -- gradcheck --------------------------------------------------------------------------
    grad = commands.add_parser(
        "gradcheck", help="check back-propagation against finite differences on a small network",
        description="Build a small network with random data (the classic check: 3 inputs, 5 hidden units, "
                    "3 classes, 5 samples, L2 lambda=1) and compare its back-propagated gradient with central "
                    "finite differences, element by element, on the chosen backend.")
    _add_common(grad)
    grad.add_argument("--inputs", type=_positive_int, default=3, metavar="N", help="input units (default: 3)")
    grad.add_argument("--hidden", type=_hidden_sizes, action="append", metavar="SIZES",
                      help="hidden layer sizes, as for train (default: 5)")
    grad.add_argument("--outputs", type=_positive_int, default=3, metavar="K", help="output units = classes (default: 3)")
    grad.add_argument("--samples", type=_positive_int, default=5, metavar="M", help="random samples (default: 5)")
    grad.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid", help="default: sigmoid")
    grad.add_argument("--output", choices=OUTPUTS, default=None, help="default: the loss's canonical output")
    grad.add_argument("--loss", choices=LOSSES, default=None,
                      help="default: cross_entropy, or the output's canonical loss")
    grad.add_argument("--l2", type=_non_negative_float, default=1.0, metavar="LAMBDA", help="default: 1")
    grad.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                      help="the network's dtype; the check itself runs in float64 where the device has it")
    grad.add_argument("--seed", type=_seed, default=0, metavar="N", help="seeds the weights and the data (default: 0)")
    grad.add_argument("--tolerance", type=_positive_float, default=None, metavar="TOL",
                      help="largest acceptable relative error (default: 1e-7 in float64, 1e-2 in float32)")
    _add_backend(grad)
    grad.add_argument("--json", action="store_true", help="print one JSON summary line")
    grad.set_defaults(handler=_cmd_gradcheck)

    # -- backends ---------------------------------------------------------------------------
    backends = commands.add_parser(
        "backends", help="list the backends and devices usable here, and why the others are not",
        description="List every backend bpnet_xp knows, whether it works on this machine (and on which "
                    "default device), and for the others the reason.")
    _add_common(backends)
    backends.add_argument("--json", action="store_true", help="print one JSON line")
    backends.set_defaults(handler=_cmd_backends)
    return parser


# ---------------------------------------------------------------------------------------
# Data.


def _header_option(value: str):
    return {"auto": None, "yes": True, "no": False}[value]


def _load_source(source: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) host arrays for a data description (what the model file records)."""
    from . import datasets

    kind = source["source"]
    if kind == "digits":
        return datasets.load_digits()
    if kind == "xor":
        return datasets.make_xor()
    if kind == "csv":
        return datasets.load_csv(source["path"], target=source.get("target", -1),
                                 header=source.get("header"), delimiter=source.get("delimiter", ","))
    if kind == "npz":
        return datasets.load_npz(source["path"], x_key=source.get("x_key", "X"), y_key=source.get("y_key", "y"))
    raise CommandError(f"unknown data source {kind!r}")


def _source_from_args(args, *, required: bool) -> dict | None:
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
    from .preprocessing import train_test_split

    stratify = False
    if classification and y.ndim == 1:
        _, counts = np.unique(y, return_counts=True)
        stratify = bool(counts.min() >= 2)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=fraction, seed=seed, stratify=stratify)
    return X_train, X_test, y_train, y_test, stratify


# ---------------------------------------------------------------------------------------
# Metrics (host NumPy; the same code for 'train' and 'evaluate', so their numbers agree).


def _predictions(net, X) -> tuple[np.ndarray, np.ndarray]:
    """Host predictions (class indices or targets) and output activations for host inputs X."""
    Xs = net.scaler.transform(X) if net.scaler is not None else X
    proba = np.asarray(net.predict_proba(Xs), dtype=np.float64)
    pred = np.asarray(net.predict(Xs))
    return pred, proba


def _accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(pred == truth))


def _r2(pred: np.ndarray, truth: np.ndarray) -> float:
    pred = pred.reshape(truth.shape[0], -1).astype(np.float64)
    truth = truth.reshape(truth.shape[0], -1).astype(np.float64)
    ss_res = np.sum((truth - pred) ** 2, axis=0)
    ss_tot = np.sum((truth - truth.mean(axis=0)) ** 2, axis=0)
    safe = np.where(ss_tot > 0, ss_tot, 1.0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(r2))


def _class_report(matrix: np.ndarray, names: list[str]) -> list[str]:
    """Per-class precision, recall, F1 and support, then the macro average (as scikit-learn)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    width = max(5, max(len(n) for n in names))
    lines = [f"{'class':>{width}}  precision  recall  f1-score  support"]
    for k, name in enumerate(names):
        lines.append(f"{name:>{width}}  {precision[k]:9.3f}  {recall[k]:6.3f}  {f1[k]:8.3f}  {support[k]:7d}")
    lines.append(f"{'macro':>{width}}  {precision.mean():9.3f}  {recall.mean():6.3f}  {f1.mean():8.3f}  "
                 f"{int(support.sum()):7d}")
    return lines


def _matrix_table(matrix: np.ndarray, names: list[str]) -> list[str]:
    """The confusion matrix as a text table: rows true classes, columns predicted classes."""
    cell = max(4, max(len(n) for n in names), len(str(int(matrix.max(initial=0)))) + 1)
    corner = "true\\pred"
    head = max(len(corner), max(len(n) for n in names))
    lines = [f"{corner:>{head}} " + "".join(f"{n:>{cell}}" for n in names)]
    for i, name in enumerate(names):
        lines.append(f"{name:>{head}} " + "".join(f"{int(v):>{cell}}" for v in matrix[i]))
    return lines


def _class_names(net) -> list[str]:
    k = max(net.n_outputs, 2)
    if net.classes is None:
        return [str(i) for i in range(k)]
    return [str(c) for c in np.asarray(net.classes).tolist()]


def _encode_labels(net, y, what: str) -> np.ndarray:
    """Original label values -> class indices 0..K-1 with the model's classes."""
    from .preprocessing import LabelEncoder

    if net.classes is None:
        encoder = LabelEncoder()
        encoder.classes_ = np.arange(max(net.n_outputs, 2))
    else:
        encoder = LabelEncoder()
        encoder.classes_ = np.asarray(net.classes)
    try:
        return encoder.transform(np.asarray(y).reshape(-1))
    except ValueError as exc:
        raise CommandError(f"{what}: {str(exc).removeprefix('transform: ')}") from None


# ---------------------------------------------------------------------------------------
# Commands.


def _check_features(net, X, where: str, model: str) -> None:
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
        hint = ""
        if X.ndim == 2 and X.shape[1] == net.n_inputs + 1:
            hint = "; if one column is the label, name it with --target"
        raise CommandError(f"{where} has {got} feature columns but the model {model} takes {net.n_inputs} inputs{hint}")


def _check_writable(save: str | None, plot: str | None) -> None:
    """Fail before training, not after it, when the outputs cannot be written."""
    if save is not None:
        parent = os.path.dirname(os.path.abspath(save))
        if os.path.isdir(save):
            raise CommandError(f"--save {save}: it is a directory; give a file name such as model.npz")
        if not os.path.isdir(parent):
            raise CommandError(f"--save {save}: directory {parent!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise CommandError(f"--save {save}: directory {parent!r} is not writable")
    if plot is not None:
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


def _decide_task(args, y) -> str:
    if args.task != "auto":
        return args.task
    if args.loss in ("cross_entropy", "softmax_cross_entropy") or args.output == "softmax":
        return "classification"
    if args.loss == "mse":
        return "regression"
    return "classification" if np.asarray(y).dtype.kind in "biu" else "regression"


def _cmd_train(args, console: _Console) -> int:
    from .network import MLP
    from .preprocessing import LabelEncoder, StandardScaler

    _check_writable(args.save, args.plot)
    source = _source_from_args(args, required=True)
    defaults = _DATASET_DEFAULTS.get(source["source"], _DATASET_DEFAULTS[None])
    X, y = _load_source(source)
    if y is None:
        raise CommandError(f"{_source_name(source)} has no targets to train on")
    name = _source_name(source)
    task = _decide_task(args, y)

    classes = None
    if task == "classification":
        if y.ndim != 1:
            raise CommandError(f"{name}: class labels must be one column, got targets of shape {y.shape}")
        if np.asarray(y).dtype.kind == "f" and not np.all(y == np.round(y)):
            raise CommandError(f"{name}: classification needs integer labels, the targets are fractional "
                               "(use --task regression)")
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if classes.shape[0] < 2:
            raise CommandError(f"{name}: every sample has the label {classes[0]!r}; classification needs 2+ classes")
    else:
        if y.dtype.kind not in "biuf":
            raise CommandError(f"{name}: regression targets must be numbers")
        y = y.astype(np.float64)

    test_fraction = defaults["test_fraction"] if args.test_fraction is None else args.test_fraction
    stratified = False
    if test_fraction > 0:
        X_train, X_test, y_train, y_test, stratified = _split(X, y, test_fraction, args.seed,
                                                               task == "classification")
    else:
        X_train, X_test, y_train, y_test = X, None, y, None

    standardize = defaults["standardize"] if args.standardize is None else args.standardize
    scaler = StandardScaler().fit(X_train) if standardize else None
    prepare = (lambda A: scaler.transform(A)) if scaler is not None else (lambda A: A)

    if task == "classification":
        t_train = encoder.transform(y_train)
        t_test = None if y_test is None else encoder.transform(y_test)
        k = classes.shape[0]
        loss = args.loss or ("softmax_cross_entropy" if args.output == "softmax" else "cross_entropy")
        n_outputs = k if (loss == "softmax_cross_entropy" or k > 2) else 1
        output = args.output
    else:
        t_train, t_test = y_train, y_test
        loss = args.loss or "mse"
        if loss != "mse":
            raise CommandError(f"--loss {loss} is a classification loss but the task is regression")
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        output = args.output or "identity"
    hidden = [n for group in args.hidden for n in group] if args.hidden is not None else defaults["hidden"]
    sizes = [X.shape[1], *hidden, n_outputs]
    l2 = defaults["l2"] if args.l2 is None else args.l2

    net = MLP(sizes, activation=args.activation, output=output, loss=loss, l2=l2, backend=args.backend,
              device=args.device, dtype=args.dtype, seed=args.seed, init=args.init)
    net.scaler = scaler
    net.classes = classes

    def sizes_text():
        return "-".join(str(s) for s in sizes)

    what = f"{k} classes" if task == "classification" else f"{n_outputs} target{'s' if n_outputs > 1 else ''}"
    split_text = (f"{X_train.shape[0]} train / {X_test.shape[0]} test ({'stratified, ' if stratified else ''}"
                  f"seed {args.seed})" if X_test is not None else f"all {X.shape[0]} for training, no test split")
    console.info(f"data:      {name}: {X.shape[0]} samples, {X.shape[1]} features, {what}; {split_text}")
    console.info(f"network:   {sizes_text()} {net.activation} -> {net.output}, {net.loss_name}, l2={l2:g}, "
                 f"{net.n_parameters} parameters, {args.dtype} on {net.backend.name} ({net.backend.device})"
                 + (", inputs standardised" if scaler is not None else ""))
    budget = f"{args.max_iter} iterations" if args.optimizer in ("cg", "lbfgs") else f"{args.epochs} epochs"
    console.info(f"training:  {args.optimizer}, {budget}")

    options: dict[str, Any] = {"max_iter": args.max_iter, "epochs": args.epochs, "batch_size": _fit_batch_size(args.batch_size),
                               "learning_rate": args.learning_rate, "progress": not args.quiet}
    if args.plot is not None and X_test is not None:
        # Only monitored, never used to choose anything: the loss curve's second line.
        options["validation_data"] = (prepare(X_test), t_test)
    start = time.perf_counter()
    history = net.fit(prepare(X_train), t_train, optimizer=args.optimizer, **options)
    seconds = time.perf_counter() - start

    pred_train, _ = _predictions(net, X_train)
    pred_test = _predictions(net, X_test)[0] if X_test is not None else None
    if task == "classification":
        metric = "accuracy"
        train_score = _accuracy(pred_train, t_train)
        test_score = _accuracy(pred_test, t_test) if X_test is not None else None
        show = _percent
    else:
        metric = "r2"
        train_score = _r2(pred_train, t_train)
        test_score = _r2(pred_test, t_test) if X_test is not None else None
        show = (lambda v: "-" if v is None else f"{v:.4f}")
    final_loss = history.loss[-1] if history.loss else float("nan")
    label = "accuracy" if metric == "accuracy" else "R^2"
    console.info(f"stopped:   {history.stop_reason} after {history.n_iter} "
                 f"{'iterations' if args.optimizer in ('cg', 'lbfgs') else 'epochs'}, {seconds:.2f} s, "
                 f"final loss {final_loss:.6g}")
    console.result(f"train {label}: {show(train_score)}")
    if X_test is not None:
        console.result(f"test {label}:  {show(test_score)}")

    saved = None
    if args.save is not None:
        from .io import save

        recorded_source = dict(source)
        if "path" in recorded_source:  # so 'evaluate' finds it from any working directory
            recorded_source["path"] = os.path.abspath(recorded_source["path"])
        record = {
            "data": recorded_source,
            "task": task,
            "split": {"test_fraction": test_fraction, "seed": args.seed, "stratify": stratified},
            "training": {"optimizer": args.optimizer, "iterations": history.n_iter,
                         "stop_reason": history.stop_reason, "final_loss": _finite_or_none(final_loss),
                         "seconds": seconds, f"train_{metric}": train_score, f"test_{metric}": test_score},
        }
        try:
            save(net, args.save, metadata=record)
        except OSError as exc:
            raise CommandError(f"cannot save the model to {args.save}: {exc.strerror or exc}") from exc
        saved = args.save
        console.info(f"saved:     {args.save}")

    plots: dict[str, Path] = {}
    if args.plot is not None:
        images = X_test if X_test is not None else X_train
        labels = (t_test if X_test is not None else t_train) if task == "classification" else None
        predictions = (pred_test if X_test is not None else pred_train) if task == "classification" else None
        plots = _plot(args.plot, net, history, images, labels, predictions,
                      "test (held out)" if X_test is not None else "validation")
        console.info(f"plots:     {', '.join(str(p) for p in plots.values())}")

    console.summary({
        "command": "train", "data": name, "task": task, "backend": net.backend.name,
        "device": str(net.backend.device), "dtype": net.dtype, "layer_sizes": list(sizes),
        "optimizer": args.optimizer, "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]) if X_test is not None else 0,
        f"train_{metric}": train_score, f"test_{metric}": test_score,
        "final_loss": _finite_or_none(final_loss), "iterations": history.n_iter,
        "stop_reason": history.stop_reason, "seconds": round(seconds, 4), "model": saved,
        "plots": [str(p) for p in plots.values()],
    })
    return 0


def _fit_batch_size(value):
    """--batch-size -> fit's batch_size: absent = "auto", "full" = None (the full batch)."""
    return "auto" if value is None else (None if value == "full" else value)


def _finite_or_none(value: float):
    return value if math.isfinite(value) else None


def _plot(directory, net, history, images, labels, predictions, validation_label) -> dict[str, Path]:
    from .plotting import plot_all

    return plot_all(directory, net, history=history, images=images, labels=labels, predictions=predictions,
                    validation_label=validation_label)


def _cmd_evaluate(args, console: _Console) -> int:
    from .io import load, read_metadata

    meta = read_metadata(args.model)
    user = meta.get("user") or {}
    net = load(args.model, backend=args.backend, device=args.device)
    source = _source_from_args(args, required=False)
    split = args.split
    if source is None:
        source = user.get("data")
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
        recorded = user.get("split")
        if not recorded or not recorded.get("test_fraction"):
            raise CommandError(f"{args.model} was trained without a test split; use --split all")
        from .preprocessing import train_test_split

        parts = train_test_split(X, y, test_fraction=recorded["test_fraction"], seed=recorded["seed"],
                                 stratify=bool(recorded.get("stratify")))
        X, y = (parts[1], parts[3]) if split == "test" else (parts[0], parts[2])

    pred, _ = _predictions(net, X)
    record: dict[str, Any] = {"command": "evaluate", "model": args.model, "data": name, "split": split,
                              "n_samples": int(X.shape[0]), "backend": net.backend.name,
                              "device": str(net.backend.device)}
    console.info(f"model:     {args.model}: {'-'.join(map(str, net.layer_sizes))} {net.activation} -> "
                 f"{net.output}, trained on {meta.get('backend')} in {meta.get('dtype')}; "
                 f"evaluated on {net.backend.name} ({net.backend.device})")
    console.info(f"data:      {name}, {split} ({X.shape[0]} samples)")
    plots: dict[str, Path] = {}
    if net.is_classifier:
        truth = _encode_labels(net, y, name)
        from .plotting import confusion_matrix

        names = _class_names(net)
        matrix = confusion_matrix(truth, pred, len(names))
        accuracy = _accuracy(pred, truth)
        console.result(f"accuracy: {_percent(accuracy)} ({int(np.trace(matrix))}/{X.shape[0]})")
        console.result("")
        for line in _class_report(matrix, names):
            console.result(line)
        console.result("")
        console.result("confusion matrix (rows: true class, columns: predicted class)")
        for line in _matrix_table(matrix, names):
            console.result(line)
        record.update(accuracy=accuracy, confusion_matrix=matrix.tolist(), classes=names)
        if args.plot is not None:
            plots = _plot(args.plot, net, None, X, truth, pred, "validation")
    else:
        truth = np.asarray(y, dtype=np.float64)
        r2 = _r2(pred, truth)
        residual = pred.reshape(truth.shape[0], -1) - truth.reshape(truth.shape[0], -1)
        mse, mae = float(np.mean(residual ** 2)), float(np.mean(np.abs(residual)))
        console.result(f"R^2: {r2:.4f}")
        console.result(f"mean squared error: {mse:.6g}")
        console.result(f"mean absolute error: {mae:.6g}")
        record.update(r2=r2, mse=mse, mae=mae)
    if plots:
        console.info(f"plots:     {', '.join(str(p) for p in plots.values())}")
    record["plots"] = [str(p) for p in plots.values()]
    console.summary(record)
    return 0


def _cmd_predict(args, console: _Console) -> int:
    from . import datasets
    from .io import load, atomic_write

    if args.json and args.output == "-":
        raise CommandError("--json needs --output FILE: the predictions would share standard output")
    net = load(args.model, backend=args.backend, device=args.device)
    if args.csv is not None:
        X, _ = datasets.load_csv(args.csv, target=args.target, header=_header_option(args.header),
                                 delimiter=args.delimiter)
        where = args.csv
    else:
        X, _ = datasets.load_npz(args.npz, x_key=args.x_key, y_key=None)
        where = args.npz
    _check_features(net, X, where, args.model)
    pred, proba = _predictions(net, X)

    if net.is_classifier:
        values = np.asarray(net.classes)[pred] if net.classes is not None else pred
        columns = ["prediction"]
        if args.proba:
            names = _class_names(net)
            columns += ([f"p_{names[1]}"] if net.n_outputs == 1 else [f"p_{n}" for n in names])
        rows = [[_cell(v)] + ([_cell(p) for p in proba[i]] if args.proba else []) for i, v in enumerate(values)]
    else:
        out = pred.reshape(pred.shape[0], -1)
        columns = ["prediction"] if out.shape[1] == 1 else [f"prediction_{j}" for j in range(out.shape[1])]
        rows = [[_cell(v) for v in row] for row in out]

    def write(handle):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)

    if args.output == "-":
        write(sys.stdout)
        sys.stdout.flush()
    else:
        with atomic_write(args.output, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        console.info(f"wrote {len(rows)} predictions to {args.output}")
    console.summary({"command": "predict", "model": args.model, "input": where, "output": args.output,
                     "n_samples": len(rows), "backend": net.backend.name, "device": str(net.backend.device)})
    return 0


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _cmd_gradcheck(args, console: _Console) -> int:
    from .gradcheck import check_gradients
    from .network import MLP

    hidden = [n for group in args.hidden for n in group] if args.hidden is not None else [5]
    sizes = [args.inputs, *hidden, args.outputs]
    # Unset output and loss: the network's defaults (sigmoid + cross-entropy, or the canonical pair).
    net = MLP(sizes, activation=args.activation, output=args.output, loss=args.loss, l2=args.l2,
              backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    X = rng.standard_normal((args.samples, args.inputs))
    if net.is_classifier:
        k = max(args.outputs, 2)
        y = np.arange(args.samples) % k  # every class present, as in the classic check
    else:
        y = rng.standard_normal((args.samples, args.outputs)) if args.outputs > 1 else rng.standard_normal(args.samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the float32 notice; the tolerance below says it
        result = check_gradients(net, X, y)
    tolerance = args.tolerance or (1e-7 if result.dtype == "float64" else 1e-2)
    ok = result.max_relative_error <= tolerance
    console.info(f"network:   {'-'.join(map(str, sizes))} {net.activation} -> {net.output}, {net.loss_name}, "
                 f"l2={args.l2:g}, {net.n_parameters} parameters, {args.samples} samples, on {net.backend.name} "
                 f"({net.backend.device})")
    console.result(f"{result}")
    console.result(f"{'OK' if ok else 'FAILED'}: max relative error {result.max_relative_error:.3e} "
                   f"{'<=' if ok else '>'} tolerance {tolerance:g}")
    console.summary({"command": "gradcheck", "backend": net.backend.name, "device": str(net.backend.device),
                     "layer_sizes": sizes, "dtype": result.dtype, "mode": result.mode,
                     "checks": int(result.analytic.size), "max_relative_error": result.max_relative_error,
                     "worst": result.worst_location, "tolerance": tolerance, "ok": bool(ok)})
    return 0 if ok else 1


def _cmd_backends(args, console: _Console) -> int:
    from .backend import backend_status, get_backend

    status = backend_status()
    rows, record = [], {}
    for name, reason in status.items():
        device = None
        if reason is None:
            try:
                device = str(get_backend(name).device)
            except Exception as exc:  # a backend that worked a moment ago; report, don't crash
                reason = _one_line(str(exc))
        rows.append((name, "yes" if reason is None else "no", device or "-", reason or ""))
        record[name] = {"available": reason is None, "device": device, "reason": reason}
    try:
        auto = get_backend("auto")
        auto_text = f"{auto.name} ({auto.device})"
    except Exception as exc:
        auto, auto_text = None, f"unavailable: {_one_line(str(exc))}"
    width = max(len(r[0]) for r in rows)
    console.result(f"{'backend':<{width}}  usable  device")
    for name, usable, device, reason in rows:
        line = f"{name:<{width}}  {usable:<6}  {device}"
        if reason:
            line += f"  {reason}"
        console.result(line.rstrip())
    console.result(f"auto -> {auto_text}")
    console.summary({"command": "backends", "backends": record,
                     "auto": None if auto is None else {"backend": auto.name, "device": str(auto.device)}})
    return 0


# ---------------------------------------------------------------------------------------
# Entry point.


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``bpnet-xp: warning: ...`` lines instead of Python's two-line form."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{PROG}: warning: {_one_line(str(message))}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpnet-xp`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 for an error (or a failed gradient
        check), 2 for a usage error, 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr, flush=True)
        return 2
    except SystemExit as exc:  # --help and --version print and "exit" 0
        return int(exc.code or 0)
    if args.command is None:
        print(f"{PROG}: error: no command given; choose one of train, evaluate, predict, gradcheck, backends "
              f"(see '{PROG} --help')", file=sys.stderr, flush=True)
        return 2
    debug = bool(getattr(args, "debug", False))
    console = _Console(bool(getattr(args, "quiet", False)), bool(getattr(args, "json", False)))
    try:
        with _one_line_warnings():
            return args.handler(args, console)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{PROG}: error: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: not an error worth a message.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return 1
    except Exception as exc:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(_describe_error(exc))}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
