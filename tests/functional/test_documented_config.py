"""The worker starts as the deployment docs configure it: deploy/systemd/env.example, the CloudFormation
user data and docs/SANDBOX.md's ``docker run`` line, each giving the region as ``AWS_REGION`` (boto3 alone reads
only ``AWS_DEFAULT_REGION``); and on EC2 with no region variable at all, from IMDSv2 (a fake on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.support.imds import FakeIMDS
from tests.support.stack import Stack, fresh_stack
from tests.support.waiting import free_port_for_test, wait_for
from tests.support.workers import log_text
from worker.local.samples import make_image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
# The template's `${AWS::Region}` is filled in by CloudFormation; this stands in for it.
STACK_REGION = "ca-central-1"


def env_example() -> dict[str, str]:
    """NAME=value lines of deploy/systemd/env.example (the systemd EnvironmentFile)."""
    lines = (ROOT / "deploy/systemd/env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))


def user_data() -> dict[str, str]:
    """What the launch template's user data writes to /etc/media-worker/env (its heredoc)."""
    text = (ROOT / "deploy/cloudformation/media-worker.yaml").read_text()
    body = re.search(r"cat >/etc/media-worker/env <<ENV\n(.*?)\n\s*ENV\n", text, re.S)
    assert body, "no `cat >/etc/media-worker/env <<ENV ... ENV` in the template's user data"
    env = dict(line.strip().split("=", 1) for line in body.group(1).splitlines() if line.strip())
    # Delivery sqs (the default): no upload topic, so no allow-list of topics
    return {
        k: v.replace("${AWS::Region}", STACK_REGION).replace("${UploadTopicArns}", "") for k, v in env.items()
    }


def readme_docker_run() -> dict[str, str]:
    """The ``-e NAME=value`` flags of the ``docker run -d --name media-worker`` example (docs/SANDBOX.md)."""
    text = (ROOT / "docs" / "SANDBOX.md").read_text()
    command = re.search(r"^docker run -d --name media-worker (?:.*\\\n)*.*$", text, re.M)
    assert command, "no `docker run -d --name media-worker` example in docs/SANDBOX.md"
    return dict(re.findall(r"(?:^|\s)-e\s+([A-Z_][A-Z0-9_]*)=(\S*)", command.group(0)))


SOURCES = {
    "systemd-env.example": env_example,
    "cloudformation-user-data": user_data,
    "readme-docker-run": readme_docker_run,
}


def regional_stack(region: str, tmp_path: Path) -> Stack:
    """A fresh stack on the moto server *in that region*: a worker using any other region finds no queue."""
    session = boto3.session.Session(region_name=region)
    s3, sqs = session.client("s3"), session.client("sqs")
    return fresh_stack(tmp_path, "d", s3=s3, sqs=sqs)


def base_environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment (moto's AWS_ENDPOINT_URL and test credentials) with no region anywhere and
    IMDS off, aimed at a closed loopback port besides: nothing here may reach 169.254.169.254."""
    drop = (*REGION_VARIABLES, "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_") and k not in drop}
    env.update(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def plumbing(stack: Stack, port: int) -> dict[str, str]:
    """Test-only settings no deployment file sets, so parallel runs and a shared host don't collide."""
    return {
        "MEDIA_WORKER_WORK_DIR": stack.work_dir,
        "MEDIA_WORKER_POLL_WAIT": "1",
        "MEDIA_WORKER_METRICS_PORT": str(port),
        "MEDIA_WORKER_METRICS_HOST": "127.0.0.1",
    }


def documented_environment(documented: dict[str, str], stack: Stack) -> dict[str, str]:
    """The file's variables, by the names it uses, with the values that point at the test's stack."""
    env = dict(documented)
    env.update(
        {
            "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": stack.resources.production_bucket,
        }
    )
    # The files run the docker runtime (the documented image reaches it through the socket); the process
    # runtime keeps this test light and needs no engine; configuration of the region is the point here.
    env["MEDIA_WORKER_RUNTIME"] = "process"
    left = {k: v for k, v in env.items() if "..." in v or "${" in v}
    assert not left, f"placeholders this test does not know how to fill: {left}"
    return env


def start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, object]:
    log = open(log_path, "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "--pool", "1"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return proc, log


def ready(port: int, proc: subprocess.Popen, log) -> bool:
    assert proc.poll() is None, f"the worker exited {proc.returncode}:\n{log_text(log)}"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status == 200  # a successful SQS poll: the queue was found in the region used
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen, log) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log_text(log)


@pytest.mark.parametrize("source", SOURCES)
def test_the_worker_starts_and_processes_as_each_deployment_file_configures_it(
    moto_endpoint, tmp_path, source
):
    documented = SOURCES[source]()
    regions = [name for name in documented if name in REGION_VARIABLES]
    assert regions, f"{source} gives no region"
    assert {"MEDIA_WORKER_QUEUE_URL", "MEDIA_WORKER_TEMP_BUCKET", "MEDIA_WORKER_PRODUCTION_BUCKET"} <= set(
        documented
    )
    region = documented[regions[0]]  # as the file spells it (the template's filled in)
    stack = regional_stack(region, tmp_path)
    stack.drain_test_event()
    port = free_port_for_test()
    env = {**base_environment(tmp_path), **documented_environment(documented, stack), **plumbing(stack, port)}
    assert "AWS_DEFAULT_REGION" not in env or "AWS_DEFAULT_REGION" in documented

    proc, log = start(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: ready(port, proc, log), timeout=60)
        stack.upload(
            "uploads/documented.png", make_image(str(tmp_path / "documented.png"), width=320, height=200)
        )

        def published() -> list[str]:
            return [k for k in stack.production_keys("media/") if k.endswith("manifest.json")]

        wait_for(
            published, timeout=90
        )  # the only upload of a fresh stack: its manifest (key scheme: keys.py)
        stop(proc, log)
    finally:
        proc.kill()
        proc.wait()
    assert f"AWS region {region} (from {regions[0]}" in log_text(log)


def test_on_ec2_with_no_region_variable_the_instance_metadata_gives_it(moto_endpoint, tmp_path):
    with FakeIMDS("ap-southeast-2") as imds:
        stack = regional_stack("ap-southeast-2", tmp_path)
        port = free_port_for_test()
        env = {
            **base_environment(tmp_path),
            **documented_environment(user_data(), stack),
            **plumbing(stack, port),
        }
        for name in REGION_VARIABLES:  # an instance whose env file names no region at all
            env.pop(name, None)
        env.update({"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint})
        proc, log = start(env, tmp_path / "worker.log")
        try:
            wait_for(lambda: ready(port, proc, log), timeout=60)
            stop(proc, log)
        finally:
            proc.kill()
            proc.wait()
    assert "AWS region ap-southeast-2 (from the EC2 instance metadata)" in log_text(log)
    assert ("GET", "/latest/meta-data/placement/region", True) in imds.requests
    assert all(authorised for method, _, authorised in imds.requests if method == "GET")  # IMDSv2 only
