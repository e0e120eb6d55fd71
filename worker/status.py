"""Status events for downstream systems: ``published``, ``rejected`` (with its reason) and ``dead_lettered``,
as one JSON document each, to an SNS topic (an ``arn:…:sns:…`` target) or an SQS queue (a queue URL).

Sent by the parent after the message is settled. Sending is best effort and never blocks the pipeline: a
failure is logged and counted (``media_worker_status_events_total{result="failed"}``); the manifest or
rejection record in the production bucket stays the source of truth.

``dead_lettered`` is sent when a retry leaves a message at the queue's ``maxReceiveCount``: SQS moves it to
the DLQ on its next receive instead of delivering it again.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from worker.clients import sns_client, sqs_client

log = logging.getLogger(__name__)
PUBLISHED, REJECTED, DEAD_LETTERED = "published", "rejected", "dead_lettered"


def status_event(kind: str, *, source: dict[str, Any] | None, message_id: str, job_id: str | None,
                 reason: str | None = None, detail: str = "", key: str | None = None) -> dict[str, Any]:
    """The event document: a fresh event id, what happened, to which source, and where the record is."""
    return {"event_id": str(uuid.uuid4()), "type": kind, "time": datetime.now(timezone.utc).isoformat(),
            "source": source, "message_id": message_id, "job_id": job_id, "reason": reason,
            "detail": detail[:1000], "key": key}


class StatusEvents:
    """Sends events to the configured target; ``sent``/``failed`` go to ``on_result``."""

    def __init__(self, target: str, on_result: Callable[[str], None] = lambda result: None) -> None:
        self.target = target
        self._on_result = on_result
        self._send: Callable[[str], None] | None = None
        if target.startswith("arn:") and ":sns:" in target:
            client = sns_client()
            self._send = lambda body: client.publish(TopicArn=target, Message=body)
        elif target:
            client = sqs_client(0)
            self._send = lambda body: client.send_message(QueueUrl=target, MessageBody=body)

    def emit(self, event: dict[str, Any]) -> None:
        """Send one event; never raises."""
        if self._send is None:
            return
        try:
            self._send(json.dumps(event))
        except Exception as exc:  # noqa: BLE001 - events are best effort; the bucket holds the record
            log.warning("status event %s (%s) not sent: %s", event["event_id"], event["type"], exc)
            self._on_result("failed")
        else:
            self._on_result("sent")
