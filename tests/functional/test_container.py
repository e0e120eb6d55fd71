"""The sandbox program on generated media: outputs re-checked here, independently of its own checks."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest

from container.verify import moov_before_mdat
from tests.support.expect import video_outputs
from tests.support.sandboxed import integrated_loudness, run_container, streams


def test_video_with_audio(tmp_path, media):
    code, result, out = run_container(tmp_path, media["clip"])
    assert code == 0 and result["status"] == "ok" and result["kind"] == "video"
    video, audio, duration = streams(out / "video_360p.mp4")
    assert video == [("h264", 640, 360)] and audio == [("aac", 2)]
    assert abs(duration - 2.0) < 0.1
    assert moov_before_mdat(str(out / "video_360p.mp4"))
    with av.open(str(out / "video_360p.mp4")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.video[0].profile == "High"
    assert streams(out / "poster.jpg")[0] == [("mjpeg", 640, 360)]


def test_video_without_audio_has_no_audio_stream(tmp_path, media):
    code, result, out = run_container(tmp_path, media["silent"])
    assert code == 0
    assert streams(out / "video_360p.mp4")[1] == []


def test_a_1080p_source_gets_the_whole_ladder_in_one_pass(tmp_path, media):
    code, result, out = run_container(tmp_path, media["big"], {"threads": 2})
    assert code == 0
    sizes = {name: streams(out / name)[0] for name in ("video_1080p.mp4", "video_720p.mp4", "video_480p.mp4")}
    assert sizes == {
        "video_1080p.mp4": [("h264", 1920, 1080)],
        "video_720p.mp4": [("h264", 1280, 720)],
        "video_480p.mp4": [("h264", 854, 480)],
    }
    assert [o["rendition"] for o in result["outputs"] if o["kind"] == "video"] == ["1080p", "720p", "480p"]
    for name in sizes:  # each rendition has its audio and the full duration
        assert streams(out / name)[1] == [("aac", 2)] and abs(streams(out / name)[2] - 2.0) < 0.1
    assert streams(out / "poster.jpg")[0] == [("mjpeg", 1920, 1080)]


def test_the_top_rendition_keeps_the_picture(tmp_path, media):
    """Luma PSNR of every frame of the top rendition against the uploaded clip: at least 38 dB."""
    code, result, out = run_container(tmp_path, media["clip"])
    assert code == 0

    def luma(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="gray").astype(float) for f in c.decode(video=0)]

    source, output = luma(media["clip"]), luma(out / "video_360p.mp4")
    assert len(source) == len(output) == 50
    worst = min(10 * np.log10(255**2 / ((a - b) ** 2).mean()) for a, b in zip(source, output))
    assert worst >= 38, worst
    video = result["outputs"][0]
    assert video["bitrate"] and abs(video["bitrate"] - video["size"] * 8 / video["duration"]) < 1


def test_a_smaller_source_gets_one_rendition_at_its_own_size(tmp_path, media):
    code, result, out = run_container(tmp_path, media["clip"])
    assert code == 0
    assert [o["name"] for o in result["outputs"]] == video_outputs(
        "360p", segments=0
    )  # segments: listed by their playlists
    assert streams(out / "video_360p.mp4")[0] == [("h264", 640, 360)]


def test_portrait_rotation_is_applied_like_ffmpeg(tmp_path, media):
    code, result, out = run_container(tmp_path, media["portrait"])
    assert code == 0
    assert streams(out / "video_360p.mp4")[0] == [("h264", 360, 640)]  # portrait: the 360 rung stands up
    assert result["probe"]["video"]["rotation"] == 90
    with av.open(str(out / "video_360p.mp4")) as c:
        frame = next(c.decode(video=0))
    assert frame.rotation == 0
    # Debian's ffmpeg CLI, an independent implementation of autorotate, as the reference picture.
    ref = tmp_path / "ref.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", media["portrait"], "-frames:v", "1", str(ref)], check=True
    )
    with av.open(str(ref)) as c:
        expected = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    got = frame.to_ndarray(format="rgb24").astype(float)
    psnr = 10 * np.log10(255**2 / ((expected - got) ** 2).mean())
    assert psnr > 30, psnr


def test_audio_only_becomes_m4a(tmp_path, media):
    code, result, out = run_container(tmp_path, media["mp3"])
    assert code == 0 and result["kind"] == "audio"
    video, audio, duration = streams(out / "audio.m4a")
    assert video == [] and audio == [("aac", 2)] and abs(duration - 2.0) < 0.1
    assert moov_before_mdat(str(out / "audio.m4a"))


def test_image_variants_are_made_without_upscaling(tmp_path, media):
    code, result, out = run_container(tmp_path, media["png"], {"kind": "image", "demuxer": "png_pipe"})
    assert code == 0 and result["kind"] == "image"
    assert [o["name"] for o in result["outputs"]] == ["image_2048.webp", "image_1024.webp", "image_320.webp"]
    assert streams(out / "image_2048.webp")[0] == [("webp", 2048, 1366)]
    assert streams(out / "image_1024.webp")[0] == [("webp", 1024, 682)]
    assert streams(out / "image_320.webp")[0] == [("webp", 320, 214)]
    small = tmp_path / "small"
    small.mkdir()
    code, result, out = run_container(small, media["small_png"], {"kind": "image", "demuxer": "png_pipe"})
    assert code == 0 and [o["name"] for o in result["outputs"]] == ["image_300.webp"]  # its own size
    assert streams(out / "image_300.webp")[0] == [("webp", 300, 200)]


def jpeg_with_exif(path, orientation, gps=True):
    """A JPEG whose EXIF says 'rotate' and carries a GPS position, spliced in after SOI."""
    import struct

    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    data = path.read_bytes()
    entries = [(0x0112, 3, 1, orientation)] + ([(0x8825, 4, 1, 8 + 2 + 12 * 2 + 4)] if gps else [])
    ifd = (
        struct.pack("<H", len(entries))
        + b"".join(
            struct.pack("<HHI", tag, kind, count)
            + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
            for tag, kind, count, value in entries
        )
        + struct.pack("<I", 0)
    )
    gps_ifd = struct.pack("<H", 1) + struct.pack("<HHI4s", 0x0001, 2, 2, b"N\0\0\0") + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + (gps_ifd if gps else b"")
    app1 = b"Exif\x00\x00" + tiff + b"GPS-MARKER-54.123N"
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    return str(path)


def test_exif_orientation_is_applied_and_metadata_is_stripped(tmp_path):
    source = jpeg_with_exif(tmp_path / "phone.jpg", orientation=6)
    code, result, out = run_container(tmp_path, source, {"kind": "image", "demuxer": "jpeg_pipe"})
    assert code == 0
    assert [(o["name"], o["width"], o["height"]) for o in result["outputs"]] == [("image_320.webp", 240, 320)]
    body = (out / "image_320.webp").read_bytes()
    assert b"Exif" not in body and b"GPS-MARKER" not in body and b"EXIF" not in body
    # the same picture as Debian's ffmpeg CLI shows it (autorotate applied), compared by PSNR
    ref = tmp_path / "ref.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, str(ref)], check=True)
    with av.open(str(ref)) as c:
        expected = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    with av.open(str(out / "image_320.webp")) as c:
        got = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert expected.shape == got.shape == (320, 240, 3)
    assert 10 * np.log10(255**2 / ((expected - got) ** 2).mean()) > 25


@pytest.mark.parametrize("name", ["corrupt", "garbage"])
def test_corrupt_input_is_rejected_with_exit_65(tmp_path, media, name):
    source = media["corrupt"] if name == "corrupt" else str(tmp_path / "garbage.mp4")
    if name == "garbage":
        (tmp_path / "garbage.mp4").write_bytes(bytes(range(256)) * 40)
    code, result, out = run_container(tmp_path, source)
    assert code == 65
    # the host's signature check refuses the garbage before any download; the sandbox refuses it again
    assert result["status"] == "rejected" and result["reason"] in (
        "corrupt_media",
        "decode_failed",
        "not_media",
        "unsupported_type",
    )
    assert not (out / "video_360p.mp4").exists() or result["status"] != "ok"


def test_the_sandbox_sniffs_the_type_itself_and_opens_it_with_its_one_demuxer(tmp_path, media):
    """What the host says (a hint, a demuxer) is not what decides: libmagic in here picks the one demuxer."""
    code, result, _ = run_container(
        tmp_path, media["clip"], {"demuxer": "png_pipe", "kind": "image", "kind_hint": "image"}
    )
    assert code == 0 and result["kind"] == "video"
    assert result["sniffed"] == {"mime": "video/mp4", "kind": "video", "demuxer": "mov"}


def test_audio_is_normalised_to_minus_16_lufs(tmp_path):
    quiet = tmp_path / "quiet.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=8:c=pink:a=0.05:r=44100",
            str(quiet),
        ],
        check=True,
    )
    assert integrated_loudness(quiet) < -30
    code, result, out = run_container(tmp_path, str(quiet), {"kind": "audio", "demuxer": "wav"})
    assert code == 0
    assert abs(integrated_loudness(out / "audio.m4a") - (-16.0)) <= 1.0
    assert abs(streams(out / "audio.m4a")[2] - 8.0) < 0.1
