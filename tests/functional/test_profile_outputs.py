"""The profile's richer outputs on generated media: HLS, storyboard, fast path, audio targets, waveform,
animated images and the 0.5 % duration check, each re-checked here independently of the program's checks."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import av
import numpy as np
import pytest

from container.errors import OutputCheckFailed
from container.hls import read_playlist
from container.probe import probe_input
from container.sniff import sniff_file
from container.timeline import Decoded
from container.verify import duration_tolerance, verify_outputs
from tests.support.expect import video_outputs
from tests.support.sandboxed import integrated_loudness, run_container, streams
from worker.local.samples import make_animation, make_audio, make_video


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """9 s at 1280x720 with audio: 2 rungs, three 4 s HLS segments (GOP 2 s), five storyboard tiles."""
    return make_video(str(tmp_path_factory.mktemp("long") / "long.mp4"), width=1280, height=720, seconds=9)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory, long_clip):
    tmp = tmp_path_factory.mktemp("long-run")
    return run_container(tmp, long_clip, {"threads": 2})


def by_name(result):
    return {o["name"]: o for o in result["outputs"]}


def test_hls_has_a_playlist_per_rendition_and_a_master(long_run):
    code, result, out = long_run
    assert code == 0, result
    assert [o["name"] for o in result["outputs"]] == video_outputs(
        "720p", "480p", segments=0
    )  # the playlists list the 3 segments each
    master = (out / "hls_master.m3u8").read_text().splitlines()
    assert master[0] == "#EXTM3U"
    infs = [line for line in master if line.startswith("#EXT-X-STREAM-INF:")]
    assert [line for line in master if not line.startswith("#")] == ["hls_720p.m3u8", "hls_480p.m3u8"]
    assert "RESOLUTION=1280x720" in infs[0] and "RESOLUTION=854x480" in infs[1]
    assert all('CODECS="avc1.64' in line and 'mp4a.40.2"' in line for line in infs)
    for rung, (width, height) in (("720p", (1280, 720)), ("480p", (854, 480))):
        playlist = (out / f"hls_{rung}.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and f'#EXT-X-MAP:URI="hls_{rung}_init.mp4"' in playlist
        segments = read_playlist(str(out / f"hls_{rung}.m3u8"))
        assert [round(seconds) for _, seconds in segments] == [4, 4, 1]
        assert (out / segments[0][0]).read_bytes()[4:8] in (b"styp", b"moof")
        # FFmpeg's HLS demuxer, independently of the program, plays the set back end to end
        with av.open(str(out / f"hls_{rung}.m3u8")) as c:
            frames = sum(1 for _ in c.decode(video=0))
            assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (
                width,
                height,
            )
            assert len(c.streams.audio) == 1
        assert frames == 9 * 25


def test_storyboard_sheet_and_index(long_run):
    code, result, out = long_run
    sheet = by_name(result)["storyboard.jpg"]
    assert (sheet["tiles"], sheet["columns"], sheet["tile_width"], sheet["tile_height"]) == (5, 5, 160, 90)
    assert streams(out / "storyboard.jpg")[0] == [("mjpeg", 800, 90)]
    cues = (out / "storyboard.vtt").read_text().strip().split("\n\n")
    assert cues[0] == "WEBVTT" and len(cues) == 6
    assert cues[1].splitlines() == ["00:00:00.000 --> 00:00:02.000", "storyboard.jpg#xywh=0,0,160,90"]
    assert cues[5].splitlines() == ["00:00:08.000 --> 00:00:09.000", "storyboard.jpg#xywh=640,0,160,90"]
    with av.open(str(out / "storyboard.jpg")) as c:
        picture = next(c.decode(video=0)).to_ndarray(format="gray").astype(float)
    tiles = [picture[:, i * 160 : (i + 1) * 160] for i in range(5)]
    # testsrc2 moves: tiles taken at different times differ; no tile is blank
    assert all(tile.std() > 10 for tile in tiles)
    assert all(np.abs(a - b).mean() > 1 for a, b in zip(tiles, tiles[1:]))


def test_the_storyboard_interval_grows_to_keep_the_tile_cap(tmp_path, long_clip):
    spec = {
        "profile": {
            "video": {"storyboard_max_tiles": 3, "renditions": [480], "maxrate_kbps": [1500], "hls": False}
        }
    }
    code, result, out = run_container(tmp_path, long_clip, spec)
    sheet = by_name(result)["storyboard.jpg"]
    assert code == 0 and (sheet["tiles"], sheet["interval"]) == (3, 3.0)
    assert "hls_master.m3u8" not in by_name(result)
    assert "00:00:06.000 --> 00:00:09.000" in (out / "storyboard.vtt").read_text()


@pytest.fixture(scope="module")
def ready_made(tmp_path_factory):
    """An input that already is the 720p rendition: H.264 High, yuv420p, 1280x720 (untagged: taken as BT.709 at
    720 lines), under 3 Mb/s, AAC-LC stereo, carrying tags (a title and a GPS location) that must not survive."""
    return make_video(
        str(tmp_path_factory.mktemp("ready") / "ready.mp4"),
        width=1280,
        height=720,
        seconds=3,
        options={"crf": "35", "g": "50", "profile": "high"},
        metadata={"title": "private title", "location": "+48.8577+002.2950/"},
    )


def video_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def test_an_input_that_is_already_a_rendition_is_remuxed_not_encoded(tmp_path, ready_made):
    code, result, out = run_container(tmp_path, ready_made)
    assert code == 0, result
    video = by_name(result)["video_720p.mp4"]
    assert (video["method"], video["audio_method"]) == ("copy", "copy")
    assert video["fast_path"] == {
        "used": True,
        "audio_copied": True,
        "reason": "input already matches this rendition",
    }
    assert video_packets(out / "video_720p.mp4") == video_packets(ready_made)  # bit-exact: nothing re-encoded
    with av.open(str(out / "video_720p.mp4")) as c:
        assert "title" not in c.metadata and not any("location" in k for k in c.metadata)
        context = c.streams.video[0].codec_context  # the copy's parameter sets now say BT.709
        assert (context.color_primaries, context.color_trc, context.colorspace) == (1, 1, 1)
    assert [o["name"] for o in result["outputs"]] == video_outputs("720p", "480p", segments=0)


@pytest.mark.parametrize(
    "spec, reason",
    [
        ({"profile": {"video": {"stream_copy": False}}}, "disabled by the profile"),
        (
            {"profile": {"video": {"renditions": [720], "maxrate_kbps": [150]}}},
            "over the rendition's 150 kb/s cap",
        ),
    ],
)
def test_the_fast_path_is_refused_with_a_reason(tmp_path, ready_made, spec, reason):
    code, result, out = run_container(tmp_path, ready_made, spec)
    video = by_name(result)["video_720p.mp4"]
    assert code == 0 and video["method"] == "encode" and reason in video["fast_path"]["reason"]
    assert video_packets(out / "video_720p.mp4") != video_packets(ready_made)
    with av.open(str(out / "video_720p.mp4")) as c:  # re-encoded outputs carry no source tags either
        assert "title" not in c.metadata and not any("location" in k for k in c.metadata)


def test_a_source_of_another_codec_is_never_copied(tmp_path):
    webm = make_video(str(tmp_path / "vp9.webm"), codec="libvpx-vp9", width=854, height=480, seconds=1)
    code, result, _ = run_container(tmp_path, webm, {"demuxer": "matroska"})
    assert code == 0 and by_name(result)["video_480p.mp4"]["method"] == "encode"
    assert "not MP4/QuickTime" in by_name(result)["video_480p.mp4"]["fast_path"]["reason"]


def test_optional_mp3_and_opus_targets_are_normalised_too(tmp_path):
    quiet = make_audio(str(tmp_path / "tone.mp3"), seconds=6)
    spec = {"kind": "audio", "demuxer": "mp3", "profile": {"audio": {"extra_formats": ["mp3", "opus"]}}}
    code, result, out = run_container(tmp_path, quiet, spec)
    assert code == 0, result
    assert [o["name"] for o in result["outputs"]] == ["audio.m4a", "audio.mp3", "audio.opus", "waveform.json"]
    for name, codec in (("audio.m4a", "aac"), ("audio.mp3", "mp3float"), ("audio.opus", "opus")):
        assert streams(out / name)[1] == [(codec, 2)]
        assert abs(streams(out / name)[2] - 6.0) <= duration_tolerance(6.0, None, True)
        assert abs(integrated_loudness(out / name) - (-16.0)) <= 1.0, name


def test_waveform_peaks_follow_the_signal(tmp_path):
    # 2 s of silence, then 2 s of tone: the first half of the peaks is flat, the second is not
    src = tmp_path / "gap.wav"
    with av.open(str(src), "w", format="wav") as outc:
        stream = outc.add_stream("pcm_s16le", rate=48000, layout="mono")
        t = np.arange(48000 * 4) / 48000
        samples = np.where(t < 2, 0.0, 0.5 * np.sin(2 * np.pi * 440 * t))
        for start in range(0, len(samples), 4800):
            frame = av.AudioFrame.from_ndarray(
                (samples[None, start : start + 4800] * 32767).astype(np.int16), format="s16", layout="mono"
            )
            frame.sample_rate = 48000
            outc.mux(stream.encode(frame))
        outc.mux(stream.encode(None))
    spec = {"kind": "audio", "demuxer": "wav", "profile": {"audio": {"loudness_lufs": None}}}
    code, result, out = run_container(tmp_path, str(src), spec)
    assert code == 0, result
    doc = json.loads((out / "waveform.json").read_text())
    assert (doc["version"], doc["channels"], doc["bits"], doc["sample_rate"], doc["samples_per_pixel"]) == (
        2,
        1,
        8,
        48000,
        512,
    )
    assert doc["length"] == math.ceil(4 * 48000 / 512) and len(doc["data"]) == 2 * doc["length"]
    pairs = np.array(doc["data"]).reshape(-1, 2)
    silent, loud = pairs[: doc["length"] // 2 - 2], pairs[doc["length"] // 2 + 2 :]
    assert np.abs(silent).max() <= 1
    assert abs(loud[:, 1].mean() - 0.5 * 127) < 3 and abs(loud[:, 0].mean() + 0.5 * 127) < 3


@pytest.mark.parametrize("policy", ["first_frame", "reject"])
def test_animated_images_follow_the_policy(tmp_path, policy):
    gif = make_animation(str(tmp_path / "anim.gif"))
    code, result, out = run_container(
        tmp_path, gif, {"kind": "image", "demuxer": "gif", "profile": {"image": {"animated": policy}}}
    )
    if policy == "reject":
        assert (code, result["status"], result["reason"]) == (65, "rejected", "animated_image")
        assert [p.name for p in out.iterdir()] == ["result.json"]
    else:
        assert code == 0 and [(o["name"], o["animated"]) for o in result["outputs"]] == [
            ("image_320.webp", True)
        ]


def test_a_still_image_is_not_called_animated(tmp_path, media):
    code, result, _ = run_container(tmp_path, media["small_png"], {"kind": "image", "demuxer": "png_pipe"})
    assert code == 0 and {o["animated"] for o in result["outputs"]} == {False}


def test_duration_tolerance_is_half_a_percent_or_the_frame_granularity_of_both_ends():
    assert duration_tolerance(600.0, 25.0, 1024 / 48000) == pytest.approx(3.0)
    # one video frame, two source AAC frames (priming, padding) and two of the longest frame we write
    assert duration_tolerance(2.0, 25.0, 1024 / 48000) == pytest.approx(
        0.04 + 2 * 1024 / 48000 + 2 * 1152 / 44100 + 0.001
    )
    assert duration_tolerance(2.0, None, None) == pytest.approx(0.01)


def test_an_untagged_source_below_720_lines_is_encoded_not_copied(tmp_path):
    """Untagged SD is taken as BT.601 and converted; a copy could only be mislabelled."""
    src = make_video(
        str(tmp_path / "sd.mp4"),
        width=854,
        height=480,
        seconds=2,
        options={"crf": "35", "g": "50", "profile": "high"},
    )
    code, result, out = run_container(tmp_path, src)
    video = by_name(result)["video_480p.mp4"]
    assert code == 0 and video["method"] == "encode" and "colour tags" in video["fast_path"]["reason"]
    with av.open(str(out / "video_480p.mp4")) as c:
        context = c.streams.video[0].codec_context
        assert (context.color_primaries, context.color_trc, context.colorspace, context.color_range) == (
            1,
            1,
            1,
            1,
        )


def test_an_output_shorter_than_the_source_fails_the_check(tmp_path, media):
    code, _, out = run_container(tmp_path, media["clip"])  # a 2.0 s source → a verified 2.0 s MP4
    longer = make_video(str(tmp_path / "longer.mp4"), seconds=2.5)  # a source 25 % longer than that output
    planned = [{"name": "video_360p.mp4", "kind": "video", "width": 640, "height": 360}]
    with pytest.raises(OutputCheckFailed, match="duration"):
        verify_outputs(str(out), planned, *decode_of(longer))
    assert code == 0 and verify_outputs(str(out), planned, *decode_of(media["clip"]))


def decode_of(path):
    """The probe and the decoded duration of ``path``, as the program measures them."""
    probe = probe_input(path, sniff_file(path))
    with av.open(path) as c:
        frames = list(c.decode(video=0))
    return probe, Decoded(frames[-1].time + 1 / probe.video.fps - frames[0].time, probe.audio_frame)


def test_variable_frame_rate_on_a_millisecond_time_base_keeps_every_frame_time(tmp_path):
    """Matroska counts in 1/1000 s; frames 33, 50 or 100 ms apart must come out at the same instants."""
    gaps = [33, 50, 33, 100, 33, 33, 50] * 9
    times = [sum(gaps[:i]) for i in range(len(gaps))]
    src = str(tmp_path / "vfr.mkv")
    with av.open(src, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(
                np.full((240, 320, 3), (i * 7) % 256, np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    code, result, out_dir = run_container(tmp_path, src, {"demuxer": "matroska"})
    assert code == 0, result
    with av.open(str(out_dir / "video_240p.mp4")) as c:
        got = [round(frame.time * 1000) for frame in c.decode(video=0)]
    assert got == times
