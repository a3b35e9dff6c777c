"""The ``bpnet-xp`` argument parser: one small function per command, shared options declared once.

:func:`build_parser` assembles the parser.  Options that several commands take
(``--hidden``, ``--seed``, ``--json``, ...) are declared once in
``_SHARED_OPTIONS``; each command adds them with its own help text.  A usage
error raises :class:`UsageError` (one line, exit status 2) instead of printing
argparse's usage block and exiting.
"""

from __future__ import annotations

import argparse
import math

from .. import __version__
from .. import config
from ..backend import BACKEND_NAMES

__all__ = ["build_parser", "UsageError", "PROGRAM_NAME", "OPTIMIZERS", "ACTIVATIONS", "OUTPUTS", "LOSSES",
           "DATASETS", "COMMAND_NAMES", "LINE_SEARCH_OPTIMIZERS"]

PROGRAM_NAME = "bpnet-xp"
OPTIMIZERS = config.OPTIMIZER_NAMES
# Full-batch with a line search: their budget is --max-iter iterations; the others run --epochs.
LINE_SEARCH_OPTIMIZERS = config.optimizer_names(config.FULL_BATCH)
ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
OUTPUTS = ("sigmoid", "softmax", "identity", "tanh", "relu")
LOSSES = ("cross_entropy", "softmax_cross_entropy", "mse")
DATASETS = ("digits", "xor")
COMMAND_NAMES = ("train", "evaluate", "predict", "gradcheck", "backends")


class UsageError(Exception):
    """A command-line usage error; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block) and no exit."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------
# Option values: each turns the text into the value or says, in one phrase, what is wrong.


def _hidden_sizes(text: str) -> list[int]:
    """``--hidden`` value: "25", "25,10" or "none" (no hidden layer)."""
    if text.strip().lower() in ("none", "0", ""):
        return []
    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive integers, got {part!r}") from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive integers, got {size}")
        sizes.append(size)
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


# ---------------------------------------------------------------------------------------
# Shared options.

# Options that more than one command takes: their type, choices and default, declared here
# once.  The help text is mostly given where a command adds the option, because it explains
# the option in that command's terms (and its default there).
_SHARED_OPTIONS: dict[str, dict] = {
    "--csv": {"default": None},
    "--npz": {"default": None},
    "--target": {"type": _column, "metavar": "COLUMN"},
    "--header": {"choices": ("auto", "yes", "no"), "default": "auto",
                 "help": "whether the CSV's first row holds column names (default: auto-detect)"},
    "--delimiter": {"default": ",", "metavar": "CHAR", "help": "CSV field separator (default: ',')"},
    "--x-key": {"default": "X", "metavar": "KEY", "help": "name of the inputs in the .npz (default: X)"},
    "--hidden": {"type": _hidden_sizes, "action": "append", "metavar": "SIZES"},
    "--activation": {"choices": ACTIVATIONS, "default": "sigmoid"},
    "--output": {"choices": OUTPUTS, "default": None},  # the output activation; predict's --output is a file
    "--loss": {"choices": LOSSES, "default": None},
    "--l2": {"type": _non_negative_float, "metavar": "LAMBDA"},
    "--dtype": {"choices": ("float32", "float64"), "default": "float64"},
    "--seed": {"type": _seed, "default": 0, "metavar": "N"},
    "--plot": {"metavar": "DIR", "default": None},
    "--json": {"action": "store_true"},
}


def _add_shared(group, flag: str, **settings) -> None:
    """Add the shared option ``flag`` to ``group``; ``settings`` (help, default) complete it."""
    group.add_argument(flag, **{**_SHARED_OPTIONS[flag], **settings})


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


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by 'bpnet-xp train --save'")


def _add_file_format(group) -> None:
    """How a CSV is read and where the inputs sit in an .npz."""
    _add_shared(group, "--header")
    _add_shared(group, "--delimiter")
    _add_shared(group, "--x-key")


def _add_data(parser: argparse.ArgumentParser, *, default_note: str) -> None:
    group = parser.add_argument_group("data", f"where the samples come from ({default_note})")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=DATASETS, default=None,
                        help="a bundled data set: digits (1797 8x8 handwritten digits) or xor (4 points)")
    _add_shared(source, "--csv", metavar="PATH",
                help="a comma-separated file of numbers (optionally .gz); one row per sample")
    _add_shared(source, "--npz", metavar="PATH", help="a NumPy .npz archive holding X and y")
    _add_shared(group, "--target", default=-1,
                help="CSV column holding the label/target: index (0-based, negative from the end) "
                     "or header name (default: -1, the last column)")
    _add_file_format(group)
    group.add_argument("--y-key", default="y", metavar="KEY", help="name of the targets in the .npz (default: y)")


# ---------------------------------------------------------------------------------------
# The commands.


def _add_train_network(train: argparse.ArgumentParser) -> None:
    network = train.add_argument_group("network")
    _add_shared(network, "--hidden",
                help="hidden layer sizes: repeat the option or give a comma list (--hidden 25,10); "
                     "'none' for no hidden layer (default: 25; xor: 10)")
    _add_shared(network, "--activation", help="hidden activation (default: sigmoid)")
    _add_shared(network, "--output",
                help="output activation (default: sigmoid for classification, identity for regression; "
                     "softmax with --loss softmax_cross_entropy)")
    _add_shared(network, "--loss", help="loss (default: cross_entropy for classification, mse for regression)")
    network.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                         help="auto: classification when the labels are integers (or --loss is a "
                              "classification loss), regression for floating-point targets")
    _add_shared(network, "--l2", default=None, help="L2 strength lambda, biases excluded (default: 1; xor: 0)")
    _add_shared(network, "--dtype", help="default: float64")
    network.add_argument("--init", choices=("auto", "classic", "glorot", "he"), default="auto",
                         help="initial weights (default: auto = classic uniform, He for relu)")


def _add_train_optimisation(train: argparse.ArgumentParser) -> None:
    optimisation = train.add_argument_group("optimisation")
    optimisation.add_argument("--optimizer", choices=OPTIMIZERS, default="cg",
                              help="cg/lbfgs: full-batch with a line search (use --max-iter); gd/sgd/adam: "
                                   "epochs of (mini-)batches (use --epochs) (default: cg)")
    optimisation.add_argument("--max-iter", type=_positive_int, default=100, metavar="N",
                              help="iterations for cg/lbfgs (default: 100)")
    optimisation.add_argument("--epochs", type=_positive_int, default=200, metavar="N",
                              help="epochs for gd/sgd/adam (default: 200)")
    optimisation.add_argument("--batch-size", type=_batch_size, default=None, metavar="N",
                              help="mini-batch rows for sgd/adam, or 'full' (default: min(200, m); full for gd)")
    optimisation.add_argument("--learning-rate", type=_positive_float, default=None, metavar="RATE",
                              help="step size for gd/sgd/adam (default: 0.1 gd, 0.01 sgd, 0.001 adam)")
    optimisation.add_argument("--validation-fraction", type=_fraction, default=None, metavar="FRACTION",
                              help="hold this fraction of the training split out as validation data, watched "
                                   "on the progress bar and by --early-stopping (default: none; 0.1 with "
                                   "--early-stopping)")
    optimisation.add_argument("--early-stopping", action="store_true",
                              help="stop when the validation loss has not improved by 1e-4 for 10 epochs "
                                   "(iterations) and keep the best parameters")
    optimisation.add_argument("--verbose", type=_positive_int, nargs="?", const=1, default=0, metavar="N",
                              help="print the loss (and validation loss and score) every N epochs or "
                                   "iterations (default N: 1)")


def _add_train_preparation(train: argparse.ArgumentParser) -> None:
    preparation = train.add_argument_group("preparation")
    preparation.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                             help="standardise inputs with mean/std of the training split, saved with the model "
                                  "(default: on; xor: off)")
    preparation.add_argument("--test-fraction", type=_fraction, default=None, metavar="FRACTION",
                             help="fraction held out for testing, stratified by class; 0 = none "
                                  "(default: 0.25; xor: 0)")
    _add_shared(preparation, "--seed", help="seeds the split, the initial weights and the batches (default: 0)")


def _add_train_output(train: argparse.ArgumentParser) -> None:
    output = train.add_argument_group("output")
    output.add_argument("--save", metavar="MODEL", default=None,
                        help="save the trained model (.npz, written atomically); on Ctrl-C, the best "
                             "parameters so far")
    output.add_argument("--checkpoint", metavar="PATH", default=None,
                        help="while training, write the last parameters to PATH and the best ones to "
                             "PATH's .best sibling (run.npz -> run.best.npz), atomically, every "
                             "--checkpoint-every epochs and when training ends")
    output.add_argument("--checkpoint-every", type=_positive_int, default=10, metavar="K",
                        help="epochs (iterations) between checkpoints (default: 10)")
    _add_shared(output, "--plot",
                help="write loss.png, digits.png, hidden_weights.png, confusion_matrix.png into DIR")
    _add_shared(output, "--json", help="print one JSON summary line on stdout instead of text")


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a network and report its training and test scores",
        description="Train a network. With no options: the bundled digits, a 64-25-10 sigmoid network with "
                    "cross-entropy and L2 lambda=1, inputs standardised with statistics of the training split, "
                    "100 iterations of conjugate gradient in float64, a stratified 25 % test split, seed 0.")
    _add_common(train)
    _add_data(train, default_note="default: --dataset digits")
    _add_train_network(train)
    _add_train_optimisation(train)
    _add_train_preparation(train)
    _add_backend(train)
    _add_train_output(train)


def _add_evaluate(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score a saved model: metrics and a confusion matrix",
        description="Score a saved model. Without a data option it re-creates the data and the test split the "
                    "model was trained on (so it reproduces the test score 'train' printed); with --dataset, "
                    "--csv or --npz it scores every sample of that data unless --split says otherwise.")
    _add_common(evaluate)
    _add_model(evaluate)
    _add_data(evaluate, default_note="default: the data and test split recorded in MODEL")
    evaluate.add_argument("--split", choices=("test", "train", "all"), default=None,
                          help="which part to score, split as in training (default: test for the recorded "
                               "data, all for data you name)")
    _add_backend(evaluate)
    _add_shared(evaluate, "--plot", help="write confusion_matrix.png (and digits.png)")
    _add_shared(evaluate, "--json", help="print one JSON summary line on stdout instead of text")


def _add_predict(commands) -> None:
    predict = commands.add_parser(
        "predict", help="predict labels/targets for new samples and write them as CSV",
        description="Predict with a saved model. The input holds feature columns only (or name the column to "
                    "drop with --target); the model's standardisation is applied. Writes one row per sample: "
                    "the prediction (an original label value for classifiers), and with --proba the output "
                    "activations.")
    _add_common(predict)
    _add_model(predict)
    source = predict.add_mutually_exclusive_group(required=True)
    _add_shared(source, "--csv", metavar="IN", help="CSV of feature rows")
    _add_shared(source, "--npz", metavar="IN", help=".npz archive with the inputs under --x-key")
    _add_shared(predict, "--target", default=None,
                help="a CSV column to ignore (the label column of a labelled file)")
    _add_file_format(predict)
    predict.add_argument("--output", "-o", metavar="OUT", default="-",
                         help="CSV to write, atomically (default: '-', standard output)")
    predict.add_argument("--proba", action="store_true", help="also write the output activations (probabilities)")
    _add_backend(predict)
    _add_shared(predict, "--json", help="print one JSON summary line (needs --output FILE)")


def _add_gradcheck(commands) -> None:
    gradcheck = commands.add_parser(
        "gradcheck", help="check back-propagation against finite differences on a small network",
        description="Build a small network with random data (the classic check: 3 inputs, 5 hidden units, "
                    "3 classes, 5 samples, L2 lambda=1) and compare its back-propagated gradient with central "
                    "finite differences, element by element, on the chosen backend.")
    _add_common(gradcheck)
    gradcheck.add_argument("--inputs", type=_positive_int, default=3, metavar="N", help="input units (default: 3)")
    _add_shared(gradcheck, "--hidden", help="hidden layer sizes, as for train (default: 5)")
    gradcheck.add_argument("--outputs", type=_positive_int, default=3, metavar="K",
                           help="output units = classes (default: 3)")
    gradcheck.add_argument("--samples", type=_positive_int, default=5, metavar="M",
                           help="random samples (default: 5)")
    _add_shared(gradcheck, "--activation", help="default: sigmoid")
    _add_shared(gradcheck, "--output", help="default: the loss's canonical output")
    _add_shared(gradcheck, "--loss", help="default: cross_entropy, or the output's canonical loss")
    _add_shared(gradcheck, "--l2", default=1.0, help="default: 1")
    _add_shared(gradcheck, "--dtype",
                help="the network's dtype; the check itself runs in float64 where the device has it")
    _add_shared(gradcheck, "--seed", help="seeds the weights and the data (default: 0)")
    gradcheck.add_argument("--tolerance", type=_positive_float, default=None, metavar="TOL",
                           help="largest acceptable relative error (default: 1e-7 in float64, 1e-2 in float32)")
    _add_backend(gradcheck)
    _add_shared(gradcheck, "--json", help="print one JSON summary line")


def _add_backends(commands) -> None:
    backends = commands.add_parser(
        "backends", help="list the backends and devices usable here, and why the others are not",
        description="List every backend bpnet_xp knows, whether it works on this machine (and on which "
                    "default device), and for the others the reason.")
    _add_common(backends)
    _add_shared(backends, "--json", help="print one JSON line")


def build_parser() -> argparse.ArgumentParser:
    """The ``bpnet-xp`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        A parser with the subcommands train, evaluate, predict, gradcheck and
        backends; the chosen one is ``args.command`` (``None`` when none was
        given).  Its ``error`` raises :class:`UsageError` instead of exiting.
    """
    parser = _Parser(
        prog=PROGRAM_NAME,
        description="Back-propagation multilayer perceptrons on NumPy, CuPy, PyTorch, JAX, "
                    "array-api-strict and Dask.",
        epilog="Run 'bpnet-xp COMMAND --help' for the options of a command. "
               "With no options, 'bpnet-xp train' trains a 64-25-10 network on the bundled digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_command in (_add_train, _add_evaluate, _add_predict, _add_gradcheck, _add_backends):
        add_command(commands)
    return parser
