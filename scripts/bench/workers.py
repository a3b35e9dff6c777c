"""Worker processes: each family of implementations runs in a long-lived process of its own
(spawned, so it imports only what it needs), fresh for each workload, with the same
thread settings as every other; a job is named "module:function" of this package.
"""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys
import time
from typing import Callable

from .common import PACKAGE_DIR, Run, set_threads, thread_summary

# Why worker processes: how fast NumPy's short-lived temporaries are allocated depends on
# the process's heap layout (glibc returns freed memory to the OS and faults it in again,
# or not, depending on what the process did before), and importing PyTorch or
# scikit-learn, or gc.freeze(), was measured here to move bpnet_xp's W2 time between 0.9x
# and 1.6x that of NumPy + scipy.  So bpnet_xp's numpy backend runs in a process that has
# imported only numpy and bpnet_xp, as a user's script would, and every peer in a process
# of its own kind; the parent only orchestrates (pairs stay back to back, with a short
# settle time between processes).  --in-process runs everything in one process instead.


def resolve(job: str) -> Callable:
    """``"w1:job_w1"`` -> the function ``job_w1`` of this package's module ``w1``."""
    module, _, name = job.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def run_job(job: str, args, threads: int | None):
    """``job(*args)`` after setting every thread pool to ``threads`` (None: left as they are)."""
    if threads is not None:
        set_threads(threads)  # again: a library the last job loaded may have come up with its own count
    return resolve(job)(*args)


def job_threads() -> dict:
    return thread_summary()


def _worker_setup(family: str, threads: int | None) -> None:
    """Import what the worker's implementations import lazily (before anything is timed)."""
    try:
        if family == "torch":
            import torch

            torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # pulls in torch._dynamo
        elif family == "sklearn":
            import sklearn.exceptions  # noqa: F401
            import sklearn.neural_network  # noqa: F401
        elif family == "numpy":
            import scipy.optimize  # noqa: F401
            import scipy.special  # noqa: F401
        elif family in ("jax", "jaxnative"):
            import jax.numpy  # noqa: F401
        elif family == "jax-x64":
            import jax

            jax.config.update("jax_enable_x64", True)  # before any JAX array exists
    except ImportError:
        pass
    if threads is not None:
        set_threads(threads)
    if family in ("torch", "sklearn"):
        # Their hundreds of thousands of objects are moved out of the collector's reach, so
        # the gc.collect() before each timed run costs milliseconds, not a third of a second.
        # Not done for the numpy-only processes: it changes their heap layout, and so the
        # timings of bpnet_xp's temporaries (see benchmarks/perf-findings.md).
        gc.collect()
        gc.freeze()


def _worker_main(conn, kind: str, threads: int | None) -> None:
    import traceback

    _worker_setup(kind.split("/")[0], threads)
    conn.send((True, "ready"))
    while True:
        message = conn.recv()
        if message is None:
            return
        job, args = message
        try:
            conn.send((True, run_job(job, args, threads)))
        except BaseException:  # report everything to the parent, which raises it
            conn.send((False, traceback.format_exc()))


class Workers:
    """Long-lived worker processes, one per key "family/workload" ("numpy/w1", "torch/w1",
    "numpy/w2", ...).

    Each workload gets fresh workers (and :meth:`release` ends them when it is done),
    because a process's allocator state depends on what it ran before: W2's small
    temporaries are served faster by a heap that W1's large arrays have grown.
    ``call(key, job, *args)`` runs the job in that worker and returns its result.  With
    ``in_process=True`` everything runs in this process instead; with ``shared=True``
    (the --quick smoke run) one worker per family serves every workload.  ``n_threads``
    is every thread pool's size in every process (None: left as the libraries choose);
    ``threads`` maps each process that ran something to its pools (read before it ends).
    """

    def __init__(self, in_process: bool = False, shared: bool = False, settle: float = 0.0,
                 threads: int | None = None):
        self.in_process, self.shared, self.settle, self.n_threads = in_process, shared, settle, threads
        self.last = None
        self.procs: dict = {}
        self.ready: dict = {}
        self.threads: dict = {}

    def start(self, kinds) -> None:
        """Start several workers at once, so their imports overlap; return when all are ready."""
        if not self.in_process:
            for kind in kinds:
                self._get(kind, wait=False)
            for kind in kinds:
                self._get(kind)

    def _key(self, kind: str) -> str:
        return kind.split("/")[0] if self.shared else kind

    def _get(self, kind: str, wait: bool = True):
        kind = self._key(kind)
        if kind not in self.procs:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, kind, self.n_threads), daemon=True,
                               name=f"bench-{kind}")
            proc.start()
            child.close()
            self.procs[kind] = (proc, parent)
            self.ready[kind] = False
        proc, conn = self.procs[kind]
        if wait and not self.ready[kind]:
            # Nothing is timed while a worker is still importing: it would steal the cores.
            try:
                conn.recv()
            except EOFError:
                raise RuntimeError(f"the {kind} worker died while starting (exit code {proc.exitcode})") from None
            self.ready[kind] = True
        return proc, conn

    def _ask(self, kind: str, proc, conn, job: str, args):
        conn.send((job, args))
        try:
            ok, value = conn.recv()
        except EOFError:
            raise RuntimeError(f"the {kind} worker died (exit code {proc.exitcode}) running {job}{args[:1]}") from None
        if not ok:
            raise RuntimeError(f"{job}{args[:1]} failed in the {kind} worker:\n{value}")
        return value

    def call(self, kind: str, job: str, *args):
        if self.in_process:
            return run_job(job, args, self.n_threads)
        proc, conn = self._get(kind)
        if self.settle and self.last is not None and self.last is not proc:
            # BLAS and OpenMP worker threads spin for a while after their last call before
            # they sleep; the previous process's spinning threads must not steal the cores
            # from this one's run.
            time.sleep(self.settle)
        self.last = proc
        return self._ask(kind, proc, conn, job, args)

    def note_threads(self, key: str, summary: dict) -> None:
        self.threads.setdefault(key, summary)

    def collect_threads(self, keys=None) -> None:
        """Read the thread pools of the live workers (of ``keys``), as they are after their jobs."""
        if self.in_process:
            self.threads["this process (--in-process)"] = thread_summary()
            return
        for key in list(self.procs) if keys is None else keys:
            if self.ready.get(key) and self.procs[key][0].is_alive():
                proc, conn = self.procs[key]
                self.threads[key] = self._ask(key, proc, conn, "workers:job_threads", ())

    def release(self, workload: str) -> None:
        """End the workers of one workload (after reading their thread pools)."""
        if not self.shared:
            keys = [key for key in self.procs if key.endswith("/" + workload)]
            self.collect_threads(keys)
            self.close(keys)

    def close(self, keys=None) -> None:
        keys = list(self.procs) if keys is None else keys
        for key in keys:
            try:
                self.procs[key][1].send(None)
            except (BrokenPipeError, OSError):
                pass
        for key in keys:
            proc, _ = self.procs.pop(key)
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()


# ---------------------------------------------------------------------------------------
# A run in a fresh process (``python scripts/bench --job-child SPEC``).


def fresh(job: str, args: list, warmup_tail: list, pool: Workers) -> Callable[[], Run]:
    """A run of ``job(*args)`` in a new process, after one warm-up call with the label and
    ``warmup_tail`` as arguments; its imports are those of this package and the job."""
    spec = json.dumps({"job": job, "args": args, "warmup": [args[0], *warmup_tail], "threads": pool.n_threads})

    def run() -> Run:
        proc = subprocess.run([sys.executable, str(PACKAGE_DIR), "--job-child", spec],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{job}{args[:1]} failed in a fresh process:\n{proc.stderr[-2000:]}")
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        pool.note_threads(f"fresh process: {args[0]}", d["threads"])
        return Run(d["seconds"], d["loss"], d["accuracy"], d["extra"])

    return run


def job_child(spec: dict) -> dict:
    """The body of a fresh-process run (see :func:`fresh`)."""
    run_job(spec["job"], spec["warmup"], spec["threads"])
    run = run_job(spec["job"], spec["args"], spec["threads"])
    return {"seconds": run.seconds, "loss": run.loss, "accuracy": run.accuracy, "extra": run.extra,
            "threads": thread_summary()}
