"""Fit options, checked once, and the one registry of names.

:func:`fit_options` turns the keywords of :func:`bpnet_xp.training.fit` into a
:class:`FitOptions` value, raising the ``ValueError`` of the first bad one before
any data is read.  :data:`OPTIMIZERS` is the registry every other module asks
which optimizer names exist, which family each belongs to (stochastic: epochs of
mini-batch updates from :mod:`bpnet_xp.optimizers`; full batch: iterations of
:func:`bpnet_xp.solvers.minimize`), and what its defaults are.  A new optimizer is
one more entry there.  This module imports nothing from the package.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .text import plain

__all__ = [
    "STOCHASTIC",
    "FULL_BATCH",
    "OptimizerInfo",
    "OPTIMIZERS",
    "OPTIMIZER_NAMES",
    "SCHEDULES",
    "optimizer_names",
    "optimizer_info",
    "is_stochastic",
    "is_full_batch",
    "FitOptions",
    "fit_options",
]

#: The two families of optimizers.
STOCHASTIC = "stochastic"
FULL_BATCH = "full batch"


class OptimizerInfo(NamedTuple):
    """What the package knows about one optimizer name.

    Attributes
    ----------
    family : {"stochastic", "full batch"}
        "stochastic": ``epochs`` of updates by :func:`bpnet_xp.optimizers.get_optimizer`;
        "full batch": at most ``max_iter`` iterations of :func:`bpnet_xp.solvers.minimize`.
    learning_rate : float or None
        The default step size (stochastic optimizers only).
    batch_size : int or None
        What ``batch_size="auto"`` means: at most this many rows per batch, None the full batch.
    hyperparameters : tuple of str
        The options of ``fit`` the optimizer's factory takes (besides ``learning_rate``).
    """

    family: str
    learning_rate: float | None = None
    batch_size: int | None = None
    hyperparameters: tuple = ()

    @property
    def unit(self) -> str:
        """"epoch" (stochastic) or "iteration" (full batch): what ``History.loss`` counts."""
        return "epoch" if self.family == STOCHASTIC else "iteration"


#: THE registry of optimizer names.
#: "gd" is fixed-step gradient descent (sgd without momentum; the full batch by default),
#: not the line-search "steepest_descent" of :func:`bpnet_xp.solvers.minimize`.
OPTIMIZERS: dict[str, OptimizerInfo] = {
    "gd": OptimizerInfo(STOCHASTIC, learning_rate=0.1, batch_size=None),
    "sgd": OptimizerInfo(STOCHASTIC, learning_rate=0.01, batch_size=200, hyperparameters=("momentum", "nesterov")),
    "adam": OptimizerInfo(STOCHASTIC, learning_rate=1e-3, batch_size=200, hyperparameters=("beta1", "beta2")),
    "cg": OptimizerInfo(FULL_BATCH),
    "lbfgs": OptimizerInfo(FULL_BATCH),
    # The second-order trainers (bpnet_xp.solvers.newton, .levenberg_marquardt, .scg, .rprop).
    "newton": OptimizerInfo(FULL_BATCH, hyperparameters=("curvature",)),
    "lm": OptimizerInfo(FULL_BATCH, hyperparameters=("mu", "mu_dec", "mu_inc", "mu_max", "goal", "min_grad",
                                                     "max_fail", "max_parameters")),
    "br": OptimizerInfo(FULL_BATCH, hyperparameters=("mu", "mu_dec", "mu_inc", "mu_max", "goal", "max_parameters")),
    "rprop": OptimizerInfo(FULL_BATCH, hyperparameters=("goal",)),
    "scg": OptimizerInfo(FULL_BATCH, hyperparameters=("goal",)),
}

#: Every optimizer name ``fit`` accepts, in the registry's order.
OPTIMIZER_NAMES = tuple(OPTIMIZERS)

#: Learning-rate schedule names of ``fit`` (a callable ``schedule(count) -> float`` is also accepted).
SCHEDULES = ("constant", "inverse_scaling", "step", "plateau")
_SCHEDULE_ALIASES = {None: "constant", "invscaling": "inverse_scaling"}  # scikit-learn's spelling


def optimizer_names(family: str | None = None) -> tuple:
    """Registered optimizer names, all or those of one family.

    Parameters
    ----------
    family : {None, "stochastic", "full batch"}
        None: every name.

    Returns
    -------
    tuple of str
        In registry order.
    """
    return tuple(name for name, info in OPTIMIZERS.items() if family is None or info.family == family)


def optimizer_info(name: str) -> OptimizerInfo:
    """The registry entry of ``name``; ValueError for an unknown name.

    Parameters
    ----------
    name : str
        An optimizer name.

    Returns
    -------
    OptimizerInfo
        Its family, unit, default batch size and hyperparameters.
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {plain(name)!r}; choose one of {list(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def is_stochastic(name: str) -> bool:
    """True for an optimizer that runs epochs of mini-batch updates.

    Parameters
    ----------
    name : str
        An optimizer name (ValueError when unknown).

    Returns
    -------
    bool
    """
    return optimizer_info(name).family == STOCHASTIC


def is_full_batch(name: str) -> bool:
    """True for an optimizer that runs full-batch solver iterations.

    Parameters
    ----------
    name : str
        An optimizer name (ValueError when unknown).

    Returns
    -------
    bool
    """
    return optimizer_info(name).family == FULL_BATCH


class FitOptions(NamedTuple):
    """The options of one ``fit``, checked (see :func:`bpnet_xp.training.fit` for their meaning).

    ``learning_rate`` is a positive float (the registry's default when not given) or a
    callable; ``schedule`` a name of :data:`SCHEDULES` or a callable; ``batch_size``
    "auto", None or a positive int (resolved against the number of rows by
    :func:`bpnet_xp.sources.batch_rows`); ``callbacks`` a tuple of callables; ``seed``
    an int, a ``numpy.random.Generator`` or None.  ``validation_data`` and
    ``sample_weight`` are kept as given (they are data, checked when moved to the device).

    Attributes
    ----------
    optimizer : str
        A name of :data:`OPTIMIZERS`.
    epochs, max_iter, batch_size, learning_rate, momentum, nesterov, beta1, beta2, schedule : Any
        As :func:`bpnet_xp.training.fit` (checked).
    validation_fraction, validation_data, early_stopping, patience, tol, gtol, ftol, memory : Any
        As :func:`bpnet_xp.training.fit` (checked).
    shuffle, seed, callbacks, verbose, progress, sample_weight, split_every : Any
        As :func:`bpnet_xp.training.fit` and :func:`fit_options` (checked).
    mu, mu_dec, mu_inc, mu_max, goal, min_grad, max_fail, max_parameters, curvature : Any
        The second-order trainers' options, as :func:`fit_options`.
    """

    optimizer: str
    epochs: int
    max_iter: int
    batch_size: Any
    learning_rate: Any
    momentum: float
    nesterov: bool
    beta1: float
    beta2: float
    schedule: Any
    validation_fraction: float
    validation_data: Any
    early_stopping: bool
    patience: int
    tol: float
    gtol: float
    ftol: float
    memory: int
    shuffle: bool
    seed: Any
    callbacks: tuple
    verbose: int
    progress: bool
    sample_weight: Any
    split_every: int
    # The second-order trainers' options (MATLAB trainlm's defaults; see fit_options).
    mu: float = 1e-3
    mu_dec: float = 0.1
    mu_inc: float = 10.0
    mu_max: float = 1e10
    goal: float = 0.0
    min_grad: float = 1e-7
    max_fail: int = 6
    max_parameters: int = 5000
    curvature: str = "hessian"

    @property
    def info(self) -> OptimizerInfo:
        """The registry entry (:data:`OPTIMIZERS`) of ``optimizer``."""
        return OPTIMIZERS[self.optimizer]

    def hyperparameters(self) -> dict:
        """The keyword arguments of the optimizer's factory, besides ``learning_rate``.

        Returns
        -------
        dict
            ``{name: value}`` for the optimizer's hyperparameters (momentum, beta1, ...).
        """
        return {name: getattr(self, name) for name in self.info.hyperparameters}


def fit_options(
    optimizer: str = "adam",
    *,
    epochs: int = 200,
    max_iter: int = 100,
    batch_size: Any = "auto",
    learning_rate: Any = None,
    momentum: float = 0.9,
    nesterov: bool = False,
    beta1: float = 0.9,
    beta2: float = 0.999,
    schedule: Any = "constant",
    validation_fraction: float = 0.0,
    validation_data: Any = None,
    early_stopping: bool = False,
    patience: int = 10,
    tol: float = 1e-4,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    memory: int = 10,
    shuffle: bool = True,
    seed: Any = None,
    callbacks: Any = (),
    verbose: int = 0,
    progress: bool = False,
    sample_weight: Any = None,
    split_every: int = 8,
    mu: float = 1e-3,
    mu_dec: float = 0.1,
    mu_inc: float = 10.0,
    mu_max: float = 1e10,
    goal: float = 0.0,
    min_grad: float = 1e-7,
    max_fail: int = 6,
    max_parameters: int = 5000,
    curvature: str = "hessian",
) -> FitOptions:
    """Check the keywords of :func:`bpnet_xp.training.fit` once.

    Parameters
    ----------
    optimizer, epochs, max_iter, batch_size, learning_rate, momentum, nesterov, beta1, beta2, schedule, validation_fraction, validation_data, early_stopping, patience, tol, gtol, ftol, memory, shuffle, seed, callbacks, verbose, progress, sample_weight
        As :func:`bpnet_xp.training.fit`.
    split_every : int
        Fan-in (>= 2) of the tree reduction of Dask full-batch evaluations.
    mu, mu_dec, mu_inc, mu_max : float
        "lm"/"br": the initial damping and its factors down (0 < mu_dec < 1) and up
        (mu_inc > 1), and the largest damping before giving up (MATLAB: 1e-3, 0.1, 10, 1e10).
    goal : float
        "lm", "br", "rprop", "scg": stop once the training loss is at most ``goal`` (0).
    min_grad : float
        "lm": stop when the gradient's 2-norm falls below it (1e-7).
    max_fail : int
        "lm"/"br" with validation data: stop after this many iterations in a row without
        a lower validation loss, keeping the best validation parameters (6).
    max_parameters : int
        "lm"/"br": the largest P they accept (they hold P x P matrices; 5000).
    curvature : {"hessian", "gauss_newton"}
        "newton": the inner CG's matrix.

    Returns
    -------
    FitOptions

    Raises
    ------
    ValueError
        Naming the first option that is out of range.
    """
    info = optimizer_info(optimizer)
    if info.family == STOCHASTIC:
        momentum, beta1, beta2 = _check_hyperparameters(info, momentum, nesterov, beta1, beta2)
    if validation_data is not None:
        _check_validation_data(validation_data)
    return FitOptions(
        optimizer=optimizer,
        epochs=_positive_int(epochs, "epochs"),
        max_iter=_positive_int(max_iter, "max_iter"),
        batch_size=batch_size if batch_size in ("auto", None) else _positive_int(batch_size, "batch_size"),
        learning_rate=_learning_rate(learning_rate, info),
        momentum=momentum, nesterov=bool(nesterov), beta1=beta1, beta2=beta2,
        schedule=_schedule(schedule),
        validation_fraction=_validation_fraction(validation_fraction, validation_data),
        validation_data=validation_data,
        early_stopping=bool(early_stopping),
        patience=_positive_int(patience, "patience"),
        tol=_non_negative(float(tol), "tol"),
        gtol=_non_negative(gtol, "gtol"),
        ftol=_non_negative(ftol, "ftol"),
        memory=_memory(memory),
        shuffle=bool(shuffle),
        seed=_seed(seed),
        callbacks=_callbacks(callbacks),
        verbose=_verbose(verbose),
        progress=bool(progress),
        sample_weight=sample_weight,
        split_every=_split_every(split_every),
        **_second_order(mu, mu_dec, mu_inc, mu_max, goal, min_grad, max_fail, max_parameters, curvature),
    )


# ---------------------------------------------------------------------------------------
# One check per option; the messages are those fit has always raised.


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {plain(value)!r}")
    return int(value)


def _non_negative(value, name: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {plain(value)!r}")
    return float(value)


def _memory(memory) -> int:
    if isinstance(memory, bool) or not isinstance(memory, (int, np.integer)):
        raise ValueError(f"memory must be an integer, got {plain(memory)!r}")
    if memory < 1:
        raise ValueError(f"memory must be >= 1, got {memory}")
    return int(memory)


def _verbose(verbose) -> int:
    if isinstance(verbose, bool):
        verbose = int(verbose)
    if not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative integer, got {plain(verbose)!r}")
    return int(verbose)


def _learning_rate(learning_rate, info: OptimizerInfo):
    if learning_rate is None:
        return info.learning_rate
    if callable(learning_rate):
        return learning_rate
    try:
        rate = float(learning_rate)
    except (TypeError, ValueError):
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {plain(learning_rate)!r}")
    return rate


def _check_hyperparameters(info: OptimizerInfo, momentum, nesterov, beta1, beta2) -> tuple:
    """momentum, beta1, beta2 as floats; the ones this optimizer uses are checked (the
    messages of :func:`bpnet_xp.optimizers.sgd` and :func:`~bpnet_xp.optimizers.adam`)."""
    used = info.hyperparameters
    values = {"momentum": momentum, "beta1": beta1, "beta2": beta2}
    for name, value in values.items():
        if name in used and not (_is_number(value) and 0 <= value < 1):
            raise ValueError(f"{name} must be in [0, 1), got {plain(value)!r}")
    if "nesterov" in used and nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    return tuple(float(v) if _is_number(v) else v for v in values.values())


def _schedule(schedule):
    if callable(schedule):
        return schedule
    if schedule is None or isinstance(schedule, str):
        schedule = _SCHEDULE_ALIASES.get(schedule, schedule)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {plain(schedule)!r}; choose one of {list(SCHEDULES)} or pass a callable")
    return schedule


def _validation_fraction(fraction, validation_data) -> float:
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    if fraction > 0 and validation_data is not None:
        raise ValueError("pass validation_fraction or validation_data, not both")
    return fraction


def _check_validation_data(validation_data) -> None:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, w_val)")
    if validation_data[1] is None:
        raise ValueError("validation_data needs targets y_val")


def _seed(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {plain(seed)!r}")
    return int(seed)


def _callbacks(callbacks) -> tuple:
    if callable(callbacks):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise ValueError(f"callbacks must be callables callback(epoch, net, history), got {plain(callback)!r}")
    return callbacks


def _split_every(split_every) -> int:
    if isinstance(split_every, bool) or not isinstance(split_every, (int, np.integer)) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {plain(split_every)!r}")
    return int(split_every)


def _second_order(mu, mu_dec, mu_inc, mu_max, goal, min_grad, max_fail, max_parameters, curvature) -> dict:
    """The options of "newton", "lm", "br", "rprop" and "scg", checked."""
    for name, value in (("mu", mu), ("mu_max", mu_max)):
        if not _is_number(value) or not math.isfinite(float(value)) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {plain(value)!r}")
    if not _is_number(mu_dec) or not 0 < mu_dec < 1:
        raise ValueError(f"mu_dec must be in (0, 1), got {plain(mu_dec)!r}")
    if not _is_number(mu_inc) or not math.isfinite(float(mu_inc)) or mu_inc <= 1:
        raise ValueError(f"mu_inc must be a number > 1, got {plain(mu_inc)!r}")
    if not _is_number(goal) or math.isnan(float(goal)):
        raise ValueError(f"goal must be a number, got {plain(goal)!r}")
    if curvature not in ("hessian", "gauss_newton"):
        raise ValueError(f"curvature must be 'hessian' or 'gauss_newton', got {plain(curvature)!r}")
    return dict(mu=float(mu), mu_dec=float(mu_dec), mu_inc=float(mu_inc), mu_max=float(mu_max), goal=float(goal),
                min_grad=_non_negative(min_grad, "min_grad"), max_fail=_positive_int(max_fail, "max_fail"),
                max_parameters=_positive_int(max_parameters, "max_parameters"), curvature=curvature)
