"""The SQS side: receive, change visibility (one or a batch), delete.

Only the parent process talks to SQS. Every call here returns plainly or
raises botocore's errors; the callers decide what a failure means.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)
MAX_BATCH = 10
RESENDS_ATTRIBUTE = "media-worker-resends"  # how often the worker re-sent this body (see Queue.resend)


@dataclass(frozen=True)
class Message:
    """One received SQS message."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    resends: int = 0


class Queue:
    """A thin, typed wrapper over one queue URL."""

    def __init__(self, client: Any, url: str) -> None:
        self._sqs = client
        self.url = url

    @property
    def client(self) -> Any:
        """The boto3 SQS client (for calls on other queues, such as the DLQ)."""
        return self._sqs

    def depth(self, url: str | None = None) -> dict[str, int]:
        """Approximate visible, in-flight and delayed messages of this queue (or of ``url``)."""
        names = {
            "ApproximateNumberOfMessages": "visible",
            "ApproximateNumberOfMessagesNotVisible": "in_flight",
            "ApproximateNumberOfMessagesDelayed": "delayed",
        }
        attrs = self._sqs.get_queue_attributes(QueueUrl=url or self.url, AttributeNames=list(names))[
            "Attributes"
        ]
        return {state: int(attrs.get(name, 0)) for name, state in names.items()}

    def receive(self, max_messages: int, wait_seconds: int, visibility_timeout: int) -> list[Message]:
        """Long-poll for up to ``max_messages`` (≤ 10), leased for ``visibility_timeout``."""
        resp = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(MAX_BATCH, max_messages)),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=[RESENDS_ATTRIBUTE],
        )
        return [
            Message(
                m["MessageId"],
                m["ReceiptHandle"],
                m.get("Body", ""),
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                _resends(m),
            )
            for m in resp.get("Messages", [])
        ]

    def extend(self, entries: Iterable[tuple[Message, int]]) -> dict[str, bool]:
        """Set each message's visibility from now: message id → extended (True) or refused (False).

        Ids missing from the answer met a transport error; the caller tries them again.
        """
        answer: dict[str, bool] = {}
        items = list(entries)
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start : start + MAX_BATCH]
            batch = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                for i, (m, seconds) in enumerate(chunk)
            ]
            try:
                resp = self._sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=batch)
            except (BotoCoreError, ClientError) as exc:
                log.error("visibility heartbeat failed for %d messages (will retry): %s", len(chunk), exc)
                continue
            for entry in resp.get("Successful", []):
                answer[chunk[int(entry["Id"])][0].message_id] = True
            for entry in resp.get("Failed", []):
                message = chunk[int(entry["Id"])][0]
                if not entry.get("SenderFault", True):  # SQS's own failure: the receipt is fine, try again
                    log.warning(
                        "visibility extension of %s failed on SQS's side (will retry): %s %s",
                        message.message_id,
                        entry.get("Code"),
                        entry.get("Message"),
                    )
                    continue
                log.error(
                    "visibility extension refused for %s: %s %s",
                    message.message_id,
                    entry.get("Code"),
                    entry.get("Message"),
                )
                answer[message.message_id] = False
        return answer

    def send(self, url: str, body: str, attributes: dict[str, str]) -> bool:
        """Send ``body`` to another queue (a bad record's copy to the DLQ) with string attributes."""
        try:
            self._sqs.send_message(
                QueueUrl=url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value[:256]}
                    for name, value in attributes.items()
                },
            )
            return True
        except (BotoCoreError, ClientError) as exc:
            log.error("could not send a message to %s: %s", url, exc)
            return False

    def set_visibility(self, message: Message, seconds: int) -> bool:
        """Make the message visible again after ``seconds`` (0: at once)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
            )
            return True
        except (BotoCoreError, ClientError) as exc:
            log.error("could not set visibility of %s to %ss: %s", message.message_id, seconds, exc)
            return False

    def delete(self, message: Message) -> bool:
        """Delete a settled message; a failure means a harmless redelivery (outputs are idempotent)."""
        try:
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)
            return True
        except (BotoCoreError, ClientError) as exc:
            log.error("could not delete %s (it will be redelivered and skipped): %s", message.message_id, exc)
            return False

    def resend(self, message: Message) -> bool:
        """Send the body again as a new message (its receive count starts over), then delete the old one.

        Used only when a message would reach the DLQ through no fault of its upload (a drain, a dead pool
        child) on its last allowed receive; the copy counts how often (``RESENDS_ATTRIBUTE``). A failed delete
        leaves two copies, which is harmless: jobs are idempotent per source version."""
        count = {"DataType": "Number", "StringValue": str(message.resends + 1)}
        try:
            self._sqs.send_message(
                QueueUrl=self.url, MessageBody=message.body, MessageAttributes={RESENDS_ATTRIBUTE: count}
            )
        except (BotoCoreError, ClientError) as exc:
            log.error("could not re-send %s: %s", message.message_id, exc)
            return False
        self.delete(message)
        return True

    def max_receive_count(self) -> int | None:
        """The redrive policy's ``maxReceiveCount`` (None without a DLQ or when it cannot be read)."""
        try:
            attrs = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
            policy = json.loads(attrs.get("Attributes", {}).get("RedrivePolicy") or "{}")
            return int(policy["maxReceiveCount"]) if "maxReceiveCount" in policy else None
        except (BotoCoreError, ClientError, ValueError) as exc:
            log.warning("could not read the queue's redrive policy: %s", exc)
            return None


def _resends(raw: dict[str, Any]) -> int:
    value = raw.get("MessageAttributes", {}).get(RESENDS_ATTRIBUTE, {}).get("StringValue", "0")
    return int(value) if str(value).isdigit() else 0
