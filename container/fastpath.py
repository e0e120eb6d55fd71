"""Stream-copy fast path: a rendition the input already is gets remuxed, not re-encoded.

An input qualifies for one rendition when its video is what that rendition would be: H.264 High, yuv420p,
tagged BT.709 or untagged at 720 lines or more (the copy is tagged bt709), no display rotation, exactly the rendition's size, a mean bitrate within the rendition's cap, and keyframes
at most twice the profile's GOP apart (so HLS segments stay short); in an MP4/QuickTime container (remuxed
to a faststart MP4). Its audio is copied too when it is AAC-LC stereo at 44.1 or 48 kHz, else encoded as
every other rendition's is. The decision and its reason go into the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av

from container.probe import Probe, open_input

COPY_DEMUXERS = frozenset({"mov"})
AAC_COPY_RATES = (44100, 48000)


@dataclass(frozen=True)
class CopyPlan:
    """Which rendition (by index into the ladder) is copied, whether its audio is too, and why (not)."""

    index: int | None
    copy_audio: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``fast_path`` entry."""
        return {"used": self.index is not None, "audio_copied": self.copy_audio, "reason": self.reason}


def plan_copy(
    src: str, probe: Probe, sizes: list[tuple[int, int, int]], settings: dict[str, Any]
) -> CopyPlan:
    """Decide the fast path; ``sizes`` holds (width, height, maxrate_kbps) per planned rendition."""
    video = probe.video
    assert video is not None
    if not settings.get("stream_copy", True):
        return CopyPlan(None, False, "disabled by the profile")
    if probe.demuxer not in COPY_DEMUXERS:
        return CopyPlan(None, False, f"container {probe.format_name} is not MP4/QuickTime")
    if video.codec != "h264" or video.pix_fmt != "yuv420p" or video.rotation:
        return CopyPlan(None, False, f"video is {video.codec}/{video.pix_fmt}, rotation {video.rotation}")
    tags = (video.color_primaries, video.color_trc, video.colorspace)
    # A copy is re-tagged bt709 (h264_metadata): right for a BT.709 source, and for an untagged one of 720
    # lines or more, which the encode path takes as BT.709 too (container.color); never for anything else.
    if any(t not in ("bt709", None) for t in tags) or (None in tags and min(video.width, video.height) < 720):
        return CopyPlan(
            None,
            False,
            "colour tags (primaries, transfer, matrix) {} are not bt709".format(
                "/".join(t or "unspecified" for t in tags)
            ),
        )
    match = [i for i, (w, h, _) in enumerate(sizes) if (w, h) == (video.width, video.height)]
    if not match:
        return CopyPlan(None, False, f"{video.width}x{video.height} is no rendition's size")
    index, cap_kbps = match[0], sizes[match[0]][2]
    with open_input(src, probe.demuxer) as inp:
        stream = inp.streams[probe.video_index]
        if stream.codec_context.profile != "High":
            return CopyPlan(None, False, f"H.264 profile {stream.codec_context.profile}, not High")
        audio = inp.streams[probe.audio_index] if probe.audio_index is not None else None
        copy_audio = (
            audio is not None
            and audio.codec_context.name == "aac"
            and audio.codec_context.profile == "LC"
            and audio.codec_context.channels == 2
            and audio.codec_context.sample_rate in AAC_COPY_RATES
        )
        gap, kbps, hidden = _scan(inp, stream)
    if hidden:  # an MP4 keeps the edit list, HLS segments cannot: the pre-roll would play there
        return CopyPlan(None, False, f"an edit list hides {hidden} frames of pre-roll (a trimmed clip)")
    if kbps > cap_kbps:
        return CopyPlan(
            None, False, f"video bitrate {kbps:.0f} kb/s is over the rendition's {cap_kbps} kb/s cap"
        )
    longest = 2 * float(settings["gop_seconds"])
    if gap is None or gap > longest:
        return CopyPlan(None, False, f"keyframes {gap} s apart; at most {longest:g} s allowed")
    return CopyPlan(index, copy_audio, "input already matches this rendition")


def _scan(
    inp: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[float | None, float, int]:
    """Longest keyframe interval (None when the first packet is not one), mean bitrate in kb/s, and how many
    packets an edit list hides."""
    keyframes: list[float] = []
    size, first, last, hidden = 0, None, None, 0
    for packet in inp.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        if packet.is_discard:
            hidden += 1
            continue
        t = float(packet.pts * stream.time_base)
        first = t if first is None else min(first, t)
        last = t if last is None else max(last, t)
        size += packet.size
        if packet.is_keyframe:
            keyframes.append(t)
    if first is None or last is None or not keyframes or keyframes[0] > first:
        return None, 0.0, hidden
    marks = sorted(keyframes) + [last]
    span = max(last - first, 0.001)
    return max(b - a for a, b in zip(marks, marks[1:])), size * 8 / span / 1000, hidden
