"""How a job ends other than published, and the tidying every ending shares: a duplicate of a version
already settled (re-announced), a rejection (its record written once, never beside a manifest), a
retry, an exhaustion counted by its marker; and the source's delete, which never removes a newer upload."""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from worker.child.keys import exhaustion_key, manifest_key, rejection_key, source_id
from worker.child.manifest import now
from worker.child.outcome import Outcome, Status
from worker.child.publish import Publisher
from worker.child.storage import Storage
from worker.errors import MediaWorkerError, PermanentError, ResourceExhausted, RetryableError
from worker.s3events.parse import SourceRecord
from worker.settings import Settings

if TYPE_CHECKING:
    from worker.child.job import Job

log = logging.getLogger("worker.child.job")  # one logger for a job's lines, as before the split


class Endings:
    """The endings of one child's jobs (it owns that child's storage and publisher)."""

    def __init__(self, settings: Settings, storage: Storage, publisher: Publisher) -> None:
        self._settings, self._storage, self._publisher = settings, storage, publisher

    def already_done(self, job: Job, timings: dict[str, float]) -> Outcome | None:
        """A duplicate of a version already published or rejected: tidy up and re-announce its outcome."""
        record, store = job.record, self._storage
        with ThreadPoolExecutor(
            2, thread_name_prefix="check"
        ) as both:  # two round trips at once, not in turn
            # in copies of this context, so that their log lines carry the job's fields
            published = both.submit(contextvars.copy_context().run, store.exists, manifest_key(record))
            rejected = both.submit(contextvars.copy_context().run, store.read_json, rejection_key(record))
        if published.result():
            self._publisher.sweep(record)  # a failure raises: retried, so the strays are not left for good
            return Outcome(
                job.job_id,
                Status.DUPLICATE,
                message="already published",
                key=manifest_key(record),
                timings=timings,
                announce=Status.PUBLISHED,
                source_delete=self.delete_source(job, record.etag),
            )
        rejection = rejected.result()
        if rejection is not None:
            return Outcome(
                job.job_id,
                Status.DUPLICATE,
                reason=str(rejection.get("reason") or "") or None,
                message="already rejected",
                key=rejection_key(record),
                timings=timings,
                announce=Status.REJECTED,
            )
        return None

    def sweep(self, record: SourceRecord) -> None:
        try:
            self._publisher.sweep(record)
        except MediaWorkerError as exc:
            log.warning("could not sweep the objects of other attempts of %s: %s", manifest_key(record), exc)

    def delete_source(self, job: Job, etag: str | None, version_id: str | None = None) -> str | None:
        """Remove the processed temp version; never a newer upload of the key, never an error."""
        record = job.record
        if not self._settings.delete_source:
            return None
        if job.keep_source:  # it may be another upload's object: the temp bucket's lifecycle rule removes it
            return "kept"
        try:
            if self._storage.delete_source(record, etag, version_id):
                return "deleted"
        except MediaWorkerError as exc:
            # Outputs are published; the temp bucket's lifecycle rule removes the leftover.
            log.warning("could not delete the source s3://%s/%s: %s", record.bucket, record.key, exc)
            return "failed"
        log.info("kept s3://%s/%s: a newer upload replaced the processed version", record.bucket, record.key)
        return "kept"

    def exhausted(self, job: Job, exc: ResourceExhausted, timings: dict[str, float]) -> Outcome:
        """Killed for time or memory: permanent on the version's second real exhaustion, counted by a marker
        in the production bucket (not by receives: a drain or a dead child is no exhaustion)."""
        marker = exhaustion_key(job.record)
        try:
            if self._storage.exists(marker):
                return self.reject(job, exc.permanent(), timings)
            self._storage.put_json(
                marker,
                {
                    "schema": 1,
                    "reason": exc.reason.value,
                    "message": exc.message,
                    "source": job.record.identity(),
                    "job_id": job.job_id,
                    "at": now(),
                },
            )
        except RetryableError as store_exc:
            log.warning("could not read or write the exhaustion marker %s: %s", marker, store_exc)
        return self.retry(job, exc, timings)

    def reject(self, job: Job, exc: PermanentError, timings: dict[str, float]) -> Outcome:
        key = rejection_key(job.record)
        doc = {
            "schema": 1,
            "reason": exc.reason.value,
            "message": exc.message,
            "source": job.record.identity(),
            "source_id": source_id(job.record),
            "event_time": job.record.event_time,
            "job": {"job_id": job.job_id, "message_id": job.message_id, "receive_count": job.receive_count},
            "rejected_at": now(),
        }
        try:
            # A version is published or rejected, never both: a duplicate delivery may have published it
            # (and deleted the source, hence source_gone here) while this attempt ran.
            done = self.already_done(job, timings)
            if done is None:
                if not self._storage.create_json(key, doc):
                    done = self.already_done(job, timings)
                elif self._storage.exists(manifest_key(job.record)):
                    # an attempt published while this one rejected: the manifest wins (see worker.child.publish)
                    self._storage.delete_keys([key])
                    done = self.already_done(job, timings)
        except RetryableError as write_exc:
            return self.retry(job, write_exc, timings)
        if done is not None:
            return done
        log.info("rejected s3://%s/%s: %s", job.record.bucket, job.record.key, exc)
        return Outcome(
            job.job_id,
            Status.REJECTED,
            reason=exc.reason.value,
            message=exc.message,
            key=key,
            timings=timings,
        )

    def retry(self, job: Job, exc: RetryableError, timings: dict[str, float]) -> Outcome:
        log.warning(
            "job %s for s3://%s/%s will be retried: %s", job.job_id, job.record.bucket, job.record.key, exc
        )
        return Outcome(
            job.job_id, Status.RETRY, reason=exc.reason.value, message=exc.message, timings=timings
        )
