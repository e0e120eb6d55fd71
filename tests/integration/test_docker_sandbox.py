"""The docker runtime against the real engine: transcode, lock-down, timeout, OOM, orphan reaper."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time

import pytest
from testcontainers.core.container import DockerContainer

from tests.support.expect import video_outputs
from tests.support.lockholder import died_holding, hold_lock
from tests.support.sandboxes import job, our_containers
from worker import owners
from worker.errors import Reason, ResourceExhausted
from worker.sandbox.base import prepare_spec
from worker.sandbox.docker import (
    LABEL_DEADLINE,
    LABEL_JOB,
    LABEL_OWNER,
    LABEL_PARENT_OWNER,
    LABEL_WORK_DIR,
    DockerSandbox,
    owner_labels,
)
from worker.sandbox.kills import SIGKILL_EXIT, engine_kills, killed_by_kernel
from worker.sandbox.reaper import reap

pytestmark = pytest.mark.docker

PROBE = r"""
import ctypes, json, os, socket
r = {"uid": os.getuid(), "interfaces": [name for _, name in socket.if_nameindex()]}
r["routes"] = open("/proc/net/route").read().splitlines()[1:]
for name, path in (("rootfs", "/etc/probe"), ("input", "/job/in/probe"), ("tmp", "/tmp/probe"), ("out", "/job/out/probe")):
    try:
        open(path, "w").write("x"); r[name] = "writable"
    except OSError as exc:
        r[name] = exc.errno
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
r["CapEff"] = status["CapEff"].strip()
r["NoNewPrivs"] = str(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS (gVisor's status lacks it)
print("PROBE " + json.dumps(r), flush=True)
"""


def test_the_image_transcodes_and_leaves_no_container(sandbox_settings, docker, media, tmp_path, cleanup):
    request = job(tmp_path, media["clip"])
    cleanup(request)
    result = DockerSandbox(sandbox_settings).run(request)
    assert result.result["status"] == "ok" and result.start_seconds > 0
    assert [o["name"] for o in result.result["outputs"]] == video_outputs("360p", segments=0)
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


def test_the_sandbox_has_no_network_and_writes_only_its_tmpfs_and_outputs(
    sandbox_settings, media, tmp_path, cleanup
):
    """The runtime's own options, run with a probe as the entrypoint (through testcontainers)."""
    request = job(tmp_path, media["clip"])
    cleanup(request)
    sandbox = DockerSandbox(sandbox_settings)
    prepare_spec(request)
    from worker.sandbox.docker import _share_with_sandbox_user

    _share_with_sandbox_user(request)
    options = sandbox.container_options(request)
    for key in ("image", "command", "detach", "name"):
        options.pop(key)
    volumes, tmpfs, env = options.pop("volumes"), options.pop("tmpfs"), options.pop("environment")
    container = DockerContainer(
        sandbox_settings.sandbox_image, entrypoint=["python3", "-c", PROBE], **options
    )
    container = container.with_envs(**env)
    container.tmpfs.update(tmpfs)  # the runtime's exact mount options, not testcontainers' size-only form
    for host, spec in volumes.items():
        container = container.with_volume_mapping(host, spec["bind"], spec["mode"])
    with container:
        deadline = time.monotonic() + 30
        while "PROBE" not in (logs := container.get_logs()[0].decode()) and time.monotonic() < deadline:
            time.sleep(0.2)
    probe = json.loads(logs.split("PROBE ", 1)[1])
    assert probe["interfaces"] == ["lo"] and probe["routes"] == [], "no network but loopback, no route out"
    # runc: EROFS outside the tmpfs and the output dir; gVisor checks the permission first (EACCES)
    refused = (30,) if not sandbox_settings.sandbox_oci_runtime else (30, 13)
    assert probe["rootfs"] in refused and probe["input"] in refused, (
        "nothing writable outside tmpfs and outputs"
    )
    assert probe["tmp"] == "writable" and probe["out"] == "writable"
    assert probe["uid"] == 65534 and probe["CapEff"] == "0000000000000000" and probe["NoNewPrivs"] == "1"


def assert_killed_at_its_timeout(settings, docker, request) -> None:
    started = time.monotonic()
    with pytest.raises(ResourceExhausted) as info:
        DockerSandbox(settings).run(request)
    assert info.value.reason is Reason.SANDBOX_TIMEOUT and time.monotonic() - started < 30
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


def test_a_hung_run_is_killed_at_the_timeout_and_removed(docker_settings, docker, tmp_path, cleanup):
    """A FIFO for an input: the program blocks reading it (runc; gVisor refuses to open a host FIFO)."""
    request = job(tmp_path, "fifo", timeout=3)
    cleanup(request)
    assert_killed_at_its_timeout(docker_settings, docker, request)


def test_a_run_past_its_timeout_is_killed_and_removed(sandbox_settings, docker, media, tmp_path, cleanup):
    """A 1080p transcode given one second, on each OCI runtime."""
    request = job(tmp_path, media["big"], timeout=1, spec={"threads": 1, "demuxer": "mov"})
    cleanup(request)
    assert_killed_at_its_timeout(sandbox_settings, docker, request)


def test_out_of_memory_is_reported_as_such(sandbox_settings, docker, media, tmp_path, cleanup):
    request = job(tmp_path, media["big"], memory_mb=120, spec={"threads": 2, "demuxer": "mov"})
    cleanup(request)
    with pytest.raises(ResourceExhausted) as info:
        DockerSandbox(sandbox_settings).run(request)
    assert info.value.reason is Reason.SANDBOX_OOM
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


@pytest.mark.parametrize("killer", ["kernel", "engine"])
def test_the_engine_logs_a_kill_it_sent_and_none_for_the_kernels(sandbox_settings, docker, killer):
    """The reading kills.py relies on, on each OCI runtime: ``docker kill`` leaves a ``kill`` event, the memory
    cgroup's OOM killer none (and, with the flag or without, that reads as the kernel)."""
    hog = (
        "b = [bytearray(8 << 20) for _ in range(64)]" if killer == "kernel" else "import time; time.sleep(60)"
    )
    container = docker.containers.run(
        sandbox_settings.sandbox_image,
        entrypoint=["python3", "-c", hog],
        detach=True,
        network_mode="none",
        labels=owner_labels(sandbox_settings.work_dir, 120),
        **({"mem_limit": "96m", "memswap_limit": "96m"} if killer == "kernel" else {}),
        **({"runtime": sandbox_settings.sandbox_oci_runtime} if sandbox_settings.sandbox_oci_runtime else {}),
    )
    try:
        if killer == "engine":
            container.kill()
        assert container.wait(timeout=60)["StatusCode"] == SIGKILL_EXIT
        container.reload()
        actions = engine_kills(docker, container)
        assert actions is not None and ("kill" in actions) is (killer == "engine")
        assert killed_by_kernel(docker, container)[0] is (killer == "kernel")
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("killer", ["outside", "engine"])
def test_a_sigkill_mid_job_is_an_oom_under_gvisor_only_when_no_one_sent_it_through_the_engine(
    sandbox_settings, docker, media, tmp_path, cleanup, killer
):
    """What CI met: gVisor's OOM kill exits 137 with no OOMKilled flag. SIGKILL to the runsc-sandbox
    process from the host is exactly that exit; ``docker kill`` (an operator, a chaos fault) is a crash."""
    request = job(tmp_path, media["big"], timeout=120, spec={"threads": 1, "demuxer": "mov"})
    cleanup(request)
    raised = []

    def run():
        try:
            DockerSandbox(sandbox_settings).run(request)
        except Exception as exc:  # noqa: BLE001 - asserted below
            raised.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 60
    while (
        not (running := our_containers(docker, **{LABEL_JOB: request.job_id})) and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    (container,) = running
    time.sleep(1)  # into the transcode
    container.reload()
    state = container.attrs["State"]
    assert state["Running"] and state["Pid"] > 0, (
        state
    )  # os.kill(0, ...) would kill this test's process group
    if killer == "engine":
        container.kill()
    else:
        os.kill(state["Pid"], signal.SIGKILL)  # as the memory cgroup's OOM killer does
    runner.join(timeout=60)
    (exc,) = raised
    gvisor = sandbox_settings.sandbox_oci_runtime == "runsc"
    expected = Reason.SANDBOX_OOM if killer == "outside" and gvisor else Reason.SANDBOX_CRASHED
    assert exc.reason is expected, exc
    if expected is Reason.SANDBOX_OOM:
        assert isinstance(exc, ResourceExhausted) and "no one killed it through the engine" in exc.message


def test_the_orphan_reaper_judges_owners_by_their_locks_and_overdue_runs_by_their_deadline(
    docker_settings, docker, tmp_path
):
    work = str(tmp_path / "work")
    alive, dead = owners.new_id(), owners.new_id()
    holder = hold_lock(work, alive)  # another worker (or pool child), alive
    died_holding(work, dead)
    made = []

    def sleeper(name, owner, parent, **labels):
        made.append(
            docker.containers.run(
                docker_settings.sandbox_image,
                entrypoint=["python3", "-c", "import time; time.sleep(300)"],
                detach=True,
                network_mode="none",
                labels={
                    **owner_labels(work, 300),
                    LABEL_JOB: name,
                    LABEL_OWNER: owner,
                    LABEL_PARENT_OWNER: parent,
                    **labels,
                },
            )
        )

    sleeper("alive", alive, alive)
    sleeper("dead-child", dead, alive)
    sleeper("dead-parent", alive, dead)
    sleeper(
        "overdue", alive, alive, **{LABEL_DEADLINE: str(int(time.time()) - 61)}
    )  # its run could not remove it
    sleeper("pid-owner", str(os.getpid()), alive)  # a live pid is no proof: only a held lock is
    sleeper(
        "other-work-dir", dead, dead, **{LABEL_WORK_DIR: str(tmp_path / "elsewhere")}
    )  # not ours to judge
    ids = {c.id for c in made}

    def left():
        return sorted(c.labels[LABEL_JOB] for c in our_containers(docker) if c.id in ids)

    try:
        assert reap(work, orphans_only=True) == 4
        assert left() == ["alive", "other-work-dir"]
        assert reap(work, owner=alive) == 1, "the pool's word that a child died is enough for its containers"
        assert left() == ["other-work-dir"]
    finally:
        holder.kill()
        for c in made:
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already reaped
                pass


def test_a_container_that_cannot_start_is_not_left_behind(sandbox_settings, docker, media, tmp_path, cleanup):
    from worker.errors import RetryableError

    request = job(tmp_path, media["clip"])
    cleanup(request)
    sandbox = DockerSandbox(sandbox_settings)
    options = sandbox.container_options
    sandbox.container_options = lambda req: {**options(req), "entrypoint": ["/no/such/program"]}
    with pytest.raises(RetryableError) as info:
        sandbox.run(request)
    assert info.value.reason is Reason.SANDBOX_ERROR
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == []


def test_a_dead_childs_running_sandbox_goes_before_its_directory(docker_settings, docker, tmp_path):
    """The container still writes into the job directory: removing the directory first would leave it behind."""
    from worker.child.job import job_dir_prefix
    from worker.parent.janitor import Janitor

    dead = owners.new_id()
    work = tmp_path / "work"
    out = work / f"{job_dir_prefix(dead)}writer" / "out"
    out.mkdir(parents=True)
    os.chmod(out, 0o777)
    writer = "import itertools\nfor i in itertools.count():\n    open(f'/job/out/{i}', 'w').close()"
    docker.containers.run(
        docker_settings.sandbox_image,
        entrypoint=["python3", "-c", writer],
        detach=True,
        network_mode="none",
        volumes={str(out): {"bind": "/job/out", "mode": "rw"}},
        labels={**owner_labels(str(work), 300), LABEL_JOB: "writer", LABEL_OWNER: dead},
    )
    wait_until = time.monotonic() + 30
    while len(os.listdir(out)) < 50 and time.monotonic() < wait_until:
        time.sleep(0.05)
    assert len(os.listdir(out)) >= 50, "the writer never wrote"
    Janitor(dataclasses.replace(docker_settings, work_dir=str(work))).reap_owner(dead)
    assert our_containers(docker, **{LABEL_JOB: "writer"}) == []
    assert os.listdir(work) == []
