"""Deterministic keys whose prefixes never nest."""

from worker.child.keys import (
    attempt_prefix,
    exhaustion_key,
    manifest_key,
    rejection_key,
    source_id,
    version_prefix,
)
from worker.s3events.parse import SourceRecord


def rec(key="a.mp4", etag="e1", version=None, bucket="temp"):
    return SourceRecord(bucket, key, 1, etag, version, "ObjectCreated:Put")


def test_same_source_version_same_keys():
    assert manifest_key(rec()) == manifest_key(rec()) == f"media/{source_id(rec())}/manifest.json"
    assert rejection_key(rec()) == f"rejected/{source_id(rec())}.json"
    assert exhaustion_key(rec()) == f"state/{source_id(rec())}/exhausted.json"


def test_a_new_version_gets_new_keys():
    assert source_id(rec(etag="e1")) != source_id(rec(etag="e2"))
    assert source_id(rec(version="1")) != source_id(rec(version="2"))
    assert source_id(rec(bucket="x")) != source_id(rec(bucket="y"))


def test_attempts_of_one_version_write_under_disjoint_prefixes():
    a, b = attempt_prefix(rec(), "aaaa"), attempt_prefix(rec(), "bbbb")
    assert a.startswith(version_prefix(rec())) and b.startswith(version_prefix(rec()))
    assert not a.startswith(b) and not b.startswith(a) and not manifest_key(rec()).startswith(a)


def test_no_version_prefix_is_a_prefix_of_another_whatever_the_keys():
    # today's bug: "a.mp4/<id>/x" used to nest inside "a.mp4"'s outputs
    first = rec(key="a.mp4")
    nested = rec(key=f"a.mp4/{source_id(first)}/x")
    hostile = [rec(key=k) for k in ("../../etc/passwd", "/abs/../x", "a/\x00b", "..", "a\\..\\b", "a" * 1024)]
    prefixes = [version_prefix(r) for r in [first, nested, *hostile]]
    for p in prefixes:
        assert p.count("/") == 2 and len(p) == len("media/") + 16 + 1
        assert not any(q != p and q.startswith(p) for q in prefixes)


def test_two_uploads_of_the_same_bytes_to_an_unversioned_bucket_are_two_versions():
    first = SourceRecord("temp", "a.mp4", 1, "e1", None, "ObjectCreated:Put", sequencer="0055AED6DCD90281E5")
    again = SourceRecord("temp", "a.mp4", 1, "e1", None, "ObjectCreated:Put", sequencer="0055AED6DCD90281F0")
    assert source_id(first) != source_id(again)
    assert source_id(first) == source_id(
        SourceRecord("temp", "a.mp4", 1, "e1", None, "ObjectCreated:Put", sequencer="0055AED6DCD90281E5")
    ), "a duplicate is the same"
    versioned = SourceRecord("temp", "a.mp4", 1, "e1", "v1", "ObjectCreated:Put", sequencer="00AA")
    assert source_id(versioned) == source_id(rec(version="v1")), "the version id alone names a version"
