"""What the sandbox produced, checked on the host: names, types, digests and the facts the manifest carries.

The sandbox is not trusted: an output is accepted only under a plain flat name with a known extension, as
a regular file in the job's output directory, and is digested here. Of what the sandbox says about an
output, only the known facts with scalar values are carried into the manifest.
"""
from __future__ import annotations

import os
import re
from typing import Any

from worker.errors import Reason, RetryableError
from worker.keys import MANIFEST_NAME
from worker.storage import file_digest

CONTENT_TYPES = {
    ".mp4": "video/mp4", ".m4a": "audio/mp4", ".jpg": "image/jpeg", ".webp": "image/webp",
    ".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".vtt": "text/vtt",
    ".json": "application/json", ".mp3": "audio/mpeg", ".opus": "audio/ogg",
}
FACTS = ("kind", "rendition", "width", "height", "duration", "bitrate", "codec", "method", "audio_method",
         "segments", "variants", "tiles", "tile_width", "tile_height", "columns", "interval", "cues", "length",
         "samples_per_pixel", "sample_rate", "loudness_lufs", "animated")
_OUTPUT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def collect_outputs(result: dict[str, Any], out_dir: str, prefix: str) -> list[dict[str, Any]]:
    """Check what the sandbox claims against the files; return the manifest's output entries."""
    items = result.get("outputs")
    if not isinstance(items, list) or not items:
        raise RetryableError(Reason.OUTPUT_CHECK_FAILED, "the sandbox reported no outputs")
    collected, seen = [], set()
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        ext = os.path.splitext(name or "")[1]
        if not name or not _OUTPUT_NAME.match(name) or ext not in CONTENT_TYPES or name == MANIFEST_NAME \
                or name in seen:
            raise RetryableError(Reason.OUTPUT_CHECK_FAILED, f"unexpected output name {name!r}")
        seen.add(name)
        path = os.path.join(out_dir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            raise RetryableError(Reason.OUTPUT_CHECK_FAILED, f"output {name} is not a regular file")
        size, sha256 = file_digest(path)
        facts = {k: item.get(k) for k in FACTS if isinstance(item.get(k), (str, int, float, bool, type(None)))}
        collected.append({"name": name, "key": prefix + name, "content_type": CONTENT_TYPES[ext],
                          "size": size, "sha256": sha256, **facts})
    return collected


def fast_path(result: dict[str, Any]) -> dict[str, Any] | None:
    """The sandbox's stream-copy decision, reduced to its three documented fields."""
    for item in result.get("outputs") or []:
        decision = item.get("fast_path") if isinstance(item, dict) else None
        if isinstance(decision, dict):
            return {"used": bool(decision.get("used")), "audio_copied": bool(decision.get("audio_copied")),
                    "reason": str(decision.get("reason", ""))[:200]}
    return None


def key_of(outputs: list[dict[str, Any]], kind: str) -> str | None:
    """Key of the first output of ``kind`` (the HLS master playlist, say), or None."""
    return next((item["key"] for item in outputs if item.get("kind") == kind), None)
