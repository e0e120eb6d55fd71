"""What dead processes leave behind: job directories under ``work_dir`` and sandbox containers.

A SIGKILLed pool child cannot clean up after itself, and neither can a SIGKILLed parent. Three sweeps
cover them: at start-up (a previous parent died), when a child dies, and every ``SWEEP_SECONDS`` (a
container whose creation was still in flight when its child died appears only after the death sweep).
Containers go before directories: a running sandbox writes into its job's output directory.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import threading
from typing import Callable

from worker.job import job_dir_prefix
from worker.processes import pid_alive
from worker.sandbox import reap_sandboxes
from worker.settings import Settings

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0


class Janitor:
    """Removes the leftovers of dead processes of this host; every failure is logged, never raised."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def at_start(self) -> None:
        """Create the work directory; remove leftovers of dead workers (a previous parent's kill -9)."""
        os.makedirs(self.settings.work_dir, mode=0o700, exist_ok=True)
        self.sweep()

    def after_child_death(self, pid: int) -> None:
        """A child died or was killed: stop its sandbox first, then remove its job directories."""
        try:
            reap_sandboxes(self.settings, pid=pid)
        except Exception as exc:  # noqa: BLE001 - the periodic sweep catches what this misses
            log.error("could not reap the sandboxes of child %s: %s", pid, exc)
        self._remove_dirs(lambda owner: owner == pid)

    def sweep(self) -> None:
        """Remove containers and job directories whose child (or parent) process is gone."""
        try:
            removed = reap_sandboxes(self.settings, orphans_only=True)
        except Exception as exc:  # noqa: BLE001 - the engine may be down; the next sweep tries again
            log.error("could not sweep orphan sandbox containers: %s", exc)
        else:
            if removed:
                log.warning("removed %d orphan sandbox containers", removed)
        self._remove_dirs(lambda owner: not pid_alive(owner))

    def run(self, stop: threading.Event) -> None:
        """Sweep every ``SWEEP_SECONDS`` until ``stop`` (a thread of the parent)."""
        while not stop.wait(SWEEP_SECONDS):
            self.sweep()

    def _remove_dirs(self, dead: Callable[[int], bool]) -> None:
        for path in glob.glob(os.path.join(glob.escape(self.settings.work_dir), job_dir_prefix("*") + "*")):
            owner = os.path.basename(path).split("-")[1]
            if owner.isdigit() and dead(int(owner)):
                log.info("removing job directory %s left by process %s", path, owner)
                shutil.rmtree(path, ignore_errors=True)
