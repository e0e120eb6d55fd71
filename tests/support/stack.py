"""moto's server over real HTTP, and a fresh provisioned stack per test (fixtures: the functional and integration tiers' conftest.py import them)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from worker.clients import s3_client, sqs_client
from worker.local.stack import LOCAL_CREDENTIALS, moto_server
from worker.ops.provision import Resources, provision
from worker.settings import Settings, load_settings


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server over real HTTP; this process and its children point boto3 at it."""
    with moto_server() as endpoint:
        saved = dict(os.environ)
        os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
        try:
            yield endpoint
        finally:
            os.environ.clear()
            os.environ.update(saved)


@dataclass
class Stack:
    """A provisioned stack plus clients and helpers for one test."""

    resources: Resources
    s3: Any
    sqs: Any
    work_dir: str
    versions: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (key, etag) → VersionId

    def settings(self, **overrides: Any) -> Settings:
        base = {
            "queue_url": self.resources.queue_url,
            "temp_bucket": self.resources.temp_bucket,
            "production_bucket": self.resources.production_bucket,
            "pool": 1,
            "poll_wait": 1,
            "runtime": "process",
            "visibility_timeout": 10,
            "retry_backoff_base": 0,
            "retry_backoff_max": 0,
            "drain_timeout": 10,
            "job_timeout": 120,
            "work_dir": self.work_dir,
            "metrics_port": 0,
        }
        base.update(overrides)
        return load_settings(base, environ={})

    def upload(self, key: str, path_or_bytes: str | bytes) -> str:
        body = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
        resp = self.s3.put_object(Bucket=self.resources.temp_bucket, Key=key, Body=body)
        etag = resp["ETag"].strip('"')
        self.versions[(key, etag)] = resp.get("VersionId")  # the temp bucket is versioned, as provisioned
        return etag

    def production_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.resources.production_bucket, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (or another URL, e.g. the DLQ)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.resources.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def drain_test_event(self) -> None:
        """Remove moto's s3:TestEvent so tests see only their own messages."""
        resp = self.sqs.receive_message(
            QueueUrl=self.resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        for message in resp.get("Messages", []):
            assert "s3:TestEvent" in message["Body"]
            self.sqs.delete_message(QueueUrl=self.resources.queue_url, ReceiptHandle=message["ReceiptHandle"])


def fresh_stack(
    tmp_path: Any, prefix: str = "t", *, s3: Any = None, sqs: Any = None, **options: Any
) -> Stack:
    """A fresh temp bucket, production bucket, queue and DLQ (maxReceiveCount 3, visibility 10 s) on the
    moto server, provisioned through ``s3`` and ``sqs`` (boto3's defaults when None); ``options`` go to
    worker.ops.provision (``versioned``, ``delivery``…)."""
    name = prefix + uuid.uuid4().hex[:10]
    s3, sqs = s3 or s3_client(), sqs or sqs_client(1)
    resources = provision(
        s3,
        sqs,
        temp_bucket=f"{name}-temp",
        production_bucket=f"{name}-prod",
        queue_name=f"{name}-q",
        **{"max_receive_count": 3, "visibility_timeout": 10, **options},
    )
    return Stack(resources, s3, sqs, str(tmp_path / "work"))


@pytest.fixture
def stack(moto_endpoint: str, tmp_path) -> Stack:
    """A fresh stack per test (``fresh_stack``)."""
    return fresh_stack(tmp_path)
