"""Tests of bpnet_xp.datasets: bundled digits, generators, CSV and NPZ loaders.

References are independent of the code under test: the label counts and first
row of the digits file recorded by hand (and in bpnet_xp/data/README.md), exact
formulas for the generators, and files written here with known contents.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from importlib import resources

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpnet_xp import datasets
from bpnet_xp.datasets import (
    DataIntegrityError,
    load_csv,
    load_digits,
    load_npz,
    make_classification,
    make_regression,
    make_xor,
)

# ---------------------------------------------------------------------------------------
# Digits


def test_digits_shape_labels_and_pixels():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    # Counts of digits 0..9, as recorded in bpnet_xp/data/README.md.
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert X.min() == 0.0 and X.max() == 16.0
    assert np.all(X == np.round(X))
    # The first row of the file, copied by hand: an image of a 0.
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
             0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
             0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]
    np.testing.assert_array_equal(X[0], first)
    assert y[0] == 0


def test_digits_bundled_with_the_package_and_its_attribution():
    data_dir = resources.files("bpnet_xp").joinpath("data")
    raw = data_dir.joinpath("digits.csv.gz").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
    readme = data_dir.joinpath("README.md").read_text()
    assert "CC BY 4.0" in readme and "Alpaydin" in readme


def test_digits_returns_fresh_arrays():
    X1, y1 = load_digits()
    X1[0, 0] = 99.0
    y1[0] = 7
    X2, y2 = load_digits()
    assert X2[0, 0] == 0.0 and y2[0] == 0


def test_digits_corrupt_file_is_refused(monkeypatch):
    raw = resources.files("bpnet_xp").joinpath("data", "digits.csv.gz").read_bytes()
    tampered = raw[:-10] + bytes(10)
    monkeypatch.setattr(datasets, "_read_resource", lambda name: tampered)
    with pytest.raises(DataIntegrityError, match="corrupt.*SHA-256"):
        load_digits()

    def missing(name):
        raise FileNotFoundError(name)

    monkeypatch.setattr(datasets, "_read_resource", missing)
    with pytest.raises(ValueError, match="missing"):
        load_digits()


# ---------------------------------------------------------------------------------------
# Generators


def test_xor():
    X, y = make_xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 1, 0]


def test_regression_single_output():
    X, y, coef, intercept = make_regression(n_samples=500, n_features=4, noise=0.1, seed=3)
    assert X.shape == (500, 4) and y.shape == (500,) and coef.shape == (4,)
    assert isinstance(intercept, float)
    # The residual y - (X coef + b), computed by an explicit loop, is the noise:
    # mean about 0 and standard deviation about 0.1.
    fitted = np.array([sum(X[i, j] * coef[j] for j in range(4)) + intercept for i in range(500)])
    resid = y - fitted
    assert abs(resid.mean()) < 0.02 and 0.09 < resid.std() < 0.11
    # Least squares recovers the coefficients (standard error ~ 0.1 / sqrt(500)).
    A = np.concatenate([X, np.ones((500, 1))], axis=1)
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(solution[:4], coef, atol=0.02)
    assert abs(solution[4] - intercept) < 0.02


def test_regression_multi_output_noise_free_and_seeded():
    X, y, coef, intercept = make_regression(50, 3, n_outputs=2, noise=0.0, seed=1)
    assert y.shape == (50, 2) and coef.shape == (3, 2) and intercept.shape == (2,)
    np.testing.assert_allclose(y, np.einsum("ij,jk->ik", X, coef) + intercept, rtol=1e-13, atol=1e-13)
    assert np.all(np.abs(coef) <= 2.0) and np.all(np.abs(intercept) <= 1.0)
    again = make_regression(50, 3, n_outputs=2, noise=0.0, seed=1)
    for a, b in zip((X, y, coef, intercept), again):
        np.testing.assert_array_equal(a, b)
    other = make_regression(50, 3, n_outputs=2, noise=0.0, seed=2)
    assert not np.array_equal(other[2], coef)


@pytest.mark.parametrize("n_features, n_classes", [(2, 2), (2, 5), (1, 3), (10, 4)])
def test_classification_blobs(n_features, n_classes):
    m = 400 * n_classes
    X, y = make_classification(m, n_features, n_classes, separation=3.0, seed=7)
    assert X.shape == (m, n_features) and y.dtype == np.int64
    # Balanced classes: 400 of each.
    assert np.bincount(y).tolist() == [400] * n_classes
    # Class means are the centres up to sampling error (std 1/sqrt(400) = 0.05 per
    # coordinate); the closest two are 3.0 apart.
    means = np.array([X[y == k].mean(axis=0) for k in range(n_classes)])
    gaps = [np.linalg.norm(means[a] - means[b]) for a in range(n_classes) for b in range(a + 1, n_classes)]
    assert abs(min(gaps) - 3.0) < 0.3
    # Within-class spread is unit variance.
    spread = np.concatenate([X[y == k] - means[k] for k in range(n_classes)])
    np.testing.assert_allclose(spread.std(axis=0), 1.0, atol=0.05)
    # Centred on the origin.
    np.testing.assert_allclose(means.mean(axis=0), 0.0, atol=0.1)


def test_classification_separation_controls_overlap():
    def nearest_centre_accuracy(separation):
        X, y = make_classification(2000, 2, 2, separation=separation, seed=0)
        means = np.array([X[y == k].mean(axis=0) for k in range(2)])
        d = ((X[:, None, :] - means[None]) ** 2).sum(-1)
        return np.mean(d.argmin(1) == y)

    # Two unit Gaussians d apart: the Bayes accuracy is Phi(d/2): 0.69 for d=1, 0.98 for d=4.
    assert 0.64 < nearest_centre_accuracy(1.0) < 0.74
    assert nearest_centre_accuracy(4.0) > 0.96


def test_generators_seeded_and_validated():
    a = make_classification(seed=5)
    b = make_classification(seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert make_classification(n_samples=10, n_classes=3, seed=0)[1].shape == (10,)
    with pytest.raises(ValueError, match="n_classes"):
        make_classification(n_classes=1)
    with pytest.raises(ValueError, match="n_samples"):
        make_classification(n_samples=2, n_classes=3)
    with pytest.raises(ValueError, match="separation"):
        make_classification(separation=-1.0)
    with pytest.raises(ValueError, match="n_features"):
        make_regression(n_features=0)
    with pytest.raises(ValueError, match="noise"):
        make_regression(noise=float("nan"))
    with pytest.raises(ValueError, match="n_samples"):
        make_regression(n_samples=2.5)


# ---------------------------------------------------------------------------------------
# load_csv: good files


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header_target_by_name_and_index(tmp_path):
    path = _write(tmp_path, "a,b,label\n1,2,0\n3.5,-4,1\n\n5e-1, 6 ,2\n")
    X, y = load_csv(path)
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.5, -4.0], [0.5, 6.0]])
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2]
    X, y = load_csv(path, target="a")
    np.testing.assert_array_equal(X, [[2, 0], [-4, 1], [6, 2]])
    assert y.dtype == np.float64 and y.tolist() == [1.0, 3.5, 0.5]
    X2, y2 = load_csv(str(path), target=0)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    X3, y3 = load_csv(path, target=-2)
    np.testing.assert_array_equal(X3, [[1, 0], [3.5, 1], [0.5, 2]])
    assert y3.tolist() == [2.0, -4.0, 6.0]
    X4, y4 = load_csv(path, target=None)
    assert X4.shape == (3, 3) and y4 is None


def test_csv_without_header_and_other_delimiters(tmp_path):
    path = _write(tmp_path, "1;2;3\n4;5;6\n")
    X, y = load_csv(path, delimiter=";")
    np.testing.assert_array_equal(X, [[1, 2], [4, 5]])
    assert y.tolist() == [3, 6]
    path = _write(tmp_path, "1\t2\r\n3\t4\r\n", "tab.tsv")
    X, y = load_csv(path, delimiter="\t", target=0)
    np.testing.assert_array_equal(X, [[2], [4]])
    assert y.tolist() == [1, 3]


def test_csv_explicit_header_flags(tmp_path):
    # Numeric column names are only recognised as a header when told.
    path = _write(tmp_path, "10,20,30\n1,2,3\n")
    X, y = load_csv(path, header=True, target="20")
    np.testing.assert_array_equal(X, [[1, 3]])
    assert y.tolist() == [2]
    X, y = load_csv(path)  # auto-detect: all numbers, so data
    assert X.shape == (2, 2)


def test_csv_gzip_and_bom(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress("\ufeffx,y\n1,0\n2,1\n".encode("utf-8")))
    X, y = load_csv(path, target="y")
    np.testing.assert_array_equal(X, [[1], [2]])
    assert y.tolist() == [0, 1]


def test_csv_reads_the_digits_file_like_load_digits(tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(resources.files("bpnet_xp").joinpath("data", "digits.csv.gz").read_bytes())
    X, y = load_csv(path)
    X_ref, y_ref = load_digits()
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_csv_string_labels_with_and_without_header(tmp_path):
    path = _write(tmp_path, "width,length,species\n5.1,3.5,setosa\n7.0, 3.2 ,versicolor\n6.3,3.3,virginica\n")
    X, y = load_csv(path, target="species")
    np.testing.assert_array_equal(X, [[5.1, 3.5], [7.0, 3.2], [6.3, 3.3]])
    assert y.dtype.kind == "U" and y.tolist() == ["setosa", "versicolor", "virginica"]
    # Without a header: the text column sits over text, so row 1 is data.
    path = _write(tmp_path, "5.1,3.5,setosa\n7.0,3.2,versicolor\n")
    X, y = load_csv(path)
    assert X.shape == (2, 2) and y.tolist() == ["setosa", "versicolor"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,x\n2,\n", r"row 3, column 2 \('b'\): an empty cell"),
        ("a,b\n1,2\n2,3\n3,x\n", r"row 4, column 2 \('b'\): 'x' is not a number \(the other cells"),
        ("a,b\n1,x\n2,y\nz,w\n", r"row 4, column 1 \('a'\): 'z' is not a number"),
    ],
)
def test_csv_string_label_defects_name_row_and_column(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_csv(_write(tmp_path, text))


def _reference_table(text):
    """The table as Python's csv module and float() read it: the independent reference."""
    import csv as csv_module

    rows = [[c.strip() for c in r] for r in csv_module.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    return np.array([[float(c) for c in r[:-1]] for r in rows]), [r[-1] for r in rows]


@pytest.mark.parametrize("reader", ["pandas", "numpy"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=3,
                                 max_size=3), min_size=1, max_size=8),
       labels=st.sampled_from(["int", "float", "names"]))
def test_csv_fast_readers_equal_python_float(tmp_path, monkeypatch, reader, values, labels):
    # Every digit of repr(float) must come back: the fast readers are correctly rounded.
    if reader == "pandas":
        pytest.importorskip("pandas")
    else:
        monkeypatch.setitem(__import__("sys").modules, "pandas", None)  # pandas absent: numpy reads
    label = {"int": lambda i: str(i - 3), "float": lambda i: repr(i / 7), "names": lambda i: f"c{i % 3}"}[labels]
    text = "".join(",".join(repr(v) for v in row) + f",{label(i)}\n" for i, row in enumerate(values))
    path = tmp_path / "fast.csv"
    path.write_text(text)
    X, y = load_csv(path, header=False)
    X_ref, cells = _reference_table(text)
    np.testing.assert_array_equal(X, X_ref)
    expected = [{"int": int, "float": float, "names": str}[labels](c) for c in cells]
    assert y.tolist() == expected


# ---------------------------------------------------------------------------------------
# load_csv: malformed files


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "empty"),
        ("\n\n  \n", {}, "empty"),
        ("a,b,c\n", {}, "no data rows"),
        ("1,2,3\n4,5\n", {}, "row 2 has 2 columns but row 1 has 3"),
        ("a,b\n1,2,3\n", {}, "row 2 has 3 columns but the header has 2"),
        ("a,b,c\n1,2,3\n4,x,6\n", {}, r"row 3, column 2 \('b'\): 'x' is not a number"),
        ("1,2,3\n4,,6\n", {}, "row 2, column 2: an empty cell"),
        ("1,2,3\n4,5,six\n", {}, "row 2, column 3: 'six' is not a number"),
        ("1,2,3\n4,nan,6\n", {}, "row 2, column 2: 'nan' is not a finite number"),
        ("1,2,inf\n", {}, "row 1, column 3: 'inf' is not a finite number"),
        ("a,b\n1,2\n", {"target": "c"}, r"no column named 'c'; the columns are \['a', 'b'\]"),
        ("a,a\n1,2\n", {"target": "a"}, "2 columns are named 'a'"),
        ("1,2\n", {"target": "b"}, "no header row"),
        ("1,2\n", {"target": 2}, "index 2 is out of range for 2 columns"),
        ("1,2\n", {"target": -3}, "index -3 is out of range"),
        ("y\n1\n", {"target": "y"}, "only the target column"),
        ("1,2\n", {"target": 1.5}, "target must be"),
        ("1,2\n", {"target": True}, "target must be"),
        ("1,2\n", {"delimiter": ",,"}, "delimiter"),
        ("1,2\n", {"delimiter": '"'}, "delimiter"),
        ("1,2\n", {"delimiter": "\n"}, "delimiter"),
        ("1,2\n", {"header": "yes"}, "header"),
    ],
)
def test_csv_malformed(tmp_path, text, kwargs, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        load_csv(path, **kwargs)


def test_csv_binary_and_corrupt_files(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(ValueError, match="not a text file"):
        load_csv(path)
    path.write_bytes("1,2\n3,\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        load_csv(path)
    path.write_bytes(gzip.compress(b"1,2\n3,4\n")[:-6])
    with pytest.raises(ValueError, match="gzip"):
        load_csv(path)
    path.write_text('1,"2\n3,4\n')  # an unterminated quote swallows the rest: one ragged row
    with pytest.raises(ValueError):
        load_csv(path)


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "nope.csv")


_cell = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=5),
    st.sampled_from(["", " ", '"', '""', "1e", "--1", "0x10", "nan", "1,2", "\n", "\r", ";"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=200),
    st.lists(st.lists(_cell, min_size=1, max_size=5), max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8")),
), target=st.one_of(st.none(), st.integers(-4, 4), st.sampled_from(["a", "label", ""])),
   header=st.sampled_from([None, True, False]))
def test_csv_fuzz_only_value_error(tmp_path, content, target, header):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        X, y = load_csv(path, target=target, header=header)
    except ValueError:
        return
    # When it does load, the result is a consistent, finite, numeric table.
    assert X.ndim == 2 and X.dtype == np.float64 and np.all(np.isfinite(X))
    if target is None:
        assert y is None
    else:
        assert y.shape == (X.shape[0],)
        assert y.dtype.kind == "U" or np.all(np.isfinite(y))  # class names, or finite numbers


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.integers(1, 5).flatmap(lambda n: st.lists(
        st.lists(st.integers(-99, 99), min_size=n, max_size=n), min_size=2, max_size=6)),
    defect=st.sampled_from(["drop", "extra", "word", "empty", "nan"]),
    where=st.integers(0, 1000),
)
def test_csv_fuzz_injected_defects(tmp_path, table, defect, where):
    # A well-formed numeric table with one defect injected into a data row other
    # than the first must always be rejected with the row number in the message.
    n_rows, n_cols = len(table), len(table[0])
    rows = [[str(v) for v in row] for row in table]
    i = 1 + where % (n_rows - 1)
    j = where % n_cols
    if defect == "drop":
        if n_cols == 1:
            rows[i] = rows[i] + ["7"]
        else:
            rows[i] = rows[i][:-1]
    elif defect == "extra":
        rows[i] = rows[i] + ["7"]
    elif defect == "word":
        rows[i][j] = "abc"
    elif defect == "empty":
        rows[i][j] = "" if n_cols > 1 else "x"
    else:
        rows[i][j] = "nan"
    path = tmp_path / "defect.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(ValueError, match=f"row {i + 1}"):
        load_csv(path, target=None, header=False)


# ---------------------------------------------------------------------------------------
# load_npz


def test_npz_good(tmp_path):
    X = np.arange(12, dtype=np.int32).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    Xl, yl = load_npz(path)
    assert Xl.dtype == np.float64
    np.testing.assert_array_equal(Xl, X)
    np.testing.assert_array_equal(yl, y)
    assert yl.dtype == y.dtype
    np.savez_compressed(path, inputs=X, targets=np.ones((4, 2)))
    Xl, yl = load_npz(str(path), x_key="inputs", y_key="targets")
    assert yl.shape == (4, 2)
    Xl, yl = load_npz(path, x_key="inputs", y_key=None)
    assert yl is None and Xl.shape == (4, 3)


def test_npz_malformed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"no array named 'X'; the archive holds \['features', 'y'\]"):
        load_npz(path)
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match="3 rows but 'y' has 2"):
        load_npz(path)
    np.savez(path, X=np.zeros(3), y=np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        load_npz(path)
    np.savez(path, X=np.array([["a", "b"]]), y=np.zeros(1))
    with pytest.raises(ValueError, match="numeric"):
        load_npz(path)
    np.savez(path, X=np.zeros((2, 2)), y=np.zeros((2, 1, 1)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        load_npz(path)
    # Object arrays would need unpickling, which is refused.
    np.savez(path, X=np.array([[1, None]], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="unpickling"):
        load_npz(path)


def test_npz_corrupt_files(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a numpy file at all")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(path)
    buffer = io.BytesIO()
    np.savez(buffer, X=np.zeros((50, 5)), y=np.zeros(50))
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError):
        load_npz(path)
    # A zip archive whose member is not a .npy file.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", b"garbage")
        archive.writestr("y.npy", b"garbage")
    with pytest.raises(ValueError, match="'X'"):
        load_npz(path)
    # A plain .npy file is one array, not named arrays.
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=".npy file"):
        load_npz(npy)


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "nope.npz")
