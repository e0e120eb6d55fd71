"""The region resolver: boto3's own, else AWS_REGION, else IMDSv2 (a fake on 127.0.0.1), else a clear error."""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest

from tests.support.imds import REGION_PATH, TOKEN_PATH, FakeIMDS
from worker.region import NO_REGION, RegionError, ensure_region, instance_region

# botocore's own variable name; pointing it at a closed loopback port means even a mistake never leaves the host.
CLOSED_ENDPOINT = "http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def no_region(tmp_path, monkeypatch):
    """No region anywhere, no config file, IMDS off (and aimed at loopback); os.environ restored afterwards,
    AWS_DEFAULT_REGION included, which ensure_region writes."""
    saved = dict(os.environ)
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", CLOSED_ENDPOINT)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def imds(monkeypatch):
    """The fake IMDSv2, enabled and pointed at."""
    with FakeIMDS("ap-southeast-2") as fake:
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.endpoint)
        yield fake


def client_region() -> str:
    return (
        boto3.session.Session()
        .client("sqs", aws_access_key_id="x", aws_secret_access_key="y")
        .meta.region_name
    )


def test_aws_region_alone_is_used_and_handed_to_boto3(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert boto3.session.Session().region_name is None  # the bug: boto3 alone does not read it
    assert ensure_region() == "eu-west-1"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert client_region() == "eu-west-1"


def test_boto3s_own_region_wins_over_aws_region_and_imds(monkeypatch, imds):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert ensure_region() == "us-west-2"
    assert imds.requests == []


def test_the_config_files_region_counts_as_boto3s_own(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert ensure_region() == "eu-central-1"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-central-1"


def test_aws_region_wins_over_imds(monkeypatch, imds):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert ensure_region() == "eu-west-1"
    assert imds.requests == []


def test_with_neither_the_instance_metadata_gives_it_over_imdsv2(imds):
    assert ensure_region() == "ap-southeast-2"
    assert os.environ["AWS_DEFAULT_REGION"] == "ap-southeast-2"
    assert client_region() == "ap-southeast-2"
    # a session token first, then the region asked with it (never IMDSv1)
    assert imds.requests == [("PUT", TOKEN_PATH, False), ("GET", REGION_PATH, True)]


def test_a_local_zone_instance_gets_its_parent_region_not_a_cut_zone_name(imds):
    imds.region = "us-west-2"  # its zone is us-west-2-lax-1a: dropping the last letter gives no region
    assert instance_region() == "us-west-2"


def test_imds_disabled_means_it_is_never_asked(monkeypatch, imds):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RegionError):
        ensure_region()
    assert imds.requests == []


def test_an_imds_answer_that_is_no_region_is_refused(imds):
    imds.region = "<html>captive portal</html>"
    assert instance_region() is None


def test_no_region_anywhere_is_an_error_naming_all_three_ways():
    with pytest.raises(RegionError) as info:
        ensure_region()
    assert str(info.value) == NO_REGION
    for way in ("AWS_REGION", "AWS_DEFAULT_REGION", "instance metadata"):
        assert way in NO_REGION
    assert "AWS_DEFAULT_REGION" not in os.environ


def test_no_imds_listening_is_no_region_not_a_crash(monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")  # asks CLOSED_ENDPOINT: connection refused
    assert instance_region() is None


def test_operator_commands_exit_2_with_the_same_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "presign", "k", "--bucket", "b"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert NO_REGION in proc.stderr and "Traceback" not in proc.stderr


def test_operator_commands_use_aws_region(monkeypatch):
    """SQS needs a region (S3 does not): with AWS_REGION alone ``dlq inspect`` gets as far as the network."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
        "AWS_MAX_ATTEMPTS": "1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker",
            "dlq",
            "inspect",
            "--queue-url",
            CLOSED_ENDPOINT + "q",
            "--dlq-url",
            CLOSED_ENDPOINT + "dlq",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "must specify a region" not in proc.stderr and NO_REGION not in proc.stderr, proc.stderr
    assert "Could not connect to the endpoint URL" in proc.stderr, proc.stderr


def test_the_worker_with_no_region_and_no_instance_metadata_exits_2_naming_every_way(tmp_path):
    env = {
        **os.environ,
        "MEDIA_WORKER_QUEUE_URL": "http://127.0.0.1:9/q",
        "MEDIA_WORKER_TEMP_BUCKET": "t",
        "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
        "MEDIA_WORKER_RUNTIME": "process",
        "MEDIA_WORKER_WORK_DIR": str(tmp_path / "work"),
        "MEDIA_WORKER_METRICS_PORT": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "worker", "--pool", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {NO_REGION}" in proc.stderr and "Traceback" not in proc.stderr
    assert "instance metadata (IMDSv2)" in proc.stderr
