"""Deterministic keys: the same source version always maps to the same manifest key.

Layout in the production bucket::

    media/<source id>/manifest.json                 written once, last, with If-None-Match: *
    media/<source id>/<attempt id>/<output name>    the outputs of one attempt; the manifest names its attempt
    rejected/<source id>.json                       a rejection record, written once (If-None-Match: *)
    state/<source id>/exhausted.json                the version was killed for time or memory once

``source id`` hashes (bucket, key, versionId — or, where the bucket is not versioned, ETag and the event's
``sequencer``), so a duplicate delivery of one upload finds the same manifest, and a re-upload under the
same key gets a new id, even one of the same bytes. It comes first and has a fixed length, so no
version's prefix is ever a prefix of another's, whatever the source keys hold. Each attempt (one job of one
delivery) writes under its own prefix, so two attempts never overwrite each other's objects: the first
manifest written wins, and consumers find the winner's objects through it.
"""

from __future__ import annotations

import hashlib

from worker.s3events.parse import SourceRecord

MEDIA_PREFIX = "media/"
REJECTED_PREFIX = "rejected/"
STATE_PREFIX = "state/"
MANIFEST_NAME = "manifest.json"


def source_id(record: SourceRecord) -> str:
    """16 hex digits naming one version of one source object."""
    # Without versioning the ETag names the bytes, not the upload: the sequencer tells two uploads of the same
    # bytes apart (a re-upload after a rejection is processed, not taken for a duplicate).
    unversioned = f"{record.etag}/{record.sequencer}" if record.etag and record.sequencer else record.etag
    version = record.version_id or unversioned or ""
    digest = hashlib.sha256("\0".join((record.bucket, record.key, version)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def version_prefix(record: SourceRecord) -> str:
    """Prefix of everything published for this source version (its manifest and every attempt), ending in '/'."""
    return f"{MEDIA_PREFIX}{source_id(record)}/"


def attempt_prefix(record: SourceRecord, attempt_id: str) -> str:
    """Prefix of the outputs one attempt uploads, ending in '/'."""
    return f"{version_prefix(record)}{attempt_id}/"


def manifest_key(record: SourceRecord) -> str:
    """Key of the manifest: its presence means the version is published."""
    return version_prefix(record) + MANIFEST_NAME


def rejection_key(record: SourceRecord) -> str:
    """Key of the rejection record of a source version."""
    return f"{REJECTED_PREFIX}{source_id(record)}.json"


def exhaustion_key(record: SourceRecord) -> str:
    """Key of the marker written when a run of this version was killed for time or memory."""
    return f"{STATE_PREFIX}{source_id(record)}/exhausted.json"
