"""What a run tells the person watching it: the progress bar and warnings that point at their line."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["Progress", "postfix", "warn_at_caller"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_at_caller(message: str, category=RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside bpnet_xp.

    That is the user's ``fit`` line, however deep inside the package the warning is
    raised (Python 3.12's ``skip_file_prefixes``, by hand).

    Parameters
    ----------
    message : str
        The warning's text.
    category : type of Warning, default RuntimeWarning
        The warning's class.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class Progress:
    """A tqdm bar (a core dependency) when asked for and stderr is a terminal; else nothing.

    Parameters
    ----------
    enabled : bool
        ``fit(progress=...)``; the CLI passes ``not --quiet``.
    total : int
        Epochs or iterations planned.
    unit : str
        "epoch" or "iteration".
    """

    def __init__(self, enabled: bool, total: int, unit: str):
        self.bar = None
        if enabled and getattr(sys.stderr, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm
            except ImportError:  # an installation without its dependencies: no bar, nothing else lost
                return
            self.bar = tqdm(total=total, unit=unit)

    def update(self, loss: float, history=None) -> None:
        """Advance one step, showing ``loss`` and the latest validation metrics of ``history``.

        Parameters
        ----------
        loss : float
            The epoch's (iteration's) training loss.
        history : History, optional
            Its last ``val_loss``/``val_score`` are shown when it has them.
        """
        if self.bar is not None:
            self.bar.set_postfix(postfix(loss, history), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        """Close the bar (nothing without one); the training loop calls it in a ``finally``."""
        if self.bar is not None:
            self.bar.close()


def postfix(loss: float, history=None) -> dict[str, str]:
    """What the bar shows after its count: the loss, and ``val_loss``/``val_score`` when
    ``history`` has validation values (a :class:`bpnet_xp.history.History` or anything with
    those lists).

    Parameters
    ----------
    loss : float
        The training loss.
    history : History, optional
        Its last validation values are added when it has them.

    Returns
    -------
    dict of str to str
        Ordered ``{"loss": ..., "val_loss": ..., "val_score": ...}``, numbers in ``%.6g``/``%.4f``.
    """
    shown = {"loss": f"{float(loss):.6g}"}
    val_loss = getattr(history, "val_loss", None)
    if val_loss:
        shown["val_loss"] = f"{float(val_loss[-1]):.6g}"
        val_score = getattr(history, "val_score", None)
        if val_score:
            shown["val_score"] = f"{float(val_score[-1]):.4f}"
    return shown
