"""Other worker processes, for the janitor's tests: one holding its owner lock, one that died holding it."""

from __future__ import annotations

import signal
import subprocess
import sys

_HOLDER = """
import sys
from worker import owners
owners.adopt(sys.argv[2], None)
owners.claim(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


def hold_lock(work_dir: str, owner: str) -> subprocess.Popen:
    """A live process with instance id ``owner`` holding its lock in ``work_dir`` (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, work_dir, owner], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    return proc


def died_holding(work_dir: str, owner: str) -> None:
    """A process with instance id ``owner`` that took its lock and was SIGKILLed: its lock file remains."""
    proc = hold_lock(work_dir, owner)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
