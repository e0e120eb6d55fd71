"""The ``docker`` runtime: one short-lived, locked-down container per job.

Per job: no network, read-only root file system, all capabilities dropped,
no-new-privileges, user 65534, pids/memory/CPU limits, a size-capped tmpfs
for scratch, the input directory mounted read-only and the output directory
read-write (both on the host's tmpfs), an output file-size ulimit, and labels
naming the job, message, host and the processes that started it. The container
is waited on with the job timeout and always killed and removed.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import requests

from worker.errors import Reason, RetryableError
from worker.processes import pid_alive
from worker.sandbox.base import (EXIT_OK, EXIT_REJECTED, RESULT_NAME, RunExit, Sandbox, SandboxRequest, SandboxResult,
                                 interpret, prepare_spec)
from worker.settings import Settings

log = logging.getLogger(__name__)
SANDBOX_USER = 65534
LABEL_JOB, LABEL_HOST, LABEL_PID, LABEL_PARENT = ("media-worker.job", "media-worker.host", "media-worker.pid",
                                                  "media-worker.parent")


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
        self._host = socket.gethostname()

    def container_options(self, request: SandboxRequest) -> dict[str, Any]:
        """Everything ``containers.run`` is given: the lock-down in one place (tests inspect it)."""
        from docker.types import Ulimit

        in_dir, out_dir = os.path.dirname(request.input_path), request.output_dir
        threads = max(1, int(request.spec.get("threads", 1)))
        file_cap = max(64 * 1024 * 1024, 4 * os.path.getsize(request.input_path))
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
            "labels": {**request.labels, LABEL_HOST: self._host, LABEL_PID: str(os.getpid()),
                       LABEL_PARENT: str(os.getppid())},
        }

    def run(self, request: SandboxRequest) -> SandboxResult:
        """Start, wait with the timeout, read the exit; always kill and remove."""
        import docker.errors

        prepare_spec(request)
        _share_with_sandbox_user(request)
        started = time.monotonic()
        options = self.container_options(request)
        try:
            container = self._client.containers.run(**options)
        except docker.errors.DockerException as exc:
            self._remove_by_name(options["name"])  # created but not started: do not leave it behind
            raise RetryableError(Reason.SANDBOX_ERROR, f"could not start the sandbox container: {exc}") from exc
        start_seconds = time.monotonic() - started
        timed_out, exit_code = False, None
        try:
            try:
                exit_code = int(container.wait(timeout=request.timeout)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                container.kill()
            oom, tail = False, ""
            # a clean ending explains itself in result.json: two engine round trips saved per job
            if timed_out or exit_code not in (EXIT_OK, EXIT_REJECTED) or \
                    not os.path.exists(os.path.join(request.output_dir, RESULT_NAME)):
                container.reload()
                oom = bool(container.attrs["State"].get("OOMKilled"))
                tail = container.logs(tail=40).decode("utf-8", "replace")
        except docker.errors.DockerException as exc:
            raise RetryableError(Reason.SANDBOX_ERROR, f"lost track of the sandbox container: {exc}") from exc
        finally:
            _remove(container)
        run = RunExit(exit_code=exit_code, timed_out=timed_out, oom_killed=oom, log_tail=tail)
        return SandboxResult(result=interpret(run, request.output_dir), seconds=time.monotonic() - started,
                             start_seconds=start_seconds)

    def _remove_by_name(self, name: str) -> None:
        import docker.errors

        try:
            _remove(self._client.containers.get(name))
        except docker.errors.DockerException:
            pass

    def close(self) -> None:
        self._client.close()


def _share_with_sandbox_user(request: SandboxRequest) -> None:
    """Let user 65534 read the input and write the outputs (and nothing else of ours)."""
    in_dir = os.path.dirname(request.input_path)
    os.chmod(in_dir, 0o755)
    for name in os.listdir(in_dir):
        os.chmod(os.path.join(in_dir, name), 0o644)
    if os.geteuid() == 0:
        os.chown(request.output_dir, SANDBOX_USER, SANDBOX_USER)
    else:
        os.chmod(request.output_dir, 0o777)


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - the reaper gets it later
        log.warning("could not remove sandbox container %s: %s", getattr(container, "name", "?"), exc)


def reap(*, pid: int | None = None, orphans_only: bool = False) -> int:
    """Remove this host's sandbox containers: those of one child ``pid``, or (``orphans_only``) those whose
    child or parent process is gone. Other live workers on the host keep theirs."""
    client = docker_client(timeout=30)
    filters = [f"{LABEL_HOST}={socket.gethostname()}"]
    if pid is not None:
        filters.append(f"{LABEL_PID}={pid}")
    removed = 0
    try:
        # sparse: no inspect per container, which fails when one is removed between list and inspect
        for container in client.containers.list(all=True, sparse=True, filters={"label": filters}):
            labels = container.attrs.get("Labels") or {}  # a sparse listing's shape
            if orphans_only and not _orphaned(labels):
                continue
            log.warning("removing sandbox container %s (job %s)", container.short_id, labels.get(LABEL_JOB))
            _remove(container)
            removed += 1
    finally:
        client.close()
    return removed


def _orphaned(labels: dict[str, str]) -> bool:
    owners = [labels.get(LABEL_PID, ""), labels.get(LABEL_PARENT, "")]
    return any(not owner.isdigit() or not pid_alive(int(owner)) for owner in owners)
