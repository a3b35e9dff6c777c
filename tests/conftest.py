"""One test suite over every backend.

The ``backend`` fixture yields a :class:`bpnet_xp.Backend` for each array library
(and device) that can run here.  A backend that cannot run is skipped with the
reason, unless it is named in ``BPNET_XP_REQUIRE_BACKENDS`` (a comma list set by
CI), in which case its absence is a failure: CI cannot go green by testing less.
"""

from __future__ import annotations

import os

import pytest

import bpnet_xp as bp
from bpnet_xp.backend import BackendUnavailableError

# (fixture id, backend name, device)
BACKEND_PARAMS = [
    ("numpy", "numpy", None),
    ("array_api_strict", "array_api_strict", None),
    # A second device: array_api_strict refuses to mix arrays of two devices, so this
    # proves every array we create is placed on the backend's device.
    ("array_api_strict-device1", "array_api_strict", "device1"),
    # BPNET_XP_TORCH_DEVICE=cuda runs the torch cases on the GPU (scripts/gpu_check.sh); CPU otherwise.
    ("torch", "torch", os.environ.get("BPNET_XP_TORCH_DEVICE", "").strip() or None),
    ("jax", "jax", None),
    ("cupy", "cupy", None),
]


def _required() -> set[str]:
    raw = os.environ.get("BPNET_XP_REQUIRE_BACKENDS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _enable_jax_x64() -> None:
    try:
        import jax
    except ImportError:
        return
    # The float64 gradient checks need x64; enable it before any JAX array exists.
    jax.config.update("jax_enable_x64", True)


_enable_jax_x64()


def make_backend(name: str, device=None) -> bp.Backend:
    """Build a backend or skip (fail when it is required) with the reason."""
    try:
        return bp.get_backend(name, device=device)
    except BackendUnavailableError as exc:
        if name in _required():
            pytest.fail(f"required backend {name!r} is unavailable: {exc}")
        pytest.skip(f"backend {name!r} unavailable: {exc}")


def import_or_skip(module: str, backend_name: str):
    """``pytest.importorskip`` that fails instead when ``backend_name`` is required by CI."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        if backend_name in _required():
            pytest.fail(f"required backend {backend_name!r} is unavailable: {exc}", pytrace=False)
        pytest.skip(f"{module} not installed: {exc}", allow_module_level=True)


@pytest.fixture(params=BACKEND_PARAMS, ids=[p[0] for p in BACKEND_PARAMS])
def backend(request) -> bp.Backend:
    """Every backend (and device) the suite runs on."""
    _, name, device = request.param
    return make_backend(name, device)


@pytest.fixture
def xp(backend):
    """The array-API namespace of the current backend."""
    return backend.xp


# Backends that hold float64 and are bit-reproducible against NumPy, for the
# cross-backend equality tests.
@pytest.fixture(params=[p for p in BACKEND_PARAMS if p[0] != "numpy"], ids=[p[0] for p in BACKEND_PARAMS if p[0] != "numpy"])
def other_backend(request) -> bp.Backend:
    _, name, device = request.param
    return make_backend(name, device)


def pytest_terminal_summary(terminalreporter):
    """Say once which backends were not tested here, and why (instead of one line per skip)."""
    status = bp.backend_status()
    missing = {name: why for name, why in status.items() if why is not None}
    terminalreporter.write_sep("-", "bpnet_xp backends")
    tested = [name for name, why in status.items() if why is None]
    terminalreporter.write_line(f"available and tested: {', '.join(tested)}")
    for name, why in missing.items():
        terminalreporter.write_line(f"skipped {name}: {why}")
