"""Settling a message once all of its records' jobs ended: its one SQS action, and its status events.

published / rejected / duplicate → delete (a bad record of the message — malformed, another bucket's — is first
copied alone to the DLQ with its reason, and the message kept for a retry if that copy fails); any retry →
visibility backoff grown from ApproximateReceiveCount
(the redrive policy moves it to the DLQ, and each record that failed gets a ``dead_lettered`` event when this
was its last allowed receive); cancelled by shutdown → visibility 0, so another worker takes it at once —
unless that was its last allowed receive: then its body is sent again as a new message and the old one
deleted, because a drain is never the upload's fault.
"""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from worker.child.job import Job
from worker.child.keys import source_id
from worker.child.outcome import Outcome, Status
from worker.errors import Reason
from worker.ops.dlq import dlq_url_of
from worker.parent.observer import Observer
from worker.parent.sqs import Message, Queue
from worker.parent.status_events import StatusEvents, status_event
from worker.s3events.parse import BadRecord
from worker.settings import Settings

log = logging.getLogger(__name__)
# Failures that say nothing about the upload: on the last allowed receive the message is sent again instead
# of going to the DLQ, at most MAX_RESENDS times (a child that dies on every try of one job is a bug to see).
NOT_THE_UPLOADS_FAULT = frozenset({Reason.WORKER_DIED.value, Reason.SHUTDOWN.value})
MAX_RESENDS = 3
HURRY_SECONDS = 10.0
MAX_COPY_BYTES = 240 * 1024  # a bad record's DLQ copy, leaving room for its attributes


@dataclass
class InFlight:
    """A received message and the jobs of its records that have not ended."""

    message: Message
    jobs: dict[str, Job] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    done: list[Job] = field(default_factory=list)
    cancelled: bool = False
    bad: tuple[BadRecord, ...] = ()  # records of the body that cannot be jobs (worker.s3events.parse)


def backoff_seconds(receive_count: int, base: int, cap: int) -> int:
    """Visibility delay before a retry: base × 2^(n-1), capped, with jitter so retries spread out."""
    delay = min(cap, base * 2 ** max(0, receive_count - 1))
    return int(delay * random.uniform(0.8, 1.0))


class Settler:
    """Chooses and performs the SQS action of a finished message; counts it."""

    def __init__(self, queue: Queue, settings: Settings, observer: Observer, status: StatusEvents) -> None:
        self.queue, self.settings, self.observer, self.status = queue, settings, observer, status
        self.max_receives: int | None = None  # the redrive policy's, read at start
        self._dlq: str | None = None

    def settle(self, flight: InFlight, retire: Callable[[], object] = lambda: None) -> None:
        """Delete, back off, or release the message of ``flight``. ``retire`` ends its lease (worker.parent.leases):
        before a visibility change, which no heartbeat may overtake; after a delete, which the lease covers."""
        message = flight.message
        if flight.cancelled:
            retire()
            self._release(flight)
        elif any(o.status == Status.RETRY for o in flight.outcomes) or (
            flight.bad and not self._report_bad(flight)
        ):
            delay = backoff_seconds(
                message.receive_count, self.settings.retry_backoff_base, self.settings.retry_backoff_max
            )
            self.observer.settled("retry")
            retire()
            if self._last_receive(message) and self._resent(flight):
                return
            self.queue.set_visibility(message, delay)
            if self._last_receive(message):
                self._dead_lettered(flight)
        elif self._delete(message, retire):
            self.observer.settled("delete")
        else:
            self.observer.settled("delete_failed")

    def _delete(self, message: Message, retire: Callable[[], object]) -> bool:
        try:
            return self.queue.delete(message)
        finally:
            retire()

    def _report_bad(self, flight: InFlight) -> bool:
        """Copy each bad record alone to the DLQ, with its reason; False when a copy could not be sent."""
        message = flight.message
        try:
            self._dlq = self._dlq or dlq_url_of(self.queue.client, self.queue.url)
        except Exception as exc:  # noqa: BLE001 - no DLQ or no permission: the message is retried, not lost
            log.error(
                "message %s has %d bad records and the DLQ cannot be found: %s",
                message.message_id,
                len(flight.bad),
                exc,
            )
            return False
        for bad in flight.bad:
            log.error(
                "message %s: record %d is unusable (%s: %s); copied alone to the DLQ",
                message.message_id,
                bad.index,
                bad.reason.value,
                bad.message,
            )
            body = '{"Records": [' + bad.raw + "]}"
            if len(body.encode("utf-8")) > MAX_COPY_BYTES:  # SQS takes 256 KiB with the attributes
                body = json.dumps({"Records": [], "media-worker-record-excerpt": bad.raw[: 64 * 1024]})
            if not self.queue.send(
                self._dlq,
                body,
                {
                    "media-worker-reason": bad.reason.value,
                    "media-worker-detail": bad.message,
                    "media-worker-source-message": message.message_id,
                },
            ):
                return False
            self.observer.bad_record(bad.reason.value)
        return True

    def _last_receive(self, message: Message) -> bool:
        return self.max_receives is not None and message.receive_count >= self.max_receives

    def _release(self, flight: InFlight) -> None:
        """Give a message back at once (a drain); on its last allowed receive, as a new message instead."""
        message = flight.message
        if self._last_receive(message):
            if self._resent(flight, drain=True):
                return
            log.error(
                "message %s was not re-sent on its last receive; releasing it towards the DLQ",
                message.message_id,
            )
            flight.outcomes.append(Outcome("-", Status.RETRY, Reason.SHUTDOWN.value, "released by a drain"))
            self._dead_lettered(flight)
        self.observer.settled("release")
        self.queue.set_visibility(message, 0)

    def _resent(self, flight: InFlight, drain: bool = False) -> bool:
        """Send the body again as a new message when nothing that failed was the upload's fault."""
        message = flight.message
        failed = {o.reason for o in flight.outcomes if o.status == Status.RETRY}
        if not (drain or (failed and failed <= NOT_THE_UPLOADS_FAULT)) or message.resends >= MAX_RESENDS:
            return False
        if not self.queue.resend(message):
            return False
        self.observer.settled("resend")
        log.warning(
            "message %s re-sent on its last allowed receive (%s)",
            message.message_id,
            "drain" if drain else ", ".join(sorted(failed)),
        )
        return True

    def _dead_lettered(self, flight: InFlight) -> None:
        """The message used its last receive: the queue moves it to the DLQ instead of redelivering it.
        One event for each record that failed (or was never run); records that ended otherwise have theirs."""
        message = flight.message
        failed = [o for o in flight.outcomes if o.status == Status.RETRY]
        settled = {o.job_id for o in flight.outcomes if o.status != Status.RETRY}
        jobs = [job for job in [*flight.done, *flight.jobs.values()] if job.job_id not in settled]
        first = failed[0] if failed else None
        log.error(
            "message %s leaves for the DLQ after %d receives: %s",
            message.message_id,
            message.receive_count,
            "; ".join(f"{o.reason}: {o.message}" for o in failed)[:500],
            extra={
                "message_id": message.message_id,
                "keys": [job.record.key for job in jobs],
                "source_ids": [source_id(job.record) for job in jobs],
                "reason": first.reason if first else None,
            },
        )
        by_job = {o.job_id: o for o in failed}
        for job in jobs or [None]:
            outcome = by_job.get(job.job_id, first) if job else first
            # an EventBridge key with two spellings is named as its job found it, as in its other events
            spelled = (
                outcome.source_key if outcome is not None and job and outcome.job_id == job.job_id else None
            )
            record = (job.record.spelled(spelled) if spelled else job.record) if job else None
            self.status.emit(
                status_event(
                    Status.DEAD_LETTERED,
                    source=record.identity() if record else None,
                    message_id=message.message_id,
                    job_id=job.job_id if job else None,
                    reason=outcome.reason if outcome else None,
                    detail=outcome.message if outcome else "",
                    source_id=source_id(record) if record else None,
                )
            )


class SettleThread:
    """Runs each finished message's settle on one thread, in order, so the main loop never waits for SQS.

    The message's lease is ended by the settle itself (``LeaseBook.retire``). A redelivery of a message whose
    settle is under way is held back and handed to ``requeue`` once that settle is done (it is then a
    duplicate, or runs again), so no second flight ever shares the first one's lease. ``on_done`` is called
    once per settle that ended (the caller's count of messages held)."""

    def __init__(
        self,
        settler: Settler,
        leases: Any,
        requeue: Callable[[tuple[Message, float]], None],
        on_done: Callable[[], None],
    ) -> None:
        self._settler, self._leases, self._requeue, self._on_done = settler, leases, requeue, on_done
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqs-settle")
        self._futures: dict[Future, str] = {}  # bounded by the messages held
        self._late: dict[str, list[tuple[Message, float]]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def submit(self, flight: InFlight) -> None:
        message_id = flight.message.message_id
        retire = lambda: self._leases.retire(message_id)  # noqa: E731
        self._futures[self._executor.submit(self._settler.settle, flight, retire)] = message_id
        self._late.setdefault(message_id, [])

    def hold(self, message: Message, received_at: float) -> bool:
        """Hold back a redelivery of a message being settled; False when none is."""
        if message.message_id not in self._late:
            return False
        self._late[message.message_id].append((message, received_at))
        return True

    def finish(self) -> None:
        """Account for the settles that ended; give back the redeliveries they held."""
        for future in [f for f in self._futures if f.done()]:
            message_id = self._futures.pop(future)
            if future.exception() is not None:
                log.error("settling message %s failed: %s", message_id, future.exception())
                self._leases.remove(message_id)
            self._on_done()
            for late in self._late.pop(message_id, []):
                self._requeue(late)

    def close(self, hurry: bool) -> None:
        """Wait for every settle; after a second signal, for at most ``HURRY_SECONDS`` (releases are quick
        unless SQS hangs, and a message left unsettled reappears when its visibility runs out)."""
        self._executor.shutdown(wait=False)
        wait(list(self._futures), timeout=HURRY_SECONDS if hurry else None)
