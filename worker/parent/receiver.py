"""The receiver thread: long-polls SQS for as many messages as there are free slots, and holds off while the
sandbox runtime is not ready (a worker that cannot run jobs must not burn receive counts into the DLQ).

Messages a long poll returns after the stop began go to the draining main loop, which releases them at once
(visibility 0, or a re-send on their last allowed receive: worker.parent.settle); once the main loop is gone
(``closed``), the receiver releases them itself. Either way another worker can take them now instead of after
the visibility timeout.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from typing import Any, Callable

from worker.parent.observer import Observer
from worker.parent.sqs import Message, Queue
from worker.settings import Settings

log = logging.getLogger(__name__)
TICK = 0.1
READY_RECHECK = 5.0  # seconds between readiness checks while holding off


class Receiver:
    """Feeds ``inbox`` with (message, received at) pairs until ``stop`` is set."""

    def __init__(
        self,
        queue_: Queue,
        settings: Settings,
        observer: Observer,
        inbox: "queue.Queue[tuple[Message, float]]",
        free_slots: Callable[[], int],
        on_received: Callable[[int], None],
        runtime_problem: Callable[[], str | None],
    ) -> None:
        self._queue, self._settings, self._observer = queue_, settings, observer
        self._inbox, self._free_slots, self._on_received = inbox, free_slots, on_received
        self._runtime_problem = runtime_problem
        self.last_poll: float | None = None  # unix time of the last receive that succeeded
        self.holding_off: str | None = None  # why it is not receiving now, or None
        self.thread: threading.Thread | None = None
        self.closed = threading.Event()  # the main loop has ended: nobody reads the inbox any more

    def start(self, stop: threading.Event) -> "Receiver":
        self.thread = threading.Thread(target=self._loop, args=(stop,), name="sqs-receiver", daemon=True)
        self.thread.start()
        return self

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            if self._hold_off(stop):
                continue
            free = self._free_slots()
            if free == 0:
                stop.wait(TICK)
                continue
            try:
                messages = self._queue.receive(
                    free, self._settings.poll_wait, self._settings.visibility_timeout
                )
            except Exception as exc:  # noqa: BLE001 - the loop must outlive every error
                failures += 1
                self._observer.receive_failed()
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.error("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, exc)
                stop.wait(delay)
                continue
            failures = 0
            self.last_poll = time.time()
            self._observer.polled(len(messages))
            if self.closed.is_set():
                self._release(messages)
                return
            received_at = time.monotonic()
            self._on_received(len(messages))
            for message in messages:
                self._inbox.put((message, received_at))

    def _hold_off(self, stop: threading.Event) -> bool:
        """True (after a pause) while the runtime cannot run sandboxes; logs and counts each change."""
        problem = self._runtime_problem()
        if problem != self.holding_off:
            if problem:
                log.error("not receiving: the sandbox runtime is not ready (%s)", problem)
            else:
                log.info("receiving again: the sandbox runtime is ready")
            self.holding_off = problem
            self._observer.receiving(problem is None)
        if problem:
            self._observer.held_off()
            stop.wait(READY_RECHECK)
        return problem is not None

    def _release(self, messages: list[Message]) -> None:
        for message in messages:
            self._queue.set_visibility(message, 0)
            self._observer.released_after_stop()
        if messages:
            log.info("released %d messages that arrived after the stop began", len(messages))


class Inbox(queue.Queue):  # type: ignore[type-arg]
    """The received messages on their way to the main loop, which waits on ``fileno()`` with the pool's
    pipes: a put wakes it at once, instead of at its next tick (a hand-off is not held up to 100 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._read_end, False)
        os.set_blocking(self._write_end, False)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        try:
            os.write(self._write_end, b"\0")
        except BlockingIOError:  # the pipe is full of wake-ups already: the loop is awake
            pass

    def fileno(self) -> int:
        """What the main loop waits on."""
        return self._read_end

    def clear_wakeups(self) -> None:
        """Empty the pipe (the loop is awake and will read the queue)."""
        try:
            while os.read(self._read_end, 4096):
                pass
        except BlockingIOError:
            pass
