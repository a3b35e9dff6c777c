"""The backend selector: discovery, clear errors, placement and transfers."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import bpnet_xp as bp
from bpnet_xp.backend import BACKEND_NAMES, BackendUnavailableError
from conftest import make_backend

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
# A package (solvers/) stands for every module in it.
COMPUTE_MODULES = ["activations.py", "losses.py", "optimizers.py", "solvers"]
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
    paths = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    offenders = [str(p.relative_to(PACKAGE)) for p in paths if "numpy" in _imports(p)]
    assert not offenders, f"{offenders} import numpy; compute code must use only the array API"


# dask.py is the Dask integration itself (task graphs, the distributed client), so it
# may name dask; the array math inside its tasks still goes through array_namespace.
ALLOWED = {"backend.py": GPU_LIBRARIES, "dask.py": {"dask", "distributed"}}


def test_only_backend_module_names_gpu_libraries():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):  # subpackages (cli/, solvers/) included
        where = str(path.relative_to(PACKAGE))
        found = _imports(path) & (GPU_LIBRARIES | {"distributed"})
        found -= ALLOWED.get(where, set())
        if found:
            offenders[where] = sorted(found)
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


# -- library recognition and capabilities, against what each library documents --------
# Written out by hand: which libraries write into arrays with out= (JAX arrays are
# immutable; array-api-strict and Dask have no out=), which are lazy, which compile.
WRITES_IN_PLACE = {"numpy", "cupy", "torch"}
LAZY = {"dask"}
COMPILES = {"jax"}


def test_library_name_and_capabilities(backend):
    from bpnet_xp.backend import inplace_namespace, library_name

    arr = backend.asarray(np.ones((2, 3)), "float32")
    assert library_name(arr) == backend.name
    assert backend.is_native(arr)
    assert backend.writes_in_place is (backend.name in WRITES_IN_PLACE)
    assert backend.is_lazy is (backend.name in LAZY)
    assert backend.compiles is (backend.name in COMPILES)
    assert (inplace_namespace(arr) is not None) is backend.writes_in_place
    if not backend.compiles:
        fn = lambda v: v  # noqa: E731
        assert backend.compile(fn) is fn


def test_dask_backend_recognition_and_capabilities():
    from bpnet_xp.backend import is_concrete, is_dask_array, library_name, to_numpy

    be = make_backend("dask")  # skips with the reason (fails when CI requires dask)
    arr = be.asarray(np.arange(6.0).reshape(3, 2), "float64")
    assert is_dask_array(arr) and library_name(arr) == "dask" and be.is_native(arr)
    assert be.is_lazy and not be.writes_in_place and not be.compiles
    assert not is_concrete(arr)
    np.testing.assert_array_equal(to_numpy(arr), np.arange(6.0).reshape(3, 2))


def test_is_dask_array_does_not_import_dask():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from bpnet_xp.backend import is_dask_array; "
            "assert not is_dask_array(np.zeros(3)) and not is_dask_array([1, 2]); "
            "assert 'dask' not in sys.modules, 'dask imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unsupported_types_are_named():
    from bpnet_xp.backend import inplace_namespace, is_concrete, library_name, to_numpy

    for value in ([1.0, 2.0], "text", None):
        with pytest.raises(TypeError, match="unsupported array type"):
            library_name(value)
        assert inplace_namespace(value) is None
        assert is_concrete(value)
    with pytest.raises(TypeError, match="unsupported array type builtins.list"):
        to_numpy([1.0, 2.0])
    assert not bp.get_backend("numpy").is_native([1.0])


def test_every_backend_name_has_a_probe():
    # A name without a probe would be reported as "unknown backend" by its own status.
    for name, reason in bp.backend_status().items():
        assert reason is None or "unknown backend" not in reason, name


def test_jax_tracers_are_not_concrete():
    make_backend("jax")  # skips with the reason (fails when CI requires jax)
    import jax

    from bpnet_xp.backend import is_concrete

    seen = []
    jax.jit(lambda v: seen.append(is_concrete(v)) or v)(jax.numpy.ones(2))
    assert seen == [False]
    assert is_concrete(jax.numpy.ones(2))


def test_scan_equals_a_hand_written_loop(backend):
    """Backend.scan (jax.lax.scan on JAX, a loop elsewhere) against NumPy's cumulative sum."""
    from bpnet_xp.backend import to_numpy

    values = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    scales = np.array([2.0, 3.0, 0.5])
    xs = (backend.asarray(values, dtype="float32"), backend.asarray(scales, dtype="float32"))

    def body(carry, x):
        row, scale = x
        carry = carry + row * scale
        return carry, backend.xp.sum(carry)

    carry, ys = backend.scan(body, backend.asarray(np.zeros(2), dtype="float32"), xs)
    running = np.cumsum(values * scales[:, None], axis=0)
    np.testing.assert_allclose(to_numpy(carry), running[-1], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(ys), running.sum(axis=1), rtol=1e-6)


def test_scan_pays_where_compiled(backend):
    # The rule written out by hand: no compilation, no scan; on JAX, on every device
    # (measured on the CPU, see Backend.scan_pays), whatever the size.
    expected = backend.name == "jax"
    assert backend.scan_pays(235_146) is expected
    assert backend.scan_pays(1_863_690) is expected
