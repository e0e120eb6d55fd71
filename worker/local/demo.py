"""``python -m worker demo``: the whole path on an embedded local stack, with a verdict.

moto's server (real HTTP) stands in for S3 and SQS; everything else is what
production runs: S3 → SQS notifications, the leased pool, the sandbox, PyAV.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import click

from worker.child.job import Job
from worker.child.keys import manifest_key, rejection_key
from worker.child.outcome import Outcome, Status
from worker.child.storage import Storage
from worker.clients import s3_client
from worker.local.samples import Sample, demo_samples
from worker.local.stack import local_stack
from worker.parent.service import Service
from worker.s3events.parse import SourceRecord
from worker.settings import load_settings


@dataclass
class Row:
    sample: Sample
    etag: str
    outcome: Outcome | None = None
    record: SourceRecord | None = None  # as the event named it (moto's name no versionId; S3's do)
    verdict: str = "pending"


def run_demo(pool: int, runtime: str, timeout: float = 300.0, delivery: str = "sqs") -> int:
    """Run the demo, its uploads announced along ``delivery`` (sqs, sns or eventbridge); return 0 when every
    good file was published and the corrupt one rejected."""
    with (
        tempfile.TemporaryDirectory(prefix="media-worker-demo-") as tmp,
        local_stack(name="demo", delivery=delivery) as stack,
    ):
        click.echo(f"local stack: moto on {stack.endpoint}; S3 events delivered by {delivery}")
        samples = demo_samples(tmp)
        s3 = s3_client()
        rows: dict[str, Row] = {}
        for sample in samples:
            with open(sample.path, "rb") as fh:
                resp = s3.put_object(Bucket=stack.resources.temp_bucket, Key=sample.key, Body=fh)
            rows[sample.key] = Row(sample, resp["ETag"].strip('"'))
            click.echo(f"uploaded s3://{stack.resources.temp_bucket}/{sample.key} ({sample.what})")
        settings = load_settings(
            {
                "pool": pool,
                "runtime": runtime,
                "poll_wait": 1,
                "visibility_timeout": 30,
                "retry_backoff_base": 1,
                "retry_backoff_max": 5,
                "drain_timeout": 10,
                "metrics_port": 0,
                "log_level": "WARNING",
            },
            environ=stack.environment(),
        )
        done = threading.Event()

        def on_outcome(job: Job, outcome: Outcome) -> None:
            record = job.record.spelled(outcome.source_key) if outcome.source_key else job.record
            row = rows.get(record.key)
            if row and outcome.status in (Status.PUBLISHED, Status.REJECTED, Status.DUPLICATE):
                row.outcome, row.record = outcome, record
            if all(r.outcome for r in rows.values()):
                done.set()

        stop = threading.Event()
        service = Service(settings, on_outcome=on_outcome)
        thread = threading.Thread(target=service.run, args=(stop,), name="service")
        started = time.monotonic()
        thread.start()
        done.wait(timeout)
        stop.set()
        thread.join()
        return _report(
            rows,
            Storage(s3, stack.resources.production_bucket),
            stack.resources.temp_bucket,
            time.monotonic() - started,
        )


def _report(rows: dict[str, Row], store: Storage, bucket: str, seconds: float) -> int:
    ok = True
    click.echo("")
    click.echo(f"{'key':<28} {'expected':<10} {'outcome':<10} {'sec':>5}  detail")
    for key, row in rows.items():
        record = row.record or SourceRecord(bucket, key, None, row.etag, None, "ObjectCreated:Put")
        published, rejected = store.exists(manifest_key(record)), store.exists(rejection_key(record))
        actual = "published" if published else "rejected" if rejected else "missing"
        good = actual == row.sample.expect and not (published and rejected)
        ok &= good
        outcome = row.outcome
        seconds_taken = f"{outcome.timings.get('total', 0):5.1f}" if outcome else "    -"
        detail = (
            manifest_key(record)
            if published
            else f"{outcome.reason}: {outcome.message[:60]}"
            if outcome and rejected
            else "no outcome"
        )
        click.echo(
            f"{key:<28} {row.sample.expect:<10} {actual + ('' if good else ' ✗'):<10} {seconds_taken}  {detail}"
        )
    click.echo(f"\n{'PASS' if ok else 'FAIL'}: {len(rows)} uploads handled in {seconds:.1f}s")
    return 0 if ok else 1


def print_environment(env: dict[str, Any]) -> None:
    """Shell ``export`` lines for a worker pointed at the local stack."""
    for key, value in env.items():
        click.echo(f"export {key}={value}")
