"""SQS bodies → source records. Pure functions, no I/O.

A body is an S3 event notification (straight from S3, or through SNS with raw message delivery), an SNS
envelope around one, or an EventBridge event of S3 (see worker.s3events.envelopes for the two wrappers). One
notification may hold many records; each ObjectCreated record of the temp bucket becomes a
:class:`SourceRecord`. Notification keys arrive URL-encoded the way S3 encodes them (``a b+c.mp4`` →
``a+b%2Bc.mp4``) and are decoded with ``unquote_plus``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from worker.errors import PoisonMessage, Reason
from worker.s3events.envelopes import MAX_KEY_BYTES, eventbridge_message, is_eventbridge, is_sns, unwrap_sns
from worker.s3events.records import BadRecord, ParsedMessage, SourceRecord

__all__ = ["BadRecord", "ParsedMessage", "SourceRecord", "excerpt", "parse_body"]
MAX_BODY_CHARS = 1024 * 1024  # SQS carries at most 256 KiB; anything longer did not come from it
MAX_RECORDS = 100  # S3 sends one record a message; a body of more is not an S3 notification
EXCERPT_CHARS = 200


def excerpt(body: Any) -> str:
    """The start of a body, safe to log: printable, bounded."""
    text = body if isinstance(body, str) else repr(body)
    return text[:EXCERPT_CHARS].encode("unicode_escape", "replace").decode("ascii", "replace")


def parse_body(body: str, temp_bucket: str, topics: tuple[str, ...] = ()) -> ParsedMessage:
    """Parse an SQS body holding an S3 event: bare, in an SNS envelope (from one of ``topics`` when that
    allow-list is not empty), or as an EventBridge event.

    Raises :class:`PoisonMessage` when the body is not JSON, not an S3 event, or holds no usable record
    (every record malformed or of another bucket); in a message with usable records, the others are
    returned as ``bad``. Nothing a body holds raises anything else: deep nesting, huge numbers and the like
    are poison too, never an error that could stop the caller.
    """
    try:
        return _parse(body, temp_bucket, topics)
    except PoisonMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - RecursionError from deep nesting, and whatever else a body provokes
        raise PoisonMessage(
            Reason.MALFORMED_MESSAGE,
            f"body could not be parsed ({type(exc).__name__}); it starts {excerpt(body)!r}",
        ) from None


def _parse(body: str, temp_bucket: str, topics: tuple[str, ...]) -> ParsedMessage:
    if not isinstance(body, str) or len(body) > MAX_BODY_CHARS:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "body is not text of at most 1 MiB")
    try:
        doc = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "body is not a JSON object")
    envelope = "s3"
    if is_sns(doc):
        doc, envelope = unwrap_sns(doc, topics), "sns"
        if not isinstance(doc, dict):
            raise PoisonMessage(Reason.MALFORMED_MESSAGE, "the SNS Message is not a JSON object")
    if is_eventbridge(doc):  # EventBridge → SNS → SQS is possible too
        return eventbridge_message(doc, temp_bucket)
    if doc.get("Event") == "s3:TestEvent":
        return ParsedMessage(True, (), (), envelope=envelope)
    raw_records = doc.get("Records")
    if not isinstance(raw_records, list) or not raw_records:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "no Records list in the body")
    if len(raw_records) > MAX_RECORDS:
        raise PoisonMessage(
            Reason.MALFORMED_MESSAGE, f"{len(raw_records)} records; at most {MAX_RECORDS} are taken"
        )
    records: list[SourceRecord] = []
    ignored: list[str] = []
    bad: list[BadRecord] = []
    for index, raw in enumerate(raw_records):
        try:
            record = _parse_record(raw, index, temp_bucket)
        except PoisonMessage as exc:
            if len(raw_records) == 1:
                raise
            bad.append(BadRecord(index, exc.reason, exc.message, json.dumps(raw, ensure_ascii=False)))
            continue
        if record.event_name.startswith("ObjectCreated:"):
            records.append(record)
        else:
            ignored.append(f"{record.event_name} {record.key}")
    if bad and not records and not ignored:  # nothing usable: the message itself is poison
        raise PoisonMessage(bad[0].reason, f"every record is unusable; {bad[0].message}")
    return ParsedMessage(False, tuple(records), tuple(ignored), tuple(bad), envelope=envelope)


def _parse_record(raw: Any, index: int, temp_bucket: str) -> SourceRecord:
    where = f"Records[{index}]"
    if not isinstance(raw, dict):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} is not an object")
    if raw.get("eventSource") not in (None, "aws:s3"):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} is not an S3 event")
    event_name = raw.get("eventName")
    s3 = raw.get("s3")
    if not isinstance(event_name, str) or not isinstance(s3, dict):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} lacks eventName or s3")
    bucket = (s3.get("bucket") or {}).get("name") if isinstance(s3.get("bucket"), dict) else None
    obj = s3.get("object")
    if not isinstance(bucket, str) or not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} lacks s3.bucket.name or s3.object.key")
    if bucket != temp_bucket:
        raise PoisonMessage(Reason.FOREIGN_BUCKET, f"{where} names bucket {bucket!r}, not {temp_bucket!r}")
    key = unquote_plus(obj["key"])
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} has an empty or over-long key")
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"{where} has an invalid size")
    etag = obj.get("eTag") or obj.get("etag")
    version = obj.get("versionId")
    return SourceRecord(
        bucket=bucket,
        key=key,
        size=size,
        etag=str(etag).strip('"') if etag else None,
        version_id=str(version) if version not in (None, "", "null") else None,
        event_name=event_name,
        event_time=raw.get("eventTime") if isinstance(raw.get("eventTime"), str) else None,
        sequencer=obj["sequencer"] if isinstance(obj.get("sequencer"), str) and obj["sequencer"] else None,
    )
