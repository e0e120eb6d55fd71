"""Deterministic output keys: the same source version always maps to the same keys.

Layout in the production bucket::

    media/<safe source key>/<source id>/<output name>     outputs
    media/<safe source key>/<source id>/manifest.json     written last: the completion marker
    rejected/<safe source key>/<source id>.json           a rejection record

``source id`` hashes (bucket, key, versionId or ETag), so a duplicate delivery
of one upload rewrites the same keys, and a re-upload under the same key gets
a new id. ``safe source key`` keeps the key readable yet can never climb out
of its prefix, whatever the source key holds.
"""
from __future__ import annotations

import hashlib
import re

from worker.events import SourceRecord

MEDIA_PREFIX = "media/"
REJECTED_PREFIX = "rejected/"
MANIFEST_NAME = "manifest.json"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_SAFE_KEY = 512


def source_id(record: SourceRecord) -> str:
    """16 hex digits naming one version of one source object."""
    version = record.version_id or record.etag or ""
    digest = hashlib.sha256("\0".join((record.bucket, record.key, version)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def safe_key(key: str) -> str:
    """The source key as path segments with no '.', '..', empty or control characters."""
    parts = [_UNSAFE.sub("_", part) for part in key.split("/")]
    parts = [p for p in parts if p not in ("", ".", "..")]
    text = "/".join(parts) or "_"
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_SAFE_KEY:
        text = encoded[:MAX_SAFE_KEY].decode("utf-8", "ignore").strip("/") + "~"
    return text


def output_prefix(record: SourceRecord) -> str:
    """Prefix of every output of this source version, ending in '/'."""
    return f"{MEDIA_PREFIX}{safe_key(record.key)}/{source_id(record)}/"


def manifest_key(record: SourceRecord) -> str:
    """Key of the manifest, the last object written for a source version."""
    return output_prefix(record) + MANIFEST_NAME


def rejection_key(record: SourceRecord) -> str:
    """Key of the rejection record of a source version."""
    return f"{REJECTED_PREFIX}{safe_key(record.key)}/{source_id(record)}.json"
