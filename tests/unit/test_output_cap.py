"""The output cap comes from the profile and the decoded duration, never from the input's size."""
from container.limits import MiB, output_cap
from container.spec import DEFAULT_PROFILE
from worker.settings import OUTPUT_RLIMIT_SLACK_MB, load_settings

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


def test_the_file_size_rlimit_sits_above_the_ceiling_the_sandbox_is_given():
    settings = load_settings({"max_output_mb": 100}, environ=ENV)
    assert settings.limits()["max_output_bytes"] == 100 * MiB
    assert settings.output_rlimit_bytes == (100 + OUTPUT_RLIMIT_SLACK_MB) * MiB > settings.limits()["max_output_bytes"]
