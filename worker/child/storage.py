"""S3 transfers for one job, with every botocore failure mapped into the error tree."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from worker.errors import PermanentError, Reason, RetryableError
from worker.s3events.parse import SourceRecord

MiB = 1024 * 1024
# One part per 8 MiB and few threads: a job's uploads are small and the pool already runs in parallel.
TRANSFER = TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
HEAD_BYTES = 8192
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_PRECONDITION = {"412", "PreconditionFailed"}
_DENIED = {"403", "AccessDenied", "Forbidden"}
_NO_SOURCE_ACCESS = (
    "S3 answered 403: the worker's role needs s3:ListBucket on the temp bucket (without it S3 "
    "answers 403, not 404, for a missing object) and s3:GetObject + s3:GetObjectVersion on its "
    "objects"
)


@dataclass(frozen=True)
class SourceObject:
    """What HEAD says of the source version we are about to process."""

    size: int
    etag: str
    version_id: str | None
    content_type: str | None
    metadata: dict[str, str]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """Turn botocore errors into RetryableError(s3_error); let ours through."""
    try:
        yield
    except ClientError as exc:
        raise RetryableError(Reason.S3_ERROR, f"{action}: {_code(exc)} {exc}") from exc
    except BotoCoreError as exc:
        raise RetryableError(Reason.S3_ERROR, f"{action}: {exc}") from exc


class Storage:
    """The S3 side of a job: source reads, output writes, markers."""

    def __init__(self, s3: Any, production_bucket: str) -> None:
        self._s3 = s3
        self._bucket = production_bucket

    def _version_args(self, record: SourceRecord) -> dict[str, str]:
        if record.version_id:
            return {"VersionId": record.version_id}
        # Without versioning, IfMatch makes sure we read the bytes the event was about.
        return {"IfMatch": f'"{record.etag}"'} if record.etag else {}

    def _source(self, operation: str, record: SourceRecord, **extra: Any) -> dict[str, Any]:
        """HEAD or GET the exact source version; a missing or replaced object is permanent, anything else retryable."""
        call = self._s3.head_object if operation == "HEAD" else self._s3.get_object
        with s3_errors(f"{operation} s3://{record.bucket}/{record.key}"):
            try:
                return call(Bucket=record.bucket, Key=record.key, **self._version_args(record), **extra)
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise PermanentError(Reason.SOURCE_GONE, "the uploaded object no longer exists") from None
                if _code(exc) in _PRECONDITION:
                    raise PermanentError(
                        Reason.SOURCE_SUPERSEDED,
                        "the object was replaced by a newer upload; that upload has its own event",
                    ) from None
                if _code(exc) in _DENIED:
                    raise RetryableError(Reason.S3_ACCESS_DENIED, _NO_SOURCE_ACCESS) from None
                raise

    def head_source(self, record: SourceRecord) -> SourceObject:
        """HEAD the source version."""
        head = self._source("HEAD", record)
        return SourceObject(
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")).strip('"'),
            version_id=head.get("VersionId"),
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata") or {}),
        )

    def read_head_bytes(self, record: SourceRecord, count: int = HEAD_BYTES) -> bytes:
        """The first ``count`` bytes, by a ranged GET (for the host's signature check)."""
        resp = self._source("GET", record, Range=f"bytes=0-{count - 1}")
        with s3_errors(f"GET (range) s3://{record.bucket}/{record.key}"):
            return resp["Body"].read(count)

    def download(self, record: SourceRecord, path: str, expected_size: int) -> None:
        """Stream the source version to ``path`` (one GET pinned by VersionId or IfMatch) and check its length."""
        resp = self._source("GET", record)
        with s3_errors(f"download s3://{record.bucket}/{record.key}"), open(path, "wb") as fh:
            for chunk in resp["Body"].iter_chunks(MiB):
                fh.write(chunk)
        got = os.path.getsize(path)
        if got != expected_size:
            raise RetryableError(Reason.S3_ERROR, f"downloaded {got} bytes, HEAD said {expected_size}")

    def exists(self, key: str) -> bool:
        """True when ``key`` exists in the production bucket."""
        with s3_errors(f"HEAD s3://{self._bucket}/{key}"):
            try:
                self._s3.head_object(Bucket=self._bucket, Key=key)
                return True
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise

    def upload_file(self, path: str, key: str, content_type: str) -> None:
        """Managed (multipart when large) upload with its Content-Type."""
        with s3_errors(f"upload s3://{self._bucket}/{key}"):
            self._s3.upload_file(
                path, self._bucket, key, ExtraArgs={"ContentType": content_type}, Config=TRANSFER
            )

    def put_json(self, key: str, doc: dict[str, Any]) -> None:
        """Write a small JSON document, replacing what is there."""
        with s3_errors(f"PUT s3://{self._bucket}/{key}"):
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=_json_bytes(doc), ContentType="application/json"
            )

    def create_json(self, key: str, doc: dict[str, Any]) -> bool:
        """Write a JSON document only if ``key`` does not exist (If-None-Match: *); False when it does.

        A True is certain; a False or an error is not proof that another writer won (a retried PUT of ours
        may meet our own first PUT): callers that care read the object back.
        """
        with s3_errors(f"PUT (create) s3://{self._bucket}/{key}"):
            try:
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=_json_bytes(doc),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
                return True
            except ClientError as exc:
                if _code(exc) in _PRECONDITION:
                    return False
                raise

    def read_json(self, key: str) -> dict[str, Any] | None:
        """A JSON document of the production bucket; None when there is none."""
        with s3_errors(f"GET s3://{self._bucket}/{key}"):
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return None
                raise
        doc = json.loads(body)
        return doc if isinstance(doc, dict) else None

    def list_keys(self, prefix: str) -> list[str]:
        """Every key of the production bucket under ``prefix``."""
        with s3_errors(f"LIST s3://{self._bucket}/{prefix}"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def delete_keys(self, keys: list[str]) -> None:
        """Delete production objects, 1000 a request; a key that failed raises (the caller decides)."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            with s3_errors(f"DELETE {len(chunk)} objects of s3://{self._bucket}"):
                resp = self._s3.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
                )
            if resp.get("Errors"):
                first = resp["Errors"][0]
                raise RetryableError(
                    Reason.S3_ERROR,
                    f"{len(resp['Errors'])} deletes failed, e.g. {first.get('Key')}: {first.get('Code')}",
                )

    def delete_source(self, record: SourceRecord, etag: str | None, version_id: str | None = None) -> bool:
        """Remove exactly the temp object version that was processed: by VersionId where the bucket is
        versioned (the event's, else the one HEAD saw), else only while its ETag is still ``etag`` (If-Match).
        False when S3 refused because a newer upload replaced it (that upload keeps its bytes and its own
        event), or when nothing pins the version."""
        if record.version_id or version_id:
            extra = {"VersionId": record.version_id or version_id}
        elif etag:
            extra = {"IfMatch": f'"{etag}"'}
        else:
            return False  # an unpinned delete could remove a newer upload
        with s3_errors(f"DELETE s3://{record.bucket}/{record.key}"):
            try:
                self._s3.delete_object(Bucket=record.bucket, Key=record.key, **extra)
            except ClientError as exc:
                if _code(exc) in _PRECONDITION:
                    return False
                if _code(exc) in _NOT_FOUND:
                    return True  # gone already (a duplicate delivery deleted it first)
                raise
        return True


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def file_digest(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
