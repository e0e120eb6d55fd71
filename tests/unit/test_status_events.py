"""Status events are sent by a thread per target: a slow target never holds up the caller or another target;
what a later try may fix is retried for a bounded time, what the target refused is not."""

from __future__ import annotations

import threading
import time

import pytest

from worker.child.outcome import Status
from worker.errors import PermanentError, Reason, RetryableError
from worker.parent.status_events import StatusEvents, status_event
from worker.parent.status_events import sender as sender_module


def _event(n: int) -> dict:
    return status_event(Status.PUBLISHED, source={"key": f"k{n}"}, message_id="m", job_id=str(n))


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(sender_module, "FIRST_DELAY", 0.01)
    monkeypatch.setattr(sender_module, "MAX_DELAY", 0.02)


def test_a_hanging_target_never_blocks_emit_and_what_is_unsent_at_close_is_counted_dropped():
    sending, release, results, sent = threading.Event(), threading.Event(), [], []

    def hanging(event: dict) -> None:
        sending.set()
        release.wait(30)
        sent.append(event["job_id"])

    events = StatusEvents([("custom", hanging)], lambda target, result: results.append(result), backlog=3)
    events.emit(_event(0))
    assert sending.wait(5)
    for n in range(1, 5):
        events.emit(_event(n))  # three wait in the backlog, the fourth finds it full
    # every emit returned while the one send still hangs: none of them waited for the target
    assert sent == [] and results == ["dropped"]
    events.close(timeout=0.3)
    assert sent == [] and results == ["dropped"] * 4, "the three still queued at the stop are counted too"
    release.set()
    _wait_for(lambda: "sent" in results)
    assert sent == ["0"] and results.count("sent") == 1


def test_a_hanging_target_does_not_hold_up_another_target():
    release, results = threading.Event(), []
    events = StatusEvents(
        [("slow", lambda event: release.wait(30)), ("fast", lambda event: None)],
        lambda target, result: results.append((target, result)),
    )
    for n in range(3):
        events.emit(_event(n))
    _wait_for(lambda: results.count(("fast", "sent")) == 3)
    assert results == [("fast", "sent")] * 3
    release.set()
    events.close(timeout=5)
    assert results.count(("slow", "sent")) == 3


def test_a_retryable_failure_is_tried_again_and_a_refusal_is_not(fast_backoff):
    tries, results = {"0": 0, "1": 0, "2": 0}, []

    def flaky(event: dict) -> None:
        job = event["job_id"]
        tries[job] += 1
        if job == "0" and tries[job] < 3:
            raise RetryableError(Reason.STATUS_TARGET, "HTTP 503")
        if job == "1":
            raise PermanentError(Reason.STATUS_TARGET, "HTTP 400")

    events = StatusEvents([("t", flaky)], lambda target, result: results.append(result), retry_for=30)
    for n in range(3):
        events.emit(_event(n))
    events.close(timeout=10)
    assert tries == {"0": 3, "1": 1, "2": 1}
    assert results == ["retried", "retried", "sent", "failed", "sent"], "in order, each event one result"


def test_retries_end_when_the_retry_time_is_spent(fast_backoff):
    results, tries = [], []

    def down(event: dict) -> None:
        tries.append(time.monotonic())
        raise ConnectionError("target down")  # not ours: retried like a RetryableError

    events = StatusEvents([("t", down)], lambda target, result: results.append(result), retry_for=0.3)
    events.emit(_event(0))
    _wait_for(lambda: "failed" in results)
    events.close(timeout=1)
    assert results[-1] == "failed" and results.count("failed") == 1
    assert len(tries) >= 3 and tries[-1] - tries[0] <= 0.3 + 0.05


def test_a_stop_does_not_wait_out_a_long_retry():
    results = []

    def down(event: dict) -> None:
        raise RetryableError(Reason.STATUS_TARGET, "HTTP 502")

    events = StatusEvents([("t", down)], lambda target, result: results.append(result), retry_for=3600)
    events.emit(_event(0))
    events.emit(_event(1))
    _wait_for(lambda: True, 0.1)
    started = time.monotonic()
    events.close(timeout=0.5)
    assert time.monotonic() - started < 2.0
    _wait_for(lambda: results.count("dropped") == 2, 3)
    assert results.count("dropped") == 2 and "sent" not in results


def test_an_event_emitted_after_the_stop_is_counted_dropped():
    results = []
    events = StatusEvents([("t", lambda event: None)], lambda target, result: results.append(result))
    events.emit(_event(0))
    events.close(timeout=5)
    events.emit(_event(1))  # a settle that outlived the stop
    assert results == ["sent", "dropped"]


def test_a_failure_to_record_a_result_does_not_stop_the_sender():
    results = []

    def on_result(target: str, result: str) -> None:
        results.append(result)
        if len(results) == 1:
            raise RuntimeError("a metrics hiccup")

    events = StatusEvents([("t", lambda event: None)], on_result)
    events.emit(_event(0))
    events.emit(_event(1))
    events.close(timeout=5)
    assert results == ["sent", "sent"]


def test_no_target_sends_nothing():
    results = []
    events = StatusEvents([], lambda target, result: results.append(result))
    events.emit(_event(0))
    events.close()
    assert results == [] and events.labels == []
