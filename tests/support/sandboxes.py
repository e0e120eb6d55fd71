"""Which sandbox containers hold a job: cold ones are named by their job; a warm one
(``media-worker-warm<id>``, directory ``<work>/job-<owner>-warm<id>``) holds one once its spec was handed
over, and is waiting before that."""

from __future__ import annotations

import glob
import os
import shutil
import time

from worker.sandbox.base import DEFAULT_OUTPUT_CAP, SandboxRequest
from worker.sandbox.docker import LABEL_JOB

WARM_PREFIX = "media-worker-warm"
CLEANUP_PREFIX = "media-worker-cleanup-"  # worker.sandbox.cleanup's fixers: no job's sandbox
CANARY_PREFIX = "media-worker-canary-"  # worker.sandbox.canary's start-up probe: none either


def handed_over(work_dir: str) -> set[str]:
    """Names of the warm containers in ``work_dir`` whose job was handed over (their ``in/`` has the spec)."""
    specs = glob.glob(os.path.join(glob.escape(work_dir), "job-*-warm*", "in", "spec.json"))
    return {
        "media-worker-" + os.path.basename(os.path.dirname(os.path.dirname(spec))).rsplit("-", 1)[1]
        for spec in specs
    }


def name_of(container) -> str:
    """A container's name, from a full or a sparse listing (which has only ``Names``)."""
    return container.name or container.attrs.get("Names", ["/"])[0].lstrip("/")


def split_by_job(names: list[str], work_dir: str) -> tuple[list[str], list[str]]:
    """``(busy, waiting)``: containers running a job, and warm ones still waiting for theirs (cleanup
    fixers and start-up canaries are neither)."""
    handed = handed_over(work_dir)
    sandboxes = [n for n in names if not n.startswith((CLEANUP_PREFIX, CANARY_PREFIX))]
    waiting = [n for n in sandboxes if n.startswith(WARM_PREFIX) and n not in handed]
    return [n for n in sandboxes if n not in waiting], waiting


def our_containers(client, **labels):
    """Sandbox containers (inspected); a container removed between the listing and its inspection (docker-py
    inspects each one it lists) makes the listing start over rather than fail the test."""
    import docker.errors

    filters = ["media-worker.job"] + [f"{k}={v}" for k, v in labels.items()]
    for _ in range(20):
        try:
            return client.containers.list(all=True, filters={"label": filters})
        except docker.errors.NotFound:
            continue
    return client.containers.list(all=True, filters={"label": filters}, sparse=True)


def busy_sandboxes(client, work_dir: str) -> list:
    """Sandbox containers running a job now (tests/support/sandboxes.py): not warm ones still waiting."""
    running = [c for c in our_containers(client) if c.status == "running"]
    busy, _ = split_by_job([name_of(c) for c in running], work_dir)
    return [c for c in running if name_of(c) in busy]


def job(tmp_path, source, *, timeout=120.0, memory_mb=1024, spec=None, base=None):
    """A job directory on the host tmpfs (or in ``base``), as the worker lays it out."""
    base = base or ("/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path))
    job_dir = os.path.join(base, f"mw-test-{os.getpid()}-{time.monotonic_ns()}")
    os.makedirs(os.path.join(job_dir, "in"))
    os.makedirs(os.path.join(job_dir, "out"))
    inp = os.path.join(job_dir, "in", "input")
    if source == "fifo":
        os.mkfifo(inp)  # the program blocks reading it: a real hang
    else:
        shutil.copy(source, inp)
    job_id = os.path.basename(job_dir)
    spec = spec or {"demuxer": "mov"}
    cap = (spec.get("limits") or {}).get("max_output_bytes") or DEFAULT_OUTPUT_CAP
    return SandboxRequest(
        job_id,
        inp,
        os.path.join(job_dir, "out"),
        spec,
        timeout,
        memory_mb,
        {LABEL_JOB: job_id},
        threads=int(spec.get("threads", 1)),
        output_cap=int(cap),
    )
