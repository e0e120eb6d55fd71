"""What the sandbox produced, checked on the host: names, types, digests and the facts the manifest carries.

The sandbox is not trusted: its result passed a schema (worker.sandbox.result_schema); an output is accepted
only under a plain flat name with a known extension, as a regular file in the job's output directory, and is
digested here. Of what the sandbox says about an output, only the known facts with scalar values are carried
into the manifest. HLS segments are listed by their media playlists, not in the result: each playlist is read
here (bounded, line by line), its segment URIs must be this rendition's flat segment names, as many as the
result says, and each is collected like any other output, right after its rendition's init segment.
"""

from __future__ import annotations

import os
import re
from typing import Any

from worker.child.keys import MANIFEST_NAME
from worker.child.storage import file_digest
from worker.errors import Reason, RetryableError
from worker.settings import MiB, Settings

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".mp3": "audio/mpeg",
    ".opus": "audio/ogg",
}
FACTS = (
    "kind",
    "rendition",
    "width",
    "height",
    "duration",
    "bitrate",
    "codec",
    "method",
    "audio_method",
    "segments",
    "variants",
    "tiles",
    "tile_width",
    "tile_height",
    "columns",
    "interval",
    "cues",
    "length",
    "samples_per_pixel",
    "sample_rate",
    "loudness_lufs",
    "animated",
)
_OUTPUT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024  # 43 200 one-second segments take about 2.5 MiB


def collect_outputs(result: dict[str, Any], out_dir: str, prefix: str) -> list[dict[str, Any]]:
    """Check what the sandbox claims against the files; return the manifest's output entries."""
    items = result.get("outputs")
    if not isinstance(items, list) or not items:
        raise RetryableError(Reason.OUTPUT_CHECK_FAILED, "the sandbox reported no outputs")
    collected: list[dict[str, Any]] = []
    seen: set[str] = set()
    pending: dict[str, list[dict[str, Any]]] = {}  # rendition → its segments, until its init is collected
    for item in items:
        if not isinstance(item, dict) or item.get("kind") == "hls_segment":
            raise RetryableError(Reason.OUTPUT_CHECK_FAILED, f"unexpected output entry {str(item)[:100]!r}")
        entry = _collect(item, out_dir, prefix, seen)
        collected.append(entry)
        if item.get("kind") == "hls_playlist":
            pending[str(item.get("rendition"))] = _segments(entry, out_dir)
        elif item.get("kind") == "hls_init":
            collected += [
                _collect(seg, out_dir, prefix, seen) for seg in pending.pop(str(item.get("rendition")), [])
            ]
    if pending:
        raise RetryableError(
            Reason.OUTPUT_CHECK_FAILED, f"HLS playlists without an init segment: {sorted(pending)}"
        )
    return collected


def _collect(item: dict[str, Any], out_dir: str, prefix: str, seen: set[str]) -> dict[str, Any]:
    name = item.get("name")
    ext = os.path.splitext(name or "")[1]
    if (
        not name
        or not _OUTPUT_NAME.match(name)
        or ext not in CONTENT_TYPES
        or name == MANIFEST_NAME
        or name in seen
    ):
        raise RetryableError(Reason.OUTPUT_CHECK_FAILED, f"unexpected output name {name!r}")
    seen.add(name)
    path = os.path.join(out_dir, name)
    if os.path.islink(path) or not os.path.isfile(path):
        raise RetryableError(Reason.OUTPUT_CHECK_FAILED, f"output {name} is not a regular file")
    size, sha256 = file_digest(path)
    facts = {k: item.get(k) for k in FACTS if isinstance(item.get(k), (str, int, float, bool, type(None)))}
    return {
        "name": name,
        "key": prefix + name,
        "content_type": CONTENT_TYPES[ext],
        "size": size,
        "sha256": sha256,
        **facts,
    }


def _segments(playlist: dict[str, Any], out_dir: str) -> list[dict[str, Any]]:
    """The segment entries a media playlist lists: ``hls_<rung>_NNNNN.m4s`` names only, as many as claimed."""
    rendition, claimed = str(playlist.get("rendition")), playlist.get("segments")
    pattern = re.compile(rf"^hls_{re.escape(rendition)}_\d{{5,6}}\.m4s$")
    if playlist["size"] > MAX_PLAYLIST_BYTES:
        raise RetryableError(
            Reason.OUTPUT_CHECK_FAILED, f"{playlist['name']} is larger than {MAX_PLAYLIST_BYTES} bytes"
        )
    segments, seconds = [], None
    with open(os.path.join(out_dir, playlist["name"]), encoding="ascii", errors="replace") as fh:
        for line in (raw.strip() for raw in fh):
            if line.startswith("#EXTINF:"):
                seconds = _extinf(line)
            elif line and not line.startswith("#"):
                if not pattern.match(line) or seconds is None:
                    raise RetryableError(
                        Reason.OUTPUT_CHECK_FAILED, f"{playlist['name']} lists {line[:80]!r}"
                    )
                segments.append(
                    {"name": line, "kind": "hls_segment", "rendition": rendition, "duration": seconds}
                )
                seconds = None
    if not isinstance(claimed, int) or len(segments) != claimed or not segments:
        raise RetryableError(
            Reason.OUTPUT_CHECK_FAILED,
            f"{playlist['name']} lists {len(segments)} segments; the sandbox said {claimed}",
        )
    return segments


def _extinf(line: str) -> float | None:
    try:
        value = float(line[8:].split(",", 1)[0])
    except ValueError:
        return None
    return value if 0 <= value < 3600 else None


def fast_path(result: dict[str, Any]) -> dict[str, Any] | None:
    """The sandbox's stream-copy decision, reduced to its three documented fields."""
    for item in result.get("outputs") or []:
        decision = item.get("fast_path") if isinstance(item, dict) else None
        if isinstance(decision, dict):
            return {
                "used": bool(decision.get("used")),
                "audio_copied": bool(decision.get("audio_copied")),
                "reason": str(decision.get("reason", ""))[:200],
            }
    return None


def key_of(outputs: list[dict[str, Any]], kind: str) -> str | None:
    """Key of the first output of ``kind`` (the HLS master playlist, say), or None."""
    return next((item["key"] for item in outputs if item.get("kind") == kind), None)


def output_ceiling(settings: Settings) -> int:
    """What one job may write: ``MAX_OUTPUT_MB``, or its share of the work directory (a tmpfs: RAM) if less, so
    that a pool of jobs at their ceilings cannot fill it (a full one is retried as ``work_dir_full``)."""
    fs = os.statvfs(settings.work_dir)
    share = fs.f_blocks * fs.f_frsize // max(1, settings.pool) - settings.max_file_size
    return max(16 * MiB, min(settings.max_output_mb * MiB, share))
