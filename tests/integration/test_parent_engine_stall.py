"""A busy engine holds back no lease (issue 14): the Docker engine, behind tests/support/dockerproxy.py, takes 40 s to
answer every container listing — what the janitor asks after a pool child dies — while another job runs.
Its lease keeps being extended, it is never redelivered, and the main loop keeps ticking."""

from __future__ import annotations

import functools
import os
import signal
import time

import pytest

from tests.support.dockerproxy import DockerProxy
from tests.support.pipeline import collecting_service, exists, record
from tests.support.service import RunningService, record_ticks
from tests.support.waiting import wait_for
from worker.child.job import JobRunner
from worker.child.keys import manifest_key
from worker.sandbox.docker import DockerSandbox

pytestmark = [pytest.mark.docker, pytest.mark.slow]
STALL = 40.0


class SlowForVideo(DockerSandbox):
    """The real docker runtime, after a pause: for video, longer than the engine's stall; for audio, long
    enough to be killed mid-job."""

    def run(self, request):
        time.sleep({"video": STALL + 5, "audio": 20.0}.get(request.spec.get("kind_hint"), 0.0))
        return super().run(request)


def test_an_engine_that_takes_40_s_to_list_holds_back_no_heartbeat(
    stack, media, docker, docker_settings, monkeypatch
):
    stack.drain_test_event()
    with DockerProxy() as proxy:
        monkeypatch.setenv("DOCKER_HOST", proxy.url)  # the parent's janitor and the children's sandboxes
        slow = stack.upload("engine/slow.mp4", media["clip"])
        stack.upload("engine/victim.mp3", media["mp3"])
        factory = functools.partial(JobRunner, sandbox_factory=SlowForVideo)
        service, outcomes = collecting_service(
            stack.settings(runtime="docker", pool=2, visibility_timeout=6), runner_factory=factory
        )
        ticks = record_ticks(service)
        with RunningService(service):
            victim = wait_for(lambda: other_child(service), timeout=60, interval=0.05)
            proxy.stall_requests(r"^GET /containers/json$", STALL)
            stalled_at, extensions = time.monotonic(), service.leases.extensions
            os.kill(victim, signal.SIGKILL)  # the janitor reaps its containers: a listing that takes 40 s
            wait_for(lambda: any(b.startswith("GET /containers/json") for b in proxy.broken), timeout=30)
            wait_for(lambda: exists(stack, manifest_key(record(stack, "engine/slow.mp4", slow))), timeout=120)
        during = [b - a for a, b in zip(ticks, ticks[1:]) if a >= stalled_at and b <= stalled_at + STALL]
    assert service.stats["redelivered_in_flight"] == 0 and service.leases.failed_extensions == 0
    assert service.leases.extensions - extensions >= 8  # the slow job's, about every 3 s through the stall
    assert during and max(during) < 5.0, max(during)  # far below the 40 s stall (TICK is 0.1 s)
    assert service.pool.deaths >= 1


def other_child(service):
    """The pid of a pool child that is not running the slow video job (once that one runs), else None."""
    pids = service.pool.pids()
    try:
        video = {
            j.job_id
            for f in list(service._inflight.values())
            for j in list(f.jobs.values())
            if j.record.key.endswith(".mp4")
        }
    except RuntimeError:  # the main loop changed the dicts while we looked
        return None
    running_video = video & set(pids)
    others = [pid for job_id, pid in pids.items() if job_id not in video]  # the audio job's
    return others[0] if running_video and others else None
