"""Benchmark bpnet_xp against the programs a user would otherwise pick, in one run.

Run the folder: ``python scripts/bench`` (everything), ``python scripts/bench --workloads w1,w2``,
``python scripts/bench --quick --json /tmp/bench.json`` (a smoke run of seconds); ``--help``
lists the options.  Results go to benchmarks/results/<date>_<time>_<machine>.md and .json.
Workloads: w1.py, w2.py, w3.py (CUDA only), memory.py, imports.py (``--workloads import``, opt-in);
the peers: peers.py.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # ``python scripts/bench``: import this folder as the package ``bench``
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common, imports, memory, small, trainers, w1, w2, w3  # noqa: E402
from bench.common import (DEFAULT_RESULTS, ROOT, WORKLOADS, Config, backend_label, importable,  # noqa: E402
                          machine_info, parse_backends, set_threads, threads_report, torch_cuda)
from bench.workers import Workers, job_child  # noqa: E402

PROGRAM = "scripts/bench"
ISOLATION = ("one worker process per family (numpy+scipy, bpnet_xp numpy, torch, sklearn, ...), pairs back to "
             "back, the same thread count for every library in every process")


def _preload() -> None:
    """Import what the peers import lazily on first use (torch.optim pulls in dynamo)."""
    if importable("torch"):
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    for module in ("scipy.optimize", "scipy.special", "sklearn.neural_network"):
        if importable(module.split(".")[0]):
            __import__(module)


def run(cfg: Config, argv: list[str], json_path: str | None, results_dir: str | None, log=print) -> dict:
    """The whole benchmark for ``cfg``; returns (and writes) every figure."""
    started = time.perf_counter()
    if cfg.backends:
        backends = list(cfg.backends)
    elif cfg.quick:
        backends = [("numpy", None)]  # a smoke run: the other backends only when asked for
    else:
        backends = parse_backends(None)
    set_threads(cfg.threads)  # this process, and (through the environment) every process it starts
    pool = Workers(in_process=cfg.in_process, shared=cfg.quick, settle=cfg.settle, threads=cfg.threads)
    if cfg.in_process:
        # Everything runs in this process: import what the implementations import lazily and
        # move it out of the collector's reach, so the gc.collect() before each timed run
        # costs microseconds, not a walk over torch's hundreds of thousands of objects.
        _preload()
        set_threads(cfg.threads)
        gc.collect()
        gc.freeze()
    try:
        kinds = ["ceiling/ceiling"] + (["torch/ceiling"] if importable("torch") else [])
        if "w1" in cfg.workloads:
            kinds += ["bpnet/w1", "numpy/w1"] + [f"{m}/w1" for m in ("torch", "sklearn") if importable(m)]
        pool.start(kinds)  # their imports overlap with each other
        return _run(cfg, argv, json_path, results_dir, log, started, backends, pool)
    finally:
        pool.close()
        if cfg.in_process:
            gc.unfreeze()


def _meta(cfg: Config, argv: list[str], backends) -> dict:
    return {
        "command": "python " + " ".join(shlex.quote(a) for a in argv),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(), "code": common.code_version(), "quick": cfg.quick, "repeats": cfg.repeats,
        "epochs": cfg.epochs, "seed": cfg.seed, "workloads": list(cfg.workloads),
        "backends": [backend_label(n, d) for n, d in backends],
        "load_before": [round(v, 2) for v in os.getloadavg()],
        "note": "the machine is shared: other processes may have been running during the measurement "
                "(see the load averages)",
        "isolation": "in one process" if cfg.in_process else ISOLATION,
    }


def _ceilings(cfg: Config, backends, pool: Workers, say) -> dict:
    """The float32 matmul ceiling of every library the implementations run on."""
    kinds = {"numpy": ("numpy", None)}
    if importable("torch"):
        kinds["torch:cpu"] = ("torch", "cpu")
    if torch_cuda():
        kinds["torch:cuda"] = ("torch", "cuda")
    if any(n == "cupy" for n, _ in backends):
        kinds["cupy"] = ("cupy", None)
    worker_of = {"numpy": "ceiling", "torch": "torch", "cupy": "cupy"}  # each measured in a "/ceiling" worker
    say(f"\nfloat32 matmul ceiling ({cfg.matmul_n} x {cfg.matmul_n}, best of {cfg.matmul_repeats}):")
    ceilings = {}
    for key, (kind, device) in kinds.items():
        try:
            ceilings[key] = pool.call(worker_of[kind] + "/ceiling", "common:matmul_ceiling", kind, device,
                                      cfg.matmul_n, cfg.matmul_repeats)
            say(f"  {key:<12}{ceilings[key]['gflops']:>9.1f} GFLOP/s")
        except RuntimeError as exc:
            say(f"  {key}: not measured ({str(exc).strip().splitlines()[-1]})")
    return ceilings


def _say_threads(threads: dict, say) -> None:
    tool = f"threadpoolctl {threads['threadpoolctl']}" if threads["threadpoolctl"] else "threadpoolctl absent"
    say(f"\nthreads: {threads['requested']} per library in {len(threads['processes'])} process(es) ({tool}); "
        f"all equal: {common.equal_word(threads)}")
    for key, bad in threads["mismatches"].items():
        say(f"  {key}: {', '.join(bad)}")
    if threads.get("note"):
        say(f"  note: {threads['note']}")


def _run(cfg, argv, json_path, results_dir, log, started, backends, pool: Workers) -> dict:
    buffer: list[str] = []

    def say(line: str = "") -> None:
        buffer.append(line)
        log(line)

    out: dict = {"meta": _meta(cfg, argv, backends)}
    meta, info = out["meta"], out["meta"]["machine"]
    say(f"bpnet_xp benchmark  {meta['date']}  {info['cpu']} x{info['cpu_count']}"
        f"{'  ' + info['gpu'] if 'gpu' in info else ''}")
    say(f"command: {meta['command']}   code: {meta['code']}")
    say(f"backends: {', '.join(meta['backends'])}; threads {cfg.threads}; load average {meta['load_before']}")
    t0 = time.perf_counter()
    out["matmul_ceiling"] = ceilings = _ceilings(cfg, backends, pool, say)
    meta["ceiling_seconds"] = time.perf_counter() - t0
    sections = {"w1": lambda: w1.run_w1(cfg, backends, pool, ceilings, out, say),
                "w2": lambda: w2.run_w2(cfg, backends, pool, out, say),
                "w3": lambda: w3.run_w3(cfg, backends, pool, ceilings, out, say),
                "mem": lambda: memory.run_memory(cfg, backends, pool, out, say),
                "small": lambda: small.run_small(cfg, backends, pool, out, say),
                # Opt-in (--workloads trainers): second-order trainers vs scipy, in this process.
                "trainers": lambda: trainers.run_trainers(cfg, backends, pool, out, say),
                # Opt-in (--workloads import): import cost in fresh processes (issue 15 item 6).
                "import": lambda: imports.run_imports(cfg, backends, pool, out, say)}
    meta["section_seconds"] = {}
    for name, section in sections.items():
        if name in cfg.workloads:
            t0 = time.perf_counter()
            section()
            meta["section_seconds"][name] = time.perf_counter() - t0
    pool.release("ceiling")
    pool.collect_threads()
    meta["threads"] = threads_report(cfg.threads, pool.threads)
    _say_threads(meta["threads"], say)
    out["targets"] = common.evaluate_targets(out)
    if out["targets"]:
        say("\nTargets (issue 5):")
        for row in out["targets"]:
            want = f">= {row['at_least']}" if "at_least" in row else f"<= {row['at_most']}"
            say(f"  {'met ' if row['met'] else 'MISS'}  {row['target']}: {row['measured']:.4f} (wanted {want})")
    meta["load_after"] = [round(v, 2) for v in os.getloadavg()]
    meta["wall_seconds"] = time.perf_counter() - started
    common.write_results(out, "\n".join(buffer), json_path, results_dir, log)
    return out


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(prog=f"python {PROGRAM}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all; w3 needs CUDA); "
                        "opt-in, only when named: trainers, import")
    p.add_argument("--backends", default=None,
                   help="bpnet_xp backends, e.g. numpy,torch,array_api_strict,cupy,torch:cuda (default: all usable here)")
    p.add_argument("--repeats", type=int, default=None, help="runs (W1 numpy: back-to-back pairs) per figure (5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per W1/W3 run (3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="threads of every BLAS/OpenMP pool and of torch, in every process (default: the CPUs "
                        f"this process may use, {common.default_threads()} here)")
    p.add_argument("--quick", action="store_true", help="a tiny run: small data, 1 epoch, 1 repeat (seconds)")
    p.add_argument("--json", default=None, help="write every figure to this JSON file")
    p.add_argument("--results-dir", default=None,
                   help=f"where the dated .md/.json result files go (default {DEFAULT_RESULTS.relative_to(ROOT)}; "
                        "not written with --quick unless given)")
    p.add_argument("--no-save", action="store_true", help="do not write result files under benchmarks/results/")
    p.add_argument("--in-process", action="store_true",
                   help="run every implementation in this one process instead of one worker process per "
                        "family (shows how much importing torch/sklearn changes NumPy's allocator behaviour)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of quiet before a run in a different worker process (0.5; BLAS/OpenMP threads "
                        "of the previous one spin for a while)")
    p.add_argument("--w3-force-cpu", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--job-child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def config_from(args) -> Config:
    workloads = tuple(w.strip().lower() for w in args.workloads.split(",") if w.strip())
    known = (*WORKLOADS, "trainers", "import")  # "trainers" and "import" run only when named
    unknown = sorted(set(workloads) - set(known))
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {list(known)}")
    overrides: dict = {"workloads": workloads, "seed": args.seed, "w3_force_cpu": args.w3_force_cpu,
                       "in_process": args.in_process}
    if args.backends:
        overrides["backends"] = tuple(parse_backends(args.backends))
    if args.settle is not None:
        overrides["settle"] = max(0.0, args.settle)
    for name in ("repeats", "epochs", "threads"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise SystemExit(f"--{name} must be >= 1")
            overrides[name] = value
    return Config.quick_config(**overrides) if args.quick else replace(Config(), **overrides)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory.memory_child(json.loads(args.memory_child)), default=common.jsonable))
        return 0
    if args.job_child:
        print(json.dumps(job_child(json.loads(args.job_child)), default=common.jsonable))
        return 0
    cfg = config_from(args)
    results_dir = None if args.no_save else (args.results_dir or (None if args.quick else str(DEFAULT_RESULTS)))
    run(cfg, [PROGRAM, *argv], args.json, results_dir, log=lambda line="": print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
