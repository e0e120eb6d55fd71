"""The status event document: ``published``, ``rejected`` (with its reason) and ``dead_lettered``, one JSON
object each (worker.parent.status_events.sender sends them; worker.parent.status_events.targets says where).

``dead_lettered`` is sent, once for each record that failed, when a retry leaves a message at the queue's
``maxReceiveCount``: SQS moves it to the DLQ on its next receive instead of delivering it again. Records of
that message that were published or rejected in that attempt got their own event and get no other.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from worker.child.keys import source_id
from worker.child.outcome import Status

EVENT_NAMESPACE = uuid.UUID("5b1e0c2a-9f0d-4c57-8a43-6d2f1e7b9c10")  # fixed forever: event ids derive from it


def status_event(
    kind: Status,
    *,
    source: dict[str, Any] | None,
    message_id: str,
    job_id: str | None,
    reason: str | None = None,
    detail: str = "",
    key: str | None = None,
    source_id: str | None = None,
) -> dict[str, Any]:
    """The event document: its id, what happened, to which source, and where the record is.

    A version's ``published`` or ``rejected`` event has one id, however often it is sent (a duplicate
    delivery re-announces it): consumers deduplicate by ``event_id``. A ``dead_lettered`` event is one
    occurrence and gets a fresh id."""
    if source_id and kind in (Status.PUBLISHED, Status.REJECTED):
        event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"{source_id}/{kind}"))
    else:
        event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "type": kind,
        "time": datetime.now(timezone.utc).isoformat(),
        "source": source,
        "source_id": source_id,
        "message_id": message_id,
        "job_id": job_id,
        "reason": reason,
        "detail": detail[:1000],
        "key": key,
    }


def announce(events: Any, job: Any, outcome: Any) -> None:
    """The published or rejected event of a finished job (a worker.child.job Job and Outcome) to ``events`` (a
    worker.parent.status_events StatusEvents); a duplicate re-announces its version's outcome, with the same event id."""
    announced = outcome.announce if outcome.status == Status.DUPLICATE else outcome.status
    if announced in (Status.PUBLISHED, Status.REJECTED):
        # an EventBridge key with two spellings is named as the job found it
        record = job.record.spelled(outcome.source_key) if outcome.source_key else job.record
        events.emit(
            status_event(
                announced,
                source=record.identity(),
                message_id=job.message_id,
                job_id=job.job_id,
                reason=outcome.reason,
                detail=outcome.message,
                key=outcome.key,
                source_id=source_id(record),
            )
        )
