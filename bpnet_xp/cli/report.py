"""What the ``bpnet-xp`` commands print and write: result lines, JSON summaries, tables, plots.

Every line goes through a :class:`Console`: ``--quiet`` hides the context lines,
``--json`` replaces all text with one JSON summary line.  The prediction table is
CSV, streamed to standard output or written atomically to a file; pictures are
PNG files drawn by :mod:`bpnet_xp.plotting`.  Nothing here computes a model or
reads data: the commands hand over what is to be shown.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..io import atomic_write
from ..plotting import plot_all
from .parser import LINE_SEARCH_OPTIMIZERS, PROGRAM_NAME
from .paths import write_path

__all__ = [
    "Console", "single_line", "percent", "format_score", "format_number", "class_names", "saved_model",
    "plots_written", "training_diverged",
    "write_plots",
    "training_plan", "training_outcome", "training_summary",
    "evaluation_context", "classification_report", "regression_report", "class_report_lines",
    "confusion_matrix_lines", "prediction_table", "write_predictions", "gradcheck_report", "backend_table",
]


class Console:
    """Where a command's lines go: results to stdout, chatter suppressed by --quiet or --json.

    Parameters
    ----------
    quiet : bool
        ``--quiet``: hide the context lines.
    json_mode : bool
        ``--json``: hide all text; :meth:`summary` prints one JSON line instead.
    """

    def __init__(self, quiet: bool, json_mode: bool):
        self.quiet, self.json_mode = quiet, json_mode

    def info(self, text: str = "") -> None:
        """Context (data, network, files written): hidden by --quiet and --json.

        Parameters
        ----------
        text : str
            One line (printed with a newline).
        """
        if not (self.quiet or self.json_mode):
            print(text, flush=True)

    def result(self, text: str = "") -> None:
        """Results (metrics): hidden only by --json, which prints one summary line instead.

        Parameters
        ----------
        text : str
            One line (printed with a newline).
        """
        if not self.json_mode:
            print(text, flush=True)

    def summary(self, record: dict) -> None:
        """The command's one JSON line (with --json only); NaN and infinity are refused, not written.

        Parameters
        ----------
        record : dict
            JSON-serialisable values (NumPy scalars and paths are converted).
        """
        if self.json_mode:
            print(json.dumps(record, allow_nan=False, default=_json_default), flush=True)


def _json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def single_line(text) -> str:
    """``text`` with every run of whitespace (newlines included) made one space.

    Parameters
    ----------
    text : object
        Anything ``str`` takes (an error message).

    Returns
    -------
    str
        One line.
    """
    return " ".join(str(text).split())


def percent(value: float | None) -> str:
    """An accuracy as ``"97.33 %"``; ``"-"`` when there is none.

    Parameters
    ----------
    value : float or None
        A share in [0, 1].

    Returns
    -------
    str
        The text.
    """
    return "-" if value is None else f"{100 * value:.2f} %"


def format_number(value: float, decimals: int = 4) -> str:
    """``value`` with ``decimals`` decimals, or in %g form (as many significant digits) when
    fixed point would be long: a diverged model's R^2 of -3e299 is never 300 digits.

    Parameters
    ----------
    value : float
        The number.
    decimals : int
        Decimals (fixed point) or significant digits (%g).

    Returns
    -------
    str
        The text.
    """
    if math.isfinite(value) and abs(value) < 1e4:
        return f"{value:.{decimals}f}"
    return f"{value:.{decimals}g}"


def format_score(metric: str, value: float | None) -> str:
    """A score for the text output: accuracy in percent, R^2 with four decimals (bounded), ``"-"`` for none.

    Parameters
    ----------
    metric : {"accuracy", "r2"}
        Which score.
    value : float or None
        The score.

    Returns
    -------
    str
        The text.
    """
    if metric == "accuracy":
        return percent(value)
    return "-" if value is None else format_number(value)


def class_names(net) -> list[str]:
    """The model's class labels as text, or ``"0"``, ``"1"``, ... when it records none.

    Parameters
    ----------
    net : MLP
        The network.

    Returns
    -------
    list of str
        One name per class.
    """
    count = max(net.n_outputs, 2)
    if net.classes is None:
        return [str(i) for i in range(count)]
    return [str(c) for c in np.asarray(net.classes).tolist()]


def _layers(sizes: Sequence[int]) -> str:
    return "-".join(str(s) for s in sizes)


def _plot_paths(plots: dict[str, Path]) -> list[str]:
    return [str(p) for p in plots.values()]


def saved_model(console: Console, path: str) -> None:
    """Where the model was saved.

    Parameters
    ----------
    console : Console
        Where the lines go.
    path : str
        The model file.
    """
    console.info(f"saved:     {path}")


def training_diverged(save_path: str | None) -> None:
    """The error line of a diverged ``train`` (on stderr, also with --json and --quiet).

    Parameters
    ----------
    save_path : str or None
        The ``--save`` path left untouched, if any.
    """
    kept = f"; the model was not saved, {save_path} is left as it was" if save_path else ""
    print(f"{PROGRAM_NAME}: error: training diverged (the warning above says how){kept}", file=sys.stderr,
          flush=True)


def plots_written(console: Console, plots: dict[str, Path]) -> None:
    """The pictures written.

    Parameters
    ----------
    console : Console
        Where the lines go.
    plots : dict of str to Path
        What :func:`write_plots` returned.
    """
    console.info(f"plots:     {', '.join(_plot_paths(plots))}")


def write_plots(directory, net, history, images, labels, predictions, validation_label: str) -> dict[str, Path]:
    """Draw the pictures that apply into ``directory`` (:func:`bpnet_xp.plotting.plot_all`).

    The digit grid and the hidden-weight images are drawn only when ``images`` are the
    bundled digits' raw rows (:func:`bpnet_xp.plotting.bundled_image_shape`): the command
    passes the unstandardised split, so the bundled digits are recognised also when the
    network trained on standardised inputs, and a tabular CSV (4 columns, or 64 that are
    not the digits) gets only the loss curve and the confusion matrix.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing.
    net : MLP
        The network.
    history : History or None
        The training history (``loss.png``), or None (``evaluate``).
    images : array, shape (m, n_inputs)
        The raw (unscaled) input rows of the samples shown.
    labels, predictions : array, shape (m,), or None
        Class indices of those rows (classifiers).
    validation_label : str
        Legend entry of the second loss curve.

    Returns
    -------
    dict of str to Path
        ``{name: path}`` of the pictures written.
    """
    return plot_all(directory, net, history=history, images=images, labels=labels, predictions=predictions,
                    validation_label=validation_label)


# ---------------------------------------------------------------------------------------
# train


def training_plan(console: Console, args, data, net, settings) -> None:
    """The data, network and training lines printed before the fit.

    Parameters
    ----------
    console : Console
        Where the lines go.
    args : argparse.Namespace
        The command's options.
    data : object
        The loaded data and its split (``cli.commands``' training data).
    net : MLP
        The network.
    settings : object
        The network settings chosen (sizes, l2).
    """
    if data.task == "classification":
        what = f"{data.classes.shape[0]} classes"
    else:
        n_outputs = settings.sizes[-1]
        what = f"{n_outputs} target{'s' if n_outputs > 1 else ''}"
    if data.X_test is not None:
        split_text = (f"{data.X_train.shape[0]} train / {data.X_test.shape[0]} test "
                      f"({'stratified, ' if data.stratified else ''}seed {args.seed})")
    else:
        split_text = f"all {data.n_samples} for training, no test split"
    console.info(f"data:      {data.name}: {data.n_samples} samples, {data.n_features} features, {what}; "
                 f"{split_text}")
    console.info(f"task:      {data.task} ({data.task_reason})")
    console.info(f"network:   {_layers(settings.sizes)} {net.activation} -> {net.output}, {net.loss_name}, "
                 f"l2={settings.l2:g}, {net.n_parameters} parameters, {args.dtype} on {net.backend.name} "
                 f"({net.backend.device})"
                 + (", inputs standardised" if data.scaler is not None else ""))
    budget = f"{args.max_iter} iterations" if args.optimizer in LINE_SEARCH_OPTIMIZERS else f"{args.epochs} epochs"
    console.info(f"training:  {args.optimizer}, {budget}")


def training_outcome(console: Console, args, history, seconds: float, final_loss: float, scores) -> None:
    """How training stopped, then the training (and test) score.

    Parameters
    ----------
    console : Console
        Where the lines go.
    args : argparse.Namespace
        The command's options.
    history : History
        The training history.
    seconds : float
        Wall time of the fit.
    final_loss : float
        The last training loss.
    scores : object
        The train (and test) scores, their metric and whether there is a test split.
    """
    label = "accuracy" if scores.metric == "accuracy" else "R^2"
    console.info(f"stopped:   {history.stop_reason} after {history.n_iter} "
                 f"{'iterations' if args.optimizer in LINE_SEARCH_OPTIMIZERS else 'epochs'}, {seconds:.2f} s, "
                 f"final loss {final_loss:.6g}")
    console.result(f"train {label}: {format_score(scores.metric, scores.train)}")
    if scores.has_test:
        console.result(f"test {label}:  {format_score(scores.metric, scores.test)}")


def training_summary(console: Console, args, data, net, sizes: list[int], outcome: dict, saved: str | None,
                     plots: dict[str, Path]) -> None:
    """The ``train --json`` line; ``outcome`` holds the scores, the final loss, iterations and time.

    Parameters
    ----------
    console : Console
        Where the lines go.
    args : argparse.Namespace
        The command's options.
    data : object
        The loaded data and its split.
    net : MLP
        The network.
    sizes : list of int
        The layer sizes.
    outcome : dict
        Scores, final loss, iterations, stop reason and time.
    saved : str or None
        The model file written, if any.
    plots : dict of str to Path
        The pictures written.
    """
    console.summary({
        "command": "train", "data": data.name, "task": data.task, "backend": net.backend.name,
        "device": str(net.backend.device), "dtype": net.dtype, "layer_sizes": list(sizes),
        "optimizer": args.optimizer, "n_train": int(data.X_train.shape[0]),
        "n_test": int(data.X_test.shape[0]) if data.X_test is not None else 0,
        **outcome, "model": saved, "plots": _plot_paths(plots),
    })


# ---------------------------------------------------------------------------------------
# evaluate


def evaluation_context(console: Console, model: str, net, metadata: dict, name: str, split: str,
                       n_samples: int) -> None:
    """Which model was scored on which samples.

    Parameters
    ----------
    console : Console
        Where the lines go.
    model : str
        The model file.
    net : MLP
        The network.
    metadata : dict
        The model file's metadata (its training backend and dtype).
    name : str
        The data's name.
    split : str
        Which part of the data ("test", "train", "all").
    n_samples : int
        Rows scored.
    """
    console.info(f"model:     {model}: {_layers(net.layer_sizes)} {net.activation} -> "
                 f"{net.output}, trained on {metadata.get('backend')} in {metadata.get('dtype')}; "
                 f"evaluated on {net.backend.name} ({net.backend.device})")
    console.info(f"data:      {name}, {split} ({n_samples} samples)")


def classification_report(console: Console, accuracy: float, matrix: np.ndarray, names: list[str],
                          n_samples: int) -> None:
    """Accuracy, the per-class table and the confusion matrix as text.

    Parameters
    ----------
    console : Console
        Where the lines go.
    accuracy : float
        The share of correct predictions.
    matrix : ndarray, shape (K, K)
        Confusion counts (rows: true class).
    names : list of str
        Class names.
    n_samples : int
        Rows scored.
    """
    console.result(f"accuracy: {percent(accuracy)} ({int(np.trace(matrix))}/{n_samples})")
    console.result("")
    for line in class_report_lines(matrix, names):
        console.result(line)
    console.result("")
    console.result("confusion matrix (rows: true class, columns: predicted class)")
    for line in confusion_matrix_lines(matrix, names):
        console.result(line)


def regression_report(console: Console, r2: float, mse: float, mae: float) -> None:
    """R^2 and the mean squared and absolute errors.

    Parameters
    ----------
    console : Console
        Where the lines go.
    r2, mse, mae : float
        The scores.
    """
    console.result(f"R^2: {format_number(r2)}")
    console.result(f"mean squared error: {mse:.6g}")
    console.result(f"mean absolute error: {mae:.6g}")


def class_report_lines(matrix: np.ndarray, names: list[str]) -> list[str]:
    """Per-class precision, recall, F1 and support, then the macro average (as scikit-learn).

    Parameters
    ----------
    matrix : numpy.ndarray
        Confusion counts, rows true classes and columns predicted classes.
    names : list of str
        The class labels, in the order of the rows.

    Returns
    -------
    list of str
        The table's lines: a header, one line per class, the macro average.
    """
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, 0.0)
        recall = np.where(support > 0, true_positives / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    width = max(5, max(len(n) for n in names))
    lines = [f"{'class':>{width}}  precision  recall  f1-score  support"]
    for k, name in enumerate(names):
        lines.append(f"{name:>{width}}  {precision[k]:9.3f}  {recall[k]:6.3f}  {f1[k]:8.3f}  {support[k]:7d}")
    lines.append(f"{'macro':>{width}}  {precision.mean():9.3f}  {recall.mean():6.3f}  {f1.mean():8.3f}  "
                 f"{int(support.sum()):7d}")
    return lines


def confusion_matrix_lines(matrix: np.ndarray, names: list[str]) -> list[str]:
    """The confusion matrix as a text table: rows true classes, columns predicted classes.

    Parameters
    ----------
    matrix : numpy.ndarray
        Confusion counts, rows true classes and columns predicted classes.
    names : list of str
        The class labels.

    Returns
    -------
    list of str
        A header line of predicted classes, then one line per true class.
    """
    cell = max(4, max(len(n) for n in names) + 1, len(str(int(matrix.max(initial=0)))) + 1)
    corner = "true\\pred"
    head = max(len(corner), max(len(n) for n in names))
    lines = [f"{corner:>{head}} " + "".join(f"{n:>{cell}}" for n in names)]
    for i, name in enumerate(names):
        lines.append(f"{name:>{head}} " + "".join(f"{int(v):>{cell}}" for v in matrix[i]))
    return lines


# ---------------------------------------------------------------------------------------
# predict


def _cell(value) -> str:
    # repr keeps every digit of a float, so the file round-trips the prediction exactly.
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def prediction_table(net, predicted: np.ndarray, activations: np.ndarray,
                     with_activations: bool) -> tuple[list[str], list[list[str]]]:
    """The prediction CSV's header and rows.

    Parameters
    ----------
    net : MLP
        The model that predicted.
    predicted : numpy.ndarray
        Class indices (classifier) or targets (regression), one row per sample.
    activations : numpy.ndarray
        The output activations, shape (samples, outputs).
    with_activations : bool
        ``--proba``: a classifier's rows also hold its output activations.

    Returns
    -------
    columns : list of str
    rows : list of list of str
    """
    if net.is_classifier:
        values = np.asarray(net.classes)[predicted] if net.classes is not None else predicted
        columns = ["prediction"]
        if with_activations:
            names = class_names(net)
            columns += ([f"p_{names[1]}"] if net.n_outputs == 1 else [f"p_{n}" for n in names])
        rows = [[_cell(v)] + ([_cell(p) for p in activations[i]] if with_activations else [])
                for i, v in enumerate(values)]
        return columns, rows
    targets = predicted.reshape(predicted.shape[0], -1)
    columns = ["prediction"] if targets.shape[1] == 1 else [f"prediction_{j}" for j in range(targets.shape[1])]
    return columns, [[_cell(v) for v in row] for row in targets]


def write_predictions(console: Console, output: str, columns: list[str], rows: list[list[str]]) -> None:
    """Write the table as CSV to ``output`` (atomically), or to standard output for ``"-"``.

    Parameters
    ----------
    console : Console
        Where the lines go.
    output : str
        A file path, or ``"-"``.
    columns : list of str
        The header.
    rows : list of list of str
        The cells.
    """
    def write(handle):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)

    if output == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    with atomic_write(write_path(output), "w", encoding="utf-8", newline="") as handle:
        write(handle)
    console.info(f"wrote {len(rows)} predictions to {output}")


# ---------------------------------------------------------------------------------------
# gradcheck, backends


def gradcheck_report(console: Console, net, result, sizes: list[int], args, tolerance: float, ok: bool) -> None:
    """The checked network, the comparison and the verdict, then the JSON line.

    Parameters
    ----------
    console : Console
        Where the lines go.
    net : MLP
        The network.
    result : GradientCheckResult
        What :func:`bpnet_xp.check_gradients` returned.
    sizes : list of int
        The layer sizes.
    args : argparse.Namespace
        The command's options.
    tolerance : float
        The largest relative error accepted.
    ok : bool
        Whether the check passed.
    """
    console.info(f"network:   {_layers(sizes)} {net.activation} -> {net.output}, {net.loss_name}, "
                 f"l2={args.l2:g}, {net.n_parameters} parameters, {args.samples} samples, on {net.backend.name} "
                 f"({net.backend.device})")
    console.result(f"{result}")
    console.result(f"{'OK' if ok else 'FAILED'}: max relative error {result.max_relative_error:.3e} "
                   f"{'<=' if ok else '>'} tolerance {tolerance:g}")
    console.summary({"command": "gradcheck", "backend": net.backend.name, "device": str(net.backend.device),
                     "layer_sizes": sizes, "dtype": result.dtype, "mode": result.mode,
                     "checks": int(result.analytic.size), "max_relative_error": result.max_relative_error,
                     "worst": result.worst_location, "tolerance": tolerance, "ok": bool(ok)})


def backend_table(console: Console, rows: list[tuple[str, str, str, str]], record: dict, auto,
                  auto_problem: str | None) -> None:
    """One line per backend (name, usable, device, reason), what "auto" picks, then the JSON line.

    Parameters
    ----------
    console : Console
        Where the lines go.
    rows : list of tuple of str
        ``(name, usable, device, reason)`` per backend.
    record : dict
        The backends' entries of the JSON line.
    auto : Backend or None
        The backend "auto" resolves to, or None.
    auto_problem : str or None
        Why "auto" resolves to nothing.
    """
    auto_text = f"{auto.name} ({auto.device})" if auto is not None else f"unavailable: {auto_problem}"
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
