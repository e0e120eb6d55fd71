"""Issue 12: overwrites, concurrent writers, exhaustion per version and true status events — against moto's
server over HTTP, the real pool and the process sandbox (fakes only at the sandbox seam, which we own)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import threading

import pytest
from botocore.stub import Stubber

from tests.support.envelopes import s3_event
from tests.support.fakes import ScriptedSandbox, SlowSandbox
from tests.support.pipeline import collecting_service, exists, read_json, record
from tests.support.service import RunningService
from tests.support.stack import Stack, fresh_stack
from tests.support.status_queues import drain_events, events_queue
from tests.support.waiting import wait_for
from worker.child.endings import Endings
from worker.child.job import Job, JobRunner
from worker.child.keys import exhaustion_key, manifest_key, rejection_key, version_prefix
from worker.child.outcome import Status
from worker.child.publish import Publisher
from worker.child.storage import Storage
from worker.clients import s3_client
from worker.errors import PermanentError, Reason, RetryableError
from worker.s3events.parse import SourceRecord
from worker.sandbox.process import ProcessSandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def unversioned_stack(moto_endpoint: str, tmp_path) -> Stack:
    """A stack whose temp bucket is not versioned: deletes are pinned by If-Match instead."""
    return fresh_stack(tmp_path, "u", versioned=False)


def hold_next_message(stack: Stack) -> dict:
    """Take the next message off the queue for a while: its event arrives 'late'."""
    (message,) = stack.sqs.receive_message(
        QueueUrl=stack.resources.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=2, VisibilityTimeout=600
    )["Messages"]
    return message


def use_up_receives(stack: Stack, count: int) -> None:
    """Receive the next message ``count`` times and give it back at once: its receive count grows."""
    for _ in range(count):
        message = hold_next_message(stack)
        stack.sqs.change_message_visibility(
            QueueUrl=stack.resources.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


@pytest.mark.parametrize("which", ["versioned", "unversioned"])
def test_a_late_duplicate_of_an_old_version_never_deletes_the_newer_upload(request, which, media):
    stack = request.getfixturevalue("stack" if which == "versioned" else "unversioned_stack")
    stack.drain_test_event()
    v1 = stack.upload("a.mp4", media["clip"])
    service, _ = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "a.mp4", v1))))
        wait_for(lambda: stack.counts() == (0, 0))
    v2 = stack.upload("a.mp4", media["silent"])  # the user uploads the key again
    v2_event = hold_next_message(stack)
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=s3_event(stack, "a.mp4", v1))
    service, outcomes = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: len(outcomes) == 1)
        assert outcomes[0][1].status == Status.DUPLICATE
        head = stack.s3.head_object(Bucket=stack.resources.temp_bucket, Key="a.mp4")
        assert head["ETag"].strip('"') == v2, "the newer upload is still there"
        stack.sqs.change_message_visibility(
            QueueUrl=stack.resources.queue_url, ReceiptHandle=v2_event["ReceiptHandle"], VisibilityTimeout=0
        )
        wait_for(lambda: exists(stack, manifest_key(record(stack, "a.mp4", v2))), timeout=60)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [o.status for _, o in outcomes] == [Status.DUPLICATE, Status.PUBLISHED]
    assert not exists(stack, rejection_key(record(stack, "a.mp4", v2)))
    kept = service.metrics.source_deletes.labels("kept")._value.get()
    # the duplicate names v1 by its ETag (as moto's events do): If-Match refuses to delete v2
    assert kept == 1, "a refused conditional delete is counted, not an error"


def test_provision_versions_the_temp_bucket_and_expires_what_is_left(stack):
    s3, res = stack.s3, stack.resources
    assert s3.get_bucket_versioning(Bucket=res.temp_bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=res.temp_bucket)["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    assert any(r.get("Expiration", {}).get("ExpiredObjectDeleteMarker") for r in rules)
    prod = s3.get_bucket_lifecycle_configuration(Bucket=res.production_bucket)["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1 for r in prod)
    assert any(r.get("Filter", {}).get("Prefix") == "state/" and "Expiration" in r for r in prod)


class BarrierSandbox(ProcessSandbox):
    """The real process runtime; then every attempt waits for the others, so they publish at the same time."""

    barrier: threading.Barrier | None = None

    def run(self, request):
        result = super().run(request)
        assert self.barrier is not None
        self.barrier.wait(timeout=60)
        return result


def test_two_attempts_of_one_version_publish_one_consistent_set(stack, media):
    etag = stack.upload("race.mp4", media["clip"])
    rec = record(stack, "race.mp4", etag)
    BarrierSandbox.barrier = threading.Barrier(2)
    settings = stack.settings()
    runners = [JobRunner(settings, sandbox_factory=BarrierSandbox) for _ in range(2)]
    outcomes: list = [None, None]

    def attempt(i: int) -> None:
        outcomes[i] = runners[i](Job(f"attempt{i}", f"m{i}", 1, rec))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(o.status for o in outcomes) == [Status.DUPLICATE, Status.PUBLISHED], outcomes
    manifest = read_json(stack, manifest_key(rec))
    winner = next(o for o in outcomes if o.status == Status.PUBLISHED).job_id
    assert manifest["job"]["attempt_id"] == winner
    stored = set(stack.production_keys(version_prefix(rec)))
    assert stored == {o["key"] for o in manifest["outputs"]} | {manifest_key(rec)}, (
        "the loser removed its own"
    )
    for out in manifest["outputs"]:
        body = stack.s3.get_object(Bucket=stack.resources.production_bucket, Key=out["key"])["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (out["size"], out["sha256"])


def test_a_retried_manifest_put_that_meets_its_own_first_put_still_wins(stack):
    rec = record(stack, "own.mp4", "e1")
    store = Storage(stack.s3, stack.resources.production_bucket)
    key = version_prefix(rec) + "att1/poster.jpg"
    stack.s3.put_object(Bucket=stack.resources.production_bucket, Key=key, Body=b"x")
    manifest = {"outputs": [{"key": key}], "job": {"attempt_id": "att1"}}
    publisher = Publisher(store)
    assert publisher.claim(rec, "att1", manifest).won
    assert publisher.claim(rec, "att1", manifest).won, "a 412 for our own write is a win"
    lost = publisher.claim(rec, "att2", {"outputs": [], "job": {"attempt_id": "att2"}})
    assert not lost.won and lost.winner == "att1"
    assert exists(stack, key), "the winner's objects are never removed"


def test_strays_of_a_killed_attempt_are_swept_once_the_version_is_published(stack, media):
    stack.drain_test_event()
    etag = stack.upload("strays.mp4", media["clip"])
    rec = record(stack, "strays.mp4", etag)
    stray = version_prefix(rec) + "deadbeef0000/video_360p.mp4"  # what a child killed mid-upload leaves
    stack.s3.put_object(Bucket=stack.resources.production_bucket, Key=stray, Body=b"half")
    service, _ = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(rec)))
        wait_for(lambda: stack.counts() == (0, 0))
    manifest = read_json(stack, manifest_key(rec))
    assert set(stack.production_keys(version_prefix(rec))) == {o["key"] for o in manifest["outputs"]} | {
        manifest_key(rec)
    }


def test_duplicate_deliveries_send_one_published_event_id(stack, media):
    stack.drain_test_event()
    target = events_queue(stack, "dup-events")
    etag = stack.upload("dupev.mp4", media["clip"])
    for _ in range(2):
        stack.sqs.send_message(
            QueueUrl=stack.resources.queue_url, MessageBody=s3_event(stack, "dupev.mp4", etag)
        )
    service, outcomes = collecting_service(stack.settings(pool=2, status_target=target))
    with RunningService(service):
        wait_for(lambda: len(outcomes) == 3, timeout=90)
        events = drain_events(stack, target, 3)
    assert sorted(o.status for _, o in outcomes).count(Status.PUBLISHED) == 1
    published = [e for e in events if e["type"] == "published"]
    assert len(published) == 3, "every duplicate re-announces (at least once)"
    assert len({e["event_id"] for e in published}) == 1, "one event id per published version"


def test_exhaustion_is_counted_per_version_not_per_receive(stack, media, tmp_path):
    stack.drain_test_event()
    etag = stack.upload("heavy.mp4", media["clip"])
    script = ["sandbox_error", "sandbox_timeout", "sandbox_timeout"]  # a hiccup first: no exhaustion yet
    factory = functools.partial(
        JobRunner,
        sandbox_factory=functools.partial(ScriptedSandbox, script=script, counter=str(tmp_path / "calls")),
    )
    service, outcomes = collecting_service(stack.settings(), runner_factory=factory)
    rec = record(stack, "heavy.mp4", etag)
    with RunningService(service):
        wait_for(lambda: exists(stack, rejection_key(rec)), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [(o.status, o.reason) for _, o in outcomes] == [
        ("retry", "sandbox_error"),
        ("retry", "sandbox_timeout"),
        ("rejected", "timeout_repeated"),
    ]
    assert read_json(stack, exhaustion_key(rec))["reason"] == "sandbox_timeout"
    assert stack.counts(stack.resources.dlq_url) == (0, 0)


def test_dead_lettered_is_sent_only_for_the_record_that_failed(stack, media):
    stack.drain_test_event()
    target = events_queue(stack, "dl-events")
    good, bad = (
        stack.upload("multi/clip.mp4", media["clip"]),
        stack.upload("multi/pic.png", media["small_png"]),
    )
    records = [
        json.loads(s3_event(stack, k, e))["Records"][0]
        for k, e in (("multi/clip.mp4", good), ("multi/pic.png", bad))
    ]
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"Records": records}))
    factory = functools.partial(
        JobRunner, sandbox_factory=functools.partial(ScriptedSandbox, fail_kind="image")
    )
    service, outcomes = collecting_service(stack.settings(status_target=target), runner_factory=factory)
    with RunningService(service):
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == 1, timeout=90)
        events = drain_events(stack, target, 4)  # published, re-announced on receives 2 and 3, dead_lettered
    dead = [e for e in events if e["type"] == "dead_lettered"]
    # (moto may hand the message out once more at its last count before moving it: one event per such receive)
    assert {e["source"]["key"] for e in dead} == {"multi/pic.png"}, [
        (j.receive_count, o.status) for j, o in outcomes
    ]
    assert dead[0]["reason"] == "sandbox_error"
    published = [e for e in events if e["type"] == "published"]
    assert {e["source"]["key"] for e in published} == {"multi/clip.mp4"}
    assert len({e["event_id"] for e in published}) == 1


def test_a_drain_release_on_the_last_allowed_receive_never_sends_the_message_to_the_dlq(stack, media):
    stack.drain_test_event()
    etag = stack.upload("drained.mp4", media["clip"])
    use_up_receives(stack, 2)  # the worker's receive will be the last one the redrive policy allows
    factory = functools.partial(JobRunner, sandbox_factory=SlowSandbox)
    service, outcomes = collecting_service(stack.settings(drain_timeout=0), runner_factory=factory)
    with RunningService(service):
        wait_for(lambda: service.pool.running, timeout=30)
    assert outcomes[0][0].receive_count == 3 and outcomes[0][1].reason == "shutdown"
    assert service.stats["resent"] == 1
    assert stack.counts(stack.resources.dlq_url) == (0, 0), "a drain is never the upload's fault"
    service, outcomes = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "drained.mp4", etag))), timeout=60)
    assert [o.status for _, o in outcomes] == [Status.PUBLISHED] and outcomes[0][0].receive_count == 1
    assert stack.counts(stack.resources.dlq_url) == (0, 0)


def test_a_403_on_the_pinned_head_names_the_missing_permission():
    s3 = s3_client()
    stub = Stubber(s3)
    stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    with stub:
        with pytest.raises(RetryableError) as info:
            Storage(s3, "prod").head_source(record_of("temp", "gone.mp4"))
    assert info.value.reason is Reason.S3_ACCESS_DENIED and "s3:ListBucket" in info.value.message


def record_of(bucket: str, key: str) -> SourceRecord:
    return SourceRecord(bucket, key, None, "e", None, "ObjectCreated:Put")


@pytest.mark.parametrize("which", ["versioned", "unversioned"])
def test_the_source_delete_removes_only_the_processed_version(request, which, media):
    stack = request.getfixturevalue("stack" if which == "versioned" else "unversioned_stack")
    v1 = stack.upload("d.mp4", b"first upload")
    v2 = stack.upload("d.mp4", b"second upload")
    first = SourceRecord(
        stack.resources.temp_bucket,
        "d.mp4",
        None,
        v1,
        stack.versions[("d.mp4", v1)] if which == "versioned" else None,
        "ObjectCreated:Put",
    )
    deleted = Storage(stack.s3, stack.resources.production_bucket).delete_source(first, v1)
    assert deleted is (which == "versioned"), "unversioned: If-Match refuses, the newer upload stays"
    head = stack.s3.head_object(Bucket=stack.resources.temp_bucket, Key="d.mp4")
    assert head["ETag"].strip('"') == v2
    if which == "versioned":
        versions = stack.s3.list_object_versions(Bucket=stack.resources.temp_bucket, Prefix="d.mp4")[
            "Versions"
        ]
        assert [v["ETag"].strip('"') for v in versions] == [v2], "exactly v1 was removed"


class RacyStorage(Storage):
    """Storage (ours) where another attempt's write lands between this attempt's check and its own write."""

    def __init__(self, s3, bucket: str, lands: dict[str, tuple[str, dict]]) -> None:
        super().__init__(s3, bucket)
        self._lands = lands  # our key → (the other attempt's key, its document)

    def create_json(self, key, doc):
        if key in self._lands:
            other_key, other_doc = self._lands.pop(key)
            super().create_json(other_key, other_doc)
        return super().create_json(key, doc)


def test_a_rejection_racing_a_publish_leaves_the_version_published_only(stack):
    rec = record(stack, "both.mp4", "e1")
    store = RacyStorage(
        stack.s3,
        stack.resources.production_bucket,
        {manifest_key(rec): (rejection_key(rec), {"reason": "timeout_repeated"})},
    )
    assert Publisher(store).claim(rec, "att1", {"outputs": [], "job": {"attempt_id": "att1"}}).won
    assert exists(stack, manifest_key(rec)) and not exists(stack, rejection_key(rec))

    rec2 = record(stack, "both2.mp4", "e2")
    racy = RacyStorage(
        stack.s3,
        stack.resources.production_bucket,
        {rejection_key(rec2): (manifest_key(rec2), {"outputs": [], "job": {}})},
    )
    endings = Endings(stack.settings(), racy, Publisher(racy))
    outcome = endings.reject(Job("j", "m", 1, rec2), PermanentError(Reason.TIMEOUT_REPEATED, "again"), {})
    assert (outcome.status, outcome.announce) == (Status.DUPLICATE, Status.PUBLISHED)
    assert exists(stack, manifest_key(rec2)) and not exists(stack, rejection_key(rec2))


def test_a_child_killed_on_the_last_allowed_receive_is_resent_not_dead_lettered(stack, media):
    stack.drain_test_event()
    etag = stack.upload("oom-killed.mp4", media["clip"])
    use_up_receives(stack, 2)
    factory = functools.partial(JobRunner, sandbox_factory=SlowSandbox)
    service, outcomes = collecting_service(stack.settings(pool=1), runner_factory=factory)
    with RunningService(service):
        pids = wait_for(lambda: service.pool.pids(), timeout=30)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # as the host's OOM killer would
        wait_for(lambda: exists(stack, manifest_key(record(stack, "oom-killed.mp4", etag))), timeout=90)
    assert [(j.receive_count, o.reason) for j, o in outcomes][:1] == [(3, "worker_died")]
    assert outcomes[-1][1].status == Status.PUBLISHED and outcomes[-1][0].receive_count == 1
    assert service.stats["resent"] == 1 and stack.counts(stack.resources.dlq_url) == (0, 0)
