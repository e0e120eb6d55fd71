"""Whatever a hostile sandbox wrote is removed, whether the worker runs as root or not (the real engine).

User 65534 owns what it creates in ``out/`` and may chmod it as it likes: a 0700 or 0000 directory of
its own cannot be emptied by an unprivileged worker. The not-root cases run in a forked child that
dropped to uid 1000 (keeping the docker socket's group, as the systemd unit's user has it).
"""

from __future__ import annotations

import dataclasses
import grp
import multiprocessing
import os
import shutil
import uuid

import pytest

from tests.support.lockholder import died_holding
from tests.support.sandboxes import job, our_containers
from worker import owners
from worker.child.job import job_dir_prefix
from worker.errors import RetryableError
from worker.parent.janitor import Janitor
from worker.sandbox.docker import LABEL_JOB, DockerSandbox

pytestmark = pytest.mark.docker
WORKER_UID = 1000

# What the sandbox user may do to its own outputs: nested 0700, 0000, write-only directories, a closed file,
# a symlink out.
HOSTILE = r"""
import os
o = "/job/out"
os.makedirs(f"{o}/closed/deeper")
for path in (f"{o}/closed/deeper/f", f"{o}/closed/f", f"{o}/file"):
    open(path, "w").write("x")
os.chmod(f"{o}/closed/deeper", 0o700)
os.chmod(f"{o}/closed", 0o700)
for name, mode in (("sealed", 0), ("write-only", 0o300)):
    os.makedirs(f"{o}/{name}/inner")
    open(f"{o}/{name}/inner/f", "w").write("x")
    os.chmod(f"{o}/{name}/inner", 0)
    os.chmod(f"{o}/{name}", mode)
os.chmod(f"{o}/file", 0)
os.symlink("/etc", f"{o}/link")
"""


def _hostile_run(settings, request) -> str:
    """The docker runtime's own run, with the hostile script as the program; then job.py's rmtree."""
    sandbox = DockerSandbox(settings)
    options = sandbox.container_options
    sandbox.container_options = lambda req: {**options(req), "entrypoint": ["python3", "-c", HOSTILE]}
    try:
        sandbox.run(request)
        outcome = "no error"
    except RetryableError as exc:  # it wrote no result.json
        outcome = exc.reason.value
    finally:
        sandbox.close()
        owners.release(settings.work_dir)
    closed = os.path.isdir(os.path.join(request.output_dir, "closed"))
    shutil.rmtree(os.path.dirname(request.output_dir), ignore_errors=True)  # what JobRunner._run ends with
    return f"{outcome} closed={closed}"


def _as_worker_user(target, *args):
    """Run ``target(*args)`` in a forked child as uid 1000 (with the docker socket's group); return its result."""
    ctx = multiprocessing.get_context("fork")  # /root is closed to uid 1000: no fresh interpreter can start
    parent, child = ctx.Pipe()

    def body():
        os.setgroups([grp.getgrnam("docker").gr_gid])
        os.setgid(WORKER_UID)
        os.setuid(WORKER_UID)
        try:
            child.send(("ok", target(*args)))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            child.send(("error", repr(exc)))

    process = ctx.Process(target=body)
    process.start()
    status, value = parent.recv()
    process.join(60)
    assert status == "ok", value
    return value


@pytest.fixture
def worker_base():
    """A work directory the unprivileged worker owns, on the host tmpfs (mode 0700, as the worker makes it)."""
    base = f"/dev/shm/mw-cleanup-{uuid.uuid4().hex[:8]}"
    os.makedirs(base, mode=0o700)
    os.chown(base, WORKER_UID, WORKER_UID)
    yield base
    shutil.rmtree(base, ignore_errors=True)  # as root: whatever the test left


def _made_as_worker(tmp_path, base):
    source = tmp_path / "input"
    source.write_bytes(b"never read")
    request = job(tmp_path, str(source), timeout=60, base=base)
    for root, dirs, files in os.walk(os.path.dirname(request.output_dir)):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.chown(name, WORKER_UID, WORKER_UID)
    return request


def _hostile_run_noting_fixers(settings, request) -> str:
    """``_hostile_run``, and the OCI runtime each cleanup container was started on (the engine keeps no
    record of a removed container's runtime: the SDK's ``run`` is watched, and still does the work)."""
    import docker.models.containers as models

    run, fixers = models.ContainerCollection.run, []

    def watched(collection, image, command=None, **kwargs):
        if str(kwargs.get("name", "")).startswith("media-worker-cleanup-"):
            fixers.append(kwargs.get("runtime", "runc"))
        return run(collection, image, command, **kwargs)

    models.ContainerCollection.run = watched
    try:
        return f"{_hostile_run(settings, request)} fixers={','.join(fixers) or 'none'}"
    finally:
        models.ContainerCollection.run = run


@pytest.mark.parametrize("uid", [0, WORKER_UID], ids=["as-root", "not-root"])
def test_what_a_hostile_sandbox_closed_is_removed_after_its_run(
    sandbox_settings, docker, tmp_path, worker_base, uid
):
    """On each OCI runtime; not as root, the cleanup container (it walks what a hostile job made) runs on the
    jobs' runtime, gVisor's included."""
    settings = dataclasses.replace(sandbox_settings, work_dir=os.path.join(worker_base, "work"))
    request = _made_as_worker(tmp_path, worker_base)
    job_dir = os.path.dirname(request.output_dir)
    if uid == 0:
        outcome = _hostile_run_noting_fixers(settings, request)
    else:
        outcome = _as_worker_user(_hostile_run_noting_fixers, settings, request)
    fixers = "none" if uid == 0 else (settings.sandbox_oci_runtime or "runc")
    assert outcome == f"sandbox_error closed=True fixers={fixers}", (
        "the hostile program ran and made its directories"
    )
    assert not os.path.lexists(job_dir), sorted(os.listdir(job_dir))
    assert our_containers(docker, **{LABEL_JOB: request.job_id}) == [], "the cleanup container is gone too"


def _sweep_leftovers(settings, alive_dir: str) -> str:
    """As the worker: sweep, while this process holds the lock of ``alive_dir``'s owner."""
    owners.claim(settings.work_dir)
    Janitor(settings).sweep()
    kept = os.path.isdir(alive_dir)
    owners.release(settings.work_dir)
    return f"alive kept={kept}"


@pytest.mark.parametrize("uid", [0, WORKER_UID], ids=["as-root", "not-root"])
def test_the_janitor_removes_what_a_dead_owners_sandbox_closed(
    sandbox_settings, docker, tmp_path, worker_base, uid
):
    """On each OCI runtime: not as root, the janitor's purge runs a cleanup container on the jobs' runtime."""
    work = os.path.join(worker_base, "work")
    settings = dataclasses.replace(sandbox_settings, work_dir=work)
    os.makedirs(work, mode=0o700)
    os.chown(work, WORKER_UID, WORKER_UID)
    dead, alive = owners.new_id(), owners.instance_id()  # this test's process (and its fork) is the live one
    died_holding(work, dead)
    dirs = {}
    for owner in (dead, alive):
        out = os.path.join(work, f"{job_dir_prefix(owner)}abc", "out")
        os.makedirs(out)
        os.chmod(out, 0o777)  # as _share_with_sandbox_user leaves it for an unprivileged worker
        for path in (out, os.path.dirname(out)):
            os.chown(path, WORKER_UID, WORKER_UID)
        docker.containers.run(
            settings.sandbox_image,
            entrypoint=["python3", "-c", HOSTILE],
            remove=True,
            user="65534:65534",
            network_mode="none",
            volumes={out: {"bind": "/job/out", "mode": "rw"}},
        )
        dirs[owner] = os.path.dirname(out)
    assert all(os.path.isdir(os.path.join(d, "out", "closed")) for d in dirs.values())
    if uid == 0:
        outcome = _sweep_leftovers(settings, dirs[alive])
    else:
        outcome = _as_worker_user(_sweep_leftovers, settings, dirs[alive])
    assert outcome == "alive kept=True"
    assert not os.path.lexists(dirs[dead]), sorted(os.listdir(dirs[dead]))
