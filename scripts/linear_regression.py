"""Linear regression as a one-neuron network: identity output, mean squared error.

A network with no hidden layer, ``layer_sizes [n, 1]`` and an identity output,
computes ``X @ w + b``; with the loss (1/2m) ||X w + b - y||^2 batch gradient
descent converges to the least-squares solution.  The data come from
:func:`bpnet_xp.datasets.make_regression`, whose true coefficients are known, so
the script prints how far the learned ones are from them.

Usage::

    python scripts/linear_regression.py [--backend B] [--device D] [--seed S]
        [--samples M] [--features N] [--noise SIGMA] [--epochs E] [--learning-rate LR]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import bpnet_xp as bp
from bpnet_xp.datasets import make_regression


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", help="numpy, array_api_strict, torch, cupy, jax or auto")
    parser.add_argument("--device", default=None, help="device within the backend (e.g. cuda:0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the initial weights")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--features", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.05, help="standard deviation of the noise on y")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Fit the one-neuron network and print true and learned coefficients.

    Returns
    -------
    dict
        ``X``, ``y`` (the data), ``true_coef``, ``true_intercept``, ``coef`` (n,),
        ``intercept``, ``max_error`` (largest |learned - true| over coefficients and
        intercept), ``r2`` and ``loss`` (history).
    """
    args = parse_args(argv)
    X, y, coef, intercept = make_regression(n_samples=args.samples, n_features=args.features,
                                            noise=args.noise, seed=args.seed)
    net = bp.MLP([args.features, 1], output="identity", loss="mse",
                 backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)
    print(f"linear regression: {args.samples} samples, {args.features} features, noise {args.noise:g}; "
          f"one identity neuron, mean squared error, batch gradient descent "
          f"(learning rate {args.learning_rate:g}, {args.epochs} epochs), {net.backend}")
    history = net.fit(X, y, optimizer="gd", epochs=args.epochs, learning_rate=args.learning_rate)
    W, b = net.weights[0]
    learned = net.backend.to_numpy(W)[:, 0].astype(np.float64)
    learned_b = float(net.backend.to_numpy(b)[0])
    max_error = float(max(np.max(np.abs(learned - coef)), abs(learned_b - intercept)))
    r2 = net.score(X, y)
    np.set_printoptions(precision=4, suppress=True)
    print(f"true coefficients     {coef}  intercept {intercept:.4f}")
    print(f"learned coefficients  {learned}  intercept {learned_b:.4f}")
    print(f"largest |learned - true| = {max_error:.4f}")
    print(f"final loss {history.loss[-1]:.6f} (noise floor sigma^2/2 = {args.noise ** 2 / 2:.6f}), "
          f"R^2 {r2:.6f}")
    return {"X": X, "y": y, "true_coef": coef, "true_intercept": intercept, "coef": learned,
            "intercept": learned_b, "max_error": max_error, "r2": r2, "loss": history.loss}


if __name__ == "__main__":
    main(sys.argv[1:])
