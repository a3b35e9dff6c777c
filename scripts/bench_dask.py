"""Data-parallel throughput of the Dask map-reduce objective: 1 worker vs 2 workers.

Measures full-batch loss-and-gradient evaluations per second
(:class:`bpnet_xp.dask.DaskObjective`, the step that "gd", "cg" and "lbfgs"
repeat) on a dask.distributed ``LocalCluster`` of 1 and then 2 worker processes
(one thread each; the nanny limits each worker's BLAS to one thread), on a
synthetic float64 data set of ``--chunks`` row chunks (4 by default: the data are
4x larger than one chunk), generated on the workers and persisted there.  Each
configuration is timed ``--repeats`` times; the median is reported, with the
spread, because the machine may be shared.  Also reported, as context: the
same evaluation in memory with NumPy in this process.

Usage::

    python scripts/bench_dask.py                       # 1e6 x 100, 4 chunks, [100, 16, 1]
    python scripts/bench_dask.py --rows-per-chunk 50000 --evaluations 5 --repeats 1   # quick
    python scripts/bench_dask.py --record benchmarks/results/dask-throughput.md

Prints a table and the ratio of 2-worker to 1-worker throughput; ``--record``
also writes it as Markdown.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import numpy as np


def _evaluations_per_second(objective, theta, evaluations: int) -> tuple[float, float]:
    """(timed evaluations per second, wall seconds including the warm-up)."""
    begin = time.perf_counter()
    objective(theta)  # warm-up: imports and first-task costs on every worker
    start = time.perf_counter()
    for _ in range(evaluations):
        objective(theta)
    end = time.perf_counter()
    return evaluations / (end - start), end - begin


def _cpu_seconds() -> float:
    """CPU time used so far by the calling process (run on each worker)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_cluster(n_workers: int, args, net) -> dict:
    from distributed import Client, LocalCluster, wait

    from bpnet_xp.dask import DaskObjective, make_dask_classification

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        X, y = make_dask_classification(args.rows_per_chunk * args.chunks, args.features,
                                        chunk_rows=args.rows_per_chunk, seed=0)
        X, y = client.persist([X, y])
        wait([X, y])
        blas = client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
        placement = sorted(len(keys) for keys in client.has_what().values())
        objective = DaskObjective(net.spec, X, y)
        rates, loads, busy = [], [], []
        for _ in range(args.repeats):
            loads.append(os.getloadavg()[0])
            before = client.run(_cpu_seconds)
            rate, wall = _evaluations_per_second(objective, net.theta, args.evaluations)
            after = client.run(_cpu_seconds)
            rates.append(rate)
            # Share of the wall time each worker spent on a CPU: near 1 when it had a core to
            # itself, lower when other processes on the machine took its core.
            busy.append(min(after[w] - before[w] for w in after) / wall)
    return dict(workers=n_workers, rates=rates, loads=loads, busy=busy, blas=sorted(set(blas.values()), key=str),
                placement=placement)


def _time_numpy(args, net) -> float:
    from bpnet_xp.dask import make_dask_classification
    from bpnet_xp.network import loss_and_grad

    X, y = make_dask_classification(args.rows_per_chunk * args.chunks, args.features,
                                    chunk_rows=args.rows_per_chunk, seed=0)
    Xn, Y = net.prepare(X.compute(scheduler="sync"), y.compute(scheduler="sync"))
    fun = lambda theta: loss_and_grad(net.spec, theta, Xn, Y)  # noqa: E731
    return _evaluations_per_second(fun, net.theta, args.evaluations)[0]


def _record(args, argv, results, ratio, numpy_rate, sizes, m, data_mb) -> None:
    """Append this run to the Markdown file (with a header describing the setup when new)."""
    import dask
    import distributed

    command = "python scripts/bench_dask.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = []
    if not os.path.exists(args.record):
        lines += [
            "# Dask data-parallel throughput: 1 worker vs 2 workers",
            "",
            "Written by `scripts/bench_dask.py --record`; each run is appended below, none is dropped.",
            "Throughput = full-batch loss-and-gradient evaluations per second (map over the row chunks, "
            "tree reduction, finish on the client), on a LocalCluster(processes=True, "
            "threads_per_worker=1); data generated on the workers and persisted there. The column "
            "\"CPU time / wall time\" is the least busy worker's share of the timed span spent on a CPU: "
            "near 100 % when each worker had a core to itself, lower when other processes on the machine "
            "took its core (this machine is shared); it can exceed 100 % slightly because a worker process's CPU time also "
            "counts its communication threads.",
            "",
        ]
    lines += [
        f"## {datetime.datetime.now().isoformat(timespec='minutes')}",
        "",
        f"`{command}`; {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, dask {dask.__version__}, distributed {distributed.__version__}. Data "
        f"{m} x {args.features} float64 ({data_mb:.0f} MB) in {args.chunks} row chunks of "
        f"{args.rows_per_chunk} rows; network {sizes} (tanh, sigmoid output, cross-entropy, l2=1); "
        f"{args.evaluations} timed evaluations after one warm-up, {args.repeats} repeats; "
        f"memory_limit={args.memory_limit!r} per worker.",
        "",
        "| workers | evaluations/s (median) | repeats | CPU time / wall time | load average at start |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['workers']} | {statistics.median(r['rates']):.3f} | "
                     f"{', '.join(f'{v:.3f}' for v in r['rates'])} | "
                     f"{', '.join(f'{v:.0%}' for v in r['busy'])} | "
                     f"{', '.join(f'{v:.1f}' for v in r['loads'])} |")
    lines += ["", f"**2 workers / 1 worker: {ratio:.2f}x** (the issue asks for >= 1.6x).", ""]
    if numpy_rate is not None:
        lines += [f"Context: the same evaluation in memory, NumPy in one process (BLAS threads unlimited): "
                  f"{numpy_rate:.3f} evaluations/s.", ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.record)), exist_ok=True)
    with open(args.record, "a") as f:
        f.write("\n".join(lines) + "\n")
    print(f"recorded in {args.record}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows-per-chunk", type=int, default=250_000)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=16, help="hidden units (0: logistic regression)")
    parser.add_argument("--evaluations", type=int, default=10, help="timed evaluations per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit", default="3GiB", help="per worker")
    parser.add_argument("--no-numpy", action="store_true", help="skip the in-memory NumPy reference")
    parser.add_argument("--record", metavar="PATH", help="also write the results as Markdown")
    args = parser.parse_args(argv)

    import bpnet_xp as bp

    sizes = [args.features] + ([args.hidden] if args.hidden else []) + [1]
    net = bp.MLP(sizes, activation="tanh", backend="numpy", dtype="float64", seed=0, l2=1.0)
    m = args.rows_per_chunk * args.chunks
    data_mb = m * args.features * 8 / 1e6
    print(f"data: {m} x {args.features} float64 ({data_mb:.0f} MB) in {args.chunks} chunks of "
          f"{args.rows_per_chunk} rows; network {sizes}; {os.cpu_count()} CPUs", flush=True)

    results = []
    for n_workers in (1, 2):
        r = _time_cluster(n_workers, args, net)
        results.append(r)
        print(f"{n_workers} worker(s): median {statistics.median(r['rates']):.3f} evaluations/s "
              f"(runs {', '.join(f'{v:.3f}' for v in r['rates'])}; least busy worker on a CPU "
              f"{', '.join(f'{v:.0%}' for v in r['busy'])} of the time; load average "
              f"{', '.join(f'{v:.1f}' for v in r['loads'])}; chunks+labels per worker {r['placement']}; "
              f"OMP_NUM_THREADS on workers {r['blas']})", flush=True)
    one, two = (statistics.median(r["rates"]) for r in results)
    ratio = two / one
    print(f"2 workers / 1 worker: {ratio:.2f}x", flush=True)
    numpy_rate = None
    if not args.no_numpy:
        numpy_rate = _time_numpy(args, net)
        print(f"in memory, NumPy in one process: {numpy_rate:.3f} evaluations/s", flush=True)

    if args.record:
        _record(args, argv, results, ratio, numpy_rate, sizes, m, data_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
