"""Prometheus metrics, recorded in the parent only (children report through their outcomes), so the pool
needs no multiprocess mode; plus ``/healthz`` and ``/readyz`` on the same port.

Every metric lives in one :class:`Metrics` object with its own registry: nothing global, several services
in one process (the tests) do not collide.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from worker import __version__

log = logging.getLogger(__name__)
NS = "media_worker"
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
# job timings → the stage they are reported as (check + head + signature is the cheap validation)
STAGES = {
    "download": ("download",),
    "validate": ("spelling", "check", "head", "signature"),
    "container_start": ("container_start",),
    "transcode": ("transcode",),
    "upload": ("upload",),
    "total": ("total",),
}


class Metrics:
    """The service's metrics; the service calls the recording methods, Prometheus scrapes the registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Counter(
            f"{NS}_jobs", "Jobs ended, by outcome and reason code", ["outcome", "reason"], registry=r
        )
        self.stage_seconds = Histogram(
            f"{NS}_stage_duration_seconds",
            "Time a job spent in each stage",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.bytes_in = Counter(f"{NS}_input_bytes", "Bytes of uploads downloaded", registry=r)
        self.bytes_out = Counter(f"{NS}_output_bytes", "Bytes of outputs published", registry=r)
        self.in_flight = Gauge(f"{NS}_jobs_in_flight", "Jobs running in the pool", registry=r)
        self.pool_size = Gauge(f"{NS}_pool_size", "Pool child processes configured", registry=r)
        self.received = Counter(f"{NS}_messages_received", "SQS messages received", registry=r)
        self.empty_polls = Counter(f"{NS}_empty_polls", "Long polls that returned no message", registry=r)
        self.receive_errors = Counter(f"{NS}_receive_errors", "Failed SQS receive calls", registry=r)
        self.deleted = Counter(
            f"{NS}_messages_deleted", "SQS messages deleted after their jobs ended", registry=r
        )
        self.settled = Counter(
            f"{NS}_messages_settled", "Messages settled, by action", ["action"], registry=r
        )
        self.extensions = Counter(
            f"{NS}_lease_extensions", "Visibility extensions that succeeded", registry=r
        )
        self.failed_extensions = Counter(
            f"{NS}_lease_extension_failures",
            "Visibility extensions SQS refused (the message may be redelivered)",
            registry=r,
        )
        self.sandbox_kills = Counter(
            f"{NS}_sandbox_kills", "Sandboxes killed, by cause (timeout, oom)", ["cause"], registry=r
        )
        self.child_deaths = Counter(
            f"{NS}_child_deaths", "Pool children that died or were killed", registry=r
        )
        self.child_recycles = Counter(
            f"{NS}_child_recycles", "Pool children retired after their job quota", registry=r
        )
        self.source_deletes = Counter(
            f"{NS}_source_deletes",
            "Temp objects after publishing, by result: deleted, "
            "kept (a newer upload replaced the version), failed",
            ["result"],
            registry=r,
        )
        self.status_events = Counter(
            f"{NS}_status_events",
            "Status events, by target and result (sent, failed, dropped)",
            ["target", "result"],
            registry=r,
        )
        self.status_retries = Counter(
            f"{NS}_status_event_retries", "Status event sends tried again, by target", ["target"], registry=r
        )
        self.queue_messages = Gauge(
            f"{NS}_queue_messages",
            "Approximate messages in the source queue and its DLQ",
            ["queue", "state"],
            registry=r,
        )
        self.last_poll = Gauge(
            f"{NS}_last_successful_poll_timestamp_seconds",
            "Unix time of the last SQS receive that succeeded",
            registry=r,
        )
        self.bad_records = Counter(
            f"{NS}_bad_records",
            "Records of a usable message that could not be jobs, copied alone to the DLQ, by reason",
            ["reason"],
            registry=r,
        )
        self.loop_errors = Counter(
            f"{NS}_main_loop_errors", "Unexpected errors the parent's main loop survived", registry=r
        )
        self.receiving = Gauge(
            f"{NS}_receiving",
            "1 while the worker takes messages, 0 while it holds off (the sandbox runtime is not ready)",
            registry=r,
        )
        Info(f"{NS}_build", "Version of the worker", registry=r).info({"version": __version__})
        self._seen = {"deaths": 0, "recycles": 0, "extensions": 0, "failed_extensions": 0}

    def status_result(self, target: str, result: str) -> None:
        """One status event's result at one target (worker.parent.status_events.sender), or one of its retries."""
        if result == "retried":
            self.status_retries.labels(target).inc()
        else:
            self.status_events.labels(target, result).inc()

    def job_ended(
        self, status: str, reason: str | None, timings: dict[str, float], bytes_in: int, bytes_out: int
    ) -> None:
        """Record one job's outcome, stage times and bytes."""
        self.jobs.labels(status, reason or "").inc()
        for stage, parts in STAGES.items():
            if any(part in timings for part in parts):
                self.stage_seconds.labels(stage).observe(sum(timings.get(part, 0.0) for part in parts))
        self.bytes_in.inc(bytes_in)
        self.bytes_out.inc(bytes_out)
        if reason in ("sandbox_timeout", "timeout_repeated"):
            self.sandbox_kills.labels("timeout").inc()
        elif reason in ("sandbox_oom", "memory_repeated"):
            self.sandbox_kills.labels("oom").inc()

    def polled(self, count: int) -> None:
        """One successful receive call returning ``count`` messages."""
        self.received.inc(count)
        if not count:
            self.empty_polls.inc()
        self.last_poll.set(time.time())

    def sync_totals(self, **totals: int) -> None:
        """Bring counters kept elsewhere as running totals (pool deaths, lease extensions) up to date."""
        targets = {
            "deaths": self.child_deaths,
            "recycles": self.child_recycles,
            "extensions": self.extensions,
            "failed_extensions": self.failed_extensions,
        }
        for name, total in totals.items():
            if total > self._seen[name]:
                targets[name].inc(total - self._seen[name])
                self._seen[name] = total


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class MetricsServer:
    """``/metrics``, ``/healthz`` (the process answers) and ``/readyz`` (``ready()`` says why not, or None)."""

    def __init__(self, metrics: Metrics, host: str, port: int, ready: Callable[[], str | None]) -> None:
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._ready = ready
        self._server = make_server(host, port, self._app, ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        log.info("metrics on :%d (/metrics /healthz /readyz)", self.port)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            problem = self._ready()
            return (
                _text(start_response, "503 Service Unavailable", f"not ready: {problem}\n")
                if problem
                else _text(start_response, "200 OK", "ready\n")
            )
        return _text(start_response, "404 Not Found", "not found\n")


def _text(start_response: Callable[..., Any], status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]
