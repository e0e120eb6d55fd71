"""Every way AWS delivers an upload event, through the whole pipeline on moto's server: S3 → SNS → SQS
(enveloped and raw), S3 → EventBridge → SQS, and the AWS shapes moto does not send, published by the tests."""

from __future__ import annotations

import json

import pytest

from tests.support.envelopes import eventbridge, sns_envelope
from tests.support.pipeline import collecting_service, exists, read_json
from tests.support.service import RunningService
from tests.support.stack import Stack, fresh_stack
from tests.support.status_queues import received, status_queue
from tests.support.waiting import wait_for
from worker.clients import events_client, sns_client

pytestmark = pytest.mark.slow


def delivered_stack(tmp_path, delivery: str, raw: bool = False) -> Stack:
    return fresh_stack(
        tmp_path, "d", delivery=delivery, sns=sns_client(), events=events_client(), raw_delivery=raw
    )


def manifests(stack: Stack) -> list[str]:
    return [k for k in stack.production_keys("media/") if k.endswith("/manifest.json")]


@pytest.mark.parametrize(
    "delivery, raw",
    [("sns", False), ("sns", True), ("eventbridge", False)],
    ids=["sns-envelope", "sns-raw", "eventbridge"],
)
def test_an_upload_announced_by_sns_or_eventbridge_is_published_once(
    moto_endpoint, tmp_path, media, delivery, raw
):
    stack = delivered_stack(tmp_path, delivery, raw)
    events = status_queue(stack)
    key = "in/holiday clip+1.mp4"
    stack.upload(key, media["clip"])
    settings = stack.settings(status_target=events, sns_topic_arns=stack.resources.topic_arn or "")
    service, outcomes = collecting_service(settings)
    with RunningService(service):
        wait_for(lambda: manifests(stack), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
    (manifest_path,) = manifests(stack)
    manifest = read_json(stack, manifest_path)
    assert manifest["source"]["key"] == key
    assert [o.status for _, o in outcomes] == ["published"]
    assert not exists(stack, key, stack.resources.temp_bucket)
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    published = [e for e in received(stack, events) if e["type"] == "published"]
    assert len(published) == 1 and published[0]["key"] == manifest_path
    if delivery == "sns":  # S3's test event on configuring the topic came through it and was deleted
        assert service.stats["test_events"] == 1


def test_test_events_and_other_event_types_leave_nothing_in_the_dlq(moto_endpoint, tmp_path):
    stack = delivered_stack(tmp_path, "sns")
    bucket, topic = stack.resources.temp_bucket, stack.resources.topic_arn
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-12-01T10:00:00.000Z",
        "Bucket": bucket,
    }
    removed = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectRemoved:Delete",
                "s3": {"bucket": {"name": bucket}, "object": {"key": "gone.mp4"}},
            }
        ]
    }
    bodies = [
        sns_envelope(test_event, topic=topic),
        sns_envelope(removed, topic=topic),
        json.dumps(removed),
        *(
            eventbridge(kind, bucket=bucket)
            for kind in ("Object Deleted", "Object Restore Completed", "Object Tags Added")
        ),
    ]
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
    service, outcomes = collecting_service(stack.settings(sns_topic_arns=topic))
    with RunningService(service):
        wait_for(lambda: stack.counts() == (0, 0), timeout=60)
    assert outcomes == [] and stack.counts(stack.resources.dlq_url) == (0, 0)
    assert service.stats["test_events"] == 2  # S3's own on configuring the topic, and ours


def test_a_notification_from_a_topic_not_allowed_goes_the_poison_way(moto_endpoint, tmp_path, media):
    stack = delivered_stack(tmp_path, "sns")
    stranger = sns_envelope({"Records": []}, topic="arn:aws:sns:us-east-1:999999999999:someone-else")
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=stranger)
    service, outcomes = collecting_service(stack.settings(sns_topic_arns=stack.resources.topic_arn, pool=1))
    with RunningService(service):
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == 1, timeout=90)
    assert service.stats["poison_foreign_topic"] >= 1


@pytest.mark.parametrize("spelling", ["encoded", "raw"])
def test_an_eventbridge_key_in_either_spelling_publishes_that_object_once(
    moto_endpoint, tmp_path, media, spelling
):
    stack = delivered_stack(tmp_path, "eventbridge")
    key = "in/a b+c.mp4"
    etag = stack.upload(key, media["clip"])  # moto's own event names it raw
    stack.upload(
        "in/a b c.mp4", media["silent"]
    )  # what the raw key decodes to: another upload, never confused
    stack.upload("in/a+b+c.mp4", media["mp3"])  # what the encoded key reads as given: another upload too
    version = stack.versions[(key, etag)]
    given = "in/a+b%2Bc.mp4" if spelling == "encoded" else key
    stack.sqs.send_message(
        QueueUrl=stack.resources.queue_url,
        MessageBody=eventbridge(
            key=given, bucket=stack.resources.temp_bucket, etag=etag, **{"version-id": version}, size=None
        ),
    )
    events = status_queue(stack)
    service, outcomes = collecting_service(stack.settings(status_target=events, pool=2))
    with RunningService(service):
        wait_for(lambda: len(manifests(stack)) == 3, timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    by_key = {read_json(stack, m)["source"]["key"]: read_json(stack, m) for m in manifests(stack)}
    assert set(by_key) == {key, "in/a b c.mp4", "in/a+b+c.mp4"}
    assert by_key[key]["source"]["version_id"] == version and by_key[key]["kind"] == "video"
    assert by_key["in/a+b+c.mp4"]["kind"] == "audio", (
        "the object named by the other spelling kept its own outputs"
    )
    ours = [o for j, o in outcomes if (o.source_key or j.record.key) == key]
    assert sorted(o.status for o in ours) == ["duplicate", "published"]
    published = [e for e in received(stack, events) if e["source"]["key"] == key]
    assert len({e["event_id"] for e in published}) == 1 and published[0]["source"]["version_id"] == version
    assert stack.counts(stack.resources.dlq_url) == (0, 0)


def test_unversioned_two_spellings_with_the_same_bytes_publish_but_delete_neither(
    moto_endpoint, tmp_path, media
):
    stack = fresh_stack(tmp_path, "u", versioned=False)
    resources = stack.resources
    etag = stack.upload("in/a+b.mp4", media["clip"])
    assert stack.upload("in/a b.mp4", media["clip"]) == etag  # another upload, the same bytes
    received(stack, resources.queue_url)  # S3's own notifications: only the EventBridge event below runs
    stack.sqs.send_message(
        QueueUrl=resources.queue_url,
        MessageBody=eventbridge(
            key="in/a+b.mp4", bucket=resources.temp_bucket, etag=etag, **{"version-id": None}
        ),
    )
    service, outcomes = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: outcomes, timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
    ((_, outcome),) = outcomes
    assert (outcome.status, outcome.source_key, outcome.source_delete) == ("published", "in/a+b.mp4", "kept")
    for key in ("in/a+b.mp4", "in/a b.mp4"):
        assert exists(stack, key, resources.temp_bucket), (
            "neither object is deleted: either may be the other upload"
        )
