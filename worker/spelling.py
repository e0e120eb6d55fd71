"""Which spelling of an EventBridge key names the upload (see worker.envelopes): the key as given, else the
URL-decoded one. Only records with an ``alt_key`` pay for this (keys holding ``%`` or ``+``)."""
from __future__ import annotations

from typing import Any

from worker.errors import PermanentError, Reason
from worker.keys import manifest_key, rejection_key
from worker.records import SourceRecord

_NOT_THIS_ONE = (Reason.SOURCE_GONE, Reason.SOURCE_SUPERSEDED)


def resolve_spelling(record: SourceRecord, store: Any) -> SourceRecord:
    """The record under the spelling of its key that names the upload.

    First a spelling whose version was already published or rejected (a duplicate delivery, after the source
    was deleted), then the first spelling whose exact version (VersionId, or the event's ETag) S3 has. With
    neither, the key as given: the job then rejects it as ``source_gone`` as it would any vanished upload.
    ``store`` is a worker.storage Storage.
    """
    if record.alt_key is None:
        return record
    spellings = [record.spelled(record.key), record.spelled(record.alt_key)]
    for candidate in spellings:
        if store.exists(manifest_key(candidate)) or store.exists(rejection_key(candidate)):
            return candidate
    for candidate in spellings:
        try:
            store.head_source(candidate)
        except PermanentError as exc:
            if exc.reason not in _NOT_THIS_ONE:
                raise
            continue
        return candidate
    return spellings[0]
