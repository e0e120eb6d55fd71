"""Who killed a gVisor sandbox that died of SIGKILL: the kernel (out of memory) or someone through the engine.

Under gVisor the engine's ``OOMKilled`` flag is unreliable (google/gvisor#2433, #12838): the memory cgroup's
OOM killer takes the whole sandbox and the shim does not always see the event. A SIGKILL that no one sent
through the engine (``docker kill``, ``rm -f``, a stop: each leaves a ``kill`` event in the engine's log) came
from outside the engine; for a sandbox with a memory limit that is, nearly always, the kernel's OOM killer.
Under runc the flag is reliable, so this reading is used for runsc only (worker.sandbox.docker).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

SIGKILL_EXIT = 128 + signal.SIGKILL
EVENTS_SECONDS = 5.0  # the engine answers a query that ends in the past at once; past this it is hung


def killed_by_kernel(client: Any, container: Any) -> tuple[bool, str]:
    """Whether ``container`` (exited 137) was killed by the kernel, and why this reading.

    Unknown (the engine does not answer) counts as the kernel: a real OOM misread as a crash is retried to
    the dead-letter queue, an external kill misread as an OOM costs one exhaustion marker."""
    actions = engine_kills(client, container)
    if actions is None:
        return True, "the engine's event log did not answer"
    if "oom" in actions:
        return True, "the engine logged an oom event"
    if "kill" in actions:
        return False, "it was killed through the engine"
    return True, "no one killed it through the engine"


def engine_kills(client: Any, container: Any) -> set[str] | None:
    """The ``kill`` and ``oom`` actions the engine logged for ``container`` since its creation; None when
    the engine does not answer within EVENTS_SECONDS (connect and each read bounded, unlike the SDK's
    streaming ``events``, which reads with no timeout)."""
    api = client.api
    params = {
        "since": f"{_created_at(container) - 1.0:.6f}",
        "until": f"{time.time():.6f}",
        "filters": json.dumps({"container": [container.id], "type": ["container"], "event": ["kill", "oom"]}),
    }
    try:
        response = api.get(api._url("/events"), params=params, timeout=EVENTS_SECONDS)
        response.raise_for_status()
        lines = response.text.splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return {str(event.get("Action") or event.get("status") or "") for event in events}
    except Exception as exc:  # noqa: BLE001 - the caller takes the safer reading
        log.warning("cannot read the engine's events for %s: %s", container.id, exc)
        return None


def _created_at(container: Any) -> float:
    """The container's creation time on the engine's clock; now less an hour if unreadable."""
    created = str(container.attrs.get("Created") or "")
    try:
        # the engine writes nanoseconds; fromisoformat takes at most microseconds
        head, _, tail = created.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{tail[:6] or '0'}+00:00").timestamp()
    except ValueError:
        return time.time() - 3600.0
