"""Property-based checks (issue 12): for any X / y / sample_weight, fit, predict, score and
loss either succeed with finite results or raise ValueError/TypeError naming the argument.

Small networks, on NumPy and array_api_strict, data given as host NumPy or as arrays of the
backend.  The "bpnet_xp" settings profile runs 200 examples per property per backend (set
HYPOTHESIS_PROFILE=bpnet_xp-quick for a 25-example smoke run while editing).
"""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bpnet_xp as bp

settings.register_profile("bpnet_xp", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("bpnet_xp-quick", parent=settings.get_profile("bpnet_xp"), max_examples=25)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "bpnet_xp")
                               if os.environ.get("HYPOTHESIS_PROFILE", "").startswith("bpnet_xp") else "bpnet_xp")

# (hidden activation, output, loss)
NETWORKS = [("sigmoid", "sigmoid", "cross_entropy"), ("tanh", "softmax", "softmax_cross_entropy"),
            ("relu", "identity", "mse")]
NAMES = re.compile(r"\b(X|y|sample_weight|labels?|targets?)\b")

# Mostly ordinary values, sometimes the hostile ones.
VALUES = st.one_of(st.floats(-1e3, 1e3, width=32), st.sampled_from([0.0, 1.0, 0.5, np.nan, np.inf, -np.inf]))
HUGE = st.sampled_from([1e300, -1e39])  # finite in float64, overflow float32


def rarely(draw) -> bool:
    """True one time in eight: most examples are valid, some hostile in one respect."""
    return draw(st.integers(0, 7)) == 0


@st.composite
def cases(draw):
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hidden, output, loss = draw(st.sampled_from(NETWORKS))
    if output == "softmax":
        n_out = max(n_out, 2)
    m = 0 if rarely(draw) else draw(st.integers(1, 6))
    X_cols = n_in + 1 if rarely(draw) else n_in
    X_shape = (m,) if rarely(draw) else (m, X_cols)
    X_dtype = draw(st.sampled_from([np.float64, np.float64, np.float32, np.int64, np.bool_]))
    if X_dtype in (np.float64, np.float32):
        elements = VALUES if rarely(draw) else st.floats(-5, 5, width=32)
    else:
        elements = st.integers(0, 1) if X_dtype is np.bool_ else st.integers(-3, 3)
    X = draw(hnp.arrays(X_dtype, X_shape, elements=elements))
    y_rows = m + 1 if rarely(draw) else m
    y_kind = draw(st.sampled_from(["labels", "labels", "matrix", "column", "onehot"]))
    if y_kind == "labels":
        top = max(n_out, 2) if rarely(draw) else max(n_out, 2) - 1
        y = np.asarray(draw(st.lists(st.integers(-1 if rarely(draw) else 0, top), min_size=y_rows, max_size=y_rows)),
                       dtype=draw(st.sampled_from([np.int64, np.float64])))
    elif y_kind == "onehot":
        y = np.eye(n_out)[np.arange(y_rows) % n_out]
    else:
        shape = (y_rows, n_out) if y_kind == "matrix" else (y_rows, 1)
        y = draw(hnp.arrays(np.float64, shape, elements=st.one_of(VALUES, HUGE) if rarely(draw)
                            else st.floats(0, 1)))
    weight = None
    if draw(st.booleans()):
        weight = draw(hnp.arrays(np.float64, (m + 1 if rarely(draw) else m,),
                                 elements=st.floats(-1, 3) if rarely(draw) else st.floats(0.5, 3)))
    return (n_in, n_out, hidden, output, loss), X, y, weight


def _network(backend, structure):
    n_in, n_out, hidden, output, loss = structure
    return bp.MLP([n_in, 3, n_out], activation=hidden, output=output, loss=loss, backend=backend, seed=0)


def _place(backend, array, on_device: bool):
    if array is None or not on_device:
        return array
    return backend.asarray(array)


def _finite(value) -> bool:
    host = np.asarray(bp.backend.to_numpy(value), dtype=np.float64) if not isinstance(value, float) else value
    return bool(np.all(np.isfinite(host)))


def _succeeds_or_names_the_problem(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # divergence warnings are tested elsewhere
            result = call()
    except (ValueError, TypeError) as exc:
        assert NAMES.search(str(exc)), f"message does not name the argument: {exc}"
        event("refused")
        return None
    event("succeeded")
    return result


@pytest.fixture(params=["numpy", "array_api_strict"])
def property_backend(request):
    return bp.get_backend(request.param)


@PROFILE
@given(case=cases(), on_device=st.booleans())
def test_loss(property_backend, case, on_device):
    structure, X, y, weight = case
    be = property_backend
    net = _network(be, structure)
    value = _succeeds_or_names_the_problem(
        lambda: net.loss(_place(be, X, on_device), _place(be, y, on_device), sample_weight=weight))
    assert value is None or (isinstance(value, float) and math.isfinite(value))


@PROFILE
@given(case=cases(), on_device=st.booleans())
def test_predict(property_backend, case, on_device):
    structure, X, _, _ = case
    net = _network(property_backend, structure)
    result = _succeeds_or_names_the_problem(lambda: net.predict(_place(property_backend, X, on_device)))
    if result is not None:
        assert result.shape[0] == X.shape[0] and _finite(result)


@PROFILE
@given(case=cases(), on_device=st.booleans())
def test_score(property_backend, case, on_device):
    structure, X, y, weight = case
    be = property_backend
    net = _network(be, structure)
    value = _succeeds_or_names_the_problem(
        lambda: net.score(_place(be, X, on_device), _place(be, y, on_device), sample_weight=weight))
    assert value is None or (isinstance(value, float) and not math.isnan(value))


@PROFILE
@given(case=cases(), on_device=st.booleans(), optimizer=st.sampled_from(["adam", "gd", "cg"]))
def test_fit(property_backend, case, on_device, optimizer):
    structure, X, y, weight = case
    be = property_backend
    net = _network(be, structure)
    options = {"max_iter": 2} if optimizer == "cg" else {"epochs": 2}
    history = _succeeds_or_names_the_problem(
        lambda: net.fit(_place(be, X, on_device), _place(be, y, on_device), optimizer=optimizer,
                        sample_weight=weight, **options))
    if history is not None:
        assert _finite(net.theta)
        assert all(math.isfinite(v) for v in history.loss)
