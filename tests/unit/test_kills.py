"""Reading a sandbox's SIGKILL from the engine's events (the real engine: tests/integration/test_docker_sandbox.py)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from worker.sandbox import kills


class Stream:
    """The SDK's cancellable event stream: the given events, or a block until ``close``."""

    def __init__(self, events, hang=False):
        self._events, self._hang, self.closed = events, hang, threading.Event()

    def __iter__(self):
        if self._hang and not self.closed.wait(10):
            raise AssertionError("never closed")
        if self._hang:
            raise OSError("stream closed")
        return iter(self._events)

    def close(self):
        self.closed.set()


class Engine:
    def __init__(self, stream=None, error=None):
        self.stream, self.error, self.queries = stream, error, []
        self.api = self

    def events(self, **query):
        self.queries.append(query)
        if self.error:
            raise self.error
        return self.stream


CONTAINER = SimpleNamespace(id="c0ffee", attrs={"Created": "2026-12-01T20:16:21.123456789Z"})


@pytest.mark.parametrize(
    ("actions", "kernel"),
    [
        ([], True),  # no one asked the engine to kill it
        (["kill"], False),  # docker kill, rm -f, a stop
        (["kill", "oom"], True),  # the flag was missed, the event was not
        (["oom"], True),
    ],
)
def test_the_kernel_is_the_killer_unless_the_engine_sent_the_signal(actions, kernel):
    engine = Engine(Stream([{"Type": "container", "Action": action, "id": "c0ffee"} for action in actions]))
    assert kills.killed_by_kernel(engine, CONTAINER) is kernel
    (query,) = engine.queries
    assert query["filters"] == {"container": "c0ffee", "type": "container", "event": ["kill", "oom"]}
    since, until = float(query["since"]), float(query["until"])
    assert since == pytest.approx(1796156180.123456, abs=1e-3)  # created, less a second
    assert until == pytest.approx(time.time(), abs=5)  # bounded: the engine answers and closes


def test_an_engine_that_does_not_answer_counts_as_the_kernel(monkeypatch):
    assert kills.killed_by_kernel(Engine(error=ConnectionError("engine gone")), CONTAINER) is True
    monkeypatch.setattr(kills, "EVENTS_SECONDS", 0.2)
    hung = Stream([], hang=True)
    started = time.monotonic()
    assert kills.killed_by_kernel(Engine(hung), CONTAINER) is True
    assert hung.closed.is_set() and time.monotonic() - started < 5


def test_an_unreadable_creation_time_looks_back_an_hour():
    engine = Engine(Stream([{"Action": "kill"}]))
    undated = SimpleNamespace(id="c0ffee", attrs={"Created": "yesterday"})
    assert kills.killed_by_kernel(engine, undated) is False
    assert float(engine.queries[0]["since"]) == pytest.approx(time.time() - 3600, abs=5)
