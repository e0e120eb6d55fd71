"""The parent process: receive → parse → dispatch to the pool → settle, with leases kept alive.

Threads: one receiver long-polls SQS (it only asks for as many messages as
there are free slots); the main thread parses, dispatches, collects results,
heartbeats leases and settles messages. Only the parent talks to SQS.

Settling a message once all of its records' jobs ended is :mod:`worker.settle`.
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from typing import Any, Callable

from worker import __version__, owners
from worker.clients import sqs_client
from worker.dlq import dlq_url_of
from worker.errors import PoisonMessage, Reason
from worker.events import parse_body
from worker.janitor import Janitor
from worker.job import DUPLICATE, RETRY, Job, JobRunner, Outcome, new_job_id
from worker.keys import source_id
from worker.leases import LeaseBook
from worker.metrics import Metrics, MetricsServer
from worker.pool import Completion, Pool
from worker.profiles import load_profiles
from worker.sandbox import resolve_runtime, runtime_problem
from worker.settings import Settings
from worker.sqs import Message, Queue
from worker.settle import InFlight, Settler
from worker.status import PUBLISHED, REJECTED, StatusEvents, status_event
from worker.systemd import Notifier

log = logging.getLogger(__name__)
TICK = 0.1


def _fields(job: Job) -> dict[str, str]:
    """The structured log fields of one job (see worker.logs)."""
    return {"job_id": job.job_id, "message_id": job.message_id, "bucket": job.record.bucket, "key": job.record.key,
            "source_id": source_id(job.record)}


class Service:
    """Runs until ``stop`` is set, then drains: see the module docstring."""

    def __init__(self, settings: Settings, *, runner_factory: Callable[..., Any] = JobRunner,
                 runner_arg: Any = None, sqs: Any = None,
                 on_outcome: Callable[[Job, Outcome], None] | None = None) -> None:
        load_profiles(settings.profiles_path)  # invalid profiles stop the start, with every problem named
        settings = resolve_runtime(settings)
        self.settings = settings
        self.queue = Queue(sqs or sqs_client(settings.poll_wait), settings.queue_url)
        self.leases = LeaseBook(self.queue, settings.visibility_timeout)
        self.janitor = Janitor(settings)
        self.pool = Pool(settings.pool, runner_factory, settings if runner_arg is None else runner_arg,
                         max_jobs=settings.max_jobs_per_child, on_child_death=self.janitor.after_child_death)
        self.stats: Counter[str] = Counter()
        self.metrics = Metrics()
        self.metrics.pool_size.set(settings.pool)
        self.status = StatusEvents(settings.status_target,
                                   lambda result: self.metrics.status_events.labels(result).inc())
        self.notifier = Notifier()
        self.settler = Settler(self.queue, settings, self.metrics, self.stats, self.status)
        self.last_poll: float | None = None
        self._runtime_ok: tuple[float, str | None] = (-1e9, None)
        self._on_outcome = on_outcome
        self._inbox: queue.Queue[tuple[Message, float]] = queue.Queue()
        self._inflight: dict[str, InFlight] = {}
        self._pending: deque[Job] = deque()
        self._lock = threading.Lock()
        self._held = 0  # messages received and not yet settled (inbox included)

    # -- receiving -------------------------------------------------------------------------
    def _free_slots(self) -> int:
        with self._lock:
            busy = max(self._held, len(self._pending) + len(self.pool.running))
        return max(0, min(10, self.settings.pool - busy))

    def _receive_loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            free = self._free_slots()
            if free == 0:
                stop.wait(TICK)
                continue
            try:
                messages = self.queue.receive(free, self.settings.poll_wait, self.settings.visibility_timeout)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive every error
                failures += 1
                self.stats["receive_errors"] += 1
                self.metrics.receive_errors.inc()
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.error("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, exc)
                stop.wait(delay)
                continue
            failures = 0
            self.last_poll = time.time()
            self.stats["polls"] += 1
            self.stats["messages_received"] += len(messages)
            self.metrics.polled(len(messages))
            if not messages:
                self.stats["empty_polls"] += 1
            received_at = time.monotonic()
            with self._lock:
                self._held += len(messages)
            for message in messages:
                self._inbox.put((message, received_at))

    # -- the main loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event, hard_stop: threading.Event | None = None) -> Counter[str]:
        """Process messages until ``stop``; then drain until done or ``drain_timeout``."""
        log.info("media-worker %s starting: pool=%d runtime=%s queue=%s temp=%s production=%s", __version__,
                 self.settings.pool, self.settings.runtime, self.settings.queue_url, self.settings.temp_bucket,
                 self.settings.production_bucket)
        # the parent's owner lock: its children's containers name it, so it must be provably alive (worker.owners)
        owners.claim(self.settings.work_dir)
        self.janitor.at_start()
        self.settler.max_receives = self.queue.max_receive_count()
        server = MetricsServer(self.metrics, self.settings.metrics_host, self.settings.metrics_port,
                               self.readiness).start() if self.settings.metrics_port else None
        self.pool.start()
        receiver = threading.Thread(target=self._receive_loop, args=(stop,), name="sqs-receiver", daemon=True)
        receiver.start()
        threading.Thread(target=self._queue_stats_loop, args=(stop,), name="queue-stats", daemon=True).start()
        janitor_stop = threading.Event()  # it works on through the drain: deaths then are reaped too
        janitor = threading.Thread(target=self.janitor.run, args=(janitor_stop,), name="janitor", daemon=True)
        janitor.start()
        self.notifier.ready(self._status_line())
        deadline: float | None = None
        try:
            while True:
                self._accept(draining=deadline is not None)
                if stop.is_set() and deadline is None:
                    deadline = time.monotonic() + self.settings.drain_timeout
                    log.info("draining: %d jobs running, %d messages held", len(self.pool.running), self._held)
                    self.notifier.stopping(f"draining {len(self.pool.running)} jobs")
                    self._cancel_pending()
                if deadline is None:
                    self._dispatch()
                for completion in self.pool.wait(TICK):
                    self._complete(completion, cancelled=False)
                self.leases.heartbeat()
                self._observe()
                if deadline is not None:
                    if not receiver.is_alive() and self._inbox.empty() and not self._inflight:
                        break
                    if time.monotonic() >= deadline or (hard_stop is not None and hard_stop.is_set()):
                        self._abandon()
                        break
        finally:
            self.pool.close()
            janitor_stop.set()
            janitor.join(30)  # a clean-up it took from its queue finishes first
            self.janitor.flush()  # what the last deaths left, before our lock goes
            owners.release()  # its children are gone: nothing of this parent's is left to guard
            self.status.close()
            if server is not None:
                server.close()
            self.notifier.close()
        log.info("stopped: %s", dict(self.stats))
        return self.stats

    def _accept(self, draining: bool) -> None:
        while True:
            try:
                message, received_at = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.leases.add(message, received_at)
            running = self._inflight.get(message.message_id)
            if running is not None:
                self._adopt(running, message)
                continue
            flight = InFlight(message)
            self._inflight[message.message_id] = flight
            if draining:
                flight.cancelled = True
                self._settle(flight)
                continue
            try:
                parsed = parse_body(message.body, self.settings.temp_bucket)
            except PoisonMessage as exc:
                log.error("message %s is unusable (%s); retry path towards the DLQ", message.message_id, exc)
                self.stats[f"poison_{exc.reason.value}"] += 1
                flight.outcomes.append(Outcome("-", RETRY, exc.reason.value, exc.message))
                self._settle(flight)
                continue
            for ignored in parsed.ignored:
                log.info("ignoring event %s in message %s", ignored, message.message_id)
            if parsed.test_event:
                self.stats["test_events"] += 1
            for record in parsed.records:
                job = Job(new_job_id(), message.message_id, message.receive_count, record)
                flight.jobs[job.job_id] = job
                self._pending.append(job)
            if not flight.jobs:
                self._settle(flight)

    def _adopt(self, flight: InFlight, message: Message) -> None:
        """SQS redelivered a message whose jobs still run here (its lease lapsed): run them once, and settle
        with the newest receipt handle, the only one SQS still honours."""
        log.warning("message %s redelivered while its jobs run here (receive %d): adopting the new receipt",
                    message.message_id, message.receive_count)
        self.stats["redelivered_in_flight"] += 1
        flight.message = message
        with self._lock:
            self._held -= 1

    def _dispatch(self) -> None:
        while self._pending and self.pool.idle:
            job = self._pending.popleft()
            log.info("job %s: s3://%s/%s (message %s, receive %d)", job.job_id, job.record.bucket,
                     job.record.key, job.message_id, job.receive_count, extra=_fields(job))
            self.pool.submit(job.job_id, job)

    def _complete(self, completion: Completion, cancelled: bool) -> None:
        job: Job = completion.payload
        if completion.died:
            reason = Reason.SHUTDOWN if cancelled else Reason.WORKER_DIED
            outcome = Outcome(job.job_id, RETRY, reason.value, f"pool child exited with {completion.exitcode}")
        else:
            outcome = completion.result
        self.stats[f"jobs_{outcome.status}"] += 1
        log.info("job %s %s%s in %.1fs", job.job_id, outcome.status, f" ({outcome.reason})" if outcome.reason else "",
                 outcome.timings.get("total", 0.0), extra={**_fields(job), "outcome": outcome.status,
                                                           "reason": outcome.reason})
        self.metrics.job_ended(outcome.status, outcome.reason, outcome.timings, outcome.bytes_in, outcome.bytes_out)
        if outcome.source_delete:
            self.metrics.source_deletes.labels(outcome.source_delete).inc()
        announced = outcome.announce if outcome.status == DUPLICATE else outcome.status
        if announced in (PUBLISHED, REJECTED):
            self.status.emit(status_event(announced, source=job.record.identity(), message_id=job.message_id,
                                          job_id=job.job_id, reason=outcome.reason, detail=outcome.message,
                                          key=outcome.key, source_id=source_id(job.record)))
        if self._on_outcome:
            self._on_outcome(job, outcome)
        flight = self._inflight.get(job.message_id)
        if flight is None:
            return
        flight.jobs.pop(job.job_id, None)
        flight.done.append(job)
        flight.outcomes.append(outcome)
        flight.cancelled |= cancelled
        if not flight.jobs:
            self._settle(flight)

    # -- observability -----------------------------------------------------------------------
    def _status_line(self) -> str:
        return f"{len(self.pool.running)}/{self.settings.pool} jobs running, {self._held} messages held"

    def _observe(self) -> None:
        """Once a tick: gauges, totals kept by the pool and the leases, and systemd's watchdog."""
        self.metrics.in_flight.set(len(self.pool.running))
        self.metrics.sync_totals(deaths=self.pool.deaths, recycles=self.pool.recycles,
                                 extensions=self.leases.extensions, failed_extensions=self.leases.failed_extensions)
        self.notifier.tick(self._status_line())

    def _queue_stats_loop(self, stop: threading.Event) -> None:
        """Every 30 s: the source queue's and the DLQ's approximate depth (for the DLQ-not-empty alert)."""
        try:
            queues = {"source": self.queue.url, "dlq": dlq_url_of(self.queue.client, self.queue.url)}
        except Exception as exc:  # noqa: BLE001 - no DLQ, or no permission: depth of the source queue only
            log.info("no DLQ depth metric: %s", exc)
            queues = {"source": self.queue.url}
        while not stop.is_set():
            if self.settler.max_receives is None:  # unread at start (a hiccup): no re-send or dead_lettered without it
                self.settler.max_receives = self.queue.max_receive_count()
            for name, url in queues.items():
                try:
                    depth = self.queue.depth(url)
                except Exception as exc:  # noqa: BLE001 - a metric is not worth a crash
                    log.debug("queue depth of %s failed: %s", name, exc)
                    continue
                for state, count in depth.items():
                    self.metrics.queue_messages.labels(name, state).set(count)
            stop.wait(30)

    def readiness(self) -> str | None:
        """None when ready: a poll succeeded lately and the sandbox runtime answers; else why not."""
        quiet_for = None if self.last_poll is None else time.time() - self.last_poll
        if quiet_for is None or quiet_for > self.settings.poll_wait + 30:
            return "no successful SQS poll yet" if quiet_for is None else f"no successful SQS poll for {quiet_for:.0f} s"
        checked_at, problem = self._runtime_ok
        if time.monotonic() - checked_at > 30:  # asking the engine on every probe would load it
            problem = runtime_problem(self.settings)
            self._runtime_ok = (time.monotonic(), problem)
        return problem

    # -- shutdown --------------------------------------------------------------------------
    def _cancel_pending(self) -> None:
        while self._pending:
            job = self._pending.popleft()
            flight = self._inflight[job.message_id]
            flight.jobs.pop(job.job_id, None)
            flight.cancelled = True
            if not flight.jobs:
                self._settle(flight)

    def _settle(self, flight: InFlight) -> None:
        self._inflight.pop(flight.message.message_id, None)
        self.leases.remove(flight.message.message_id)
        with self._lock:
            self._held -= 1
        self.settler.settle(flight)

    def _abandon(self) -> None:
        """The drain deadline passed: kill what runs, release every held message."""
        log.warning("drain deadline reached: killing %d running jobs", len(self.pool.running))
        self._accept(draining=True)
        for completion in self.pool.kill_all():
            self._complete(completion, cancelled=True)
        for flight in list(self._inflight.values()):
            flight.cancelled = True
            self._settle(flight)
