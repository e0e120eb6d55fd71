"""Settling a message once all of its records' jobs ended: its one SQS action, and its status events.

published / rejected / duplicate → delete; any retry → visibility backoff grown from ApproximateReceiveCount
(the redrive policy moves it to the DLQ, and each record that failed gets a ``dead_lettered`` event when this
was its last allowed receive); cancelled by shutdown → visibility 0, so another worker takes it at once —
unless that was its last allowed receive: then its body is sent again as a new message and the old one
deleted, because a drain is never the upload's fault.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field

from worker.errors import Reason
from worker.job import RETRY, Job, Outcome
from worker.keys import source_id
from worker.metrics import Metrics
from worker.settings import Settings
from worker.sqs import Message, Queue
from worker.status import DEAD_LETTERED, StatusEvents, status_event

log = logging.getLogger(__name__)
# Failures that say nothing about the upload: on the last allowed receive the message is sent again instead
# of going to the DLQ, at most MAX_RESENDS times (a child that dies on every try of one job is a bug to see).
NOT_THE_UPLOADS_FAULT = frozenset({Reason.WORKER_DIED.value, Reason.SHUTDOWN.value})
MAX_RESENDS = 3


@dataclass
class InFlight:
    """A received message and the jobs of its records that have not ended."""

    message: Message
    jobs: dict[str, Job] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    done: list[Job] = field(default_factory=list)
    cancelled: bool = False


def backoff_seconds(receive_count: int, base: int, cap: int) -> int:
    """Visibility delay before a retry: base × 2^(n-1), capped, with jitter so retries spread out."""
    delay = min(cap, base * 2 ** max(0, receive_count - 1))
    return int(delay * random.uniform(0.8, 1.0))


class Settler:
    """Chooses and performs the SQS action of a finished message; counts it."""

    def __init__(self, queue: Queue, settings: Settings, metrics: Metrics, stats: Counter[str],
                 status: StatusEvents) -> None:
        self.queue, self.settings, self.metrics, self.stats, self.status = queue, settings, metrics, stats, status
        self.max_receives: int | None = None  # the redrive policy's, read at start

    def settle(self, flight: InFlight) -> None:
        """Delete, back off, or release the message of ``flight``."""
        message = flight.message
        if flight.cancelled:
            self._release(flight)
        elif any(o.status == RETRY for o in flight.outcomes):
            delay = backoff_seconds(message.receive_count, self.settings.retry_backoff_base,
                                    self.settings.retry_backoff_max)
            self.stats["retried"] += 1
            self.metrics.settled.labels("retry").inc()
            if self._last_receive(message) and self._resent(flight):
                return
            self.queue.set_visibility(message, delay)
            if self._last_receive(message):
                self._dead_lettered(flight)
        elif self.queue.delete(message):
            self.stats["deleted"] += 1
            self.metrics.settled.labels("delete").inc()
            self.metrics.deleted.inc()
        else:
            self.stats["delete_failures"] += 1
            self.metrics.settled.labels("delete_failed").inc()

    def _last_receive(self, message: Message) -> bool:
        return self.max_receives is not None and message.receive_count >= self.max_receives

    def _release(self, flight: InFlight) -> None:
        """Give a message back at once (a drain); on its last allowed receive, as a new message instead."""
        message = flight.message
        if self._last_receive(message):
            if self._resent(flight, drain=True):
                return
            log.error("message %s was not re-sent on its last receive; releasing it towards the DLQ",
                      message.message_id)
            flight.outcomes.append(Outcome("-", RETRY, Reason.SHUTDOWN.value, "released by a drain"))
            self._dead_lettered(flight)
        self.stats["released"] += 1
        self.metrics.settled.labels("release").inc()
        self.queue.set_visibility(message, 0)

    def _resent(self, flight: InFlight, drain: bool = False) -> bool:
        """Send the body again as a new message when nothing that failed was the upload's fault."""
        message = flight.message
        failed = {o.reason for o in flight.outcomes if o.status == RETRY}
        if not (drain or (failed and failed <= NOT_THE_UPLOADS_FAULT)) or message.resends >= MAX_RESENDS:
            return False
        if not self.queue.resend(message):
            return False
        self.stats["resent"] += 1
        self.metrics.settled.labels("resend").inc()
        log.warning("message %s re-sent on its last allowed receive (%s)", message.message_id,
                    "drain" if drain else ", ".join(sorted(failed)))
        return True

    def _dead_lettered(self, flight: InFlight) -> None:
        """The message used its last receive: the queue moves it to the DLQ instead of redelivering it.
        One event for each record that failed (or was never run); records that ended otherwise have theirs."""
        message = flight.message
        failed = [o for o in flight.outcomes if o.status == RETRY]
        settled = {o.job_id for o in flight.outcomes if o.status != RETRY}
        jobs = [job for job in [*flight.done, *flight.jobs.values()] if job.job_id not in settled]
        first = failed[0] if failed else None
        log.error("message %s leaves for the DLQ after %d receives: %s", message.message_id,
                  message.receive_count, "; ".join(f"{o.reason}: {o.message}" for o in failed)[:500],
                  extra={"message_id": message.message_id, "keys": [job.record.key for job in jobs],
                         "source_ids": [source_id(job.record) for job in jobs],
                         "reason": first.reason if first else None})
        by_job = {o.job_id: o for o in failed}
        for job in jobs or [None]:
            outcome = by_job.get(job.job_id, first) if job else first
            self.status.emit(status_event(DEAD_LETTERED, source=job.record.identity() if job else None,
                                          message_id=message.message_id, job_id=job.job_id if job else None,
                                          reason=outcome.reason if outcome else None,
                                          detail=outcome.message if outcome else "",
                                          source_id=source_id(job.record) if job else None))
