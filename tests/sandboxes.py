"""Which sandbox containers hold a job: cold ones are named by their job; a warm one
(``media-worker-warm<id>``, directory ``<work>/job-<owner>-warm<id>``) holds one once its spec was handed
over, and is waiting before that."""
from __future__ import annotations

import glob
import os

WARM_PREFIX = "media-worker-warm"
CLEANUP_PREFIX = "media-worker-cleanup-"  # worker.sandbox.cleanup's fixers: no job's sandbox


def handed_over(work_dir: str) -> set[str]:
    """Names of the warm containers in ``work_dir`` whose job was handed over (their ``in/`` has the spec)."""
    specs = glob.glob(os.path.join(glob.escape(work_dir), "job-*-warm*", "in", "spec.json"))
    return {"media-worker-" + os.path.basename(os.path.dirname(os.path.dirname(spec))).rsplit("-", 1)[1]
            for spec in specs}


def name_of(container) -> str:
    """A container's name, from a full or a sparse listing (which has only ``Names``)."""
    return container.name or container.attrs.get("Names", ["/"])[0].lstrip("/")


def split_by_job(names: list[str], work_dir: str) -> tuple[list[str], list[str]]:
    """``(busy, waiting)``: containers running a job, and warm ones still waiting for theirs (cleanup
    fixers are neither)."""
    handed = handed_over(work_dir)
    sandboxes = [n for n in names if not n.startswith(CLEANUP_PREFIX)]
    waiting = [n for n in sandboxes if n.startswith(WARM_PREFIX) and n not in handed]
    return [n for n in sandboxes if n not in waiting], waiting
