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
        Why training stopped; it starts with "diverged" when the loss was not finite or
        ran far above its lowest value (:func:`bpnet_xp.training.fit`, Notes).
    n_iter : int
        Epochs (stochastic) or iterations (solvers) run.
    best_iteration : int or None
        With ``early_stopping``: the 1-based epoch/iteration whose parameters were
        kept (``loss[best_iteration - 1]`` is its loss).
    optimizer : str
    n_evaluations : int
        Loss-and-gradient evaluations: one per mini-batch for the stochastic
        optimizers, every line-search trial included for "cg"/"lbfgs".
    effective_parameters : list of float
        "br" only: the effective number of parameters gamma (0 < gamma < P) after each
        iteration (MacKay 1992); empty for the other optimizers.
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
    effective_parameters: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """A plain dict of the fields (JSON-serialisable), e.g. for a report or a log file.

        Returns
        -------
        dict
            Field name -> value: the lists copied (a deep copy, by
            :func:`dataclasses.asdict`), the scalars as they are.
        """
        return asdict(self)

    def to_frame(self):
        """The per-epoch (or per-iteration) records as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame, shape (n_records, n_columns)
            Index ``epoch`` or ``iteration`` (1-based); columns ``loss`` and ``time``,
            plus ``val_loss``, ``val_score`` and ``effective_parameters`` when they were
            recorded (a shorter list is padded with NaN, never shifted).

        Raises
        ------
        ImportError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("History.to_frame needs pandas, which is not installed; "
                              "install it with: pip install pandas") from None
        n = max(len(self.loss), len(self.time))
        columns = {}
        for name in ("loss", "val_loss", "val_score", "time", "effective_parameters"):
            values = list(getattr(self, name, []) or [])
            if values or name in ("loss", "time"):
                columns[name] = [float(v) for v in values] + [float("nan")] * (n - len(values))
        from .config import OPTIMIZER_NAMES, optimizer_info

        unit = optimizer_info(self.optimizer).unit if self.optimizer in OPTIMIZER_NAMES else "epoch"
        index = pd.RangeIndex(1, n + 1, name=unit)
        return pd.DataFrame(columns, index=index)

    def plot(self, ax=None, **options):
        """The loss curve (:func:`bpnet_xp.plotting.plot_loss`), drawn into ``ax`` or a new Figure.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
        **options
            ``path``, ``title``, ``validation_label``, ``log_scale`` of ``plot_loss``.

        Returns
        -------
        matplotlib.figure.Figure
            Shown inline in a notebook (or the Path written, with ``path``).
        """
        from .plotting import plot_loss

        return plot_loss(self, ax=ax, **options)
