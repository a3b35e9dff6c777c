"""The backend selector: discovery, clear errors, placement and transfers."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.backend import BACKEND_NAMES, BackendUnavailableError

PACKAGE = pathlib.Path(bp.__file__).parent


def test_numpy_is_always_available():
    assert "numpy" in bp.available_backends()
    be = bp.get_backend("numpy")
    assert (be.name, be.device) == ("numpy", "cpu")


def test_status_names_every_backend_and_gives_reasons():
    status = bp.backend_status()
    assert list(status) == list(BACKEND_NAMES)
    for name, reason in status.items():
        assert reason is None or (isinstance(reason, str) and reason), name
    assert bp.available_backends() == [n for n, r in status.items() if r is None]


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(BackendUnavailableError, match="unknown backend 'tensorflow'.*numpy"):
        bp.get_backend("tensorflow")


def test_absent_backend_says_why_and_what_is_available(monkeypatch):
    import sys

    # A None entry in sys.modules makes `import cupy` raise ImportError, as on a machine
    # without it, whether or not cupy is installed here.
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match=r"cupy.*not installed.*Available here: .*numpy"):
        bp.get_backend("cupy")
    assert "not installed" in bp.backend_status()["cupy"]
    assert "cupy" not in bp.available_backends()


def test_cuda_device_absent_is_a_clear_error():
    if "torch" not in bp.available_backends():
        pytest.skip("torch not installed")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        bp.get_backend("torch", device="cuda")


def test_auto_is_numpy_without_cuda_and_env_var_overrides(monkeypatch):
    monkeypatch.delenv("BPNET_XP_BACKEND", raising=False)
    be = bp.get_backend("auto")
    assert be.name in ("numpy", "cupy")
    if "cupy" not in bp.available_backends():
        assert be.name == "numpy"
    monkeypatch.setenv("BPNET_XP_BACKEND", "array_api_strict")
    if "array_api_strict" in bp.available_backends():
        assert bp.get_backend("auto").name == "array_api_strict"
    monkeypatch.setenv("BPNET_XP_BACKEND", "nonsense")
    with pytest.raises(BackendUnavailableError, match="nonsense"):
        bp.get_backend("auto")


def test_unknown_device():
    with pytest.raises(BackendUnavailableError, match="numpy only has the 'cpu' device"):
        bp.get_backend("numpy", device="cuda")
    if "array_api_strict" in bp.available_backends():
        with pytest.raises(BackendUnavailableError, match="no device 'gpu7'"):
            bp.get_backend("array_api_strict", device="gpu7")


def test_asarray_places_on_device_and_round_trips(backend):
    from array_api_compat import device

    host = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    arr = backend.asarray(host, "float32")
    assert str(device(arr)) == str(backend.device)
    assert arr.dtype == backend.xp.float32
    np.testing.assert_array_equal(backend.to_numpy(arr), host.astype(np.float32))
    if backend.has_float64:
        np.testing.assert_array_equal(backend.to_numpy(backend.asarray(host, "float64")), host)


def test_backend_of_an_array(backend):
    arr = backend.asarray(np.ones(3))
    found = bp.backend.backend_of(arr)
    assert found.name == backend.name
    assert str(found.device) == str(backend.device)


def test_same_seed_gives_bit_identical_theta_on_every_backend(backend):
    ref = bp.MLP([5, 7, 3], backend="numpy", seed=42, dtype="float32")
    net = bp.MLP([5, 7, 3], backend=backend, seed=42, dtype="float32")
    np.testing.assert_array_equal(backend.to_numpy(net.theta), ref.theta)
    other = bp.MLP([5, 7, 3], backend=backend, seed=43, dtype="float32")
    assert not np.array_equal(backend.to_numpy(other.theta), ref.theta)


# -- the array-API discipline, checked on the source ------------------------------------
COMPUTE_MODULES = ["activations.py", "losses.py", "optimizers.py", "solvers.py"]
GPU_LIBRARIES = {"cupy", "torch", "jax", "jaxlib", "dask"}


def _imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", COMPUTE_MODULES)
def test_compute_modules_do_not_import_numpy(module):
    path = PACKAGE / module
    if not path.exists():
        pytest.skip(f"{module} not written yet")
    assert "numpy" not in _imports(path), f"{module} imports numpy; compute code must use only the array API"


# distributed.py is the Dask integration itself (task graphs, the distributed client), so it
# may name dask; the array math inside its tasks still goes through array_namespace.
ALLOWED = {"backend.py": GPU_LIBRARIES, "distributed.py": {"dask", "distributed"}}


def test_only_backend_module_names_gpu_libraries():
    offenders = {}
    for path in PACKAGE.glob("*.py"):
        found = _imports(path) & (GPU_LIBRARIES | {"distributed"})
        found -= ALLOWED.get(path.name, set())
        if found:
            offenders[path.name] = sorted(found)
    assert not offenders, f"only backend.py may import GPU/array libraries: {offenders}"


@pytest.mark.parametrize("lower", [0.0, -1.5, 2.0])
def test_maximum_inplace_against_numpy(backend, lower):
    """The in-place door: np.maximum's values, written into x where the library can write
    (NumPy, CuPy, PyTorch: the array itself is returned), ``None`` and x untouched elsewhere."""
    from bpnet_xp.backend import maximum_inplace

    host = np.array([[-3.0, -1.5, 0.0], [1.0, 2.5, np.nan]], dtype=np.float32)
    x = backend.asarray(host, "float32")
    result = maximum_inplace(x, lower)
    if backend.name in ("numpy", "cupy", "torch"):
        assert result is x
        np.testing.assert_array_equal(backend.to_numpy(x), np.maximum(host, np.float32(lower)))
        assert backend.to_numpy(x).dtype == np.float32
    else:
        assert result is None
        np.testing.assert_array_equal(backend.to_numpy(x), host)
