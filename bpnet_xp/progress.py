"""What a run tells the person watching it: the progress bar and warnings that point at their line."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["Progress", "warn_at_caller"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_at_caller(message: str, category=RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside bpnet_xp (the user's
    ``fit`` line), however deep inside the package it is raised (Python 3.12's
    ``skip_file_prefixes``, by hand)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class Progress:
    """A tqdm bar when asked for, stderr is a terminal and tqdm is installed; else nothing."""

    def __init__(self, enabled: bool, total: int, unit: str):
        self.bar = None
        if enabled and getattr(sys.stderr, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit=unit)

    def update(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
