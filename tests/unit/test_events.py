"""S3 event parsing: records, test events, key decoding, refusals."""

import json

import pytest

from worker.errors import PoisonMessage, Reason
from worker.s3events.parse import parse_body


def event(*records, bucket="temp"):
    return json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": name,
                    "eventTime": "2026-01-01T00:00:00Z",
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {"key": key, "size": 10, "eTag": '"abc"', **extra},
                    },
                }
                for name, key, extra in records
            ]
        }
    )


def test_every_record_of_a_message_becomes_a_source_record():
    parsed = parse_body(
        event(("ObjectCreated:Put", "a.mp4", {}), ("ObjectCreated:Post", "b.mp4", {})), "temp"
    )
    assert [r.key for r in parsed.records] == ["a.mp4", "b.mp4"]
    assert parsed.records[0].etag == "abc" and parsed.records[0].size == 10


def test_keys_are_decoded_the_way_s3_encodes_them():
    parsed = parse_body(event(("ObjectCreated:Put", "a+b%2Bc%2F%C3%BC.mp4", {})), "temp")
    assert parsed.records[0].key == "a b+c/ü.mp4"


def test_version_id_is_kept_and_null_versions_dropped():
    parsed = parse_body(
        event(
            ("ObjectCreated:Put", "v.mp4", {"versionId": "3"}),
            ("ObjectCreated:Put", "n.mp4", {"versionId": "null"}),
        ),
        "temp",
    )
    assert [r.version_id for r in parsed.records] == ["3", None]


def test_s3_test_event_is_recognised():
    parsed = parse_body(
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "temp"}), "temp"
    )
    assert parsed.test_event and parsed.records == ()


def test_other_event_types_are_ignored_not_processed():
    parsed = parse_body(
        event(("ObjectRemoved:Delete", "a.mp4", {}), ("ObjectCreated:Put", "b.mp4", {})), "temp"
    )
    assert [r.key for r in parsed.records] == ["b.mp4"]
    assert parsed.ignored == ("ObjectRemoved:Delete a.mp4",)


def test_a_foreign_bucket_is_refused():
    with pytest.raises(PoisonMessage) as info:
        parse_body(event(("ObjectCreated:Put", "a.mp4", {}), bucket="elsewhere"), "temp")
    assert info.value.reason is Reason.FOREIGN_BUCKET


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        "null",
        "{}",
        json.dumps({"Records": []}),
        json.dumps({"Records": "x"}),
        json.dumps({"Records": [1]}),
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        json.dumps(
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "temp"}, "object": {"key": ""}},
                    }
                ]
            }
        ),
        json.dumps(
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "temp"}, "object": {"key": "k", "size": -1}},
                    }
                ]
            }
        ),
        json.dumps({"Records": [{"eventSource": "aws:sns", "eventName": "x", "s3": {}}]}),
    ],
)
def test_malformed_bodies_are_poison_with_a_reason(body):
    with pytest.raises(PoisonMessage) as info:
        parse_body(body, "temp")
    assert info.value.reason is Reason.MALFORMED_MESSAGE
