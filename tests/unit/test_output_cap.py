"""The output cap comes from the profile and the decoded duration, never from the input's size; the job's
ceiling from MAX_OUTPUT_MB and the work directory's share; the file-size rlimit sits above it."""

import os

from container.limits import MiB, output_cap
from container.spec import DEFAULT_PROFILE
from worker.child.outputs import output_ceiling
from worker.sandbox.base import OUTPUT_RLIMIT_SLACK, SandboxRequest, file_size_limit
from worker.settings import load_settings

ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


def test_the_video_cap_is_the_rungs_rates_times_the_duration_with_headroom():
    video = DEFAULT_PROFILE["video"]
    cap = output_cap("video", video, 60.0, [5000, 3000, 1500], True)
    # (5000 + 3000 + 1500 + 3 × 128 kb/s) × 60 s, twice (HLS re-packages the MP4s), × 1.5, + 16 MiB
    assert cap == int(1.5 * (9500 + 3 * 128) * 2 * 1000 / 8 * 60) + 16 * MiB
    assert output_cap("video", {**video, "hls": False}, 60.0, [5000, 3000, 1500], True) < cap
    assert output_cap("video", video, 600.0, [5000, 3000, 1500], True) > 9 * cap


def test_the_audio_cap_counts_every_target_format():
    audio = DEFAULT_PROFILE["audio"]
    one = output_cap("audio", audio, 600.0, [], True)
    three = output_cap("audio", {**audio, "extra_formats": ["mp3", "opus"]}, 600.0, [], True)
    assert three - 16 * MiB == 3 * (one - 16 * MiB)


def test_the_ceiling_is_max_output_mb_or_the_work_directorys_share_if_less(tmp_path):
    fs = os.statvfs(tmp_path)
    size = fs.f_blocks * fs.f_frsize
    roomy = load_settings({"work_dir": str(tmp_path), "max_output_mb": 100, "pool": 1}, environ=ENV)
    assert output_ceiling(roomy) == 100 * MiB == min(100 * MiB, size - roomy.max_file_size)
    crowded = load_settings({"work_dir": str(tmp_path), "max_output_mb": 10**7, "pool": 64}, environ=ENV)
    assert output_ceiling(crowded) == max(16 * MiB, size // 64 - crowded.max_file_size)


def test_the_file_size_rlimit_sits_above_the_ceiling_the_sandbox_is_given():
    request = SandboxRequest("j", "/x/in/input", "/x/out", {}, 1.0, 256, {}, output_cap=100 * MiB)
    assert file_size_limit(request) == 100 * MiB + OUTPUT_RLIMIT_SLACK


def test_the_program_reads_the_runs_threads_and_output_cap_from_its_spec():
    request = SandboxRequest(
        "j",
        "/x/in/input",
        "/x/out",
        {"kind_hint": "video", "limits": {"max_fps": 60}},
        1.0,
        256,
        {},
        threads=3,
        output_cap=5 * MiB,
    )
    assert request.program_spec() == {
        "kind_hint": "video",
        "threads": 3,
        "limits": {"max_fps": 60, "max_output_bytes": 5 * MiB},
    }
