"""The dead-letter queue, for operators: look at what landed there, and send it back once fixed.

``inspect`` peeks without taking messages away (each batch is made visible again right after reading). ``redrive`` moves messages to the source queue: send a copy, then delete the original — a crash
in between leaves a duplicate, which the worker's idempotent keys make harmless, never a loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from worker.errors import PoisonMessage
from worker.s3events.parse import parse_body


@dataclass(frozen=True)
class DeadLetter:
    """One message of the DLQ, with the upload keys it names when its body parses."""

    message_id: str
    receive_count: int
    sent_at: int
    keys: tuple[str, ...]
    problem: str | None
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at_ms": self.sent_at,
            "keys": list(self.keys),
            "problem": self.problem,
            "body": self.body[:2000],
        }


def dlq_url_of(sqs: Any, queue_url: str) -> str:
    """The DLQ named by the source queue's redrive policy."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = json.loads(attrs.get("RedrivePolicy") or "{}")
    arn = policy.get("deadLetterTargetArn")
    if not arn:
        raise LookupError(f"{queue_url} has no redrive policy naming a DLQ")
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def inspect(sqs: Any, dlq_url: str, temp_bucket: str, limit: int = 50) -> list[DeadLetter]:
    """Up to ``limit`` messages of the DLQ, left where they are.

    Each batch is hidden for a moment so the next receive returns other messages (with a zero visibility
    timeout SQS may hand back the same ten every time), then made visible again at once.
    """
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            resp = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            for m in messages:
                handles.append(m["ReceiptHandle"])
                seen.setdefault(m["MessageId"], _describe(m, temp_bucket))
    finally:
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(handles[start : start + 10])
                ],
            )
    return list(seen.values())[:limit]


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int | None = None) -> int:
    """Move up to ``limit`` (all, when None) messages back to the source queue; return how many moved."""
    moved = 0
    for message in _drain(sqs, dlq_url):
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
        if limit is not None and moved >= limit:
            break
    return moved


def _drain(sqs: Any, url: str) -> Iterator[dict[str, Any]]:
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return
        yield from messages


def _describe(message: dict[str, Any], temp_bucket: str) -> DeadLetter:
    attrs = message.get("Attributes", {})
    body = message.get("Body", "")
    try:
        parsed = parse_body(body, temp_bucket)
        keys, problem = tuple(r.key for r in parsed.records), None
    except PoisonMessage as exc:
        keys, problem = (), str(exc)
    return DeadLetter(
        message["MessageId"],
        int(attrs.get("ApproximateReceiveCount", 0)),
        int(attrs.get("SentTimestamp", 0)),
        keys,
        problem,
        body,
    )
