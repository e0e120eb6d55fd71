"""The sandbox interface, and the one place that turns a run's exit into our error tree."""

from __future__ import annotations

import json
import logging
import os
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from worker.errors import Reason, RejectedInput, ResourceExhausted, RetryableError, SettingsError
from worker.sandbox import result_schema
from worker.settings import Settings

log = logging.getLogger(__name__)

# The exit codes of ``container`` (see container/errors.py; duplicated because
# ``container`` may not import ``worker`` and vice versa).
EXIT_OK, EXIT_REJECTED, EXIT_INTERNAL, EXIT_NO_MEMORY = 0, 65, 70, 71
RESULT_NAME = "result.json"
MAX_RESULT_BYTES = 1024 * 1024
OUTPUT_RLIMIT_SLACK = 64 * 1024 * 1024  # one muxed packet past the cap is caught after its write
DEFAULT_OUTPUT_CAP = 1 << 30  # container.limits.Limits.max_output_bytes
# what a sandbox's rejection may name (each permanent); anything else it names is read as corrupt_media
SANDBOX_REJECTIONS = frozenset(
    r.value
    for r in (
        Reason.NOT_MEDIA,
        Reason.UNSUPPORTED_TYPE,
        Reason.CORRUPT_MEDIA,
        Reason.NO_MEDIA_STREAMS,
        Reason.OVER_LIMIT,
        Reason.DECODE_FAILED,
        Reason.ANIMATED_IMAGE,
    )
)


@dataclass(frozen=True)
class SandboxRequest:
    """One run: read ``input_path``, write into ``output_dir``, obey ``spec``, with ``threads`` codec threads
    (and as many CPUs) and at most ``output_cap`` bytes of outputs."""

    job_id: str
    input_path: str
    output_dir: str
    spec: dict[str, Any]
    timeout: float
    memory_mb: int
    labels: dict[str, str]
    threads: int = 1
    output_cap: int = DEFAULT_OUTPUT_CAP

    def program_spec(self) -> dict[str, Any]:
        """What the program reads: the job's spec with this run's threads and output cap."""
        limits = {**(self.spec.get("limits") or {}), "max_output_bytes": self.output_cap}
        return {**self.spec, "threads": self.threads, "limits": limits}


@dataclass(frozen=True)
class SandboxResult:
    """A successful run: the parsed ``result.json`` and how long the run took."""

    result: dict[str, Any]
    seconds: float
    start_seconds: float


@dataclass(frozen=True)
class RunExit:
    """How a run ended, as any runtime observes it."""

    exit_code: int | None
    timed_out: bool = False
    oom_killed: bool = False
    oom_reading: str = ""  # why an OOM was inferred without the engine's flag (worker.sandbox.kills)
    log_tail: str = ""


class Sandbox(ABC):
    """A runtime that executes the container program on one input, isolated."""

    name = "abstract"

    @abstractmethod
    def run(self, request: SandboxRequest) -> SandboxResult:
        """Run to completion or raise an error of the tree (never returns a failure)."""

    def prepare(self, template: SandboxRequest) -> None:
        """Get ready for jobs like ``template`` before one arrives (the docker runtime's warm sandbox)."""

    def close(self) -> None:
        """Release what the runtime holds (clients, containers)."""


def read_result(output_dir: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse and validate ``result.json``: (the result, None), or (None, why it is not one)."""
    path = os.path.join(output_dir, RESULT_NAME)
    try:
        if os.path.islink(path) or os.path.getsize(path) > MAX_RESULT_BYTES:
            return None, f"{RESULT_NAME} is a link or larger than {MAX_RESULT_BYTES} bytes"
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        return None, f"{RESULT_NAME} is missing or not JSON: {exc}"
    why = result_schema.problem(doc)
    return (None, f"{RESULT_NAME} does not conform to its schema at {why}") if why else (doc, None)


def interpret(run: RunExit, output_dir: str) -> dict[str, Any]:
    """Map a finished run onto a result or an error of the tree."""
    if run.timed_out:
        raise ResourceExhausted(
            Reason.SANDBOX_TIMEOUT, "the transcode ran past the job timeout and was killed"
        )
    result, unreadable = read_result(output_dir)
    if run.oom_killed or run.exit_code == EXIT_NO_MEMORY:
        inferred = f" (no OOM flag from the engine; {run.oom_reading})" if run.oom_reading else ""
        raise ResourceExhausted(Reason.SANDBOX_OOM, f"the transcode ran out of memory{inferred}")
    if run.exit_code == EXIT_OK and result and result.get("status") == "ok":
        return result
    if run.exit_code == EXIT_REJECTED and result and result.get("status") == "rejected":
        reason = result.get("reason")
        code = Reason(reason) if reason in SANDBOX_REJECTIONS else Reason.CORRUPT_MEDIA
        raise RejectedInput(code, str(result.get("message", ""))[:2000])
    if run.exit_code is not None and (run.exit_code < 0 or run.exit_code >= 128):
        signum = -run.exit_code if run.exit_code < 0 else run.exit_code - 128
        name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
        raise RetryableError(Reason.SANDBOX_CRASHED, f"the transcode died of {name}: {run.log_tail[-500:]}")
    if result and result.get("reason") == "output_check_failed":
        raise RetryableError(Reason.OUTPUT_CHECK_FAILED, str(result.get("message", ""))[:2000])
    if unreadable and run.exit_code in (
        EXIT_OK,
        EXIT_REJECTED,
    ):  # it ended as if well, and said nothing valid
        raise RetryableError(Reason.SANDBOX_ERROR, f"the sandbox's result is not trusted: {unreadable}")
    detail = (result or {}).get("message") or run.log_tail[-1000:]
    if "No space left on device" in detail or "No space left on device" in run.log_tail:
        raise RetryableError(Reason.WORK_DIR_FULL, f"the job's output directory filled up: {detail[-300:]}")
    raise RetryableError(Reason.SANDBOX_ERROR, f"the transcode failed (exit {run.exit_code}): {detail}")


def file_size_limit(request: SandboxRequest) -> int:
    """The run's file-size rlimit: above the program's own output cap, so the cap is what an upload meets."""
    return request.output_cap + OUTPUT_RLIMIT_SLACK


def prepare_spec(request: SandboxRequest) -> str:
    """Write the job spec beside the input (both runtimes read it from there); return its path."""
    path = os.path.join(os.path.dirname(request.input_path), "spec.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(request.program_spec(), fh)
    return path


def create_sandbox(settings: Settings) -> Sandbox:
    """The runtime ``settings.runtime`` names (``auto`` must be resolved first)."""
    if settings.runtime == "process":
        from worker.sandbox.process import ProcessSandbox

        return ProcessSandbox(settings)
    if settings.runtime == "docker":
        from worker.sandbox.docker import DockerSandbox

        return DockerSandbox(settings)
    raise ValueError(f"runtime {settings.runtime!r} is not resolved")


def resolve_runtime(settings: Settings) -> Settings:
    """Settle ``auto``: docker when an engine answers and has the image, else process with a loud warning."""
    if settings.runtime != "auto":
        return settings
    from worker.sandbox.docker import engine_ready
    from worker.settings import with_overrides

    problem = engine_ready(settings.sandbox_image, settings.sandbox_oci_runtime)
    if problem is None:
        return with_overrides(settings, runtime="docker")
    if settings.sandbox_oci_runtime:  # asked for the stronger sandbox: never answer that with none at all
        raise SettingsError(f"MEDIA_WORKER_SANDBOX_OCI_RUNTIME={settings.sandbox_oci_runtime}: {problem}")
    log.warning(
        "!!! runtime=auto fell back to the PROCESS runtime, which is NOT isolated from hostile media "
        "(no Docker engine or no image %s: %s). Build the images (scripts/build-images.sh) or set "
        "MEDIA_WORKER_RUNTIME=process to silence this.",
        settings.sandbox_image,
        problem,
    )
    return with_overrides(settings, runtime="process")


def reap_sandboxes(
    settings: Settings, *, owner: str | None = None, orphans_only: bool = False, grace: float | None = None
) -> int:
    """Remove sandbox runs left behind (only the docker runtime leaves any: processes die with their parent):
    those of a dead ``owner`` (an instance id, see worker.owners), or orphans and runs ``grace`` s overdue."""
    if settings.runtime != "docker":
        return 0
    from worker.sandbox.docker import DEADLINE_GRACE_SECONDS
    from worker.sandbox.reaper import reap

    return reap(
        settings.work_dir,
        owner=owner,
        orphans_only=orphans_only,
        grace=DEADLINE_GRACE_SECONDS if grace is None else grace,
    )


def runtime_problem(settings: Settings) -> str | None:
    """Why the configured runtime cannot run a sandbox now (None when it can): for /readyz."""
    if settings.runtime != "docker":
        return None  # the process runtime needs nothing outside this host
    from worker.sandbox.docker import engine_ready

    return engine_ready(settings.sandbox_image, settings.sandbox_oci_runtime)
