"""The version of bpnet_xp, from one source: ``version`` in pyproject.toml.

An installed package reads it from its metadata (:mod:`importlib.metadata`); a source
checkout that is not installed (``PYTHONPATH=.``) reads the pyproject.toml beside the
package.  The package, the model files and the CLI all take ``__version__`` from here.

``__version__`` is read the first time it is asked for (PEP 562 module ``__getattr__``), not
at import: importlib.metadata pulls in email, zipfile and friends (about 13 ms), which
``import bpnet_xp`` should not pay for (issue 15 item 6).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["__version__", "read_version"]

_UNKNOWN = "0+unknown"


def _from_pyproject(path: Path) -> str | None:
    """``project.version`` of a pyproject.toml that describes bpnet_xp, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if project is None or not re.search(r'^name\s*=\s*"bpnet[_-]xp"', project.group(1), re.M):
        return None
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M)
    return found.group(1) if found else None


def read_version() -> str:
    """The installed distribution's version; else the source checkout's; else ``"0+unknown"``.

    Returns
    -------
    str
        A PEP 440 version string.
    """
    from importlib import metadata

    try:
        return metadata.version("bpnet_xp")
    except metadata.PackageNotFoundError:
        pass
    return _from_pyproject(Path(__file__).resolve().parent.parent / "pyproject.toml") or _UNKNOWN


def __getattr__(name: str) -> str:
    """``__version__`` on first use (``from .version import __version__`` included), then cached."""
    if name == "__version__":
        version = read_version()
        globals()["__version__"] = version  # later lookups find it without calling here
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
