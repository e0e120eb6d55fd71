"""Waiting for a condition, and free ports for servers a test starts."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def free_port_for_test() -> int:
    """A free port on 127.0.0.1 (for servers a test starts in a subprocess)."""
    from worker.local.stack import free_port

    return free_port()
