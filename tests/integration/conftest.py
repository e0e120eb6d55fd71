"""Docker is required here: a missing engine or image fails these tests, it never skips them."""
from __future__ import annotations

import os

import pytest

from worker.sandbox.docker import docker_client, engine_ready
from worker.settings import load_settings

IMAGE_ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


@pytest.fixture(scope="session")
def docker_settings():
    """Settings for the docker runtime; fails the run when no engine answers or the image is missing."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image cannot be pulled here
    settings = load_settings({"runtime": "docker"}, environ=IMAGE_ENV)
    problem = engine_ready(settings.sandbox_image)
    if problem:
        pytest.fail(f"a Docker engine with the image {settings.sandbox_image} is required ({problem}); "
                    "`bash scripts/test.sh` starts dockerd and builds the images", pytrace=False)
    return settings


@pytest.fixture
def docker(docker_settings):
    client = docker_client()
    yield client
    client.close()


def our_containers(client, **labels):
    filters = ["media-worker.job"] + [f"{k}={v}" for k, v in labels.items()]
    return client.containers.list(all=True, filters={"label": filters})
