"""How a job ended (``Outcome``) and the statuses the parent and the user's status events name (``Status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A job's outcome (the first four), and what the user's application hears (published, rejected,
    dead_lettered). String-valued: they are metric labels, log fields and event types as they are."""

    PUBLISHED = "published"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"  # already published or rejected: tidied up and announced again
    RETRY = "retry"  # back off, the queue brings it again (the DLQ after maxReceiveCount)
    DEAD_LETTERED = "dead_lettered"  # the parent's, for a message's last failed receive


@dataclass(frozen=True)
class Outcome:
    """How a job ended. ``status`` is published, rejected, duplicate or retry."""

    job_id: str
    status: Status
    reason: str | None = None
    message: str = ""
    key: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    bytes_in: int = 0  # downloaded from the temp bucket
    bytes_out: int = 0  # published to the production bucket
    announce: str | None = (
        None  # a duplicate re-announces the version's outcome (same event id): at least once
    )
    source_key: str | None = None  # the key's spelling that named the upload, when the event gave two
    source_delete: str | None = None  # deleted, kept (a newer upload replaced it) or failed
