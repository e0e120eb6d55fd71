"""The ``docker`` runtime: one short-lived, locked-down container per job (its options and labels:
worker.sandbox.lockdown), started ahead of its job when warm sandboxes are on (worker.sandbox.warm).

The container is waited on until the deadline and killed and removed whatever the engine's client raises;
should even the removal fail, the janitor removes it once past its deadline.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import requests
import urllib3

from worker import owners
from worker.errors import Reason, RetryableError
from worker.sandbox.base import (
    EXIT_OK,
    EXIT_REJECTED,
    RESULT_NAME,
    RunExit,
    Sandbox,
    SandboxRequest,
    SandboxResult,
    interpret,
    prepare_spec,
)
from worker.sandbox.cleanup import FIXER_TIMEOUT, SANDBOX_USER, fixer_runtime, release_outputs
from worker.sandbox.handoff import WarmHandOff
from worker.sandbox.kills import SIGKILL_EXIT, killed_by_kernel
from worker.sandbox.lockdown import (
    LABEL_DEADLINE,
    LABEL_HOST,
    LABEL_JOB,
    LABEL_OWNER,
    LABEL_PARENT,
    LABEL_PARENT_OWNER,
    LABEL_PID,
    LABEL_WORK_DIR,
    container_options,
    limits_of,
    owner_labels,
)
from worker.sandbox.warm import WarmSlot
from worker.settings import Settings

log = logging.getLogger(__name__)
__all__ = [
    "LABEL_DEADLINE",
    "LABEL_HOST",
    "LABEL_JOB",
    "LABEL_OWNER",
    "LABEL_PARENT",
    "LABEL_PARENT_OWNER",
    "LABEL_PID",
    "LABEL_WORK_DIR",
    "DockerSandbox",
    "docker_client",
    "engine_ready",
    "owner_labels",
]
DEADLINE_GRACE_SECONDS = 60.0


def docker_client(timeout: int = 60) -> Any:
    """A Docker SDK client from the environment (DOCKER_HOST or the local socket)."""
    import docker

    return docker.from_env(timeout=timeout)


def engine_ready(image: str, oci_runtime: str = "") -> str | None:
    """None when an engine answers, has ``image`` and knows ``oci_runtime`` (if one is named); else why not."""
    try:
        client = docker_client(timeout=5)
        client.ping()
        client.images.get(image)
        if oci_runtime and oci_runtime not in (client.info().get("Runtimes") or {}):
            return (
                f"the engine has no OCI runtime {oci_runtime!r} (register it in /etc/docker/daemon.json: "
                "scripts/dockerd.sh does for runsc)"
            )
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"{type(exc).__name__}: {exc}"
    return None


class DockerSandbox(WarmHandOff, Sandbox):
    """Runs the sandbox image once per job."""

    name = "docker"

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self._settings = settings
        self._client = client or docker_client()
        owners.claim(settings.work_dir)  # our containers name us: we must be provably alive while they run
        self._slot: WarmSlot | None = None
        if settings.sandbox_warm:
            self._background_client = docker_client()  # the warm starts' and removals' own connection
            self._slot = WarmSlot(
                settings.work_dir,
                owners.instance_id(),
                settings.sandbox_warm_max_age,
                self._start_warm,
                self.limits_of,
                self._inspect,
                self._remove_warm,
                self._outdated,
            )

    def prepare(self, template: SandboxRequest) -> None:
        """Start the first warm sandbox (see worker.sandbox.warm)."""
        if self._slot is not None:
            self._slot.refill(template)

    def limits_of(self, request: SandboxRequest) -> tuple[Any, ...]:
        """What a container is made with for ``request``: a warm one serves only a job with the same."""
        return limits_of(self.container_options(request))

    def container_options(self, request: SandboxRequest) -> dict[str, Any]:
        """Everything ``containers.run`` is given (worker.sandbox.lockdown; tests inspect it)."""
        return container_options(self._settings, request)

    def run(self, request: SandboxRequest) -> SandboxResult:
        """The job in the slot's warm container when there is a fit one, else in a container started now;
        then the slot's next warm container is started in the background."""
        if self._slot is None:
            return self._run_cold(request)
        warm = self._slot.take(request)
        try:
            # the next job's container starts now, while this one runs: back-to-back jobs find it ready
            self._slot.refill(request)
        except BaseException:
            if warm is not None:
                self._slot.retire(warm)
            raise
        return self._run_warm(warm, request) if warm is not None else self._run_cold(request)

    def _run_cold(self, request: SandboxRequest) -> SandboxResult:
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
                raise RetryableError(
                    Reason.SANDBOX_ERROR, f"could not start the sandbox container: {exc}"
                ) from exc
            start_seconds = time.monotonic() - started
            run = self._wait(container, request, request.output_dir)
        finally:
            self._remove_by_name(options["name"])
            self._release(request)
        return SandboxResult(
            result=interpret(run, request.output_dir),
            seconds=time.monotonic() - started,
            start_seconds=start_seconds,
        )

    def _wait(self, container: Any, request: SandboxRequest, output_dir: str) -> RunExit:
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
            if exit_code in (EXIT_OK, EXIT_REJECTED) and os.path.exists(
                os.path.join(output_dir, RESULT_NAME)
            ):
                return RunExit(exit_code=exit_code)
            container.reload()
            oom, why = bool(container.attrs["State"].get("OOMKilled")), ""
            if not oom and exit_code == SIGKILL_EXIT and self._settings.sandbox_oci_runtime == "runsc":
                oom, why = killed_by_kernel(self._client, container)  # gVisor's OOM kills often lack the flag
                log.info("sandbox %s died of SIGKILL without the engine's OOM flag: %s", container.name, why)
            return RunExit(
                exit_code=exit_code,
                oom_killed=oom,
                oom_reading=why if oom else "",
                log_tail=container.logs(tail=40).decode("utf-8", "replace"),
            )
        except Exception as exc:  # noqa: BLE001 - an engine hiccup, never the input's fault
            raise RetryableError(Reason.SANDBOX_ERROR, f"lost track of the sandbox container: {exc}") from exc

    def _remove_by_name(self, name: str, client: Any = None) -> None:
        """Kill and remove; twice, since the first try may ride a connection the engine has just dropped."""
        import docker.errors

        problem: Exception | None = None
        for _ in range(2):
            try:
                (client or self._client).api.remove_container(name, force=True)
                return
            except docker.errors.NotFound:
                return
            except Exception as exc:  # noqa: BLE001 - the janitor removes it once past its deadline
                problem = exc
        log.warning(
            "could not remove sandbox container %s (the janitor will, past its deadline): %s", name, problem
        )

    def _release(self, request: SandboxRequest) -> None:
        labels = {**request.labels, **owner_labels(self._settings.work_dir, FIXER_TIMEOUT)}
        try:
            release_outputs(
                self._client,
                self._settings.sandbox_image,
                request.output_dir,
                labels,
                **fixer_runtime(self._settings),
            )
        except Exception as exc:  # noqa: BLE001 - the janitor purges it once this child is gone
            log.warning("could not open up %s as user %d: %s", request.output_dir, SANDBOX_USER, exc)

    def close(self) -> None:
        if self._slot is not None:
            self._slot.close()  # the warm container goes with this child
            self._background_client.close()
        self._client.close()


def _at_deadline(exc: Exception, waited: float, timeout: float) -> bool:
    """Only a read timeout once the time is up is a timeout (over a unix socket, requests reports one as a
    ConnectionError around urllib3's ReadTimeoutError); a dropped connection is not."""
    timeout_shaped = isinstance(exc, requests.exceptions.ReadTimeout) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)
    )
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
