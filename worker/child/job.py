"""One job, run inside a pool child, in named stages: the key checked, skip if done (``already_done``) →
admit (``_admit``: HEAD, signature) → fetch (``_fetch``) → sandbox (``_sandboxed``) → publish (outputs, then the manifest
of worker.child.manifest, last: see worker.child.publish).

A job never raises: every path ends in an :class:`Outcome` (worker.child.endings: rejected, retried, a
duplicate) the parent turns into an SQS action (delete, or back off and let the queue retry).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import multiprocessing
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from worker import owners
from worker.child.endings import Endings
from worker.child.keys import attempt_prefix, manifest_key, source_id
from worker.child.manifest import Admitted, build_manifest
from worker.child.outcome import Outcome, Status
from worker.child.outputs import collect_outputs, output_ceiling
from worker.child.precheck import HEAD_BYTES, check_key, check_signature
from worker.child.profiles import load_profiles
from worker.child.publish import Claim, Publisher
from worker.child.spelling import resolve_spelling
from worker.child.storage import Storage
from worker.clients import s3_client
from worker.errors import (
    PermanentError,
    Reason,
    RejectedInput,
    ResourceExhausted,
    RetryableError,
)
from worker.logs import configure, job_context
from worker.owners import job_dir_prefix
from worker.s3events.parse import SourceRecord
from worker.sandbox import Sandbox, SandboxRequest, create_sandbox
from worker.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One source record of one SQS message."""

    job_id: str
    message_id: str
    receive_count: int
    record: SourceRecord
    keep_source: bool = False  # the source must stay (an ambiguous key spelling: see worker.child.spelling)

    def log_fields(self) -> dict[str, str]:
        """The structured log fields of this job (see worker.logs)."""
        return {
            "job_id": self.job_id,
            "message_id": self.message_id,
            "bucket": self.record.bucket,
            "key": self.record.key,
            "source_id": source_id(self.record),
        }


def new_job_id() -> str:
    """A short unique job id (directory names, logs, container labels)."""
    return uuid.uuid4().hex[:12]


class JobRunner:
    """Runs jobs in one child; owns that child's S3 client and sandbox."""

    def __init__(
        self, settings: Settings, sandbox_factory: Callable[[Settings], Sandbox] = create_sandbox
    ) -> None:
        self._settings = settings
        self._storage = Storage(s3_client(), settings.production_bucket)
        self._publisher = Publisher(self._storage)
        self._ends = Endings(settings, self._storage, self._publisher)
        self._sandbox = sandbox_factory(settings)
        self._profiles = load_profiles(settings.profiles_path)
        self._owner = owners.claim(
            settings.work_dir
        )  # creates the work directory; our job dirs are named by it
        if multiprocessing.parent_process() is not None:  # a spawned pool child starts with no logging set up
            configure(settings.log_level, settings.log_format)
        work = settings.work_dir  # a template only: the limits the next job's sandbox is made with
        self._sandbox.prepare(self._request("template", os.path.join(work, "input"), work, {}, {}))

    def _request(
        self, job_id: str, input_path: str, out_dir: str, spec: dict[str, Any], labels: dict[str, str]
    ) -> SandboxRequest:
        """A sandbox run of this child: the job's ``spec`` with this host's threads and limits."""
        return SandboxRequest(
            job_id=job_id,
            input_path=input_path,
            output_dir=out_dir,
            spec={**spec, "limits": self._settings.limits()},
            timeout=self._settings.job_timeout,
            memory_mb=self._settings.sandbox_memory_mb,
            labels=labels,
            threads=self._settings.codec_threads,
            output_cap=output_ceiling(self._settings),
        )

    def __call__(self, job: Job) -> Outcome:
        """Run one job to an outcome; never raises an ``Exception``."""
        with job_context(
            job_id=job.job_id,
            message_id=job.message_id,
            bucket=job.record.bucket,
            key=job.record.key,
            source_id=source_id(job.record),
        ):
            return self._run(job)

    def _run(self, job: Job) -> Outcome:
        timings: dict[str, float] = {}
        if job.record.alt_key is None:
            return self._attempt(job, timings)
        try:  # an EventBridge key with two spellings: settle which one first (see worker.child.spelling)
            with self._stage(timings, "spelling"):
                spelling = resolve_spelling(job.record, self._storage)
        except RetryableError as exc:
            return self._ends.retry(job, exc, {**timings, "total": timings.get("spelling", 0.0)})
        except Exception as exc:  # noqa: BLE001 - unknown means retry, then DLQ
            log.exception("job %s: the key's spelling could not be settled", job.job_id)
            return self._ends.retry(
                job,
                RetryableError(Reason.INTERNAL_ERROR, repr(exc)),
                {**timings, "total": timings.get("spelling", 0.0)},
            )
        if spelling.ambiguous:
            log.warning(
                "both spellings of s3://%s/%s hold the event's bytes (unversioned): publishing %r, keeping "
                "the source",
                job.record.bucket,
                job.record.key,
                spelling.record.key,
            )
        job = dataclasses.replace(job, record=spelling.record, keep_source=spelling.ambiguous)
        return dataclasses.replace(self._attempt(job, timings), source_key=job.record.key)

    def _attempt(self, job: Job, timings: dict[str, float]) -> Outcome:
        job_dir = os.path.join(self._settings.work_dir, job_dir_prefix(self._owner) + job.job_id)
        started = time.monotonic()
        try:
            os.makedirs(job_dir, mode=0o700)
            return self._process(job, job_dir, timings)
        except ResourceExhausted as exc:
            return self._ends.exhausted(job, exc, timings)
        except PermanentError as exc:
            return self._ends.reject(job, exc, timings)
        except RetryableError as exc:
            return self._ends.retry(job, exc, timings)
        except Exception as exc:  # noqa: BLE001 - unknown means retry, then DLQ
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                # the host's scratch space, not the upload: back off and let the queue bring it again
                full = RetryableError(
                    Reason.WORK_DIR_FULL, f"no space left in {self._settings.work_dir}: {exc}"
                )
                return self._ends.retry(job, full, timings)
            log.exception("job %s failed unexpectedly", job.job_id)
            return self._ends.retry(job, RetryableError(Reason.INTERNAL_ERROR, repr(exc)), timings)
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
        """The stages, in order: skip if done → admit → fetch → sandbox → publish. Each raises the error of
        its kind (worker.errors) when the job cannot go on; ``_attempt`` turns that into the outcome."""
        check_key(job.record.key, self._settings.max_key_length)  # no request for a key we would never take
        with self._stage(timings, "check"):
            done = self._ends.already_done(job, timings)
        if done is not None:
            return done
        admitted = self._admit(job, timings)
        in_dir, out_dir = os.path.join(job_dir, "in"), os.path.join(job_dir, "out")
        input_path = self._fetch(job, admitted, in_dir, out_dir, timings)
        profile, profile_names = self._profiles.select(job.record.key, admitted.head.metadata)
        result = self._sandboxed(job, admitted, profile, input_path, out_dir, timings)
        outputs = collect_outputs(result, out_dir, attempt_prefix(job.record, job.job_id))
        with self._stage(timings, "upload"):
            self._publisher.upload(out_dir, outputs)
            manifest = build_manifest(job, admitted, result, outputs, profile_names, timings)
            claim = self._publisher.claim(job.record, job.job_id, manifest)  # last: it names every output
        return self._published(job, admitted, claim, outputs, timings)

    def _admit(self, job: Job, timings: dict[str, float]) -> Admitted:
        """Metadata and 256 fixed bytes, before anything is downloaded (the key was checked first): the size
        from a HEAD of exactly this version, and the signature table (libmagic and FFmpeg run in the sandbox
        only)."""
        record = job.record
        with self._stage(timings, "head"):
            head = self._storage.head_source(record)
        if head.size == 0:
            raise RejectedInput(Reason.EMPTY_FILE, "the upload is empty")
        if head.size > self._settings.max_file_size:
            raise RejectedInput(
                Reason.TOO_LARGE, f"{head.size} bytes exceeds the limit of {self._settings.max_file_size}"
            )
        with self._stage(timings, "signature"):
            signature = check_signature(self._storage.read_head_bytes(record, HEAD_BYTES))
        return Admitted(head, signature)

    def _fetch(
        self, job: Job, admitted: Admitted, in_dir: str, out_dir: str, timings: dict[str, float]
    ) -> str:
        """Stream exactly the admitted version into the job's directory on the tmpfs; return its path."""
        input_path = os.path.join(in_dir, "input")
        os.makedirs(in_dir, mode=0o700)
        os.makedirs(out_dir, mode=0o700)
        with self._stage(timings, "download"):
            self._storage.download(job.record, input_path, admitted.head.size)
        return input_path

    def _sandboxed(
        self,
        job: Job,
        admitted: Admitted,
        profile: dict[str, Any],
        input_path: str,
        out_dir: str,
        timings: dict[str, float],
    ) -> dict[str, Any]:
        """One sandbox run; its checked ``result.json``, and the program's own timings beside ours."""
        request = self._request(
            job.job_id,
            input_path,
            out_dir,
            {"kind_hint": admitted.signature.kind_hint, "profile": profile},
            {"media-worker.job": job.job_id, "media-worker.message": job.message_id},
        )
        with self._stage(timings, "sandbox"):
            result = self._sandbox.run(request).result
        inside = {
            k: float(v) for k, v in (result.get("timings") or {}).items() if isinstance(v, (int, float))
        }
        timings["transcode"] = inside.get("transcode", 0.0)
        timings["media_probe"], timings["media_verify"] = inside.get("probe", 0.0), inside.get("verify", 0.0)
        # what the sandbox run cost beyond the program's own work: container create/start/stop, interpreter start
        timings["container_start"] = max(0.0, timings["sandbox"] - sum(inside.values()))
        return result

    def _published(
        self,
        job: Job,
        admitted: Admitted,
        claim: Claim,
        outputs: list[dict[str, Any]],
        timings: dict[str, float],
    ) -> Outcome:
        """The outcome once the manifest was written (or another attempt's was there first)."""
        record, head = job.record, admitted.head
        if not claim.won:
            log.info(
                "another attempt (%s) settled this version first; this one's objects are removed",
                claim.winner,
            )
            return self._ends.already_done(job, timings) or Outcome(
                job.job_id, Status.DUPLICATE, message=claim.result, timings=timings
            )
        self._ends.sweep(record)  # best effort: published is published; a later duplicate sweeps again
        return Outcome(
            job.job_id,
            Status.PUBLISHED,
            message=f"{len(outputs)} outputs",
            key=manifest_key(record),
            timings=timings,
            bytes_in=head.size,
            bytes_out=sum(item["size"] for item in outputs),
            source_delete=self._ends.delete_source(job, head.etag or record.etag, head.version_id),
        )

    def close(self) -> None:
        """Release the sandbox runtime."""
        self._sandbox.close()
