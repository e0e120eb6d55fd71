"""Operator commands of ``python -m worker``: provision, presign, submit, dlq inspect / dlq redrive.

AWS endpoint and credentials come from boto3's own configuration (``AWS_ENDPOINT_URL`` points them at a
local stack); the region is found as the worker finds it (:func:`worker.region.ensure_region`). Bucket and
queue options default to the worker's ``MEDIA_WORKER_*`` variables.
"""

from __future__ import annotations

import json
import os

import click

from worker.clients import events_client, s3_client, sns_client, sqs_client
from worker.ops.delivery import DELIVERIES
from worker.region import RegionError, ensure_region

MiB = 1024 * 1024


class _NoRegion(click.ClickException):
    exit_code = 2  # a configuration problem, as ``run`` reports it


def _region() -> None:
    """The region the worker would use, or exit 2 naming the ways to give one."""
    try:
        ensure_region()
    except RegionError as exc:
        raise _NoRegion(str(exc)) from None


@click.command()
@click.option("--temp-bucket", envvar="MEDIA_WORKER_TEMP_BUCKET", required=True)
@click.option("--production-bucket", envvar="MEDIA_WORKER_PRODUCTION_BUCKET", required=True)
@click.option("--queue-name", required=True, help="the DLQ is <name>-dlq")
@click.option("--max-receive-count", type=click.IntRange(1, 1000), default=4, show_default=True)
@click.option("--visibility-timeout", type=click.IntRange(2, 43200), default=60, show_default=True)
@click.option("--temp-expiry-days", type=click.IntRange(1, 3650), default=7, show_default=True)
@click.option(
    "--delivery",
    type=click.Choice(DELIVERIES),
    default="sqs",
    show_default=True,
    help="how S3 announces uploads: straight to the queue, through an SNS topic <queue>-uploads, or "
    "through EventBridge (a rule <queue>-uploads on the default bus)",
)
@click.option(
    "--raw-delivery/--no-raw-delivery",
    default=False,
    show_default=True,
    help="with --delivery sns: SNS raw message delivery (the queue gets the bare S3 event)",
)
def provision(
    temp_bucket: str,
    production_bucket: str,
    queue_name: str,
    max_receive_count: int,
    visibility_timeout: int,
    temp_expiry_days: int,
    delivery: str,
    raw_delivery: bool,
) -> None:
    """Create or update buckets, queue + DLQ, queue policy and the S3 → queue path; print the worker's
    variables."""
    from worker.ops.provision import provision as create

    if raw_delivery and delivery != "sns":
        raise click.UsageError("--raw-delivery is an SNS setting: it needs --delivery sns")
    _region()
    res = create(
        s3_client(),
        sqs_client(0),
        temp_bucket=temp_bucket,
        production_bucket=production_bucket,
        queue_name=queue_name,
        max_receive_count=max_receive_count,
        visibility_timeout=visibility_timeout,
        temp_expiry_days=temp_expiry_days,
        delivery=delivery,
        sns=sns_client(),
        events=events_client(),
        raw_delivery=raw_delivery,
    )
    click.echo(
        f"MEDIA_WORKER_QUEUE_URL={res.queue_url}\nMEDIA_WORKER_TEMP_BUCKET={res.temp_bucket}\n"
        f"MEDIA_WORKER_PRODUCTION_BUCKET={res.production_bucket}\n# DLQ: {res.dlq_url}"
    )
    if res.topic_arn:
        click.echo(f"MEDIA_WORKER_SNS_TOPIC_ARNS={res.topic_arn}")
    if res.rule_arn:
        click.echo(f"# EventBridge rule: {res.rule_arn}")


@click.command()
@click.argument("key")
@click.option("--bucket", envvar="MEDIA_WORKER_TEMP_BUCKET", required=True, help="the temp (upload) bucket")
@click.option(
    "--max-size",
    type=click.IntRange(1),
    envvar="MEDIA_WORKER_MAX_FILE_SIZE",
    default=100 * MiB,
    show_default=True,
    help="bytes; S3 refuses larger bodies",
)
@click.option("--expires", type=click.IntRange(1, 7 * 86400), default=3600, show_default=True, help="seconds")
def presign(key: str, bucket: str, max_size: int, expires: int) -> None:
    """Print a presigned POST (JSON: url, fields) for uploading KEY, limited to --max-size bytes."""
    from worker.ops.presign import presigned_post

    _region()
    click.echo(json.dumps(presigned_post(s3_client(), bucket, key, max_size, expires), indent=2))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--bucket", envvar="MEDIA_WORKER_TEMP_BUCKET", required=True, help="the temp (upload) bucket")
@click.option("--prefix", default="uploads/", show_default=True, help="key prefix")
def submit(files: tuple[str, ...], bucket: str, prefix: str) -> None:
    """Upload FILES to the temp bucket with a progress bar; print each key and ETag."""
    from worker.ops.presign import key_for
    from worker.ops.presign import submit as upload

    _region()
    s3 = s3_client()
    total = sum(os.path.getsize(path) for path in files)
    with click.progressbar(length=total, label="uploading", file=click.get_text_stream("stderr")) as bar:
        done = []
        for path in files:
            key = key_for(path, prefix)
            done.append((key, upload(s3, bucket, path, key, bar.update)))
    for key, etag in done:
        click.echo(f"s3://{bucket}/{key}\t{etag}")


@click.group()
def dlq() -> None:
    """Look at and redrive the dead-letter queue."""


@dlq.command("inspect")
@click.option("--queue-url", envvar="MEDIA_WORKER_QUEUE_URL", required=True, help="the source queue")
@click.option("--dlq-url", help="default: the DLQ of the source queue's redrive policy")
@click.option("--temp-bucket", envvar="MEDIA_WORKER_TEMP_BUCKET", default="", help="to name the uploads")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def dlq_inspect(queue_url: str, dlq_url: str | None, temp_bucket: str, limit: int) -> None:
    """Print the DLQ's messages as JSON lines, leaving them in place."""
    from worker.ops.dlq import dlq_url_of, inspect

    _region()
    sqs = sqs_client(0)
    for letter in inspect(sqs, dlq_url or dlq_url_of(sqs, queue_url), temp_bucket, limit):
        click.echo(json.dumps(letter.to_dict()))


@dlq.command("redrive")
@click.option("--queue-url", envvar="MEDIA_WORKER_QUEUE_URL", required=True, help="the source queue")
@click.option("--dlq-url", help="default: the DLQ of the source queue's redrive policy")
@click.option("--limit", type=click.IntRange(1), default=None, help="default: all")
def dlq_redrive(queue_url: str, dlq_url: str | None, limit: int | None) -> None:
    """Move the DLQ's messages back to the source queue."""
    from worker.ops.dlq import dlq_url_of, redrive

    _region()
    sqs = sqs_client(0)
    moved = redrive(sqs, dlq_url or dlq_url_of(sqs, queue_url), queue_url, limit)
    click.echo(f"moved {moved} messages back to {queue_url}")


COMMANDS = (provision, presign, submit, dlq)
