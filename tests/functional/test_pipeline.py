"""The whole path through moto's HTTP server, the real pool and the process sandbox."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import time

import pytest
from botocore.exceptions import EndpointConnectionError

from tests.support.expect import video_outputs
from tests.support.fakes import FailingSandbox, SlowSandbox
from tests.support.pipeline import collecting_service, exists, read_json, record
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.job import JobRunner
from worker.child.keys import manifest_key, rejection_key
from worker.clients import sqs_client

pytestmark = pytest.mark.slow


def test_upload_is_published_with_a_manifest_and_the_message_deleted(stack, media):
    key = "in/my clip+1 ü.mp4"
    etag = stack.upload(key, media["clip"])
    mkey = manifest_key(record(stack, key, etag))
    service, outcomes = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: exists(stack, mkey))
        wait_for(lambda: stack.counts() == (0, 0))
    manifest = read_json(stack, mkey)
    assert manifest["source"]["key"] == key and manifest["source"]["etag"] == etag
    assert manifest["sniffed"]["mime"] == "video/mp4" and manifest["kind"] == "video"
    assert [o["name"] for o in manifest["outputs"]] == video_outputs("360p")
    for out in manifest["outputs"]:
        obj = stack.s3.get_object(Bucket=stack.resources.production_bucket, Key=out["key"])
        body = obj["Body"].read()
        assert obj["ContentType"] == out["content_type"]
        assert hashlib.sha256(body).hexdigest() == out["sha256"] and len(body) == out["size"]
    assert manifest["signature"] == "isobmff"
    assert set(manifest["timings"]) >= {
        "head",
        "signature",
        "download",
        "sandbox",
        "transcode",
        "media_probe",
        "media_verify",
        "container_start",
    }
    assert not exists(stack, key, stack.resources.temp_bucket), "temp object should be deleted"
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    assert service.stats["test_events"] == 1 and service.stats["jobs_published"] == 1
    assert os.listdir(stack.work_dir) == []


def test_bad_uploads_get_rejection_records_and_never_reach_the_dlq(stack, media):
    uploads = {
        "corrupt.mp4": media["corrupt"],
        "empty.mp4": b"",
        "elf.mp4": b"\x7fELF\x02\x01\x01" + bytes(500),
        "big.mp4": media["big"],
    }
    etags = {k: stack.upload(k, v) for k, v in uploads.items()}
    service, outcomes = collecting_service(stack.settings(max_file_size=os.path.getsize(media["big"]) - 1))
    with RunningService(service):
        for k, etag in etags.items():
            wait_for(lambda: exists(stack, rejection_key(record(stack, k, etag))))
        wait_for(lambda: stack.counts() == (0, 0))
    reasons = {k: read_json(stack, rejection_key(record(stack, k, e)))["reason"] for k, e in etags.items()}
    assert reasons == {
        "corrupt.mp4": "corrupt_media",
        "empty.mp4": "empty_file",
        "elf.mp4": "not_media",
        "big.mp4": "too_large",
    }
    doc = read_json(stack, rejection_key(record(stack, "corrupt.mp4", etags["corrupt.mp4"])))
    assert doc["source"]["key"] == "corrupt.mp4" and doc["message"]
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    assert stack.production_keys("media/") == []
    # rejected sources stay in the temp bucket for inspection; its lifecycle rule expires them
    assert exists(stack, "corrupt.mp4", stack.resources.temp_bucket)


def test_a_job_longer_than_the_visibility_timeout_stays_leased_and_is_deleted_only_after_publish(
    stack, media
):
    etag = stack.upload("long.mp4", media["clip"])
    mkey = manifest_key(record(stack, "long.mp4", etag))
    factory = functools.partial(JobRunner, sandbox_factory=SlowSandbox)  # sleeps 6 s, visibility is 2 s
    service, outcomes = collecting_service(stack.settings(visibility_timeout=2), runner_factory=factory)
    with RunningService(service):
        wait_for(lambda: service.pool.running)
        for _ in range(3):  # while it runs (past 2 s): leased (in flight), nothing published
            time.sleep(1.5)
            assert stack.counts() == (0, 1) and not exists(stack, mkey)
        wait_for(lambda: exists(stack, mkey), timeout=60)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [o.status for _, o in outcomes] == ["published"]
    assert read_json(stack, mkey)["job"]["receive_count"] == 1


def test_retryable_failures_back_off_then_reach_the_dlq(stack, media):
    etag = stack.upload("flaky.mp4", media["clip"])
    factory = functools.partial(JobRunner, sandbox_factory=FailingSandbox)
    service, outcomes = collecting_service(stack.settings(), runner_factory=factory)
    with RunningService(service):
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == 1, timeout=90)
    assert [o.reason for _, o in outcomes] == ["sandbox_error"] * 3
    assert [j.receive_count for j, _ in outcomes] == [1, 2, 3]
    assert not exists(stack, rejection_key(record(stack, "flaky.mp4", etag)))
    assert exists(stack, "flaky.mp4", stack.resources.temp_bucket), "nothing lost: the upload is still there"


def test_a_child_killed_mid_job_fails_only_that_job_which_is_retried_and_published_once(stack, media):
    etag = stack.upload("victim.mp4", media["clip"])
    mkey = manifest_key(record(stack, "victim.mp4", etag))
    factory = functools.partial(JobRunner, sandbox_factory=SlowSandbox)
    service, outcomes = collecting_service(stack.settings(pool=2), runner_factory=factory)
    with RunningService(service):
        pids = wait_for(lambda: service.pool.pids())
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        wait_for(lambda: exists(stack, mkey), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
        assert len(service.pool.pids()) == 0 and service.pool.idle == 2, "the dead child was replaced"
    assert [(o.status, o.reason) for _, o in outcomes] == [("retry", "worker_died"), ("published", None)]
    assert read_json(stack, mkey)["job"]["receive_count"] == 2
    assert len([k for k in stack.production_keys() if k.endswith("manifest.json")]) == 1
    assert os.listdir(stack.work_dir) == [], "the dead child's job directory was removed"


def test_duplicate_deliveries_make_one_set_of_outputs(stack, media):
    stack.drain_test_event()
    etag = stack.upload("dup.mp4", media["clip"])
    body = json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": stack.resources.temp_bucket},
                        "object": {"key": "dup.mp4", "eTag": etag},
                    },
                }
            ]
        }
    )
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
    service, outcomes = collecting_service(stack.settings(pool=2))
    with RunningService(service):
        wait_for(lambda: len(outcomes) == 3, timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
    statuses = sorted(o.status for _, o in outcomes)
    assert statuses.count("published") >= 1 and set(statuses) <= {"published", "duplicate"}
    mkey = manifest_key(record(stack, "dup.mp4", etag))
    attempt = read_json(stack, mkey)["job"]["attempt_id"]
    prefix = mkey.rsplit("/", 1)[0] + "/"
    # one set: the winner's outputs under its attempt prefix; whatever the other attempt uploaded is gone
    assert stack.production_keys() == sorted(
        [mkey, *(f"{prefix}{attempt}/{n}" for n in video_outputs("360p"))]
    )


def test_poison_messages_go_the_retry_way_to_the_dlq_and_the_loop_goes_on(stack, media):
    foreign = json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "someone-else"}, "object": {"key": "x.mp4"}},
                }
            ]
        }
    )
    for body in ("not json {", foreign):
        stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
    service, _ = collecting_service(stack.settings())
    with RunningService(service):
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == 2, timeout=90)
        etag = stack.upload("after.mp4", media["silent"])
        wait_for(lambda: exists(stack, manifest_key(record(stack, "after.mp4", etag))))
    assert service.stats["poison_malformed_message"] == 3 and service.stats["poison_foreign_bucket"] == 3
    assert service.stats["test_events"] == 1


def test_the_receive_loop_survives_sqs_errors(stack, media):
    client = sqs_client(1)
    failures = {"left": 9}  # botocore tries each call 3 times: 3 failed receives

    def inject(**kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise EndpointConnectionError(endpoint_url="http://injected")

    client.meta.events.register("before-send.sqs.ReceiveMessage", inject)
    etag = stack.upload("after-outage.mp4", media["silent"])
    service, _ = collecting_service(stack.settings(), sqs=client)
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "after-outage.mp4", etag))), timeout=90)
    assert failures["left"] == 0 and service.stats["receive_errors"] >= 2 and service.last_poll is not None


def test_children_are_recycled_after_max_jobs_and_nothing_is_lost(stack, media):
    etags = {k: stack.upload(k, media["mp3"]) for k in ("r1.mp3", "r2.mp3", "r3.mp3")}
    service, outcomes = collecting_service(stack.settings(max_jobs_per_child=1))
    with RunningService(service):
        for k, etag in etags.items():
            wait_for(lambda: exists(stack, manifest_key(record(stack, k, etag))), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
    assert service.pool.recycles >= 2 and service.pool.deaths == 0
    assert sorted(o.status for _, o in outcomes) == ["published"] * 3


def test_the_uploader_can_pick_a_profile_the_file_defines_by_metadata(stack, media):
    body = open(media["big"], "rb").read()
    picked = stack.s3.put_object(
        Bucket=stack.resources.temp_bucket, Key="meta/picked.mp4", Body=body, Metadata={"profile": "preview"}
    )["ETag"].strip('"')
    ignored = stack.s3.put_object(
        Bucket=stack.resources.temp_bucket,
        Key="meta/ignored.mp4",
        Body=body,
        Metadata={"profile": "no-such-profile"},
    )["ETag"].strip('"')
    service, _ = collecting_service(stack.settings(pool=2))
    with RunningService(service):
        for key, etag in (("meta/picked.mp4", picked), ("meta/ignored.mp4", ignored)):
            wait_for(lambda: exists(stack, manifest_key(record(stack, key, etag))), timeout=120)
    picked_doc = read_json(stack, manifest_key(record(stack, "meta/picked.mp4", picked)))
    ignored_doc = read_json(stack, manifest_key(record(stack, "meta/ignored.mp4", ignored)))
    assert picked_doc["profile"] == "preview" and ignored_doc["profile"] == "web"
    assert [o["name"] for o in picked_doc["outputs"]] == video_outputs("480p")
    assert [o["rendition"] for o in ignored_doc["outputs"] if o["kind"] == "video"] == [
        "1080p",
        "720p",
        "480p",
    ]
