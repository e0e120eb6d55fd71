"""The process supervisor: N children, one job each at a time, deaths noticed at once.

Why not ``multiprocessing.Pool`` or ``ProcessPoolExecutor``: the first can hang
when a child is OOM-killed and the second breaks as a whole. Here each child
has its own pipe and its process sentinel; the parent waits on all of them, so
a child that dies (SIGKILL, segfault, OOM) fails only the job it held, and is
replaced. A child retires after ``max_jobs`` jobs (memory held by codecs and
libraries is returned to the OS) and is replaced the same way. Children that die
idle soon after they start (a broken image, a missing mount) are replaced after
a growing pause (0.5 s doubling to 60 s), not in a tight loop. Each child gets
an instance id from the pool (worker.owners): what it leaves behind is named by
that id, and ``on_child_death`` is given it.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

from worker import owners

log = logging.getLogger(__name__)
EARLY_DEATH_SECONDS = 10.0
MAX_RESPAWN_PAUSE = 60.0


@dataclass(frozen=True)
class Completion:
    """A job that ended: ``result`` from the child, or ``exitcode`` when the child died holding it."""

    job_id: str
    payload: Any
    result: Any = None
    exitcode: int | None = None

    @property
    def died(self) -> bool:
        return self.result is None


def _child_main(
    conn: multiprocessing.connection.Connection,
    factory: Callable[..., Any],
    arg: Any,
    max_jobs: int,
    owner: str,
    parent: str,
) -> None:
    """Body of a child: build the handler once, then run jobs until told to stop or retired."""
    # Ctrl-C reaches the whole process group; only the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    owners.adopt(owner, parent)  # before the handler claims a lock under it
    handler = factory(arg)
    try:
        for _ in range(max_jobs):
            try:
                item = conn.recv()
            except EOFError:
                return
            if item is None:
                return
            job_id, payload = item
            conn.send((job_id, handler(payload)))
    finally:
        close = getattr(handler, "close", None)
        if close:
            close()
        owners.release()  # a clean exit: nothing left to guard


class _Child:
    def __init__(
        self,
        process: multiprocessing.process.BaseProcess,
        conn: multiprocessing.connection.Connection,
        owner: str,
    ):
        self.process = process
        self.conn = conn
        self.owner = owner
        self.job: tuple[str, Any] | None = None
        self.jobs_sent = 0
        self.results = 0
        self.started = time.monotonic()


class Pool:
    """Supervises ``size`` children running ``factory(arg)(payload)`` per job."""

    def __init__(
        self,
        size: int,
        factory: Callable[..., Any],
        arg: Any,
        *,
        max_jobs: int = 50,
        on_child_death: Callable[[str], None] | None = None,
    ) -> None:
        self.size = size
        self._factory, self._arg, self._max_jobs = factory, arg, max_jobs
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._children: list[_Child] = []
        # Called with the instance id of a child that died or was killed (not for a clean retirement): it may
        # leave things behind.
        self._on_child_death = on_child_death
        self.deaths = 0
        self.recycles = 0
        self._respawn_at: list[float] = []  # children to start again, when (monotonic)
        self._early_deaths = 0  # idle children in a row that died soon after starting

    def start(self) -> None:
        """Start all children."""
        for _ in range(self.size - len(self._children)):
            self._replace()

    def _spawn(self) -> _Child:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        owner = owners.new_id()
        process = self._ctx.Process(
            target=_child_main,
            name="media-worker-child",
            daemon=True,
            args=(child_conn, self._factory, self._arg, self._max_jobs, owner, owners.instance_id()),
        )
        process.start()
        child_conn.close()
        return _Child(process, parent_conn, owner)

    def _available(self, child: _Child) -> bool:
        # A child that ran its last job is about to exit: sending it another would lose that job.
        return child.job is None and child.jobs_sent < self._max_jobs and child.process.is_alive()

    @property
    def idle(self) -> int:
        """Children free to take a job now."""
        return sum(1 for c in self._children if self._available(c))

    @property
    def running(self) -> list[str]:
        """Job ids being run."""
        return [c.job[0] for c in self._children if c.job is not None]

    def pids(self) -> dict[str, int]:
        """job id → pid of the child running it."""
        return {c.job[0]: c.process.pid for c in self._children if c.job is not None}

    def submit(self, job_id: str, payload: Any) -> None:
        """Hand a job to an idle child (the caller checks ``idle`` first)."""
        child = next(c for c in self._children if self._available(c))
        child.job = (job_id, payload)
        child.jobs_sent += 1
        try:
            child.conn.send((job_id, payload))
        except OSError:
            pass  # the child is dead; wait() reports the job as died

    def wait(self, timeout: float, wake: Any = None) -> list[Completion]:
        """Wait up to ``timeout`` seconds, or until ``wake`` (anything with a ``fileno``) is readable; return
        jobs that ended and replace dead children."""
        now = time.monotonic()
        for due in [t for t in self._respawn_at if t <= now]:
            self._respawn_at.remove(due)
            self._replace()
        waitables: list[Any] = [c.conn for c in self._children] + [c.process.sentinel for c in self._children]
        ready = set(
            multiprocessing.connection.wait(waitables + ([wake] if wake is not None else []), timeout=timeout)
        )
        done: list[Completion] = []
        for child in list(self._children):
            if child.conn in ready:
                self._read(child, done)
            if child.process.sentinel in ready or not child.process.is_alive():
                self._reap(child, done)
        return done

    def _read(self, child: _Child, done: list[Completion]) -> None:
        try:
            while child.conn.poll():
                job_id, result = child.conn.recv()
                if child.job and child.job[0] == job_id:
                    done.append(Completion(job_id, child.job[1], result=result))
                    child.job = None
                    child.results += 1
        except (EOFError, OSError):
            pass  # the sentinel tells the rest

    def _reap(self, child: _Child, done: list[Completion]) -> None:
        if child.process.is_alive():
            return
        self._read(child, done)  # a result sent just before exiting still counts
        child.process.join()
        code = child.process.exitcode
        if child.job is not None:
            self.deaths += 1
            log.error(
                "pool child %s (%s) died (exit %s) running job %s",
                child.process.pid,
                child.owner,
                code,
                child.job[0],
            )
            done.append(Completion(child.job[0], child.job[1], exitcode=code))
        elif code == 0:
            self.recycles += 1
        else:
            self.deaths += 1
            log.error("idle pool child %s (%s) died (exit %s)", child.process.pid, child.owner, code)
        child.conn.close()
        if self._on_child_death and (child.job is not None or code != 0):
            self._on_child_death(child.owner)
        self._children.remove(child)
        # early: it died before any result, soon after it started (a broken image or mount, whatever its job)
        early = child.results == 0 and code != 0 and time.monotonic() - child.started < EARLY_DEATH_SECONDS
        self._early_deaths = self._early_deaths + 1 if early else 0
        if self._early_deaths:
            pause = min(MAX_RESPAWN_PAUSE, 0.5 * 2 ** (self._early_deaths - 1))
            log.error(
                "pool children die at start-up (%d in a row): the next starts in %.1f s",
                self._early_deaths,
                pause,
            )
            self._respawn_at.append(time.monotonic() + pause)
        else:
            self._replace()

    def _replace(self) -> None:
        """Start a child in a free slot; when that fails (EMFILE, ENOMEM, EAGAIN), try again in a second."""
        try:
            self._children.append(self._spawn())
        except Exception as exc:  # noqa: BLE001 - the slot must come back, whatever the OS said
            log.error("could not start a pool child (retrying in 1 s): %s", exc)
            self._respawn_at.append(time.monotonic() + 1.0)

    @property
    def live(self) -> int:
        """Children alive now (fewer than ``size`` while replacements wait out a pause)."""
        return sum(1 for c in self._children if c.process.is_alive())

    def kill(self, job_id: str) -> Completion | None:
        """SIGKILL the child running ``job_id`` (its host-side deadline passed); it is replaced."""
        child = next((c for c in self._children if c.job is not None and c.job[0] == job_id), None)
        if child is None:
            return None
        if child.process.is_alive():
            os.kill(child.process.pid, signal.SIGKILL)
        child.process.join()
        done: list[Completion] = []
        self._reap(child, done)
        return next((c for c in done if c.job_id == job_id), None)

    def kill_all(self) -> list[Completion]:
        """SIGKILL every child now; return the jobs they held."""
        lost = []
        for child in self._children:
            if child.process.is_alive():
                os.kill(child.process.pid, signal.SIGKILL)
            child.process.join()
            died = child.job is not None or child.process.exitcode != 0
            if child.job is not None:
                lost.append(Completion(child.job[0], child.job[1], exitcode=child.process.exitcode))
                child.job = None
            if self._on_child_death and died:
                self._on_child_death(child.owner)
        self._children.clear()
        return lost

    def close(self, timeout: float = 10.0) -> None:
        """Ask idle children to exit, then kill whatever is left."""
        for child in self._children:
            try:
                child.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for child in self._children:
            child.process.join(max(0.0, deadline - time.monotonic()))
        self.kill_all()
