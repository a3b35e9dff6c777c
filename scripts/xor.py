"""XOR with a 2-10-1 sigmoid network and mean squared error, by batch gradient descent.

The classic demonstration that a hidden layer is needed: no single-layer network
separates {(0,1), (1,0)} from {(0,0), (1,1)}.  Prints the loss every ``--every``
epochs, the network's outputs, and the predicted classes (outputs thresholded at 0.5).

Usage::

    python scripts/xor.py [--backend B] [--device D] [--seed S] [--epochs N]
                          [--learning-rate LR] [--every K] [--dtype float32|float64]
"""

from __future__ import annotations

import argparse
import sys

import bpnet_xp as bp
from bpnet_xp.datasets import make_xor


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", help="numpy, array_api_strict, torch, cupy, jax or auto")
    parser.add_argument("--device", default=None, help="device within the backend (e.g. cuda:0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--learning-rate", type=float, default=2.0)
    parser.add_argument("--every", type=int, default=500, help="print the loss every K epochs")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Train the XOR network and print the results.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``loss`` (list of float per epoch), ``outputs`` (4 floats), ``predictions``
        (4 ints), ``backend`` (str).
    """
    args = parse_args(argv)
    X, y = make_xor()
    net = bp.MLP([2, 10, 1], activation="sigmoid", output="sigmoid", loss="mse",
                 backend=args.backend, device=args.device, dtype=args.dtype, seed=args.seed)
    print(f"XOR: 2-10-1 sigmoid network, mean squared error, batch gradient descent "
          f"(learning rate {args.learning_rate:g}, {args.epochs} epochs), {net.backend}, seed {args.seed}")
    history = net.fit(X, y, optimizer="gd", epochs=args.epochs, learning_rate=args.learning_rate,
                      verbose=args.every)
    # With the mse loss the network is a regressor: threshold its outputs at 0.5 here.
    outputs = net.predict_proba(X)[:, 0]
    predictions = [int(o >= 0.5) for o in outputs]
    print("x1 x2  target  output")
    for (x1, x2), target, out in zip(X, y, outputs):
        print(f" {x1:.0f}  {x2:.0f}     {target}    {out:.4f}")
    print("predictions:", " ".join(str(p) for p in predictions))
    return {"loss": history.loss, "outputs": [float(o) for o in outputs], "predictions": predictions,
            "backend": net.backend.name}


if __name__ == "__main__":
    main(sys.argv[1:])
