"""The ``docker`` runtime: one short-lived, locked-down container per job.

Per job: no network, read-only root file system, all capabilities dropped,
no-new-privileges, user 65534, pids/memory/CPU limits, a size-capped tmpfs
for scratch, the input directory mounted read-only and the output directory
read-write (both on the host's tmpfs), an output file-size ulimit, and labels
naming the job, message, host, the processes that started it (pids, and the
instance ids of worker.owners), the work directory and the run's deadline. The
container is waited on until the deadline and killed and removed whatever the
engine's client raises; should even the removal fail, the janitor removes it
once past its deadline.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import time
from typing import Any

import requests
import urllib3

from worker import owners
from worker.errors import Reason, RetryableError
from worker.sandbox.base import (EXIT_OK, EXIT_REJECTED, RESULT_NAME, RunExit, Sandbox, SandboxRequest, SandboxResult,
                                 file_size_limit, interpret, prepare_spec)
from worker.sandbox.cleanup import FIXER_TIMEOUT, SANDBOX_USER, release_outputs
from worker.settings import Settings

log = logging.getLogger(__name__)
LABEL_JOB, LABEL_HOST, LABEL_PID, LABEL_PARENT = ("media-worker.job", "media-worker.host", "media-worker.pid",
                                                  "media-worker.parent")
LABEL_OWNER, LABEL_PARENT_OWNER = "media-worker.owner", "media-worker.parent-owner"  # instance ids: these decide
LABEL_WORK_DIR, LABEL_DEADLINE = "media-worker.work-dir", "media-worker.deadline"  # unix seconds
DEADLINE_GRACE_SECONDS = 60.0


def docker_client(timeout: int = 60) -> Any:
    """A Docker SDK client from the environment (DOCKER_HOST or the local socket)."""
    import docker

    return docker.from_env(timeout=timeout)


def engine_ready(image: str) -> str | None:
    """None when an engine answers and has ``image``; else why not."""
    try:
        client = docker_client(timeout=5)
        client.ping()
        client.images.get(image)
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"{type(exc).__name__}: {exc}"
    return None


class DockerSandbox(Sandbox):
    """Runs the sandbox image once per job."""

    name = "docker"

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self._settings = settings
        self._client = client or docker_client()
        owners.claim(settings.work_dir)  # our containers name us: we must be provably alive while they run

    def container_options(self, request: SandboxRequest) -> dict[str, Any]:
        """Everything ``containers.run`` is given: the lock-down in one place (tests inspect it)."""
        from docker.types import Ulimit

        in_dir, out_dir = os.path.dirname(request.input_path), request.output_dir
        threads = max(1, int(request.spec.get("threads", 1)))
        file_cap = file_size_limit(request)
        memory = f"{request.memory_mb}m"
        return {
            "image": self._settings.sandbox_image,
            "command": ["--input", "/job/in/" + os.path.basename(request.input_path), "--output-dir", "/job/out",
                        "--spec", "/job/in/spec.json"],
            "name": f"media-worker-{request.job_id}",
            "detach": True,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "user": f"{SANDBOX_USER}:{SANDBOX_USER}",
            "pids_limit": self._settings.sandbox_pids_limit,
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap: an over-limit run is OOM-killed, not slowed down
            "nano_cpus": threads * 1_000_000_000,
            "ipc_mode": "private",
            "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={self._settings.sandbox_tmpfs_mb}m,mode=1777"},
            "volumes": {in_dir: {"bind": "/job/in", "mode": "ro"}, out_dir: {"bind": "/job/out", "mode": "rw"}},
            "ulimits": [Ulimit(name="fsize", soft=file_cap, hard=file_cap), Ulimit(name="core", soft=0, hard=0)],
            "environment": {"HOME": "/tmp", "TMPDIR": "/tmp"},
            "working_dir": "/tmp",
            "labels": {**request.labels, **owner_labels(self._settings.work_dir, request.timeout)},
        }

    def run(self, request: SandboxRequest) -> SandboxResult:
        """Start, wait until the deadline, read the exit. Whatever the engine's client raises (requests'
        timeouts and connection errors are no ``DockerException``), the container is killed and removed and
        the error is a retryable ``sandbox_error``."""
        prepare_spec(request)
        _share_with_sandbox_user(request)
        started = time.monotonic()
        options = self.container_options(request)
        try:
            try:
                container = self._client.containers.run(**options)
            except Exception as exc:  # noqa: BLE001 - it may exist, even run, whatever the client saw
                raise RetryableError(Reason.SANDBOX_ERROR, f"could not start the sandbox container: {exc}") from exc
            start_seconds = time.monotonic() - started
            run = self._wait(container, request)
        finally:
            self._remove_by_name(options["name"])
            self._release(request)
        return SandboxResult(result=interpret(run, request.output_dir), seconds=time.monotonic() - started,
                             start_seconds=start_seconds)

    def _wait(self, container: Any, request: SandboxRequest) -> RunExit:
        waited = time.monotonic()
        try:
            try:
                exit_code = int(container.wait(timeout=request.timeout)["StatusCode"])
            except Exception as exc:  # noqa: BLE001 - sorted out right below
                if not _at_deadline(exc, time.monotonic() - waited, request.timeout):
                    raise
                _quietly(container.kill)  # its removal kills it too, should this fail
                return RunExit(exit_code=None, timed_out=True)
            # a clean ending explains itself in result.json: two engine round trips saved per job
            if exit_code in (EXIT_OK, EXIT_REJECTED) and os.path.exists(os.path.join(request.output_dir,
                                                                                      RESULT_NAME)):
                return RunExit(exit_code=exit_code)
            container.reload()
            return RunExit(exit_code=exit_code, oom_killed=bool(container.attrs["State"].get("OOMKilled")),
                           log_tail=container.logs(tail=40).decode("utf-8", "replace"))
        except Exception as exc:  # noqa: BLE001 - an engine hiccup, never the input's fault
            raise RetryableError(Reason.SANDBOX_ERROR, f"lost track of the sandbox container: {exc}") from exc

    def _remove_by_name(self, name: str) -> None:
        """Kill and remove; twice, since the first try may ride a connection the engine has just dropped."""
        import docker.errors

        problem: Exception | None = None
        for _ in range(2):
            try:
                self._client.api.remove_container(name, force=True)
                return
            except docker.errors.NotFound:
                return
            except Exception as exc:  # noqa: BLE001 - the janitor removes it once past its deadline
                problem = exc
        log.warning("could not remove sandbox container %s (the janitor will, past its deadline): %s", name,
                    problem)

    def _release(self, request: SandboxRequest) -> None:
        labels = {**request.labels, **owner_labels(self._settings.work_dir, FIXER_TIMEOUT)}
        try:
            release_outputs(self._client, self._settings.sandbox_image, request.output_dir, labels)
        except Exception as exc:  # noqa: BLE001 - the janitor purges it once this child is gone
            log.warning("could not open up %s as user %d: %s", request.output_dir, SANDBOX_USER, exc)

    def close(self) -> None:
        self._client.close()


def owner_labels(work_dir: str, timeout: float, *, job: str | None = None) -> dict[str, str]:
    """Labels naming who started a container and when it must be gone (the janitor's only clues)."""
    labels = {LABEL_HOST: socket.gethostname(), LABEL_PID: str(os.getpid()), LABEL_PARENT: str(os.getppid()),
              LABEL_OWNER: owners.instance_id(), LABEL_WORK_DIR: os.path.abspath(work_dir),
              LABEL_DEADLINE: str(math.ceil(time.time() + timeout))}
    if owners.parent_id():
        labels[LABEL_PARENT_OWNER] = str(owners.parent_id())
    if job:
        labels[LABEL_JOB] = job
    return labels


def _at_deadline(exc: Exception, waited: float, timeout: float) -> bool:
    """Only a read timeout once the time is up is a timeout (over a unix socket, requests reports one as a
    ConnectionError around urllib3's ReadTimeoutError); a dropped connection is not."""
    timeout_shaped = isinstance(exc, requests.exceptions.ReadTimeout) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args))
    return timeout_shaped and waited + 0.5 >= timeout


def _quietly(action: Any) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - best effort; what follows does not depend on it
        log.debug("ignored: %s", exc)


def _share_with_sandbox_user(request: SandboxRequest) -> None:
    """Let user 65534 read the input and write the outputs (and nothing else of ours)."""
    in_dir = os.path.dirname(request.input_path)
    os.chmod(in_dir, 0o755)
    for name in os.listdir(in_dir):
        os.chmod(os.path.join(in_dir, name), 0o644)
    if os.geteuid() == 0:
        os.chown(request.output_dir, SANDBOX_USER, SANDBOX_USER)
    else:
        os.chmod(request.output_dir, 0o777)  # what 65534 closes in there, cleanup.release_outputs opens


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - the reaper gets it later
        log.warning("could not remove sandbox container %s: %s", getattr(container, "name", "?"), exc)


def reap(work_dir: str, *, owner: str | None = None, orphans_only: bool = False,
         grace: float = DEADLINE_GRACE_SECONDS) -> int:
    """Remove this host's sandbox containers of ``work_dir``: those of one dead ``owner``, or (``orphans_only``)
    those whose owner or parent is dead by the lock test (worker.owners) or that are ``grace`` seconds past
    their deadline, live owner or not. Containers of other work directories are never judged here."""
    work_dir = os.path.abspath(work_dir)
    client = docker_client(timeout=30)
    # Not by host name: two worker containers sharing /dev/shm have different ones (and a recreated one a new
    # one); the engine is this host's, the work directory names the group of owners, and the locks decide.
    filters = [f"{LABEL_WORK_DIR}={work_dir}"]
    if owner is not None:
        filters.append(f"{LABEL_OWNER}={owner}")
    removed = 0
    try:
        # sparse: no inspect per container, which fails when one is removed between list and inspect
        for container in client.containers.list(all=True, sparse=True, filters={"label": filters}):
            labels = container.attrs.get("Labels") or {}  # a sparse listing's shape
            why = _orphaned(labels, work_dir, time.time() - grace) if orphans_only else f"owner {owner} died"
            if why is None:
                continue
            log.warning("removing sandbox container %s (job %s): %s", container.short_id, labels.get(LABEL_JOB),
                        why)
            _remove(container)
            removed += 1
    finally:
        client.close()
    return removed


def _orphaned(labels: dict[str, str], work_dir: str, cutoff: float) -> str | None:
    """Why a container must go, or None."""
    deadline = labels.get(LABEL_DEADLINE, "")
    if not deadline.isdigit() or int(deadline) < cutoff:
        return f"past its deadline ({deadline or 'none'})"
    for label in (LABEL_OWNER, LABEL_PARENT_OWNER):
        owner = labels.get(label)
        if (label == LABEL_OWNER and not owner) or (owner and not owners.alive(work_dir, owner)):
            return f"its {label.split('.')[1]} {owner or '?'} is gone"
    return None
