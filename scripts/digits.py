"""Handwritten digits with a 64-25-10 sigmoid network: raw and standardised pixels.

The classic exercise: 8x8 images (pixels 0..16), a 64-25-10 network with sigmoid
units, the cross-entropy cost summed over the 10 outputs, an L2 penalty
lambda = 1 on the weights, and 50 iterations of nonlinear conjugate gradient on the
full batch, in float64.  25 % of the images are held out for testing (a seeded
split).  The script trains twice: on the raw pixels, and on pixels standardised
with a :class:`~bpnet_xp.preprocessing.StandardScaler` fitted on the training
split only (fitting it on all the data would leak the test set's statistics).

Why standardising matters: raw pixels reach 16 and the 64 of them add up, so
the initial pre-activations of the hidden sigmoid units are large; many units
start (or soon end up) saturated, where sigmoid'(z) = a (1 - a) is nearly 0 and
back-propagation passes almost no gradient through them.  Which units saturate
depends on the initial weights, so results on raw pixels vary widely between
seeds.  Standardised inputs (mean 0, variance 1 per pixel) keep the hidden units
in their responsive range and make the cost better conditioned.

Usage::

    python scripts/digits.py [--backend B] [--device D] [--seed S | --seeds S [S ...]]
        [--optimizer cg|lbfgs|adam] [--max-iter K] [--epochs E] [--batch-size N]
        [--learning-rate LR] [--inputs raw standardised] [--curve]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import bpnet_xp as bp
from bpnet_xp.datasets import load_digits
from bpnet_xp.preprocessing import StandardScaler, train_test_split

INPUTS = ("raw", "standardised")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", help="numpy, array_api_strict, torch, cupy, jax or auto")
    parser.add_argument("--device", default=None, help="device within the backend (e.g. cuda:0)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed of the split and of the initial weights")
    seeds.add_argument("--seeds", type=int, nargs="+", help="several seeds; also prints the medians")
    parser.add_argument("--optimizer", default="cg", choices=["cg", "lbfgs", "adam", "sgd", "gd"])
    parser.add_argument("--max-iter", type=int, default=50, help="iterations of cg/lbfgs")
    parser.add_argument("--epochs", type=int, default=200, help="epochs of adam/sgd/gd")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size of adam/sgd")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="step size of adam/sgd/gd (default 0.003 for adam, 0.1 for sgd, 1.0 for gd)")
    parser.add_argument("--hidden", type=int, default=25, help="hidden units")
    parser.add_argument("--l2", type=float, default=1.0, help="L2 strength lambda")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    parser.add_argument("--curve", action="store_true",
                        help="record the training accuracy after every iteration/epoch")
    return parser.parse_args(argv)


def _options(args) -> tuple[dict, str]:
    """fit() options for the chosen optimizer, and their description."""
    if args.optimizer in ("cg", "lbfgs"):
        return dict(max_iter=args.max_iter), f"{args.optimizer}, {args.max_iter} iterations"
    lr = args.learning_rate
    if lr is None:
        lr = {"adam": 0.003, "sgd": 0.1, "gd": 1.0}[args.optimizer]
    batch = None if args.optimizer == "gd" else args.batch_size
    words = "full batch" if batch is None else f"mini-batches of {batch}"
    return (dict(epochs=args.epochs, batch_size=batch, learning_rate=lr),
            f"{args.optimizer}, {args.epochs} epochs of {words}, learning rate {lr:g}")


def run_one(args, X, y, seed: int, inputs: str) -> dict:
    """Train one network on one split; the accuracies and what the training did."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=args.test_fraction, seed=seed)
    if inputs == "standardised":
        scaler = StandardScaler().fit(X_train)  # training split only
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    net = bp.MLP([64, args.hidden, 10], activation="sigmoid", output="sigmoid", loss="cross_entropy",
                 l2=args.l2, backend=args.backend, device=args.device, dtype=args.dtype, seed=seed)
    options, _ = _options(args)
    curve: list[float] = []
    callbacks = ()
    if args.curve:
        Xd, yd = net.backend.asarray(X_train), net.backend.asarray(y_train)  # moved once, scored each step
        callbacks = (lambda k, n, h: curve.append(n.score(Xd, yd)),)
    start = time.perf_counter()
    history = net.fit(X_train, y_train, optimizer=args.optimizer, seed=seed, callbacks=callbacks, **options)
    seconds = time.perf_counter() - start
    return {
        "seed": seed, "inputs": inputs,
        "train_accuracy": net.score(X_train, y_train), "test_accuracy": net.score(X_test, y_test),
        "loss": history.loss[-1], "n_iter": history.n_iter, "n_evaluations": history.n_evaluations,
        "seconds": seconds, "stop_reason": history.stop_reason, "train_accuracy_curve": curve,
        "n_train": len(y_train), "n_test": len(y_test),
    }


def main(argv=None) -> dict:
    """Train on raw and standardised pixels for each seed; print and return the results.

    Returns
    -------
    dict
        ``runs``: one dict per (seed, inputs) with ``train_accuracy``, ``test_accuracy``
        (fractions), ``loss``, ``n_iter``, ``n_evaluations``, ``seconds``,
        ``stop_reason``, ``train_accuracy_curve``; ``median``: per inputs, the median
        ``train_accuracy`` and ``test_accuracy`` over the seeds; ``optimizer``, ``backend``.
    """
    args = parse_args(argv)
    seeds = args.seeds if args.seeds else [args.seed]
    X, y = load_digits()
    backend = bp.get_backend(args.backend, args.device)
    _, description = _options(args)
    n_test = len(train_test_split(X, y, test_fraction=args.test_fraction, seed=0)[1])
    print(f"digits: {len(y)} images of 8x8 pixels, 10 classes; {len(y) - n_test} training / "
          f"{n_test} held-out ({100 * args.test_fraction:g} %)")
    print(f"network 64-{args.hidden}-10 sigmoid, cross-entropy, l2={args.l2:g}, {args.dtype}, {backend}; "
          f"{description}")
    print(f"{'seed':>4}  {'inputs':<12}  {'train':>8}  {'test':>8}  {'loss':>8}  {'iters':>5}  {'evals':>5}  time")
    runs = []
    for seed in seeds:
        for inputs in args.inputs:
            r = run_one(args, X, y, seed, inputs)
            runs.append(r)
            print(f"{seed:>4}  {inputs:<12}  {100 * r['train_accuracy']:6.2f} %  {100 * r['test_accuracy']:6.2f} %  "
                  f"{r['loss']:8.6f}  {r['n_iter']:>5}  {r['n_evaluations']:>5}  {r['seconds']:.1f} s", flush=True)
    median = {}
    for inputs in args.inputs:
        mine = [r for r in runs if r["inputs"] == inputs]
        median[inputs] = {key: statistics.median(r[key] for r in mine) for key in ("train_accuracy", "test_accuracy")}
    if len(seeds) > 1:
        print(f"median over seeds {', '.join(map(str, seeds))}:")
        for inputs, m in median.items():
            print(f"      {inputs:<12}  {100 * m['train_accuracy']:6.2f} %  {100 * m['test_accuracy']:6.2f} %")
    return {"runs": runs, "median": median, "optimizer": args.optimizer, "backend": backend.name}


if __name__ == "__main__":
    main(sys.argv[1:])
