"""bpnet_xp: back-propagation multilayer perceptrons written once against the Python array API.

The same code trains on NumPy (CPU), CuPy (CUDA), PyTorch, JAX, array-api-strict and
Dask.  See :class:`MLP`, :func:`get_backend` and :func:`check_gradients`.
"""

import importlib

from .activations import sigmoid_gradient
from .backend import Backend, BackendUnavailableError, available_backends, backend_status, get_backend
from .model import MLP, load

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "GradientCheckResult",
    "MLP",
    "available_backends",
    "backend_status",
    "check_gradients",
    "get_backend",
    "load",
    "sigmoid_gradient",
    "__version__",
]

# Submodules that `import bpnet_xp` used to load as a side effect (so `bp.training` worked
# without an import of its own); they now load on first attribute access, like the names below.
_SUBMODULES = frozenset({
    "config", "curvature", "dask", "gradcheck", "history", "initializers", "io", "losses", "metrics",
    "network", "optimizers", "preprocessing", "progress", "schedules", "solvers", "sources",
    "training", "validation", "version",
})


def __getattr__(name: str):
    """Names that building an MLP does not need, imported on first use (PEP 562).

    ``import bpnet_xp`` plus a first ``MLP(...).loss_and_grad`` stays cheap (issue 15 item 6):
    the gradient checker, the version (importlib.metadata) and the training stack load only
    when asked for.
    """
    if name in ("check_gradients", "GradientCheckResult"):
        from . import gradcheck

        value = getattr(gradcheck, name)
    elif name == "__version__":
        from .version import __version__ as value
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups find it without calling here
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
