"""The janitor removes job directories of dead processes only (the process runtime: no engine needed;
tests/integration/test_docker_sandbox.py covers the containers)."""
from __future__ import annotations

import os

from worker.janitor import Janitor
from worker.job import job_dir_prefix
from worker.settings import load_settings

NEVER = 2 ** 22 + 4321  # above the default pid_max: never alive


def _dirs(work_dir):
    return sorted(os.listdir(work_dir))


def test_sweeps_remove_dead_owners_directories_and_keep_live_ones(tmp_path):
    work = tmp_path / "work"
    janitor = Janitor(load_settings({"runtime": "process", "work_dir": str(work)}, environ={}, require_queue=False))
    janitor.at_start()
    assert work.is_dir()
    for owner in (os.getpid(), NEVER, NEVER + 1):
        (work / f"{job_dir_prefix(owner)}abc" / "out").mkdir(parents=True)
        (work / f"{job_dir_prefix(owner)}abc" / "out" / "part.mp4").write_bytes(b"x")
    (work / "not-a-job").mkdir()

    janitor.after_child_death(NEVER)
    assert _dirs(work) == sorted([f"{job_dir_prefix(os.getpid())}abc", f"{job_dir_prefix(NEVER + 1)}abc",
                                  "not-a-job"])
    janitor.sweep()
    assert _dirs(work) == sorted([f"{job_dir_prefix(os.getpid())}abc", "not-a-job"])
    janitor.at_start()
    assert _dirs(work) == sorted([f"{job_dir_prefix(os.getpid())}abc", "not-a-job"])
