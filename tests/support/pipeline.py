"""Driving the pipeline in tests: source records, reading the buckets, a service whose outcomes are kept."""

from __future__ import annotations

import json

from worker.parent.service import Service
from worker.s3events.parse import SourceRecord


def record(stack, key, etag):
    """The source record of an upload as moto's S3 notification names it: by ETag (moto sends no versionId,
    even for a versioned bucket; S3 does, and the worker then pins by it)."""
    return SourceRecord(stack.resources.temp_bucket, key, None, etag, None, "ObjectCreated:Put")


def read_json(stack, key):
    return json.loads(stack.s3.get_object(Bucket=stack.resources.production_bucket, Key=key)["Body"].read())


def exists(stack, key, bucket=None):
    try:
        stack.s3.head_object(Bucket=bucket or stack.resources.production_bucket, Key=key)
        return True
    except stack.s3.exceptions.ClientError:
        return False


def collecting_service(settings, **kwargs):
    outcomes = []
    service = Service(settings, on_outcome=lambda job, outcome: outcomes.append((job, outcome)), **kwargs)
    return service, outcomes
