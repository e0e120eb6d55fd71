"""The ``process`` runtime: limits, timeout kill, OOM and crash mapping."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.support.expect import video_outputs
from worker.errors import Reason, RejectedInput, ResourceExhausted, RetryableError
from worker.sandbox.base import RunExit, SandboxRequest, interpret
from worker.sandbox.process import ProcessSandbox
from worker.settings import load_settings

ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


def request(tmp_path, source, *, timeout=60.0, memory_mb=2048, spec=None):
    job = tmp_path / "job"
    (job / "out").mkdir(parents=True)
    inp = job / "input"
    if source == "fifo":
        os.mkfifo(inp)  # a reader blocks forever on it: a real hang
    else:
        shutil.copy(source, inp)
    spec = spec or {}
    return SandboxRequest(
        "j1", str(inp), str(job / "out"), spec, timeout, memory_mb, {}, threads=int(spec.get("threads", 1))
    )


def sandbox():
    return ProcessSandbox(load_settings(environ=ENV))


def test_success_returns_the_result(tmp_path, media):
    result = sandbox().run(request(tmp_path, media["clip"]))
    assert result.result["status"] == "ok" and result.seconds > 0
    assert [o["name"] for o in result.result["outputs"]] == video_outputs("360p", segments=0)


def test_a_hung_run_is_killed_at_the_timeout(tmp_path):
    started = time.monotonic()
    with pytest.raises(ResourceExhausted) as info:
        sandbox().run(request(tmp_path, "fifo", timeout=2))
    assert info.value.reason is Reason.SANDBOX_TIMEOUT
    assert time.monotonic() - started < 15


def test_memory_exhaustion_is_reported_as_oom(tmp_path, media):
    with pytest.raises(ResourceExhausted) as info:
        sandbox().run(request(tmp_path, media["big"], memory_mb=384, spec={"threads": 2}))
    assert info.value.reason is Reason.SANDBOX_OOM


def test_corrupt_input_is_a_permanent_rejection(tmp_path, media):
    with pytest.raises(RejectedInput) as info:
        sandbox().run(request(tmp_path, media["corrupt"]))
    assert info.value.reason in (Reason.CORRUPT_MEDIA, Reason.DECODE_FAILED)


def test_the_run_sees_no_aws_credentials(tmp_path, media, monkeypatch):
    import subprocess

    seen = {}
    real_popen = subprocess.Popen

    def spy(*args, **kwargs):
        seen.update(kwargs["env"])
        return real_popen(*args, **kwargs)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
    monkeypatch.setattr("worker.sandbox.process.subprocess.Popen", spy)
    sandbox().run(request(tmp_path, media["clip"]))
    assert seen and not any(k.startswith("AWS_") for k in seen)
    assert "leak-me" not in seen.values()


@pytest.mark.parametrize(
    "run,expected",
    [
        (RunExit(-11), Reason.SANDBOX_CRASHED),
        (RunExit(139), Reason.SANDBOX_CRASHED),
        (RunExit(1), Reason.SANDBOX_ERROR),
        (RunExit(None, oom_killed=True), Reason.SANDBOX_OOM),
        (RunExit(0), Reason.SANDBOX_ERROR),  # exit 0 without a result.json is not a success
    ],
)
def test_exit_mapping(tmp_path, run, expected):
    with pytest.raises(RetryableError) as info:
        interpret(run, str(tmp_path))
    assert info.value.reason is expected
