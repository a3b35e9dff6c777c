"""The files a command writes: never one of its inputs, and through a symbolic link to its target.

A command that writes over the file it reads loses that file (``predict --csv
feat.csv --output feat.csv`` would replace the inputs by the predictions), so
every output path is compared with every input path before anything runs; the
comparison resolves symbolic links and, for files that exist, compares the
device and inode, so a hard link or a second spelling of the same path is
caught too.  Atomic writes rename a temporary file over the destination, which
would replace a symbolic link by a plain file: :func:`write_path` hands the
writer the link's target instead, so the link is kept and its target updated.
"""

from __future__ import annotations

import os
from typing import Mapping

__all__ = ["same_file", "refuse_overwriting_inputs", "write_path"]


def same_file(first, second) -> bool:
    """Whether two paths name the same file (symbolic and hard links included).

    Parameters
    ----------
    first, second : str or os.PathLike
        Paths; either may not exist yet.

    Returns
    -------
    bool
        True when both exist and are the same file (same device and inode), or
        when they resolve to the same absolute path.
    """
    first, second = os.fspath(first), os.fspath(second)
    try:
        if os.path.exists(first) and os.path.exists(second):
            return os.path.samefile(first, second)
    except OSError:  # unreadable metadata: fall back on the resolved names
        pass
    return os.path.normcase(os.path.realpath(first)) == os.path.normcase(os.path.realpath(second))


def refuse_overwriting_inputs(option: str, output, inputs: Mapping[str, object], error) -> None:
    """Raise ``error`` when ``output`` is the same file as one of ``inputs``.

    Parameters
    ----------
    option : str
        The output's option, e.g. ``"--output"``, for the message.
    output : str, os.PathLike or None
        The path to be written; None or ``"-"`` (standard output) is never refused.
    inputs : mapping of str to path or None
        What each input is (``"the model"``, ``"--csv"``) -> its path; None entries are skipped.
    error : type
        The exception class to raise (the command's one-line error).
    """
    if output is None or os.fspath(output) == "-":
        return
    for what, path in inputs.items():
        if path is not None and same_file(output, path):
            raise error(f"{option} {os.fspath(output)} is the same file as {what} ({os.fspath(path)}); "
                        "writing it would destroy the input: choose another file name")


def write_path(path) -> str:
    """The file to write for ``path``: the final target of a symbolic link, else ``path`` itself.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        ``os.path.realpath(path)`` when ``path`` is a symbolic link (so an atomic
        rename updates the target and keeps the link), else ``path`` unchanged.
    """
    path = os.fspath(path)
    return os.path.realpath(path) if os.path.islink(path) else path
