"""The parent process: receive → parse → dispatch to the pool → settle, with leases kept alive.

Threads: one receiver long-polls SQS (it only asks for as many messages as
there are free slots); the main thread parses, dispatches, collects results,
heartbeats leases and settles messages. Only the parent talks to SQS.

Settling a message once all of its records' jobs ended:
published / rejected / duplicate → delete; any retry → visibility backoff
grown from ApproximateReceiveCount (the redrive policy moves it to the DLQ);
cancelled by shutdown → visibility 0, so another worker takes it at once.
"""
from __future__ import annotations

import glob
import logging
import os
import queue
import random
import shutil
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from worker import __version__
from worker.clients import sqs_client
from worker.errors import PoisonMessage, Reason
from worker.events import parse_body
from worker.job import RETRY, Job, JobRunner, Outcome, job_dir_prefix, new_job_id
from worker.leases import LeaseBook
from worker.pool import Completion, Pool
from worker.profiles import load_profiles
from worker.processes import pid_alive
from worker.sandbox import reap_sandboxes, resolve_runtime
from worker.settings import Settings
from worker.sqs import Message, Queue

log = logging.getLogger(__name__)
TICK = 0.1


@dataclass
class InFlight:
    """A received message and the jobs of its records that have not ended."""

    message: Message
    jobs: dict[str, Job] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    cancelled: bool = False


def backoff_seconds(receive_count: int, base: int, cap: int) -> int:
    """Visibility delay before a retry: base × 2^(n-1), capped, with jitter so retries spread out."""
    delay = min(cap, base * 2 ** max(0, receive_count - 1))
    return int(delay * random.uniform(0.8, 1.0))


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
        self.pool = Pool(settings.pool, runner_factory, settings if runner_arg is None else runner_arg,
                         max_jobs=settings.max_jobs_per_child, on_child_death=self._after_child_death)
        self.stats: Counter[str] = Counter()
        self.last_poll: float | None = None
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
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.error("receive failed (%d in a row), retrying in %.1fs: %s", failures, delay, exc)
                stop.wait(delay)
                continue
            failures = 0
            self.last_poll = time.time()
            self.stats["polls"] += 1
            self.stats["messages_received"] += len(messages)
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
        self._sweep_work_dir()
        self.pool.start()
        receiver = threading.Thread(target=self._receive_loop, args=(stop,), name="sqs-receiver", daemon=True)
        receiver.start()
        deadline: float | None = None
        try:
            while True:
                self._accept(draining=deadline is not None)
                if stop.is_set() and deadline is None:
                    deadline = time.monotonic() + self.settings.drain_timeout
                    log.info("draining: %d jobs running, %d messages held", len(self.pool.running), self._held)
                    self._cancel_pending()
                if deadline is None:
                    self._dispatch()
                for completion in self.pool.wait(TICK):
                    self._complete(completion, cancelled=False)
                self.leases.heartbeat()
                if deadline is not None:
                    if not receiver.is_alive() and self._inbox.empty() and not self._inflight:
                        break
                    if time.monotonic() >= deadline or (hard_stop is not None and hard_stop.is_set()):
                        self._abandon()
                        break
        finally:
            self.pool.close()
        log.info("stopped: %s", dict(self.stats))
        return self.stats

    def _accept(self, draining: bool) -> None:
        while True:
            try:
                message, received_at = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.leases.add(message, received_at)
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

    def _dispatch(self) -> None:
        while self._pending and self.pool.idle:
            job = self._pending.popleft()
            log.info("job %s: s3://%s/%s (message %s, receive %d)", job.job_id, job.record.bucket,
                     job.record.key, job.message_id, job.receive_count)
            self.pool.submit(job.job_id, job)

    def _complete(self, completion: Completion, cancelled: bool) -> None:
        job: Job = completion.payload
        if completion.died:
            reason = Reason.SHUTDOWN if cancelled else Reason.WORKER_DIED
            outcome = Outcome(job.job_id, RETRY, reason.value, f"pool child exited with {completion.exitcode}")
        else:
            outcome = completion.result
        self.stats[f"jobs_{outcome.status}"] += 1
        if self._on_outcome:
            self._on_outcome(job, outcome)
        flight = self._inflight.get(job.message_id)
        if flight is None:
            return
        flight.jobs.pop(job.job_id, None)
        flight.outcomes.append(outcome)
        flight.cancelled |= cancelled
        if not flight.jobs:
            self._settle(flight)

    def _settle(self, flight: InFlight) -> None:
        message = flight.message
        self._inflight.pop(message.message_id, None)
        self.leases.remove(message.message_id)
        with self._lock:
            self._held -= 1
        if flight.cancelled:
            self.stats["released"] += 1
            self.queue.set_visibility(message, 0)
        elif any(o.status == RETRY for o in flight.outcomes):
            delay = backoff_seconds(message.receive_count, self.settings.retry_backoff_base,
                                    self.settings.retry_backoff_max)
            self.stats["retried"] += 1
            self.queue.set_visibility(message, delay)
        elif self.queue.delete(message):
            self.stats["deleted"] += 1
        else:
            self.stats["delete_failures"] += 1

    # -- shutdown --------------------------------------------------------------------------
    def _cancel_pending(self) -> None:
        while self._pending:
            job = self._pending.popleft()
            flight = self._inflight[job.message_id]
            flight.jobs.pop(job.job_id, None)
            flight.cancelled = True
            if not flight.jobs:
                self._settle(flight)

    def _abandon(self) -> None:
        """The drain deadline passed: kill what runs, release every held message."""
        log.warning("drain deadline reached: killing %d running jobs", len(self.pool.running))
        self._accept(draining=True)
        for completion in self.pool.kill_all():
            self._complete(completion, cancelled=True)
        for flight in list(self._inflight.values()):
            flight.cancelled = True
            self._settle(flight)

    # -- what dead processes leave behind ----------------------------------------------------
    def _after_child_death(self, pid: int) -> None:
        """A child died or was killed: remove the job directories and sandbox containers it left."""
        for path in glob.glob(os.path.join(glob.escape(self.settings.work_dir), job_dir_prefix(pid) + "*")):
            shutil.rmtree(path, ignore_errors=True)
        try:
            reap_sandboxes(self.settings, pid=pid)
        except Exception as exc:  # noqa: BLE001 - the start-up reaper catches what this misses
            log.error("could not reap the sandboxes of child %s: %s", pid, exc)

    def _sweep_work_dir(self) -> None:
        """Create the work directory; remove job directories and containers of dead workers (kill -9)."""
        removed = reap_sandboxes(self.settings, dead_parents_only=True)
        if removed:
            log.warning("removed %d orphan sandbox containers", removed)
        os.makedirs(self.settings.work_dir, mode=0o700, exist_ok=True)
        for path in glob.glob(os.path.join(glob.escape(self.settings.work_dir), "job-*-*")):
            pid = os.path.basename(path).split("-")[1]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)

