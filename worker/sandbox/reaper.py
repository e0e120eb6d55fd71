"""Removing the sandbox containers dead processes left (the janitor's engine side): by their labels alone
(worker.sandbox.docker ``owner_labels``), judged by the owners' locks (worker.owners)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from worker import owners
from worker.sandbox.docker import (
    DEADLINE_GRACE_SECONDS,
    LABEL_DEADLINE,
    LABEL_JOB,
    LABEL_OWNER,
    LABEL_PARENT_OWNER,
    LABEL_WORK_DIR,
    docker_client,
)

log = logging.getLogger(__name__)


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - the reaper gets it later
        log.warning("could not remove sandbox container %s: %s", getattr(container, "name", "?"), exc)


def reap(
    work_dir: str,
    *,
    owner: str | None = None,
    orphans_only: bool = False,
    grace: float = DEADLINE_GRACE_SECONDS,
) -> int:
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
            log.warning(
                "removing sandbox container %s (job %s): %s", container.short_id, labels.get(LABEL_JOB), why
            )
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
