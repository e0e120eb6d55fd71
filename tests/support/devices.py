"""Uploads in the shapes real devices and apps produce, made by *other* tools: Debian's ffmpeg (5.1), libheif
(through pillow-heif) and Pillow. Never by our own encoder, so our assumptions cannot shape the inputs.

Each :class:`Device` names what real thing makes the file and what a correct run must end with.
"""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable

LAVFI_AUDIO = "sine=frequency=440:sample_rate={rate}:duration={seconds}"
# a picture that changes every frame (x264/VP9 cannot make it free) and a tone that VBR encoders vary on
MOVING = "testsrc2=size={size}:rate={rate}:duration={seconds}"


@dataclass(frozen=True)
class Device:
    """One corpus file: how it is made and what must come of it."""

    name: str
    maker: str  # the real thing that writes files of this shape
    make: Callable[[str], None]  # writes the file at the path given
    kind: str | None  # the kind of the published outputs; None for a rejection
    duration: float | None = None  # seconds of media the source really holds
    has_audio: bool | None = None
    size: tuple[int, int] | None = None  # upright picture size of the source (width, height)
    facts: dict[str, Any] = field(default_factory=dict)


def ffmpeg(*args: str) -> None:
    """Debian's ffmpeg CLI (never the product's PyAV), quiet, overwriting."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120
    )


def _voice_memo(seconds: float, rate: int = 48000) -> Callable[[str], None]:
    return lambda path: ffmpeg(
        "-f",
        "lavfi",
        "-i",
        LAVFI_AUDIO.format(rate=rate, seconds=seconds),
        "-ac",
        "1",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "ipod",
        path,
    )


def _vbr_mp3(quiet_start: bool) -> Callable[[str], None]:
    """Noise, silence and a tone: a VBR encoder's frame sizes swing, so FFmpeg's estimate from the first frame's
    bitrate is wrong: too short after loud noise, too long after silence (which once read as "truncated")."""

    def make(path: str) -> None:
        order = "[s][0][2]" if quiet_start else "[0][s][2]"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=6:a=0.5:r=44100",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=44100:cl=mono",
            "-f",
            "lavfi",
            "-i",
            LAVFI_AUDIO.format(rate=44100, seconds=8),
            "-filter_complex",
            f"[1]atrim=duration=6[s];{order}concat=n=3:v=0:a=1",
            "-c:a",
            "libmp3lame",
            "-q:a",
            "2",
            "-write_xing",
            "0",
            "-id3v2_version",
            "0",
            "-f",
            "mp3",
            path,
        )

    return make


def _recorder_webm(video: bool, seconds: float = 12) -> Callable[[str], None]:
    def make(path: str) -> None:
        inputs = ["-f", "lavfi", "-i", LAVFI_AUDIO.format(rate=48000, seconds=seconds)]
        codecs = ["-c:a", "libopus", "-b:a", "48k"]
        if video:
            inputs = ["-f", "lavfi", "-i", MOVING.format(size="320x240", rate=30, seconds=seconds)] + inputs
            codecs = ["-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"] + codecs
        # -live 1: no Duration element and no Cues, as MediaRecorder writes while it records
        ffmpeg(*inputs, *codecs, "-f", "webm", "-live", "1", path)

    return make


def _heic(grid: bool, orientation: int = 1, images: int = 1) -> Callable[[str], None]:
    def make(path: str) -> None:
        import pillow_heif
        from PIL import Image

        pillow_heif.options.GRID_TILE_SIZE = 512 if grid else 0
        try:
            frames = [_quadrants(1536, 1024) for _ in range(images)]
            exif = Image.Exif()
            exif[0x0112] = orientation
            heif = pillow_heif.from_pillow(frames[0])
            for extra in frames[1:]:
                heif.add_from_pillow(extra.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
            heif.save(path, quality=85, exif=exif.tobytes())
        finally:
            pillow_heif.options.GRID_TILE_SIZE = 0

    return make


def _quadrants(width: int, height: int) -> Any:
    """Red, green, blue and white quadrants: the output shows whether every tile came out, and which way up."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (220, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 2, 0, width - 1, height // 2 - 1), fill=(30, 200, 30))
    draw.rectangle((0, height // 2, width // 2 - 1, height - 1), fill=(30, 30, 220))
    draw.rectangle((width // 2, height // 2, width - 1, height - 1), fill=(240, 240, 240))
    return image


def _avif(path: str) -> None:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480",
        "-frames:v",
        "1",
        "-c:v",
        "libaom-av1",
        "-still-picture",
        "1",
        "-cpu-used",
        "8",
        path,
    )


HDR_TRC = {
    "hlg": "arib-std-b67",
    "pq": "smpte2084",
    "bt2020": "bt2020-10",
}  # the last: SDR in BT.2020 primaries


def hdr_video(transfer: str, seconds: float = 2) -> Callable[[str], None]:
    """10-bit HEVC BT.2020 with HLG or PQ, tagged as phones tag it (colour bars: known colours to compare)."""

    def make(path: str) -> None:
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"smptehdbars=size=640x360:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            LAVFI_AUDIO.format(rate=48000, seconds=seconds),
            "-vf",
            "format=yuv420p10le",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            "-pix_fmt",
            "yuv420p10le",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            HDR_TRC[transfer],
            "-colorspace",
            "bt2020nc",
            "-color_range",
            "tv",
            "-c:a",
            "aac",
            "-shortest",
            path,
        )

    return make


def _low_bitrate_vp9(path: str) -> None:
    # a screen recording re-encoded small: a still picture at a tiny bitrate, which the H.264 ladder outgrows 4 ×
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "smptebars=size=1280x720:rate=30:duration=8",
        "-c:v",
        "libvpx-vp9",
        "-crf",
        "63",
        "-b:v",
        "0",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-f",
        "webm",
        path,
    )


def _opus_note(path: str) -> None:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        LAVFI_AUDIO.format(rate=48000, seconds=4),
        "-ac",
        "1",
        "-c:a",
        "libopus",
        "-b:a",
        "24k",
        "-application",
        "voip",
        "-f",
        "ogg",
        path,
    )


def _hires_flac(path: str) -> None:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        LAVFI_AUDIO.format(rate=96000, seconds=3),
        "-ac",
        "2",
        "-sample_fmt",
        "s32",
        "-bits_per_raw_sample",
        "24",
        "-c:a",
        "flac",
        path,
    )


def _vfr_screen(path: str) -> None:
    # 60 fps capture that drops frames while the screen is still: gaps of 1–4 frame times, as screen recorders do
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        MOVING.format(size="640x360", rate=60, seconds=4),
        "-vf",
        "select='not(between(t,1,2))+not(mod(n,3))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-video_track_timescale",
        "60000",
        path,
    )


def _trimmed(size: str, gop: int, start: float) -> Callable[[str], None]:
    """ "Trim" on a phone copies the frames from the keyframe before the cut and hides them by an edit list.
    At 1280x720, H.264 High with a 2 s GOP, it is also shaped like a ladder rung (a stream-copy candidate)."""

    def make(path: str) -> None:
        full = path + ".full.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            MOVING.format(size=size, rate=25, seconds=10),
            "-f",
            "lavfi",
            "-i",
            LAVFI_AUDIO.format(rate=48000, seconds=10),
            "-ac",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-crf",
            "30",
            "-maxrate",
            "2000k",
            "-bufsize",
            "4000k",
            "-g",
            str(gop),
            "-c:a",
            "aac",
            full,
        )
        ffmpeg("-ss", str(start), "-i", full, "-t", "4", "-c", "copy", path)
        os.remove(full)

    return make


def _mov_timecode(path: str) -> None:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        MOVING.format(size="640x360", rate=25, seconds=3),
        "-f",
        "lavfi",
        "-i",
        LAVFI_AUDIO.format(rate=48000, seconds=3),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-timecode",
        "01:00:00:00",
        "-shortest",
        "-f",
        "mov",
        path,
    )


def _two_language_mkv(path: str) -> None:
    # the first audio track is silent English, the default one is a French tone: the tone must be what plays
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        MOVING.format(size="640x360", rate=25, seconds=3),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=stereo",
        "-f",
        "lavfi",
        "-i",
        LAVFI_AUDIO.format(rate=48000, seconds=3),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "libopus",
        "-t",
        "3",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fra",
        "-disposition:a:0",
        "0",
        "-disposition:a:1",
        "default",
        path,
    )


def _jpeg(mode: str, **options: Any) -> Callable[[str], None]:
    def make(path: str) -> None:
        image = _quadrants(800, 600)
        if mode == "CMYK":
            image = image.convert("CMYK")
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=90, **options)
        with open(path, "wb") as fh:
            fh.write(buf.getvalue())

    return make


DEVICES: list[Device] = [
    Device("memo_1s.m4a", "phone voice-memo apps", _voice_memo(1), "audio", 1.0, True),
    Device("memo_3s.m4a", "phone voice-memo apps", _voice_memo(3, 44100), "audio", 3.0, True),
    Device("memo_5s.m4a", "phone voice-memo apps", _voice_memo(5), "audio", 5.0, True),
    Device(
        "vbr_no_xing.mp3", "encoders and rippers without a Xing header", _vbr_mp3(False), "audio", 20.0, True
    ),
    Device("vbr_quiet_start.mp3", "the same, starting with silence", _vbr_mp3(True), "audio", 20.0, True),
    Device(
        "recorder_audio.webm", "a browser's MediaRecorder (audio)", _recorder_webm(False), "audio", 12.0, True
    ),
    Device(
        "recorder_video.webm",
        "a browser's MediaRecorder (camera)",
        _recorder_webm(True),
        "video",
        12.0,
        True,
        (320, 240),
    ),
    Device("grid.heic", "an iPhone camera (a grid of 512 px tiles)", _heic(True), "image", size=(1536, 1024)),
    Device(
        "rotated.heic",
        "an iPhone held upright (EXIF orientation 6)",
        _heic(True, orientation=6),
        "image",
        size=(1024, 1536),
    ),
    Device(
        "burst.heic",
        "a burst or Live Photo still (two images)",
        _heic(False, images=2),
        "image",
        size=(1536, 1024),
    ),
    Device("photo.avif", "Android, Chrome, modern sites", _avif, "image", size=(640, 480)),
    Device("hlg.mp4", "iPhone and Android HDR video (HLG)", hdr_video("hlg"), "video", 2.0, True, (640, 360)),
    Device("pq.mp4", "HDR10 video (PQ)", hdr_video("pq"), "video", 2.0, True, (640, 360)),
    Device(
        "low_bitrate.webm",
        "screen recordings, re-encoded uploads",
        _low_bitrate_vp9,
        "video",
        8.0,
        False,
        (1280, 720),
    ),
    Device("voice_note.ogg", "a messaging app's Opus voice note", _opus_note, "audio", 4.0, True),
    Device("hires.flac", "24-bit / 96 kHz studio masters", _hires_flac, "audio", 3.0, True),
    Device(
        "vfr_screen.mp4",
        "a 60 fps screen recorder (variable frame rate)",
        _vfr_screen,
        "video",
        4.0,
        False,
        (640, 360),
    ),
    Device(
        "trimmed.mp4",
        "a clip trimmed on a phone without re-encoding (an edit list over 4 s of pre-roll)",
        _trimmed("640x360", 250, 4),
        "video",
        4.12,
        True,
        (640, 360),
    ),  # -t 4 ends after a B-frame: 4.12 s
    Device(
        "trimmed_720p.mp4",
        "the same in a ladder rung's shape (encoded: HLS cannot hide the pre-roll)",
        _trimmed("1280x720", 50, 3.5),
        "video",
        4.12,
        True,
        (1280, 720),
    ),  # the cut lands after a B-frame
    Device(
        "timecode.mov",
        "cameras and editors (a timecode track)",
        _mov_timecode,
        "video",
        3.0,
        True,
        (640, 360),
    ),
    Device(
        "two_languages.mkv",
        "films and rips (two audio languages, the second the default)",
        _two_language_mkv,
        "video",
        3.0,
        True,
        (640, 360),
    ),
    Device(
        "progressive.jpg",
        "web-optimised photos (progressive JPEG)",
        _jpeg("RGB", progressive=True),
        "image",
        size=(800, 600),
    ),
    Device("cmyk.jpg", "print workflows (CMYK JPEG)", _jpeg("CMYK"), "image", size=(800, 600)),
]


def make_corpus(directory: str) -> dict[str, str]:
    """Write every device file into ``directory``; return name → path."""
    paths = {}
    for device in DEVICES:
        path = os.path.join(directory, device.name)
        device.make(path)
        paths[device.name] = path
    return paths
