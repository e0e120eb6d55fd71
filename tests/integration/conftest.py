"""Docker is required here: a missing engine or image fails these tests, it never skips them."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.media import device_files, media  # noqa: F401 - fixtures
from tests.support.sandboxes import our_containers
from tests.support.stack import moto_endpoint, stack  # noqa: F401 - fixtures
from worker.sandbox.docker import LABEL_JOB, docker_client, engine_ready
from worker.settings import load_settings, with_overrides

IMAGE_ENV = {
    "MEDIA_WORKER_QUEUE_URL": "q",
    "MEDIA_WORKER_TEMP_BUCKET": "t",
    "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
}


@pytest.fixture(scope="session")
def docker_settings():
    """Settings for the docker runtime; fails the run when no engine answers or the image is missing."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image cannot be pulled here
    # cold: these tests drive one sandbox run at a time (tests/integration/test_warm_sandbox.py: warm ones)
    settings = load_settings({"runtime": "docker", "sandbox_warm": False}, environ=IMAGE_ENV)
    problem = engine_ready(settings.sandbox_image)
    if problem:
        pytest.fail(
            f"a Docker engine with the image {settings.sandbox_image} is required ({problem}); "
            "`bash scripts/test.sh` starts dockerd and builds the images",
            pytrace=False,
        )
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
