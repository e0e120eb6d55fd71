"""Create, idempotently, what the worker needs: buckets, queue + DLQ with redrive, and the path from S3 to the
queue (straight, through SNS, or through EventBridge: worker.ops.delivery).

The demo, the local stack, the tests and the ``provision`` command all use this one path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from worker.ops.delivery import queue_policy, senders, wire


@dataclass(frozen=True)
class Resources:
    """Names and URLs of one provisioned stack."""

    temp_bucket: str
    production_bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    delivery: str = "sqs"
    topic_arn: str | None = None  # delivery sns: the topic S3 publishes to
    rule_arn: str | None = None  # delivery eventbridge: the rule that targets the queue


def _create_bucket(s3: Any, name: str) -> None:
    region = s3.meta.region_name
    extra = (
        {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        s3.create_bucket(Bucket=name, **extra)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def provision(
    s3: Any,
    sqs: Any,
    *,
    temp_bucket: str,
    production_bucket: str,
    queue_name: str,
    max_receive_count: int = 3,
    visibility_timeout: int = 60,
    temp_expiry_days: int = 7,
    versioned: bool = True,
    delivery: str = "sqs",
    sns: Any = None,
    events: Any = None,
    raw_delivery: bool = False,
) -> Resources:
    """Create or update every resource; safe to run again. ``delivery`` sns needs an ``sns`` client
    (``raw_delivery``: SNS raw message delivery), eventbridge an ``events`` one.

    The temp bucket is versioned (``versioned=False`` leaves it as it is, for tests of that mode): every
    event then names the exact version, which the worker reads and deletes by ``VersionId``, so a newer
    upload of the same key is never touched."""
    _create_bucket(s3, temp_bucket)
    _create_bucket(s3, production_bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=temp_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=temp_bucket, LifecycleConfiguration={"Rules": temp_lifecycle(temp_expiry_days)}
    )
    # A killed multipart upload of a large output would otherwise be kept (and billed) forever; exhaustion
    # markers (state/) matter only while a version's retries last.
    s3.put_bucket_lifecycle_configuration(
        Bucket=production_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-incomplete-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                },
                {
                    "ID": "expire-job-state",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "state/"},
                    "Expiration": {"Days": 30},
                },
            ]
        },
    )
    # The DLQ keeps messages longer than the source queue (14 days, the maximum).
    dlq_url, dlq_arn = _queue(sqs, f"{queue_name}-dlq")
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": "1209600"})
    url, arn = _queue(sqs, queue_name)
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )
    wiring = wire(
        delivery,
        sns=sns,
        events=events,
        temp_bucket=temp_bucket,
        queue_name=queue_name,
        queue_arn=arn,
        dlq_arn=dlq_arn,
        raw=raw_delivery,
    )
    allowed = senders(temp_bucket, queue_name, arn)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, allowed)})
    # what SNS or EventBridge could not deliver to the queue lands in the DLQ (dlq redrive brings it back)
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "Policy": queue_policy(
                dlq_arn,
                {service: source for service, source in allowed.items() if service != "s3.amazonaws.com"},
            )
        },
    )
    # last: S3 checks, when told, that it may send to the queue or topic
    s3.put_bucket_notification_configuration(
        Bucket=temp_bucket, NotificationConfiguration=wiring.notification
    )
    return Resources(
        temp_bucket,
        production_bucket,
        url,
        arn,
        dlq_url,
        dlq_arn,
        delivery,
        wiring.topic_arn,
        wiring.rule_arn,
    )


def temp_lifecycle(expiry_days: int) -> list[dict[str, Any]]:
    """Leftovers in the temp bucket (rejected uploads, versions replaced before they were processed, aborted
    multipart uploads) expire on their own; with versioning, noncurrent versions and the delete markers that
    expiry leaves go too."""
    return [
        {
            "ID": "expire-leftover-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": expiry_days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": expiry_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "remove-expired-delete-markers",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
