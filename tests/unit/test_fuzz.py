"""Property tests (hypothesis) for the event parser and the host's stage-1 checks."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.child.keys import manifest_key, rejection_key
from worker.child.precheck import Signature, check_key, check_signature
from worker.errors import PoisonMessage, RejectedInput
from worker.s3events.parse import parse_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(max_size=300))
def test_any_text_body_parses_or_is_poison(body):
    try:
        parse_body(body, "temp")
    except PoisonMessage:
        pass


@given(json_values)
def test_any_json_body_parses_or_is_poison(doc):
    try:
        parse_body(json.dumps(doc), "temp")
    except PoisonMessage:
        pass


@given(
    st.dictionaries(st.sampled_from(["eventSource", "eventName", "s3", "eventTime"]), json_values, max_size=4)
)
def test_record_shaped_junk_is_poison_or_a_record(record):
    try:
        parsed = parse_body(json.dumps({"Records": [record]}), "temp")
    except PoisonMessage:
        return
    assert all(r.bucket == "temp" for r in parsed.records)


@given(st.text(min_size=1, max_size=200))
def test_any_key_round_trips_through_s3_encoding_and_stays_in_its_prefix(key):
    body = json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "temp"}, "object": {"key": quote_plus(key)}},
                }
            ]
        }
    )
    try:
        parsed = parse_body(body, "temp")
    except PoisonMessage:
        return  # over-long once encoded
    record = parsed.records[0]
    assert record.key == key
    for out in (manifest_key(record), rejection_key(record)):
        parts = out.split("/")
        assert (
            parts[0] in ("media", "rejected") and ".." not in parts and "." not in parts and "" not in parts
        )
        assert not any(ord(c) < 32 or c == "\x7f" for c in out)


@given(st.text(max_size=600))
def test_check_key_accepts_or_rejects_with_bad_key(key):
    try:
        check_key(key, 512)
    except RejectedInput as exc:
        assert exc.reason.value == "bad_key"
    else:
        assert len(key) <= 512 and not any(ord(c) < 32 or c == "\x7f" for c in key)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=500)
@given(st.binary(max_size=256))
def test_the_signature_check_names_a_media_signature_or_rejects_with_a_reason(head):
    try:
        found = check_signature(head)
    except RejectedInput as exc:
        assert exc.reason.value in ("not_media", "unsupported_type")
    else:
        assert isinstance(found, Signature) and found.kind_hint in ("video", "audio", "image")


hostile_bodies = st.one_of(
    st.integers(min_value=1, max_value=200_000).map(lambda n: "[" * n + "]" * n),  # RecursionError in json
    st.integers(min_value=1, max_value=100_000).map(lambda n: '{"Records": ' + "[" * n + "]" * n + "}"),
    st.integers(min_value=4_000, max_value=50_000).map(lambda n: "1" * n),  # past int's digit limit
    st.just('{"Records": [{"s3": {"object": {"size": 1e999999}}}]}'),
    st.text(alphabet=st.sampled_from('\x00\ud800\udfff{}[]":,'), max_size=500),  # NULs, lone surrogates
    st.integers(min_value=1, max_value=5_000).map(
        lambda n: json.dumps({"Records": [{"eventName": "x"}] * n})
    ),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),  # what invalid UTF-8 becomes as text
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150, deadline=None)
@given(hostile_bodies)
def test_nothing_in_a_body_raises_anything_but_poison(body):
    try:
        parse_body(body, "temp")
    except PoisonMessage as exc:
        assert len(exc.message) < 400  # a bounded, printable excerpt is all that gets logged
