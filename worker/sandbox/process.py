"""The ``process`` runtime: the container program as a subprocess in its own session.

Limits: address space (``sandbox_memory_mb``), CPU time, output file size, no
core dumps; a wall-clock timeout after which the whole process group is
SIGKILLed; a bare environment with no AWS credentials. It is not a security
boundary against hostile media (no namespaces, the network is reachable): use
the ``docker`` runtime for that.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

from worker.sandbox.base import (
    RunExit,
    Sandbox,
    SandboxRequest,
    SandboxResult,
    file_size_limit,
    interpret,
    prepare_spec,
)
from worker.settings import Settings

LOG_NAME = "sandbox.log"


def _package_root(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name!r} is not importable")
    return os.path.dirname(os.path.dirname(spec.origin))


class ProcessSandbox(Sandbox):
    """Runs ``python -m container`` under rlimits with a wall-clock timeout."""

    name = "process"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        roots = dict.fromkeys([_package_root("container"), _package_root("worker")])
        self._pythonpath = os.pathsep.join(roots)

    def run(self, request: SandboxRequest) -> SandboxResult:
        """Run one transcode; raise an error of the tree unless it succeeded."""
        job_dir = os.path.dirname(request.output_dir)
        scratch = os.path.join(job_dir, "scratch")
        os.makedirs(scratch, exist_ok=True)
        spec_path = prepare_spec(request)
        memory = request.memory_mb * 1024 * 1024
        cpu_seconds = int(request.timeout * max(1, request.threads)) + 10
        file_size = file_size_limit(request)
        cmd = [
            sys.executable,
            "-s",
            "-m",
            "worker.sandbox.launch",
            str(memory),
            str(cpu_seconds),
            str(file_size),
            "--",
            sys.executable,
            "-s",
            "-m",
            "container",
            "--input",
            request.input_path,
            "--output-dir",
            request.output_dir,
            "--spec",
            spec_path,
        ]
        env = {
            "PATH": os.defpath,
            "HOME": scratch,
            "TMPDIR": scratch,
            "PYTHONPATH": self._pythonpath,
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        log_path = os.path.join(job_dir, LOG_NAME)
        started = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=request.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)
        seconds = time.monotonic() - started
        run = RunExit(exit_code=proc.returncode, timed_out=timed_out, log_tail=_tail(log_path))
        return SandboxResult(result=interpret(run, request.output_dir), seconds=seconds, start_seconds=0.0)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group, whatever state it is in."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
