"""Re-open every output before it is declared good; a failed check is an internal error, never a publish.

Media outputs are re-probed: codec, dimensions as planned, no leftover rotation, bt709 colour tags on every
video stream, audio present if and only if the source had audio, faststart for MP4/M4A, and a duration
close to what the decode pass produced (container.timeline), never to a header's claim. Close means within
0.5 %, or within the codec frame granularity of both ends if that is more: one video frame, plus two of the
source's audio frames (its encoder priming and its last, padded frame) and two of the output's (the same
again: AAC → AAC pays both, a 5 s voice memo's M4A ends 35 ms late). HLS playlists are opened through
FFmpeg's HLS demuxer and their segment times summed; the storyboard, its index, the waveform and the master
playlist are checked against what they claim.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable

import av

from container.errors import OutputCheckFailed
from container.hls import read_playlist
from container.probe import Probe
from container.timeline import Decoded

MEDIA_CODECS = {
    "video": ("h264",),
    "audio": ("aac", "mp3", "opus"),
    "poster": ("mjpeg",),
    "storyboard": ("mjpeg",),
    "image": ("webp",),
    "hls_playlist": ("h264",),
}
DECODER_CODEC = {"mp3float": "mp3"}  # decoder name → the codec it decodes, where they differ
AUDIO_FRAME_SECONDS = 1152 / 44100  # the longest frame of the audio codecs we write (MP3 at 44.1 kHz)
RELATIVE_TOLERANCE = 0.005
BT709 = 1


def duration_tolerance(seconds: float, fps: float | None, source_audio_frame: float | None) -> float:
    """Allowed |output − decoded source| gap: 0.5 %, or the frame granularity of both ends if that is more
    (``source_audio_frame`` None: no audio)."""
    floor = 1 / fps if fps else 0.0
    if source_audio_frame is not None:
        floor += 2 * max(source_audio_frame, 1e-3) + 2 * AUDIO_FRAME_SECONDS
    return max(RELATIVE_TOLERANCE * seconds, floor + 1e-3)


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


def verify_outputs(
    out_dir: str, planned: list[dict[str, Any]], probe: Probe, decoded: Decoded | None
) -> list[dict[str, Any]]:
    """Check each planned output against the source as decoded; return it completed with measured facts."""
    names = {item["name"] for item in planned}
    checked = []
    for item in planned:
        path = os.path.join(out_dir, item["name"])
        if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) == 0:
            raise OutputCheckFailed(f"{item['name']}: missing or empty")
        check = _CHECKS.get(item["kind"], _check_media)
        facts = check(path, item, Source(probe, decoded), names)
        checked.append(
            {"duration": None, "bitrate": None, "codec": None, **item, **facts, "size": os.path.getsize(path)}
        )
    return checked


@dataclass(frozen=True)
class Source:
    """The source as the checks see it: its probe and what its decode produced."""

    probe: Probe
    decoded: Decoded | None

    @property
    def has_audio(self) -> bool:
        return self.probe.audio is not None


def _check_media(path: str, item: dict[str, Any], src: Source, names: set[str]) -> dict[str, Any]:
    name, kind = item["name"], item["kind"]
    try:
        with av.open(path) as out:
            vstreams, astreams = list(out.streams.video), list(out.streams.audio)
            duration = float(out.duration / av.time_base) if out.duration else None
            first = next(out.decode(video=0), None) if vstreams else None
            tags = [
                (s.codec_context.color_primaries, s.codec_context.color_trc, s.codec_context.colorspace)
                for s in vstreams
            ]
    except av.error.FFmpegError as exc:
        raise OutputCheckFailed(f"{name}: does not re-open: {exc}") from None
    timed = kind in ("video", "audio", "hls_playlist")
    main = (astreams or [None])[0] if kind == "audio" else (vstreams or [None])[0]
    codec = DECODER_CODEC.get(main.codec_context.name, main.codec_context.name) if main is not None else None
    if codec not in MEDIA_CODECS[kind] or (item.get("codec") and codec != item["codec"]):
        raise OutputCheckFailed(
            f"{name}: expected a {item.get('codec') or MEDIA_CODECS[kind][0]} stream, not {codec}"
        )
    if kind != "audio":
        if first is None or (first.width, first.height) != (item["width"], item["height"]):
            raise OutputCheckFailed(f"{name}: expected {item['width']}x{item['height']}")
        if first.rotation:
            raise OutputCheckFailed(f"{name}: still carries a rotation of {first.rotation}")
    if kind in ("video", "hls_playlist") and tags != [(BT709, BT709, BT709)]:
        raise OutputCheckFailed(f"{name}: colour tags (primaries, transfer, matrix) {tags}, not bt709")
    if timed:
        if bool(astreams) != src.has_audio:
            raise OutputCheckFailed(f"{name}: audio present={bool(astreams)}, the source's={src.has_audio}")
        _check_duration(name, duration, src)
    if kind == "hls_playlist":
        _check_duration(name, sum(seconds for _, seconds in read_playlist(path)), src)
    elif timed and path.endswith((".mp4", ".m4a")) and not moov_before_mdat(path):
        raise OutputCheckFailed(f"{name}: not faststart (moov after mdat)")
    bitrate = int(os.path.getsize(path) * 8 / duration) if duration and kind in ("video", "audio") else None
    return {"duration": duration if timed else None, "bitrate": bitrate, "codec": codec}


def _check_duration(name: str, duration: float | None, src: Source) -> None:
    if src.decoded is None:
        return
    seconds, probe = src.decoded.seconds, src.probe
    allowed = duration_tolerance(
        seconds,
        probe.video.fps if probe.video else None,
        max(src.decoded.audio_frame, probe.audio_frame) if src.has_audio else None,
    )
    if duration is None or abs(duration - seconds) > allowed:
        raise OutputCheckFailed(
            f"{name}: duration {duration} s differs from the decoded source's {seconds:.3f} s "
            f"by more than {allowed:.3f} s"
        )


def _check_segment(path: str, item: dict[str, Any], src: Source, names: set[str]) -> dict[str, Any]:
    with open(path, "rb") as fh:
        box = fh.read(8)[4:]
    # an fMP4 init segment opens with ftyp; a media segment with styp or moof
    if box not in ((b"ftyp",) if item["kind"] == "hls_init" else (b"styp", b"moof")):
        raise OutputCheckFailed(
            f"{item['name']}: not an fMP4 {item['kind'][4:]} segment (starts with {box!r})"
        )
    return {}


def _check_master(path: str, item: dict[str, Any], src: Source, names: set[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    listed = [line for line in lines if not line.startswith("#")]
    if lines[:1] != ["#EXTM3U"] or not listed or len(listed) != item["variants"] or not set(listed) <= names:
        raise OutputCheckFailed(f"{item['name']}: does not list the {item['variants']} rendition playlists")
    return {}


def _check_index(path: str, item: dict[str, Any], src: Source, names: set[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    cues = text.count(" --> ")
    if not text.startswith("WEBVTT") or cues != item["cues"] or "storyboard.jpg#xywh=" not in text:
        raise OutputCheckFailed(f"{item['name']}: expected a WebVTT index of {item['cues']} cues")
    return {}


def _check_waveform(path: str, item: dict[str, Any], src: Source, names: set[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    expected = (src.decoded.seconds if src.decoded else 0) * item["sample_rate"] / item["samples_per_pixel"]
    if (
        len(doc.get("data", [])) != 2 * doc.get("length", -1)
        or abs(doc["length"] - expected) > 2 + RELATIVE_TOLERANCE * expected
    ):
        raise OutputCheckFailed(f"{item['name']}: {doc.get('length')} peaks; about {expected:.0f} expected")
    return {}


_CHECKS: dict[str, Callable[[str, dict[str, Any], Source, set[str]], dict[str, Any]]] = {
    "hls_init": _check_segment,
    "hls_segment": _check_segment,
    "hls_master": _check_master,
    "storyboard_index": _check_index,
    "waveform": _check_waveform,
}
