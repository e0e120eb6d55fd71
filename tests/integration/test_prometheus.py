"""A real Prometheus server (Debian's) scrapes a running worker and evaluates the shipped alert rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from tests.support.pipeline import collecting_service, exists, record
from tests.support.service import RunningService
from tests.support.waiting import free_port_for_test, wait_for
from worker.child.keys import manifest_key

pytestmark = [pytest.mark.slow]
ALERTS = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "prometheus", "alerts.yml")


@pytest.fixture
def prometheus(tmp_path):
    """Start ``prometheus`` scraping whatever port the test names; yield (query function, worker port)."""
    worker_port, web_port = free_port_for_test(), free_port_for_test()
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {  # JSON is YAML
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["alerts.yml"],
                "scrape_configs": [
                    {
                        "job_name": "media-worker",
                        "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
                    }
                ],
            }
        )
    )
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def api(path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{web_port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())["data"]

    try:
        wait_for(lambda: _answers(api), timeout=60)
        yield api, worker_port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _answers(api) -> bool:
    try:
        api("query", query="1")
        return True
    except OSError:
        return False


def value(api, query: str) -> float | None:
    result = api("query", query=query)["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_worker_and_evaluates_the_alerts(stack, media, prometheus):
    api, port = prometheus
    stack.sqs.send_message(QueueUrl=stack.resources.dlq_url, MessageBody="left over")  # the DLQ alert's input
    etag = stack.upload("prom/clip.mp4", media["clip"])
    service, _ = collecting_service(stack.settings(metrics_port=port, metrics_host="127.0.0.1"))
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "prom/clip.mp4", etag))), timeout=90)
        wait_for(lambda: value(api, 'sum(media_worker_jobs_total{outcome="published"})') == 1, timeout=60)
        assert value(api, 'up{job="media-worker"}') == 1
        assert value(api, "media_worker_pool_size") == 1
        assert value(api, 'media_worker_queue_messages{queue="dlq",state="visible"}') == 1
        assert value(api, 'media_worker_stage_duration_seconds_count{stage="total"}') == 1
        wait_for(lambda: _alert_state(api, "MediaWorkerDLQNotEmpty") == "pending", timeout=60)
    groups = api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 7 and all(r["health"] == "ok" for r in rules), [
        (r["name"], r.get("lastError")) for r in rules
    ]
    assert _alert_state(api, "MediaWorkerNoSuccessfulPoll") == "inactive"


def _alert_state(api, name: str) -> str | None:
    for group in api("rules")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return rule["state"]
    return None
