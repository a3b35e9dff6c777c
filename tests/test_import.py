"""``import bpnet_xp`` stays cheap (issue 15 item 6): no optional library, no training stack.

Checked in a fresh interpreter through ``sys.modules`` (this test process has imported
everything already).  The progress bar (tqdm) is a core dependency, but nothing at import
needs it, so it stays lazy too.  Time itself is measured by ``python scripts/bench
--workloads import``, never by a timed test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bpnet_xp as bp

OPTIONAL = ("torch", "jax", "dask", "cupy", "scipy", "sklearn", "pandas", "matplotlib", "tqdm")
# Heavy modules of the package and of the standard library that only training, files and the
# version string need.
LAZY = ("bpnet_xp.training", "bpnet_xp.solvers", "bpnet_xp.io", "bpnet_xp.dask", "bpnet_xp.gradcheck",
        "importlib.metadata", "tempfile", "zipfile")


def _modules_after(code: str) -> set[str]:
    """The top-level and dotted module names loaded by ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], names) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_import_loads_no_optional_library_and_no_training_stack():
    modules = _modules_after("import bpnet_xp")
    assert "bpnet_xp.model" in modules and "numpy" in modules  # guards against an empty answer
    assert _loaded(modules, OPTIONAL) == []
    assert _loaded(modules, LAZY) == []


def test_first_loss_and_grad_loads_no_optional_library():
    modules = _modules_after(
        "import numpy as np\nimport bpnet_xp as bp\n"
        "bp.MLP([4, 3, 2]).loss_and_grad(np.ones((5, 4)), np.arange(5) % 2)")
    assert "bpnet_xp.network" in modules
    assert _loaded(modules, OPTIONAL) == []
    assert _loaded(modules, ("bpnet_xp.training", "bpnet_xp.io", "bpnet_xp.dask")) == []


def test_the_checker_sees_a_loaded_module():
    # The check above must be able to fail: importing a lazy module is reported.
    modules = _modules_after("import bpnet_xp\nimport bpnet_xp.training")
    assert _loaded(modules, LAZY) != []


def test_every_public_name_still_resolves():
    # In a fresh interpreter, so the lazy names resolve from nothing, by attribute and by from-import.
    code = ("import bpnet_xp\nmissing = []\nfor name in bpnet_xp.__all__:\n"
            "    if getattr(bpnet_xp, name, None) is None:\n        missing.append(name)\n"
            "    exec(f'from bpnet_xp import {name}')\nprint(len(bpnet_xp.__all__), missing)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(bp.__all__)), "[]"]


def test_lazy_names_are_the_real_objects():
    # Resolved lazily, but the same objects as the defining modules' (not copies, not wrappers).
    import tomllib

    from bpnet_xp import gradcheck

    assert bp.check_gradients is gradcheck.check_gradients
    assert bp.GradientCheckResult is gradcheck.GradientCheckResult
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    assert bp.__version__ == tomllib.loads(pyproject.read_text())["project"]["version"]
    assert set(bp.__all__) <= set(dir(bp))
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(bp, "no_such_name")


def test_submodules_reachable_as_attributes():
    # `import bpnet_xp` used to load these as a side effect; scripts that wrote bp.training
    # without importing it keep working.
    code = "import bpnet_xp as bp\nprint(bp.training.fit.__module__, bp.io.save.__module__)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bpnet_xp.training", "bpnet_xp.io"]


def test_the_import_benchmark_measures_a_fresh_process():
    # scripts/bench/imports.py (``python scripts/bench --workloads import``): one child's figures.
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "scripts"))
    try:
        from bench import imports
        from bench.__main__ import config_from, parse_args
    finally:
        sys.path.remove(str(root / "scripts"))
    assert config_from(parse_args(["--workloads", "import"])).workloads == ("import",)
    one = imports.measure_once()
    assert one["import"] > 0 and one["first_loss_and_grad"] > 0
    assert one["total"] == pytest.approx(one["import"] + one["first_loss_and_grad"], rel=1e-9)
    assert one["loaded"] == []  # the same sys.modules check as above, from the benchmark's child


# array_api_compat.numpy as a plain import makes it, and NumPy's namespace around it: the
# reference the backend's faster import (backend._import_compat_numpy) must equal.
NAMESPACES = """
import json, sys, numpy as np
{setup}
import array_api_compat.numpy as xp
extras = ("f2py", "testing", "typing", "ctypeslib", "ma", "polynomial", "char", "rec", "strings", "core")
loaded = sorted(n for n in extras if "numpy." + n in sys.modules)
same = {{n: [getattr(xp, n) is getattr(np, n, None), type(getattr(xp, n)).__name__] for n in dir(xp)}}
print(json.dumps({{"xp_dir": sorted(dir(xp)), "xp_all": sorted(xp.__all__), "np_all": sorted(np.__all__),
                  "np_dir": sorted(dir(np)), "same_objects": same, "loaded_before_use": loaded}}))
"""


def _namespaces(setup: str) -> dict:
    done = subprocess.run([sys.executable, "-c", NAMESPACES.format(setup=setup)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_numpy_backend_imports_array_api_compat_without_numpys_extras_and_changes_no_namespace():
    plain = _namespaces("")
    fast = _namespaces("import bpnet_xp as bp\nloaded = bp.get_backend('numpy')\n"
                       "print(sorted(m for m in sys.modules if m in ('numpy.f2py', 'numpy.testing')))")
    assert "f2py" in plain["loaded_before_use"] and "testing" in plain["loaded_before_use"]  # what the plain way costs
    # Looking at every name (as the comparison does) loads them all in the end; what matters
    # is that the namespaces are the same, name for name and object for object.
    assert plain["same_objects"]["testing"] == [True, "module"]
    for key in ("xp_dir", "xp_all", "np_all", "np_dir", "same_objects"):
        assert fast[key] == plain[key], key
    modules = _modules_after("import bpnet_xp as bp\nbp.MLP([3, 2], backend='numpy').loss_and_grad([[0.0, 1.0, 2.0]], [1])")
    assert _loaded(modules, ["numpy.f2py", "numpy.testing", "numpy.ma", "numpy.polynomial"]) == []
