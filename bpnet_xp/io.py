"""The model file: ``.npz`` arrays plus JSON metadata, written atomically, read with checks.

An ordinary ``numpy.load(path, allow_pickle=False)`` archive (nothing pickled):
``theta`` (host, the network's dtype: bit-identical round trips, any backend),
optional ``scaler_mean``/``scaler_scale`` and ``classes``, and ``metadata`` (UTF-8
JSON: format and version, layers, activation, output, loss, l2, dtype, init, seed,
backend, device, the DataFrame column names ``feature_names`` (issue 13), user
metadata).  Writes go to a temporary file that is fsync-ed and renamed over the target.
:func:`read_model` checks every entry against the others; ``bpnet_xp.load`` (in
:mod:`bpnet_xp.model`) builds the network.  See docs/saving.md.
"""

from __future__ import annotations

import contextlib

import json
import math
import os
import signal
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, NamedTuple

try:
    import fcntl  # the writer's lock on its temporary file
except ImportError:  # pragma: no cover - Windows: the pid in the name decides
    fcntl = None

import numpy as np

from . import backend as _backend
from .preprocessing import StandardScaler
from .version import __version__

__all__ = ["save", "read_model", "SavedModel", "read_metadata", "atomic_write", "FORMAT_NAME", "FORMAT_VERSION"]

#: The ``format`` value every bpnet_xp model file carries.
FORMAT_NAME = "bpnet_xp.MLP"
#: The newest file format this version reads and the one it writes.  ``feature_names`` (issue 13)
#: is an optional key, absent from older files (read as None) and ignored by older loaders,
#: which check only the keys they know: it needs no new version, which those loaders would refuse.
FORMAT_VERSION = 1

_METADATA_KEY = "metadata"
#: The largest metadata (UTF-8 JSON bytes) and the deepest nesting written or read.
MAX_METADATA_BYTES = 1 << 20
MAX_METADATA_DEPTH = 32
#: The longest feature (column) name written or read, in characters.
MAX_FEATURE_NAME_CHARS = 1024
# A temporary file of a writer that died without its pid (older versions) is removed
# by the next save only after this many seconds (it may belong to a live writer).
_STALE_SECONDS = 3600
_REQUIRED_METADATA = {
    "format": str,
    "format_version": int,
    "layer_sizes": list,
    "activation": str,
    "output": str,
    "loss": str,
    "l2": (int, float),
    "dtype": str,
    "has_scaler": bool,
}


# ---------------------------------------------------------------------------------------
# Atomic writes (also used by plotting and the command-line tool).


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_options) -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success, rename it over ``path``.

    The temporary file lives in the same directory (so the final
    :func:`os.replace` is an atomic rename on the same file system), is flushed
    and ``fsync``-ed before the rename, and gets the permissions a newly created
    file would (``0o666`` minus the umask) or those of the file it replaces.  If
    the body raises anything (including ``KeyboardInterrupt``) the temporary file
    is removed and ``path`` is left exactly as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)place; a symbolic link is followed (its target is replaced,
        the link kept).
    mode : {"wb", "w"}
        Binary or text.
    **open_options
        Passed to :func:`os.fdopen` (``encoding``, ``newline`` for text).

    Yields
    ------
    file object
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(os.fspath(path))
    if target.is_symlink():
        # Replace the file the link names, and keep the link: os.replace on the link's own
        # name would put a regular file in its place and leave the old target stale.
        target = Path(os.path.realpath(target))
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {str(target)!r}: directory {str(directory)!r} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {str(target)!r}: it is a directory")
    _remove_stale_temporaries(directory, target.name)
    # The writer's pid in the name says, at the next save, whether its writer is gone.
    with _signals_deferred() as guard:
        # The guard is disarmed while the file is created and locked: a signal then waits and
        # acts inside the block that removes the file (guard.arm() there).
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
        if guard is not None:
            guard.temporary = Path(tmp_name)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed: "a writer is alive"
        yield from _write_and_replace(fd, Path(tmp_name), target, mode, open_options, guard)
        _fsync_directory(directory)  # still guarded (disarmed): a signal cannot leak its descriptor


class _Terminated(BaseException):
    """A terminating signal whose default handler did not end the process."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# The signals a save defers and turns into exceptions (SIGINT is Ctrl-C).
_GUARDED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name))


class _SignalGuard:
    """Lets SIGTERM and SIGINT act only while armed, and removes the temporary file itself
    before they do.

    Armed, a signal whose previous handler is not a Python function (SIGTERM's default)
    removes the file and is delivered to that handler at once (by default the process ends,
    as it would have without the guard); one with a Python handler (SIGINT's raises
    KeyboardInterrupt) runs it, and if it raises, the file is removed and the handlers are
    restored before the exception leaves.  So wherever the signal lands (even in a context
    manager's ``__enter__``, where no cleanup of the body can catch it), nothing half-written
    stays.  Disarmed (creating the file, restoring the handlers), a signal waits and acts once
    it can.
    """

    def __init__(self, previous: dict):
        self.previous = previous  # signum -> the handler to restore
        self.installed: list[int] = []
        self.temporary: Path | None = None
        self.armed = False
        self.pending: list[int] = []
        self.raised: BaseException | None = None  # what a handler raised, which a library's
        # own clean-up may replace on its way out (zipfile raises ValueError when closed
        # with a member still open): the guard's owner raises this one instead

    def install(self) -> None:
        for signum in self.previous:
            self.installed.append(signum)  # first: a signal during signal.signal restores it
            signal.signal(signum, self.handler)

    def restore(self, deliver: bool = True) -> None:
        """Put the previous handlers back and deliver the signals that waited.

        A handler is put back only where the guard's own is still in place: one set since
        (the program's, or an inner save's guard) is left alone, and the guard tries again
        at its next call (an inner guard, once restored, puts this one's handler back).
        """
        self.armed = False
        # Those that cannot raise first: once a Python handler is back, its signal may raise
        # at any statement.
        order = sorted(self.installed, key=lambda signum: callable(self.previous[signum]))
        try:
            for signum in order:
                self._put_back(signum)
        finally:
            for signum in order:  # a handler put back first raised: the others still go back
                self._put_back(signum)
        while deliver and self.pending:
            signal.raise_signal(self.pending.pop(0))

    def _put_back(self, signum: int) -> None:
        if signum in self.installed and signal.getsignal(signum) == self.handler:
            signal.signal(signum, self.previous[signum])
            self.installed.remove(signum)

    def handler(self, signum, frame):
        if self.armed:
            self._act(signum, frame)
        else:
            self.pending.append(signum)

    def _remove_temporary(self) -> None:
        with contextlib.suppress(OSError):  # already renamed or removed; or open (Windows)
            if self.temporary is not None:
                os.unlink(self.temporary)

    def _act(self, signum, frame) -> None:
        self.armed = False  # a second signal waits until the cleanup is done
        previous = self.previous[signum]
        if not callable(previous):
            self._remove_temporary()
            self.restore(deliver=False)  # a waiting SIGINT's KeyboardInterrupt must not stop this
            signal.raise_signal(signum)  # the process ends here, as without the guard
            raise _Terminated(signum)  # pragma: no cover - a default that did not end it
        try:
            previous(signum, frame)
        except BaseException as exc:
            self._remove_temporary()
            self.raised = exc
            self.restore()  # nothing is left to protect, and the exception may be kept
            raise
        self.armed = True  # the program's own handler returned: the save goes on

    def arm(self) -> None:
        """From here on a signal acts; one that waited acts now."""
        self.armed = True
        while self.pending and self.armed:
            self._act(self.pending.pop(0), None)

    def disarm(self) -> None:
        self.armed = False


@contextlib.contextmanager
def _signals_deferred():
    """While the body runs, SIGTERM and SIGINT act only where the guard is armed (see
    :class:`_SignalGuard`); afterwards the handlers that were there before are restored and a
    signal that waited is delivered to them.  Yields the guard (None where handlers cannot be
    set)."""
    if threading.current_thread() is not threading.main_thread():
        yield None  # handlers can only be set from the main thread
        return
    # An ignored signal stays ignored, and one whose handler is not Python's (set by C code)
    # is left alone: it could not be restored.
    previous = {signum: signal.getsignal(signum) for signum in _GUARDED_SIGNALS}
    guard = _SignalGuard({signum: h for signum, h in previous.items() if h is not None and h != signal.SIG_IGN})
    try:
        guard.install()
        yield guard
    except BaseException as exc:
        if guard.raised is None or exc is guard.raised or isinstance(exc, GeneratorExit):
            raise
        raise guard.raised from None
    finally:
        guard.restore()


def _unlocked(path: str) -> bool | None:
    """Whether no process holds the writer's lock on ``path`` (None where flock is missing).

    A lock dies with its process, even under kill -9, and cannot be fooled by a reused pid.
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _writer_gone(pid_text: str, mtime: float, path: str = "") -> bool:
    unlocked = _unlocked(path) if path else None
    if unlocked is not None:
        return unlocked
    if not pid_text.isdigit():
        return time.time() - mtime > _STALE_SECONDS
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's process
    return False


def _remove_stale_temporaries(directory: Path, name: str) -> None:
    """Remove temporary files of ``name`` left by writers that were killed (kill -9)."""
    prefix = f".{name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            pid_text = entry.name[len(prefix):-len(".tmp")].split(".")[0]
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and _writer_gone(pid_text, entry.stat().st_mtime, entry.path):
                    os.unlink(entry.path)


def _write_and_replace(fd: int, tmp: Path, target: Path, mode: str, open_options: dict, guard=None):
    """The body of :func:`atomic_write`: a generator that yields the open file once."""
    taken = False  # whether the file object owns the descriptor (and closes it, even on failure)

    def take_descriptor(name, flags):
        # open() calls this once it has checked its arguments; from then on the descriptor
        # is the file object's, closed by it even where open() itself fails (a bad encoding)
        # or an interrupt lands before its result is bound.  Closing it again here would
        # raise EBADF in place of the real error, or close another file's descriptor.
        nonlocal taken
        taken = True
        return fd

    try:
        if guard is not None:
            guard.arm()  # a signal that waited acts here, inside the cleanup
        try:
            permissions = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            permissions = 0o666 & ~_umask()
        os.chmod(tmp, permissions)
        with open(tmp, mode, opener=take_descriptor, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        if guard is not None:
            # Disarmed inside this try: a signal from here on waits and is delivered by the
            # guard's owner; one that came just before is still caught below.  Left armed, a
            # signal landing in the context managers' exits would escape as an exception.
            guard.disarm()
    except BaseException:
        # The temporary file first: nothing below may stop its removal.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if not taken:
            os.close(fd)
        raise


def _fsync_directory(directory: Path) -> None:
    # Make the rename itself durable; not every platform can open a directory.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------------------
# Save.


def _json_seed(seed: Any) -> int | None:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    return None  # None, or a Generator, whose state is not worth persisting


def _host_classes(classes: Any) -> np.ndarray:
    arr = np.asarray(_backend.to_numpy(classes) if not isinstance(classes, (list, tuple)) else classes)
    if arr.ndim != 1:
        raise ValueError(f"net.classes must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        # Object arrays would need pickle; labels read from text are strings anyway.
        if not all(isinstance(c, str) for c in arr):
            raise ValueError("net.classes holds Python objects that are not strings; use numbers or strings")
        arr = arr.astype(str)
    if arr.dtype.kind not in "biufU":
        raise ValueError(f"net.classes must hold numbers or strings, got dtype {arr.dtype}")
    return arr


def _json_feature_names(names: Any) -> list | None:
    """``net.feature_names_in_`` as a JSON list (checked by :func:`_check_feature_names`)."""
    if names is None:
        return None
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise ValueError(f"net.feature_names_in_ must be a list of strings, got {type(names).__name__}")
    return list(names.tolist() if isinstance(names, np.ndarray) else names)


def save(net, path, *, metadata: dict | None = None) -> None:
    """Save a network to ``path`` as ``.npz`` arrays plus JSON metadata, atomically.

    Parameters
    ----------
    net : MLP
        Any backend; its parameters are copied to the host.
    path : str or os.PathLike
        Written exactly as given (no ``.npz`` is appended).
    metadata : dict, optional
        Extra JSON-serialisable information stored under the ``"user"`` key of the
        metadata (see :func:`read_metadata`).

    Raises
    ------
    ValueError
        If ``metadata`` is not JSON-serialisable or the classes/scaler are malformed.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    theta = np.ascontiguousarray(net.backend.to_numpy(net.theta))
    arrays: dict[str, np.ndarray] = {"theta": theta}
    scaler = getattr(net, "scaler", None)
    if scaler is not None:
        mean = np.asarray(scaler.mean_, dtype=np.float64)
        scale = np.asarray(scaler.scale_, dtype=np.float64)
        if mean.shape != (net.n_inputs,) or scale.shape != (net.n_inputs,):
            raise ValueError(
                f"net.scaler has statistics of shape {mean.shape}/{scale.shape} but the network has "
                f"{net.n_inputs} inputs"
            )
        arrays["scaler_mean"], arrays["scaler_scale"] = mean, scale
    classes = getattr(net, "classes", None)
    if classes is not None:
        arrays["classes"] = _host_classes(classes)

    init = net.init if isinstance(net.init, str) else None
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "layer_sizes": [int(n) for n in net.layer_sizes],
        "activation": net.activation,
        "output": net.output,
        "loss": net.loss_name,
        "l2": float(net.l2),
        "dtype": net.dtype,
        "init": init,
        "seed": _json_seed(net.seed),
        "backend": net.backend.name,
        "device": str(net.backend.device),
        "has_scaler": scaler is not None,
        "classes_dtype": None if classes is None else arrays["classes"].dtype.str,
        "feature_names": _json_feature_names(getattr(net, "feature_names_in_", None)),
        "user": metadata or {},
    }
    name = os.fspath(path)
    try:
        text = json.dumps(meta, allow_nan=False)
    except RecursionError:
        raise ValueError(f"metadata for {name!r} is nested too deeply (at most {MAX_METADATA_DEPTH} levels)") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata for {name!r} is not JSON-serialisable: {exc}") from None
    arrays[_METADATA_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # The checks load() runs, run before anything is written: save() never replaces a
    # good model with a file that load() would refuse.
    n_classes = max(net.n_outputs, 2) if getattr(net, "is_classifier", False) else None
    try:
        _check_contents(name, arrays, n_classes)
    except ValueError as exc:
        raise ValueError(f"cannot save to {name!r}: load() would refuse the file: {exc}") from None

    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


# ---------------------------------------------------------------------------------------
# Load.


def _read_arrays(path) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, read eagerly; clear errors for bad files."""
    name = os.fspath(path)
    p = Path(name)
    if not p.exists():
        raise FileNotFoundError(f"model file {name!r} does not exist")
    if p.is_dir():
        raise ValueError(f"{name!r} is a directory, not a model file")
    try:
        with open(p, "rb") as handle:
            head = handle.read(4)
            if head != b"PK\x03\x04":
                what = "an empty file" if not head else (
                    "a single .npy array" if head.startswith(b"\x93NUM") else "not a zip/.npz archive")
                raise ValueError(f"{name!r} is not a bpnet_xp model file: {what}")
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                return _read_members(name, archive)
    except PermissionError:
        raise
    except ValueError as exc:
        if str(exc).startswith(repr(name)):
            raise
        # numpy's own complaints: pickled (object) members, malformed .npy headers
        raise ValueError(f"{name!r} is not a readable bpnet_xp model file: {exc}") from None
    except Exception as exc:
        # zipfile.BadZipFile (bad CRC, truncated central directory), EOFError, zlib.error, ...
        raise ValueError(
            f"{name!r} is corrupt or truncated ({type(exc).__name__}: {exc}); save the model again"
        ) from None


def _member_header(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """(shape, dtype) from a member's .npy header, checked against the bytes stored."""
    key = info.filename[:-4]
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
    except (ValueError, TypeError, AttributeError, KeyError, SyntaxError) as exc:
        # numpy's complaints about the header; a bad zip (CRC, truncation) is reported by
        # the caller as a corrupt file.
        raise ValueError(f"{name!r} is not a readable bpnet_xp model file: entry {key!r} is not a .npy "
                         f"array ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{name!r} is not a readable bpnet_xp model file: entry {key!r} holds Python "
                         "objects, which would need pickle")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise ValueError(f"{name!r} is corrupt: entry {key!r} claims shape {shape} ({dtype}), more than "
                         f"the {info.file_size} bytes it stores")
    return shape, dtype


def _expected_shapes(meta: dict) -> dict:
    sizes = meta["layer_sizes"]
    return {"theta": (_n_parameters(sizes),), "scaler_mean": (sizes[0],), "scaler_scale": (sizes[0],)}


def _read_members(name: str, archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The members of the archive, each read only after its size was checked against
    the metadata: a file whose metadata or headers claim huge arrays allocates nothing."""
    infos = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
    headers = {key: _member_header(name, archive, info) for key, info in infos.items()}
    arrays: dict[str, np.ndarray] = {}
    if _METADATA_KEY in infos:
        if infos[_METADATA_KEY].file_size > MAX_METADATA_BYTES + 1024:
            raise ValueError(f"{name!r} has metadata of {infos[_METADATA_KEY].file_size} bytes, more than "
                             f"the {MAX_METADATA_BYTES} a model file may hold")
        arrays[_METADATA_KEY] = _read_member(archive, infos[_METADATA_KEY])
        meta = _parse_metadata(name, arrays)
        for key, shape in _expected_shapes(meta).items():
            if key in headers and tuple(headers[key][0]) != shape:
                raise ValueError(f"{name!r} is inconsistent: {key!r} has shape {tuple(headers[key][0])}, "
                                 f"but the metadata's layers {meta['layer_sizes']} need {shape}")
    for key, info in infos.items():
        if key not in arrays:
            arrays[key] = _read_member(archive, info)
    return arrays


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _json_depth(value, limit: int) -> int:
    """Nesting depth of parsed JSON, walked without recursion, stopping past ``limit``."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item)]
    return depth


def _parse_metadata(name: str, arrays: dict[str, np.ndarray]) -> dict:
    if _METADATA_KEY not in arrays:
        raise ValueError(f"{name!r} is not a bpnet_xp model file: it has no 'metadata' entry")
    raw = arrays[_METADATA_KEY]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{name!r} has a malformed 'metadata' entry (dtype {raw.dtype}, shape {raw.shape})")
    if raw.size > MAX_METADATA_BYTES:
        raise ValueError(f"{name!r} has metadata of {raw.size} bytes, more than the {MAX_METADATA_BYTES} "
                         "a model file may hold")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{name!r} has malformed metadata: nested more than {MAX_METADATA_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{name!r} has unreadable metadata: {exc}") from None
    if _json_depth(meta, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise ValueError(f"{name!r} has malformed metadata: nested more than {MAX_METADATA_DEPTH} levels")
    if not isinstance(meta, dict):
        raise ValueError(f"{name!r} has malformed metadata: a JSON object was expected")
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{name!r} is not a bpnet_xp model file (format {meta.get('format')!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{name!r} has a malformed format version {version!r}")
    if version > FORMAT_VERSION:
        written_by = meta.get("library_version", "a newer version")
        raise ValueError(
            f"{name!r} uses model format version {version}, written by bpnet_xp {written_by}; this bpnet_xp "
            f"reads format versions up to {FORMAT_VERSION}: upgrade bpnet_xp to load it"
        )
    for key, kind in _REQUIRED_METADATA.items():
        if key not in meta:
            raise ValueError(f"{name!r} has incomplete metadata: {key!r} is missing")
        value = meta[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{name!r} has malformed metadata: {key!r} is {value!r}")
    sizes = meta["layer_sizes"]
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise ValueError(f"{name!r} has malformed metadata: layer_sizes is {sizes!r}")
    if meta["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{name!r} has malformed metadata: dtype is {meta['dtype']!r}")
    _check_feature_names(name, meta.get("feature_names"), sizes[0])
    return meta


def _check_feature_names(name: str, names: Any, n_inputs: int) -> None:
    """None, or exactly ``n_inputs`` strings of at most MAX_FEATURE_NAME_CHARS characters each."""
    if names is None:
        return
    if not isinstance(names, list):
        raise ValueError(f"{name!r} has malformed metadata: feature_names must be a list of strings or null, "
                         f"got {type(names).__name__}")
    if len(names) != n_inputs:
        raise ValueError(f"{name!r} is inconsistent: feature_names has {len(names)} names but the network "
                         f"has {n_inputs} inputs")
    for i, feature in enumerate(names):
        if not isinstance(feature, str):
            raise ValueError(f"{name!r} has malformed metadata: feature_names[{i}] is {feature!r}, not a string")
        if len(feature) > MAX_FEATURE_NAME_CHARS:
            raise ValueError(f"{name!r} has malformed metadata: feature_names[{i}] has {len(feature)} characters, "
                             f"more than the {MAX_FEATURE_NAME_CHARS} a feature name may have")


def read_metadata(path) -> dict:
    """The JSON metadata of a saved model, checked, without building the network.

    Parameters
    ----------
    path : str or os.PathLike
        A model file written by :func:`save`.

    Returns
    -------
    dict
        Keys ``format``, ``format_version``, ``library_version``, ``layer_sizes``,
        ``activation``, ``output``, ``loss``, ``l2``, ``dtype``, ``init``, ``seed``,
        ``backend``, ``device`` (what it was trained on), ``has_scaler``,
        ``classes_dtype``, ``feature_names`` (the DataFrame column names the network was
        fitted on, or None; absent from files of older versions) and ``user`` (the extra
        metadata given to :func:`save`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a bpnet_xp model, is corrupt or truncated, or has malformed
        metadata or a newer format version.
    """
    name = os.fspath(path)
    return _parse_metadata(name, _read_arrays(path))


class SavedModel(NamedTuple):
    """A model file's contents, checked against each other: what :func:`read_model` returns.

    Attributes
    ----------
    metadata : dict
        The checked JSON metadata (the keys of :func:`read_metadata`).
    theta : numpy.ndarray, shape (n_parameters,)
        The flat parameters on the host, finite, in the stored floating dtype.
    scaler : bpnet_xp.preprocessing.StandardScaler or None
        The fitted input scaler, or None when the model was saved without one.
    classes : numpy.ndarray, shape (n_classes,), or None
        The class labels of a classifier, in the stored dtype; None for regression.
    """

    metadata: dict
    theta: np.ndarray
    scaler: Any
    classes: Any


def _n_parameters(layer_sizes) -> int:
    return sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def _check_theta(name: str, arrays: dict, meta: dict) -> np.ndarray:
    if "theta" not in arrays:
        raise ValueError(f"{name!r} is incomplete: it has no 'theta' entry")
    theta = arrays["theta"]
    # Checked against the layer sizes before anything is built: a file whose metadata
    # claims huge layers is refused without allocating them.
    n = _n_parameters(meta["layer_sizes"])
    if theta.dtype.kind != "f" or theta.shape != (n,):
        raise ValueError(
            f"{name!r} is inconsistent: 'theta' has dtype {theta.dtype} and shape {theta.shape}, but layers "
            f"{meta['layer_sizes']} need {n} floating-point parameters"
        )
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name!r} is corrupt: 'theta' contains NaN or infinite values")
    return theta


def _restore_classes(name: str, arrays: dict, meta: dict, n_classes: int | None):
    if meta.get("classes_dtype") is None:
        return None
    if "classes" not in arrays:
        raise ValueError(f"{name!r} is incomplete: its metadata lists classes but it has no 'classes' entry")
    classes = arrays["classes"]
    try:
        expected_dtype = np.dtype(meta["classes_dtype"])
    except TypeError:
        raise ValueError(f"{name!r} has malformed metadata: classes_dtype is {meta['classes_dtype']!r}") from None
    if classes.ndim != 1 or (n_classes is not None and classes.shape[0] != n_classes):
        raise ValueError(
            f"{name!r} is inconsistent: 'classes' has shape {classes.shape} but the network has "
            f"{n_classes} classes"
        )
    if classes.dtype != expected_dtype:
        raise ValueError(
            f"{name!r} is inconsistent: 'classes' has dtype {classes.dtype}, its metadata says "
            f"{meta['classes_dtype']}"
        )
    return classes


def read_model(path, n_classes=None) -> SavedModel:
    """Read and check a model file without building the network.

    Parameters
    ----------
    path : str or os.PathLike
    n_classes : callable, optional
        ``n_classes(metadata) -> int or None``: how many classes the described network
        has (None for regression), to check the stored classes against.

    Returns
    -------
    SavedModel
        ``theta`` of shape (n_parameters,) on the host, the scaler and classes (or None).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a bpnet_xp model, is corrupt or truncated, lacks an
        entry, has malformed or inconsistent metadata, or was written in a newer
        format version.
    """
    name = os.fspath(path)
    arrays = _read_arrays(path)
    meta = _parse_metadata(name, arrays)
    return _check_contents(name, arrays, None if n_classes is None else n_classes(meta))


def _check_contents(name: str, arrays: dict, n_classes: int | None) -> SavedModel:
    """Every entry checked against the others: what load() requires and save() ensures."""
    meta = _parse_metadata(name, arrays)
    theta = _check_theta(name, arrays, meta)
    scaler = _restore_scaler(name, arrays, meta["layer_sizes"][0]) if meta["has_scaler"] else None
    classes = _restore_classes(name, arrays, meta, n_classes)
    return SavedModel(meta, theta, scaler, classes)


def _restore_scaler(name: str, arrays: dict[str, np.ndarray], n_inputs: int):
    for key in ("scaler_mean", "scaler_scale"):
        if key not in arrays:
            raise ValueError(f"{name!r} is incomplete: its metadata lists a scaler but it has no {key!r} entry")
    mean, scale = arrays["scaler_mean"], arrays["scaler_scale"]
    if mean.shape != (n_inputs,) or scale.shape != (n_inputs,) or mean.dtype.kind != "f" or scale.dtype.kind != "f":
        raise ValueError(
            f"{name!r} is inconsistent: the scaler statistics have shapes {mean.shape}/{scale.shape}, "
            f"the network has {n_inputs} inputs"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError(f"{name!r} is corrupt: the scaler statistics are not finite and positive")
    scaler = StandardScaler()
    scaler.mean_ = mean.astype(np.float64)
    scaler.scale_ = scale.astype(np.float64)
    scaler.n_features_in_ = n_inputs
    return scaler
