"""Status events to every kind of target at once, through the whole pipeline on moto's server: a signed
webhook (a local receiver over real HTTP), EventBridge (moto's bus, a rule, a queue) and SQS."""

from __future__ import annotations

import json

import pytest

from tests.support.pipeline import collecting_service
from tests.support.service import RunningService
from tests.support.status_queues import received, status_queue
from tests.support.waiting import wait_for
from tests.support.webhooks import HANG, SECRET, readme_verifier, webhook_receiver
from worker.clients import events_client
from worker.parent.status_events import sender as sender_module
from worker.parent.status_events.webhook import SIGNATURE_HEADER

pytestmark = pytest.mark.slow


def collect(stack, url: str, count: int) -> list[dict]:
    """At least ``count`` messages of ``url``."""
    got: list[dict] = []
    wait_for(lambda: got.extend(received(stack, url)) or len(got) >= count, timeout=30)
    return got


def test_webhook_sqs_and_eventbridge_targets_each_get_every_event(stack, media, monkeypatch):
    monkeypatch.setattr(sender_module, "FIRST_DELAY", 0.1)
    events = events_client()
    bus = events.create_event_bus(Name=f"{stack.resources.temp_bucket}-bus")["EventBusArn"]
    rule = f"{stack.resources.temp_bucket}-status"
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["media-worker"]}))
    inbox = status_queue(stack)
    inbox_arn = stack.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "inbox", "Arn": inbox_arn}])
    plain = stack.sqs.create_queue(QueueName=f"{stack.resources.temp_bucket}-plain")["QueueUrl"]
    stack.upload("st/clip.mp4", media["clip"])
    stack.upload("st/empty.mp4", b"")
    verify = readme_verifier()
    with webhook_receiver(500) as receiver:  # the first try fails: retried, then 200
        settings = stack.settings(status_target=f"{receiver.url},{bus},{plain}", webhook_secret=SECRET)
        service, _ = collecting_service(settings)
        with RunningService(service):
            wait_for(lambda: len(receiver.deliveries) == 3, timeout=90)
            from_bus, from_queue = collect(stack, inbox, 2), collect(stack, plain, 2)
    hooked = [json.loads(d.body) for d in receiver.deliveries]
    assert all(verify(SECRET, d.headers[SIGNATURE_HEADER], d.body) for d in receiver.deliveries)
    assert len({e["event_id"] for e in hooked}) == 2, "the 500 was retried with the same event"
    assert sorted(e["type"] for e in from_queue) == ["published", "rejected"]
    assert sorted((e["source"], e["detail-type"], e["detail"]["type"]) for e in from_bus) == [
        ("media-worker", "Media Published", "published"),
        ("media-worker", "Media Rejected", "rejected"),
    ]
    assert (
        {e["detail"]["event_id"] for e in from_bus}
        == {e["event_id"] for e in hooked}
        == {e["event_id"] for e in from_queue}
    )
    labels = service.status.labels
    assert labels[1:] == [
        f"eventbridge:{stack.resources.temp_bucket}-bus",
        f"sqs:{stack.resources.temp_bucket}-plain",
    ]
    assert [service.metrics.status_events.labels(label, "sent")._value.get() for label in labels] == [2, 2, 2]
    assert service.metrics.status_retries.labels(labels[0])._value.get() == 1


def test_a_hanging_webhook_never_delays_settling(stack, media):
    stack.upload("hang/empty.mp4", b"")
    with webhook_receiver(default=HANG) as receiver:
        settings = stack.settings(status_target=receiver.url, webhook_secret=SECRET)
        service, outcomes = collecting_service(settings)
        with RunningService(service):
            wait_for(lambda: receiver.deliveries, timeout=60)
            # the message is deleted while the receiver still holds the event's POST unanswered
            wait_for(lambda: stack.counts() == (0, 0), timeout=30)
            assert len(receiver.deliveries) == 1 and not receiver.stopping.is_set()
    assert [o.status for _, o in outcomes] == ["rejected"]
