"""bpnet_xp: back-propagation multilayer perceptrons written once against the Python array API.

The same code trains on NumPy (CPU), CuPy (CUDA), PyTorch, JAX, array-api-strict and
Dask.  See :class:`MLP`, :func:`get_backend` and :func:`check_gradients`.
"""

from .activations import sigmoid_gradient
from .backend import Backend, BackendUnavailableError, available_backends, backend_status, get_backend
from .gradcheck import GradientCheckResult, check_gradients
from .model import MLP, load
from .version import __version__

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
