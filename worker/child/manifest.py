"""What a published version's manifest says, built in one place: the source as admitted, what the sandbox
found, every output (the manifest is written last and names them all), and how long each stage took."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from worker import __version__
from worker.child.keys import source_id
from worker.child.outputs import fast_path, key_of
from worker.child.precheck import Signature
from worker.child.storage import SourceObject

if TYPE_CHECKING:
    from worker.child.job import Job

SCHEMA = 2


@dataclass(frozen=True)
class Admitted:
    """An upload past the host's checks: the exact version's HEAD and its signature."""

    head: SourceObject
    signature: Signature


def build_manifest(
    job: Job,
    admitted: Admitted,
    result: dict[str, Any],
    outputs: list[dict[str, Any]],
    profile_names: dict[str, str],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The manifest of ``job``'s attempt: ``result`` is the sandbox's checked result.json, ``outputs`` the
    entries worker.child.outputs collected (uploaded, with their sizes and digests)."""
    record, head = job.record, admitted.head
    return {
        "schema": SCHEMA,
        "source": {
            **record.identity(),
            "size": head.size,
            "etag": head.etag or record.etag,
            "declared_content_type": head.content_type,
        },
        "source_id": source_id(record),
        "signature": admitted.signature.name,
        "sniffed": result.get("sniffed"),
        "kind": result.get("kind"),
        "profile": profile_names.get(str(result.get("kind"))),
        "probe": result.get("probe"),
        "hls_master": key_of(outputs, "hls_master"),
        "fast_path": fast_path(result),
        "outputs": outputs,
        "timings": dict(timings),
        "versions": {"worker": __version__, **result.get("versions", {})},
        "job": {
            "job_id": job.job_id,
            "attempt_id": job.job_id,
            "message_id": job.message_id,
            "receive_count": job.receive_count,
        },
        "created_at": now(),
    }


def now() -> str:
    """A timestamp of records we write (manifests, rejections, markers): UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
