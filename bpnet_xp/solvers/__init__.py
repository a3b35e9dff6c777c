"""Full-batch minimisers: steepest descent, nonlinear CG and L-BFGS, each with a strong-Wolfe line search.

:func:`minimize` minimises ``fun(theta) -> (loss, grad)`` over the flat parameter vector,
which never leaves its device.  Modules: :mod:`.linesearch` (N&W 2006, Alg. 3.5-3.6),
:mod:`.directions` (the direction strategies and their registry), :mod:`.minimize` (the
driver), :mod:`.vectors` (the reductions they share).  Theory: docs/theory.md.
"""

from .directions import DIRECTIONS, AcceptedStep, DirectionStrategy
from .linesearch import LineSearchRecord
from .minimize import SOLVER_METHODS, SolverResult, minimize

__all__ = [
    "minimize",
    "SolverResult",
    "LineSearchRecord",
    "SOLVER_METHODS",
    "DIRECTIONS",
    "DirectionStrategy",
    "AcceptedStep",
]
