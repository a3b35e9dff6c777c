"""Issue 12: messages quote arguments as the user wrote them, never as reprs like np.int64(0).

NumPy 2 prints a scalar as ``np.float64(1.5)``; a message that quotes such an argument with
``{value!r}`` names a type the user never typed (and, for ``array(...)``, a whole repr).
Each case below passes a NumPy scalar (or NumPy labels) that is refused, and asserts that
the message names the argument and contains neither ``np.`` nor ``array(``.  The reference
is the text itself: what a person reading it should see.  The premise test makes sure the
cases can fail here (NumPy 2 or later); on an older NumPy they would pass vacuously.
"""

from __future__ import annotations

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp import datasets, text, validation
from bpnet_xp.preprocessing import one_hot, train_test_split
from bpnet_xp.solvers import minimize


def _data(m=20, n=3, seed=0):
    X = np.random.default_rng(seed).standard_normal((m, n))
    return X, (X[:, 0] > 0).astype(np.int64)


def _assert_plain(excinfo, argument: str):
    message = str(excinfo.value)
    assert argument in message, f"the message does not name {argument!r}: {message}"
    assert "np." not in message and "array(" not in message, f"a repr leaks into: {message}"


def test_the_premise_numpy_scalars_print_as_reprs():
    # Without this the cases below could not fail: NumPy < 2 prints np.float64(1.5) as 1.5.
    if "np." not in repr(np.float64(1.5)):
        pytest.skip(f"NumPy {np.__version__} prints scalars plainly; the checks below cannot fail here")
    assert repr(np.int64(0)) == "np.int64(0)"


@pytest.mark.parametrize("value, expected", [
    (np.int64(3), 3), (np.float64(1.5), 1.5), (np.float32(0.5), 0.5), (np.bool_(True), True),
    (np.str_("a"), "a"), (np.array(7), 7), (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    ((np.int64(1), np.float64(2.0)), (1, 2.0)), ([np.str_("x"), 3], ["x", 3]), ("s", "s"), (None, None),
])
def test_plain_gives_python_values(value, expected):
    result = text.plain(value)
    assert result == expected and type(result) is type(expected)
    assert "np." not in repr(result) and "array(" not in repr(result)


def test_validation_reexports_plain():
    # validation.plain is the public name other modules (and the CLI) already use.
    assert validation.plain is text.plain


# (argument named in the message, fit keywords): every option fit checks, given as a NumPy scalar.
FIT_CASES = [
    ("epochs", dict(optimizer="adam", epochs=np.int64(0))),
    ("batch_size", dict(optimizer="adam", batch_size=np.int64(0))),
    ("max_iter", dict(optimizer="cg", max_iter=np.int64(0))),
    ("patience", dict(optimizer="adam", patience=np.int64(0))),
    ("gtol", dict(optimizer="cg", gtol=np.float64(-1.0))),
    ("ftol", dict(optimizer="cg", ftol=np.float64(np.inf))),
    ("memory", dict(optimizer="lbfgs", memory=np.float64(2.0))),
    ("verbose", dict(optimizer="cg", verbose=np.int64(-1))),
    ("learning_rate", dict(optimizer="adam", learning_rate=np.float64(-1.0))),
    ("split_every", dict(optimizer="cg", split_every=np.int64(1))),
    ("momentum", dict(optimizer="sgd", momentum=np.float64(1.5))),
    ("beta1", dict(optimizer="adam", beta1=np.float64(1.0))),
    ("seed", dict(optimizer="adam", seed=np.float64(1.5))),
    ("schedule", dict(optimizer="sgd", schedule=np.str_("bogus"))),
    ("optimizer", dict(optimizer=np.str_("bogus"))),
    ("mu", dict(optimizer="lm", mu=np.float64(-1.0))),
    ("mu_dec", dict(optimizer="lm", mu_dec=np.float64(2.0))),
    ("mu_inc", dict(optimizer="lm", mu_inc=np.float64(0.5))),
    ("goal", dict(optimizer="lm", goal=np.float64(np.nan))),
    ("curvature", dict(optimizer="newton", curvature=np.str_("exact"))),
]


@pytest.mark.parametrize("argument, options", FIT_CASES, ids=[case[0] for case in FIT_CASES])
def test_fit_options_are_quoted_plainly(backend, argument, options):
    X, y = _data()
    net = bp.MLP([3, 4, 1], backend=backend, seed=0)
    with pytest.raises(ValueError) as excinfo:
        net.fit(X, y, **options)
    _assert_plain(excinfo, argument)


def test_mlp_seed_is_quoted_plainly(backend):
    with pytest.raises(TypeError) as excinfo:
        bp.MLP([3, 4, 1], backend=backend, seed=np.float64(1.5))
    _assert_plain(excinfo, "seed")
    assert "1.5" in str(excinfo.value)


def test_mlp_init_is_quoted_plainly():
    with pytest.raises(ValueError) as excinfo:
        bp.MLP([3, 4, 1], backend="numpy", init=np.str_("bogus"))
    _assert_plain(excinfo, "init")
    assert "'bogus'" in str(excinfo.value)


def _stratify_rare():
    X, _ = _data()
    train_test_split(X, np.array([0] * 19 + [1]), stratify=True)


SPLIT_CASES = [
    ("test_size", lambda: train_test_split(*_data(), test_size=np.float64(2.0))),
    ("test_size", lambda: train_test_split(*_data(), test_size=np.float64(0.999))),
    ("test_fraction", lambda: train_test_split(*_data(), np.float64(1.5))),
    ("test_fraction", lambda: train_test_split(*_data(), np.bool_(True))),
    ("stratify", lambda: train_test_split(*_data(), stratify=np.int64(1))),
    ("class 1 has only 1 sample", _stratify_rare),
    ("n_classes", lambda: one_hot(np.array([0, 1]), np.float64(2.0))),
    ("n_classes", lambda: one_hot(np.array([0, 1]), np.bool_(True))),
    ("dtype", lambda: one_hot(np.array([0, 1]), dtype=np.str_("float16"))),
]


@pytest.mark.parametrize("argument, call", SPLIT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SPLIT_CASES)])
def test_preprocessing_arguments_are_quoted_plainly(argument, call):
    with pytest.raises(ValueError) as excinfo:
        call()
    _assert_plain(excinfo, argument)


def test_test_size_is_named_as_given():
    # The value came in as test_size: the message must not speak of test_fraction.
    with pytest.raises(ValueError) as excinfo:
        train_test_split(*_data(), test_size=np.float64(2.0))
    assert "test_fraction" not in str(excinfo.value)


DATASET_CASES = [
    ("n_samples", lambda: datasets.make_regression(n_samples=np.float64(2.5))),
    ("n_samples", lambda: datasets.make_classification(n_samples=np.bool_(True))),
    ("noise", lambda: datasets.make_regression(noise=np.float64(-1.0))),
]


@pytest.mark.parametrize("argument, call", DATASET_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(DATASET_CASES)])
def test_dataset_arguments_are_quoted_plainly(argument, call):
    with pytest.raises(ValueError) as excinfo:
        call()
    _assert_plain(excinfo, argument)


@pytest.mark.parametrize("options, argument", [
    (dict(target=np.float64(1.0)), "target"),
    (dict(header=np.int64(2)), "header"),
    (dict(delimiter=np.str_(";;")), "delimiter"),
])
def test_load_csv_options_are_quoted_plainly(tmp_path, options, argument):
    path = tmp_path / "table.csv"
    path.write_text("1,2,0\n3,4,1\n")
    with pytest.raises(ValueError) as excinfo:
        datasets.load_csv(path, **options)
    _assert_plain(excinfo, argument)


def _square(theta):
    return float(theta @ theta), 2 * theta


@pytest.mark.parametrize("options, argument", [
    (dict(gtol=np.float64(np.nan)), "gtol"),
    (dict(ftol=np.float64(-1.0)), "ftol"),
    (dict(max_iter=np.float64(1.5)), "max_iter"),
    (dict(memory=np.float64(2.5)), "memory"),
    (dict(max_evaluations=np.float64(0.5)), "max_evaluations"),
    (dict(method=np.int64(3)), "method"),
])
def test_minimize_options_are_quoted_plainly(options, argument):
    with pytest.raises(ValueError) as excinfo:
        minimize(_square, np.ones(3), **options)
    _assert_plain(excinfo, argument)


def test_dask_sizes_are_quoted_plainly():
    pytest.importorskip("dask.array", reason="make_dask_classification needs dask")
    from bpnet_xp.dask import make_dask_classification

    with pytest.raises(ValueError) as excinfo:
        make_dask_classification(n_samples=np.float64(10.5))
    _assert_plain(excinfo, "n_samples")
