"""Status events for downstream systems: ``published``, ``rejected`` (with its reason) and ``dead_lettered``,
as one JSON document each, to an SNS topic (an ``arn:…:sns:…`` target) or an SQS queue (a queue URL).

Queued by the parent's main loop and sent by a thread of their own, so a slow or unreachable target never
delays heartbeats or settling. Sending is best effort: a failure is logged and counted
(``media_worker_status_events_total{result="failed"}``), as is an event still unsent when the worker stops
or that found the backlog full (``result="dropped"``); the manifest or rejection record in the production
bucket stays the source of truth.

``dead_lettered`` is sent, once for each record that failed, when a retry leaves a message at the queue's
``maxReceiveCount``: SQS moves it to the DLQ on its next receive instead of delivering it again. Records of
that message that were published or rejected in that attempt got their own event and get no other.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from worker.clients import sns_client, sqs_client
from worker.keys import source_id

log = logging.getLogger(__name__)
PUBLISHED, REJECTED, DEAD_LETTERED = "published", "rejected", "dead_lettered"
EVENT_NAMESPACE = uuid.UUID("5b1e0c2a-9f0d-4c57-8a43-6d2f1e7b9c10")  # fixed forever: event ids derive from it


def status_event(kind: str, *, source: dict[str, Any] | None, message_id: str, job_id: str | None,
                 reason: str | None = None, detail: str = "", key: str | None = None,
                 source_id: str | None = None) -> dict[str, Any]:
    """The event document: its id, what happened, to which source, and where the record is.

    A version's ``published`` or ``rejected`` event has one id, however often it is sent (a duplicate
    delivery re-announces it): consumers deduplicate by ``event_id``. A ``dead_lettered`` event is one
    occurrence and gets a fresh id."""
    if source_id and kind in (PUBLISHED, REJECTED):
        event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"{source_id}/{kind}"))
    else:
        event_id = str(uuid.uuid4())
    return {"event_id": event_id, "type": kind, "time": datetime.now(timezone.utc).isoformat(),
            "source": source, "source_id": source_id, "message_id": message_id, "job_id": job_id,
            "reason": reason, "detail": detail[:1000], "key": key}


def _transport(target: str) -> Callable[[str], None] | None:
    """How to send one event body to ``target``: an SNS topic ARN or an SQS queue URL; None without one."""
    if target.startswith("arn:") and ":sns:" in target:
        sns = sns_client()
        return lambda body: sns.publish(TopicArn=target, Message=body)
    if target:
        sqs = sqs_client(0)
        return lambda body: sqs.send_message(QueueUrl=target, MessageBody=body)
    return None


class StatusEvents:
    """Sends events to the configured target from a sender thread; ``sent``/``failed``/``dropped`` go to
    ``on_result``."""

    def __init__(self, target: str, on_result: Callable[[str], None] = lambda result: None, *,
                 backlog: int = 10_000, send: Callable[[str], None] | None = None) -> None:
        self.target = target
        self._on_result = on_result
        # a given ``send`` is any transport (the tests' slow one); else SNS or SQS by the target's form
        self._send = send or _transport(target)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=backlog)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event for sending; never blocks, never raises."""
        if self._send is None:
            return
        with self._start_lock:  # the main loop and the settle thread both emit
            if self._thread is None:
                self._thread = threading.Thread(target=self._sender, name="status-events", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("status event %s (%s) dropped: %d events wait to be sent", event["event_id"],
                        event["type"], self._queue.qsize())
            self._on_result("dropped")

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued for up to ``timeout`` seconds; count the rest as dropped."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        try:  # the stop sentinel; a full backlog makes room as it drains
            self._queue.put(None, timeout=timeout)
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
            log.warning("%d status events not sent before stopping", left)
            for _ in range(left):
                self._on_result("dropped")
        if self._thread.is_alive():
            log.warning("a status event was still being sent at the stop (its result is counted when it ends)")

    def _sender(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._send(json.dumps(event))  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - events are best effort; the bucket holds the record
                log.warning("status event %s (%s) not sent: %s", event["event_id"], event["type"], exc)
                self._on_result("failed")
            else:
                self._on_result("sent")


def announce(events: StatusEvents, job: Any, outcome: Any) -> None:
    """The published or rejected event of a finished job (a worker.job Job and Outcome); a duplicate
    re-announces its version's outcome, with the same event id."""
    announced = outcome.announce if outcome.status == "duplicate" else outcome.status
    if announced in (PUBLISHED, REJECTED):
        events.emit(status_event(announced, source=job.record.identity(), message_id=job.message_id,
                                 job_id=job.job_id, reason=outcome.reason, detail=outcome.message, key=outcome.key,
                                 source_id=source_id(job.record)))
