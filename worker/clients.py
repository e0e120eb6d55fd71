"""boto3 clients, built per process (a child never shares its parent's)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def s3_client() -> Any:
    """An S3 client; endpoint, region and credentials come from boto3's own configuration."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=8,
    )
    return boto3.session.Session().client("s3", config=config)


def sqs_client(poll_wait: int) -> Any:
    """An SQS client whose read timeout outlasts the long poll."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=poll_wait + 15,
        max_pool_connections=8,
    )  # receive, heartbeats, settles, stats
    return boto3.session.Session().client("sqs", config=config)


def sns_client() -> Any:
    """An SNS client for status events."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=15)
    return boto3.session.Session().client("sns", config=config)


def events_client() -> Any:
    """An EventBridge client for status events."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=15)
    return boto3.session.Session().client("events", config=config)
