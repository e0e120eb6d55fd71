"""The start-up canary against the real engine: a sandbox with the jobs' exact options, before any message."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import uuid

import pytest

from tests.support.dockerproxy import DockerProxy
from tests.support.sandboxes import our_containers
from tests.support.waiting import wait_for
from tests.support.workers import log_text, start_worker
from worker import owners
from worker.sandbox.canary import canary_problem
from worker.sandbox.lockdown import LABEL_WORK_DIR

pytestmark = pytest.mark.docker


@pytest.fixture
def without_pyav(docker, docker_settings):
    """The sandbox image with PyAV deleted from it (whatever its base): a wrong image for the job."""
    tag = f"media-worker-test-no-pyav:{uuid.uuid4().hex[:8]}"
    recipe = (
        f"FROM {docker_settings.sandbox_image}\nUSER 0\n"
        "RUN python3 -c 'import av, os, shutil; shutil.rmtree(os.path.dirname(av.__file__))'\n"
        "USER 65534:65534\n"
    ).encode()
    docker.images.build(fileobj=io.BytesIO(recipe), tag=tag, rm=True)
    yield tag
    docker.images.remove(tag, force=True)


@pytest.fixture
def settings_for(tmp_path):
    """``settings_for(base, **changes)``: a work directory of the test's own; its lock released after."""
    work = str(tmp_path / "work")
    yield lambda base, **changes: dataclasses.replace(base, work_dir=work, **changes)
    owners.release(work)


def test_a_sandbox_with_the_jobs_options_passes_and_leaves_nothing(sandbox_settings, docker, settings_for):
    settings = settings_for(sandbox_settings)
    assert canary_problem(settings) is None
    assert our_containers(docker, **{LABEL_WORK_DIR: os.path.abspath(settings.work_dir)}) == []
    assert [n for n in os.listdir(settings.work_dir) if "canary" in n] == []


def test_an_image_whose_pyav_does_not_import_is_named(docker_settings, without_pyav, settings_for):
    problem = canary_problem(settings_for(docker_settings, sandbox_image=without_pyav))
    assert problem and "exited 1" in problem and "No module named 'av'" in problem


def test_gvisor_under_runcs_pids_limit_cannot_start_and_says_so(sandbox_settings, settings_for):
    """Below RUNSC_MIN_PIDS, which the settings refuse: here past the validation, as a host with more CPUs
    than this one could need more threads than the default allows."""
    problem = canary_problem(settings_for(sandbox_settings, sandbox_pids_limit=16))
    if sandbox_settings.sandbox_oci_runtime == "runsc":
        assert problem and "did not start" in problem
    else:
        assert problem is None


def test_the_worker_exits_2_at_start_up_when_no_jobs_sandbox_could_run(stack, without_pyav):
    proc, log = start_worker(stack, sandbox_image=without_pyav)
    try:
        assert proc.wait(timeout=120) == 2
    finally:
        proc.kill()
    text = log_text(log)
    assert "cannot run a job's sandbox here" in text and "No module named 'av'" in text
    assert "Traceback" not in text


def test_a_sigterm_during_the_canary_exits_0_and_starts_nothing(stack):
    """The engine holds the canary's wait (a slow engine at boot); systemd stops the unit meanwhile."""
    with DockerProxy() as proxy:
        proxy.stall_requests(r"^POST /containers/[0-9a-f]+/wait$", 5.0, times=1)  # the first: the canary
        proc, log = start_worker(stack, environ={"DOCKER_HOST": proxy.url})
        try:
            wait_for(lambda: any(b.endswith("/wait") for b in proxy.broken), timeout=60, interval=0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
    text = log_text(log)
    assert "starting: pool=" not in text and "Traceback" not in text
    assert [n for n in os.listdir(stack.work_dir) if "canary" in n or n.endswith(".lock")] == []
