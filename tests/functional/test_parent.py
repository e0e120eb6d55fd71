"""A parent that never dies and never stalls (issue 14): hostile bodies, slow SQS, wedged jobs, a runtime that
is not ready, bad records among good ones. The real pool, the real process runtime, moto over HTTP."""

from __future__ import annotations

import functools
import json
import time

import boto3
import pytest
from botocore.config import Config

from tests.chaos.proxy import FaultyProxy
from tests.support.envelopes import s3_event
from tests.support.fakes import SlowSandbox
from tests.support.pipeline import collecting_service, exists, record
from tests.support.service import RunningService, record_ticks
from tests.support.waiting import wait_for
from worker.child.job import JobRunner
from worker.child.keys import manifest_key

pytestmark = pytest.mark.slow


def dlq_messages(stack, count, timeout=60):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        resp = stack.sqs.receive_message(
            QueueUrl=stack.resources.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        got += resp.get("Messages", [])
    return got


def test_the_nastiest_bodies_never_stop_the_parent_and_good_uploads_go_through(stack, media):
    stack.drain_test_event()
    nasty = [
        "[" * 100_000 + "]" * 100_000,
        '{"Records": ' + "[" * 60_000 + "]" * 60_000 + "}",
        "9" * 20_000,
        "\x00" * 1000,
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}] * 500}),
    ]
    keys = ["between/one.png", "between/two.png"]
    etags = {}
    for body, key in zip(nasty, keys + [None] * 3):
        stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
        if key:
            etags[key] = stack.upload(key, media["small_png"])
    service, outcomes = collecting_service(stack.settings(pool=2))
    with RunningService(service):
        for key, etag in etags.items():
            wait_for(lambda: exists(stack, manifest_key(record(stack, key, etag))), timeout=90)
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == len(nasty), timeout=120)
    assert service.stats["poison_malformed_message"] >= len(nasty)
    assert service.stats["main_loop_errors"] == 0


def test_an_unexpected_error_in_the_main_loop_is_survived(stack, media):
    etag = stack.upload("survive.png", media["small_png"])
    service, outcomes = collecting_service(stack.settings())
    real, failures = service._observe, []

    def flaky():
        if len(failures) < 3:
            failures.append(1)
            raise RuntimeError("injected")
        real()

    service._observe = flaky
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "survive.png", etag))), timeout=90)
    assert service.stats["main_loop_errors"] == 3
    assert service.metrics.registry.get_sample_value("media_worker_main_loop_errors_total") == 3


def test_a_bad_record_is_copied_alone_to_the_dlq_and_the_good_one_is_processed(stack, media):
    stack.drain_test_event()
    etag = stack.upload("mixed/good.png", media["small_png"])
    good = json.loads(s3_event(stack, "mixed/good.png", etag))["Records"][0]
    foreign = {**good, "s3": {**good["s3"], "bucket": {"name": "somebody-else"}}}
    stack.sqs.send_message(
        QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"Records": [good, foreign]})
    )
    service, outcomes = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "mixed/good.png", etag))), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0), timeout=30)
    [copy] = dlq_messages(stack, 1)
    assert json.loads(copy["Body"]) == {"Records": [foreign]}
    assert copy["MessageAttributes"]["media-worker-reason"]["StringValue"] == "foreign_bucket"
    # (the upload's own S3 event is a second message: its job is the duplicate)
    assert (
        sorted(o.status for _, o in outcomes) == ["duplicate", "published"]
        and service.stats["bad_records"] == 1
    )


class VideoIsSlow(SlowSandbox):
    """Images run at once; a video job takes ``delay`` seconds first."""

    delay = 45.0

    def run(self, request):
        if request.spec.get("kind_hint") == "video":
            time.sleep(self.delay)
        return super(SlowSandbox, self).run(request)


def test_a_stalled_sqs_delete_holds_back_no_heartbeat_and_no_tick(stack, media, moto_endpoint):
    """A DeleteMessage that takes 40 s (over six visibility timeouts): the other job's lease keeps being
    extended on time, it is never redelivered, and the main loop keeps ticking (systemd's watchdog with it)."""
    stack.drain_test_event()
    proxy = FaultyProxy(moto_endpoint, 0.0).start()
    proxy.stall["DeleteMessage"] = (40.0, 1)
    sqs = boto3.client(
        "sqs",
        endpoint_url=proxy.endpoint,
        config=Config(
            read_timeout=60, max_pool_connections=8, retries={"mode": "standard", "max_attempts": 3}
        ),
    )
    slow_etag = stack.upload("stall/slow.mp4", media["clip"])
    quick_etag = stack.upload("stall/quick.png", media["small_png"])
    factory = functools.partial(JobRunner, sandbox_factory=VideoIsSlow)
    service, outcomes = collecting_service(
        stack.settings(pool=2, visibility_timeout=6), runner_factory=factory, sqs=sqs
    )
    ticks = record_ticks(service)
    try:
        with RunningService(service):
            wait_for(lambda: proxy.counts["stalled_DeleteMessage"] == 1, timeout=60)
            stalled_at, extensions = time.monotonic(), service.leases.extensions
            wait_for(
                lambda: exists(stack, manifest_key(record(stack, "stall/slow.mp4", slow_etag))), timeout=120
            )
            wait_for(lambda: stack.counts() == (0, 0), timeout=60)
    finally:
        proxy.close()
    assert exists(stack, manifest_key(record(stack, "stall/quick.png", quick_etag)))
    assert service.stats["redelivered_in_flight"] == 0
    assert sorted(o.status for _, o in outcomes) == ["published", "published"]
    # during the stall both leases (the stalled delete's too) were extended about every 3 s (half the timeout)
    assert service.leases.extensions - extensions >= 8 and service.leases.failed_extensions == 0
    during = [b - a for a, b in zip(ticks, ticks[1:]) if a >= stalled_at and b <= stalled_at + 40]
    assert during and max(during) < 5.0, max(during)  # far below the 40 s stall (TICK is 0.1 s)


def test_a_wedged_job_is_killed_at_its_host_side_deadline(stack, media):
    etag = stack.upload("wedged.mp4", media["clip"])
    factory = functools.partial(JobRunner, sandbox_factory=VideoIsSlow)
    service, outcomes = collecting_service(
        stack.settings(job_deadline=3, job_timeout=2, retry_backoff_base=30, retry_backoff_max=30),
        runner_factory=factory,
    )
    with RunningService(service):
        wait_for(lambda: outcomes, timeout=60)
        started = time.monotonic()
        wait_for(lambda: stack.counts() == (0, 1), timeout=10)  # backing off, not running
    assert [(o.status, o.reason) for _, o in outcomes] == [("retry", "job_deadline")]
    assert service.pool.deaths == 1 and time.monotonic() - started < 10
    assert not exists(stack, manifest_key(record(stack, "wedged.mp4", etag)))


def test_while_the_runtime_is_not_ready_no_message_is_taken(stack, media):
    stack.drain_test_event()
    etag = stack.upload("wait.png", media["small_png"])
    service, outcomes = collecting_service(stack.settings())
    problem = ["the engine does not answer"]
    service._runtime._check = lambda settings: problem[0]  # the one check /readyz and the receiver share
    with RunningService(service):
        time.sleep(3)
        assert stack.counts() == (1, 0) and outcomes == []  # still visible: no receive count burnt
        assert service.readiness() == "the engine does not answer"
        assert "NOT RECEIVING: the engine does not answer" in service._status_line()
        assert service.metrics.registry.get_sample_value("media_worker_receiving") == 0
        problem[0] = None
        wait_for(lambda: exists(stack, manifest_key(record(stack, "wait.png", etag))), timeout=90)
    assert service.stats["held_off"] >= 1
