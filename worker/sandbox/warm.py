"""Warm single-use sandboxes: each pool child keeps its *next* sandbox container started before its job exists.

The isolation rule is one fresh container per job, never reused, seeing only that job's files; nothing
requires the container to start after the job arrives. So a slot's next container is created and started
(every restriction of a cold one: worker.sandbox.docker ``container_options``) on a directory made for it
alone, ``<work>/job-<owner>-warm<id>/{in,out}``, and waits inside (``python -m container --wait``) with the
interpreter up and PyAV loaded. A job's hand-off (worker.sandbox.docker):

1. ``take``: the warm container, if it was made with this job's limits, is younger than ``max_age`` (less a
   margin) and still running (one inspect); else it is retired and the job runs cold;
2. the downloaded input is *renamed* into the warm ``in/`` (same tmpfs: no copy), the spec written there by
   a rename, last: the program starts on it; the job's timeout starts now;
3. after the run its ``out/`` is renamed to the job's output directory; the container and its directory are
   removed by a background thread (``retire``), off the job's critical path. The slot's next warm container
   is started (``refill``) as soon as a job takes the last one, while that job runs, so back-to-back jobs
   find it ready.

A container never serves a second job: a warm one is taken once, and retired whether its job ran or not.
A warm container that died while waiting (killed, the engine restarted) fails no job: ``take`` sees it is
not running and the job runs cold. One that is never handed a job exits by itself after ``max_age``
(EXIT_IDLE); its labels (``media-worker.warm``, its owner, a deadline of ``max_age`` + the job timeout)
let the janitor remove it after its owner's death or past its deadline, like any sandbox container.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from worker.owners import job_dir_prefix

log = logging.getLogger(__name__)
LABEL_WARM = "media-worker.warm"
AGE_MARGIN_SECONDS = 30.0  # a warm container this close to its own idle exit is not handed a job
TAKE_WAIT_SECONDS = 30.0  # a job waits this long at most for a warm start already under way
MAX_PENDING_REMOVALS = 2  # used containers (each with its input on the tmpfs) waiting for the remover


@dataclass
class Warm:
    """One started warm container and the directory made for it."""

    name: str
    directory: str
    key: tuple[Any, ...]  # the limits it was made with
    started: float  # monotonic
    container: Any

    @property
    def in_dir(self) -> str:
        return os.path.join(self.directory, "in")

    @property
    def out_dir(self) -> str:
        return os.path.join(self.directory, "out")


class WarmSlot:
    """The next sandbox of one pool child.

    ``start(template, directory, name)`` creates and starts a container for jobs like ``template`` (a
    SandboxRequest) or raises; ``key_of(request)`` is the limits a container is made with; ``inspect(name)``
    is the container as the *job's* engine connection sees it (None when gone); ``outdated(container)`` says
    why an inspected one must not be used (made from an image its tag no longer names), or None;
    ``remove(name, directory)`` removes one and its directory. Starts and removals have a thread each, so a
    slow removal (a hostile job's closed directories) never holds up the next start; past
    ``MAX_PENDING_REMOVALS`` waiting, the job's thread removes its own, so used ones cannot pile up."""

    def __init__(
        self,
        work_dir: str,
        owner: str,
        max_age: float,
        start: Callable[[Any, str, str], Any],
        key_of: Callable[[Any], tuple[Any, ...]],
        inspect: Callable[[str], Any],
        remove: Callable[[str, str], None],
        outdated: Callable[[Any], str | None] = lambda c: None,
    ) -> None:
        self._work_dir, self._owner, self._max_age = work_dir, owner, max_age
        self._start, self._key_of, self._inspect, self._remove = start, key_of, inspect, remove
        self._outdated = outdated
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-start")
        self._remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-remove")
        self._pending_removals = 0
        self._removals_lock = threading.Lock()
        self._next: Future[Warm | None] | None = None
        self._template: Any = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def refill(self, template: Any) -> None:
        """Start the slot's next warm container, for jobs like ``template``, in the background. One that
        waits too long is replaced by a fresh one (a timer), so an idle worker's next job finds one too."""
        with self._lock:
            if self._closed or self._next is not None:
                return
            self._template = template
            self._next = self._starter.submit(self._spawn, template)
            self._arm()

    def take(self, request: Any) -> Warm | None:
        """The warm container for ``request``, or None (the job runs cold). Taken once: the slot is empty
        afterwards until ``refill``. A start under way is waited for (it is nearer its end than a cold start
        would be), at most ``TAKE_WAIT_SECONDS``."""
        with self._lock:
            future, self._next = self._next, None
            self._disarm()
        if future is None:
            return None
        try:
            warm = future.result(timeout=TAKE_WAIT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a slow or failed warm start: run cold, remove it later
            log.warning("no warm sandbox to hand the job to: %s", exc)
            self._discard(future)
            return None
        if warm is None:
            return None
        problem = self._unfit(warm, self._key_of(request))
        if problem:
            log.info("warm sandbox %s not used (%s): the job runs cold", warm.name, problem)
            self.retire(warm)
            return None
        return warm

    def retire(self, warm: Warm) -> None:
        """Remove a taken (or unfit) warm container and its directory, in the background (here when
        ``MAX_PENDING_REMOVALS`` already wait, or once closed)."""
        with self._removals_lock:  # not self._lock: a discard callback retires with that one held
            inline = self._pending_removals >= MAX_PENDING_REMOVALS
            if not inline:
                self._pending_removals += 1
        if not inline:
            try:
                self._remover.submit(self._removal, warm)
                return
            except RuntimeError:  # closed
                with self._removals_lock:
                    self._pending_removals -= 1
        self._removal(warm, counted=False)

    def _removal(self, warm: Warm, counted: bool = True) -> None:
        try:
            self._remove(warm.name, warm.directory)
        except Exception:  # noqa: BLE001 - the janitor removes what is left, by its labels and directory prefix
            log.exception("could not remove warm sandbox %s", warm.name)
        finally:
            if counted:
                with self._removals_lock:
                    self._pending_removals -= 1

    def close(self) -> None:
        """Remove the warm container (a start not begun is cancelled); return once the removals are done."""
        with self._lock:
            self._closed = True
            future, self._next = self._next, None
            self._disarm()
        if future is not None and not future.cancel():
            self._discard(future)
        self._starter.shutdown(wait=True)
        self._remover.shutdown(wait=True)

    def _arm(self) -> None:
        """(Re)start the renewal timer of the warm container now being started; with the lock held."""
        self._disarm()
        self._timer = threading.Timer(
            max(self._max_age / 2, self._max_age - 2 * AGE_MARGIN_SECONDS), self._renew, (self._next,)
        )
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _renew(self, future: Future[Warm | None]) -> None:
        with self._lock:
            if self._closed or self._next is not future:
                return  # taken, or closed: nothing to renew
            self._next = None
            self._timer = None
            self._discard(future)
            self._next = self._starter.submit(self._spawn, self._template)
            self._arm()

    def _discard(self, future: Future[Warm | None]) -> None:
        """Remove what ``future`` starts, once it has, on the removal thread."""

        def removal(done: Future[Warm | None]) -> None:
            try:
                warm = done.result()
            except Exception:  # noqa: BLE001 - its start failed (or was cancelled); _spawn removed what it made
                return
            if warm is not None:
                self.retire(warm)

        future.add_done_callback(removal)

    def _spawn(self, template: Any) -> Warm | None:
        name = f"media-worker-warm{uuid.uuid4().hex[:12]}"
        directory = os.path.join(self._work_dir, job_dir_prefix(self._owner) + name.rsplit("-", 1)[1])
        try:
            os.mkdir(directory, 0o700)  # like a job's: nobody else on the host reads its input (the mounts
            # are made by the engine, so the sandbox user needs no way through it)
            os.mkdir(os.path.join(directory, "in"))
            os.mkdir(os.path.join(directory, "out"), 0o700)
            os.chmod(
                os.path.join(directory, "in"), 0o755
            )  # whatever the umask: user 65534 must find its spec
            container = self._start(template, directory, name)
        except Exception as exc:  # noqa: BLE001 - the job runs cold; the removal also covers a half start
            log.warning("could not start a warm sandbox: %s", exc)
            self._remove(name, directory)
            return None
        return Warm(name, directory, self._key_of(template), time.monotonic(), container)

    def _unfit(self, warm: Warm, key: tuple[Any, ...]) -> str | None:
        if warm.key != key:
            return "made with other limits"
        if time.monotonic() - warm.started > self._max_age - AGE_MARGIN_SECONDS:
            return "too old"
        try:
            warm.container = self._inspect(warm.name)  # from here on, the job thread's connection
        except Exception as exc:  # noqa: BLE001 - gone with the engine, removed by someone: replace it
            return f"cannot be inspected: {exc}"
        status = getattr(warm.container, "status", None)
        if status != "running":
            return f"it is {status or 'gone'}"
        try:
            return self._outdated(warm.container)
        except Exception as exc:  # noqa: BLE001 - cannot tell: a cold start uses the tag as it is now
            return f"its image cannot be checked: {exc}"


def appears(path: str, seconds: float) -> bool:
    """True once ``path`` exists (polled every 2 ms); False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True
