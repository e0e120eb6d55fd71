"""The lock-down of a sandbox container, in one place: what ``containers.run`` is given for a job (no
network, read-only root, no capabilities, no-new-privileges, user 65534, pids/memory/CPU limits, a capped
scratch tmpfs, the input read-only and the outputs read-write, an output file-size ulimit) and the labels
that name its owners and its deadline (the janitor's only clues: worker.sandbox.reaper)."""

from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

from worker import owners
from worker.sandbox.base import SandboxRequest, file_size_limit
from worker.sandbox.cleanup import SANDBOX_USER
from worker.settings import Settings

LABEL_JOB, LABEL_HOST, LABEL_PID, LABEL_PARENT = (
    "media-worker.job",
    "media-worker.host",
    "media-worker.pid",
    "media-worker.parent",
)
LABEL_OWNER, LABEL_PARENT_OWNER = (
    "media-worker.owner",
    "media-worker.parent-owner",
)  # instance ids: these decide
LABEL_WORK_DIR, LABEL_DEADLINE = "media-worker.work-dir", "media-worker.deadline"  # unix seconds


def limits_of(options: dict[str, Any]) -> tuple[Any, ...]:
    """The limits in ``options``: a warm container serves only a job whose are the same."""
    return (
        options["image"],
        options.get("runtime"),
        options["mem_limit"],
        options["nano_cpus"],
        options["pids_limit"],
        tuple(options["tmpfs"].items()),
        tuple(sorted((u["Name"], u["Soft"], u["Hard"]) for u in options["ulimits"])),
    )


def container_options(settings: Settings, request: SandboxRequest) -> dict[str, Any]:
    """Everything ``containers.run`` is given for ``request``: the lock-down in one place."""
    from docker.types import Ulimit

    in_dir, out_dir = os.path.dirname(request.input_path), request.output_dir
    threads = max(1, request.threads)
    file_cap = file_size_limit(request)
    memory = f"{request.memory_mb}m"
    return {
        "image": settings.sandbox_image,
        "command": [
            "--input",
            "/job/in/" + os.path.basename(request.input_path),
            "--output-dir",
            "/job/out",
            "--spec",
            "/job/in/spec.json",
        ],
        "name": f"media-worker-{request.job_id}",
        "detach": True,
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": f"{SANDBOX_USER}:{SANDBOX_USER}",
        "pids_limit": settings.sandbox_pids_limit,
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap: an over-limit run is OOM-killed, not slowed down
        "nano_cpus": threads * 1_000_000_000,
        "ipc_mode": "private",
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={settings.sandbox_tmpfs_mb}m,mode=1777"},
        "volumes": {in_dir: {"bind": "/job/in", "mode": "ro"}, out_dir: {"bind": "/job/out", "mode": "rw"}},
        "ulimits": [Ulimit(name="fsize", soft=file_cap, hard=file_cap), Ulimit(name="core", soft=0, hard=0)],
        # OpenBLAS (numpy: audio, HDR) starts a thread per host CPU at import, whatever --cpus says: on a
        # many-core host that alone could exhaust the pids limit; the job's share, as for the codecs
        "environment": {
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "OPENBLAS_NUM_THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads),
        },
        "working_dir": "/tmp",
        "labels": {**request.labels, **owner_labels(settings.work_dir, request.timeout)},
        **({"runtime": settings.sandbox_oci_runtime} if settings.sandbox_oci_runtime else {}),
    }


def owner_labels(work_dir: str, timeout: float, *, job: str | None = None) -> dict[str, str]:
    """Labels naming who started a container and when it must be gone (the janitor's only clues)."""
    labels = {
        LABEL_HOST: socket.gethostname(),
        LABEL_PID: str(os.getpid()),
        LABEL_PARENT: str(os.getppid()),
        LABEL_OWNER: owners.instance_id(),
        LABEL_WORK_DIR: os.path.abspath(work_dir),
        LABEL_DEADLINE: str(math.ceil(time.time() + timeout)),
    }
    if owners.parent_id():
        labels[LABEL_PARENT_OWNER] = str(owners.parent_id())
    if job:
        labels[LABEL_JOB] = job
    return labels
