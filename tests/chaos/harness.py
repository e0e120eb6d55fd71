"""Chaos and load runs: N uploads (good and hostile) through real worker processes (Docker runtime) on the
local stack — several on one queue, as several hosts would be — behind a faulty proxy, with faults injected
(overwrites of keys in flight and duplicate deliveries among them); invariants checked at the end.

Used by ``scripts/chaos.py`` (full size) and ``tests/integration/test_chaos.py`` (CI size).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.chaos.faults import FAULT_KINDS, Injector
from tests.chaos.invariants import check_invariants
from tests.chaos.proxy import FaultyProxy
from tests.chaos.uploads import Uploads, make_corpus
from worker.clients import s3_client, sqs_client
from worker.local.stack import LOCAL_CREDENTIALS, free_port, moto_server
from worker.ops.provision import provision
from worker.sandbox.docker import docker_client


@dataclass(frozen=True)
class ChaosConfig:
    """One run: how many uploads, which faults, how hard."""

    jobs: int = 100
    pool: int = 4
    workers: int = 2
    versioned: bool = True
    faults: tuple[str, ...] = FAULT_KINDS
    error_rate: float = 0.05
    fault_every: float = 2.0
    visibility_timeout: int = 10
    max_receive_count: int = 5
    hostile_share: float = 0.2
    timeout: float = 1800.0
    tmpfs_mb: int = 512
    seed: int = 1


@dataclass
class Report:
    config: dict[str, Any]
    seconds: float = 0.0
    jobs_per_minute: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    proxy: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    max_poll_gap: float = 0.0
    restarts: int = 0
    worker_exit: int | None = None
    versions: int = 0

    def summary(self) -> dict[str, Any]:
        """The report with the RSS and descriptor series reduced to first / max / last."""
        doc = asdict(self)
        for name in ("rss_kib", "fds"):
            series = doc.pop(name)
            doc[name] = (
                {"first": series[0], "max": max(series), "last": series[-1], "samples": len(series)}
                if series
                else None
            )
        return doc

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2)


class WorkerProcess:
    """``python -m worker`` with the given environment; restartable after a SIGKILL."""

    def __init__(self, env: dict[str, str], pool: int, log_path: str) -> None:
        self.env, self.pool, self.log_path = env, pool, log_path
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.restarted_at = 0.0
        self.pids: list[int] = []  # every parent this run had: their sandboxes are this run's
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "--pool", str(self.pool)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.pids.append(self.proc.pid)
        log.close()

    def kill_and_restart(self) -> None:
        with self._lock:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()
            self.restarts += 1
            self.restarted_at = time.monotonic()
            self.start()

    def stop(self, timeout: float = 120) -> int:
        with self._lock:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return -9


def run_chaos(config: ChaosConfig, log=print) -> Report:
    """One full run; returns the report (``violations`` empty when every invariant held)."""
    report = Report(config=asdict(config))
    rng = random.Random(config.seed)
    root = tempfile.mkdtemp(prefix="media-chaos-")
    work_dir = os.path.join(root, "work")
    os.makedirs(work_dir)
    mounted = _mount_tmpfs(work_dir, config.tmpfs_mb) if "full_disk" in config.faults else False
    if "full_disk" in config.faults and not mounted:
        raise RuntimeError("the full_disk fault needs a dedicated tmpfs (run as root), or leave it out")
    saved = dict(os.environ)
    try:
        with moto_server() as endpoint:
            os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
            _run(config, report, rng, root, work_dir, endpoint, log)
    finally:
        os.environ.clear()  # the caller's AWS endpoint (a test session's moto) must survive this run
        os.environ.update(saved)
        if mounted:
            subprocess.run(["umount", "-l", work_dir], check=False)
    return report


def _run(
    config: ChaosConfig, report: Report, rng: random.Random, root: str, work_dir: str, endpoint: str, log
) -> None:
    s3, sqs = s3_client(), sqs_client(0)
    res = provision(
        s3,
        sqs,
        temp_bucket="chaos-temp",
        production_bucket="chaos-production",
        queue_name="chaos-uploads",
        max_receive_count=config.max_receive_count,
        visibility_timeout=config.visibility_timeout,
        versioned=config.versioned,
    )
    events_url = sqs.create_queue(QueueName="chaos-events")["QueueUrl"]
    corpus, good = make_corpus(os.path.join(root, "media"), rng, config.jobs, config.hostile_share)
    proxy = FaultyProxy(endpoint, config.error_rate, seed=config.seed).start()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_")}
    base.update(
        {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": proxy.endpoint,
            "PYTHONUNBUFFERED": "1",
            "MEDIA_WORKER_QUEUE_URL": res.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": res.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": res.production_bucket,
            "MEDIA_WORKER_RUNTIME": "docker",
            "MEDIA_WORKER_WORK_DIR": work_dir,
            "MEDIA_WORKER_VISIBILITY_TIMEOUT": str(config.visibility_timeout),
            "MEDIA_WORKER_POLL_WAIT": "2",
            "MEDIA_WORKER_RETRY_BACKOFF_BASE": "1",
            "MEDIA_WORKER_RETRY_BACKOFF_MAX": "5",
            "MEDIA_WORKER_METRICS_HOST": "127.0.0.1",
            "MEDIA_WORKER_STATUS_TARGET": events_url,
            "MEDIA_WORKER_LOG_FORMAT": "json",
            "MEDIA_WORKER_DRAIN_TIMEOUT": "30",
            "MEDIA_WORKER_JOB_TIMEOUT": "120",
        }
    )
    # several workers on one queue and one host's work directory, as two worker containers sharing /dev/shm
    ports = [free_port() for _ in range(config.workers)]
    logs = [os.path.join(root, f"worker{i}.log") for i in range(config.workers)]
    workers = [
        WorkerProcess({**base, "MEDIA_WORKER_METRICS_PORT": str(port)}, config.pool, path)
        for port, path in zip(ports, logs)
    ]
    docker = docker_client()
    uploads = Uploads(s3, res.temp_bucket, good)
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for key, (path, expected) in corpus.items():
        uploads.put(key, path, expected)
    injector = Injector(
        config.faults,
        workers=workers,
        proxy=proxy,
        docker=docker,
        sqs=sqs,
        queue_url=res.queue_url,
        bucket=res.temp_bucket,
        uploads=uploads,
        work_dir=work_dir,
        lease_seconds=config.visibility_timeout + 5,
        seed=config.seed,
        log=lambda m: None,
    )
    done = threading.Event()
    side = [
        threading.Thread(
            target=_every, args=(done, 1.0, lambda: _sample(workers, ports, report)), daemon=True
        )
    ]
    if config.faults:
        side.append(
            threading.Thread(target=_every, args=(done, config.fault_every, injector.inject), daemon=True)
        )
    for thread in side:
        thread.start()
    while time.monotonic() - started < config.timeout:
        versions = uploads.all()
        settled = _settled(s3, sqs, res, versions)
        log(
            f"{time.monotonic() - started:6.0f}s settled {settled}/{len(versions)} faults {injector.done} "
            f"restarts {sum(w.restarts for w in workers)} rss_kib {report.rss_kib[-1:]} fds {report.fds[-1:]}"
        )
        if settled == len(versions) and time.monotonic() - started > 10:
            break
        # each check lists the whole production bucket through moto, on the CPUs the worker needs
        time.sleep(min(30.0, max(5.0, len(versions) / 30)))
    done.set()
    for thread in side:
        thread.join()
    report.seconds = time.monotonic() - started
    proxy.refuse_leases.clear()
    for port in ports:
        wait_until_serving(port)  # a just-restarted parent is still importing: let it set up first
    exits = [worker.stop() for worker in workers]
    report.worker_exit = next((code for code in exits if code != 0), 0)
    time.sleep(2)  # the sandbox containers of a drained worker are gone; give a killed one's a moment
    report.faults = dict(injector.done)
    report.proxy = dict(proxy.counts)
    report.restarts = sum(w.restarts for w in workers)
    proxy.close()
    report.versions = len(uploads.all())
    report.outcomes, report.violations = check_invariants(
        s3, sqs, res, uploads, docker, work_dir, events_url, logs, [pid for w in workers for pid in w.pids]
    )
    if report.seconds and report.worker_exit != 0:
        report.violations.append(f"a worker exited {report.worker_exit} on SIGTERM, not 0 ({exits})")
    if report.max_poll_gap > 2 + 30:
        report.violations.append(f"a worker went {report.max_poll_gap:.0f} s without a successful poll")
    settled_jobs = sum(report.outcomes.get(k, 0) for k in ("published", "rejected", "dead_lettered"))
    report.jobs_per_minute = settled_jobs / max(report.seconds / 60, 1e-9)


def _every(done: threading.Event, seconds: float, action) -> None:
    """Run ``action`` every ``seconds`` until ``done``; an action's failure is logged by the run, not fatal."""
    while not done.wait(seconds):
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a fault that could not be applied is not a finding
            print(f"side task failed: {exc!r}", file=sys.stderr)


def _settled(s3: Any, sqs: Any, res: Any, versions: list) -> int:
    """How many upload versions have reached a terminal state (manifest, rejection, or the DLQ)."""
    from tests.chaos.invariants import terminal_states

    states = terminal_states(s3, sqs, res, versions)
    return sum(1 for v in versions if states.get(v.source_id))


def _sample(workers: list[WorkerProcess], ports: list[int], report: Report) -> None:
    """The first parent's RSS and open descriptors; each parent's seconds since its last successful poll
    (outside the 30 s after its restart)."""
    try:
        with open(f"/proc/{workers[0].pid}/status") as fh:
            rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{workers[0].pid}/fd"))
    except (OSError, StopIteration):
        rss = fds = -1
    if rss >= 0 and len(report.rss_kib) < 100000:
        report.rss_kib.append(rss)
        report.fds.append(fds)
    for worker, port in zip(workers, ports):
        if time.monotonic() - worker.restarted_at < 30:
            continue  # a fresh parent has not polled yet
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("media_worker_last_successful_poll_timestamp_seconds "):
                last = float(line.split()[1])
                if last > 0:
                    report.max_poll_gap = max(report.max_poll_gap, time.time() - last)


def wait_until_serving(port: int, path: str = "/healthz", timeout: float = 60) -> bool:
    """Poll a worker's metrics server until ``path`` answers 200; False when it never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _mount_tmpfs(path: str, size_mb: int) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", path], capture_output=True
    )
    return done.returncode == 0
