"""What the parent does with each ended job besides settling its message: the log line, the metrics, the
status event and the caller's hook (tests and the demo)."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Callable

from worker.parent.status_events import StatusEvents, announce

log = logging.getLogger("worker.parent.service")


class OutcomeReporter:
    """Reports one ended job (a worker.child.job Job and Outcome)."""

    def __init__(self, stats: Counter[str], metrics: Any, status: StatusEvents,
                 on_outcome: Callable[[Any, Any], None] | None) -> None:
        self._stats, self._metrics, self._status, self._on_outcome = stats, metrics, status, on_outcome

    def __call__(self, job: Any, outcome: Any) -> None:
        self._stats[f"jobs_{outcome.status}"] += 1
        log.info("job %s %s%s in %.1fs", job.job_id, outcome.status, f" ({outcome.reason})" if outcome.reason else "",
                 outcome.timings.get("total", 0.0), extra={**job.log_fields(), "outcome": outcome.status,
                                                           "reason": outcome.reason})
        self._metrics.job_ended(outcome.status, outcome.reason, outcome.timings, outcome.bytes_in, outcome.bytes_out)
        if outcome.source_delete:
            self._metrics.source_deletes.labels(outcome.source_delete).inc()
        announce(self._status, job, outcome)
        if self._on_outcome:
            self._on_outcome(job, outcome)
