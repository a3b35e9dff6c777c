"""History: what one training run recorded, one entry per epoch or solver iteration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """What happened during :func:`fit`, one entry per epoch (or solver iteration).

    Attributes
    ----------
    loss : list of float
        Training loss J (mean data loss plus the L2 penalty).  For "cg"/"lbfgs" it
        is J(theta) after each iteration.  For the stochastic optimizers it is the
        mean of the mini-batch losses over the epoch, each weighted by its batch
        size (its total sample weight, with ``sample_weight``) and evaluated at the
        parameters *before* that batch's update (the number a mini-batch loop gets
        for free; with ``batch_size=None`` it is exactly J at the start of the epoch).
    val_loss : list of float
        J on the validation data (mean data loss over the validation samples, weighted
        by their weights when they have them, plus the same L2 penalty as ``loss``),
        after each epoch; empty without validation.
    val_score : list of float
        Accuracy (classifiers) or R^2 (regression) on the validation data.
    time : list of float
        Seconds since the start of ``fit`` at the end of each epoch/iteration.
    stop_reason : str
        Why training stopped.
    n_iter : int
        Epochs (stochastic) or iterations (solvers) run.
    best_iteration : int or None
        With ``early_stopping``: the 1-based epoch/iteration whose parameters were
        kept (``loss[best_iteration - 1]`` is its loss).
    optimizer : str
    n_evaluations : int
        Loss-and-gradient evaluations: one per mini-batch for the stochastic
        optimizers, every line-search trial included for "cg"/"lbfgs".
    """

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_score: list = field(default_factory=list)
    time: list = field(default_factory=list)
    stop_reason: str = ""
    n_iter: int = 0
    best_iteration: int | None = None
    optimizer: str = ""
    n_evaluations: int = 0

    def as_dict(self) -> dict:
        """A plain dict of the fields (JSON-serialisable)."""
        return asdict(self)
