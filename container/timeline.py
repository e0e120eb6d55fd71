"""How long the media really is: measured from its packets and its decoded frames, never taken from a header.

Headers estimate (an MP3 without a Xing/VBRI header is timed from its first frame's bitrate) or are missing
(a browser's MediaRecorder WebM has no Duration). So:

* :func:`scan` demuxes the chosen streams once, without decoding, before the transcode: the span of their
  packets plans the storyboard interval, the poster time and the output cap. A demuxer error on the way is
  evidence of damage: ``corrupt_media``.
* :class:`Extent` tracks what the decode pass really produced (first and last frame of each stream); the
  outputs are checked against that.
* A file is truncated only on evidence: its decode stops well before the packets do, or before the chosen
  streams' own duration where the container holds one in an index (MP4/MOV track durations, AVI, WAV, FLAC;
  Matroska streams rarely carry one), never against a bitrate estimate or another track's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av

from container.errors import Rejected
from container.extent import Extent

# demuxers whose duration comes from an index or a sample count, not from an estimate
INDEXED_DEMUXERS = frozenset({"mov", "matroska", "avi", "wav", "flac"})


def truncation_slack(seconds: float) -> float:
    """How much shorter than expected media may end before it counts as truncated (1 s or 5 %)."""
    return max(1.0, 0.05 * seconds)


@dataclass(frozen=True)
class Timeline:
    """The span of the chosen streams' packets, of the video's alone, and the longest audio packet (codec frame
    granularity)."""

    seconds: float
    audio_frame: float
    video_seconds: float = 0.0


def scan(container: av.container.InputContainer, streams: list[Any]) -> Timeline:
    """Demux ``streams`` to the end (no decode) and measure their span."""
    extent, video = Extent(), Extent()
    try:
        for packet in container.demux(*streams):
            # discarded packets are an edit list's pre-roll (a clip trimmed without re-encoding): not shown
            if packet.size == 0 or packet.time_base is None or packet.is_discard:
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                continue
            start = float(stamp * packet.time_base)
            length = float((packet.duration or 0) * packet.time_base)
            extent.add(packet.stream.type, start, length)
            if packet.stream.type == "video":
                video.add("video", start, length)
    except av.error.FFmpegError as exc:
        raise Rejected(
            "corrupt_media", f"the file is damaged after {extent.seconds:.1f} s of media: {exc}"
        ) from None
    return Timeline(seconds=extent.seconds, audio_frame=extent.audio_frame, video_seconds=video.seconds)


@dataclass(frozen=True)
class Decoded:
    """What the decode pass produced: its media time and its longest audio frame, seconds."""

    seconds: float
    audio_frame: float = 0.0


def check_complete(decoded: float, probe: Any) -> None:
    """Reject as truncated when the decode stops well short of the packets, or well short of the chosen streams'
    duration in an indexed container (``probe``: a container.probe.Probe)."""
    packets = probe.media_seconds
    if decoded <= 0:  # frames without timestamps (rare raw streams): nothing to judge by, so no verdict
        return
    if packets and decoded + truncation_slack(packets) < packets:
        raise Rejected("corrupt_media", f"truncated: {decoded:.1f} s decode of {packets:.1f} s of packets")
    declared = probe.indexed_duration
    if declared and decoded + truncation_slack(declared) < declared:
        raise Rejected(
            "corrupt_media", f"truncated: {decoded:.1f} s decode; the container's index says {declared:.1f} s"
        )
