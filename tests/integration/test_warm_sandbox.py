"""Warm single-use sandboxes against the real engine: the next container waits, started, for its one job;
it never serves a second job nor sees another job's files; a dead or unfit one fails no job; all go at close."""

from __future__ import annotations

import dataclasses
import io
import json
import os

import pytest

from tests.support.expect import video_outputs
from tests.support.sandboxes import job, our_containers
from tests.support.waiting import wait_for
from worker import owners
from worker.sandbox.docker import LABEL_JOB, LABEL_OWNER, DockerSandbox
from worker.sandbox.reaper import reap
from worker.sandbox.warm import LABEL_WARM
from worker.settings import with_overrides

pytestmark = pytest.mark.docker


@pytest.fixture
def warm_sandbox(sandbox_settings, docker):
    """Warm, on runc and on runsc."""
    sandbox = DockerSandbox(with_overrides(sandbox_settings, sandbox_warm=True))
    yield sandbox
    sandbox.close()
    assert warm_containers(docker) == [], "close removes the warm container"


def warm_containers(docker) -> list:
    return [
        c
        for c in our_containers(docker, **{LABEL_OWNER: owners.instance_id()})
        if c.labels.get(LABEL_WARM) == "1"
    ]


def running_warm(docker):
    found = [c for c in warm_containers(docker) if c.status == "running"]
    return found[0] if len(found) == 1 else None


def sh(container, command: str) -> str:
    code, out = container.exec_run(["/bin/sh", "-c", command], user="65534:65534")
    return out.decode("utf-8", "replace")


def listing(container) -> dict:
    """What the container sees in its scratch, input and output directories (Python's listdir: gVisor
    answers coreutils' statx with EINVAL here)."""
    out = sh(
        container,
        "python3 -c 'import json, os; print(json.dumps({d: sorted(os.listdir(d)) for d in "
        '("/tmp", "/job/in", "/job/out")}))\'',
    )
    return json.loads(out)


def warmed(sandbox, docker, source, tmp_path, cleanup):
    """A job for ``source`` (removed after the test), and the warm container ``sandbox`` started for jobs
    like it, once it runs: ``(request, container)``."""
    request = job(tmp_path, source)
    cleanup(request)
    sandbox.prepare(request)
    return request, wait_for(lambda: running_warm(docker), timeout=60)


def test_each_job_gets_a_fresh_warm_container_that_never_sees_the_last_jobs_files(
    warm_sandbox, docker, media, tmp_path, cleanup
):
    first, waiting = warmed(warm_sandbox, docker, media["clip"], tmp_path, cleanup)
    # a hostile job's trace: a marker in its scratch tmpfs and its output directory, before its hand-off
    sh(waiting, "echo first > /tmp/marker && echo first > /job/out/marker")
    result = warm_sandbox.run(first)
    assert result.result["status"] == "ok" and result.start_seconds == 0.0, "handed over, not started"
    assert [o["name"] for o in result.result["outputs"]] == video_outputs("360p", segments=0)
    assert os.path.exists(os.path.join(first.output_dir, "marker")), (
        "its outputs are the job's, marker included"
    )
    successor = wait_for(lambda: (c := running_warm(docker)) and c.id != waiting.id and c, timeout=60)
    assert listing(successor) == {"/tmp": [], "/job/in": [], "/job/out": []}, (
        "the next container sees nothing of the last job: no marker, no input, no outputs"
    )
    wait_for(
        lambda: waiting.id not in [c.id for c in warm_containers(docker)], timeout=30
    )  # removed, off the path
    second = job(tmp_path, media["clip"])
    cleanup(second)
    assert warm_sandbox.run(second).result["status"] == "ok"
    assert not os.path.exists(os.path.join(second.output_dir, "marker"))
    assert wait_for(
        lambda: (c := running_warm(docker)) and c.id not in (waiting.id, successor.id), timeout=60
    )


def test_a_warm_container_that_died_while_waiting_fails_no_job(
    warm_sandbox, docker, media, tmp_path, cleanup
):
    request, dead = warmed(warm_sandbox, docker, media["clip"], tmp_path, cleanup)
    dead.kill()
    result = warm_sandbox.run(request)
    assert result.result["status"] == "ok" and result.start_seconds > 0, "run cold instead"
    assert wait_for(lambda: (c := running_warm(docker)) and c.id != dead.id, timeout=60), "and replaced"


def test_a_warm_container_that_dies_after_its_last_inspect_gives_the_job_back(
    warm_sandbox, docker, media, tmp_path, cleanup
):
    request, _ = warmed(warm_sandbox, docker, media["clip"], tmp_path, cleanup)
    inspect = warm_sandbox._slot._inspect

    def dying(name):  # seen running, then killed before the hand-off (the engine restarted, say)
        container = inspect(name)
        docker.containers.get(name).kill()
        return container

    warm_sandbox._slot._inspect = dying
    result = warm_sandbox.run(request)
    assert result.result["status"] == "ok" and result.start_seconds > 0, "the job ran cold, nothing failed"


def test_a_job_with_other_limits_runs_cold_and_the_warm_one_is_replaced(
    warm_sandbox, docker, media, tmp_path, cleanup
):
    template, made = warmed(warm_sandbox, docker, media["clip"], tmp_path, cleanup)
    bigger = dataclasses.replace(job(tmp_path, media["clip"]), memory_mb=template.memory_mb * 2)
    cleanup(bigger)
    result = warm_sandbox.run(bigger)
    assert result.result["status"] == "ok" and result.start_seconds > 0
    after = wait_for(lambda: (c := running_warm(docker)) and c.id != made.id and c, timeout=60)
    assert after.attrs["HostConfig"]["Memory"] == bigger.memory_mb * 1024 * 1024, "made for the new limits"


def test_the_janitor_knows_warm_containers_by_their_owner(docker_settings, docker, media, tmp_path, cleanup):
    sandbox = DockerSandbox(with_overrides(docker_settings, sandbox_warm=True))
    try:
        request, warm = warmed(sandbox, docker, media["clip"], tmp_path, cleanup)
        assert warm.labels[LABEL_JOB].startswith("media-worker-warm")
        assert reap(docker_settings.work_dir, owner=owners.instance_id()) >= 1
        assert warm.id not in [c.id for c in warm_containers(docker)]
        assert sandbox.run(request).result["status"] == "ok", "its job runs cold: no job fails"
    finally:
        sandbox.close()


def test_a_used_warm_directory_holds_no_input_once_its_run_returned(
    warm_sandbox, docker, media, tmp_path, cleanup
):
    request, _ = warmed(warm_sandbox, docker, media["clip"], tmp_path, cleanup)
    used = warm_sandbox._slot._next.result().directory
    assert warm_sandbox.run(request).result["status"] == "ok"
    # the remover may not have reached it yet: whatever is left of it holds no upload and no spec
    assert not os.path.exists(os.path.join(used, "in", "input"))
    assert not os.path.exists(os.path.join(used, "in", "spec.json"))


@pytest.fixture
def retaggable(docker_settings, docker):
    """The sandbox image under a tag of this test's own, moved to a rebuilt copy mid-test (and removed)."""
    tag = f"media-worker-ffmpeg:retag-{os.getpid()}"
    docker.images.get(docker_settings.sandbox_image).tag(tag)
    yield tag
    docker.images.remove(tag, force=True)  # the tag; and the rebuilt image, which has no other


def test_a_warm_container_of_an_image_its_tag_no_longer_names_runs_no_job(
    docker_settings, retaggable, docker, media, tmp_path, cleanup
):
    sandbox = DockerSandbox(with_overrides(docker_settings, sandbox_warm=True, sandbox_image=retaggable))
    try:
        request, old = warmed(sandbox, docker, media["clip"], tmp_path, cleanup)
        # rebuilt and tagged again (a codec's security fix): one more layer gives the same files a new ID
        recipe = f"FROM {retaggable}\nLABEL media-worker.test-rebuilt=1\n".encode()
        rebuilt, _ = docker.images.build(fileobj=io.BytesIO(recipe), tag=retaggable, rm=True)
        assert rebuilt.id != old.attrs["Image"]
        result = sandbox.run(request)
        assert result.result["status"] == "ok" and result.start_seconds > 0, "run cold, on the new image"
        after = wait_for(lambda: (c := running_warm(docker)) and c.id != old.id and c, timeout=60)
        assert after.attrs["Image"] == rebuilt.id, "the next warm one is made from what the tag names now"
    finally:
        sandbox.close()
