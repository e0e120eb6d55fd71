"""Docker is required here: a missing engine or image fails these tests, it never skips them."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.sandboxes import name_of, split_by_job
from worker.sandbox.base import SandboxRequest
from worker.sandbox.docker import LABEL_JOB, docker_client, engine_ready
from worker.settings import load_settings, with_overrides

IMAGE_ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


@pytest.fixture(scope="session")
def docker_settings():
    """Settings for the docker runtime; fails the run when no engine answers or the image is missing."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image cannot be pulled here
    # cold: these tests drive one sandbox run at a time (tests/integration/test_warm_sandbox.py: warm ones)
    settings = load_settings({"runtime": "docker", "sandbox_warm": False}, environ=IMAGE_ENV)
    problem = engine_ready(settings.sandbox_image)
    if problem:
        pytest.fail(f"a Docker engine with the image {settings.sandbox_image} is required ({problem}); "
                    "`bash scripts/test.sh` starts dockerd and builds the images", pytrace=False)
    return settings


@pytest.fixture(params=["runc", "runsc"])
def sandbox_settings(request, docker_settings):
    """The docker runtime on each OCI runtime CI runs: the engine's default (runc) and gVisor (runsc); an
    engine that does not know runsc fails the runsc tests (scripts/dockerd.sh registers it)."""
    if request.param == "runc":
        return docker_settings
    settings = with_overrides(docker_settings, sandbox_oci_runtime="runsc")
    problem = engine_ready(settings.sandbox_image, "runsc")
    if problem:
        pytest.fail(f"gVisor is required: {problem}", pytrace=False)
    return settings


@pytest.fixture
def docker(docker_settings):
    client = docker_client()
    yield client
    client.close()


def our_containers(client, **labels):
    """Sandbox containers (inspected); a container removed between the listing and its inspection (docker-py
    inspects each one it lists) makes the listing start over rather than fail the test."""
    import docker.errors

    filters = ["media-worker.job"] + [f"{k}={v}" for k, v in labels.items()]
    for _ in range(20):
        try:
            return client.containers.list(all=True, filters={"label": filters})
        except docker.errors.NotFound:
            continue
    return client.containers.list(all=True, filters={"label": filters}, sparse=True)


def busy_sandboxes(client, work_dir: str) -> list:
    """Sandbox containers running a job now (tests/sandboxes.py): not warm ones still waiting."""
    running = [c for c in our_containers(client) if c.status == "running"]
    busy, _ = split_by_job([name_of(c) for c in running], work_dir)
    return [c for c in running if name_of(c) in busy]


def job(tmp_path, source, *, timeout=120.0, memory_mb=1024, spec=None, base=None):
    """A job directory on the host tmpfs (or in ``base``), as the worker lays it out."""
    base = base or ("/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path))
    job_dir = os.path.join(base, f"mw-test-{os.getpid()}-{time.monotonic_ns()}")
    os.makedirs(os.path.join(job_dir, "in"))
    os.makedirs(os.path.join(job_dir, "out"))
    inp = os.path.join(job_dir, "in", "input")
    if source == "fifo":
        os.mkfifo(inp)  # the program blocks reading it: a real hang
    else:
        shutil.copy(source, inp)
    job_id = os.path.basename(job_dir)
    return SandboxRequest(job_id, inp, os.path.join(job_dir, "out"), spec or {"threads": 1, "demuxer": "mov"},
                          timeout, memory_mb, {LABEL_JOB: job_id})


@pytest.fixture
def cleanup():
    """Register a request: its job directory and any container of its job go at the end, pass or fail."""
    requests = []
    yield requests.append
    client = docker_client()
    try:
        for request in requests:
            for container in our_containers(client, **{LABEL_JOB: request.job_id}):
                container.remove(force=True)
            shutil.rmtree(os.path.dirname(request.output_dir), ignore_errors=True)
    finally:
        client.close()
