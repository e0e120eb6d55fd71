"""Reading a gVisor sandbox's SIGKILL from the engine's events (the real engine: test_docker_sandbox.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from types import SimpleNamespace

import docker
import pytest

from worker.errors import Reason, ResourceExhausted
from worker.sandbox import kills
from worker.sandbox.base import RunExit, interpret

CONTAINER = SimpleNamespace(id="c0ffee", attrs={"Created": "2026-12-01T20:16:21.123456789Z"})


class Api:
    """The SDK client's two calls kills.py makes, answering with the given event lines."""

    def __init__(self, actions):
        self.body = "\n".join(json.dumps({"Type": "container", "Action": a, "id": "c0ffee"}) for a in actions)
        self.queries = []
        self.api = self

    def _url(self, path):
        return f"http+docker://localhost/v1.41{path}"

    def get(self, url, params, timeout):
        self.queries.append((url, params, timeout))
        return SimpleNamespace(text=self.body + "\n", raise_for_status=lambda: None)


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
    engine = Api(actions)
    assert kills.killed_by_kernel(engine, CONTAINER)[0] is kernel
    (url, params, timeout) = engine.queries[0]
    assert url.endswith("/events") and timeout == kills.EVENTS_SECONDS
    assert json.loads(params["filters"]) == {
        "container": ["c0ffee"],
        "type": ["container"],
        "event": ["kill", "oom"],
    }
    assert float(params["since"]) == pytest.approx(1796156180.123456, abs=1e-3)  # created, less a second
    assert float(params["until"]) == pytest.approx(time.time(), abs=5)  # no FinishedAt: the worker's clock


def test_the_query_ends_at_the_exit_on_the_engines_clock():
    engine = Api(["kill"])
    state = {"State": {"FinishedAt": "2026-12-01T20:16:31.5Z"}}
    assert (
        kills.killed_by_kernel(engine, SimpleNamespace(id="c0ffee", attrs={**CONTAINER.attrs, **state}))[0]
        is False
    )
    assert float(engine.queries[0][1]["until"]) == pytest.approx(1796156191.51, abs=1e-3)
    unset = {"State": {"FinishedAt": "0001-01-01T00:00:00Z"}}  # what the engine says before an exit
    kills.killed_by_kernel(engine, SimpleNamespace(id="c0ffee", attrs={**CONTAINER.attrs, **unset}))
    assert float(engine.queries[1][1]["until"]) == pytest.approx(time.time(), abs=5)


def test_an_unreadable_creation_time_looks_back_an_hour():
    engine = Api(["kill"])
    assert (
        kills.killed_by_kernel(engine, SimpleNamespace(id="c0ffee", attrs={"Created": "yesterday"}))[0]
        is False
    )
    assert float(engine.queries[0][1]["since"]) == pytest.approx(time.time() - 3600, abs=5)


def test_an_engine_that_accepts_but_never_answers_counts_as_the_kernel_within_the_bound(monkeypatch):
    """The SDK's own ``events`` reads with no timeout; this query is bounded even before any header."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    client = docker.APIClient(base_url=f"tcp://127.0.0.1:{listener.getsockname()[1]}", version="1.41")
    monkeypatch.setattr(kills, "EVENTS_SECONDS", 0.5)
    started = time.monotonic()
    try:
        assert kills.killed_by_kernel(SimpleNamespace(api=client), CONTAINER) == (
            True,
            "the engine's event log did not answer",
        )
        assert time.monotonic() - started < 3
    finally:
        client.close()
        listener.close()


def test_an_inferred_oom_says_so_in_its_message(tmp_path):
    with pytest.raises(ResourceExhausted) as info:
        interpret(
            RunExit(137, oom_killed=True, oom_reading="no one killed it through the engine"), str(tmp_path)
        )
    assert info.value.reason is Reason.SANDBOX_OOM
    assert "no OOM flag from the engine; no one killed it through the engine" in info.value.message
