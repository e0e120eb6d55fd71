"""The whole pipeline through moto's HTTP server and the docker runtime."""
from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import RunningService, wait_for
from tests.functional.test_pipeline import collecting_service, exists, read_json, record
from tests.integration.conftest import our_containers
from worker.keys import manifest_key, rejection_key
from worker.sandbox.docker import LABEL_PID

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_uploads_are_published_through_locked_down_containers_that_go_away(stack, media, docker, docker_settings):
    etag = stack.upload("dock/clip.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker"))
    assert service.settings.runtime == "docker"
    with RunningService(service):
        running = wait_for(lambda: our_containers(docker), timeout=60, interval=0.05)
        host = running[0].attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] == 128 and host["Memory"] == 2048 * 1024 * 1024
        assert host["MemorySwap"] == host["Memory"] and host["NanoCpus"] >= 1_000_000_000
        assert running[0].attrs["Config"]["User"] == "65534:65534"
        assert "/tmp" in host["Tmpfs"] and "size=256m" in host["Tmpfs"]["/tmp"]
        binds = {b.split(":")[1]: b.split(":")[2] for b in host["Binds"]}
        assert binds == {"/job/in": "ro", "/job/out": "rw"}
        wait_for(lambda: exists(stack, manifest_key(record(stack, "dock/clip.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [o.status for _, o in outcomes] == ["published"]
    assert our_containers(docker) == []
    outputs = read_json(stack, manifest_key(record(stack, "dock/clip.mp4", etag)))["outputs"]
    assert {(o["name"], o["width"], o["height"]) for o in outputs} == {
        ("video_1080p.mp4", 1920, 1080), ("video_720p.mp4", 1280, 720), ("video_480p.mp4", 854, 480),
        ("poster.jpg", 1920, 1080)}


def test_a_hung_job_is_killed_retried_once_then_rejected(stack, media, docker, docker_settings):
    etag = stack.upload("slow.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker", job_timeout=1))
    with RunningService(service):
        wait_for(lambda: exists(stack, rejection_key(record(stack, "slow.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [(o.status, o.reason) for _, o in outcomes] == [("retry", "sandbox_timeout"),
                                                           ("rejected", "timeout_repeated")]
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    assert our_containers(docker) == []


def test_a_killed_child_takes_its_container_with_it_and_the_job_is_retried(stack, media, docker, docker_settings):
    etag = stack.upload("killed.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker", pool=2))
    with RunningService(service):
        running = wait_for(lambda: our_containers(docker), timeout=60, interval=0.05)
        first = running[0]
        os.kill(int(first.labels[LABEL_PID]), signal.SIGKILL)
        wait_for(lambda: first.id not in [c.id for c in our_containers(docker)], timeout=30)
        wait_for(lambda: exists(stack, manifest_key(record(stack, "killed.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [(o.status, o.reason) for _, o in outcomes] == [("retry", "worker_died"), ("published", None)]
    assert our_containers(docker) == []
    assert os.listdir(stack.work_dir) == []
