"""The lease book: every in-flight message stays invisible until it is settled.

The parent extends a lease (from *now*, never elapsed + timeout) once less than
half of it is left, in batches, and never past SQS's 12 h limit since receipt.
A refused extension means another consumer may get the message: it is logged
and the lease is marked lost; the job goes on (its outputs are idempotent).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from worker.sqs import Message, Queue

log = logging.getLogger(__name__)
MAX_LEASE_SECONDS = 12 * 3600
SAFETY_SECONDS = 30  # stop extending this long before the 12 h limit


@dataclass
class Lease:
    message: Message
    received_at: float
    expires_at: float
    lost: bool = False
    extensions: int = 0


class LeaseBook:
    """Tracks leases and renews those that are due."""

    def __init__(self, queue: Queue, visibility_timeout: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._queue = queue
        self._timeout = visibility_timeout
        self._clock = clock
        self._leases: dict[str, Lease] = {}
        self.failed_extensions = 0
        self.extensions = 0

    def add(self, message: Message, received_at: float) -> None:
        """Start tracking a message received at ``received_at`` (monotonic)."""
        self._leases[message.message_id] = Lease(message, received_at, received_at + self._timeout)

    def remove(self, message_id: str) -> Lease | None:
        """Stop tracking a settled message."""
        return self._leases.pop(message_id, None)

    def __len__(self) -> int:
        return len(self._leases)

    def heartbeat(self) -> None:
        """Extend every lease with less than half its time left."""
        now = self._clock()
        due: list[tuple[Lease, int]] = []
        for lease in self._leases.values():
            if lease.lost or lease.expires_at - now > self._timeout / 2:
                continue
            allowed = int(MAX_LEASE_SECONDS - SAFETY_SECONDS - (now - lease.received_at))
            if allowed <= 0:
                lease.lost = True
                log.error("message %s reached the 12 h lease limit; it may be redelivered", lease.message.message_id)
                continue
            due.append((lease, min(self._timeout, allowed)))
        if not due:
            return
        answer = self._queue.extend((lease.message, seconds) for lease, seconds in due)
        for lease, seconds in due:
            extended = answer.get(lease.message.message_id)
            if extended:
                lease.expires_at = now + seconds
                lease.extensions += 1
                self.extensions += 1
            elif extended is False:
                lease.lost = True
                self.failed_extensions += 1
