"""The start-up canary against the real engine: a sandbox with the jobs' exact options, before any message."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import uuid

import pytest

from tests.support.sandboxes import CANARY_PREFIX, our_containers
from worker import owners
from worker.sandbox.canary import canary_problem

pytestmark = pytest.mark.docker


@pytest.fixture
def without_pyav(docker, docker_settings):
    """The sandbox image, but its Python is the system's (no venv, so no PyAV): a wrong image for the job."""
    tag = f"media-worker-test-no-pyav:{uuid.uuid4().hex[:8]}"
    recipe = f"FROM {docker_settings.sandbox_image}\nENV PATH=/usr/bin:/bin PYTHONPATH=\n".encode()
    docker.images.build(fileobj=io.BytesIO(recipe), tag=tag, rm=True)
    yield tag
    docker.images.remove(tag, force=True)


def _settings(base, tmp_path, **changes):
    return dataclasses.replace(base, work_dir=str(tmp_path / "work"), **changes)


def test_a_sandbox_with_the_jobs_options_passes_and_leaves_nothing(sandbox_settings, docker, tmp_path):
    settings = _settings(sandbox_settings, tmp_path)
    assert canary_problem(settings) is None
    assert [c for c in our_containers(docker) if c.name.startswith(CANARY_PREFIX)] == []
    assert [n for n in os.listdir(settings.work_dir) if "canary" in n] == []
    owners.release(settings.work_dir)


def test_an_image_whose_pyav_does_not_import_is_named(docker_settings, without_pyav, tmp_path):
    problem = canary_problem(_settings(docker_settings, tmp_path, sandbox_image=without_pyav))
    owners.release(str(tmp_path / "work"))
    assert problem and "exited 1" in problem and "No module named 'av'" in problem


def test_gvisor_under_runcs_pids_limit_cannot_start_and_says_so(sandbox_settings, tmp_path):
    """Below RUNSC_MIN_PIDS, which the settings refuse: here past the validation, as a host with more CPUs
    than this one could need more threads than the default allows."""
    if sandbox_settings.sandbox_oci_runtime != "runsc":
        assert canary_problem(_settings(sandbox_settings, tmp_path, sandbox_pids_limit=16)) is None
    else:
        problem = canary_problem(_settings(sandbox_settings, tmp_path, sandbox_pids_limit=16))
        assert problem and "did not run" in problem
    owners.release(str(tmp_path / "work"))


def test_the_worker_exits_2_at_start_up_when_no_jobs_sandbox_could_run(stack, without_pyav):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_")}
    env.update(
        {
            "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": stack.resources.production_bucket,
            "MEDIA_WORKER_WORK_DIR": stack.work_dir,
            "MEDIA_WORKER_METRICS_PORT": "0",
            "MEDIA_WORKER_SANDBOX_IMAGE": without_pyav,
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--pool", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot run a job's sandbox here" in proc.stderr and "No module named 'av'" in proc.stderr
    assert "Traceback" not in proc.stderr
