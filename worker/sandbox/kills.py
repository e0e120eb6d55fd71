"""Who killed a sandbox that died of SIGKILL: the kernel (out of memory) or someone through the engine.

Under gVisor the engine's ``OOMKilled`` flag is unreliable (google/gvisor#2433, #12838): the memory cgroup's
OOM killer takes the whole sandbox and the shim does not always see the event. A SIGKILL that no one sent
through the engine (``docker kill``, ``rm -f``, a stop: each leaves a ``kill`` event in the engine's log)
came from the kernel, and with no rlimits inside the container the kernel's only reason is memory.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

SIGKILL_EXIT = 128 + signal.SIGKILL
EVENTS_SECONDS = 5.0  # the engine answers a bounded query at once; past this it is hung


def killed_by_kernel(client: Any, container: Any) -> bool:
    """True when ``container`` (exited 137) has an ``oom`` event, or no ``kill`` event, in the engine's log.

    Unknown (the engine does not answer) counts as the kernel: misread as an OOM, an external kill costs one
    exhaustion marker; misread as a crash, a real OOM is retried to the dead-letter queue."""
    started = _started_at(container)
    try:
        events = _events(client, container.id, started)
    except Exception as exc:  # noqa: BLE001 - the safer reading, said in the log
        log.warning(
            "cannot read the engine's events for %s (%s): taking its SIGKILL for an OOM", container.id, exc
        )
        return True
    actions = {event.get("Action") or event.get("status") for event in events}
    return "oom" in actions or "kill" not in actions


def _events(client: Any, container_id: str, since: float) -> list[dict[str, Any]]:
    """The container's ``kill`` and ``oom`` events from ``since`` until now, closed after EVENTS_SECONDS."""
    stream = client.api.events(
        since=f"{since:.6f}",
        until=f"{time.time():.6f}",
        filters={"container": container_id, "type": "container", "event": ["kill", "oom"]},
        decode=True,
    )
    timer = threading.Timer(EVENTS_SECONDS, stream.close)
    timer.daemon = True
    timer.start()
    try:
        return list(stream)
    finally:
        timer.cancel()
        stream.close()


def _started_at(container: Any) -> float:
    """The container's creation time on the engine's clock, less a second; now less an hour if unknown."""
    from datetime import datetime

    created = str(container.attrs.get("Created") or "")
    try:
        # the engine writes nanoseconds; fromisoformat takes at most microseconds
        head, _, tail = created.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(f"{head}.{tail[:6] or '0'}+00:00")
        return stamp.timestamp() - 1.0
    except ValueError:
        return time.time() - 3600.0
