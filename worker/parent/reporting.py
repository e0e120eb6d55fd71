"""What the parent does with each ended job besides settling its message: its counts and log line (the
observer), the status event, and the caller's hook (tests and the demo)."""

from __future__ import annotations

from typing import Any, Callable

from worker.parent.observer import Observer
from worker.parent.status_events import StatusEvents, announce


class OutcomeReporter:
    """Reports one ended job (a worker.child.job Job and Outcome)."""

    def __init__(
        self, observer: Observer, status: StatusEvents, on_outcome: Callable[[Any, Any], None] | None
    ) -> None:
        self._observer, self._status, self._on_outcome = observer, status, on_outcome

    def __call__(self, job: Any, outcome: Any) -> None:
        self._observer.job_ended(job, outcome)
        announce(self._status, job, outcome)
        if self._on_outcome:
            self._on_outcome(job, outcome)
