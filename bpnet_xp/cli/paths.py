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
import zipfile
from typing import Mapping

__all__ = ["same_file", "refuse_overwriting_inputs", "write_path", "file_kind", "describe_kind"]

_SNIFF_BYTES = 4096  # enough of a file's start to tell an archive, an array and text apart


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


def file_kind(path) -> str | None:
    """What a file holds, from its first bytes: the kind an option expects, or another.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str or None
        ``"model"`` (a .npz archive holding ``theta``: a bpnet_xp model), ``"npz"`` (another
        .npz/zip archive), ``"archive"`` (one that cannot be opened: truncated?), ``"npy"``
        (a single NumPy array), ``"binary"`` (NUL bytes or
        not UTF-8), ``"text"``; None when the file cannot be read (the loader then reports
        the missing file in its own words).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return None
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return "archive"  # a damaged one: the loader says what is wrong with it
        return "model" if "theta.npy" in names else "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if b"\0" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multi-byte character cut at the end of the sample
            return "binary"
    return "text"


def describe_kind(kind: str) -> str:
    """The words for a :func:`file_kind` result.

    Parameters
    ----------
    kind : str
        A value :func:`file_kind` returns (not None).

    Returns
    -------
    str
        E.g. "CSV text", "a bpnet_xp model file", "a NumPy .npz archive of arrays".
    """
    return {"model": "a bpnet_xp model file", "npz": "a NumPy .npz archive of arrays",
            "archive": "a damaged zip/.npz archive",
            "npy": "a single NumPy .npy array", "binary": "binary data", "text": "CSV text"}[kind]
