"""Backend selection: which array library runs the math, and on which device.

The only module of bpnet_xp that names CuPy, PyTorch, JAX or Dask or branches on a
library, and it branches through array-api-compat's ``is_*_namespace`` /
``is_*_array`` predicates.  The rest asks a :class:`Backend` for capabilities
(:attr:`~Backend.writes_in_place`, :attr:`~Backend.is_lazy`,
:attr:`~Backend.compiles`, :attr:`~Backend.has_float64`) and otherwise uses only the
array API standard.  Host data enters through :meth:`Backend.asarray` and leaves
through :func:`to_numpy`, so every host<->device transfer is explicit.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import array_api_compat as compat
import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device_of

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "available_backends",
    "backend_status",
    "get_backend",
    "backend_of",
    "library_name",
    "is_dask_array",
    "to_numpy",
    "inplace_namespace",
    "fused_adam",
    "fused_relu",
    "maximum_inplace",
    "native_sum",
    "is_concrete",
    "scan",
    "BACKEND_NAMES",
]

#: Every backend bpnet_xp knows, in the order ``available_backends`` reports them.
BACKEND_NAMES = ("numpy", "array_api_strict", "torch", "jax", "cupy", "dask")


#: (function, static_argnums, donate_argnums) -> its jax.jit wrapper (see :meth:`Backend.compile`).
_COMPILED: dict = {}


class BackendUnavailableError(ValueError):
    """A backend or device was asked for that cannot be used on this machine."""


# ---------------------------------------------------------------------------------------
# Which library an array or a namespace belongs to: array-api-compat's predicates.


def _is_strict_array(x: Any) -> bool:
    """Whether ``x`` is an array-api-strict array.

    array-api-compat has no ``is_array_api_strict_array``; an array-api-strict array
    is recognised by the namespace it names.  Asked last, after the cheap predicates.
    """
    try:
        return compat.is_array_api_strict_namespace(array_namespace(x))
    except (TypeError, ValueError):  # not an array of any library array-api-compat knows
        return False


#: backend name -> predicate on arrays, in the order :func:`library_name` asks them.
_ARRAY_PREDICATES: dict[str, Callable[[Any], bool]] = {
    "numpy": compat.is_numpy_array,
    "cupy": compat.is_cupy_array,
    "torch": compat.is_torch_array,
    "jax": compat.is_jax_array,
    "dask": compat.is_dask_array,
    "array_api_strict": _is_strict_array,
}


def library_name(x: Any) -> str:
    """The bpnet_xp backend name of the library an array comes from.

    Parameters
    ----------
    x : array
        An array (or NumPy scalar) of any supported library, any shape.

    Returns
    -------
    str
        One of :data:`BACKEND_NAMES`.

    Raises
    ------
    TypeError
        If ``x`` is not an array of a supported library.
    """
    for name, is_array in _ARRAY_PREDICATES.items():
        if is_array(x):
            return name
    raise _unsupported(x)


def _unsupported(x: Any) -> TypeError:
    return TypeError(f"unsupported array type {type(x).__module__}.{type(x).__name__}")


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a ``dask.array.Array``, without importing Dask.

    array-api-compat's predicate looks Dask up in ``sys.modules`` only: when Dask
    was never imported, no Dask array can exist and the answer is False at once.

    Parameters
    ----------
    x : object

    Returns
    -------
    bool
    """
    return compat.is_dask_array(x)


# ---------------------------------------------------------------------------------------
# The backend.


@dataclass(frozen=True)
class Backend:
    """An array library and a device.

    Parameters
    ----------
    name : str
        One of :data:`BACKEND_NAMES`.
    xp : module
        The array-API-standard namespace (as returned by
        ``array_api_compat.array_namespace``) of the library.
    device : object
        The device arrays are created on, as the library spells it
        (``"cpu"`` for NumPy, ``torch.device("cuda:0")``, ...).
    """

    name: str
    xp: Any = field(repr=False)
    device: Any

    # -- capabilities: what the rest of the package asks instead of comparing names ----
    @property
    def writes_in_place(self) -> bool:
        """Whether arrays can be written into with ``out=`` (NumPy, CuPy, PyTorch).

        JAX arrays are immutable; array-api-strict and Dask have no ``out=``.
        """
        xp = self.xp
        return (compat.is_numpy_namespace(xp) or compat.is_cupy_namespace(xp)
                or compat.is_torch_namespace(xp))

    @property
    def is_lazy(self) -> bool:
        """Whether arrays are lazy task graphs (Dask) rather than computed buffers."""
        return compat.is_dask_namespace(self.xp)

    @property
    def compiles(self) -> bool:
        """Whether :meth:`compile` really compiles (``jax.jit`` on JAX) rather than
        returning the function unchanged."""
        return compat.is_jax_namespace(self.xp)

    @property
    def has_float64(self) -> bool:
        """Whether the device can hold float64 arrays."""
        try:
            dtypes = self.xp.__array_namespace_info__().dtypes(device=self.device)
        except Exception:  # pragma: no cover - namespaces without the inspection API
            return True
        if "float64" not in dtypes:
            return False
        if compat.is_jax_namespace(self.xp):
            # JAX lists float64 but silently gives float32 unless x64 is enabled.
            import jax

            return bool(jax.config.read("jax_enable_x64"))
        return True

    def dtype(self, dtype: Any) -> Any:
        """The backend's floating dtype object for ``"float32"``/``"float64"`` (or a dtype).

        Parameters
        ----------
        dtype : str or dtype
            ``"float32"`` or ``"float64"``; anything that is not a string is taken to
            be a dtype of the backend already and returned unchanged.

        Returns
        -------
        dtype
            ``xp.float32`` or ``xp.float64`` of this backend (or ``dtype`` itself).

        Raises
        ------
        ValueError
            If ``dtype`` is a string other than ``"float32"``/``"float64"``.
        BackendUnavailableError
            If ``"float64"`` is asked for on a device without float64 (see
            :attr:`has_float64`).
        """
        if not isinstance(dtype, str):
            return dtype
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if dtype == "float64" and not self.has_float64:
            hint = (" or enable it with jax.config.update('jax_enable_x64', True)"
                    if compat.is_jax_namespace(self.xp) else "")
            raise BackendUnavailableError(
                f"device {self.device!r} of backend {self.name!r} has no float64; "
                f"use dtype='float32'{hint}"
            )
        return getattr(self.xp, dtype)

    def compile(self, fn, static_argnums=(), donate_argnums=()):
        """``fn`` compiled where that pays on this backend (``jax.jit`` on JAX), else ``fn``.

        The generic function stays the reference: the compiled one is the same code
        traced once, and the tests compare the two.

        Parameters
        ----------
        fn : callable
            The function to compile; on JAX its wrapper is cached per
            ``(fn, static_argnums, donate_argnums)``, so pass the same function object
            each time.
        static_argnums : tuple of int, optional
            Positions of arguments that are compile-time constants (passed to
            ``jax.jit``; ignored where nothing is compiled).
        donate_argnums : tuple of int, optional
            Positions of arguments whose arrays the caller gives up: XLA may write the
            results into their buffers (JAX's CPU and GPU do), and they are deleted by
            the call.  Only for arrays nothing else refers to; ignored where nothing is
            compiled (the generic function never writes into its arguments).

        Returns
        -------
        callable
            ``jax.jit(fn, static_argnums=..., donate_argnums=...)`` on JAX, ``fn`` itself
            elsewhere.
        """
        if self.compiles:
            key = (fn, tuple(static_argnums), tuple(donate_argnums))
            compiled = _COMPILED.get(key)
            if compiled is None:
                import jax

                # One jit wrapper per function: its trace cache then serves every fit
                # (a new wrapper per fit would trace and compile again each time).
                compiled = _COMPILED[key] = jax.jit(fn, static_argnums=static_argnums,
                                                    donate_argnums=donate_argnums)
            return compiled
        return fn

    def scan_pays(self, n_parameters: int) -> bool:
        """Whether a compiled loop over a whole epoch (:meth:`scan` inside :meth:`compile`)
        is expected to beat one compiled step per batch, for a network of ``n_parameters``.

        JAX: yes, on every device (each call's dispatch and the per-step work on the host
        are what the loop saves; off the CPU not measured here: this project's machine
        has no GPU).  Measured on the project's 2-core CPU, fits alternating in one
        process, the epoch's steps on per-layer pieces
        (:func:`bpnet_xp.sources.split_pieces`): W1 784-256-128-10, batch 128, the scan
        0.17-0.20 s per epoch, steady over 7 fits, against 0.23-0.26 s one step per batch
        (0.71x); batch 512 0.91x; 784-1024-1024-10 0.95x; 64-25-10 on 1797 rows 0.18x
        (batch 1) and 0.58x (batch 32).  (On the flat theta, before the pieces, the
        scanned epoch was erratic, 0.09-2.0 s fit after fit, and 2.5-4x slower at
        784-1024-1024-10.)  Elsewhere (no compilation): no.

        Parameters
        ----------
        n_parameters : int
            Length of the flat parameter vector ``theta`` of the network (kept for a
            size rule; the rule above does not depend on it).

        Returns
        -------
        bool
            True on a compiling backend (JAX); False on every other backend.
        """
        return self.compiles

    def scan(self, f: Callable, carry: Any, xs: tuple) -> tuple:
        """:func:`scan` (``jax.lax.scan`` on JAX arrays, a Python loop elsewhere).

        Parameters
        ----------
        f : callable
            ``f(carry, x) -> (carry, y)``; ``x`` a tuple of one row of each of ``xs``,
            ``y`` an array of the same shape at every iteration.
        carry : pytree of arrays (tuples, NamedTuples, None)
            The initial carry.
        xs : tuple of arrays, each of shape (n, ...)
            Scanned over their leading axis.

        Returns
        -------
        carry : pytree of arrays
            The last carry.
        ys : array, shape (n, ...)
            The ``y`` of every iteration, stacked.
        """
        return scan(f, carry, xs)

    # -- transfers -------------------------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Move host (or same-library) data onto this backend's device.

        Parameters
        ----------
        x : array_like, any shape
            NumPy array, nested sequence, scalar, or an array of this backend.
        dtype : str or dtype, optional
            ``"float32"``, ``"float64"`` or a dtype of the backend.

        Returns
        -------
        array, same shape as ``x``
            An array of ``xp`` on ``device``.
        """
        xp = self.xp
        dt = None if dtype is None else self.dtype(dtype)
        if compat.is_dask_namespace(xp) and isinstance(x, np.ndarray):
            import dask.array as da

            arr = da.from_array(x, chunks=_dask_row_chunks(x))
            return arr if dt is None else xp.astype(arr, dt)
        if compat.is_jax_namespace(xp):
            # jax.numpy.asarray has no device argument in older releases; device_put does.
            import jax

            return jax.device_put(xp.asarray(x, dtype=dt), self.device)
        if compat.is_torch_namespace(xp) and compat.is_torch_array(x):
            arr = x.to(self.device)
            return arr if dt is None else xp.astype(arr, dt)
        if compat.is_array_api_strict_namespace(xp):
            if _is_strict_array(x):
                arr = x.to_device(self.device)
                return arr if dt is None else xp.astype(arr, dt)
            if isinstance(x, np.ndarray) and x.dtype.kind == "O":
                # array-api-strict raises TypeError for them; callers expect ValueError for bad data.
                raise ValueError("object arrays are not supported; pass numeric data")
        return xp.asarray(x, dtype=dt, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy an array of this (or any supported) backend to a host NumPy array.

        Parameters
        ----------
        x : array or Python scalar, any shape
            An array of any supported backend (computed first if lazy).

        Returns
        -------
        numpy.ndarray, same shape as ``x``
            On the host; ``x`` itself when it already is a NumPy array (see the
            module-level :func:`to_numpy`).
        """
        return to_numpy(x)

    def is_native(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend's library (device not checked).

        Parameters
        ----------
        x : object
            Anything; arrays of any shape.

        Returns
        -------
        bool
            True when ``x`` is an array of this backend's library.
        """
        is_array = _ARRAY_PREDICATES.get(self.name)
        return bool(is_array is not None and is_array(x))

    def same_device(self, x: Any) -> bool:
        """Whether ``x`` already lives on this backend's device.

        Parameters
        ----------
        x : object
            An array of any shape (of any library).

        Returns
        -------
        bool
            True when the device of ``x`` equals :attr:`device`; False when they
            differ or ``x`` has no device that can be read.
        """
        try:
            return _devices_equal(_device_of(x), self.device)
        except Exception:
            return False

    def __str__(self) -> str:
        return f"{self.name} on {self.device}"


# ---------------------------------------------------------------------------------------
# Helpers that branch on libraries (kept here so the compute code never has to).


def _devices_equal(a: Any, b: Any) -> bool:
    # Devices of one library compare by identity or by value depending on the library;
    # their string forms agree either way.
    return str(a) == str(b) or a == b


def _dask_row_chunks(x: np.ndarray) -> tuple:
    """Chunks of a host array as it enters Dask: whole rows, at most 65536 per chunk."""
    if not x.ndim:
        return ()
    rows = max(1, min(x.shape[0], 65536))
    return (rows,) + tuple(x.shape[1:])


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported backend to a host NumPy array.

    Parameters
    ----------
    x : array or Python scalar, any shape

    Returns
    -------
    numpy.ndarray, same shape as ``x``
        ``x`` itself when it already is one.

    Raises
    ------
    TypeError
        If ``x`` is not an array of a supported library.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, bool, np.generic)):
        return np.asarray(x)
    if compat.is_cupy_array(x):
        return x.get()
    if compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if compat.is_dask_array(x):
        return np.asarray(x.compute())
    if compat.is_jax_array(x):
        return np.asarray(x)
    if _is_strict_array(x):
        import array_api_strict

        return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
    raise _unsupported(x)


def inplace_namespace(x: Any):
    """The array library itself when ``x`` can be updated in place with ``out=`` (NumPy,
    CuPy, PyTorch), else ``None`` (JAX arrays are immutable; array-api-strict and Dask
    have no ``out=``).

    The array API standard has no ``out=`` and no in-place guarantee, so the compute
    code never relies on either; this is the one door through which a hot loop (the
    fused optimizer step of :mod:`bpnet_xp.optimizers`) may reuse its own buffers on
    the libraries where that saves allocations.  Each such use keeps the generic
    pure path as the reference it is tested against.

    Parameters
    ----------
    x : array, any shape

    Returns
    -------
    module or None
        ``numpy``, ``cupy`` or ``torch`` (the raw library, not the array-API wrapper).
    """
    if compat.is_numpy_array(x):
        return np
    # The library is imported already (x is one of its arrays); import_module finds it.
    if compat.is_cupy_array(x):
        return importlib.import_module("cupy")
    if compat.is_torch_array(x):
        return importlib.import_module("torch")
    return None


#: dtype name -> the CuPy ElementwiseKernel of :func:`fused_adam` (compiled at first use).
_CUPY_ADAM: dict = {}

# One Adam step per element, each operation rounded on its own (the _rn intrinsics: no
# contraction into fused multiply-adds), in the order of the generic rule: the same bits
# as the eleven separate kernels of the generic path and its add to theta, in one pass.
_CUPY_ADAM_BODY = """
T m = ADD(MUL(mu, b1), MUL(g, c1));
T v = ADD(MUL(nu, b2), MUL(MUL(g, g), c2));
mu_out = m;
nu_out = v;
theta_out = ADD(DIV(MUL(m, na), ADD(SQRT(v), eh)), theta);
"""
_CUPY_INTRINSICS = {"float32": ("__fadd_rn", "__fmul_rn", "__fdiv_rn", "__fsqrt_rn"),
                    "float64": ("__dadd_rn", "__dmul_rn", "__ddiv_rn", "__dsqrt_rn")}


def _cupy_adam(cupy, dtype_name: str):
    kernel = _CUPY_ADAM.get(dtype_name)
    if kernel is None:
        add, mul, div, sqrt = _CUPY_INTRINSICS[dtype_name]
        body = (_CUPY_ADAM_BODY.replace("ADD", add).replace("MUL", mul).replace("DIV", div)
                .replace("SQRT", sqrt))
        kernel = _CUPY_ADAM[dtype_name] = cupy.ElementwiseKernel(
            "T g, T mu, T nu, T theta, T b1, T c1, T b2, T c2, T na, T eh", "T mu_out, T nu_out, T theta_out",
            body, f"bpnet_xp_adam_{dtype_name}")
    return kernel


#: Below this many parameters NumPy keeps the generic Adam even with Numba installed: the
#: twelve passes then cost microseconds a step, and loading Numba and its cached loop
#: (measured: about 0.4 s once per process) would take tens of thousands of steps to repay.
#: Above it the saving grows with the vector: 0.25 ms a step at 235 k float32 parameters
#: (repaid after about 1600 steps), 3.1 ms at 1.86 M (about 130 steps).
NUMBA_MIN_PARAMETERS = 1 << 14


def _numba_wanted(n_parameters: int | None) -> bool:
    too_small = n_parameters is not None and n_parameters < NUMBA_MIN_PARAMETERS
    if too_small or os.environ.get("BPNET_XP_NUMBA", "").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def fused_adam(lib, n_parameters: int | None = None) -> Callable | None:
    """The Adam step of :mod:`bpnet_xp.optimizers`, theta's update included, in one pass,
    where ``lib`` offers that bit-identically.

    ``adam(grad, mu, nu, theta, mu_out, nu_out, theta_out, beta1, beta2, negative_alpha,
    eps_hat)`` writes ``mu_out = b1 mu + (1 - b1) g``, ``nu_out = b2 nu + (1 - b2) g^2``
    and ``theta_out = (mu_out negative_alpha) / (sqrt(nu_out) + eps_hat) + theta``
    (``mu_out`` may be ``mu``, ``nu_out`` ``nu``; ``theta`` is not written), each
    operation rounded on its own in the generic rule's order: the same bits as its
    twelve separate passes.

    - CuPy: one ``ElementwiseKernel`` (the ``_rn`` intrinsics forbid contraction).
    - NumPy: one Numba loop over the elements, on the calling thread
      (:mod:`bpnet_xp.numba_kernels`), where Numba is installed (``bpnet_xp[numba]``),
      the vector has at least :data:`NUMBA_MIN_PARAMETERS` elements and the
      environment variable ``BPNET_XP_NUMBA`` is not ``0``.
    - None elsewhere (the optimizer runs the generic passes): PyTorch's one-pass forms
      (``add(alpha=)``, ``addcmul``, ``lerp``, ``torch._fused_adam_``) contract multiply
      and add into one rounding, which differs from the generic path by far more than
      1 ulp where the two terms of ``mu`` cancel (measured: up to 2e4 ulp of ``mu``
      after one step).

    Parameters
    ----------
    lib : module
        What :func:`inplace_namespace` returned (``numpy``, ``cupy`` or ``torch``).
    n_parameters : int, optional
        The length of the vectors it will be given (None: not known, no size rule).

    Returns
    -------
    callable or None
        Every array argument of shape (n_parameters,), one dtype (float32 or float64),
        C-contiguous; the scalars Python floats.
    """
    if compat.is_cupy_namespace(lib):
        def cupy_adam(grad, mu, nu, theta, mu_out, nu_out, theta_out, beta1, beta2, negative_alpha, eps_hat):
            kernel = _cupy_adam(lib, str(grad.dtype))
            kernel(grad, mu, nu, theta, beta1, 1 - beta1, beta2, 1 - beta2, negative_alpha, eps_hat,
                   mu_out, nu_out, theta_out)
            return theta_out

        return cupy_adam
    if lib is np and _numba_wanted(n_parameters):
        return _numba_adam()
    return None


def fused_relu(lib, n_parameters: int | None = None) -> tuple[Callable, Callable] | None:
    """ReLU's forward (bias add and clip) and backward (mask) in one pass each, where
    ``lib`` offers that bit-identically; used by :func:`bpnet_xp.network.batch_plan`.

    ``forward(z, b)`` writes ``maximum(z + b, 0)`` into ``z``; ``backward(d, a, db)`` writes
    ``d * astype(a > 0, d.dtype)`` into ``d`` and that product's column sums (``sum(axis=0)``,
    in NumPy's order) into ``db``; each returns the array ``z`` or ``d``.  The same
    operations as the generic path's, so the same bits.  NumPy only, under the rules of
    :func:`fused_adam` (Numba installed, at least :data:`NUMBA_MIN_PARAMETERS` parameters,
    ``BPNET_XP_NUMBA`` not ``0``, one warning and the generic path if Numba cannot be used).

    Parameters
    ----------
    lib : module
        What :func:`inplace_namespace` returned.
    n_parameters : int, optional
        The network's parameter count (None: no size rule).

    Returns
    -------
    tuple of two callables, or None
        Each takes C-contiguous 2-D arrays (and the 1-D bias) of one float dtype.
    """
    if lib is not np or not _numba_wanted(n_parameters):
        return None
    kernels = _numba_kernels()
    return None if kernels is None else (kernels.bias_relu, kernels.relu_backward)


#: Why Numba could not be used in this process (one exception, warned once); empty while none.
_NUMBA_FAILED: list = []


def _numba_adam() -> Callable | None:
    """:func:`bpnet_xp.numba_kernels.adam_step`, or None (see :func:`_numba_kernels`)."""
    kernels = _numba_kernels()
    return None if kernels is None else kernels.adam_step


def _numba_kernels():
    """:mod:`bpnet_xp.numba_kernels`, or None (warned once per process) when Numba is
    installed but cannot be imported or cannot compile the loops here, e.g. a Numba release
    that refuses this NumPy version: then the generic passes run, which give the same bits."""
    if _NUMBA_FAILED:
        return None
    try:
        return importlib.import_module("bpnet_xp.numba_kernels")
    except Exception as exc:  # noqa: BLE001 - any failure of an optional accelerator falls back
        _NUMBA_FAILED.append(exc)
        import warnings

        warnings.warn(f"numba is installed but bpnet_xp cannot use it ({type(exc).__name__}: {exc}); Adam and "
                      "ReLU on NumPy run their generic passes (the same results, slower); set BPNET_XP_NUMBA=0 to "
                      "skip this attempt", RuntimeWarning, stacklevel=2)
        return None


def native_sum(lib) -> Callable:
    """``sum(x, axis=None, out=None)`` of a library that writes in place, without wrappers.

    NumPy's ``numpy.sum`` is a Python wrapper around ``numpy.add.reduce`` (about 2 us a
    call, five calls a step in a small network's training step); the reduction itself
    is the same, so the same bits.  CuPy and PyTorch get their own ``sum``.

    Parameters
    ----------
    lib : module
        What :func:`inplace_namespace` returned (``numpy``, ``cupy`` or ``torch``).

    Returns
    -------
    callable
    """
    if lib is np:
        return np.add.reduce
    return lib.sum


def maximum_inplace(x: Any, lower: float) -> Any:
    """``x = maximum(x, lower)`` written into ``x`` (NumPy, CuPy, PyTorch).

    NaN propagates as in ``xp.maximum``.  ReLU's forward pass uses it on the fresh
    ``A @ W + b`` (see :class:`bpnet_xp.activations.Activation`).

    Parameters
    ----------
    x : array, any shape
        Overwritten where the library can write into arrays.
    lower : float

    Returns
    -------
    array or None
        ``x`` itself; ``None`` where the library cannot write into arrays (the caller
        then uses the standard ``xp.maximum``), ``x`` then left untouched.
    """
    lib = inplace_namespace(x)
    if lib is None:
        return None
    if compat.is_torch_array(x):
        # torch.maximum wants two tensors; clamp_min_ is its in-place max with a scalar.
        return x.clamp_min_(lower)
    return lib.maximum(x, lower, out=x)


def is_concrete(x: Any) -> bool:
    """Whether ``bool(...)``/``float(...)`` of a reduction of ``x`` can be taken now.

    False for Dask arrays (task graphs) and for JAX tracers inside ``jax.jit``;
    True for everything else, concrete JAX arrays included (array-api-compat's
    ``is_lazy_array`` answers True for every JAX array, which would skip checks
    that are perfectly possible on concrete ones).

    Parameters
    ----------
    x : array or object

    Returns
    -------
    bool
    """
    if compat.is_dask_array(x):
        return False
    if compat.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    return True


def scan(f: Callable, carry: Any, xs: tuple) -> tuple:
    """``(carry, ys)``: ``carry, y = f(carry, x)`` over the leading axis of the arrays ``xs``.

    ``jax.lax.scan`` when ``xs`` are JAX arrays (inside ``jax.jit`` the loop body is then
    traced and compiled once, whatever the number of iterations: a whole epoch of
    training steps becomes one compiled call); elsewhere a Python loop over the rows,
    its ``ys`` stacked with the standard ``stack``: the same function, the reference.

    Parameters
    ----------
    f : callable
        ``f(carry, x) -> (carry, y)``; ``x`` a tuple of one row of each of ``xs``, ``y``
        an array (0-d or not) of the same shape at every iteration.
    carry : pytree of arrays (tuples, NamedTuples, None)
    xs : tuple of arrays, each of shape (n, ...)

    Returns
    -------
    carry : the last carry
    ys : array, shape (n, ...)
    """
    if compat.is_jax_array(xs[0]):
        from jax import lax

        return lax.scan(f, carry, xs)
    xp = array_namespace(*xs)
    ys = []
    for i in range(xs[0].shape[0]):
        carry, y = f(carry, tuple(x[i, ...] for x in xs))
        ys.append(y)
    return carry, xp.stack(ys)


def backend_of(x: Any) -> Backend:
    """The :class:`Backend` an existing array belongs to (its library and device).

    Parameters
    ----------
    x : array, any shape

    Returns
    -------
    Backend
    """
    return Backend(library_name(x), array_namespace(x), _device_of(x))


# ---------------------------------------------------------------------------------------
# Discovery: one probe per library, each building its Backend or saying why it cannot.


def _need(name: str, module: str, extra: str):
    """``import module`` for backend ``name``, or BackendUnavailableError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {name!r} needs the {module!r} package, which is not installed "
            f"({exc}); install it with: pip install 'bpnet_xp[{extra}]'"
        ) from None


#: NumPy's lazily loaded submodules, none of them part of the array API, that importing
#: ``array_api_compat.numpy`` would load only to copy a reference to each (see
#: :func:`_import_compat_numpy`).
_NUMPY_EXTRAS = ("f2py", "testing", "typing", "ctypeslib", "ma", "polynomial", "char", "rec", "strings", "matlib",
                 "core")


def _import_compat_numpy():
    """``array_api_compat.numpy``, imported without loading NumPy's submodules that are not
    part of the array API.

    Its import copies NumPy's namespace (``from numpy import *``, then ``getattr`` over
    ``dir(numpy)``), and each lazily loaded NumPy submodule on the way is imported to be
    copied (most of the time ``numpy.f2py`` and ``numpy.testing``), on the first MLP of every
    process: the first MLP and ``loss_and_grad`` took 0.08-0.11 s with them and 0.02 s without
    (``python scripts/bench --workloads import``; docs/benchmarks.md).  While it imports, NumPy's
    ``__all__`` and ``__dir__`` leave those names out (both are put back at once); then
    ``array_api_compat.numpy`` lists them as before and fetches each from NumPy on first
    use.  Where either namespace is not as expected, it is imported plainly.
    """
    import sys

    name = "array_api_compat.numpy"
    names = vars(np)
    plain = (name in sys.modules or not isinstance(names.get("__all__"), list) or not callable(names.get("__dir__")))
    skipped = () if plain else tuple(n for n in _NUMPY_EXTRAS if f"numpy.{n}" not in sys.modules)
    if not skipped:
        return importlib.import_module(name)
    saved_all, saved_dir = names["__all__"], names["__dir__"]
    np.__all__ = [n for n in saved_all if n not in skipped]
    np.__dir__ = lambda: [n for n in saved_dir() if n not in skipped]
    try:
        module = importlib.import_module(name)
    finally:
        np.__all__, np.__dir__ = saved_all, saved_dir
    _fetch_on_first_use(module, [n for n in skipped if n not in vars(module) and n in dir(np)])
    return module


def _fetch_on_first_use(module, missing: list) -> None:
    """Give ``module`` the NumPy attributes ``missing``, listed in its ``__all__`` and fetched
    from NumPy at their first use (a module ``__getattr__``, PEP 562)."""
    if not missing or "__getattr__" in vars(module) or not isinstance(vars(module).get("__all__"), list):
        for attribute in missing:  # the plain way: a reference to each, loaded now
            setattr(module, attribute, getattr(np, attribute))
        return
    lazy = frozenset(missing)

    def __getattr__(attribute):
        if attribute in lazy:
            value = getattr(np, attribute)
            setattr(module, attribute, value)
            return value
        raise AttributeError(f"module {module.__name__!r} has no attribute {attribute!r}")

    module.__getattr__ = __getattr__
    module.__all__.extend(missing)


def _probe_numpy(device: Any) -> Backend:
    xp = _import_compat_numpy()

    if device not in (None, "cpu"):
        raise BackendUnavailableError(f"numpy only has the 'cpu' device, not {device!r}")
    return Backend("numpy", xp, "cpu")


def _probe_array_api_strict(device: Any) -> Backend:
    strict = _need("array_api_strict", "array_api_strict", "test")
    if isinstance(device, strict.Device):
        return Backend("array_api_strict", strict, device)
    try:
        dev = strict.Device(device if device is not None else "CPU_DEVICE")
    except Exception as exc:
        # Device has no public accessor for its name; _device is the name it was built from.
        names = [d._device for d in strict.__array_namespace_info__().devices()]
        raise BackendUnavailableError(
            f"array_api_strict has no device {device!r}; its devices are {names}"
        ) from exc
    return Backend("array_api_strict", strict, dev)


def _check_torch_device(torch, dev) -> None:
    """Raise BackendUnavailableError unless torch can really place arrays on ``dev``."""
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                "torch was asked for a CUDA device, but torch.cuda.is_available() is False "
                "(no GPU, no driver, or a CPU-only torch build)"
            )
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"torch has {torch.cuda.device_count()} CUDA device(s); cuda:{index} does not exist"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise BackendUnavailableError("torch was asked for 'mps', which is not available here")


def _probe_torch(device: Any) -> Backend:
    torch = _need("torch", "torch", "torch")
    import array_api_compat.torch as xp

    want = device if device is not None else "cpu"
    try:
        dev = torch.device(want)
    except Exception as exc:
        raise BackendUnavailableError(f"torch does not know the device {want!r}: {exc}") from None
    _check_torch_device(torch, dev)
    return Backend("torch", xp, dev)


def _probe_jax(device: Any) -> Backend:
    jax = _need("jax", "jax", "jax")
    import jax.numpy as xp  # JAX's own namespace follows the standard

    platform = device if device is not None else "cpu"
    if not isinstance(platform, str):
        return Backend("jax", xp, platform)  # a jax Device object, taken as given
    kind, _, idx = platform.partition(":")
    try:
        devices = jax.devices(kind)
    except RuntimeError as exc:
        raise BackendUnavailableError(f"jax has no {kind!r} device: {exc}") from None
    i = int(idx) if idx else 0
    if i >= len(devices):
        raise BackendUnavailableError(f"jax has {len(devices)} {kind} device(s); {platform} does not exist")
    return Backend("jax", xp, devices[i])


def _cupy_index(device: Any) -> int:
    """The CUDA device number in ``"cuda:N"``, ``"N"``, ``N`` or ``None`` (0)."""
    if device is None:
        return 0
    text = str(device)
    try:
        return int(text.split(":")[-1]) if ":" in text or text.isdigit() else 0
    except ValueError:
        raise BackendUnavailableError(f"cupy device must be 'cuda:N' or N, not {device!r}") from None


def _probe_cupy(device: Any) -> Backend:
    cupy = _need("cupy", "cupy", "gpu")
    import array_api_compat.cupy as xp

    index = _cupy_index(device)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailableError(f"cupy is installed but no CUDA device works: {exc}") from None
    if count == 0:
        raise BackendUnavailableError("cupy is installed but this machine has no CUDA device")
    if index >= count:
        raise BackendUnavailableError(f"cupy sees {count} CUDA device(s); cuda:{index} does not exist")
    dev = cupy.cuda.Device(index)
    try:
        with dev:
            # Device enumeration can succeed while kernels cannot launch (driver/runtime
            # mismatch); a tiny computation proves the device really works.
            float((cupy.arange(4, dtype=cupy.float32) * 2).sum())
    except Exception as exc:
        raise BackendUnavailableError(f"cupy found cuda:{index} but cannot run on it: {exc}") from None
    return Backend("cupy", xp, dev)


def _probe_dask(device: Any) -> Backend:
    _need("dask", "dask.array", "dask")
    import array_api_compat.dask.array as xp

    if device not in (None, "cpu"):
        raise BackendUnavailableError(
            "the dask backend places chunks where its scheduler runs them; pass device=None"
        )
    return Backend("dask", xp, "cpu")


#: backend name -> probe(device) -> Backend (or BackendUnavailableError saying why not),
#: in the order of :data:`BACKEND_NAMES`.
_PROBES: dict[str, Callable[[Any], Backend]] = {
    "numpy": _probe_numpy,
    "array_api_strict": _probe_array_api_strict,
    "torch": _probe_torch,
    "jax": _probe_jax,
    "cupy": _probe_cupy,
    "dask": _probe_dask,
}


def _probe(name: str, device: Any = None) -> Backend:
    """Build backend ``name`` on ``device`` or raise BackendUnavailableError saying why not."""
    probe = _PROBES.get(name)
    if probe is None:
        raise BackendUnavailableError(
            f"unknown backend {name!r}; known backends are {', '.join(BACKEND_NAMES)}"
        )
    return probe(device)


def backend_status() -> dict[str, str | None]:
    """For each known backend, ``None`` if it works here, else the reason it does not.

    Returns
    -------
    dict
        ``{name: None or reason}`` in the order of :data:`BACKEND_NAMES`.
    """
    status: dict[str, str | None] = {}
    for name in BACKEND_NAMES:
        try:
            _probe(name)
            status[name] = None
        except BackendUnavailableError as exc:
            status[name] = str(exc)
        except Exception as exc:  # a broken install must not break discovery
            status[name] = f"{type(exc).__name__}: {exc}"
    return status


def available_backends() -> list[str]:
    """Names of the backends usable on this machine (see :func:`backend_status` for why not).

    Returns
    -------
    list of str
        The names of :func:`backend_status` whose reason is None, in its order.
    """
    return [name for name, reason in backend_status().items() if reason is None]


def get_backend(name: str | Backend = "auto", device: Any = None) -> Backend:
    """Select a backend by name.

    Parameters
    ----------
    name : str or Backend
        "auto", "numpy", "cupy", "torch", "jax", "array_api_strict" or "dask".
        "auto" picks cupy when a CUDA device really works, else numpy; the
        environment variable ``BPNET_XP_BACKEND`` overrides "auto".
    device : object, optional
        The device within the backend ("cpu", "cuda:1", "device1", ...).

    Returns
    -------
    Backend

    Raises
    ------
    BackendUnavailableError
        If the backend or device cannot be used here; the message says why and
        lists the backends that are available.
    """
    if isinstance(name, Backend):
        return name if device is None else get_backend(name.name, device)
    if not isinstance(name, str):
        raise TypeError(f"backend must be a name or a Backend, not {type(name).__name__}")
    name = name.strip().lower()
    if name == "auto":
        override = os.environ.get("BPNET_XP_BACKEND", "").strip().lower()
        if override and override != "auto":
            return get_backend(override, device)
        try:
            return _probe("cupy", device)
        except BackendUnavailableError:
            return _probe("numpy", None if device in (None, "cpu") else device)
    try:
        return _probe(name, device)
    except BackendUnavailableError as exc:
        available = ", ".join(available_backends())
        raise BackendUnavailableError(f"{exc}. Available here: {available}") from None
