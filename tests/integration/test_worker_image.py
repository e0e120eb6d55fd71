"""The worker image runs the service and starts sibling sandboxes through the host's Docker socket."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from tests.support.pipeline import exists, record
from tests.support.sandboxes import our_containers
from tests.support.waiting import wait_for
from worker import __version__
from worker.child.keys import manifest_key
from worker.local.stack import LOCAL_CREDENTIALS

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_worker_image_processes_uploads_and_stops_cleanly(
    stack, media, docker, docker_settings, moto_endpoint
):
    work_dir = f"/dev/shm/mw-image-test-{uuid.uuid4().hex[:8]}"  # the same path on the host and inside
    os.makedirs(work_dir)
    env = {
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
        "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
        "MEDIA_WORKER_PRODUCTION_BUCKET": stack.resources.production_bucket,
        "MEDIA_WORKER_RUNTIME": "docker",
        "MEDIA_WORKER_WORK_DIR": work_dir,
        "MEDIA_WORKER_POLL_WAIT": "1",
    }
    worker = docker.containers.run(
        f"media-worker:{__version__}",
        command=["--pool", "1"],
        detach=True,
        network_mode="host",  # moto listens on the host's loopback
        volumes={
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
            work_dir: {"bind": work_dir, "mode": "rw"},
        },
        environment=env,
    )
    try:
        etag = stack.upload("from-image.mp4", media["clip"])
        wait_for(lambda: exists(stack, manifest_key(record(stack, "from-image.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
        worker.stop(timeout=60)  # SIGTERM: drain, then exit 0
        assert worker.wait(timeout=60)["StatusCode"] == 0, worker.logs().decode()[-2000:]
        logs = worker.logs().decode()
        assert "runtime=docker" in logs and "Traceback" not in logs
        assert our_containers(docker) == [] and os.listdir(work_dir) == []
    finally:
        worker.remove(force=True)
        shutil.rmtree(work_dir, ignore_errors=True)
