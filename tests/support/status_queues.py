"""Status events as the user's application receives them from an SQS target."""

from __future__ import annotations

import json

from tests.support.stack import Stack
from tests.support.waiting import wait_for


def events_queue(stack, name):
    return stack.sqs.create_queue(QueueName=f"{stack.resources.queue_url.rsplit('/', 1)[1]}-{name}")[
        "QueueUrl"
    ]


def drain_events(stack, url, count):
    events = []

    def more():
        for m in stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            events.append(json.loads(m["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(events) >= count

    wait_for(more, timeout=90)
    return events


def status_queue(stack: Stack) -> str:
    return stack.sqs.create_queue(QueueName=f"{stack.resources.temp_bucket}-status")["QueueUrl"]


def received(stack: Stack, url: str) -> list[dict]:
    """Every message of ``url`` so far, as JSON (deleted as read)."""
    got = []
    while True:
        batch = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return got
        for message in batch:
            got.append(json.loads(message["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
