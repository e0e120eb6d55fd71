"""Small media generated with PyAV (FFmpeg's lavfi test sources): the demo's uploads and the tests' inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av


def make_video(
    path: str,
    *,
    width: int = 640,
    height: int = 360,
    seconds: float = 2.0,
    fps: int = 25,
    audio: bool = True,
    rotation: int = 0,
    codec: str = "libx264",
    fmt: str | None = None,
    options: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """A test-pattern clip (with a sine tone when ``audio``), optionally tagged with a display rotation;
    ``options`` go to the video encoder, ``metadata`` into the container's tags."""
    with av.open(path, "w", format=fmt) as out:
        out.metadata.update(metadata or {})
        vstream = out.add_stream(codec, rate=fps, options=options or {})
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        if rotation:
            vstream.set_display_rotation(rotation)
        astream = out.add_stream("aac" if codec == "libx264" else "libopus", rate=48000) if audio else None
        with av.open(f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}", format="lavfi") as src:
            for frame in src.decode(video=0):
                frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I: all-intra else
                out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))
        if astream is not None:
            with av.open(f"sine=frequency=440:duration={seconds}:sample_rate=48000", format="lavfi") as src:
                for frame in src.decode(audio=0):
                    out.mux(astream.encode(frame))
            out.mux(astream.encode(None))
    return path


def make_audio(path: str, *, seconds: float = 2.0, codec: str = "libmp3lame", fmt: str | None = None) -> str:
    """A sine tone, MP3 by default."""
    with av.open(path, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=44100)
        with av.open(f"sine=frequency=660:duration={seconds}:sample_rate=44100", format="lavfi") as src:
            for frame in src.decode(audio=0):
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_animation(path: str, *, width: int = 320, height: int = 240, frames: int = 5) -> str:
    """An animated GIF of ``frames`` test-pattern frames."""
    with (
        av.open(f"testsrc2=size={width}x{height}:rate=5:duration={frames / 5}", format="lavfi") as src,
        av.open(path, "w", format="gif") as out,
    ):
        stream = out.add_stream("gif", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb8"
        for frame in src.decode(video=0):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_image(path: str, *, width: int = 1200, height: int = 800, codec: str = "png") -> str:
    """One test-pattern picture (PNG by default; ``mjpeg`` for JPEG)."""
    with av.open(f"testsrc2=size={width}x{height}:rate=1:duration=1", format="lavfi") as src:
        frame = next(src.decode(video=0))
    pix_fmt = {"png": "rgb24", "mjpeg": "yuvj420p", "libwebp": "yuv420p"}[codec]
    fmt = {"png": "image2", "mjpeg": "mjpeg", "libwebp": "webp"}[codec]
    with av.open(path, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        image = frame.reformat(format=pix_fmt)
        image.pts = 0
        out.mux(stream.encode(image))
        out.mux(stream.encode(None))
    return path


def make_corrupt(path: str, source: str) -> str:
    """The first half of a valid MP4 with its header bytes scrambled: sniffs as MP4, decodes as nothing."""
    with open(source, "rb") as fh:
        data = bytearray(fh.read())
    data = data[: len(data) // 2]
    for i in range(64, min(len(data), 4096)):
        data[i] = (data[i] * 7 + 13) % 256
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    return path


@dataclass(frozen=True)
class Sample:
    """A demo upload and what the pipeline must do with it."""

    key: str
    path: str
    expect: str  # "published" or "rejected"
    what: str


def demo_samples(directory: str) -> list[Sample]:
    """The demo set: the media kinds, a portrait phone clip, a key with spaces, and a corrupt file."""
    os.makedirs(directory, exist_ok=True)
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    clip = make_video(p("clip.mp4"), seconds=3)
    return [
        Sample("uploads/holiday clip.mp4", clip, "published", "video with audio, key with a space"),
        Sample(
            "uploads/silent.webm",
            make_video(p("silent.webm"), codec="libvpx-vp9", audio=False, seconds=2, width=480, height=270),
            "published",
            "VP9 video, no audio",
        ),
        Sample(
            "uploads/portrait.mov",
            make_video(p("portrait.mov"), width=640, height=360, rotation=-90, seconds=2),
            "published",
            "phone clip rotated to portrait",
        ),
        Sample("uploads/tone.mp3", make_audio(p("tone.mp3")), "published", "audio only"),
        Sample(
            "uploads/picture.png",
            make_image(p("picture.png"), width=2400, height=1600),
            "published",
            "image, larger than 2048 px",
        ),
        Sample("uploads/broken.mp4", make_corrupt(p("broken.mp4"), clip), "rejected", "corrupt MP4"),
    ]
