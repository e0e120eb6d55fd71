"""Sending status events: every event to every target, each target with a thread and a backlog of its own.

The parent's main loop and settle thread only queue events, so a slow, failing or hanging target never
delays heartbeats or settling, nor another target. A target's events go out in order; one that failed for a
reason a later try may fix (worker.errors RetryableError: 5xx, timeouts, throttling, an unreachable
endpoint) is tried again with backoff (1 s doubling to 60 s, jittered) for up to
``MEDIA_WORKER_STATUS_RETRY_SECONDS``; one the target refused (PermanentError: a 4xx, a validation error)
is not. So delivery is at least once within that time, and consumers deduplicate by ``event_id``.

Every event ends with one result per target, passed to ``on_result(target_label, result)``: ``sent``,
``failed`` (refused, or still failing when its retry time ran out) or ``dropped`` (its target's backlog was
full, or the worker stopped first); each retry is reported as ``retried``. The manifest or rejection record
in the production bucket stays the source of truth.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from typing import Any, Callable, Sequence

from worker.clients import events_client, sns_client, sqs_client
from worker.errors import PermanentError
from worker.parent.status_events.targets import (
    EVENTBRIDGE,
    SNS,
    SQS,
    WEBHOOK,
    Send,
    aws_transport,
    parse_targets,
)
from worker.parent.status_events.webhook import Webhook, secrets_of

log = logging.getLogger(__name__)
OnResult = Callable[[str, str], None]
FIRST_DELAY, MAX_DELAY = 1.0, 60.0


def transports(spec: str, secret: str, environ: Any) -> list[tuple[str, Send]]:
    """(label, send) of every target ``spec`` names (see worker.parent.status_events.targets)."""
    clients = {SNS: sns_client, SQS: lambda: sqs_client(0), EVENTBRIDGE: events_client}
    built = []
    for target in parse_targets(spec, environ):
        send = (
            Webhook(target.address, secrets_of(secret))
            if target.kind == WEBHOOK
            else aws_transport(target, clients)
        )
        built.append((target.label, send))
    return built


class StatusEvents:
    """Fans events out to ``targets``: (label, send) pairs; no targets, no events."""

    def __init__(
        self,
        targets: Sequence[tuple[str, Send]],
        on_result: OnResult = lambda target, result: None,
        *,
        backlog: int = 10_000,
        retry_for: float = 300.0,
    ) -> None:
        self._senders = [_TargetSender(label, send, on_result, backlog, retry_for) for label, send in targets]

    @property
    def labels(self) -> list[str]:
        """The targets' metric labels."""
        return [sender.label for sender in self._senders]

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event for every target; never blocks, never raises."""
        for sender in self._senders:
            sender.put(event)

    def close(self, timeout: float = 10.0) -> None:
        """Send (and retry) what is queued for up to ``timeout`` seconds in all; count the rest as dropped."""
        deadline = time.monotonic() + timeout
        for sender in self._senders:
            sender.stop_by(deadline)
        for sender in self._senders:
            sender.close(deadline)


class _TargetSender:
    def __init__(self, label: str, send: Send, on_result: OnResult, backlog: int, retry_for: float) -> None:
        self.label = label
        self._send = send
        self._on_result = on_result
        self._retry_for = retry_for
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=backlog)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()  # the main loop and the settle thread both emit
        self._closing = threading.Event()
        self._deadline = float("inf")  # of close(): no retry waits past it
        self._closed = False

    def put(self, event: dict[str, Any]) -> None:
        with self._start_lock:
            if self._closed:  # after the stop: nothing would send it (a settle that outlived close)
                log.warning(
                    "status event %s (%s) for %s dropped: the sender has stopped",
                    event["event_id"],
                    event["type"],
                    self.label,
                )
                self._on_result(self.label, "dropped")
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"status-{self.label}"[:60], daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning(
                "status event %s (%s) for %s dropped: %d events wait to be sent",
                event["event_id"],
                event["type"],
                self.label,
                self._queue.qsize(),
            )
            self._on_result(self.label, "dropped")

    def stop_by(self, deadline: float) -> None:
        self._deadline = deadline
        self._closing.set()

    def close(self, deadline: float) -> None:
        with self._start_lock:
            self._closed = True
        if self._thread is None:
            return
        try:  # the stop sentinel; a full backlog makes room as it drains
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        if left:
            log.warning("%d status events for %s not sent before stopping", left, self.label)
            for _ in range(left):
                self._on_result(self.label, "dropped")
        if self._thread.is_alive():
            log.warning(
                "a status event for %s was still being sent at the stop (its result is counted when it ends)",
                self.label,
            )

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._on_result(self.label, self._deliver(event))
            except Exception:  # noqa: BLE001 - a failed count or log line must not end the target's sending
                log.exception(
                    "status event %s for %s: its result could not be recorded",
                    event.get("event_id"),
                    self.label,
                )

    def _deliver(self, event: dict[str, Any]) -> str:
        give_up = time.monotonic() + self._retry_for
        delay = FIRST_DELAY
        while True:
            try:
                self._send(event)
                return "sent"
            except PermanentError as exc:
                log.warning(
                    "status event %s (%s) refused by %s: %s",
                    event["event_id"],
                    event["type"],
                    self.label,
                    exc,
                )
                return "failed"
            except Exception as exc:  # noqa: BLE001 - RetryableError, and whatever else a transport raised
                failure = exc
            next_try = time.monotonic() + delay * random.uniform(0.5, 1.0)
            delay = min(MAX_DELAY, delay * 2)
            ended = self._pause(next_try, give_up)
            if ended:
                log.warning(
                    "status event %s (%s) not sent to %s: %s",
                    event["event_id"],
                    event["type"],
                    self.label,
                    failure,
                )
                return ended
            self._on_result(self.label, "retried")

    def _pause(self, next_try: float, give_up: float) -> str | None:
        """Wait for the next try; ``failed`` or ``dropped`` when it would come after the time allowed."""
        if next_try > give_up:
            return "failed"
        if not self._closing.wait(max(0.0, next_try - time.monotonic())):
            return None
        if next_try > self._deadline:
            return "dropped"
        time.sleep(max(0.0, next_try - time.monotonic()))
        return None
