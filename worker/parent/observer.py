"""Counting, out of the control flow: the service, the receiver and the settler tell one ``Observer`` what
happened, and it keeps the run's totals (what ``Service.run`` returns; the demo and the tests read them)
and Prometheus (worker.parent.metrics) — as dramatiq's Prometheus middleware listens to the broker's hooks."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from worker.parent.metrics import Metrics

log = logging.getLogger("worker.parent.service")

# a settled message's SQS action → the run's total it counts in
SETTLED_TOTALS = {
    "delete": "deleted",
    "delete_failed": "delete_failures",
    "retry": "retried",
    "release": "released",
    "resend": "resent",
}


class Observer:
    """One method for each thing that happens in the parent."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.totals: Counter[str] = Counter()

    # the receiver
    def polled(self, messages: int) -> None:
        self.totals["polls"] += 1
        self.totals["messages_received"] += messages
        if not messages:
            self.totals["empty_polls"] += 1
        self.metrics.polled(messages)

    def receive_failed(self) -> None:
        self.totals["receive_errors"] += 1
        self.metrics.receive_errors.inc()

    def receiving(self, ready: bool) -> None:
        self.metrics.receiving.set(1 if ready else 0)

    def held_off(self) -> None:
        self.totals["held_off"] += 1

    def released_after_stop(self) -> None:
        self.totals["released_after_stop"] += 1

    # the main loop
    def loop_error(self) -> None:
        self.totals["main_loop_errors"] += 1
        self.metrics.loop_errors.inc()

    def poison(self, reason: str) -> None:
        self.totals[f"poison_{reason}"] += 1

    def test_event(self) -> None:
        self.totals["test_events"] += 1

    def redelivered_in_flight(self) -> None:
        self.totals["redelivered_in_flight"] += 1

    def job_ended(self, job: Any, outcome: Any) -> None:
        """A worker.child.job Job's Outcome: its log line and its counts."""
        self.totals[f"jobs_{outcome.status}"] += 1
        log.info(
            "job %s %s%s in %.1fs",
            job.job_id,
            outcome.status,
            f" ({outcome.reason})" if outcome.reason else "",
            outcome.timings.get("total", 0.0),
            extra={**job.log_fields(), "outcome": outcome.status, "reason": outcome.reason},
        )
        self.metrics.job_ended(
            outcome.status, outcome.reason, outcome.timings, outcome.bytes_in, outcome.bytes_out
        )
        if outcome.source_delete:
            self.metrics.source_deletes.labels(outcome.source_delete).inc()

    # the settler
    def settled(self, action: str) -> None:
        """A message's SQS action: one of ``SETTLED_TOTALS``."""
        self.totals[SETTLED_TOTALS[action]] += 1
        self.metrics.settled.labels(action).inc()
        if action == "delete":
            self.metrics.deleted.inc()

    def bad_record(self, reason: str) -> None:
        self.totals["bad_records"] += 1
        self.metrics.bad_records.labels(reason).inc()
