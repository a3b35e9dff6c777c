"""``train --checkpoint`` and Ctrl-C: the best and the last parameters, kept while training runs.

A :class:`Checkpoint` is a ``fit`` callback.  After every epoch (iteration for
cg/lbfgs) it keeps a host copy of the parameters with the lowest monitored loss
so far (the validation loss when there is validation data, else the epoch's
training loss; non-finite losses never count), and every ``every`` epochs it
writes two model files atomically (:func:`bpnet_xp.io.save`): ``PATH`` with the
last parameters and ``PATH``'s ``.best`` sibling (``run.npz`` ->
``run.best.npz``) with the best ones.  When training is interrupted (Ctrl-C),
:meth:`Checkpoint.restore_best` puts the best parameters back into the network
so ``--save`` writes them.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from ..io import save
from .paths import write_path

__all__ = ["Checkpoint", "best_path"]


def best_path(path: str) -> str:
    """The file of the best parameters beside ``path``: ``run.npz`` -> ``run.best.npz``.

    Parameters
    ----------
    path : str
        The ``--checkpoint`` file of the last parameters.

    Returns
    -------
    str
        ``path`` with ``.best`` before its extension (``.best.npz`` when it has none).
    """
    stem, extension = os.path.splitext(path)
    return f"{stem}.best{extension or '.npz'}"


class Checkpoint:
    """A ``fit`` callback that tracks the best parameters and writes checkpoints.

    Parameters
    ----------
    path : str or None
        ``--checkpoint PATH``; None tracks the best parameters without writing
        (for Ctrl-C during ``--save``).
    every : int
        Write the files every ``every`` epochs/iterations (and when asked by
        :meth:`write`).
    record : callable
        ``record(kind, epoch, loss) -> dict``: the metadata saved with a file
        (``kind`` is "last" or "best").
    """

    def __init__(self, path: str | None, every: int, record: Callable[[str, int, float], dict]):
        self.path, self.every, self.record = path, every, record
        self.best_theta: np.ndarray | None = None
        self.best_epoch: int | None = None
        self.best_loss = math.inf
        self.last_epoch = 0
        self.last_loss = math.nan
        #: What the recorded losses are, written into each file's metadata: a training loss
        #: is measured during its epoch (before the epoch's last update), so it belongs to
        #: the parameters one update earlier than those saved; a validation loss is measured
        #: at the saved parameters.
        self.measured = "training loss of the epoch, measured during it (before its last update)"

    def __call__(self, epoch: int, net, history) -> None:
        monitored = history.val_loss[-1] if history.val_loss else history.loss[-1]
        if history.val_loss:
            self.measured = "validation loss at these parameters"
        self.last_epoch, self.last_loss = epoch, float(monitored)
        if math.isfinite(monitored) and monitored < self.best_loss:
            # A host copy: the device buffers are updated in place by the next steps.
            self.best_theta = np.array(net.backend.to_numpy(net.theta), copy=True)
            self.best_loss, self.best_epoch = float(monitored), epoch
        if self.path is not None and epoch % self.every == 0:
            self.write(net)
        return None

    def write(self, net) -> list[str]:
        """Write the last and the best parameters (when there are any); returns the files written.

        The best parameters are put into ``net`` only while their file is written,
        and ``net.theta`` is set back afterwards, even when the save fails.

        Parameters
        ----------
        net : MLP
            The network being trained; its current parameters are the last ones.

        Returns
        -------
        list of str
            ``[last file, best file]``; empty without a ``path`` or before any epoch
            had a finite monitored loss.
        """
        if self.path is None or self.best_theta is None:
            return []
        written = [write_path(self.path), write_path(best_path(self.path))]
        save(net, written[0], metadata=self._metadata("last", self.last_epoch, self.last_loss))
        current = net.theta
        net.theta = self.best_theta
        try:
            save(net, written[1], metadata=self._metadata("best", self.best_epoch, self.best_loss))
        finally:
            net.theta = current
        return written

    def _metadata(self, kind: str, epoch: int, loss: float) -> dict:
        metadata = self.record(kind, epoch, loss)
        metadata.setdefault("training", {})["loss_measured"] = self.measured
        return metadata

    def restore_best(self, net) -> bool:
        """Put the best parameters into ``net``; False when no epoch had finished.

        Parameters
        ----------
        net : MLP
            The network to receive the best parameters (``net.theta`` is assigned).

        Returns
        -------
        bool
            True when parameters were restored; False, ``net`` untouched, when no
            epoch had finished with a finite monitored loss.
        """
        if self.best_theta is None:
            return False
        net.theta = self.best_theta
        return True
