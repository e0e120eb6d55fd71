"""Deterministic, safe output keys."""
from worker.events import SourceRecord
from worker.keys import manifest_key, output_prefix, rejection_key, safe_key, source_id


def rec(key="a.mp4", etag="e1", version=None, bucket="temp"):
    return SourceRecord(bucket, key, 1, etag, version, "ObjectCreated:Put")


def test_same_source_version_same_keys():
    assert manifest_key(rec()) == manifest_key(rec())
    assert output_prefix(rec()).startswith("media/a.mp4/")


def test_a_new_version_gets_new_keys():
    assert source_id(rec(etag="e1")) != source_id(rec(etag="e2"))
    assert source_id(rec(version="1")) != source_id(rec(version="2"))
    assert source_id(rec(bucket="x")) != source_id(rec(bucket="y"))


def test_keys_cannot_escape_their_prefix():
    for hostile in ("../../etc/passwd", "/abs/../x", "./.././", "a/\x00b/\x1fc", "..", "a\\..\\b"):
        key = manifest_key(rec(key=hostile))
        parts = key.split("/")
        assert parts[0] == "media" and ".." not in parts and "." not in parts and "" not in parts
        assert not any(ord(c) < 32 for c in key)
    assert rejection_key(rec(key="../x")).startswith("rejected/x/")


def test_safe_key_keeps_readable_names_and_caps_length():
    assert safe_key("uploads/my clip ü.mp4") == "uploads/my clip ü.mp4"
    assert len(safe_key("a" * 2000).encode()) <= 513
