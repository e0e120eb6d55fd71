"""What an SQS body means, as plain values: the source records, bad records and ignored events of one message."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from worker.errors import Reason


@dataclass(frozen=True)
class SourceRecord:
    """One uploaded object version, as the event names it."""

    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None
    event_name: str
    event_time: str | None = None
    sequencer: str | None = None  # S3's per-key order of events: a later write of the key has a larger one
    # Another spelling of the key, tried only when ``key`` is not found: EventBridge's keys arrive either raw
    # or URL-encoded (see worker.s3events.envelopes and worker.child.spelling).
    alt_key: str | None = None

    def identity(self) -> dict[str, Any]:
        """The fields that name the source in manifests, rejection records and status events (``sequencer``
        and ``event_time`` let a consumer tell which of two versions of a key is the newer)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "sequencer": self.sequencer,
            "event_time": self.event_time,
        }

    def spelled(self, key: str) -> SourceRecord:
        """This record under one settled spelling of its key."""
        return replace(self, key=key, alt_key=None)


@dataclass(frozen=True)
class BadRecord:
    """A record of an otherwise usable message that cannot be a job: reported alone (see worker.parent.service)."""

    index: int
    reason: Reason
    message: str
    raw: str  # the record as JSON, for its DLQ copy


@dataclass(frozen=True)
class ParsedMessage:
    """What one SQS body means: a test event, records to process, records ignored, and bad records."""

    test_event: bool
    records: tuple[SourceRecord, ...]
    ignored: tuple[str, ...]
    bad: tuple[BadRecord, ...] = ()
    envelope: str = "s3"  # how it came: s3 (straight, or SNS raw delivery), sns or eventbridge
