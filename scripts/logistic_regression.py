"""Logistic regression as a one-neuron network: sigmoid output, cross-entropy.

A network with no hidden layer, ``layer_sizes [n, 1]``, a sigmoid output and the
cross-entropy loss is exactly logistic regression: ``p = sigmoid(X @ w + b)``,
fitted by maximum likelihood.  The loss is convex, so a full-batch solver
(L-BFGS by default) finds the unique minimiser when the classes overlap.  The data
are two Gaussian blobs from :func:`bpnet_xp.datasets.make_classification`.

Usage::

    python scripts/logistic_regression.py [--backend B] [--device D] [--seed S]
        [--samples M] [--features N] [--separation D] [--optimizer lbfgs|cg|gd|sgd|adam]
        [--max-iter K] [--epochs E] [--learning-rate LR]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import bpnet_xp as bp
from bpnet_xp.datasets import make_classification


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", help="numpy, array_api_strict, torch, cupy, jax or auto")
    parser.add_argument("--device", default=None, help="device within the backend (e.g. cuda:0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the initial weights")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--features", type=int, default=2)
    parser.add_argument("--separation", type=float, default=2.0,
                        help="distance between the class centres, in within-class standard deviations")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "cg", "gd", "sgd", "adam"])
    parser.add_argument("--max-iter", type=int, default=100, help="iterations of lbfgs/cg")
    parser.add_argument("--epochs", type=int, default=500, help="epochs of gd/sgd/adam")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="step size of gd/sgd/adam (default 0.5 for gd and sgd, 0.05 for adam)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Fit the one-neuron classifier and print its coefficients, loss and accuracy.

    Returns
    -------
    dict
        ``X``, ``y`` (the data), ``coef`` (n,), ``intercept``, ``loss`` (final),
        ``accuracy`` (training), ``history`` (History.as_dict()).
    """
    args = parse_args(argv)
    X, y = make_classification(n_samples=args.samples, n_features=args.features, n_classes=2,
                               separation=args.separation, seed=args.seed)
    net = bp.MLP([args.features, 1], output="sigmoid", loss="cross_entropy",
                 backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)
    learning_rate = args.learning_rate
    if learning_rate is None and args.optimizer in ("gd", "sgd", "adam"):
        learning_rate = 0.05 if args.optimizer == "adam" else 0.5
    budget = f"{args.max_iter} iterations" if args.optimizer in ("lbfgs", "cg") else f"{args.epochs} epochs"
    print(f"logistic regression: {args.samples} samples, {args.features} features, separation "
          f"{args.separation:g}; one sigmoid neuron, cross-entropy, {args.optimizer} (at most {budget}), "
          f"{net.backend}")
    history = net.fit(X, y, optimizer=args.optimizer, max_iter=args.max_iter, epochs=args.epochs,
                      gtol=1e-9, learning_rate=learning_rate)
    W, b = net.weights[0]
    coef = net.backend.to_numpy(W)[:, 0].astype(np.float64)
    intercept = float(net.backend.to_numpy(b)[0])
    accuracy = net.score(X, y)
    loss = net.loss(X, y)
    np.set_printoptions(precision=4, suppress=True)
    print(f"coefficients {coef}  intercept {intercept:.4f}")
    print(f"cross-entropy {loss:.6f} after {history.n_iter} {'iterations' if args.optimizer in ('lbfgs', 'cg') else 'epochs'} "
          f"({history.stop_reason})")
    print(f"training accuracy {100 * accuracy:.2f} %")
    return {"X": X, "y": y, "coef": coef, "intercept": intercept, "loss": loss, "accuracy": accuracy,
            "history": history.as_dict()}


if __name__ == "__main__":
    main(sys.argv[1:])
