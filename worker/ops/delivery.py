"""How S3 announces uploads to the queue: straight (``sqs``), through an SNS topic (``sns``), or through
EventBridge (``eventbridge``). Used by worker.ops.provision; the CloudFormation template's ``Delivery``
parameter builds the same three shapes.

Each path sets the temp bucket's whole notification configuration (worker.ops.provision does, last), so
switching paths turns the previous one off; a topic or rule left from an earlier path stays (it is sent
nothing) until removed by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DELIVERIES = ("sqs", "sns", "eventbridge")
NOTIFICATION_ID = "media-worker"


@dataclass(frozen=True)
class Wiring:
    """What one delivery path made: the bucket's notification, and the topic or rule in between."""

    notification: dict[str, Any]  # the temp bucket's notification configuration
    topic_arn: str | None = None
    rule_arn: str | None = None


def wire(
    delivery: str,
    *,
    sns: Any = None,
    events: Any = None,
    temp_bucket: str,
    queue_name: str,
    queue_arn: str,
    dlq_arn: str,
    raw: bool = False,
) -> Wiring:
    """Make what lies between the temp bucket and the queue along ``delivery`` (idempotent); the caller sets
    the queue policies, then the bucket's notification (S3 checks that it may send when that is set). What
    SNS or EventBridge fails to deliver (after their own retries) goes to the DLQ, not nowhere."""
    if delivery == "sqs":
        return Wiring(
            {
                "QueueConfigurations": [
                    {"Id": NOTIFICATION_ID, "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            }
        )
    if delivery == "sns":
        return _through_sns(sns, temp_bucket, queue_name, queue_arn, dlq_arn, raw)
    if delivery == "eventbridge":
        return _through_eventbridge(events, temp_bucket, queue_name, queue_arn, dlq_arn)
    raise ValueError(f"delivery must be one of {', '.join(DELIVERIES)}, not {delivery!r}")


def senders(temp_bucket: str, queue_name: str, queue_arn: str) -> dict[str, str]:
    """Service → the one source ARN it may send from: the bucket, the upload topic, the upload rule."""
    _, partition, _, region, account, _ = queue_arn.split(":", 5)
    return {
        "s3.amazonaws.com": f"arn:{partition}:s3:::{temp_bucket}",
        "sns.amazonaws.com": f"arn:{partition}:sns:{region}:{account}:{queue_name}-uploads",
        "events.amazonaws.com": f"arn:{partition}:events:{region}:{account}:rule/{queue_name}-uploads",
    }


def queue_policy(queue_arn: str, allowed: dict[str, str]) -> str:
    """A queue policy that lets each of ``allowed`` (service → source ARN) send, and nobody else.

    The queue allows all three paths' senders at once, each pinned to this stack's own bucket, topic or rule
    (and account), so a switch of paths never has a moment in which the sender of the old path, or the
    new, is refused: SNS and S3 do not retry such a refusal, the event would be gone."""
    account = queue_arn.split(":")[4]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"Allow{service.split('.')[0].upper()}",
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": source},
                        "StringEquals": {"aws:SourceAccount": account},
                    },
                }
                for service, source in allowed.items()
            ],
        }
    )


def _through_sns(
    sns: Any, temp_bucket: str, queue_name: str, queue_arn: str, dlq_arn: str, raw: bool
) -> Wiring:
    topic_arn = sns.create_topic(Name=f"{queue_name}-uploads")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic_arn,
        AttributeName="Policy",
        AttributeValue=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AllowS3Events",
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": topic_arn,
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{temp_bucket}"},
                            "StringEquals": {"aws:SourceAccount": queue_arn.split(":")[4]},
                        },
                    }
                ],
            }
        ),
    )
    # Subscribing again returns the same subscription. RawMessageDelivery is set only when wanted: a
    # raw-delivered body is the bare S3 event, an enveloped one the SNS notification (both are parsed).
    subscription = sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    current = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    if (current.get("RawMessageDelivery", "false") == "true") != raw:
        sns.set_subscription_attributes(
            SubscriptionArn=subscription,
            AttributeName="RawMessageDelivery",
            AttributeValue="true" if raw else "false",
        )
    sns.set_subscription_attributes(
        SubscriptionArn=subscription,
        AttributeName="RedrivePolicy",
        AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}),
    )
    notification = {
        "TopicConfigurations": [
            {"Id": NOTIFICATION_ID, "TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"]}
        ]
    }
    return Wiring(notification, topic_arn=topic_arn)


def _through_eventbridge(
    events: Any, temp_bucket: str, queue_name: str, queue_arn: str, dlq_arn: str
) -> Wiring:
    # Only this bucket's creations: the worker would ignore the other S3 events, the queue need not carry them.
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [temp_bucket]}},
    }
    rule = f"{queue_name}-uploads"
    rule_arn = events.put_rule(
        Name=rule,
        EventPattern=json.dumps(pattern),
        State="ENABLED",
        Description="S3 uploads of the temp bucket to the media-worker queue",
    )["RuleArn"]
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": NOTIFICATION_ID,
                "Arn": queue_arn,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            }
        ],
    )
    return Wiring({"EventBridgeConfiguration": {}}, rule_arn=rule_arn)
