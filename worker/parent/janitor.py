"""What dead processes leave behind: job directories and lock files under ``work_dir``, sandbox containers.

A SIGKILLed pool child cannot clean up after itself, and neither can a SIGKILLed parent. Owners are
instance ids proven alive by a held lock (worker.owners), never pids: a pid is reused, and a worker in
another container sharing ``/dev/shm`` sees ours as dead. Three sweeps: at start-up (a previous parent
died), when a child dies, and every ``SWEEP_SECONDS`` (a container whose creation was still in flight when
its child died appears only after the death sweep; a child that retired cleanly; a container its own run
could not remove, once past its deadline). Containers go before directories: a running sandbox writes into
its job's output directory. What the sandbox user closed to us is purged as that user (sandbox.cleanup).
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import threading
import time
from typing import Callable

from worker import owners
from worker.child.job import job_dir_prefix
from worker.sandbox import reap_sandboxes
from worker.sandbox.cleanup import remove_tree
from worker.settings import Settings

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0


class Janitor:
    """Removes the leftovers of dead owners in this work directory; every failure is logged, never raised."""

    def __init__(self, settings: Settings, *, deadline_grace: float | None = None) -> None:
        self.settings = settings
        self.deadline_grace = deadline_grace  # None: the runtime's default
        self._dead: queue.Queue[str] = queue.Queue()  # owners of children that died, for the janitor thread

    def at_start(self) -> None:
        """Remove leftovers of dead owners (a previous parent's kill -9); the caller holds its own lock."""
        self.sweep()

    def after_child_death(self, owner: str) -> None:
        """A child (instance id ``owner``) died: queue its clean-up for the janitor thread. Called on the
        parent's main loop, which must never wait for the engine (heartbeats and the watchdog run there)."""
        self._dead.put(owner)

    def flush(self, settle: float = 1.0) -> None:
        """Clean up after every child death queued so far, here and now (at the stop, after the pool closed).

        A child killed while its ``create`` request was on its way leaves a container that the engine makes a
        moment later: each dead owner is reaped again after ``settle`` seconds (the next start's sweep would
        find it too, but a stopped host should leave nothing running)."""
        reaped: list[str] = []
        while True:
            try:
                reaped.append(self._dead.get_nowait())
            except queue.Empty:
                break
            self.reap_owner(reaped[-1])
        if reaped and self.settings.runtime == "docker":
            time.sleep(settle)
            for owner in reaped:
                self.reap_owner(owner)

    def reap_owner(self, owner: str) -> None:
        """Stop the sandbox of the dead child ``owner`` first, then remove the rest of what it left."""
        try:
            reap_sandboxes(self.settings, owner=owner)
        except Exception as exc:  # noqa: BLE001 - the periodic sweep catches what this misses
            log.error("could not reap the sandboxes of child %s: %s", owner, exc)
        self._remove_leftovers(lambda candidate: candidate == owner)

    def sweep(self) -> None:
        """Remove containers, job directories and lock files of dead owners, and containers past deadline."""
        try:
            removed = reap_sandboxes(self.settings, orphans_only=True, grace=self.deadline_grace)
        except Exception as exc:  # noqa: BLE001 - the engine may be down; the next sweep tries again
            log.error("could not sweep orphan sandbox containers: %s", exc)
        else:
            if removed:
                log.warning("removed %d orphan sandbox containers", removed)
        self._remove_leftovers(lambda candidate: True)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` (a thread of the parent): clean up after each child death as it is queued, and sweep
        every ``SWEEP_SECONDS``."""
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while not stop.is_set():
            try:
                owner = self._dead.get(timeout=max(0.0, min(1.0, next_sweep - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                continue
            self.reap_owner(owner)

    def _remove_leftovers(self, among: Callable[[str], bool]) -> None:
        work = self.settings.work_dir
        try:
            for path in glob.glob(os.path.join(glob.escape(work), job_dir_prefix("*") + "*")):
                owner = os.path.basename(path).split("-")[1]
                # the lock decides, even after the pool's word: a pid-named or unlocked directory is dead
                if among(owner) and not owners.alive(work, owner):
                    log.info("removing job directory %s left by %s", path, owner)
                    remove_tree(path, self.settings)
            for owner in owners.lock_owners(work):
                if among(owner):
                    owners.forget(work, owner)
            owners.forget_stale_claims(work)
        except Exception as exc:  # noqa: BLE001 - never fatal: the next sweep tries again
            log.error("could not sweep %s: %s", work, exc)
