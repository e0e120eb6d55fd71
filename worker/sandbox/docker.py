"""The ``docker`` runtime: one short-lived, locked-down container per job (its options and labels:
worker.sandbox.lockdown), started ahead of its job when warm sandboxes are on (worker.sandbox.warm).

The container is waited on until the deadline and killed and removed whatever the engine's client raises;
should even the removal fail, the janitor removes it once past its deadline.
"""

from __future__ import annotations

import contextlib
import json
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
from worker.sandbox.cleanup import FIXER_TIMEOUT, SANDBOX_USER, release_outputs, remove_tree
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
from worker.sandbox.warm import LABEL_WARM, Warm, WarmSlot, appears
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
INPUT_NAME = "input"  # what the job runner names the download (and a warm container expects)
TAKEN_MARKER = ".taken"  # a warm program writes it into /job/out once it has its spec
TAKE_CONFIRM_SECONDS = 5.0  # it takes milliseconds; a warm container silent this long is not running


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


class DockerSandbox(Sandbox):
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

    def _run_warm(self, warm: Warm, request: SandboxRequest) -> SandboxResult:
        """Hand the job over: the input renamed into the warm ``in/``, the spec renamed there last (the
        program starts on it), the job's timeout from now; its ``out/`` renamed to the job's afterwards.

        The program confirms with a ``.taken`` marker in ``out/`` within milliseconds; the host waits for it
        at most ``TAKE_CONFIRM_SECONDS``. Unconfirmed (the container died, hangs or its engine went after its
        last inspect), the container is removed, the input given back and the job run cold. Confirmed, the
        job is the container's for good: nothing a compromised program does later (deleting the marker)
        gets it a second run. The warm container is retired whatever happens."""
        started = time.monotonic()
        warm_input = os.path.join(warm.in_dir, INPUT_NAME)
        try:
            os.replace(request.input_path, warm_input)
        except OSError as exc:  # another file system: nothing moved
            log.warning(
                "cannot hand %s to warm sandbox %s (%s): running it cold", request.input_path, warm.name, exc
            )
            self._slot.retire(warm)  # type: ignore[union-attr]
            return self._run_cold(request)
        run: RunExit | None = None
        taken = False
        try:
            os.chmod(warm_input, 0o644)
            pending = os.path.join(warm.in_dir, ".spec.json.part")
            with open(pending, "w", encoding="utf-8") as fh:
                json.dump(request.program_spec(), fh)
            os.chmod(pending, 0o644)
            os.replace(pending, os.path.join(warm.in_dir, "spec.json"))
            taken = appears(os.path.join(warm.out_dir, TAKEN_MARKER), TAKE_CONFIRM_SECONDS)
            if taken:
                run = self._wait(warm.container, request, warm.out_dir)
        finally:
            if run is None or run.exit_code not in (EXIT_OK, EXIT_REJECTED):
                self._remove_by_name(warm.name)  # timed out, failed, lost, never took it: it must stop now
            try:
                if taken:
                    # the run is over (exited, or removed above): the input leaves the tmpfs now, not when the
                    # remover gets to the directory; a marker the program made into something else stays
                    for done in (
                        warm_input,
                        os.path.join(warm.in_dir, "spec.json"),
                        os.path.join(warm.out_dir, TAKEN_MARKER),
                    ):
                        with contextlib.suppress(OSError):
                            os.unlink(done)
                    os.rmdir(request.output_dir)
                    os.replace(warm.out_dir, request.output_dir)
                    self._release(request)
                else:  # no program ever saw the job
                    os.replace(warm_input, request.input_path)
            finally:
                self._slot.retire(warm)  # type: ignore[union-attr] - off the critical path
        if not taken:
            log.warning(
                "warm sandbox %s did not take its job within %.0f s: running it cold",
                warm.name,
                TAKE_CONFIRM_SECONDS,
            )
            return self._run_cold(request)
        return SandboxResult(
            result=interpret(run, request.output_dir), seconds=time.monotonic() - started, start_seconds=0.0
        )

    def _start_warm(self, template: SandboxRequest, directory: str, name: str) -> Any:
        in_dir, out_dir = os.path.join(directory, "in"), os.path.join(directory, "out")
        if os.geteuid() == 0:
            os.chown(out_dir, SANDBOX_USER, SANDBOX_USER)
        else:
            os.chmod(out_dir, 0o777)  # what 65534 closes in there, cleanup.release_outputs opens
        options = self.container_options(template)
        wait = self._settings.sandbox_warm_max_age
        options.update(
            name=name,
            command=[
                "--input",
                f"/job/in/{INPUT_NAME}",
                "--output-dir",
                "/job/out",
                "--spec",
                "/job/in/spec.json",
                "--wait",
                str(wait),
            ],
            volumes={in_dir: {"bind": "/job/in", "mode": "ro"}, out_dir: {"bind": "/job/out", "mode": "rw"}},
            labels={
                **owner_labels(self._settings.work_dir, wait + template.timeout, job=name),
                LABEL_WARM: "1",
            },
        )
        return self._background_client.containers.run(**options)

    def _inspect(self, name: str) -> Any:
        """The container on the job thread's connection (the warm start ran on the background one)."""
        return self._client.containers.get(name)

    def _outdated(self, container: Any) -> str | None:
        """Why a warm container must not run a job although its limits fit: its image is not the one the tag
        names now (rebuilt and tagged again since it started, e.g. for a codec's security fix)."""
        current = self._client.images.get(self._settings.sandbox_image).id
        return (
            None if container.attrs.get("Image") == current else "made from an image its tag no longer names"
        )

    def _remove_warm(self, name: str, directory: str) -> None:
        self._remove_by_name(name, self._background_client)
        remove_tree(directory, self._settings)

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
            return RunExit(
                exit_code=exit_code,
                oom_killed=bool(container.attrs["State"].get("OOMKilled")),
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
                self._settings.sandbox_oci_runtime,
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
