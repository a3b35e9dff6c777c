"""Data sets: the bundled digits, XOR, synthetic generators, and loaders for your own data.

Everything here returns host NumPy arrays; a network moves them to its device
once (``MLP.fit`` / ``MLP.prepare``).  Nothing here touches the network.

* :func:`load_digits` -- 1797 handwritten digits, 8x8 grey levels 0..16, labels
  0..9, read from the copy bundled in ``bpnet_xp/data`` (see its README for the
  origin and the CC BY 4.0 attribution).  The file's SHA-256 is checked on every
  load, so a truncated or altered installation fails loudly instead of training
  on wrong data.  No network access, ever.
* :func:`make_xor` -- the four XOR points, the classic problem a network without
  a hidden layer cannot solve.
* :func:`make_regression`, :func:`make_classification` -- seeded synthetic
  problems whose true answer is known, for examples and tests.
* :func:`load_csv`, :func:`load_npz` -- a user's own data.  Malformed files raise
  ``ValueError`` saying what is wrong and where (row and column), because a
  silently mis-parsed file trains a network on garbage.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import operator
import os
import zipfile
import zlib
from importlib import resources
from typing import Any

import numpy as np

from .text import plain

__all__ = [
    "DataIntegrityError",
    "load_digits",
    "make_xor",
    "make_regression",
    "make_classification",
    "load_csv",
    "load_npz",
]

#: SHA-256 of bpnet_xp/data/digits.csv.gz, as recorded in bpnet_xp/data/README.md.
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
_DIGITS_FILE = "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)


class DataIntegrityError(ValueError):
    """A bundled data file does not match its recorded checksum (corrupt or altered)."""


# ---------------------------------------------------------------------------------------
# Bundled data.


def _read_resource(name: str) -> bytes:
    """Bytes of ``bpnet_xp/data/<name>``, found through importlib.resources (works installed)."""
    return resources.files("bpnet_xp").joinpath("data", name).read_bytes()


def _verified(name: str, expected_sha256: str) -> bytes:
    try:
        data = _read_resource(name)
    except (FileNotFoundError, OSError) as exc:
        raise DataIntegrityError(
            f"the bundled data file bpnet_xp/data/{name} is missing ({exc}); reinstall bpnet_xp"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise DataIntegrityError(
            f"the bundled data file bpnet_xp/data/{name} is corrupt: its SHA-256 is {digest}, "
            f"expected {expected_sha256}; reinstall bpnet_xp"
        )
    return data


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled handwritten digits (8x8 images, 10 classes).

    Returns
    -------
    X : numpy.ndarray of float64, shape (1797, 64)
        Pixels in row-major order, whole numbers 0..16 (raw grey levels: standardise
        them with :class:`bpnet_xp.preprocessing.StandardScaler` fitted on the
        training split before training a sigmoid network).
    y : numpy.ndarray of int64, shape (1797,)
        Labels 0..9.

    Raises
    ------
    DataIntegrityError
        (a ``ValueError``) if the bundled file is missing or its SHA-256 differs
        from the recorded one.

    Notes
    -----
    The test part of "Optical Recognition of Handwritten Digits" (Alpaydin &
    Kaynak, 1998, UCI Machine Learning Repository, CC BY 4.0); see
    ``bpnet_xp/data/README.md``.
    """
    data = _verified(_DIGITS_FILE, DIGITS_SHA256)
    text = gzip.decompress(data).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != _DIGITS_SHAPE:  # pragma: no cover - guarded by the checksum
        raise DataIntegrityError(f"bpnet_xp/data/{_DIGITS_FILE} has shape {table.shape}, expected {_DIGITS_SHAPE}")
    return table[:, :64].astype(np.float64), table[:, 64].copy()


def make_xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: four points, label 1 when exactly one input is 1.

    Returns
    -------
    X : numpy.ndarray of float64, shape (4, 2)
        ``[[0, 0], [0, 1], [1, 0], [1, 1]]``.
    y : numpy.ndarray of int64, shape (4,)
        ``[0, 1, 1, 0]``.
    """
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y


# ---------------------------------------------------------------------------------------
# Synthetic generators.


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {plain(value)!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {plain(value)!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n}")
    return n


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite number >= 0, got {plain(value)!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {plain(value)!r}") from None
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {plain(value)!r}")
    return v


def make_regression(n_samples: int = 200, n_features: int = 3, n_outputs: int = 1,
                    noise: float = 0.1, seed=None):
    """A linear regression problem with known coefficients.

    ``X`` is standard normal; ``y = X @ coef + intercept + noise * e`` with ``e``
    standard normal, ``coef`` uniform in [-2, 2] and ``intercept`` uniform in [-1, 1].

    Parameters
    ----------
    n_samples, n_features, n_outputs : int
        ``m``, ``n`` and ``k``, all >= 1.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to ``y``.
    seed : int, numpy.random.Generator or None
        Seed of the host ``numpy.random.Generator``.

    Returns
    -------
    X : numpy.ndarray of float64, shape (m, n)
    y : numpy.ndarray of float64, shape (m,) if k == 1 else (m, k)
    coef : numpy.ndarray of float64, shape (n,) if k == 1 else (n, k)
    intercept : float if k == 1 else numpy.ndarray of float64, shape (k,)
    """
    m = _count(n_samples, "n_samples", 1)
    n = _count(n_features, "n_features", 1)
    k = _count(n_outputs, "n_outputs", 1)
    sigma = _non_negative(noise, "noise")
    rng = np.random.default_rng(seed)
    coef = rng.uniform(-2.0, 2.0, size=(n, k))
    intercept = rng.uniform(-1.0, 1.0, size=(k,))
    X = rng.standard_normal((m, n))
    y = X @ coef + intercept + sigma * rng.standard_normal((m, k))
    if k == 1:
        return X, y[:, 0], coef[:, 0], float(intercept[0])
    return X, y, coef, intercept


def make_classification(n_samples: int = 300, n_features: int = 2, n_classes: int = 2,
                        separation: float = 2.0, seed=None):
    """Gaussian blobs: one unit-variance cluster per class.

    Class centres are drawn at random, centred on the origin and scaled so the
    *closest two* are ``separation`` apart; every sample is its class centre plus
    standard normal noise.  So ``separation`` is in units of the within-class
    standard deviation: about 4 gives nearly separable classes, 1 heavy overlap.
    Classes are balanced (sizes differ by at most one) and the rows shuffled.

    Parameters
    ----------
    n_samples : int, default 300
        ``m`` >= ``n_classes``.
    n_features : int, default 2
        ``n`` >= 1.
    n_classes : int, default 2
        ``K`` >= 2.
    separation : float, default 2.0
        Smallest distance between two class centres, >= 0.
    seed : int, numpy.random.Generator or None
        Seed of the host ``numpy.random.Generator``.

    Returns
    -------
    X : numpy.ndarray of float64, shape (m, n)
    y : numpy.ndarray of int64, shape (m,)
        Labels ``0..K-1``.
    """
    n_classes = _count(n_classes, "n_classes", 2)
    m = _count(n_samples, "n_samples", n_classes)
    n = _count(n_features, "n_features", 1)
    d = _non_negative(separation, "separation")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n))
    centres -= centres.mean(axis=0)
    gaps = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)
    closest = gaps[~np.eye(n_classes, dtype=bool)].min()
    centres *= d / closest if closest > 0 else 0.0
    y = rng.permutation(np.arange(m, dtype=np.int64) % n_classes)
    X = centres[y] + rng.standard_normal((m, n))
    return X, y


# ---------------------------------------------------------------------------------------
# A user's own data.


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_text(path) -> tuple[str, str]:
    """Text of a (possibly gzip-compressed) file, and its display name."""
    name = os.fspath(path)
    with open(name, "rb") as handle:  # FileNotFoundError for a missing file, as it should be
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{name}: corrupt gzip data ({exc})") from None
    if b"\x00" in raw:
        raise ValueError(f"{name}: not a text file (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text ({exc})") from None
    return text, name


def load_csv(path, target=-1, header=None, delimiter: str = ","):
    """Load a table from a delimited text file (optionally gzip-compressed).

    Parameters
    ----------
    path : str or os.PathLike
        The file; a gzip-compressed file is recognised by its magic bytes.
    target : int, str or None, default -1
        The column holding ``y``: an index (negative counts from the end) or a
        header name.  ``None``: no target, every column is a feature.
    header : bool or None, default None
        Whether the first row holds column names.  ``None`` detects it: the
        first row is a header when one of its cells is not a number while the
        cell below it is (or, in a one-row file, when one of its cells is not a
        number).  A header whose names are all numbers, or that only names
        text columns, needs ``header=True``.
    delimiter : str, default ","
        One-character field separator (``";"``, ``"\\t"``, ...).

    Returns
    -------
    X : numpy.ndarray of float64, shape (m, n_columns - 1)
        The other columns, in file order.
    y : numpy.ndarray, shape (m,), or None
        The target column: int64 when every cell is an integer literal (class
        labels), float64 when every cell is a number, and the cells' text (a
        NumPy string array, class names such as ``"setosa"``) when they are
        not numbers; ``None`` when ``target`` is None.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For an empty file, a header without data, rows of different lengths
        (naming the row), a feature cell that is not a finite number (naming
        its row and column), an empty target cell, a target column that mixes
        numbers with a minority of text cells (naming the first text cell: a
        typo in a numeric column), or a target column that does not exist.

    Notes
    -----
    Blank lines are skipped; cells may be surrounded by spaces; row numbers in
    messages are 1-based line numbers of the file.  Well-formed files are read
    by pandas when it is installed, else by :func:`numpy.loadtxt` (both about
    ten times faster than a cell-by-cell loop); a file either of them refuses is
    read again cell by cell, so the error names the row and column.
    """
    target = _check_csv_options(target, header, delimiter)
    text, name = _read_text(path)
    fast = _fast_load(text, target, header, delimiter)
    if fast is not None:
        return fast
    rows = _csv_rows(text, name, delimiter)
    names, data = _split_header(rows, header, name)
    n_columns = _column_count(data, names, name)
    # Resolve the target column before parsing, so a wrong name is reported first.
    t = None if target is None else _target_column(target, names, n_columns, name)
    features = [j for j in range(n_columns) if j != t]
    table = _parse_cells(data, features, names, name)
    if t is None:
        return table, None
    return table, _target_values([cells[t] for _, cells in data], [line for line, _ in data],
                                 _column_label(t, names), name)


# ---------------------------------------------------------------------------------------
# The fast path: a well-formed file in one call of pandas or numpy.


def _leading_rows(text: str, delimiter: str, count: int = 2) -> list[list[str]]:
    """The first ``count`` non-blank rows, their cells stripped (without reading the rest)."""
    rows = []
    for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        cells = [c.strip() for c in cells]
        if any(cells):
            rows.append(cells)
            if len(rows) == count:
                break
    return rows


def _detect_header(first: list[str], second: list[str] | None) -> bool:
    """The first row is a header when one of its cells is not a number while the cell
    below it is; with no second row, when one of its cells is not a number."""
    if second is None or len(second) != len(first):
        return not all(_is_number(c) for c in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))


def _fast_load(text: str, target, header, delimiter: str):
    """(X, y) read by pandas or numpy, or None when the file needs the cell-by-cell reader
    (anything unusual: a ragged row, a bad or empty cell, a quote in the header line)."""
    try:
        rows = _leading_rows(text, delimiter)
    except csv.Error:
        return None
    if not rows:
        return None
    has_header = header if header is not None else _detect_header(rows[0], rows[1] if len(rows) > 1 else None)
    names = rows[0] if has_header else None
    n_columns = len(rows[0])
    if has_header:
        start = text.lstrip("\r\n \t")
        line_end = start.find("\n")
        if line_end < 0 or '"' in start[:line_end]:
            return None
        if [c.strip() for c in start[:line_end].rstrip("\r").split(delimiter)] != rows[0]:
            return None  # the header is not on the first line (a line of bare delimiters before it)
        text = start[line_end + 1:]
    try:
        t = None if target is None else _target_column(target, names, n_columns, "")
    except ValueError:
        return None
    features = [j for j in range(n_columns) if j != t]
    try:
        parsed = _pandas_table(text, delimiter, n_columns, features, t)
    except ImportError:
        parsed = _numpy_table(text, delimiter, features, t)
    except Exception:  # noqa: BLE001 - any refusal: the careful reader says what is wrong
        return None
    if parsed is None:
        return None
    X, cells = parsed
    if X.shape[0] == 0 or not np.all(np.isfinite(X)):
        return None
    if t is None:
        return X, None
    if any(c == "" for c in cells):
        return None
    try:
        return X, _target_values(cells, None, "", "")
    except ValueError:
        return None


def _pandas_table(text: str, delimiter: str, n_columns: int, features: list[int], t):
    """(X, target cells) parsed by pandas, or None when a feature column is not numeric."""
    import pandas as pd

    options = {}
    if int(pd.__version__.split(".")[0]) < 3:
        options["float_precision"] = "round_trip"  # pandas < 3: the fast parser rounds differently
    frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, names=list(range(n_columns)),
                        dtype=None if t is None else {t: str}, na_filter=False, skipinitialspace=True,
                        skip_blank_lines=True, engine="c", **options)
    block = frame[features]
    if any(block[j].dtype.kind not in "iuf" for j in features):
        return None
    X = block.to_numpy(dtype=np.float64)
    cells = None if t is None else [str(c).strip() for c in frame[t].tolist()]
    return X, cells


def _numpy_table(text: str, delimiter: str, features: list[int], t):
    """(X, target cells) parsed by numpy.loadtxt, or None when it refuses the file."""
    import warnings

    options = {"delimiter": delimiter, "comments": None, "quotechar": '"', "ndmin": 2}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note about blank lines and max_rows
            X = np.loadtxt(io.StringIO(text), usecols=features, dtype=np.float64, **options)
            cells = None
            if t is not None:
                column = np.loadtxt(io.StringIO(text), usecols=[t], dtype=str, **options)
                cells = [c.strip() for c in column.reshape(-1).tolist()]
    except ValueError:
        return None
    return X, cells


def _check_csv_options(target, header, delimiter):
    """Validate ``load_csv``'s options before the file is read; the target as an int or str."""
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {plain(delimiter)!r}")
    if delimiter in '\r\n"':
        raise ValueError(f"delimiter cannot be a line break or the quote character, got {plain(delimiter)!r}")
    if header not in (None, True, False):
        raise ValueError(f"header must be True, False or None (auto-detect), got {plain(header)!r}")
    if target is None or isinstance(target, str):
        return target
    # bool is an int to operator.index, but target=True is surely a mistake, not column 1.
    if isinstance(target, (bool, np.bool_)):
        raise ValueError(f"target must be a column index, a header name or None, got {plain(target)!r}")
    try:
        return operator.index(target)
    except TypeError:
        raise ValueError(
            f"target must be a column index, a header name or None, got {plain(target)!r}"
        ) from None


def _csv_rows(text: str, name: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of ``text`` as (1-based line number, stripped cells)."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        for cells in reader:
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue  # blank line (or only delimiters' worth of nothing)
            # line_num after the row: a quoted cell spanning lines reports where it ends.
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ValueError(f"{name}: malformed CSV ({exc})") from None
    if not rows:
        raise ValueError(f"{name}: the file is empty (no rows)")
    return rows


def _split_header(rows, header, name: str):
    """(column names or None, data rows): the first row is a header when told, or when
    ``header`` is None and one of its cells is not a number."""
    first = rows[0][1]
    has_header = header if header is not None else _detect_header(first, rows[1][1] if len(rows) > 1 else None)
    names = first if has_header else None
    data = rows[1:] if has_header else rows
    if not data:
        raise ValueError(f"{name}: the file has a header row but no data rows")
    return names, data


def _column_count(data, names, name: str) -> int:
    """The number of columns, which every data row must have (the header's, or row 1's)."""
    n_columns = len(names) if names is not None else len(data[0][1])
    for line, cells in data:
        if len(cells) != n_columns:
            what = "the header" if names is not None else f"row {data[0][0]}"
            raise ValueError(
                f"{name}: row {line} has {len(cells)} columns but {what} has {n_columns} "
                "(ragged rows: check the delimiter and quoting)"
            )
    return n_columns


def _target_column(target, names, n_columns: int, name: str) -> int:
    """The 0-based index of the target column, given by header name or (negative) index."""
    if isinstance(target, str):
        if names is None:
            raise ValueError(
                f"{name}: target {target!r} is a column name but the file has no header row; "
                "pass a column index, or header=True if the first row holds the names"
            )
        matches = [j for j, col in enumerate(names) if col == target]
        if not matches:
            raise ValueError(f"{name}: no column named {target!r}; the columns are {names!r}")
        if len(matches) > 1:
            raise ValueError(f"{name}: {len(matches)} columns are named {target!r}; pass an index")
        t = matches[0]
    else:
        if not -n_columns <= target < n_columns:
            raise ValueError(
                f"{name}: target column index {target} is out of range for {n_columns} columns"
            )
        t = target % n_columns
    if n_columns < 2:
        raise ValueError(f"{name}: the file has only the target column; X would have no features")
    return t


def _column_label(j: int, names) -> str:
    """``"column 3"`` or ``"column 3 ('age')"``: 1-based, with the header name if any."""
    return f"column {j + 1}" + (f" ({names[j]!r})" if names is not None else "")


def _parse_cells(data, features: list[int], names, name: str) -> np.ndarray:
    """The feature cells as finite float64, shape (len(data), len(features)); the first
    bad cell is reported by row (file line) and column."""
    table = np.empty((len(data), len(features)), dtype=np.float64)
    for i, (line, cells) in enumerate(data):
        for k, j in enumerate(features):
            cell = cells[j]
            try:
                value = float(cell)
            except ValueError:
                shown = "an empty cell" if cell == "" else f"{cell!r} is not a number"
                raise ValueError(f"{name}: row {line}, {_column_label(j, names)}: {shown}") from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{name}: row {line}, {_column_label(j, names)}: {cell!r} is not a finite number"
                )
            table[i, k] = value
    return table


def _target_values(cells: list[str], lines, column: str, name: str) -> np.ndarray:
    """The target column, shape (m,), from its cells' text.

    int64 when every cell is an integer literal that fits (class labels), float64
    when every cell is a finite number, the text itself when the cells are names
    (class labels such as "setosa").  An empty cell, a non-finite number, or a
    minority of text cells among numbers (a typo in a numeric column) is refused;
    ``lines`` (the file lines of the cells) and ``column`` place it in the message.
    """
    def where(i: int) -> str:
        return f"{name}: row {lines[i] if lines is not None else i + 1}, {column}"

    numbers = [_is_number(c) for c in cells]
    for i, cell in enumerate(cells):
        if cell == "":
            raise ValueError(f"{where(i)}: an empty cell (a missing label)")
    if all(numbers):
        if all(_is_int_literal(c) for c in cells):
            # Parsed from the text, not from float64: labels above 2**53 stay exact.
            values = [int(c) for c in cells]
            if all(-(2 ** 63) <= v < 2 ** 63 for v in values):
                return np.array(values, dtype=np.int64)
        values = np.array([float(c) for c in cells], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{where(int(bad[0]))}: {cells[int(bad[0])]!r} is not a finite number")
        return values
    if 2 * sum(numbers) >= len(cells):
        first = numbers.index(False)
        raise ValueError(f"{where(first)}: {cells[first]!r} is not a number (the other cells of the "
                         "target column are numbers)")
    return np.array(cells, dtype=str)


def _is_int_literal(cell: str) -> bool:
    try:
        int(cell)
    except ValueError:
        return False
    return True


def load_npz(path, x_key: str = "X", y_key: str | None = "y"):
    """Load ``X`` and ``y`` from a NumPy ``.npz`` archive (never unpickling anything).

    Parameters
    ----------
    path : str or os.PathLike
        An archive written by ``numpy.savez`` / ``numpy.savez_compressed``.
    x_key : str, default "X"
        Name of the input array.
    y_key : str or None, default "y"
        Name of the target array; ``None``: return ``y = None``.

    Returns
    -------
    X : numpy.ndarray of float64, shape (m, n)
    y : numpy.ndarray, shape (m,) or (m, k), or None
        As stored (its dtype kept, so integer labels stay integers).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable ``.npz`` archive, a key is missing (the
        message lists the keys present), an array holds Python objects (they
        would need unpickling, which is refused), ``X`` is not a 2-D numeric
        array, or ``X`` and ``y`` differ in length.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"no such file: {name!r}")
    try:
        archive = np.load(name, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{name}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{name}: a .npy file holding a single array, not an .npz archive of named arrays")
    with archive:
        keys = list(archive.files)
        wanted = [k for k in (x_key, y_key) if k is not None]
        missing = [k for k in wanted if k not in keys]
        if missing:
            raise ValueError(
                f"{name}: no array named {', '.join(repr(k) for k in missing)}; "
                f"the archive holds {keys!r} (pass x_key=/y_key=)"
            )
        arrays = {}
        for key in wanted:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                raise ValueError(
                    f"{name}: array {key!r} cannot be read without unpickling ({exc}); "
                    "save numeric arrays only"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
                raise ValueError(f"{name}: array {key!r} is corrupt ({exc})") from None
            if not isinstance(arrays[key], np.ndarray):
                # NpzFile hands back the raw bytes of a member that is not in .npy format.
                raise ValueError(f"{name}: member {key!r} is not a NumPy array (.npy data); the file is corrupt")
    X = arrays[x_key]
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: {x_key!r} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name}: {x_key!r} must be 2-D (n_samples, n_features), got shape {X.shape}")
    X = X.astype(np.float64)
    if y_key is None:
        return X, None
    y = arrays[y_key]
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: {y_key!r} must be 1-D or 2-D, got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: {x_key!r} has {X.shape[0]} rows but {y_key!r} has {y.shape[0]}")
    return X, y
