"""Publishing one source version atomically: the first manifest written wins.

Each attempt uploads its outputs under its own prefix (``media/<source id>/<attempt id>/``), then writes the
manifest with If-None-Match: * (S3 enforces it, as does moto's server). Exactly one attempt's manifest can
exist; an attempt that finds another's ends ``duplicate`` and deletes its own objects. Objects no manifest
names (an attempt killed mid-upload, a loser that could not clean up) are swept by whoever later finds the
manifest in place, so every object under a version's prefix is, in the end, one that its manifest names.

A retried PUT can meet our own first PUT (a 412 for a write that did land), so a refused or failed manifest
write is settled by reading the manifest back: it names the attempt that won.
"""

from __future__ import annotations

import contextvars
import logging
import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from worker.child.keys import manifest_key, rejection_key, version_prefix
from worker.child.storage import Storage
from worker.errors import MediaWorkerError, RetryableError
from worker.s3events.parse import SourceRecord

log = logging.getLogger(__name__)
WON, LOST_TO_MANIFEST = "won", "lost_to_manifest"
# Small outputs (all but the largest renditions) take one connection each of the S3 client's 8
# (worker.clients); when several multipart uploads (up to 4 parts at once each) overlap, what exceeds the
# pool only loses connection reuse.
UPLOADS_AT_ONCE = 4


@dataclass(frozen=True)
class Claim:
    """How a publish attempt ended: ``won``, or lost to another attempt's manifest."""

    result: str
    winner: str | None = None  # the attempt id the manifest names

    @property
    def won(self) -> bool:
        return self.result == WON


class Publisher:
    """Uploads one attempt's outputs and claims the version with its manifest."""

    def __init__(self, storage: Storage) -> None:
        self._store = storage

    def upload(self, out_dir: str, outputs: list[dict[str, Any]]) -> None:
        """Upload every output of the attempt, ``UPLOADS_AT_ONCE`` at a time (a video's dozen small files
        one after another cost a round trip each). On the first failure the uploads not begun are cancelled,
        what was uploaded is removed, and that failure is raised; the same on any interruption. The
        manifest, written by ``claim`` afterwards, is always last."""
        pool = ThreadPoolExecutor(min(UPLOADS_AT_ONCE, max(1, len(outputs))), thread_name_prefix="upload")
        # each in a copy of this context: the log lines of the upload threads carry the job's fields
        futures = {
            pool.submit(
                contextvars.copy_context().run,
                self._store.upload_file,
                os.path.join(out_dir, item["name"]),
                item["key"],
                item["content_type"],
            ): item["key"]
            for item in outputs
        }
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                raise failed
        except BaseException:
            for future in futures:
                future.cancel()
            pool.shutdown(wait=True)
            # a PUT that failed may still have landed: every upload begun is removed (a missing key is no error)
            self._discard([key for future, key in futures.items() if not future.cancelled()])
            raise
        pool.shutdown(wait=True)

    def claim(self, record: SourceRecord, attempt_id: str, manifest: dict[str, Any]) -> Claim:
        """Write the manifest unless another attempt's is there (a rejection found then goes: see
        ``_manifest_wins``)."""
        key = manifest_key(record)
        try:
            if self._store.create_json(key, manifest):
                self._manifest_wins(record)
                return Claim(WON, attempt_id)
        except RetryableError as exc:
            # The PUT may have landed: only the manifest itself can say. Our objects stay until it does.
            winner = self._winner(key)
            if winner is None:
                raise
            log.warning("manifest write of %s failed (%s) but a manifest is there", key, exc)
        else:
            winner = self._winner(key)
        if winner == attempt_id:
            self._manifest_wins(record)
            return Claim(WON, attempt_id)
        # a failure here raises: the job is retried, and its next attempt sweeps what is left
        self._store.delete_keys([o["key"] for o in manifest["outputs"]])
        return Claim(LOST_TO_MANIFEST, winner)

    def sweep(self, record: SourceRecord) -> int:
        """Remove every object under the version's prefix that its manifest does not name; return how many.

        Only called once a manifest exists, when no other attempt can win any more."""
        manifest = self._store.read_json(manifest_key(record))
        if manifest is None:
            return 0
        keep = {o.get("key") for o in manifest.get("outputs", []) if isinstance(o, dict)} | {
            manifest_key(record)
        }
        strays = [key for key in self._store.list_keys(version_prefix(record)) if key not in keep]
        if strays:
            log.info("removing %d objects of other attempts under %s", len(strays), version_prefix(record))
            self._store.delete_keys(strays)
        return len(strays)

    def _manifest_wins(self, record: SourceRecord) -> None:
        """A rejection written meanwhile by another attempt (it checked before our manifest existed) goes: a
        version ends published or rejected, never both, and a manifest with verified outputs beats a
        rejection (only load-dependent ones can race a success: a repeated timeout, a superseded read)."""
        if self._store.exists(rejection_key(record)):
            log.warning(
                "%s: published and rejected by two attempts at once; the manifest wins", manifest_key(record)
            )
            self._store.delete_keys([rejection_key(record)])

    def _winner(self, key: str) -> str | None:
        doc = self._store.read_json(key)
        if doc is None:
            return None
        return str((doc.get("job") or {}).get("attempt_id") or "") or "?"

    def _discard(self, keys: list[str]) -> None:
        """Best effort (an error is already on its way): what is left, the version's next sweep removes."""
        try:
            self._store.delete_keys(keys)
        except MediaWorkerError as exc:
            log.warning(
                "could not remove %d objects of a lost attempt (a later sweep will): %s", len(keys), exc
            )
