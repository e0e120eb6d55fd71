"""One validated settings object; invalid settings exit 2 with one clear message."""

import subprocess
import sys

import pytest

from worker.errors import SettingsError
from worker.settings import Settings, load_settings

REQUIRED = {
    "MEDIA_WORKER_QUEUE_URL": "http://q",
    "MEDIA_WORKER_TEMP_BUCKET": "t",
    "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
}


def test_environment_is_read_and_flags_override_it():
    s = load_settings(
        {"pool": 3}, environ={**REQUIRED, "MEDIA_WORKER_POOL": "5", "MEDIA_WORKER_DELETE_SOURCE": "no"}
    )
    assert s.pool == 3 and s.delete_source is False and s.queue_url == "http://q"


def test_settings_are_frozen():
    s = load_settings(environ=REQUIRED)
    with pytest.raises(AttributeError):
        s.pool = 2  # type: ignore[misc]


def test_every_problem_is_named_at_once():
    with pytest.raises(SettingsError) as info:
        load_settings(
            environ={"MEDIA_WORKER_POOL": "0", "MEDIA_WORKER_RUNTIME": "vm", "MEDIA_WORKER_JOB_TIMEOUT": "x"}
        )
    text = str(info.value)
    for needle in (
        "MEDIA_WORKER_QUEUE_URL",
        "MEDIA_WORKER_POOL",
        "MEDIA_WORKER_RUNTIME",
        "MEDIA_WORKER_JOB_TIMEOUT",
    ):
        assert needle in text


def test_same_bucket_twice_is_refused():
    with pytest.raises(SettingsError, match="must differ"):
        load_settings(environ={**REQUIRED, "MEDIA_WORKER_PRODUCTION_BUCKET": "t"})


def test_gvisor_needs_room_in_the_pids_limit_for_its_own_threads():
    with pytest.raises(SettingsError, match="SANDBOX_PIDS_LIMIT must be >= 64 under runsc"):
        load_settings({"sandbox_oci_runtime": "runsc", "sandbox_pids_limit": 32}, environ=REQUIRED)
    assert load_settings({"sandbox_pids_limit": 32}, environ=REQUIRED).sandbox_pids_limit == 32  # runc
    assert load_settings({"sandbox_oci_runtime": "runsc"}, environ=REQUIRED).sandbox_pids_limit == 128


def test_the_cleanup_container_gets_the_jobs_runtime_and_pids_limit():
    from worker.sandbox.cleanup import fixer_runtime

    assert fixer_runtime(load_settings(environ=REQUIRED)) == {"runtime": "", "pids_limit": 128}
    gvisor = load_settings({"sandbox_oci_runtime": "gvisor", "sandbox_pids_limit": 200}, environ=REQUIRED)
    assert fixer_runtime(gvisor) == {"runtime": "gvisor", "pids_limit": 200}


def test_codec_threads_follow_the_pool():
    assert load_settings({"pool": 64}, environ=REQUIRED).codec_threads == 1
    assert load_settings({"threads_per_job": 3}, environ=REQUIRED).codec_threads == 3


def test_reference_table_covers_every_setting():
    rows = Settings.reference()
    assert {r[0] for r in rows} >= {"MEDIA_WORKER_QUEUE_URL", "MEDIA_WORKER_POOL", "MEDIA_WORKER_RUNTIME"}


def test_cli_exits_2_with_one_message_on_bad_settings():
    env = {"PATH": "/usr/bin:/bin", "MEDIA_WORKER_POOL": "-1"}
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--pool", "0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2
    assert "MEDIA_WORKER_POOL" in proc.stderr and "MEDIA_WORKER_QUEUE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_limits_reach_the_sandbox_spec_with_their_settings():
    s = load_settings({"max_duration": 60, "min_sample_rate": 16000}, environ=REQUIRED)
    limits = s.limits()
    assert limits["max_duration"] == 60 and limits["min_sample_rate"] == 16000
    from container.limits import Limits

    assert Limits.from_dict(limits).min_sample_rate == 16000  # the container reads the same names


def test_a_jobs_thread_share_bounds_its_cpus_and_openblas_too():
    """numpy's OpenBLAS would start a thread per host CPU at import: on a many-core host, past the pids limit."""
    from worker.sandbox.base import SandboxRequest
    from worker.sandbox.lockdown import container_options

    request = SandboxRequest("j", "/w/in/input", "/w/out", {}, 60, 512, {}, threads=3)
    options = container_options(load_settings(environ=REQUIRED), request)
    assert options["nano_cpus"] == 3_000_000_000
    assert options["environment"]["OPENBLAS_NUM_THREADS"] == options["environment"]["OMP_NUM_THREADS"] == "3"


def test_the_webhook_secret_is_never_a_flag_nor_in_the_repr():
    secret = "whsec_0123456789abcdef-secret"
    s = load_settings(
        {"status_target": "https://hooks.example.com/m"},
        environ={**REQUIRED, "MEDIA_WORKER_WEBHOOK_SECRET": secret},
    )
    assert s.webhook_secret == secret and secret not in repr(s)
    assert "webhook_secret" not in [name for name, *_ in Settings.options()]
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--webhook-secret", secret],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2 and "No such option" in proc.stderr


@pytest.mark.parametrize(
    "env, problem",
    [
        (
            {"MEDIA_WORKER_STATUS_TARGET": "https://hooks.example.com/m"},
            "MEDIA_WORKER_WEBHOOK_SECRET is required",
        ),
        (
            {
                "MEDIA_WORKER_STATUS_TARGET": "https://hooks.example.com/m",
                "MEDIA_WORKER_WEBHOOK_SECRET": "short",
            },
            "at least 16 characters",
        ),
        ({"MEDIA_WORKER_STATUS_TARGET": "http://hooks.example.com/m"}, "must be https://"),
        (
            {"MEDIA_WORKER_STATUS_TARGET": "arn:aws:lambda:us-east-1:1:function:f"},
            "MEDIA_WORKER_STATUS_TARGET",
        ),
        ({"MEDIA_WORKER_SNS_TOPIC_ARNS": "arn:aws:sqs:us-east-1:1:q"}, "not an SNS topic ARN"),
    ],
)
def test_status_targets_and_topics_are_validated(env, problem):
    with pytest.raises(SettingsError) as info:
        load_settings(environ={**REQUIRED, **env})
    assert problem in str(info.value)


@pytest.mark.parametrize("oci_runtime, expected", [("", "process"), ("runsc", SettingsError)])
def test_auto_never_falls_back_to_no_sandbox_when_gvisor_was_asked_for(monkeypatch, oci_runtime, expected):
    from worker.sandbox import base
    from worker.sandbox import docker as docker_module

    monkeypatch.setattr(docker_module, "engine_ready", lambda image, runtime="": "ConnectionError: no engine")
    settings = load_settings({"runtime": "auto", "sandbox_oci_runtime": oci_runtime}, environ=REQUIRED)
    if expected is SettingsError:
        with pytest.raises(SettingsError, match="MEDIA_WORKER_SANDBOX_OCI_RUNTIME=runsc"):
            base.resolve_runtime(settings)
    else:
        assert base.resolve_runtime(settings).runtime == expected
