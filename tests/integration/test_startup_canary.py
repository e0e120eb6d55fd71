"""The start-up canary against the real engine: a sandbox with the jobs' exact options, before any message."""

from __future__ import annotations

import dataclasses
import io
import os
import uuid

import pytest

from tests.support.sandboxes import CANARY_PREFIX, our_containers
from tests.support.workers import log_text, start_worker
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
    proc, log = start_worker(stack, sandbox_image=without_pyav)
    try:
        assert proc.wait(timeout=120) == 2
    finally:
        proc.kill()
    text = log_text(log)
    assert "cannot run a job's sandbox here" in text and "No module named 'av'" in text
    assert "Traceback" not in text
