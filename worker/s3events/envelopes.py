"""The two wrappers an S3 event may arrive in besides none: an SNS notification and an EventBridge event.

* **SNS** (S3 → SNS → SQS without raw message delivery): ``{"Type": "Notification", "TopicArn", "Message":
  "<the event as a JSON string>", …}``. :func:`unwrap_sns` returns the inner document; with an allow-list of
  topics, a notification from any other topic is poison (``foreign_topic``). With raw message delivery the
  body is the bare event and needs nothing from here (nor can its topic be checked: the queue policy is
  what limits who may send).
* **EventBridge** (S3 → EventBridge rule → SQS): ``{"source": "aws.s3", "detail-type": "Object Created",
  "detail": {"bucket": {"name"}, "object": {"key", "size", "etag", "version-id", "sequencer"}, …}}``.
  ``Object Created`` becomes a source record; every other S3 detail type is ignored, as other event types
  of plain notifications are.

EventBridge keys: S3 notifications URL-encode keys (form style), but for EventBridge AWS documents no
encoding and the evidence conflicts (a real account's capture shows ``:`` unencoded, moto sends raw keys,
one SDK decodes). So the record keeps the key exactly as given and, when decoding would change it, the
decoded spelling as ``alt_key``: the job reads the key as given and tries the other spelling only when that
is not found (worker.child.spelling). The version id (or, unversioned, the ETag) pins the read either way, so a
different object that happens to hold the other spelling is never processed in its place.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from worker.errors import PoisonMessage, Reason
from worker.s3events.records import ParsedMessage, SourceRecord

SNS_NOTIFICATION = "Notification"
SNS_CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
EVENTBRIDGE_CREATED = "Object Created"
MAX_KEY_BYTES = 1024  # S3's own limit


def is_sns(doc: dict[str, Any]) -> bool:
    """An SNS envelope (as SQS gets it without raw message delivery)."""
    return isinstance(doc.get("TopicArn"), str) and doc.get("Type") in (SNS_NOTIFICATION, *SNS_CONFIRMATIONS)


def unwrap_sns(doc: dict[str, Any], topics: tuple[str, ...]) -> Any:
    """The document an SNS notification carries; poison when it is from a topic not allowed, or is a
    subscription message (those need a person: the DLQ keeps its token and SubscribeURL)."""
    topic = doc["TopicArn"]
    if topics and topic not in topics:
        raise PoisonMessage(
            Reason.FOREIGN_TOPIC,
            f"an SNS notification from {topic!r}, which is not in MEDIA_WORKER_SNS_TOPIC_ARNS",
        )
    if doc["Type"] != SNS_NOTIFICATION:
        raise PoisonMessage(
            Reason.MALFORMED_MESSAGE,
            f"an SNS {doc['Type']} of {topic!r}, not an event: confirm "
            "the subscription (aws sns confirm-subscription) if it is ours",
        )
    message = doc.get("Message")
    if not isinstance(message, str):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "an SNS notification without a Message string")
    try:
        return json.loads(message)
    except ValueError as exc:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, f"the SNS Message is not JSON: {exc}") from None


def is_eventbridge(doc: dict[str, Any]) -> bool:
    """An EventBridge event (any source: one not from S3 is refused by :func:`eventbridge_message`)."""
    return "detail-type" in doc and "detail" in doc and "source" in doc


def eventbridge_message(doc: dict[str, Any], temp_bucket: str) -> ParsedMessage:
    """An EventBridge event of S3 as a message of one record (Object Created) or one ignored event."""
    if doc.get("source") != "aws.s3":
        raise PoisonMessage(
            Reason.MALFORMED_MESSAGE, f"an EventBridge event from {doc.get('source')!r}, not aws.s3"
        )
    detail_type, detail = doc.get("detail-type"), doc.get("detail")
    if not isinstance(detail_type, str) or not isinstance(detail, dict):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "an EventBridge event without detail-type or detail")
    bucket = detail.get("bucket")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    obj = detail.get("object")
    if not isinstance(name, str) or not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise PoisonMessage(
            Reason.MALFORMED_MESSAGE, "an EventBridge event without detail.bucket.name or detail.object.key"
        )
    if name != temp_bucket:
        raise PoisonMessage(Reason.FOREIGN_BUCKET, f"the event names bucket {name!r}, not {temp_bucket!r}")
    key = obj["key"]
    if detail_type != EVENTBRIDGE_CREATED:
        return ParsedMessage(False, (), (f"{detail_type} {key}",), envelope="eventbridge")
    decoded = unquote_plus(key)
    # an encoded key may be three times its object's: the shorter spelling is the one held to S3's limit
    if not key or min(len(k.encode("utf-8", "surrogatepass")) for k in (key, decoded)) > MAX_KEY_BYTES:
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "an EventBridge event with an empty or over-long key")
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise PoisonMessage(Reason.MALFORMED_MESSAGE, "an EventBridge event with an invalid size")
    etag = obj.get("etag", obj.get("eTag"))  # AWS writes etag; moto eTag
    version = obj.get("version-id")
    record = SourceRecord(
        bucket=name,
        key=key,
        size=size,
        etag=str(etag).strip('"') if etag else None,
        version_id=str(version) if version not in (None, "", "null") else None,
        event_name=detail_type,
        event_time=doc["time"] if isinstance(doc.get("time"), str) else None,
        sequencer=obj["sequencer"] if isinstance(obj.get("sequencer"), str) and obj["sequencer"] else None,
        alt_key=decoded if decoded != key and decoded else None,
    )
    return ParsedMessage(False, (record,), (), envelope="eventbridge")
