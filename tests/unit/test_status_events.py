"""Status events are sent by a thread of their own: a slow target never holds up the caller."""
from __future__ import annotations

import json
import threading
import time

from worker.status import PUBLISHED, StatusEvents, status_event


def _event(n: int) -> dict:
    return status_event(PUBLISHED, source={"key": f"k{n}"}, message_id="m", job_id=str(n))


def test_a_hanging_target_never_blocks_emit_and_what_is_unsent_at_close_is_counted_dropped():
    sending, release, results, sent = threading.Event(), threading.Event(), [], []

    def hanging(body: str) -> None:
        sending.set()
        release.wait(30)
        sent.append(json.loads(body)["job_id"])

    events = StatusEvents("custom", results.append, backlog=3, send=hanging)
    events.emit(_event(0))
    assert sending.wait(5)
    for n in range(1, 5):
        events.emit(_event(n))  # three wait in the backlog, the fourth finds it full
    # every emit returned while the one send still hangs: none of them waited for the target
    assert sent == [] and results == ["dropped"]
    events.close(timeout=0.3)
    assert sent == [] and results == ["dropped"] * 4, "the three still queued at the stop are counted too"
    release.set()
    deadline = time.monotonic() + 5
    while "sent" not in results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == ["0"] and results.count("sent") == 1


def test_events_are_sent_in_order_and_failures_counted():
    results, sent = [], []

    def flaky(body: str) -> None:
        job = json.loads(body)["job_id"]
        if job == "1":
            raise ConnectionError("target down")
        sent.append(job)

    events = StatusEvents("custom", results.append, send=flaky)
    for n in range(4):
        events.emit(_event(n))
    events.close(timeout=5)
    assert sent == ["0", "2", "3"]
    assert sorted(results) == ["failed", "sent", "sent", "sent"]


def test_no_target_sends_nothing():
    results = []
    events = StatusEvents("", results.append)
    events.emit(_event(0))
    events.close()
    assert results == []
