"""The lease book: every in-flight message stays invisible until it is settled.

The parent extends a lease (from *now*, never elapsed + timeout) once less than
half of it is left, in batches, and never past SQS's 12 h limit since receipt.
A refused extension means another consumer may get the message: it is logged
and the lease is marked lost; the job goes on (its outputs are idempotent). An
entry SQS failed through no fault of ours (``SenderFault`` false) is tried again.

The extensions run on their own thread (:class:`Heartbeats`): a slow settle, a
slow receive or a busy main loop never holds a heartbeat back.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from worker.parent.sqs import Message, Queue

log = logging.getLogger(__name__)
MAX_LEASE_SECONDS = 12 * 3600
SAFETY_SECONDS = 30  # stop extending this long before the 12 h limit
RETRY_SECONDS = 1.0


@dataclass
class Lease:
    message: Message
    received_at: float
    expires_at: float
    lost: bool = False
    extensions: int = 0
    retry_at: float = 0.0  # an extension that met an error waits until then (not every tick)


class LeaseBook:
    """Tracks leases and renews those that are due."""

    def __init__(
        self, queue: Queue, visibility_timeout: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._queue = queue
        self._timeout = visibility_timeout
        self._clock = clock
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()  # the book itself: held only for moments (the main loop takes it)
        self._round = (
            threading.Lock()
        )  # one heartbeat round, SQS call included (never taken by the main loop)
        self.failed_extensions = 0
        self.extensions = 0

    def add(self, message: Message, received_at: float) -> None:
        """Start tracking a message received at ``received_at`` (monotonic); a redelivery's newer receipt
        replaces the old one."""
        with self._lock:
            self._leases[message.message_id] = Lease(message, received_at, received_at + self._timeout)

    def remove(self, message_id: str) -> Lease | None:
        """Stop tracking a message (a round in progress may still extend it once)."""
        with self._lock:
            return self._leases.pop(message_id, None)

    def retire(self, message_id: str) -> Lease | None:
        """Stop tracking a message once no heartbeat round is under way, so that no extension can land after
        the caller's own visibility change (a backoff, a release). Blocks for at most one round: for the
        settle thread, never for the main loop."""
        with self._round:
            return self.remove(message_id)

    def __len__(self) -> int:
        return len(self._leases)

    def heartbeat(self) -> None:
        """Extend every lease with less than half its time left (the SQS call is made outside the lock)."""
        with self._round:
            self._beat()

    def _beat(self) -> None:
        now = self._clock()
        with self._lock:
            due = self._due(now)
        if not due:
            return
        answer = self._queue.extend((lease.message, seconds) for lease, seconds in due)
        with self._lock:
            for lease, seconds in due:
                extended = answer.get(lease.message.message_id)
                if extended:
                    lease.expires_at = now + seconds
                    lease.extensions += 1
                    self.extensions += 1
                elif extended is False:
                    lease.lost = True
                    self.failed_extensions += 1
                else:  # a transport error or SQS's own: try again in a second, not on every tick
                    lease.retry_at = now + RETRY_SECONDS

    def _due(self, now: float) -> list[tuple[Lease, int]]:
        due: list[tuple[Lease, int]] = []
        for lease in self._leases.values():
            if lease.lost or lease.expires_at - now > self._timeout / 2 or lease.retry_at > now:
                continue
            allowed = int(MAX_LEASE_SECONDS - SAFETY_SECONDS - (now - lease.received_at))
            if allowed <= 0:
                lease.lost = True
                log.error(
                    "message %s reached the 12 h lease limit; it may be redelivered", lease.message.message_id
                )
                continue
            due.append((lease, min(self._timeout, allowed)))
        return due


class Heartbeats:
    """The thread that keeps every lease extended, a tick apart, whatever else the parent is doing."""

    def __init__(self, book: LeaseBook, tick: float = 0.1) -> None:
        self._book, self._tick = book, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-heartbeats", daemon=True)
        self.last_beat = time.monotonic()  # when a heartbeat round last finished
        self._late_logged = 0

    def start(self) -> "Heartbeats":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self._book.heartbeat()
            except Exception:  # noqa: BLE001 - a heartbeat round that failed is tried again next tick
                log.exception("lease heartbeat failed")
            self.last_beat = time.monotonic()

    def warn_if_late(self, limit: float) -> None:
        """Log (once a second of lateness) when no round has finished for ``limit`` seconds: an SQS call hangs."""
        late = time.monotonic() - self.last_beat
        if late > limit and int(late) > self._late_logged:
            self._late_logged = int(late)
            log.error("lease heartbeats are %.0f s late (an SQS call is hanging): leases may lapse", late)
        elif late <= limit:
            self._late_logged = 0

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the round in progress (its SQS call is bounded by the client's timeouts)."""
        self._stop.set()
        self._thread.join(timeout)
