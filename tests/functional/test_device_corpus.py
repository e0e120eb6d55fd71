"""Files in the shapes phones, browsers and apps produce (tests.support.devices: made by Debian's ffmpeg, libheif and
Pillow), through the sandbox program: each is published with correct outputs, checked here by Debian's
ffprobe and by pixels, independently of the program's own checks."""

from __future__ import annotations

import json
import os
import subprocess

import av
import numpy as np
import pytest

from tests.support.devices import DEVICES, ffmpeg
from tests.support.sandboxed import run_container
from worker.sandbox.result_schema import problem

QUADRANTS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "white": (240, 240, 240)}


def ffprobe(path) -> dict:
    """Debian's ffprobe: streams (codec, size, colour tags) and the duration."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,color_primaries,"
            "color_transfer,color_space,color_range",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def corners(path) -> list[tuple[int, int, int]]:
    """The colour at the centre of each quadrant: top left, top right, bottom left, bottom right."""
    with av.open(str(path)) as c:
        picture = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    h, w = picture.shape[:2]
    return [
        tuple(picture[int(h * y), int(w * x)])
        for y, x in ((0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75))
    ]


def near(got, expected, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, expected))


@pytest.fixture(scope="module")
def runs(device_files, tmp_path_factory):
    """Every device file through the program once (the tests below read the results)."""
    done = {}
    for device in DEVICES:
        done[device.name] = run_container(
            tmp_path_factory.mktemp(device.name.replace(".", "_")), device_files[device.name]
        )
    return done


@pytest.mark.parametrize("device", DEVICES, ids=[d.name for d in DEVICES])
def test_every_device_file_is_published_with_correct_outputs(runs, device):
    code, result, out = runs[device.name]
    assert code == 0 and result["status"] == "ok", result
    assert problem(result) is None  # what the host accepts from the sandbox (worker.sandbox.result_schema)
    assert result["kind"] == device.kind
    outputs = {o["name"]: o for o in result["outputs"]}
    if device.duration is not None:
        assert result["decoded_duration"] == pytest.approx(device.duration, abs=0.05)
    for name, item in outputs.items():
        if item["kind"] not in ("video", "audio"):
            continue
        probed = ffprobe(out / name)
        kinds = [s["codec_type"] for s in probed["streams"]]
        assert ("audio" in kinds) == bool(device.has_audio), name
        assert float(probed["format"]["duration"]) == pytest.approx(device.duration, abs=0.1), name
        for stream in probed["streams"]:
            if stream["codec_type"] == "video":  # every SDR output is tagged, whatever the source was
                assert (
                    stream.get("color_primaries"),
                    stream.get("color_transfer"),
                    stream.get("color_space"),
                    stream.get("color_range"),
                ) == ("bt709", "bt709", "bt709", "tv"), name
    if device.kind == "video":
        top = next(o for o in result["outputs"] if o["kind"] == "video")
        assert (top["width"], top["height"]) == device.size
    if device.kind == "image":
        largest = result["outputs"][0]
        ratio = device.size[0] / device.size[1]
        assert largest["width"] / largest["height"] == pytest.approx(ratio, rel=0.01)


def test_a_phone_heic_grid_comes_out_whole_not_one_tile(runs):
    code, result, out = runs["grid.heic"]
    assert [(o["name"], o["width"], o["height"]) for o in result["outputs"]] == [
        ("image_1024.webp", 1024, 682),
        ("image_320.webp", 320, 214),
    ]
    got = corners(out / "image_1024.webp")  # six 512 px tiles: every quadrant has its own colour
    assert all(near(g, QUADRANTS[c]) for g, c in zip(got, ("red", "green", "blue", "white"))), got


def test_a_rotated_heic_is_upright(runs):
    code, result, out = runs["rotated.heic"]
    assert (result["outputs"][0]["width"], result["outputs"][0]["height"]) == (682, 1024)
    got = corners(out / "image_1024.webp")  # turned 90° clockwise: blue top left, red top right
    assert all(near(g, QUADRANTS[c]) for g, c in zip(got, ("blue", "red", "white", "green"))), got


def test_a_burst_heic_gives_its_primary_image(runs):
    code, result, out = runs["burst.heic"]
    got = corners(out / "image_1024.webp")  # the second image is mirrored: red would be top right
    assert all(near(g, QUADRANTS[c]) for g, c in zip(got, ("red", "green", "blue", "white"))), got


@pytest.mark.parametrize("name", ["cmyk.jpg", "progressive.jpg"])
def test_jpeg_colours_come_out_right(runs, name):
    """CMYK not inverted; a full-range JPEG not stretched to more contrast than it has."""
    code, result, out = runs[name]
    got = corners(out / result["outputs"][0]["name"])
    assert all(near(g, QUADRANTS[c]) for g, c in zip(got, ("red", "green", "blue", "white"))), got


def test_the_default_audio_track_is_taken(runs):
    code, result, out = runs["two_languages.mkv"]
    assert result["probe"]["audio"]["language"] == "fra"
    with av.open(str(out / "video_360p.mp4")) as c:
        samples = np.concatenate([frame.to_ndarray().ravel() for frame in c.decode(audio=0)])
    assert float(np.sqrt((samples**2).mean())) > 0.01  # the French tone, not the silent English track


def test_a_browser_recording_without_a_duration_gets_a_full_storyboard_and_waveform(runs):
    code, result, _ = runs["recorder_video.webm"]
    board = next(o for o in result["outputs"] if o["name"] == "storyboard.jpg")
    assert result["probe"]["duration"] is None and board["tiles"] == 6  # 12 s at one tile per 2 s
    code, result, _ = runs["recorder_audio.webm"]
    waveform = next(o for o in result["outputs"] if o["name"] == "waveform.json")
    assert waveform["length"] == pytest.approx(12 * 48000 / 512, abs=3)


@pytest.mark.parametrize("name", ["vbr_no_xing.mp3", "vbr_quiet_start.mp3"])
def test_a_vbr_mp3_without_a_xing_header_is_timed_by_its_frames(runs, name):
    code, result, _ = runs[name]
    assert (
        abs(result["probe"]["duration"] - 20.0) > 1
    )  # the header's estimate is wrong, one way or the other …
    assert result["decoded_duration"] == pytest.approx(20.0, abs=0.05)  # … and not used


def test_a_small_source_whose_ladder_is_many_times_its_size_is_published(runs, device_files):
    code, result, out = runs["low_bitrate.webm"]
    written = sum(os.path.getsize(out / o["name"]) for o in result["outputs"])
    assert written > 4 * os.path.getsize(device_files["low_bitrate.webm"])  # the old cap was 4 × the input


def test_a_variable_frame_rate_screen_recording_keeps_its_frames(runs, device_files):
    code, result, out = runs["vfr_screen.mp4"]
    with av.open(device_files["vfr_screen.mp4"]) as c:
        source = [round(f.time, 3) for f in c.decode(video=0)]
    with av.open(str(out / "video_360p.mp4")) as c:
        output = [round(f.time, 3) for f in c.decode(video=0)]
    assert len(source) < 4 * 60 and output == source  # frames were dropped, and the gaps are kept


def test_a_hostile_language_tag_neither_breaks_the_result_nor_reaches_it(tmp_path):
    source = str(tmp_path / "tagged.mkv")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-c:a",
        "libopus",
        "-metadata:s:a:0",
        'language=fr"}<script>' + "x" * 300,
        source,
    )
    code, result, _ = run_container(tmp_path, source)
    assert code == 0 and problem(result) is None
    assert result["probe"]["audio"]["language"] is None
