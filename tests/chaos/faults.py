"""The faults the chaos harness injects into a running worker (a ``python -m worker`` process)."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from typing import Any, Callable
from urllib.parse import quote_plus

from tests.chaos.proxy import FaultyProxy
from tests.chaos.uploads import Uploads
from tests.support.sandboxes import name_of, split_by_job

# kill_child: every child holds its warm sandbox (waiting, or running its job); kill_container: a sandbox
# running a job (cold, or warm and handed over); kill_warm_container: a warm one still waiting for its job
FAULT_KINDS = (
    "kill_child",
    "kill_container",
    "kill_warm_container",
    "kill_parent",
    "duplicate",
    "lease_lapse",
    "full_disk",
    "overwrite",
    "burst",
)


def children_of(pid: int) -> list[int]:
    """Pool children of the worker parent (the spawn helpers, not multiprocessing's resource tracker)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except OSError:
        return []
    pool = []
    for kid in kids:
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            pool.append(kid)
    return pool


def s3_event(bucket: str, key: str, etag: str, size: int) -> str:
    """An ObjectCreated record as S3 sends it (key URL-encoded with '+' for spaces)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {"key": quote_plus(key), "size": size, "eTag": etag},
                    },
                }
            ]
        }
    )


class Injector:
    """Picks and applies one fault at a time; every action is counted in ``done``."""

    def __init__(
        self,
        kinds: tuple[str, ...],
        *,
        workers: list[Any],
        proxy: FaultyProxy,
        docker: Any,
        sqs: Any,
        queue_url: str,
        bucket: str,
        uploads: Uploads,
        work_dir: str,
        lease_seconds: float,
        seed: int,
        log: Callable[[str], None],
    ) -> None:
        self.kinds = kinds
        self.workers, self.proxy, self.docker, self.sqs = workers, proxy, docker, sqs
        self.queue_url, self.bucket, self.uploads, self.work_dir = queue_url, bucket, uploads, work_dir
        self.lease_seconds = lease_seconds
        self.random = random.Random(seed)
        self.done: dict[str, int] = {kind: 0 for kind in kinds}
        self.owed: list[str] = []  # drawn but with nothing to hit at the time: tried again first
        self._log = log

    def inject(self) -> None:
        """Apply one fault: the kinds owed from earlier ticks are tried first, then a random one. A kind with
        nothing to hit at that instant (no container running, a lease lapse still on) is owed, so every kind
        gets applied in a run without the tick being lost to it."""
        for kind in [*self.owed, self.random.choice(self.kinds)]:
            applied = False
            try:
                applied = getattr(self, "_" + kind)()
            finally:
                if applied:
                    if kind in self.owed:
                        self.owed.remove(kind)
                elif kind not in self.owed:
                    self.owed.append(kind)
            if applied:
                self.done[kind] += 1
                self._log(f"fault {kind}")
                return

    def _worker(self) -> Any:
        return self.random.choice(self.workers)

    def _kill_child(self) -> bool:
        kids = [kid for worker in self.workers for kid in children_of(worker.pid)]
        if not kids:
            return False
        os.kill(self.random.choice(kids), signal.SIGKILL)
        return True

    def _kill_container(self) -> bool:
        return self._kill_sandbox(waiting=False)

    def _kill_warm_container(self) -> bool:
        return self._kill_sandbox(waiting=True)

    def _kill_sandbox(self, *, waiting: bool) -> bool:
        """SIGKILL one of this run's sandboxes: one running a job, or (``waiting``) a warm one before its job."""
        # only this run's workers' sandboxes: other workers may share the engine
        # sparse: no inspect per container, which raises when one ends between the list and the inspect
        running = {
            name_of(c): c
            for worker in self.workers
            for c in self.docker.containers.list(
                sparse=True, filters={"label": f"media-worker.parent={worker.pid}"}
            )
        }
        busy, idle = split_by_job(list(running), self.work_dir)
        targets = idle if waiting else busy
        if not targets:
            return False
        try:
            running[self.random.choice(sorted(targets))].kill()
        except Exception:  # noqa: BLE001 - it may have ended meanwhile
            return False
        return True

    def _kill_parent(self) -> bool:
        self._worker().kill_and_restart()
        return True

    def _duplicate(self) -> bool:
        """A late duplicate of any version's event, old versions included."""
        v = self.uploads.any_version(self.random)
        self.sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=s3_event(self.bucket, v.key, v.etag, v.size)
        )
        return True

    def _burst(self) -> bool:
        """The same event three times at once: several workers take it at the same moment."""
        v = self.uploads.any_version(self.random)
        body = s3_event(self.bucket, v.key, v.etag, v.size)
        self.sqs.send_message_batch(
            QueueUrl=self.queue_url, Entries=[{"Id": str(i), "MessageBody": body} for i in range(3)]
        )
        return True

    def _overwrite(self) -> bool:
        """The user uploads a key again, maybe while its first version is in flight."""
        return self.uploads.overwrite(self.random) is not None

    def _lease_lapse(self) -> bool:
        if self.proxy.refuse_leases.is_set():
            return False
        self.proxy.refuse_leases.set()
        threading.Timer(self.lease_seconds, self.proxy.refuse_leases.clear).start()
        return True

    def _full_disk(self) -> bool:
        """Fill the worker's tmpfs for a few seconds: downloads and sandbox writes hit ENOSPC."""
        filler = os.path.join(self.work_dir, "filler")
        if os.path.exists(filler):
            return False
        try:
            with open(filler, "wb") as fh:
                chunk = b"\0" * (1 << 20)
                while True:
                    fh.write(chunk)
        except OSError:
            pass  # full
        threading.Timer(5.0, lambda: os.path.exists(filler) and os.remove(filler)).start()
        return True
