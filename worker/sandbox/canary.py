"""One sandbox started at the worker's start-up with the jobs' exact lock-down, before any message is taken.

An engine that answers and has the image can still fail every job's sandbox: gVisor that cannot start under
the pids limit on this host, a tmpfs or memory limit too small for it, an image whose PyAV does not import
as user 65534 on a read-only root. Found at the first job, each would send every upload the retry way to
the dead-letter queue; found here, the worker exits 2 naming it, and the queue keeps the messages for a
healthy host. The probe imports PyAV and the program; it reads no upload.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any

from worker import owners
from worker.sandbox.base import SandboxRequest
from worker.sandbox.lockdown import LABEL_JOB, container_options
from worker.settings import Settings

CANARY_SECONDS = 30  # the container's run; the engine's client gets 10 s more for each call
# what every job imports, libmagic (loaded lazily) included; pillow-heif is optional to the program
PROBE = "import av, numpy, magic, container.__main__"


def canary_problem(settings: Settings, client: Any = None) -> str | None:
    """None when a sandbox with the jobs' container options starts and imports what the program needs;
    else why not."""
    from worker.sandbox.docker import docker_client

    owner = owners.claim(settings.work_dir)  # its container names us: we must be provably alive meanwhile
    directory = os.path.join(
        settings.work_dir, f"{owners.job_dir_prefix(owner)}canary-{uuid.uuid4().hex[:8]}"
    )
    own, name, started = client is None, None, time.monotonic()
    try:
        for sub, mode in (("in", 0o755), ("out", 0o777)):  # as a job's: 65534 writes out/
            os.makedirs(os.path.join(directory, sub))
            os.chmod(os.path.join(directory, sub), mode)
        request = SandboxRequest(
            job_id=f"canary-{uuid.uuid4().hex[:12]}",
            input_path=os.path.join(directory, "in", "input"),
            output_dir=os.path.join(directory, "out"),
            spec={},
            timeout=CANARY_SECONDS,
            memory_mb=settings.sandbox_memory_mb,
            labels={},
            threads=settings.codec_threads,
        )
        options = container_options(settings, request)
        options.update(entrypoint=["python3", "-s", "-c", PROBE], command=[])
        options["labels"] = {**options["labels"], LABEL_JOB: request.job_id}
        name = options["name"]
        client = client or docker_client(timeout=CANARY_SECONDS + 10)
        container = client.containers.run(**options)
        try:
            code = int(container.wait(timeout=CANARY_SECONDS)["StatusCode"])
        except Exception as exc:  # noqa: BLE001 - a read timeout, or the engine went
            return f"a sandbox with the jobs' limits did not finish within {CANARY_SECONDS} s: {exc}"
        if code != 0:
            lines = container.logs(tail=5).decode("utf-8", "replace").strip().splitlines()
            return f"a sandbox with the jobs' limits exited {code}: {lines[-1] if lines else '(no output)'}"
        return None
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return f"a sandbox with the jobs' limits did not start ({time.monotonic() - started:.1f} s): {exc}"
    finally:
        if client is not None:
            if name:
                try:
                    client.api.remove_container(name, force=True)
                except Exception:  # noqa: BLE001 - absent already, or labelled with a deadline for the janitor
                    pass
            if own:
                client.close()
        shutil.rmtree(directory, ignore_errors=True)
