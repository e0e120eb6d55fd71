"""One job, run inside a pool child: head → sniff → download → sandbox → publish.

A job never raises: every path ends in an :class:`Outcome` the parent turns
into an SQS action (delete, or back off and let the queue retry).
"""
from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from worker import __version__
from worker.clients import s3_client
from worker.errors import MediaWorkerError, PermanentError, Reason, RejectedInput, ResourceExhausted, RetryableError
from worker.events import SourceRecord
from worker.keys import manifest_key, output_prefix, rejection_key, source_id
from worker.logs import configure, job_context
from worker.outputs import collect_outputs, fast_path, key_of
from worker.profiles import load_profiles
from worker.sandbox import Sandbox, SandboxRequest, create_sandbox
from worker.settings import Settings
from worker.sniff import check_key, sniff
from worker.storage import Storage

log = logging.getLogger(__name__)

PUBLISHED, REJECTED, DUPLICATE, RETRY = "published", "rejected", "duplicate", "retry"


@dataclass(frozen=True)
class Job:
    """One source record of one SQS message."""

    job_id: str
    message_id: str
    receive_count: int
    record: SourceRecord


@dataclass(frozen=True)
class Outcome:
    """How a job ended. ``status`` is published, rejected, duplicate or retry."""

    job_id: str
    status: str
    reason: str | None = None
    message: str = ""
    key: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    bytes_in: int = 0  # downloaded from the temp bucket
    bytes_out: int = 0  # published to the production bucket


def new_job_id() -> str:
    """A short unique job id (directory names, logs, container labels)."""
    return uuid.uuid4().hex[:12]


def job_dir_prefix(pid: int | str) -> str:
    """Job directories of one child process start with this, so its death can be cleaned up ('*': a glob)."""
    return f"job-{pid}-"


class JobRunner:
    """Runs jobs in one child; owns that child's S3 client and sandbox."""

    def __init__(self, settings: Settings, sandbox_factory: Callable[[Settings], Sandbox] = create_sandbox) -> None:
        self._settings = settings
        self._storage = Storage(s3_client(), settings.production_bucket)
        self._sandbox = sandbox_factory(settings)
        self._profiles = load_profiles(settings.profiles_path)
        os.makedirs(settings.work_dir, mode=0o700, exist_ok=True)
        if multiprocessing.parent_process() is not None:  # a spawned pool child starts with no logging set up
            configure(settings.log_level, settings.log_format)

    def __call__(self, job: Job) -> Outcome:
        """Run one job to an outcome; never raises an ``Exception``."""
        with job_context(job_id=job.job_id, message_id=job.message_id, bucket=job.record.bucket, key=job.record.key):
            return self._run(job)

    def _run(self, job: Job) -> Outcome:
        timings: dict[str, float] = {}
        job_dir = os.path.join(self._settings.work_dir, job_dir_prefix(os.getpid()) + job.job_id)
        started = time.monotonic()
        try:
            os.makedirs(job_dir, mode=0o700)
            return self._process(job, job_dir, timings)
        except ResourceExhausted as exc:
            if job.receive_count >= 2:
                return self._reject(job, exc.permanent(), timings)
            return self._retry(job, exc, timings)
        except PermanentError as exc:
            return self._reject(job, exc, timings)
        except RetryableError as exc:
            return self._retry(job, exc, timings)
        except Exception as exc:  # noqa: BLE001 - unknown means retry, then DLQ
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                # the host's scratch space, not the upload: back off and let the queue bring it again
                full = RetryableError(Reason.WORK_DIR_FULL, f"no space left in {self._settings.work_dir}: {exc}")
                return self._retry(job, full, timings)
            log.exception("job %s failed unexpectedly", job.job_id)
            return self._retry(job, RetryableError(Reason.INTERNAL_ERROR, repr(exc)), timings)
        finally:
            timings["total"] = time.monotonic() - started
            shutil.rmtree(job_dir, ignore_errors=True)

    @contextmanager
    def _stage(self, timings: dict[str, float], name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            timings[name] = time.monotonic() - t0

    def _process(self, job: Job, job_dir: str, timings: dict[str, float]) -> Outcome:
        record, store = job.record, self._storage
        check_key(record.key, self._settings.max_key_length)
        done_key = manifest_key(record)
        with self._stage(timings, "check"):
            if store.exists(done_key):
                self._delete_source(record)
                return Outcome(job.job_id, DUPLICATE, message="already published", key=done_key, timings=timings)
            if store.exists(rejection_key(record)):
                return Outcome(job.job_id, DUPLICATE, message="already rejected", key=rejection_key(record),
                               timings=timings)
        with self._stage(timings, "head"):
            head = store.head_source(record)
        if head.size == 0:
            raise RejectedInput(Reason.EMPTY_FILE, "the upload is empty")
        if head.size > self._settings.max_file_size:
            raise RejectedInput(Reason.TOO_LARGE, f"{head.size} bytes exceeds the limit of {self._settings.max_file_size}")
        with self._stage(timings, "sniff"):
            media = sniff(store.read_head_bytes(record), key=record.key, declared_type=head.content_type)
        in_dir, out_dir = os.path.join(job_dir, "in"), os.path.join(job_dir, "out")
        input_path = os.path.join(in_dir, "input")
        os.makedirs(in_dir, mode=0o700)
        os.makedirs(out_dir, mode=0o700)
        with self._stage(timings, "download"):
            store.download(record, input_path, head.size)
        limits = {**self._settings.limits(), "max_output_bytes": max(64 * 1024 * 1024, 4 * head.size)}
        profile, profile_names = self._profiles.select(record.key, head.metadata)
        spec = {"kind": media.kind, "demuxer": media.demuxer, "threads": self._settings.codec_threads,
                "limits": limits, "profile": profile}
        request = SandboxRequest(job_id=job.job_id, input_path=input_path, output_dir=out_dir, spec=spec,
                                 timeout=self._settings.job_timeout, memory_mb=self._settings.sandbox_memory_mb,
                                 labels={"media-worker.job": job.job_id, "media-worker.message": job.message_id})
        with self._stage(timings, "sandbox"):
            result = self._sandbox.run(request)
        inside = {k: float(v) for k, v in (result.result.get("timings") or {}).items() if isinstance(v, (int, float))}
        timings["transcode"] = inside.get("transcode", 0.0)
        timings["media_probe"], timings["media_verify"] = inside.get("probe", 0.0), inside.get("verify", 0.0)
        # what the sandbox run cost beyond the program's own work: container create/start/stop, interpreter start
        timings["container_start"] = max(0.0, timings["sandbox"] - sum(inside.values()))
        outputs = collect_outputs(result.result, out_dir, output_prefix(record))
        with self._stage(timings, "upload"):
            for item in outputs:
                store.upload_file(os.path.join(out_dir, item["name"]), item["key"], item["content_type"])
            manifest = {
                "schema": 1,
                "source": {**record.identity(), "size": head.size, "etag": head.etag or record.etag,
                           "declared_content_type": head.content_type},
                "source_id": source_id(record),
                "sniffed": {"mime": media.mime, "kind": media.kind, "demuxer": media.demuxer},
                "kind": result.result.get("kind"),
                "profile": profile_names.get(str(result.result.get("kind"))),
                "probe": result.result.get("probe"),
                "hls_master": key_of(outputs, "hls_master"),
                "fast_path": fast_path(result.result),
                "outputs": outputs,
                "timings": dict(timings),
                "versions": {"worker": __version__, **result.result.get("versions", {})},
                "job": {"job_id": job.job_id, "message_id": job.message_id, "receive_count": job.receive_count},
                "created_at": _now(),
            }
            store.put_json(done_key, manifest)  # last: its presence means "all outputs are there"
        self._delete_source(record)
        return Outcome(job.job_id, PUBLISHED, message=f"{len(outputs)} outputs", key=done_key, timings=timings,
                       bytes_in=head.size, bytes_out=sum(item["size"] for item in outputs))

    def _delete_source(self, record: SourceRecord) -> None:
        if not self._settings.delete_source:
            return
        try:
            self._storage.delete_source(record)
        except MediaWorkerError as exc:
            # Outputs are published; the temp bucket's lifecycle rule removes the leftover.
            log.warning("could not delete the source s3://%s/%s: %s", record.bucket, record.key, exc)

    def _reject(self, job: Job, exc: PermanentError, timings: dict[str, float]) -> Outcome:
        key = rejection_key(job.record)
        try:
            if exc.reason is Reason.SOURCE_GONE and self._storage.exists(manifest_key(job.record)):
                # A duplicate delivery raced the first one, which published and deleted the source.
                return Outcome(job.job_id, DUPLICATE, message="already published", key=manifest_key(job.record),
                               timings=timings)
        except RetryableError as check_exc:
            return self._retry(job, check_exc, timings)
        doc = {"schema": 1, "reason": exc.reason.value, "message": exc.message, "source": job.record.identity(),
               "source_id": source_id(job.record), "event_time": job.record.event_time,
               "job": {"job_id": job.job_id, "message_id": job.message_id, "receive_count": job.receive_count},
               "rejected_at": _now()}
        try:
            self._storage.put_json(key, doc)
        except RetryableError as write_exc:
            return self._retry(job, write_exc, timings)
        log.info("rejected s3://%s/%s: %s", job.record.bucket, job.record.key, exc)
        return Outcome(job.job_id, REJECTED, reason=exc.reason.value, message=exc.message, key=key, timings=timings)

    def _retry(self, job: Job, exc: RetryableError, timings: dict[str, float]) -> Outcome:
        log.warning("job %s for s3://%s/%s will be retried: %s", job.job_id, job.record.bucket, job.record.key, exc)
        return Outcome(job.job_id, RETRY, reason=exc.reason.value, message=exc.message, timings=timings)

    def close(self) -> None:
        """Release the sandbox runtime."""
        self._sandbox.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
