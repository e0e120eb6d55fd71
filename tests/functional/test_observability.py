"""Running it for real: /metrics (checked by promtool), /healthz and /readyz, status events to SQS and SNS,
JSON log lines, and systemd's notify protocol over a real unix socket."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.support.fakes import FailingSandbox
from tests.support.pipeline import collecting_service, exists, record
from tests.support.service import RunningService
from tests.support.status_queues import drain_events, events_queue
from tests.support.waiting import free_port_for_test, wait_for
from tests.support.workers import log_text, start_worker
from worker import __version__
from worker.child.job import JobRunner
from worker.child.keys import manifest_key
from worker.clients import sns_client
from worker.parent.metrics import Metrics

pytestmark = pytest.mark.slow


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def http_get_or_none(url: str) -> tuple[int, str] | None:
    """None while nothing listens yet."""
    try:
        return http_get(url)
    except urllib.error.URLError:
        return None


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head == name or head == f"{name}{{{want}}}":
            return float(value)
    return 0.0


def test_metrics_health_and_readiness_of_a_working_service(stack, media):
    port = free_port_for_test()
    etag = stack.upload("obs/clip.mp4", media["clip"])
    stack.upload("obs/empty.mp4", b"")
    service, outcomes = collecting_service(stack.settings(metrics_port=port, metrics_host="127.0.0.1"))
    base = f"http://127.0.0.1:{port}"
    with RunningService(service):
        wait_for(lambda: http_get_or_none(base + "/healthz") == (200, "ok\n"))
        wait_for(lambda: len(outcomes) == 2, timeout=90)
        wait_for(lambda: http_get(base + "/readyz")[0] == 200)
        # the S3 test event and the two uploads
        wait_for(lambda: sample(http_get(base + "/metrics")[1], "media_worker_messages_deleted_total") == 3)
        wait_for(lambda: sample(http_get(base + "/metrics")[1], "media_worker_empty_polls_total") >= 1)
        status, text = http_get(base + "/metrics")
        assert http_get(base + "/nothing")[0] == 404
    assert exists(stack, manifest_key(record(stack, "obs/clip.mp4", etag)))
    assert status == 200
    assert sample(text, "media_worker_jobs_total", outcome="published", reason="") == 1
    assert sample(text, "media_worker_jobs_total", outcome="rejected", reason="empty_file") == 1
    size = os.path.getsize(media["clip"])
    assert sample(text, "media_worker_input_bytes_total") == size
    assert sample(text, "media_worker_output_bytes_total") > 0
    for stage in ("download", "validate", "container_start", "transcode", "upload", "total"):
        assert sample(text, "media_worker_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert sample(text, "media_worker_messages_received_total") >= 3  # the S3 test event, and two uploads
    assert sample(text, "media_worker_empty_polls_total") >= 1
    assert sample(text, "media_worker_pool_size") == 1
    assert sample(text, "media_worker_last_successful_poll_timestamp_seconds") > 1.7e9
    assert sample(text, "media_worker_build_info", version=__version__) == 1
    assert sample(text, "media_worker_queue_messages", queue="dlq", state="visible") == 0
    # Prometheus's own linter accepts every name, type and help text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check


def test_not_ready_until_a_poll_succeeds():
    from worker.parent.service import Service
    from worker.settings import load_settings

    settings = load_settings(
        {
            "queue_url": "http://127.0.0.1:9/q",
            "temp_bucket": "t",
            "production_bucket": "p",
            "runtime": "process",
            "metrics_port": 0,
        },
        environ={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    service = Service(settings, sqs=object())
    assert service.readiness() == "no successful SQS poll yet"
    service.receiver.last_poll = 0.0
    assert service.readiness().startswith("no successful SQS poll for")


def test_lease_and_pool_totals_reach_the_counters():
    metrics = Metrics()
    metrics.sync_totals(deaths=2, recycles=1, extensions=5, failed_extensions=0)
    metrics.sync_totals(deaths=3, recycles=1, extensions=5, failed_extensions=1)
    values = {m.name: m.samples[0].value for m in metrics.registry.collect() if m.samples}
    assert (
        values["media_worker_child_deaths"],
        values["media_worker_child_recycles"],
        values["media_worker_lease_extensions"],
        values["media_worker_lease_extension_failures"],
    ) == (3, 1, 5, 1)


def test_status_events_for_published_rejected_and_dead_lettered(stack, media):
    target = events_queue(stack, "events")
    stack.upload("ev/clip.mp4", media["clip"])
    stack.upload("ev/empty.mp4", b"")
    service, _ = collecting_service(stack.settings(status_target=target))
    with RunningService(service):
        events = drain_events(stack, target, 2)
    by_type = {e["type"]: e for e in events}
    assert set(by_type) == {"published", "rejected"}
    assert by_type["published"]["source"]["key"] == "ev/clip.mp4" and by_type["published"]["key"].endswith(
        "manifest.json"
    )
    assert (
        by_type["rejected"]["reason"] == "empty_file"
        and by_type["rejected"]["source"]["key"] == "ev/empty.mp4"
    )
    assert len({e["event_id"] for e in events}) == 2 and all(e["message_id"] for e in events)

    stack.upload(
        "ev/flaky.mp4", media["clip"]
    )  # fails every time: after the 3rd receive it leaves for the DLQ
    factory = functools.partial(JobRunner, sandbox_factory=FailingSandbox)
    service, outcomes = collecting_service(stack.settings(status_target=target), runner_factory=factory)
    with RunningService(service):
        (dead,) = drain_events(stack, target, 1)
    assert [j.receive_count for j, _ in outcomes] == [1, 2, 3]
    assert (dead["type"], dead["reason"], dead["source"]["key"]) == (
        "dead_lettered",
        "sandbox_error",
        "ev/flaky.mp4",
    )


def test_status_events_through_sns(stack, media):
    sns = sns_client()
    topic = sns.create_topic(Name=f"{stack.resources.temp_bucket}-status")["TopicArn"]
    inbox = events_queue(stack, "sns-inbox")
    inbox_arn = stack.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )
    stack.upload("sns/empty.mp4", b"")
    service, _ = collecting_service(stack.settings(status_target=topic))
    with RunningService(service):
        (event,) = drain_events(stack, inbox, 1)
    assert (event["type"], event["reason"], event["source"]["key"]) == (
        "rejected",
        "empty_file",
        "sns/empty.mp4",
    )
    label = f"sns:{stack.resources.temp_bucket}-status"
    assert service.status.labels == [label]
    assert service.metrics.status_events.labels(label, "sent")._value.get() == 1


def test_an_unreachable_event_target_never_stops_the_pipeline(stack, media):
    etag = stack.upload("lost/clip.mp4", media["clip"])
    settings = stack.settings(
        status_target="http://127.0.0.1:9/no-one-listens",
        status_retry_seconds=2,
        webhook_secret="a-secret-of-16-chars-or-more",
    )
    service, outcomes = collecting_service(settings)
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "lost/clip.mp4", etag))), timeout=90)
        wait_for(lambda: stack.counts() == (0, 0))
        failed = service.metrics.status_events.labels("webhook:127.0.0.1:9/no-one-listens", "failed")
        wait_for(lambda: failed._value.get() == 1, timeout=30)
    assert service.metrics.status_retries.labels("webhook:127.0.0.1:9/no-one-listens")._value.get() >= 1


def test_logs_are_json_lines_with_the_job_fields_when_not_on_a_terminal(stack, media):
    stack.upload("logs/clip.mp4", media["clip"])
    proc, log = start_worker(stack)
    try:
        wait_for(lambda: '"published"' in log_text(log), timeout=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    records = [json.loads(line) for line in log_text(log).splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    done = [r for r in records if r.get("outcome") == "published"]
    assert done and done[0]["key"] == "logs/clip.mp4" and done[0]["job_id"] and done[0]["message_id"]
    assert done[0]["bucket"] == stack.resources.temp_bucket


def test_systemd_hears_ready_status_watchdog_and_stopping(stack, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    proc, log = start_worker(stack, environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    seen = []
    try:
        while not any("WATCHDOG=1" in d for d in seen) or not any(d.startswith("READY=1") for d in seen):
            seen.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        while not any("STOPPING=1" in d for d in seen):
            seen.append(sock.recv(4096).decode())
        assert proc.wait(timeout=60) == 0, log_text(log)
    finally:
        proc.kill()
        sock.close()
    ready = next(d for d in seen if d.startswith("READY=1"))
    assert "STATUS=0/1 jobs running" in ready
    assert seen.index(ready) < seen.index(next(d for d in seen if "WATCHDOG=1" in d))
