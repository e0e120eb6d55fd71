"""Hostile uploads through the full pipeline (Docker runtime, moto's HTTP server): every case ends as expected."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.support.corpus import LOCAL_SECRET, corpus
from tests.support.pipeline import collecting_service, exists, read_json, record
from tests.support.sandboxes import our_containers
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.keys import manifest_key, rejection_key

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LIMIT = 300_000


def test_the_adversarial_corpus(stack, docker, sandbox_settings, tmp_path):
    stack.drain_test_event()
    cases = corpus(str(tmp_path), LIMIT)
    etags = {c.key: stack.upload(c.key, c.body) for c in cases}
    # poison messages and a message of 100 records ride along
    foreign = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "not-ours"}, "object": {"key": "x.mp4"}},
            }
        ]
    }
    for body in ("{not json", json.dumps({"Records": [{"junk": 1}]}), json.dumps(foreign)):
        stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)
    hundred = [
        {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": stack.resources.temp_bucket},
                "object": {"key": f"batch/missing-{i}.png"},
            },
        }
        for i in range(100)
    ]
    stack.sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=json.dumps({"Records": hundred}))

    # the docker runtime with warm sandboxes (the default), on runc and on gVisor's runsc
    settings = stack.settings(
        runtime="docker",
        pool=2,
        max_file_size=LIMIT,
        sandbox_oci_runtime=sandbox_settings.sandbox_oci_runtime,
    )
    service, outcomes = collecting_service(settings)
    with RunningService(service):

        def settled():
            return all(
                exists(stack, manifest_key(record(stack, c.key, etags[c.key])))
                or exists(stack, rejection_key(record(stack, c.key, etags[c.key])))
                for c in cases
            )

        wait_for(settled, timeout=300, interval=1)
        wait_for(lambda: stack.counts(stack.resources.dlq_url)[0] == 3, timeout=120)
        wait_for(lambda: stack.counts() == (0, 0), timeout=60)
        assert time.time() - service.last_poll < 10, "the worker is still polling"

    wrong = []
    for case in cases:
        rec = record(stack, case.key, etags[case.key])
        published, rejected = exists(stack, manifest_key(rec)), exists(stack, rejection_key(rec))
        if published == rejected:
            wrong.append((case.key, "published and rejected" if published else "neither"))
            continue
        if case.outcome == "published" and not published:
            wrong.append((case.key, "rejected: " + read_json(stack, rejection_key(rec))["reason"]))
        if case.outcome == "rejected":
            reason = read_json(stack, rejection_key(rec))["reason"] if rejected else "published"
            allowed = case.reason if isinstance(case.reason, tuple) else (case.reason,)
            if reason not in allowed:
                wrong.append((case.key, f"{reason}, expected {allowed}"))
    assert not wrong, wrong

    # no output holds local file content; no key carries any part of a source key (the source id comes first)
    layout = re.compile(
        r"^(media/[0-9a-f]{16}/(manifest\.json|[0-9a-f]{12}/[a-z0-9_.-]+)|rejected/[0-9a-f]{16}\.json)$"
    )
    for key in stack.production_keys():
        assert layout.match(key), key
        if key.startswith("media/") and not key.endswith(".json"):
            body = stack.s3.get_object(Bucket=stack.resources.production_bucket, Key=key)["Body"].read()
            assert LOCAL_SECRET not in body, key
    escape = next(c for c in cases if c.key.startswith("../"))
    assert exists(stack, manifest_key(record(stack, escape.key, etags[escape.key]))), (
        "a '../' key is just a key"
    )
    # the 100-record message: every record got its own recorded outcome, the message was deleted once
    missing = [f"batch/missing-{i}.png" for i in range(100)]
    assert all(exists(stack, rejection_key(record(stack, key, None))) for key in missing)
    # rejected uploads never went the retry way
    assert not [o for _, o in outcomes if o.status == "retry"]
    assert stack.counts(stack.resources.dlq_url)[0] == 3, "only the three poison messages are dead-lettered"
    assert our_containers(docker) == [], "no sandbox left, warm ones included"
