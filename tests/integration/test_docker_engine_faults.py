"""No container is left running when the engine's client fails (the real engine, behind tests/support/dockerproxy.py).

The proxy lets the engine act on a request and then drops the client's connection, so docker-py sees a
``requests`` ConnectionError (no DockerException) for something that did happen.
"""

from __future__ import annotations

import dataclasses
import time

import docker as docker_sdk
import pytest

from tests.support.dockerproxy import DockerProxy
from tests.support.sandboxes import job, our_containers
from worker.errors import Reason, ResourceExhausted, RetryableError
from worker.parent.janitor import Janitor
from worker.sandbox.docker import LABEL_DEADLINE, LABEL_JOB, DockerSandbox, owner_labels

pytestmark = pytest.mark.docker
CONTAINER = r"/containers/[^/]+"


def _run_behind(proxy, settings, request):
    client = docker_sdk.DockerClient(base_url=proxy.url, timeout=60)
    sandbox = DockerSandbox(settings, client=client)
    try:
        sandbox.run(request)
    finally:
        sandbox.close()


def test_a_connection_lost_on_start_still_removes_the_started_container(
    docker_settings, docker, tmp_path, cleanup
):
    request = job(tmp_path, "fifo", timeout=60)  # the program hangs: a started container would stay
    cleanup(request)
    with DockerProxy() as proxy:
        proxy.break_requests(rf"^POST {CONTAINER}/start$")
        with pytest.raises(RetryableError) as info:
            _run_behind(proxy, docker_settings, request)
        assert proxy.broken and proxy.broken[0].endswith("/start")
    assert info.value.reason is Reason.SANDBOX_ERROR
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


def test_a_connection_lost_during_wait_is_a_sandbox_error_not_a_timeout(
    docker_settings, docker, tmp_path, cleanup
):
    request = job(tmp_path, "fifo", timeout=60)
    cleanup(request)
    with DockerProxy() as proxy:
        proxy.break_requests(rf"^POST {CONTAINER}/wait$", wait_reply=False)  # its reply comes at the exit
        with pytest.raises(RetryableError) as info:
            _run_behind(proxy, docker_settings, request)
        assert [b for b in proxy.broken if b.endswith("/wait")]
    # a wait that was taken for the deadline would have been a ResourceExhausted(sandbox_timeout)
    assert not isinstance(info.value, ResourceExhausted) and info.value.reason is Reason.SANDBOX_ERROR
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == [], "killed and removed all the same"


def test_a_connection_lost_on_the_deadlines_kill_is_still_a_timeout_and_removed(
    docker_settings, docker, tmp_path, cleanup
):
    request = job(tmp_path, "fifo", timeout=2)
    cleanup(request)
    with DockerProxy() as proxy:
        proxy.break_requests(rf"^POST {CONTAINER}/kill$")
        with pytest.raises(ResourceExhausted) as info:
            _run_behind(proxy, docker_settings, request)
        assert [b for b in proxy.broken if b.endswith("/kill")]
    assert info.value.reason is Reason.SANDBOX_TIMEOUT
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


def test_a_container_its_run_could_not_remove_is_removed_by_the_janitor_past_its_deadline(
    docker_settings, docker, tmp_path, cleanup
):
    settings = dataclasses.replace(docker_settings, work_dir=str(tmp_path / "work"))
    request = job(tmp_path, "fifo", timeout=2)
    cleanup(request)
    with DockerProxy() as proxy:
        # the engine is unreachable for kills and removals: none is ever sent
        proxy.break_requests(rf"^(POST {CONTAINER}/kill|DELETE {CONTAINER})$", times=None, forward=False)
        with pytest.raises(ResourceExhausted):
            _run_behind(proxy, settings, request)
    [left] = our_containers(docker, **{LABEL_JOB: request.job_id})
    assert left.status == "running"
    # a container of the same live owner that is still within its time stays
    within = docker.containers.run(
        settings.sandbox_image,
        entrypoint=["python3", "-c", "import time; time.sleep(300)"],
        detach=True,
        network_mode="none",
        labels={**owner_labels(settings.work_dir, 300), LABEL_JOB: request.job_id + "-2"},
    )
    try:
        time.sleep(max(0.0, int(left.labels[LABEL_DEADLINE]) - time.time()) + 1.1)
        Janitor(settings).sweep()
        assert our_containers(docker, **{LABEL_JOB: request.job_id}) != [], "within the grace period: kept"
        Janitor(
            settings, deadline_grace=0
        ).sweep()  # its owner (this process) is alive: only the deadline says so
        assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []
        assert [c.id for c in our_containers(docker, **{LABEL_JOB: request.job_id + "-2"})] == [within.id]
    finally:
        within.remove(force=True)
