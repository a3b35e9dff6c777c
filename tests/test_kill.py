"""Interrupted saves (issue 12, item 7): the model always survives, no temporary file outlives
the next save, and SIGTERM or Ctrl-C clean up at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

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
