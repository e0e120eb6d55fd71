"""Which spelling of an EventBridge key is the upload's, against S3 (moto in-process) through our Storage."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from worker.child.keys import manifest_key, rejection_key
from worker.child.spelling import resolve_spelling
from worker.child.storage import Storage
from worker.errors import PermanentError, Reason, RetryableError
from worker.s3events.records import SourceRecord

GIVEN, DECODED = "in/a+b%2Bc.mp4", "in/a b+c.mp4"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        for bucket in ("temp", "prod", "plain"):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket="temp", VersioningConfiguration={"Status": "Enabled"})
        yield client


def put(s3, key: str, body: bytes, bucket: str = "temp") -> SourceRecord:
    resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return SourceRecord(
        bucket, key, len(body), resp["ETag"].strip('"'), resp.get("VersionId"), "Object Created"
    )


def event(uploaded: SourceRecord, given: str = GIVEN, alt: str = DECODED) -> SourceRecord:
    """The EventBridge record of ``uploaded`` with its key spelled ``given``."""
    return SourceRecord(
        uploaded.bucket,
        given,
        uploaded.size,
        uploaded.etag,
        uploaded.version_id,
        "Object Created",
        alt_key=alt,
    )


def test_the_decoded_spelling_when_the_key_as_given_is_not_there(s3):
    upload = put(s3, DECODED, b"video")
    spelling = resolve_spelling(event(upload), Storage(s3, "prod"))
    assert spelling.record.key == DECODED and spelling.record.alt_key is None and not spelling.ambiguous


def test_the_key_as_given_first_and_a_version_never_matches_another_objects_key(s3):
    upload = put(s3, "in/a b+c.mp4", b"video")  # raw, as moto sends it; it decodes to "in/a b c.mp4"
    put(s3, "in/a b c.mp4", b"another upload")
    assert (
        resolve_spelling(event(upload, "in/a b+c.mp4", "in/a b c.mp4"), Storage(s3, "prod")).record.key
        == "in/a b+c.mp4"
    )
    other = put(s3, GIVEN, b"an object whose key is the encoded spelling")
    mine = put(s3, DECODED, b"video")
    assert other.version_id != mine.version_id
    assert resolve_spelling(event(mine), Storage(s3, "prod")).record.key == DECODED, (
        "pinned by the version id"
    )


def test_a_published_spelling_wins_over_a_stale_rejection_of_the_other(s3):
    upload = put(s3, DECODED, b"video")
    store = Storage(s3, "prod")
    store.put_json(rejection_key(event(upload).spelled(GIVEN)), {"reason": "source_gone"})
    store.put_json(manifest_key(event(upload).spelled(DECODED)), {"schema": 2})
    assert resolve_spelling(event(upload), store).record.key == DECODED


def test_a_manifest_written_while_the_heads_ran_is_found_before_falling_back(s3):
    upload = put(s3, DECODED, b"video")

    class Racing(Storage):
        """Another worker publishes the decoded spelling and deletes its source between our HEADs."""

        def head_source(self, record):
            if record.key == DECODED:
                self.put_json(manifest_key(record), {"schema": 2})
                s3.delete_object(Bucket="temp", Key=DECODED, VersionId=upload.version_id)
            return super().head_source(record)

    assert resolve_spelling(event(upload), Racing(s3, "prod")).record.key == DECODED


def test_unversioned_both_spellings_holding_the_bytes_is_ambiguous(s3):
    put(s3, GIVEN, b"same bytes", "plain")
    upload = put(s3, DECODED, b"same bytes", "plain")
    spelling = resolve_spelling(event(upload), Storage(s3, "prod"))
    assert spelling.ambiguous and spelling.record.key == GIVEN


def test_unversioned_a_spelling_that_exists_with_other_bytes_is_the_one_reported(s3):
    upload = put(s3, DECODED, b"first", "plain")
    put(s3, DECODED, b"overwritten", "plain")  # the event's bytes are gone: superseded, not gone
    spelling = resolve_spelling(event(upload), Storage(s3, "prod"))
    assert spelling.record.key == DECODED
    with pytest.raises(PermanentError) as info:
        Storage(s3, "prod").head_source(spelling.record)
    assert info.value.reason is Reason.SOURCE_SUPERSEDED


def test_an_error_on_one_spelling_moves_on_and_is_raised_only_when_none_is_found(s3):
    upload = put(s3, DECODED, b"video")

    class Denied(Storage):
        def __init__(self, *args, deny: tuple[str, ...]):
            super().__init__(*args)
            self.deny = deny

        def head_source(self, record):
            if record.key in self.deny:
                raise RetryableError(Reason.S3_ACCESS_DENIED, "403")
            return super().head_source(record)

    assert resolve_spelling(event(upload), Denied(s3, "prod", deny=(GIVEN,))).record.key == DECODED
    with pytest.raises(RetryableError):
        resolve_spelling(event(upload), Denied(s3, "prod", deny=(GIVEN, DECODED)))


def test_neither_spelling_found_is_the_key_as_given(s3):
    upload = put(s3, DECODED, b"video")
    s3.delete_object(Bucket="temp", Key=DECODED, VersionId=upload.version_id)
    assert resolve_spelling(event(upload), Storage(s3, "prod")).record.key == GIVEN
