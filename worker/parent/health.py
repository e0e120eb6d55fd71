"""What the parent tells about itself: readiness (``/readyz``, and whether the receiver may take messages) and
the queues' depth, measured on their own threads."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from worker.ops.dlq import dlq_url_of
from worker.parent.metrics import Metrics
from worker.parent.sqs import Queue
from worker.sandbox import runtime_problem
from worker.settings import Settings

log = logging.getLogger(__name__)


class RuntimeCheck:
    """Why the sandbox runtime cannot run jobs now, or None; asked of the engine at most every 30 s while it is
    fine and every 5 s while it is not (asking on every probe would load it)."""

    def __init__(self, settings: Settings, check: Callable[[Settings], str | None] = runtime_problem) -> None:
        self._settings, self._check = settings, check
        self._lock = threading.Lock()
        self._last: tuple[float, str | None] = (-1e9, None)

    def __call__(self) -> str | None:
        with self._lock:
            checked_at, problem = self._last
            if time.monotonic() - checked_at > (5 if problem else 30):
                problem = self._check(self._settings)
                self._last = (time.monotonic(), problem)
            return problem


def readiness(runtime: RuntimeCheck, last_poll: float | None, poll_wait: int) -> str | None:
    """None when ready: the sandbox runtime answers and a poll succeeded lately; else why not."""
    problem = runtime()
    if problem:
        return problem
    quiet_for = None if last_poll is None else time.time() - last_poll
    if quiet_for is None or quiet_for > poll_wait + 30:
        return (
            "no successful SQS poll yet"
            if quiet_for is None
            else f"no successful SQS poll for {quiet_for:.0f} s"
        )
    return None


def queue_stats_loop(queue: Queue, settler: Any, metrics: Metrics, stop: threading.Event) -> None:
    """Every 30 s: the source queue's and the DLQ's approximate depth (for the DLQ-not-empty alert); and the
    redrive limit, if it could not be read at the start."""
    try:
        queues = {"source": queue.url, "dlq": dlq_url_of(queue.client, queue.url)}
    except Exception as exc:  # noqa: BLE001 - no DLQ, or no permission: depth of the source queue only
        log.info("no DLQ depth metric: %s", exc)
        queues = {"source": queue.url}
    while not stop.is_set():
        if settler.max_receives is None:  # unread at start (a hiccup): no re-send or dead_lettered without it
            settler.max_receives = queue.max_receive_count()
        for name, url in queues.items():
            try:
                depth = queue.depth(url)
            except Exception as exc:  # noqa: BLE001 - a metric is not worth a crash
                log.debug("queue depth of %s failed: %s", name, exc)
                continue
            for state, count in depth.items():
                metrics.queue_messages.labels(name, state).set(count)
        stop.wait(30)
