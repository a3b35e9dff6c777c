"""Pictures of a network and its training: inline in a notebook, or written as PNG files.

Four pictures.  Each function draws into ``ax`` (a matplotlib Axes, e.g. from
``pyplot.subplots()``) when given one, else into a new Figure; it returns the Figure
(which a notebook shows inline), or, when given a ``path``, writes the PNG there
atomically (temporary file + rename) and returns the path:

* :func:`plot_loss` — the training loss per epoch/iteration, with the validation
  loss when there is one;
* :func:`plot_digits` — a grid of sample images with their labels (and the
  network's predictions, wrong ones in red);
* :func:`plot_hidden_weights` — the first hidden layer's weights, each hidden
  unit's incoming weights drawn as an image of the input (the classic
  "visualise Theta1" of the digit-recognition exercise);
* :func:`plot_confusion_matrix` — counts of true against predicted classes.

:func:`plot_all` writes whichever of the four apply to a trained network.

Images (the digit grid, hidden weights drawn as images) are drawn only for image
data: an explicit ``image_shape``, or the bundled digits (8 x 8), recognised by
their rows; never for a feature count that merely happens to be a square.

matplotlib is an optional dependency (``pip install 'bpnet_xp[plot]'``).  It is
imported only when a picture is drawn, and only through its object-oriented API
(:class:`matplotlib.figure.Figure` rendered by the Agg canvas): this module never
touches ``pyplot``, never changes the user's matplotlib backend and never opens
a window.  The Figures it creates render themselves as PNG for IPython
(``_repr_png_``), so they show inline without ``pyplot``.
"""

from __future__ import annotations

import functools
import io as _bytes_io
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import OPTIMIZER_NAMES, optimizer_info
from .io import atomic_write
from .metrics import confusion_counts

__all__ = [
    "confusion_matrix",
    "image_shape",
    "bundled_image_shape",
    "plot_loss",
    "plot_digits",
    "plot_hidden_weights",
    "plot_confusion_matrix",
    "plot_all",
]

_DPI = 100


def _figure_class():
    """matplotlib's Figure with ``_repr_png_``, so IPython shows it inline without pyplot."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, which is not installed; install it with: pip install 'bpnet_xp[plot]'"
        ) from None
    return _inline_figure_class(Figure)


@functools.lru_cache(maxsize=2)
def _inline_figure_class(Figure):
    """One subclass per Figure class (so the import above is still tried on every call)."""

    class InlineFigure(Figure):
        """A Figure that renders itself as PNG for a notebook."""

        def _repr_png_(self):
            buffer = _bytes_io.BytesIO()
            self.savefig(buffer, format="png", dpi=_DPI)
            return buffer.getvalue()

    return InlineFigure


def _figure(width: float, height: float, ax=None):
    """``(figure, axes)``: ``ax`` and its Figure when given, else a new Figure and one Axes."""
    if ax is not None:
        return ax.figure, ax
    fig = _figure_class()(figsize=(width, height), dpi=_DPI, layout="constrained")
    return fig, fig.add_subplot()


def _grid(width: float, height: float, rows: int, columns: int, ax=None):
    """``(figure, axes of shape (rows, columns))``: in the place of ``ax`` when given, else a new Figure."""
    if ax is None:
        fig = _figure_class()(figsize=(width, height), dpi=_DPI, layout="constrained")
        return fig, fig.subplots(rows, columns, squeeze=False)
    fig, spec = ax.figure, ax.get_subplotspec()
    ax.remove()
    inner = spec.subgridspec(rows, columns)
    axes = np.empty((rows, columns), dtype=object)
    for i in range(rows):
        for j in range(columns):
            axes[i, j] = fig.add_subplot(inner[i, j])
    return fig, axes


def _finish(fig, path):
    """The Figure itself (no path), or the PNG written atomically at ``path`` and its Path."""
    if path is None:
        return fig
    target = Path(os.fspath(path))
    with atomic_write(target, "wb") as handle:
        # The temporary file has no .png suffix, so name the format.
        fig.savefig(handle, format="png", dpi=_DPI)
    return target


def _host(array: Any) -> np.ndarray:
    """A host NumPy array from NumPy, a sequence, or any backend's array."""
    from .backend import to_numpy

    if isinstance(array, (list, tuple)):
        return np.asarray(array)
    return np.asarray(to_numpy(array))


def image_shape(n_features: int) -> tuple[int, int] | None:
    """``(side, side)`` when ``n_features`` is a perfect square, else None.

    Only arithmetic: a square feature count does not make the data images, so the
    pictures never use this to decide (see :func:`bundled_image_shape`).

    Parameters
    ----------
    n_features : int
        Input features per row.

    Returns
    -------
    tuple of int or None
        ``(side, side)``, or None when ``n_features`` is not a square above 1.
    """
    side = math.isqrt(int(n_features))
    return (side, side) if side > 1 and side * side == n_features else None


@functools.lru_cache(maxsize=1)
def _bundled_digit_rows() -> frozenset:
    from .datasets import load_digits

    X, _ = load_digits()
    return frozenset(row.tobytes() for row in np.asarray(X, dtype=np.float64))


def bundled_image_shape(images) -> tuple[int, int] | None:
    """``(8, 8)`` when every row of ``images`` is an image of the bundled digits, else None.

    Parameters
    ----------
    images : array, shape (m, n_features)
        Raw (unscaled) input rows.

    Returns
    -------
    tuple of int or None
    """
    X = _host(images)
    if X.ndim != 2 or X.shape[1] != 64 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
        return None
    known = _bundled_digit_rows()
    rows = np.asarray(X, dtype=np.float64)
    return (8, 8) if all(row.tobytes() in known for row in rows) else None


def _resolve_shape(n_features: int, shape, images=None) -> tuple[int, int]:
    if shape is None:
        shape = None if images is None else bundled_image_shape(images)
        if shape is None:
            raise ValueError(
                f"are these {n_features} input features images? pass image_shape=(rows, columns) "
                "(only the bundled digits are recognised as images without it)"
            )
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or shape[0] * shape[1] != n_features:
        raise ValueError(f"image_shape {shape} does not hold {n_features} features")
    return shape


# ---------------------------------------------------------------------------------------
# Metrics needed by the pictures.


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j (:func:`bpnet_xp.metrics.confusion_counts`).

    Parameters
    ----------
    y_true, y_pred : array, shape (m,)
        Class indices 0..K-1 (NumPy or any backend).
    n_classes : int, optional
        K; default one more than the largest index seen.

    Returns
    -------
    ndarray of int64, shape (K, K)
    """
    return confusion_counts(y_true, y_pred, n_classes)


# ---------------------------------------------------------------------------------------
# The pictures.


def plot_loss(history, path=None, *, ax=None, title: str | None = None, validation_label: str = "validation",
              log_scale: bool | None = None):
    """The training (and validation) loss per epoch or iteration.

    Parameters
    ----------
    history : History or dict
        With ``loss`` (list of float), optionally ``val_loss`` and ``optimizer``.
    path : str or os.PathLike, optional
        The PNG to write; without it the Figure is returned (shown inline in a notebook).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (its Figure is returned) instead of a new Figure.
    title : str, optional
    validation_label : str
        Legend entry of the validation curve.
    log_scale : bool, optional
        Logarithmic loss axis; default when the loss spans more than a factor of 20.

    Returns
    -------
    matplotlib.figure.Figure, or pathlib.Path when ``path`` is given
    """
    get = history.get if isinstance(history, dict) else (lambda key, default=None: getattr(history, key, default))
    loss = np.asarray(get("loss", []) or [], dtype=np.float64)
    val = np.asarray(get("val_loss", []) or [], dtype=np.float64)
    if loss.size == 0:
        raise ValueError("the history has no loss values to plot")
    optimizer = get("optimizer", "") or ""
    unit = optimizer_info(optimizer).unit if optimizer in OPTIMIZER_NAMES else "epoch"
    finite = np.concatenate([loss, val])
    finite = finite[np.isfinite(finite)]
    if log_scale is None:
        log_scale = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 20)

    fig, ax = _figure(6.4, 4.0, ax)
    steps = np.arange(1, loss.size + 1)
    ax.plot(steps, loss, color="tab:blue", lw=2, label=f"training (final {loss[-1]:.4g})")
    if val.size:
        ax.plot(np.arange(1, val.size + 1), val, color="tab:orange", lw=2,
                label=f"{validation_label} (final {val[-1]:.4g})")
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel("loss J (L2 penalty included)")
    ax.set_xlim(1, max(2, loss.size))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title(title or (f"Training loss ({optimizer})" if optimizer else "Training loss"))
    return _finish(fig, path)


def plot_digits(images, path=None, *, ax=None, labels=None, predictions=None, classes=None, image_shape=None,
                n: int = 40, columns: int = 10, title: str | None = None):
    """A grid of sample images, titled with their labels (and predictions).

    Parameters
    ----------
    images : array, shape (m, n_features)
        Raw pixel rows (e.g. the digits' 0..16 grey levels), row-major images.
    path : str or os.PathLike, optional
        The PNG to write; without it the Figure is returned.
    ax : matplotlib.axes.Axes, optional
        The grid takes this Axes' place in its Figure.
    labels : array, shape (m,), optional
        True labels (class indices when ``classes`` is given, else shown as they are).
    predictions : array, shape (m,), optional
        Predicted labels in the same encoding; wrong predictions are drawn in red
        as ``predicted (true)``.
    classes : sequence, optional
        Label values that class indices stand for.
    image_shape : (rows, columns), optional
        Required unless the images are the bundled digits (8 x 8).
    n : int
        How many of the first rows to draw.
    columns : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure, or pathlib.Path when ``path`` is given
    """
    X = _host(images).astype(np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"images must be a non-empty 2-D array (m, n_features), got shape {X.shape}")
    shape = _resolve_shape(X.shape[1], image_shape, X)
    count = min(int(n), X.shape[0])
    columns = max(1, min(int(columns), count))
    rows = -(-count // columns)
    names = None if classes is None else list(_host(classes))

    def show(value):
        return str(names[int(value)]) if names is not None else (
            str(int(value)) if float(value).is_integer() else f"{value:g}")

    truth = None if labels is None else _host(labels).reshape(-1)
    guess = None if predictions is None else _host(predictions).reshape(-1)
    lo, hi = float(X.min()), float(X.max())
    fig, axes = _grid(0.85 * columns + 0.2, 0.95 * rows + (0.45 if title else 0.2), rows, columns, ax)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        ax.imshow(X[index].reshape(shape), cmap="gray_r", vmin=lo, vmax=hi, interpolation="nearest")
        if truth is not None and guess is not None:
            wrong = guess[index] != truth[index]
            text = f"{show(guess[index])} ({show(truth[index])})" if wrong else show(guess[index])
            ax.set_title(text, fontsize=10, color="tab:red" if wrong else "black")
        elif truth is not None or guess is not None:
            ax.set_title(show((truth if truth is not None else guess)[index]), fontsize=10)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_hidden_weights(net, path=None, *, ax=None, image_shape=None, max_units: int = 100,
                        title: str | None = None):
    """The first hidden layer's weights, one image per hidden unit.

    Hidden unit j computes ``g(x . W1[:, j] + b1[j])``: its incoming weights
    ``W1[:, j]`` live in input space, so for image inputs they can be drawn as an
    image showing which pixels excite (red) or inhibit (blue) the unit.  Each
    unit gets its own symmetric colour range, so the pattern, not the magnitude,
    is visible (as in the classic ``displayData(Theta1)``).

    Parameters
    ----------
    net : MLP
        With at least one hidden layer and image inputs.
    path : str or os.PathLike, optional
        The PNG to write; without it the Figure is returned.
    ax : matplotlib.axes.Axes, optional
        The grid takes this Axes' place in its Figure.
    image_shape : (rows, columns)
        The inputs' image shape (``(8, 8)`` for the bundled digits); required.
    max_units : int
        Draw at most this many hidden units.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure, or pathlib.Path when ``path`` is given
    """
    if len(net.layer_sizes) < 3:
        raise ValueError("the network has no hidden layer, so there are no hidden-unit weights to draw")
    shape = _resolve_shape(net.n_inputs, image_shape)
    W = _host(net.weights[0][0]).astype(np.float64)  # (n_inputs, n_hidden)
    units = min(W.shape[1], int(max_units))
    columns = math.ceil(math.sqrt(units))
    rows = -(-units // columns)
    fig, axes = _grid(1.1 * columns + 0.3, 1.1 * rows + 0.6, rows, columns, ax)
    for j, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if j >= units:
            continue
        w = W[:, j].reshape(shape)
        bound = float(np.max(np.abs(w))) or 1.0
        ax.imshow(w, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(f"unit {j + 1}", fontsize=8)
    sizes = "-".join(str(s) for s in net.layer_sizes)
    fig.suptitle(title or f"First-layer weights of the {sizes} network (red +, blue -)")
    return _finish(fig, path)


def plot_confusion_matrix(matrix, path=None, *, ax=None, labels: Sequence | None = None, title: str | None = None):
    """A confusion matrix as a heat map with the counts written in the cells.

    Parameters
    ----------
    matrix : array, shape (K, K)
        ``matrix[i, j]``: samples of true class i predicted as class j (see
        :func:`confusion_matrix`).
    path : str or os.PathLike, optional
        The PNG to write; without it the Figure is returned.
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes instead of a new Figure.
    labels : sequence of K labels, optional
    title : str, optional
        Default: "Confusion matrix (accuracy ...)".

    Returns
    -------
    matplotlib.figure.Figure, or pathlib.Path when ``path`` is given
    """
    C = _host(matrix)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"matrix must be square (K, K), got shape {C.shape}")
    k = C.shape[0]
    names = [str(v) for v in (labels if labels is not None else range(k))]
    if len(names) != k:
        raise ValueError(f"{len(names)} labels for a {k}x{k} matrix")
    total = C.sum()
    accuracy = np.trace(C) / total if total else float("nan")
    size = min(10.0, max(3.5, 0.55 * k + 1.8))
    fig, ax = _figure(size, size, ax)
    # Correct predictions (the diagonal) in blue, mistakes in red, each on its own scale:
    # on one shared scale a handful of mistakes next to hundreds of hits would be invisible.
    diagonal = np.eye(k, dtype=bool)
    hits = np.ma.masked_where(~diagonal, C)
    misses = np.ma.masked_where(diagonal | (C == 0), C)
    ax.imshow(np.zeros_like(C, dtype=float), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(hits, cmap="Blues", vmin=0, vmax=max(1, C[diagonal].max()) * 1.1, interpolation="nearest")
    if misses.count():
        ax.imshow(misses, cmap="Reds", vmin=0, vmax=max(1, misses.max()) * 1.6, interpolation="nearest")
    fontsize = 10 if k <= 12 else 7
    diagonal_max = C[diagonal].max() if k else 0
    for i in range(k):
        for j in range(k):
            if C[i, j] or i == j:
                dark = i == j and C[i, j] > 0.55 * diagonal_max
                ax.text(j, i, f"{C[i, j]:g}", ha="center", va="center", fontsize=fontsize,
                        color="white" if dark else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"Confusion matrix: accuracy {100 * accuracy:.2f} % of {int(total)} samples\n"
                          "(blue: correct, red: mistakes)")
    return _finish(fig, path)


_GRID = 40  # images in the plot_all digit grid: 4 rows of 10


def _sample_rows(labels, predictions, n: int, m: int) -> np.ndarray:
    """Rows for the sample grid: the first n, but with up to n/4 of the mistakes swapped in.

    A grid of only correct predictions says little; a few mistakes show what the
    network confuses.  Rows stay in their original order.
    """
    if labels is None or predictions is None:
        return np.arange(min(n, m))
    truth, guess = _host(labels).reshape(-1), _host(predictions).reshape(-1)
    wrong = np.flatnonzero(guess != truth)[: n // 4]
    right = np.setdiff1d(np.arange(m), wrong)[: max(0, n - wrong.size)]
    return np.sort(np.concatenate([wrong, right]))[:n]


def plot_all(directory, net, *, history=None, images=None, labels=None, predictions=None,
             validation_label: str = "validation", image_shape=None) -> dict[str, Path]:
    """Write every picture that applies to ``net`` into ``directory``.

    ``loss.png`` (when ``history`` has losses), ``digits.png`` (when ``images``
    are images: ``image_shape`` is given, or they are the bundled digits),
    ``hidden_weights.png`` (when the network has a hidden layer and image inputs) and ``confusion_matrix.png``
    (classifiers, when ``labels`` and ``predictions`` are given).

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing.
    net : MLP
    history : History, optional
    images : array, shape (m, n_inputs), optional
        Raw (unscaled) input rows to draw.
    labels, predictions : array, shape (m,), optional
        Class indices 0..K-1 of ``images``.
    validation_label : str
        Legend entry of the validation loss curve.
    image_shape : (rows, columns), optional
        The inputs' image shape; without it only the bundled digits are drawn as images.

    Returns
    -------
    dict
        ``{name: path}`` of the pictures written, in the order above.
    """
    out = Path(os.fspath(directory))
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    classes = getattr(net, "classes", None)
    if history is not None and list(getattr(history, "loss", []) or []):
        sizes = "-".join(str(n) for n in net.layer_sizes)
        optimizer = getattr(history, "optimizer", "") or ""
        written["loss"] = plot_loss(history, out / "loss.png", validation_label=validation_label,
                                    title=f"Loss of the {sizes} network" + (f" ({optimizer})" if optimizer else ""))
    shape = image_shape if image_shape is not None else (
        None if images is None else bundled_image_shape(images))
    if images is not None and shape is not None:
        images = _host(images)
        rows = _sample_rows(labels, predictions, _GRID, images.shape[0])
        pick = (lambda a: None if a is None else _host(a)[rows])
        title = ("Sample digits: predicted label (wrong ones in red, true label in brackets)"
                 if labels is not None and predictions is not None else None)
        written["digits"] = plot_digits(images[rows], out / "digits.png", labels=pick(labels),
                                        predictions=pick(predictions), classes=classes, image_shape=shape,
                                        n=_GRID, title=title)
    if len(net.layer_sizes) >= 3 and shape is not None:
        written["hidden_weights"] = plot_hidden_weights(net, out / "hidden_weights.png", image_shape=shape)
    if net.is_classifier and labels is not None and predictions is not None:
        k = max(net.n_outputs, 2)
        names = list(_host(classes)) if classes is not None else None
        written["confusion_matrix"] = plot_confusion_matrix(
            confusion_matrix(labels, predictions, k), out / "confusion_matrix.png", labels=names)
    return written
