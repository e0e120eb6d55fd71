"""Deep probe: open the input with PyAV, describe its streams, decode a first frame."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av

from container.errors import Rejected
from container.limits import Limits

IMAGE_DEMUXERS = frozenset({
    "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif", "gif_pipe", "image2", "qoi_pipe",
})
# Only the local file, only the chosen demuxer: a hostile upload must not make FFmpeg open URLs or other
# files, nor switch to a nested playlist/concat demuxer (FFmpeg copies these lists into nested demuxers).
OPEN_OPTIONS = {"protocol_whitelist": "file"}


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    rotation: int
    pix_fmt: str | None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height once the rotation is applied."""
        return (self.height, self.width) if abs(self.rotation) == 90 else (self.width, self.height)


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class Probe:
    format_name: str
    kind: str
    duration: float | None
    video: VideoInfo | None
    audio: AudioInfo | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for result.json and the manifest."""
        out = asdict(self)
        if self.video:
            out["video"]["display_width"], out["video"]["display_height"] = self.video.display_size
        return out


def open_input(path: str, demuxer: str | None) -> av.container.InputContainer:
    """Open ``path`` with one fixed demuxer when the host sniffed one."""
    options = dict(OPEN_OPTIONS)
    if demuxer:
        options["format_whitelist"] = demuxer
    try:
        return av.open(path, format=demuxer, options=options)
    except av.error.FFmpegError as exc:
        raise Rejected("corrupt_media", f"cannot open as media: {exc}") from None


def normalise_rotation(degrees: float | int | None) -> int:
    """Round a display rotation to one of 0, 90, -90, 180."""
    if not degrees:
        return 0
    value = int(round(float(degrees) / 90.0)) * 90 % 360
    return {0: 0, 90: 90, 180: 180, 270: -90}[value]


def probe_input(path: str, demuxer: str | None, kind_hint: str | None, limits: Limits | None = None) -> Probe:
    """Describe the input within ``limits``; raise :class:`Rejected` if we cannot or must not process it."""
    limits = limits or Limits()
    with open_input(path, demuxer) as container:
        fmt = container.format.name
        if len(container.streams) > limits.max_streams:
            raise Rejected("over_limit", f"{len(container.streams)} streams; the limit is {limits.max_streams}")
        vstreams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        astreams = list(container.streams.audio)
        duration = float(container.duration / av.time_base) if container.duration else None
        limits.check_duration(duration)
        audio = _audio_info(astreams[0]) if astreams else None
        if audio:
            limits.check_audio(audio.channels, audio.sample_rate)
        video = _video_info(container, vstreams[0], limits) if vstreams else None
    if video and (fmt.split(",")[0] in IMAGE_DEMUXERS or kind_hint == "image"):
        kind = "image"
    elif video:
        kind = "video"
    elif audio:
        kind = "audio"
    else:
        raise Rejected("no_media_streams", f"{fmt} input holds no audio or video stream")
    return Probe(format_name=fmt, kind=kind, duration=duration, video=video, audio=audio)


def _video_info(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                limits: Limits) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    if float(rate) > limits.max_fps:
        raise Rejected("over_limit", f"{float(rate):.0f} frames per second; the limit is {limits.max_fps:.0f}")
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
    )


def _first_frame(container: av.container.InputContainer, stream: av.stream.Stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise Rejected("decode_failed", f"the first video frame does not decode: {exc}") from None
    raise Rejected("decode_failed", "the video stream holds no decodable frame")


def _audio_info(stream: av.audio.stream.AudioStream) -> AudioInfo:
    ctx = stream.codec_context
    return AudioInfo(codec=ctx.name, channels=ctx.channels, sample_rate=ctx.sample_rate)
