"""Interrupted saves (issue 12, item 7): the model always survives, no temporary file outlives
the next save, and SIGTERM or Ctrl-C clean up at once."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import bpnet_xp as bp

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("POSIX signals", allow_module_level=True)

# A ~1 MB model (125,250 float64 parameters), saved over and over until killed.
CHILD = textwrap.dedent("""
    import sys
    import bpnet_xp as bp
    net = bp.MLP([500, 250], dtype="float64", backend="numpy", seed=0)
    net.save(sys.argv[1])
    print("ready", flush=True)
    while True:
        net.save(sys.argv[1])
""")


def test_killed_saves_never_lose_the_model_and_leave_nothing_after_the_next_save(tmp_path):
    path = tmp_path / "model.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    rng = random.Random(12)
    signals = [signal.SIGKILL, signal.SIGTERM] * 6
    left_by_sigkill = 0
    for sig in signals:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.05))  # a random moment of the save loop
        child.send_signal(sig)
        assert child.wait(timeout=30) == -sig
        child.stdout.close()
        loaded = bp.load(path)
        assert loaded.layer_sizes == (500, 250)
        left_by_sigkill += sig == signal.SIGKILL and len(os.listdir(tmp_path)) > 1
        if sig == signal.SIGTERM:
            # The handler removed the temporary file before the process ended.
            assert os.listdir(tmp_path) == ["model.npz"]
    assert os.path.getsize(path) > 900_000
    print(f"{left_by_sigkill} of 6 SIGKILLs left a temporary file")
    bp.MLP([500, 250], dtype="float64", backend="numpy", seed=1).save(path)
    assert os.listdir(tmp_path) == ["model.npz"]
    assert bp.load(path).seed == 1


def test_keyboard_interrupt_during_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    net = bp.MLP([3, 2], backend="numpy", seed=0)
    net.save(path)
    before = path.read_bytes()

    def interrupted(handle, **arrays):
        handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        net.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    path = tmp_path / "model.npz"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f".model.npz.{finished.stdout.strip()}.abc123.tmp"
    live = tmp_path / f".model.npz.{os.getpid()}.def456.tmp"  # a writer that is still running
    other = tmp_path / f".other.npz.{finished.stdout.strip()}.abc123.tmp"  # another target's
    for p in (dead, live, other):
        p.write_bytes(b"x" * 1000)
    try:
        import fcntl
    except ImportError:  # no flock: the pid in the name decides
        fcntl = None
    handle = open(live, "rb")
    if fcntl is not None:
        # A live writer holds the lock on its temporary file, as atomic_write's writers do; the
        # lock, not the pid (which the system may have given to another process), says "alive".
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        reused = tmp_path / f".model.npz.{os.getpid()}.ghi789.tmp"  # a pid reused, no lock held
        reused.write_bytes(b"x" * 1000)
    try:
        bp.MLP([3, 2], backend="numpy").save(path)
    finally:
        handle.close()
    assert sorted(os.listdir(tmp_path)) == sorted(["model.npz", live.name, other.name])


def _open_descriptors() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: descriptors are not checked
        return None


def _events_of_one_save(save, on_event) -> int:
    """Run ``save`` with ``on_event(n)`` called at the n-th Python call or C return inside
    it: the points where CPython runs a signal's handler.  Returns how many there were."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_return"):
            count += 1
            on_event(count)

    sys.setprofile(profile)
    try:
        save()
    finally:
        sys.setprofile(None)
    return count


# Interrupted inside zipfile, its objects complain as they are collected ("Exception ignored").
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_at_every_point_of_a_save_leaves_one_whole_model_and_nothing_else(tmp_path):
    # A real SIGINT is raised at each point in turn, wherever CPython would run its handler,
    # from the first statement of save() to its last; the file on disk must then be the old
    # model or the new one, nothing else may be left, no descriptor may leak, the handlers
    # must be the ones from before, and KeyboardInterrupt must reach the caller.
    path = tmp_path / "model.npz"
    old, new = bp.MLP([3, 2], backend="numpy", seed=0), bp.MLP([3, 2], backend="numpy", seed=1)
    old.save(path)
    descriptors = _open_descriptors()
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    seeds = set()
    gc.collect()
    gc.freeze()  # the collections below look at this test's objects only
    try:
        _interrupt_every_point(path, old, new, descriptors, handlers, seeds)
    finally:
        gc.unfreeze()
    assert len(seeds) == 2  # interrupted before and after the rename, both seen


def _interrupt_every_point(path, old, new, descriptors, handlers, seeds) -> None:
    tmp_path, k = path.parent, 0
    while True:
        k += 1
        caught = None
        try:
            n = _events_of_one_save(lambda: new.save(path), lambda i: i == k and signal.raise_signal(signal.SIGINT))
        except KeyboardInterrupt:
            caught, n = "KeyboardInterrupt", k
        except BaseException as exc:  # replaced on the way out: still reported as what it is
            caught, n = f"{type(exc).__name__}: {exc}", k
        if n < k:
            break
        assert caught == "KeyboardInterrupt", f"point {k}"
        # An interrupted zipfile leaves reference cycles; collected now, not at a random later
        # moment (CPython 3.11 raises SystemError when a finalizer runs inside ast.parse).
        # A file object in such a cycle is closed then too.
        gc.collect()
        assert os.listdir(tmp_path) == ["model.npz"], f"point {k}"
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers, f"point {k}"
        assert _open_descriptors() == descriptors, f"point {k}"
        seeds.add(bp.load(path).seed)
        old.save(path)
    assert k > 100


# SIGTERM at every point of a save, in a forked child per point; run in a fresh interpreter
# that has loaded numpy and bpnet_xp only (the test process may hold JAX's or torch's
# threads, which a fork could deadlock).  The child must die by the signal (never survive
# it) and leave the old model or the new one and nothing else.
SIGTERM_AT_EVERY_POINT = textwrap.dedent("""
    import json, os, signal, sys, warnings
    sys.path.insert(0, os.path.dirname(sys.argv[2]))
    import bpnet_xp as bp
    from test_kill import _events_of_one_save
    path = sys.argv[1]
    old, new = bp.MLP([3, 2], backend="numpy", seed=0), bp.MLP([3, 2], backend="numpy", seed=1)
    seeds, failures, k = set(), [], 0
    while True:
        k += 1
        old.save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads running
            pid = os.fork()
        if pid == 0:  # the child: save, with SIGTERM at the k-th point
            code = 3
            try:
                n = _events_of_one_save(lambda: new.save(path),
                                        lambda i: i == k and signal.raise_signal(signal.SIGTERM))
                code = 0 if n < k else 2  # 2: the signal was sent and the child lived
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            break  # past the save's last point
        left = sorted(os.listdir(os.path.dirname(path)))
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM) or left != ["model.npz"]:
            failures.append([k, status, left])
        seeds.add(bp.load(path).seed)
    print(json.dumps({"points": k - 1, "seeds": sorted(seeds), "failures": failures[:5]}))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigterm_at_every_point_of_a_save_ends_the_process_and_leaves_one_whole_model(tmp_path):
    import json

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", SIGTERM_AT_EVERY_POINT, str(tmp_path / "model.npz"), __file__],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["failures"] == [] and result["points"] > 100 and result["seeds"] == [0, 1], result


def test_a_bad_open_option_raises_its_own_error_and_leaves_nothing(tmp_path):
    # open() closes the descriptor itself when it fails after taking it: closing it again
    # raised EBADF in place of the real error and left the temporary file.
    from bpnet_xp.io import atomic_write

    path = tmp_path / "table.csv"
    path.write_text("old")
    descriptors = _open_descriptors()
    with pytest.raises(LookupError, match="no-such-codec"):
        with atomic_write(path, "w", encoding="no-such-codec") as handle:
            handle.write("new")
    with pytest.raises(ValueError, match="newline"):
        with atomic_write(path, "w", newline="sideways") as handle:
            handle.write("new")
    assert os.listdir(tmp_path) == ["table.csv"] and path.read_text() == "old"
    assert _open_descriptors() == descriptors


@pytest.mark.parametrize("where", ["inner", "outer", "nowhere"])
def test_nested_saves_interrupted_put_every_handler_back(tmp_path, where):
    # An inner save's guard wraps the outer's handler: Ctrl-C in either body must remove the
    # unfinished files, and afterwards Ctrl-C and SIGTERM must have their handlers back (a
    # stale guard left installed would swallow every later Ctrl-C).
    from bpnet_xp.io import atomic_write

    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    interrupted = False
    try:
        with atomic_write(tmp_path / "outer.txt", "w") as outer:
            outer.write("outer")
            with atomic_write(tmp_path / "inner.txt", "w") as inner:
                inner.write("inner")
                if where == "inner":
                    signal.raise_signal(signal.SIGINT)
            if where == "outer":
                signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        interrupted = True
    assert interrupted == (where != "nowhere")
    written = {"inner": [], "outer": ["inner.txt"], "nowhere": ["inner.txt", "outer.txt"]}[where]
    assert sorted(os.listdir(tmp_path)) == written
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_a_handler_the_body_sets_is_kept(tmp_path):
    from bpnet_xp.io import atomic_write

    def mine(signum, frame):
        pass

    previous = signal.getsignal(signal.SIGINT)
    try:
        with atomic_write(tmp_path / "table.csv", "w") as handle:
            handle.write("x")
            signal.signal(signal.SIGINT, mine)  # the program's own, set while the save runs
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)
    assert os.listdir(tmp_path) == ["table.csv"]
