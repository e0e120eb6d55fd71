"""The parent's start-up and shut-down around its main loop (worker.parent.service), and what it shows
while it runs: the status line (systemd's STATUS), the gauges of each tick, ``/readyz``."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from worker import __version__, owners
from worker.parent.health import queue_stats_loop, readiness
from worker.parent.metrics import MetricsServer

log = logging.getLogger("worker.parent.service")


@dataclass
class Started:
    """What the start-up began and the shut-down must end."""

    server: Any
    janitor: threading.Thread
    janitor_stop: threading.Event


class Lifecycle:
    """Part of worker.parent.service.Service (its attributes: settings, pool, queue, receiver, janitor…)."""

    settings: Any
    pool: Any
    queue: Any
    receiver: Any
    janitor: Any
    settler: Any
    metrics: Any
    heartbeats: Any
    status: Any
    notifier: Any
    leases: Any
    _settles: Any
    _runtime: Any
    _held: int

    def _start_up(self, stop: threading.Event) -> Started:
        log.info(
            "media-worker %s starting: pool=%d runtime=%s queue=%s temp=%s production=%s",
            __version__,
            self.settings.pool,
            self.settings.runtime,
            self.settings.queue_url,
            self.settings.temp_bucket,
            self.settings.production_bucket,
        )
        # the parent's owner lock: its children's containers name it, so it must be provably alive (worker.owners)
        owners.claim(self.settings.work_dir)
        self.janitor.at_start()
        self.settler.max_receives = self.queue.max_receive_count()
        server = (
            MetricsServer(
                self.metrics, self.settings.metrics_host, self.settings.metrics_port, self.readiness
            ).start()
            if self.settings.metrics_port
            else None
        )
        self.pool.start()
        self.heartbeats.start()
        self.receiver.start(stop)
        threading.Thread(
            target=queue_stats_loop,
            args=(self.queue, self.settler, self.metrics, stop),
            name="queue-stats",
            daemon=True,
        ).start()
        janitor_stop = threading.Event()  # it works on through the drain: deaths then are reaped too
        janitor = threading.Thread(target=self.janitor.run, args=(janitor_stop,), name="janitor", daemon=True)
        janitor.start()
        self.notifier.ready(self._status_line())
        return Started(server, janitor, janitor_stop)

    def _shut_down(self, started: Started, hurry: bool) -> None:
        self.receiver.closed.set()  # what a poll still returns is released by the receiver itself
        self.pool.close()
        # every settle decided before the leases stop; after a second signal, not waited for (their
        # messages reappear when their visibility runs out)
        self._settles.close(hurry=hurry)
        self.heartbeats.stop()
        started.janitor_stop.set()
        started.janitor.join(30)  # a clean-up it took from its queue finishes first
        self.janitor.flush()  # what the last deaths left, before our lock goes
        owners.release()  # its children are gone: nothing of this parent's is left to guard
        self.status.close()
        if started.server is not None:
            started.server.close()
        self.notifier.close()

    def _status_line(self) -> str:
        paused = f"; NOT RECEIVING: {self.receiver.holding_off}" if self.receiver.holding_off else ""
        return (
            f"{len(self.pool.running)}/{self.settings.pool} jobs running, {self._held} messages held{paused}"
        )

    def _observe(self) -> None:
        """Once a tick: gauges, totals kept by the pool and the leases, and systemd's watchdog."""
        self.metrics.in_flight.set(len(self.pool.running))
        self.metrics.sync_totals(
            deaths=self.pool.deaths,
            recycles=self.pool.recycles,
            extensions=self.leases.extensions,
            failed_extensions=self.leases.failed_extensions,
        )
        self.notifier.tick(self._status_line())

    @property
    def last_poll(self) -> float | None:
        """Unix time of the last receive that succeeded."""
        return self.receiver.last_poll

    def readiness(self) -> str | None:
        """None when ready (``/readyz``): see worker.parent.health."""
        return readiness(self._runtime, self.last_poll, self.settings.poll_wait)
