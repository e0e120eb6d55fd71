"""S3 failures map into the error tree; the lease book extends, checks refusals and respects 12 h."""

from __future__ import annotations

import functools

import boto3
import pytest
from botocore.config import Config

from tests.support.fakes import SlowSandbox
from tests.support.pipeline import collecting_service, exists, record
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.job import JobRunner
from worker.child.keys import manifest_key
from worker.child.storage import Storage
from worker.errors import PermanentError, Reason, RetryableError
from worker.parent.leases import MAX_LEASE_SECONDS, LeaseBook
from worker.parent.sqs import Message, Queue
from worker.s3events.parse import SourceRecord


def dead_s3():
    return boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )


def rec(bucket, key, etag=None):
    return SourceRecord(bucket, key, None, etag, None, "ObjectCreated:Put")


def test_unreachable_s3_is_retryable():
    store = Storage(dead_s3(), "prod")
    with pytest.raises(RetryableError) as info:
        store.head_source(rec("temp", "a.mp4"))
    assert info.value.reason is Reason.S3_ERROR
    with pytest.raises(RetryableError):
        store.exists("media/x/manifest.json")


def test_missing_and_replaced_sources_are_permanent(stack):
    store = Storage(stack.s3, stack.resources.production_bucket)
    with pytest.raises(PermanentError) as info:
        store.head_source(rec(stack.resources.temp_bucket, "nothing-here.mp4"))
    assert info.value.reason is Reason.SOURCE_GONE
    stack.upload("v.mp4", b"first version")
    with pytest.raises(PermanentError) as info:
        store.head_source(rec(stack.resources.temp_bucket, "v.mp4", etag="0123456789abcdef0123456789abcdef"))
    assert info.value.reason is Reason.SOURCE_SUPERSEDED


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def receive_one(stack, body="x"):
    stack.drain_test_event()
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
    queue = Queue(stack.sqs, stack.resources.queue_url)
    return queue, queue.receive(1, 1, 30)[0]


def test_due_leases_are_extended_from_now(stack):
    queue, message = receive_one(stack)
    clock = Clock()
    book = LeaseBook(queue, 30, clock)
    book.add(message, clock.now)
    book.heartbeat()
    assert book._leases[message.message_id].extensions == 0  # more than half left
    clock.now += 16
    book.heartbeat()
    lease = book._leases[message.message_id]
    assert lease.extensions == 1 and lease.expires_at == clock.now + 30 and not lease.lost


def test_a_refused_extension_marks_the_lease_lost(stack):
    queue, message = receive_one(stack)
    bogus = Message(message.message_id, "not-a-receipt-handle", "", 1)
    clock = Clock()
    book = LeaseBook(queue, 30, clock)
    book.add(bogus, clock.now)
    clock.now += 20
    book.heartbeat()
    assert book._leases[message.message_id].lost and book.failed_extensions == 1


def test_leases_stop_before_the_12_hour_limit(stack):
    queue, message = receive_one(stack)
    clock = Clock()
    book = LeaseBook(queue, 30, clock)
    book.add(message, clock.now)
    clock.now += MAX_LEASE_SECONDS - 10
    book.heartbeat()
    assert book._leases[message.message_id].lost and book._leases[message.message_id].extensions == 0


def test_a_message_redelivered_while_its_job_runs_is_adopted_not_run_twice(stack, media):
    """The lease lapses mid-job (every heartbeat refused), SQS hands the message out again: the parent keeps
    the one running job, settles with the newest receipt handle, and loses no pool capacity."""
    etag = stack.upload("lapse.mp4", media["clip"])
    factory = functools.partial(JobRunner, sandbox_factory=SlowSandbox)
    service, outcomes = collecting_service(
        stack.settings(pool=2, visibility_timeout=2), runner_factory=factory
    )
    service.queue.extend = lambda entries: {}  # SQS answers nothing: no lease is ever extended
    with RunningService(service):
        wait_for(lambda: service.stats["redelivered_in_flight"] >= 1, timeout=30)
        wait_for(lambda: exists(stack, manifest_key(record(stack, "lapse.mp4", etag))), timeout=60)
        wait_for(lambda: stack.counts() == (0, 0), timeout=30)
        # the queue can be empty before the parent settles: the third lapse moves the message to the DLQ
        # (maxReceiveCount 3) while the job still uploads; capacity comes back once it settles
        wait_for(lambda: service._held == 0 and service._free_slots() == 2, timeout=30)
    assert [o.status for _, o in outcomes] == ["published"], "one job, not one per delivery"
