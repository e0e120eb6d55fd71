"""Re-open every output before it is declared good: streams, codecs, size, duration, faststart."""
from __future__ import annotations

import os
import struct
from typing import Any

import av

from container.errors import OutputCheckFailed
from container.probe import Probe

EXPECTED_CODEC = {"video": "h264", "audio": "aac", "poster": "mjpeg", "image": "webp"}


def duration_tolerance(seconds: float) -> float:
    """Allowed |output - source| duration gap: 2 %, at least a quarter second."""
    return max(0.25, 0.02 * seconds)


def moov_before_mdat(path: str) -> bool:
    """True when the MP4's index (moov) precedes its media data, so playback starts at once."""
    with open(path, "rb") as fh:
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return False
            size, box = struct.unpack(">I4s", header)
            if box == b"moov":
                return True
            if box == b"mdat":
                return False
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0] - 8
            elif size == 0:
                return False
            fh.seek(size - 8, os.SEEK_CUR)


def verify_outputs(out_dir: str, planned: list[dict[str, Any]], probe: Probe) -> list[dict[str, Any]]:
    """Check each planned output and return it completed with measured facts."""
    return [_verify_one(os.path.join(out_dir, item["name"]), item, probe) for item in planned]


def _verify_one(path: str, item: dict[str, Any], probe: Probe) -> dict[str, Any]:
    name = item["name"]
    if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) == 0:
        raise OutputCheckFailed(f"{name}: missing or empty")
    try:
        with av.open(path) as out:
            vstreams, astreams = list(out.streams.video), list(out.streams.audio)
            duration = float(out.duration / av.time_base) if out.duration else None
            first = next(out.decode(video=0), None) if vstreams else None
    except av.error.FFmpegError as exc:
        raise OutputCheckFailed(f"{name}: does not re-open: {exc}") from None
    kind = item["kind"]
    main = vstreams[0] if kind in ("video", "poster", "image") else (astreams[0] if astreams else None)
    if main is None or main.codec_context.name != EXPECTED_CODEC[kind]:
        raise OutputCheckFailed(f"{name}: expected a {EXPECTED_CODEC[kind]} stream")
    if kind in ("video", "poster", "image"):
        if first is None or (first.width, first.height) != (item["width"], item["height"]):
            raise OutputCheckFailed(f"{name}: expected {item['width']}x{item['height']}")
        if first.rotation:
            raise OutputCheckFailed(f"{name}: still carries a rotation of {first.rotation}")
    if kind in ("video", "audio"):
        if bool(astreams) != item["has_audio"]:
            raise OutputCheckFailed(f"{name}: audio present={bool(astreams)}, expected {item['has_audio']}")
        if probe.duration and (duration is None or abs(duration - probe.duration) > duration_tolerance(probe.duration)):
            raise OutputCheckFailed(f"{name}: duration {duration} differs from the source's {probe.duration}")
        if not moov_before_mdat(path):
            raise OutputCheckFailed(f"{name}: not faststart (moov after mdat)")
    size = os.path.getsize(path)
    bitrate = int(size * 8 / duration) if duration and kind in ("video", "audio") else None
    return {**item, "duration": duration, "size": size, "bitrate": bitrate, "codec": main.codec_context.name}
