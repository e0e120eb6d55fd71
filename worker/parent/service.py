"""The parent process: receive → parse → dispatch to the pool → settle, with leases kept alive.

Threads: the receiver long-polls SQS (:mod:`worker.parent.receiver`); the heartbeat thread extends leases
(:mod:`worker.parent.leases`); one settle thread performs each finished message's SQS action
(:mod:`worker.parent.settle`), in order; the janitor does the engine's clean-ups. The main thread parses,
dispatches, collects results and enforces each job's host-side deadline, and never makes a network or
engine call, so nothing slow on the outside can hold back a heartbeat or systemd's watchdog. Each of its
iterations is guarded: an unexpected error is logged and counted, and the loop goes on. Only the parent
talks to SQS.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter, deque
from typing import Any, Callable

from worker.child.job import Job, JobRunner, new_job_id
from worker.child.outcome import Outcome, Status
from worker.child.profiles import load_profiles
from worker.clients import sqs_client
from worker.errors import PoisonMessage, Reason
from worker.parent.health import RuntimeCheck
from worker.parent.janitor import Janitor
from worker.parent.leases import Heartbeats, LeaseBook
from worker.parent.lifecycle import Lifecycle
from worker.parent.metrics import Metrics
from worker.parent.observer import Observer
from worker.parent.pool import Completion, Pool
from worker.parent.receiver import Inbox, Receiver
from worker.parent.reporting import OutcomeReporter
from worker.parent.settle import InFlight, Settler, SettleThread
from worker.parent.sqs import Message, Queue
from worker.parent.status_events import StatusEvents
from worker.parent.status_events.sender import transports
from worker.parent.systemd import Notifier
from worker.s3events.parse import excerpt, parse_body
from worker.sandbox import resolve_runtime
from worker.settings import Settings

log = logging.getLogger(__name__)
TICK = 0.1


class Service(Lifecycle):
    """Runs until ``stop`` is set, then drains: see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner_factory: Callable[..., Any] = JobRunner,
        runner_arg: Any = None,
        sqs: Any = None,
        on_outcome: Callable[[Job, Outcome], None] | None = None,
    ) -> None:
        load_profiles(settings.profiles_path)  # invalid profiles stop the start, with every problem named
        settings = resolve_runtime(settings)
        self.settings = settings
        self.queue = Queue(sqs or sqs_client(settings.poll_wait), settings.queue_url)
        self.leases = LeaseBook(self.queue, settings.visibility_timeout)
        self.janitor = Janitor(settings)
        self.pool = Pool(
            settings.pool,
            runner_factory,
            settings if runner_arg is None else runner_arg,
            max_jobs=settings.max_jobs_per_child,
            on_child_death=self.janitor.after_child_death,
        )
        self.observer = Observer(Metrics())  # every count of the parent (worker.parent.observer)
        self.metrics, self.stats = self.observer.metrics, self.observer.totals
        self.metrics.pool_size.set(settings.pool)
        self.status = StatusEvents(
            transports(settings.status_target, settings.webhook_secret, os.environ),
            self.metrics.status_result,
            retry_for=settings.status_retry_seconds,
        )
        self.notifier = Notifier()
        self.settler = Settler(self.queue, settings, self.observer, self.status)
        self._runtime = RuntimeCheck(settings)
        self._report = OutcomeReporter(self.observer, self.status, on_outcome)
        self._inbox = Inbox()  # of (Message, received at)
        self._inflight: dict[str, InFlight] = {}
        self._pending: deque[Job] = deque()
        self._lock = threading.Lock()
        self._held = 0  # messages received and not yet settled (inbox and settles in progress included)
        self._settles = SettleThread(self.settler, self.leases, self._inbox.put, self._settled)
        self._deadlines: dict[str, float] = {}  # job id → when its host side must be over (monotonic)
        self.receiver = Receiver(
            self.queue, settings, self.observer, self._inbox, self._free_slots, self._received, self._runtime
        )
        self.heartbeats = Heartbeats(self.leases, TICK)

    # -- receiving -------------------------------------------------------------------------
    def _free_slots(self) -> int:
        with self._lock:
            busy = max(self._held, len(self._pending) + len(self.pool.running))
        # live children, not the configured pool: children waiting out a respawn pause take no work
        return max(0, min(10, self.pool.live - busy))

    def _received(self, count: int) -> None:
        with self._lock:
            self._held += count

    def _settled(self) -> None:
        with self._lock:
            self._held -= 1

    # -- the main loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event, hard_stop: threading.Event | None = None) -> Counter[str]:
        """Process messages until ``stop``; then drain until done or ``drain_timeout``."""
        started = self._start_up(stop)
        drain: list[float | None] = [None]
        try:
            while not self._iterate(stop, hard_stop, drain):
                pass
        finally:
            self._shut_down(started, hurry=hard_stop is not None and hard_stop.is_set())
        log.info("stopped: %s", dict(self.stats))
        return self.stats

    def _iterate(
        self, stop: threading.Event, hard_stop: threading.Event | None, drain: list[float | None]
    ) -> bool:
        """One tick of the main loop; True when the service is done. An unexpected error is logged, counted
        and survived: the parent holds every lease of this host, so it must not die of one message or bug."""
        try:
            self._accept(draining=drain[0] is not None)
            if stop.is_set() and drain[0] is None:
                drain[0] = time.monotonic() + self.settings.drain_timeout
                log.info("draining: %d jobs running, %d messages held", len(self.pool.running), self._held)
                self.notifier.stopping(f"draining {len(self.pool.running)} jobs")
                self._cancel_pending()
            if drain[0] is None:
                self._dispatch()
            for completion in self.pool.wait(TICK, self._inbox):  # a received message wakes it at once
                self._complete(completion, cancelled=False)
            self._inbox.clear_wakeups()
            self._enforce_deadlines()
            self.heartbeats.warn_if_late(self.settings.visibility_timeout / 2)
            self._settles.finish()
            self._observe()
            if drain[0] is not None:
                if (
                    not self.receiver.is_alive()
                    and self._inbox.empty()
                    and not self._inflight
                    and not self._settles
                ):
                    return True
                if time.monotonic() >= drain[0] or (hard_stop is not None and hard_stop.is_set()):
                    self._abandon()
                    return True
        except Exception:  # noqa: BLE001 - see the docstring
            self.observer.loop_error()
            log.exception("the main loop survived an unexpected error")
            time.sleep(TICK)
        return False

    def _accept(self, draining: bool) -> None:
        while True:
            try:
                message, received_at = self._inbox.get_nowait()
            except queue.Empty:
                return
            if self._settles.hold(message, received_at):  # redelivered while its settle is under way
                continue
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
                parsed = parse_body(message.body, self.settings.temp_bucket, self.settings.topics)
            except PoisonMessage as exc:
                log.error(
                    "message %s is unusable (%s); retry path towards the DLQ; it starts %r",
                    message.message_id,
                    exc,
                    excerpt(message.body),
                )
                self.observer.poison(exc.reason.value)
                flight.outcomes.append(Outcome("-", Status.RETRY, exc.reason.value, exc.message))
                self._settle(flight)
                continue
            for ignored in parsed.ignored:
                log.info("ignoring event %s in message %s", ignored, message.message_id)
            if parsed.test_event:
                self.observer.test_event()
            flight.bad = parsed.bad
            for record in parsed.records:
                job = Job(new_job_id(), message.message_id, message.receive_count, record)
                flight.jobs[job.job_id] = job
                self._pending.append(job)
            if not flight.jobs:
                self._settle(flight)

    def _adopt(self, flight: InFlight, message: Message) -> None:
        """SQS redelivered a message whose jobs still run here (its lease lapsed): run them once, and settle
        with the newest receipt handle, the only one SQS still honours."""
        log.warning(
            "message %s redelivered while its jobs run here (receive %d): adopting the new receipt",
            message.message_id,
            message.receive_count,
        )
        self.observer.redelivered_in_flight()
        flight.message = message
        with self._lock:
            self._held -= 1

    def _dispatch(self) -> None:
        while self._pending and self.pool.idle:
            job = self._pending.popleft()
            log.info(
                "job %s: s3://%s/%s (message %s, receive %d)",
                job.job_id,
                job.record.bucket,
                job.record.key,
                job.message_id,
                job.receive_count,
                extra=job.log_fields(),
            )
            self._deadlines[job.job_id] = time.monotonic() + self.settings.host_deadline(job.record.size)
            try:
                self.pool.submit(job.job_id, job)
            except Exception:
                self._deadlines.pop(job.job_id, None)
                self._pending.appendleft(job)  # not lost: the next tick tries again
                raise

    def _enforce_deadlines(self) -> None:
        """Kill the child of a job whose host side (download + sandbox + upload) ran past its deadline."""
        now = time.monotonic()
        for job_id in [j for j, due in self._deadlines.items() if due <= now]:
            completion = self.pool.kill(job_id)
            self._deadlines.pop(job_id, None)
            if completion is not None:
                log.error("job %s passed its host-side deadline: its child was killed", job_id)
                self._complete(completion, cancelled=False, reason=Reason.JOB_DEADLINE)

    def _complete(self, completion: Completion, cancelled: bool, reason: Reason | None = None) -> None:
        job: Job = completion.payload
        self._deadlines.pop(job.job_id, None)
        if completion.died:
            reason = reason or (Reason.SHUTDOWN if cancelled else Reason.WORKER_DIED)
            outcome = Outcome(
                job.job_id, Status.RETRY, reason.value, f"pool child exited with {completion.exitcode}"
            )
        else:
            outcome = completion.result
        try:
            self._report(job, outcome)
        except Exception:  # noqa: BLE001 - a report that failed must not leave the message unsettled
            self.observer.loop_error()
            log.exception("reporting job %s failed; its message is settled all the same", job.job_id)
        flight = self._inflight.get(job.message_id)
        if flight is None:
            return
        flight.jobs.pop(job.job_id, None)
        flight.done.append(job)
        flight.outcomes.append(outcome)
        flight.cancelled |= cancelled
        if not flight.jobs:
            self._settle(flight)

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
        """Hand the message's SQS action to the settle thread; its lease is kept until that is done."""
        self._inflight.pop(flight.message.message_id, None)
        self._settles.submit(flight)

    def _abandon(self) -> None:
        """The drain deadline passed: kill what runs, release every held message."""
        log.warning("drain deadline reached: killing %d running jobs", len(self.pool.running))
        self._accept(draining=True)
        for completion in self.pool.kill_all():
            self._complete(completion, cancelled=True)
        for flight in list(self._inflight.values()):
            flight.cancelled = True
            self._settle(flight)
