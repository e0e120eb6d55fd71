"""Which spelling of an EventBridge key names the upload (see worker.s3events.envelopes): the key as given, else the
URL-decoded one. Only records with an ``alt_key`` pay for this (keys holding ``%`` or ``+``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.child.keys import manifest_key, rejection_key
from worker.errors import MediaWorkerError, Reason
from worker.s3events.records import SourceRecord


@dataclass(frozen=True)
class Spelling:
    """The record under the spelling settled on; ``ambiguous`` when, unversioned, both spellings held the
    event's bytes (one ETag): the outputs are the same either way, but the source must not be deleted."""

    record: SourceRecord
    ambiguous: bool = False


def resolve_spelling(record: SourceRecord, store: Any) -> Spelling:
    """The spelling of ``record``'s key that names the upload.

    In order: a spelling whose version was already published (manifests first: a rejection of the other
    spelling may be stale), then one already rejected; then the first spelling whose exact version
    (VersionId, or the event's ETag) S3 has — any error on one spelling (404, 412, 403…) moves on to the
    next; with none found, the manifests again (another worker may have published and deleted the source
    meanwhile: a manifest is written before its source is deleted), then a spelling that exists with other
    bytes (412: rejected as superseded), else the key as given (rejected as gone). Raises the first
    error that is neither 404 nor 412 when no spelling was found, so an S3 hiccup is retried.
    ``store`` is a worker.child.storage Storage.
    """
    if record.alt_key is None:
        return Spelling(record)
    spellings = [record.spelled(record.key), record.spelled(record.alt_key)]
    done = _published(spellings, store) or next(
        (c for c in spellings if store.exists(rejection_key(c))), None
    )
    if done is not None:
        return Spelling(done)
    found, superseded, error = [], None, None
    for candidate in spellings:
        try:
            store.head_source(candidate)
        except MediaWorkerError as exc:
            if exc.reason is Reason.SOURCE_SUPERSEDED:
                superseded = superseded or candidate
            elif exc.reason is not Reason.SOURCE_GONE:
                error = error or exc
            continue
        found.append(candidate)
        if candidate.version_id:  # a version id names one object version: no other spelling can hold it
            break
    if found:
        return Spelling(found[0], ambiguous=len(found) > 1)
    published = _published(spellings, store)
    if published is not None:
        return Spelling(published)
    if error is not None:
        raise error
    return Spelling(superseded or spellings[0])


def _published(spellings: list[SourceRecord], store: Any) -> SourceRecord | None:
    return next((c for c in spellings if store.exists(manifest_key(c))), None)
