"""The benchmark's CLI baseline makes the same encodes as our program (else its ratios mean nothing), and
its profile is one the worker accepts. Timing lives in scripts/bench.py, never in tests."""

from __future__ import annotations

import os

import av

from scripts.bench import BENCH_PROFILE
from scripts.benchlib import ffmpeg_ladder, run_container
from worker.child.profiles import load_profiles
from worker.local.samples import make_video


def _streams(path):
    with av.open(path) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        keyframes = [p.pts * v.time_base for p in c.demux(v) if p.is_keyframe and p.pts is not None]
        return {
            "size": (v.codec_context.width, v.codec_context.height),
            "vcodec": v.codec_context.name,
            "profile": v.codec_context.profile,
            "pix_fmt": v.codec_context.pix_fmt,
            "acodec": a.codec_context.name,
            "channels": a.codec_context.channels,
            "rate": a.codec_context.sample_rate,
            "gop_s": float(keyframes[1] - keyframes[0]),
        }


def test_the_cli_baseline_encodes_what_the_program_encodes(tmp_path):
    src = make_video(str(tmp_path / "src.mp4"), width=1280, height=720, seconds=5)
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    ffmpeg_ladder(src, str(cli_dir), 1)
    ours = run_container(
        src,
        {
            "kind": "video",
            "demuxer": "mov",
            "threads": 1,
            "profile": {"video": {"hls": False, "storyboard": False, "stream_copy": False}},
        },
        keep=str(tmp_path / "ours"),
    )
    assert set(ours) >= {"probe", "transcode", "verify"}
    names = sorted(n for n in os.listdir(tmp_path / "ours") if n.endswith(".mp4"))
    assert names == ["video_480p.mp4", "video_720p.mp4"]
    for name in names:
        assert _streams(str(cli_dir / f"src.mp4.{name}")) == _streams(str(tmp_path / "ours" / name))


def test_the_bench_profile_is_valid_and_turns_off_what_the_cli_does_not_make(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(BENCH_PROFILE)
    profile, names = load_profiles(str(path)).select("bench/000/clip.mp4")
    assert names["video"] == "bench"
    assert (profile["video"]["hls"], profile["video"]["storyboard"], profile["video"]["stream_copy"]) == (
        False,
        False,
        False,
    )


def test_the_plots_are_written_as_png(tmp_path):
    from scripts.benchplots import plot_all

    res = {
        "machine": {"cpus": 2, "clips": 4},
        "a": {"ffmpeg_cli_s": 20.0},
        "d": {"jobs_per_minute": {1: 10.0, 2: 11.0, 4: 10.5}},
    }
    written = plot_all(
        str(tmp_path), res, {"warm (clips)": [1.1, 1.2, 1.4, 2.0], "docker run true": [0.6, 0.7, 0.65]}
    )
    assert [os.path.basename(p) for p in written] == ["bench_pool.png", "bench_fixed_cost.png"]
    for path in written:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(path) > 5000


def test_waiting_for_events_counts_each_event_once_and_fails_on_a_rejection():
    import json
    import time

    import boto3
    import pytest
    from moto import mock_aws

    from scripts.benchlib import _wait_for_events

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        for event_id in ("a", "a", "b"):  # "a" delivered twice: a send retried after a lost answer
            sqs.send_message(
                QueueUrl=url, MessageBody=json.dumps({"event_id": event_id, "type": "published"})
            )
        seen: set[str] = set()
        _wait_for_events(sqs, url, 2, time.monotonic() + 30, seen)
        assert seen == {"a", "b"}
        with pytest.raises(RuntimeError, match="timed out"):
            _wait_for_events(sqs, url, 1, time.monotonic() - 1, seen)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event_id": "c", "type": "rejected"}))
        with pytest.raises(RuntimeError, match="rejected"):
            _wait_for_events(sqs, url, 1, time.monotonic() + 30, seen)
