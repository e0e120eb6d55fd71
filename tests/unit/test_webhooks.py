"""Signed webhooks against a local receiver over real HTTP: docs/OPERATIONS.md's verifier accepts the signature, a 5xx
is retried, a 4xx is not, a hanging receiver costs one bounded try; and how each target form is told apart."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.support.webhooks import HANG, SECRET, readme_verifier, webhook_receiver
from worker.child.outcome import Status
from worker.errors import PermanentError, RetryableError
from worker.parent.status_events import StatusEvents, status_event
from worker.parent.status_events import sender as sender_module
from worker.parent.status_events import webhook as webhook_module
from worker.parent.status_events.targets import EVENTBRIDGE, SNS, SQS, WEBHOOK, parse_targets
from worker.parent.status_events.webhook import SIGNATURE_HEADER, Webhook, signature


def event(n: int = 0) -> dict:
    return status_event(
        Status.PUBLISHED,
        source={"bucket": "t", "key": f"k{n}.mp4"},
        message_id="m",
        job_id=str(n),
        source_id=f"s{n}",
    )


def test_a_delivery_is_signed_and_the_readme_verifier_accepts_it_and_nothing_else():
    verify = readme_verifier()
    with webhook_receiver() as receiver:
        Webhook(receiver.url, (SECRET,))(event())
    (got,) = receiver.deliveries
    header = got.headers[SIGNATURE_HEADER]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert json.loads(got.body)["event_id"] == event()["event_id"] == got.headers["X-Media-Worker-Event-Id"]
    assert got.headers["Content-Type"] == "application/json" and got.path == "/hooks/media"
    assert verify(SECRET, header, got.body)
    assert not verify("whsec_another-secret-altogether", header, got.body)
    assert not verify(SECRET, header, got.body + b" ")
    stale = signature((SECRET,), int(time.time()) - 3600, got.body)
    assert not verify(SECRET, stale, got.body), "an old timestamp is refused (replay)"
    assert not verify(SECRET, "v1=" + header.split("v1=")[1], got.body), "no timestamp, no trust"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=",
        "t=²,v1=00",
        "t=1e9,v1=00",
        "t=12,t=13,v1=00",
        "garbage",
        f"t={int(time.time())},v1=é",
        "t=" + "9" * 40 + ",v1=00",
        ",,=,==",
    ],
)
def test_the_readme_verifier_refuses_hostile_headers_without_raising(header):
    assert readme_verifier()(SECRET, header, b"{}") is False


def test_a_webhook_url_token_never_reaches_an_error_message():
    with webhook_receiver(401) as receiver:
        url = receiver.url.replace("http://", "http://user:hunter2@") + "?token=s3cr3t"
        with pytest.raises(PermanentError) as refused:
            Webhook(url, (SECRET,))(event())
    with pytest.raises(RetryableError) as unreachable:
        Webhook(url, (SECRET,))(event())
    for exc in (refused.value, unreachable.value):
        assert "s3cr3t" not in str(exc) and "hunter2" not in str(exc) and "/hooks/media" in str(exc)


def test_while_a_secret_is_rotated_each_secret_signs():
    verify = readme_verifier()
    header = signature(("old-secret-0123456789", "new-secret-0123456789"), int(time.time()), b"{}")
    assert header.count("v1=") == 2
    assert verify("old-secret-0123456789", header, b"{}") and verify("new-secret-0123456789", header, b"{}")


@pytest.mark.parametrize(
    "status, error",
    [
        (500, RetryableError),
        (503, RetryableError),
        (429, RetryableError),
        (408, RetryableError),
        (400, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
        (302, PermanentError),
    ],
)
def test_what_an_answer_means(status, error):
    with webhook_receiver(status) as receiver, pytest.raises(error):
        Webhook(receiver.url, (SECRET,))(event())


def test_nobody_listening_is_retryable():
    with webhook_receiver() as receiver:
        url = receiver.url
    with pytest.raises(RetryableError):
        Webhook(url, (SECRET,))(event())


def test_a_hanging_receiver_costs_one_bounded_try(monkeypatch):
    import urllib3

    monkeypatch.setattr(webhook_module, "TIMEOUT", urllib3.Timeout(connect=1.0, read=0.5, total=1.0))
    with webhook_receiver(HANG) as receiver:
        started = time.monotonic()
        with pytest.raises(RetryableError):
            Webhook(receiver.url, (SECRET,))(event())
        assert time.monotonic() - started < 3


def test_a_500_then_200_is_delivered_once_retried_and_a_400_is_not_retried(monkeypatch):
    monkeypatch.setattr(sender_module, "FIRST_DELAY", 0.05)
    results = []
    with webhook_receiver(500, 200, 400) as receiver:
        events = StatusEvents(
            [("webhook:test", Webhook(receiver.url, (SECRET,)))],
            lambda target, result: results.append(result),
            retry_for=30,
        )
        events.emit(event(0))
        events.emit(event(1))
        events.close(timeout=10)
    ids = [json.loads(d.body)["event_id"] for d in receiver.deliveries]
    assert ids == [event(0)["event_id"], event(0)["event_id"], event(1)["event_id"]]
    assert results == ["retried", "sent", "failed"]


def test_each_target_form_is_told_apart():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    spec = (
        "arn:aws:sns:us-east-1:123456789012:media-events, https://sqs.eu-west-1.amazonaws.com/123/q,"
        "http://127.0.0.1:5000/123456789012/local-q,arn:aws:sqs:us-east-1:123456789012:events-q,"
        "arn:aws:events:us-east-1:123456789012:event-bus/media,https://hooks.example.com/media?token=x,"
        "http://127.0.0.1:8080/hook"
    )
    targets = parse_targets(spec, env)
    assert [t.kind for t in targets] == [SNS, SQS, SQS, SQS, EVENTBRIDGE, WEBHOOK, WEBHOOK]
    for queue in (
        "https://queue.amazonaws.com/123456789012/q",
        "https://sqs-fips.us-east-1.amazonaws.com/1/q",
        "https://sqs.us-east-1.api.aws/123456789012/q",
        "http://localhost:4566/000000000000/q",
        "https://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q",
    ):
        assert parse_targets(queue, {})[0].kind == SQS, queue
    assert [t.label for t in targets] == [
        "sns:media-events",
        "sqs:q",
        "sqs:local-q",
        "sqs:events-q",
        "eventbridge:media",
        "webhook:hooks.example.com/media",
        "webhook:127.0.0.1:8080/hook",
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "http://hooks.example.com/media",
        "ftp://x/y",
        "arn:aws:s3:::bucket",
        "arn:aws:events:us-east-1:1:rule/r",
        "queue-name",
        "https://a.example/h,https://a.example/h",
    ],
)
def test_a_target_that_is_none_of_the_forms_is_refused(spec):
    with pytest.raises(ValueError):
        parse_targets(spec, {})
