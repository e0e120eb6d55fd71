"""Deep probe: sniff the type, open the input with its one demuxer, describe the chosen streams, decode a first
frame, and measure the packets' span (see container.timeline)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av

from container.errors import Rejected
from container.limits import Limits
from container.sniff import HEIF_MIMES, MediaType
from container.timeline import INDEXED_DEMUXERS, scan

IMAGE_DEMUXERS = frozenset(
    {
        "png_pipe",
        "jpeg_pipe",
        "webp_pipe",
        "bmp_pipe",
        "tiff_pipe",
        "gif",
        "gif_pipe",
        "image2",
        "qoi_pipe",
    }
)
# Only the local file, only the chosen demuxer: a hostile upload must not make FFmpeg open URLs or other
# files, nor switch to a nested playlist/concat demuxer (FFmpeg copies these lists into nested demuxers).
OPEN_OPTIONS = {"protocol_whitelist": "file"}
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$")


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    rotation: int
    pix_fmt: str | None
    color_trc: str | None = None  # transfer as FFmpeg names it (arib-std-b67, smpte2084, bt709, …)
    color_primaries: str | None = None
    colorspace: str | None = None  # the YUV matrix

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height once the rotation is applied."""
        return (self.height, self.width) if abs(self.rotation) == 90 else (self.width, self.height)


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int
    language: str | None = None


@dataclass(frozen=True)
class Probe:
    format_name: str
    kind: str
    duration: float | None  # what the container declares (an estimate for some formats)
    video: VideoInfo | None
    audio: AudioInfo | None
    demuxer: str = ""
    mime: str = ""
    media_seconds: float = 0.0  # the span of the chosen streams' packets (container.timeline.scan)
    audio_frame: float = 0.0  # the longest audio packet, seconds
    video_seconds: float = 0.0  # the span of the video stream's packets alone
    indexed_duration: float | None = None  # the chosen streams' own duration where an index holds it
    video_index: int | None = None
    audio_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for result.json and the manifest."""
        out = asdict(self)
        if self.video:
            out["video"]["display_width"], out["video"]["display_height"] = self.video.display_size
        return out


def open_input(path: str, demuxer: str | None) -> av.container.InputContainer:
    """Open ``path`` with the one demuxer the sniff chose."""
    options = dict(OPEN_OPTIONS)
    if demuxer:
        options["format_whitelist"] = demuxer
    try:
        return av.open(path, format=demuxer, options=options)
    except av.error.FFmpegError as exc:
        raise Rejected("corrupt_media", f"cannot open as media: {exc}") from None


def main_streams(container: av.container.InputContainer) -> tuple[Any, Any]:
    """The video and the audio stream the outputs are made of: the default-flagged one of each type, else the
    first (cover art is no video)."""

    def pick(streams: list[Any]) -> Any:
        flagged = [s for s in streams if s.disposition & av.stream.Disposition.default]
        return (flagged or streams or [None])[0]

    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    return pick(videos), pick(list(container.streams.audio))


def normalise_rotation(degrees: float | int | None) -> int:
    """Round a display rotation to one of 0, 90, -90, 180."""
    if not degrees:
        return 0
    value = int(round(float(degrees) / 90.0)) * 90 % 360
    return {0: 0, 90: 90, 180: 180, 270: -90}[value]


def probe_input(path: str, media: MediaType, limits: Limits | None = None) -> Probe:
    """Describe the input within ``limits``; raise :class:`Rejected` if we cannot or must not process it."""
    limits = limits or Limits()
    demuxer = media.demuxer
    if media.mime in HEIF_MIMES:
        return _heif_probe(path, media, limits)
    with open_input(path, demuxer) as container:
        fmt = container.format.name
        if len(container.streams) > limits.max_streams:
            raise Rejected(
                "over_limit", f"{len(container.streams)} streams; the limit is {limits.max_streams}"
            )
        vstream, astream = main_streams(container)
        if media.mime == "image/avif" and len(container.streams.video) > 1:
            # FFmpeg exposes an AVIF grid as its tiles, and this sandbox's libheif has no AV1 decoder
            raise Rejected("unsupported_type", f"a gridded AVIF ({len(container.streams.video)} tiles)")
        duration = (
            float(container.duration / av.time_base)
            if container.duration and container.duration > 0
            else None
        )
        indexed = _indexed_duration(demuxer, (vstream, astream))
        if indexed:
            limits.check_duration(indexed)  # cheap and early; the packets are checked below whatever it says
        audio = _audio_info(astream) if astream is not None else None
        if audio:
            limits.check_audio(audio.channels, audio.sample_rate)
        video = _video_info(container, vstream, limits) if vstream is not None else None
        indices = (
            vstream.index if vstream is not None else None,
            astream.index if astream is not None else None,
        )
    if video and (fmt.split(",")[0] in IMAGE_DEMUXERS or media.kind == "image"):
        kind = "image"
    elif video:
        kind = "video"
    elif audio:
        kind = "audio"
    else:
        raise Rejected("no_media_streams", f"{fmt} input holds no audio or video stream")
    timeline = None
    if kind != "image":
        with open_input(path, demuxer) as container:
            timeline = scan(container, [container.streams[i] for i in indices if i is not None])
        limits.check_duration(timeline.seconds, "the media")
    return Probe(
        format_name=fmt,
        kind=kind,
        duration=duration,
        video=video,
        audio=audio,
        demuxer=demuxer,
        mime=media.mime,
        media_seconds=timeline.seconds if timeline else 0.0,
        audio_frame=timeline.audio_frame if timeline else 0.0,
        indexed_duration=indexed,
        video_seconds=timeline.video_seconds if timeline else 0.0,
        video_index=indices[0],
        audio_index=indices[1],
    )


def _indexed_duration(demuxer: str, streams: tuple[Any, Any]) -> float | None:
    """The longest of the chosen streams' own durations, for a container that keeps them in an index (the
    whole file's may be a longer other track's, or an estimate)."""
    if demuxer not in INDEXED_DEMUXERS:
        return None
    seconds = [
        float(s.duration * s.time_base)
        for s in streams
        if s is not None and s.duration and s.duration > 0 and s.time_base
    ]
    return max(seconds) if seconds else None


def _heif_probe(path: str, media: MediaType, limits: Limits) -> Probe:
    from container.heif import probe_heif

    facts = probe_heif(path, media, limits)
    video = VideoInfo(
        codec="hevc",
        width=facts["width"],
        height=facts["height"],
        fps=0.0,
        rotation=0,
        pix_fmt=facts["pix_fmt"],
    )
    return Probe(
        format_name="heif", kind="image", duration=None, video=video, audio=None, demuxer="", mime=media.mime
    )


def _video_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, limits: Limits
) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    if float(rate) > limits.max_fps:
        raise Rejected(
            "over_limit", f"{float(rate):.0f} frames per second; the limit is {limits.max_fps:.0f}"
        )
    ctx = stream.codec_context
    if ctx.width or ctx.height:  # the header's claim, checked before a frame is allocated
        limits.check_size(ctx.width, ctx.height, "the video stream")
    frame = _first_frame(container, stream)
    limits.check_size(frame.width, frame.height, "the first frame")
    return VideoInfo(
        codec=stream.codec_context.name,
        width=frame.width,
        height=frame.height,
        fps=float(rate),
        rotation=normalise_rotation(frame.rotation),
        pix_fmt=frame.format.name,
        **color_tags(frame),
    )


def color_tags(frame: av.VideoFrame) -> dict[str, str | None]:
    """The frame's transfer, primaries and matrix by FFmpeg's names; None where unspecified."""
    from container.color import frame_tags

    return frame_tags(frame)


def _first_frame(container: av.container.InputContainer, stream: av.stream.Stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise Rejected("decode_failed", f"the first video frame does not decode: {exc}") from None
    raise Rejected("decode_failed", "the video stream holds no decodable frame")


def _audio_info(stream: av.audio.stream.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    language = stream.metadata.get("language") or ""
    # a tag the upload wrote: kept only in the shape of a language code (the host's schema bounds it too)
    return AudioInfo(
        codec=ctx.name,
        channels=ctx.channels,
        sample_rate=ctx.sample_rate,
        language=language if _LANGUAGE.match(language) else None,
    )
