"""S3 events inside SNS envelopes and as EventBridge events, in the shapes AWS documents for each."""

from __future__ import annotations

import json

import pytest

from tests.support.envelopes import TOPIC, eventbridge, sns_envelope
from worker.errors import PoisonMessage, Reason
from worker.s3events.parse import parse_body


def s3_event(key: str = "clips/a+b%2Bc.mp4", bucket: str = "temp", name: str = "ObjectCreated:Put") -> dict:
    """A notification as S3 writes it (userguide, notification-content-structure)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-1",
                "eventTime": "2026-12-01T10:00:00.000Z",
                "eventName": name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "media-worker",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": key,
                        "size": 2048,
                        "eTag": "0123456789abcdef0123456789abcdef",
                        "versionId": "3HL4kqtJlcpXroDTDmJ",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def test_an_sns_envelope_is_unwrapped_and_its_message_parsed_as_a_notification():
    parsed = parse_body(sns_envelope(s3_event()), "temp")
    (record,) = parsed.records
    assert (record.key, record.size, record.version_id, record.sequencer) == (
        "clips/a b+c.mp4",
        2048,
        "3HL4kqtJlcpXroDTDmJ",
        "0A1B2C3D4E5F678901",
    )
    assert parsed.envelope == "sns" and record.alt_key is None


def test_raw_message_delivery_is_the_bare_notification():
    parsed = parse_body(json.dumps(s3_event()), "temp")
    assert [r.key for r in parsed.records] == ["clips/a b+c.mp4"] and parsed.envelope == "s3"


def test_the_sns_wrapped_test_event_is_a_test_event():
    test = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-12-01T10:00:00.000Z",
        "Bucket": "temp",
    }
    parsed = parse_body(sns_envelope(test), "temp")
    assert parsed.test_event and parsed.records == () and parsed.envelope == "sns"


def test_other_event_types_in_an_envelope_are_ignored():
    parsed = parse_body(sns_envelope(s3_event(name="ObjectRemoved:Delete")), "temp")
    assert parsed.records == () and parsed.ignored == ("ObjectRemoved:Delete clips/a b+c.mp4",)


def test_an_allow_list_of_topics_refuses_any_other_topic():
    body = sns_envelope(s3_event(), topic="arn:aws:sns:eu-west-1:999999999999:someone-else")
    with pytest.raises(PoisonMessage) as info:
        parse_body(body, "temp", (TOPIC,))
    assert info.value.reason is Reason.FOREIGN_TOPIC
    assert parse_body(sns_envelope(s3_event()), "temp", (TOPIC,)).records
    assert parse_body(body, "temp").records, "without an allow-list any topic is taken"


@pytest.mark.parametrize(
    "body",
    [
        sns_envelope("not json"),
        sns_envelope("[1, 2]"),
        sns_envelope({"Records": []}),
        sns_envelope(
            {"Type": "Notification", "TopicArn": TOPIC, "Message": json.dumps(s3_event())}
        ),  # nested twice
        json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": 7}),
        sns_envelope(s3_event(), kind="SubscriptionConfirmation"),
        sns_envelope({"Records": [{"eventSource": "aws:ses", "eventName": "received", "s3": {}}]}),
    ],
)
def test_unusable_envelopes_are_poison(body):
    with pytest.raises(PoisonMessage) as info:
        parse_body(body, "temp")
    assert info.value.reason is Reason.MALFORMED_MESSAGE


def test_a_foreign_bucket_inside_an_envelope_is_refused():
    with pytest.raises(PoisonMessage) as info:
        parse_body(sns_envelope(s3_event(bucket="theirs")), "temp")
    assert info.value.reason is Reason.FOREIGN_BUCKET


def test_eventbridge_object_created_is_a_source_record_with_the_key_as_given():
    parsed = parse_body(eventbridge(), "temp")
    (record,) = parsed.records
    assert (record.bucket, record.key, record.size, record.etag, record.version_id, record.sequencer) == (
        "temp",
        "clips/a b.mp4",
        5,
        "b1946ac92492d2347c6235b4d2611184",
        "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        "617f08299329d189",
    )
    assert record.event_time == "2026-12-01T10:00:00Z" and record.alt_key is None
    assert parsed.envelope == "eventbridge"


@pytest.mark.parametrize(
    "given, alternative",
    [
        ("clips/a+b%2Bc.mp4", "clips/a b+c.mp4"),  # encoded the way notifications encode
        ("clips/a b+c.mp4", "clips/a b c.mp4"),  # raw, the way moto and a real capture send it
        ("raw/2023-08-08T14:03:40.532432.zip", None),  # nothing to decode: one spelling
    ],
)
def test_an_eventbridge_key_keeps_the_given_spelling_and_the_decoded_one_to_try(given, alternative):
    (record,) = parse_body(eventbridge(key=given), "temp").records
    assert record.key == given and record.alt_key == alternative


@pytest.mark.parametrize(
    "detail_type",
    [
        "Object Deleted",
        "Object Restore Completed",
        "Object Tags Added",
        "Object Storage Class Changed",
        "Object ACL Updated",
    ],
)
def test_other_eventbridge_s3_events_are_ignored(detail_type):
    parsed = parse_body(eventbridge(detail_type), "temp")
    assert parsed.records == () and parsed.ignored == (f"{detail_type} clips/a b.mp4",)


def test_eventbridge_without_a_version_and_with_mixed_case_etag_field():
    body = json.loads(eventbridge())
    del body["detail"]["object"]["version-id"], body["detail"]["object"]["etag"]
    body["detail"]["object"]["eTag"] = "abc"
    (record,) = parse_body(json.dumps(body), "temp").records
    assert record.version_id is None and record.etag == "abc"


def test_eventbridge_through_sns_is_unwrapped_too():
    (record,) = parse_body(sns_envelope(json.loads(eventbridge())), "temp").records
    assert record.key == "clips/a b.mp4"


@pytest.mark.parametrize(
    "body, reason",
    [
        (eventbridge(bucket="theirs"), Reason.FOREIGN_BUCKET),
        (json.dumps({**json.loads(eventbridge()), "source": "aws.ec2"}), Reason.MALFORMED_MESSAGE),
        (json.dumps({**json.loads(eventbridge()), "detail": "x"}), Reason.MALFORMED_MESSAGE),
        (eventbridge(key=""), Reason.MALFORMED_MESSAGE),
        (eventbridge(size=-1), Reason.MALFORMED_MESSAGE),
        (eventbridge(size="5"), Reason.MALFORMED_MESSAGE),
        (eventbridge(key="k" * 1025), Reason.MALFORMED_MESSAGE),
    ],
)
def test_unusable_eventbridge_events_are_poison(body, reason):
    with pytest.raises(PoisonMessage) as info:
        parse_body(body, "temp")
    assert info.value.reason is reason
