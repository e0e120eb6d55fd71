"""A Service run on a thread, as the functional tests drive it."""

from __future__ import annotations

import threading
import time
from typing import Any


class RunningService:
    """A Service on a thread, stopped (and joined) by the context exit."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.stop = threading.Event()
        self.thread = threading.Thread(target=service.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self.service

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "service did not stop"


def record_ticks(service) -> list[float]:
    """The times of the main loop's ticks (each pets systemd's watchdog), as they happen."""
    ticks, real = [], service._observe

    def observed():
        ticks.append(time.monotonic())
        real()

    service._observe = observed
    return ticks
