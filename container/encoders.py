"""Encoder set-up shared by the video, audio and image paths."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable

import av
from av.video.reformatter import ColorRange, Colorspace

from container.color import tag_bt709, video_chain
from container.errors import Rejected

AAC_RATES = (44100, 48000)


def fit_within(width: int, height: int, max_long: int, max_short: int) -> tuple[int, int]:
    """Largest even size inside the box with the source's aspect; never larger than the source."""
    scale = min(1.0, max_long / max(width, height), max_short / min(width, height))

    def even(value: float, limit: int) -> int:
        # Nearest even number keeps the aspect best; the limit keeps it inside the box and the source.
        return max(2, min(2 * round(value / 2), limit // 2 * 2))

    long_limit, short_limit = (max_long, max_short) if width >= height else (max_short, max_long)
    return even(width * scale, min(width, long_limit)), even(height * scale, min(height, short_limit))


_TRANSPOSE = {
    90: [("transpose", "cclock")],
    -90: [("transpose", "clock")],
    180: [("hflip", ""), ("vflip", "")],
}


def scaling_graph(
    template: Any, rotation: int, width: int, height: int, pix_fmt: str = "yuv420p", video: Any = None
) -> av.filter.Graph:
    """buffer (shaped like the ``template`` stream or frame) → undo the display rotation (as ffmpeg's autorotate
    does) → scale → pixel format → sink; with ``video`` (the probe's VideoInfo), the scale also converts to
    BT.709 SDR (see container.color)."""
    graph = av.filter.Graph()
    in_range = ""
    if isinstance(template, av.VideoFrame):
        chain = [
            graph.add_buffer(
                width=template.width,
                height=template.height,
                format=template.format.name,
                time_base=Fraction(1, 1),
            )
        ]
        # a buffer made from a frame's shape knows nothing of its range: a JPEG's full range must be said
        in_range = {1: ":in_range=tv", 2: ":in_range=pc"}.get(int(template.color_range), "")
    else:
        chain = [graph.add_buffer(template=template)]
    for name, args in _TRANSPOSE.get(rotation, []):
        chain.append(graph.add(name, args))
    steps = (
        video_chain(video, width, height, pix_fmt)
        if video is not None
        else [("scale", f"{width}:{height}:flags=lanczos{in_range}:out_range=tv"), ("format", pix_fmt)]
    )  # WebP: limited
    for name, args in steps:
        chain.append(graph.add(name, args))
    chain.append(graph.add("buffersink"))
    graph.link_nodes(*chain).configure()
    return graph


def add_h264(
    out: av.container.OutputContainer,
    *,
    width: int,
    height: int,
    fps: float,
    time_base: Fraction,
    threads: int,
    settings: dict[str, Any],
) -> av.video.stream.VideoStream:
    """libx264, yuv420p, capped CRF, GOP of about ``gop_seconds``."""
    stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    # The input's time base keeps variable-frame-rate timestamps exact.
    stream.codec_context.time_base = time_base
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    stream.codec_context.gop_size = max(1, int(round(fps * float(settings["gop_seconds"]))))
    tag_bt709(stream.codec_context)
    maxrate = int(settings["maxrate_kbps"])
    stream.codec_context.options = {
        "crf": str(settings["crf"]),
        "preset": str(settings["preset"]),
        "maxrate": f"{maxrate}k",
        "bufsize": f"{2 * maxrate}k",
        "profile": "high",
    }
    return stream


def add_aac(
    out: av.container.OutputContainer, *, source_rate: int, bitrate_kbps: int
) -> av.audio.stream.AudioStream:
    """AAC-LC stereo; PyAV resamples and re-frames the decoded audio for it."""
    rate = source_rate if source_rate in AAC_RATES else 48000
    stream = out.add_stream("aac", rate=rate)
    stream.codec_context.layout = "stereo"
    stream.codec_context.bit_rate = bitrate_kbps * 1000
    return stream


def write_jpeg(frame: av.VideoFrame, path: str, quality: int) -> None:
    """One BT.709 limited-range frame as a baseline JPEG (full-range BT.601, as JPEG decoders read it; the raw
    mjpeg muxer writes exactly one image)."""
    with av.open(path, "w", format="mjpeg") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuvj420p"
        # Pinning qmin = qmax is how the mjpeg encoder takes a fixed quality (2 best … 31 worst).
        stream.codec_context.options = {"qmin": str(quality), "qmax": str(quality)}
        image = frame.reformat(
            format="yuvj420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU601,
            src_color_range=ColorRange.MPEG,
            dst_color_range=ColorRange.JPEG,
        )
        image.pts = 0
        for packet in stream.encode(image):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def decode_packet(packet: av.Packet) -> list[av.frame.Frame]:
    """Decode one packet; a decoder error means the upload is corrupt, not that we failed."""
    try:
        return packet.decode()
    except (av.error.MemoryError, av.error.ExternalError):
        raise  # resource exhaustion, not a bad file: the host retries once
    except av.error.FFmpegError as exc:
        raise Rejected("decode_failed", f"{packet.stream.type} stream does not decode: {exc}") from None


def mux_all(out: av.container.OutputContainer, packets: Iterable[av.Packet]) -> None:
    """Mux every packet an encoder returned."""
    for packet in packets:
        out.mux(packet)
