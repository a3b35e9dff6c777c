"""Full-batch minimisers: line-search methods (gd, cg, lbfgs) and the second-order trainers.

:func:`minimize` minimises ``fun(theta) -> (loss, grad)`` over the flat parameter vector,
which never leaves its device.  Modules: :mod:`.linesearch` (N&W 2006, Alg. 3.5-3.6),
:mod:`.directions` (the direction strategies and their registry), :mod:`.minimize` (the
driver), :mod:`.vectors` (the reductions they share); and the trainers that need more than
the gradient: :mod:`.newton` (truncated Newton, Steihaug-CG), :mod:`.levenberg_marquardt`
(lm and br), :mod:`.scg` (Moller's scaled CG) and :mod:`.rprop` (iRprop+).
Theory: docs/theory.md.
"""

from .directions import DIRECTIONS, AcceptedStep, DirectionStrategy
from .levenberg_marquardt import MAX_PARAMETERS, BRResult, LMOptions, bayesian_regularization, levenberg_marquardt
from .linesearch import LineSearchRecord
from .minimize import SOLVER_METHODS, SolverResult, minimize
from .newton import newton
from .rprop import rprop, rprop_init, rprop_step
from .scg import scg

__all__ = [
    "minimize",
    "SolverResult",
    "LineSearchRecord",
    "SOLVER_METHODS",
    "DIRECTIONS",
    "DirectionStrategy",
    "AcceptedStep",
    "newton",
    "levenberg_marquardt",
    "bayesian_regularization",
    "BRResult",
    "LMOptions",
    "MAX_PARAMETERS",
    "scg",
    "rprop",
    "rprop_init",
    "rprop_step",
]
