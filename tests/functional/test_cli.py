"""``python -m worker`` as a real process: SIGTERM drain, release on deadline, and the demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.waiting import wait_for
from tests.support.workers import log_text, start_worker
from worker.child.keys import manifest_key
from worker.s3events.parse import SourceRecord

pytestmark = pytest.mark.slow


def test_sigterm_lets_the_running_job_finish_then_exits_0(stack, media):
    etag = stack.upload("drain.mp4", media["big"])
    proc, log = start_worker(stack, drain_timeout=120)
    try:
        wait_for(lambda: "job " in log_text(log), timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, log_text(log)
    finally:
        proc.kill()
    record = SourceRecord(stack.resources.temp_bucket, "drain.mp4", None, etag, None, "ObjectCreated:Put")
    assert stack.s3.head_object(Bucket=stack.resources.production_bucket, Key=manifest_key(record))
    assert stack.counts() == (0, 0)
    assert "draining" in log_text(log)


def test_sigterm_past_the_deadline_releases_the_message_at_once(stack, media):
    stack.upload("release.mp4", media["big"])
    proc, log = start_worker(stack, drain_timeout=0)
    try:
        wait_for(lambda: "job " in log_text(log), timeout=60)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_text(log)
        # visibility was 30 s: seeing it visible well before proves it was released, not expired
        wait_for(lambda: stack.counts() == (1, 0), timeout=10)
        assert time.monotonic() - started < 25
    finally:
        proc.kill()
    assert os.listdir(stack.work_dir) == []
    assert stack.production_keys() == []
    assert "runtime=docker" in log_text(log)
    assert_no_sandbox_containers()


def assert_no_sandbox_containers():
    """The killed job's container went with it (the drain kills children, their containers are reaped)."""
    from worker.sandbox.docker import docker_client

    client = docker_client()
    try:
        assert client.containers.list(all=True, filters={"label": "media-worker.job"}) == []
    finally:
        client.close()


def test_a_second_signal_stops_at_once(stack, media):
    stack.upload("now.mp4", media["big"])
    proc, log = start_worker(stack, drain_timeout=600)
    try:
        wait_for(lambda: "job " in log_text(log), timeout=60)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log_text(log)
        wait_for(lambda: stack.counts() == (1, 0), timeout=10)
    finally:
        proc.kill()
    assert_no_sandbox_containers()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--delivery", "sns", "--runtime", "process"],
        ["--delivery", "eventbridge", "--runtime", "process"],
    ],
    ids=["sqs", "sns", "eventbridge"],
)
def test_the_demo_passes(args):
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "demo", *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: 6 uploads" in proc.stdout
    assert f"delivered by {args[1] if args else 'sqs'}" in proc.stdout
    assert "corrupt_media" in proc.stdout or "decode_failed" in proc.stdout


def test_local_stack_and_a_worker_pointed_at_it_by_aws_endpoint_url(tmp_path, media):
    """The two commands a developer runs by hand: the stack prints its environment, the worker uses only that."""
    import boto3

    from tests.support.waiting import free_port_for_test

    port = free_port_for_test()
    stack_proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "local-stack", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    worker = None
    try:
        exported: dict[str, str] = {}
        while "MEDIA_WORKER_PRODUCTION_BUCKET" not in exported:  # the last line it prints
            line = stack_proc.stdout.readline()
            assert line, "local-stack exited before printing its environment"
            name, value = line.strip().removeprefix("export ").split("=", 1)
            exported[name] = value
        assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIA_WORKER_"))}
        env = {
            **clean,
            **exported,
            "MEDIA_WORKER_POLL_WAIT": "1",
            "MEDIA_WORKER_WORK_DIR": str(tmp_path / "w"),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "--pool", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=exported["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.upload_file(media["mp3"], exported["MEDIA_WORKER_TEMP_BUCKET"], "by-another-client.mp3")

        def published():
            listing = s3.list_objects_v2(Bucket=exported["MEDIA_WORKER_PRODUCTION_BUCKET"], Prefix="media/")
            return [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("manifest.json")]

        (manifest,) = wait_for(published, timeout=90)
        doc = json.loads(
            s3.get_object(Bucket=exported["MEDIA_WORKER_PRODUCTION_BUCKET"], Key=manifest)["Body"].read()
        )
        assert doc["source"]["key"] == "by-another-client.mp3"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        for proc in (worker, stack_proc):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_the_default_runtime_is_docker_and_refuses_to_start_without_its_image(stack):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_")}
    env.update(
        {
            "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": stack.resources.production_bucket,
            "MEDIA_WORKER_WORK_DIR": stack.work_dir,
            "MEDIA_WORKER_METRICS_PORT": "0",
            "MEDIA_WORKER_SANDBOX_IMAGE": "media-worker-ffmpeg:no-such-tag",
        }
    )  # no MEDIA_WORKER_RUNTIME
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--pool", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "docker runtime cannot start sandboxes" in proc.stderr
        and "media-worker-ffmpeg:no-such-tag" in proc.stderr
    )
    assert "MEDIA_WORKER_RUNTIME=process" in proc.stderr and "Traceback" not in proc.stderr
