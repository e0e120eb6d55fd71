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
    state = container.attrs.get("State") or {}
    finished = _engine_time(state.get("FinishedAt"), time.time())
    params = {
        # both ends on the engine's clock: a worker's clock behind the engine's must not cut the kill off
        "since": f"{_engine_time(container.attrs.get('Created'), time.time() - 3600.0) - 1.0:.6f}",
        "until": f"{finished + 0.01:.6f}",  # the kill came before the exit; an until ahead of now would wait
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


def _engine_time(stamp: Any, default: float) -> float:
    """An engine timestamp (RFC 3339, nanoseconds) as a Unix time; ``default`` if unreadable or unset."""
    text = str(stamp or "")
    try:
        # the engine writes nanoseconds; fromisoformat takes at most microseconds
        head, _, tail = text.rstrip("Z").partition(".")
        value = datetime.fromisoformat(f"{head}.{tail[:6] or '0'}+00:00").timestamp()
    except ValueError:
        return default
    return value if value > 0 else default  # an unset time is year 1
