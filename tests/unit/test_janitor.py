"""The janitor removes what dead owners left, judged by their locks, never by pids (the process runtime: no
engine needed; tests/integration/test_docker_sandbox.py and test_docker_cleanup.py cover containers)."""

from __future__ import annotations

import os

from tests.support.lockholder import died_holding, hold_lock
from worker import owners
from worker.child.job import job_dir_prefix
from worker.parent.janitor import Janitor
from worker.settings import load_settings

NEVER = 2**22 + 4321  # above the default pid_max: never alive


def _dirs(work_dir):
    return sorted(os.listdir(work_dir))


def test_two_workers_one_alive_one_dead_only_the_dead_ones_leftovers_go(tmp_path):
    work = tmp_path / "work"
    janitor = Janitor(
        load_settings({"runtime": "process", "work_dir": str(work)}, environ={}, require_queue=False)
    )
    alive, dead, child = owners.new_id(), owners.new_id(), owners.new_id()
    holder = hold_lock(
        str(work), alive
    )  # another worker sharing this /dev/shm, in its own PID namespace maybe
    try:
        died_holding(str(work), dead)  # kill -9: its lock file stays, its lock is gone
        died_holding(str(work), child)
        # a pid-named directory whose pid is alive (ours): a reused pid must not keep a dead owner's leftovers
        for owner in (alive, dead, child, str(os.getpid()), str(NEVER)):
            (work / f"{job_dir_prefix(owner)}abc" / "out").mkdir(parents=True)
            (work / f"{job_dir_prefix(owner)}abc" / "out" / "part.mp4").write_bytes(b"x")
        (work / "not-a-job").mkdir()
        lock = f"{owners.LOCK_PREFIX}{{}}{owners.LOCK_SUFFIX}".format

        janitor.after_child_death(child)  # queued for the janitor thread; flush() is what it does
        assert f"{job_dir_prefix(child)}abc" in _dirs(work), "the main loop never does it itself"
        janitor.flush()
        assert f"{job_dir_prefix(child)}abc" not in _dirs(work) and lock(child) not in _dirs(work)
        assert f"{job_dir_prefix(dead)}abc" in _dirs(work), "only the child the pool named"
        owners.claim(str(work))  # as the parent does before its janitor's first sweep
        janitor.at_start()
        assert _dirs(work) == sorted(
            [f"{job_dir_prefix(alive)}abc", lock(alive), lock(owners.instance_id()), "not-a-job"]
        )
        assert owners.alive(str(work), alive) and not owners.alive(str(work), dead)
    finally:
        holder.kill()
        holder.wait()
    janitor.sweep()
    assert _dirs(work) == sorted([lock(owners.instance_id()), "not-a-job"])
    owners.release(str(work))
    assert _dirs(work) == ["not-a-job"]


def test_a_lock_is_never_seen_under_its_name_unheld(tmp_path):
    """The claim is locked before it is renamed into place: a sweep racing it cannot judge it dead."""
    work = str(tmp_path / "work")
    me = owners.claim(work)
    assert owners.claim(work) == me, "idempotent"
    assert os.listdir(work) == [f"{owners.LOCK_PREFIX}{me}{owners.LOCK_SUFFIX}"]
    assert owners.alive(work, me), "our own lock, tested through another open file, is held"
    assert not owners.forget(work, me)
    owners.release(work)
    assert os.listdir(work) == [] and not owners.alive(work, me)
