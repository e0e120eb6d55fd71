"""Event bodies as AWS sends them: S3 notifications, SNS envelopes, EventBridge events."""

from __future__ import annotations

import json

from tests.support.stack import Stack

TOPIC = "arn:aws:sns:eu-west-1:111122223333:media-uploads"


def sns_envelope(message: dict | str, topic: str = TOPIC, kind: str = "Notification") -> str:
    """An SNS notification as SQS receives it without raw message delivery (sns-message-and-json-formats)."""
    return json.dumps(
        {
            "Type": kind,
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": topic,
            "Subject": "Amazon S3 Notification",
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": "2026-12-01T10:00:00.123Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+...",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=...",
        }
    )


def eventbridge(
    detail_type: str = "Object Created", key: str = "clips/a b.mp4", bucket: str = "temp", **obj: object
) -> str:
    """An S3 event on EventBridge as an SQS target receives it (userguide, ev-events)."""
    return json.dumps(
        {
            "version": "0",
            "id": "2d4eba74-fd51-3966-4bfa-b013c9da8ff1",
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": "111122223333",
            "time": "2026-12-01T10:00:00Z",
            "region": "eu-west-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {
                    "key": key,
                    "size": 5,
                    "etag": "b1946ac92492d2347c6235b4d2611184",
                    "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                    "sequencer": "617f08299329d189",
                    **obj,
                },
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "111122223333",
                "source-ip-address": "192.0.2.1",
                "reason": "PutObject",
            },
        }
    )


def s3_event(stack: Stack, key: str, etag: str, *, with_version: bool = False) -> str:
    """An ObjectCreated event; without ``with_version`` in the shape moto's notifications have (no versionId)."""
    obj = {"key": key, "eTag": etag, "size": 1}
    if with_version:
        obj["versionId"] = stack.versions[(key, etag)]
    return json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": stack.resources.temp_bucket}, "object": obj},
                }
            ]
        }
    )
