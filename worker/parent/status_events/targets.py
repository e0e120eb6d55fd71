"""Where status events go: ``MEDIA_WORKER_STATUS_TARGET``, one or more targets separated by commas.

=====================================================  =========================================================
target                                                 sent as
=====================================================  =========================================================
``arn:aws:sns:<region>:<account>:<topic>``              SNS ``Publish`` (message attribute ``type``)
``https://sqs.<region>.amazonaws.com/<account>/<q>``    SQS ``SendMessage`` (message attribute ``type``); also any
                                                       URL whose path is ``/<12-digit account>/<queue>``, or
                                                       under ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL``
``arn:aws:sqs:<region>:<account>:<queue>``              the same, the queue's URL looked up once
``arn:aws:events:<region>:<account>:event-bus/<bus>``   EventBridge ``PutEvents``: source ``media-worker``,
                                                       detail-type ``Media Published|Rejected|Dead-lettered``
``https://<anything else>``                             a signed webhook POST (worker.parent.status_events.webhook); plain
                                                       ``http://`` only to a loopback address
=====================================================  =========================================================

A transport raises RetryableError for what a later try may fix and PermanentError for what it cannot;
worker.parent.status_events.sender does the retrying.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from worker.errors import PermanentError, Reason, RetryableError

SNS, SQS, EVENTBRIDGE, WEBHOOK = "sns", "sqs", "eventbridge", "webhook"
EVENT_SOURCE = "media-worker"
DETAIL_TYPES = {
    "published": "Media Published",
    "rejected": "Media Rejected",
    "dead_lettered": "Media Dead-lettered",
}
_AWS_SQS_HOST = re.compile(
    r"^((sqs|sqs-fips)\.[a-z0-9-]+|[a-z0-9-]+\.queue|queue|[a-z0-9.-]+\.sqs\.[a-z0-9-]+\.vpce)"
    r"\.amazonaws\.com(\.cn)?$|^sqs\.[a-z0-9-]+\.api\.aws$"
)
# An SQS queue URL's path, whatever the host (LocalStack, an endpoint set in the AWS config file…)
_SQS_PATH = re.compile(r"^/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?/?$")
# boto3's validation and client-side errors: the event or the configuration, not the moment
# (a missing permission too: retrying it for minutes per event would only stall the target's other events)
_PERMANENT_CODES = {
    "ValidationException",
    "InvalidParameter",
    "InvalidParameterValue",
    "NotFound",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "MalformedDetail",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "InvalidAddress",
    "MissingParameter",
    "InvalidClientTokenId",
}

Send = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Target:
    """One configured target: its kind, its address, and the label its metrics carry."""

    kind: str
    address: str

    @property
    def label(self) -> str:
        """``kind:name``: a topic, queue or bus name, or a webhook's host and path (never its query, which may
        hold a token)."""
        if self.kind == WEBHOOK:
            parts = urlsplit(self.address)
            return f"{WEBHOOK}:{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        return f"{self.kind}:{re.split(r'[:/]', self.address.rstrip('/'))[-1]}"


def parse_targets(spec: str, environ: Mapping[str, str]) -> list[Target]:
    """The targets ``spec`` names; ValueError naming the first one that is none of the forms above."""
    targets = []
    for address in (part.strip() for part in spec.split(",")):
        if address:
            targets.append(Target(_kind(address, environ), address))
    labels = [t.address for t in targets]
    if len(set(labels)) != len(labels):
        raise ValueError("a status target is named twice")
    return targets


def _kind(address: str, environ: Mapping[str, str]) -> str:
    if address.startswith("arn:"):
        parts = address.split(":", 5)
        service = parts[2] if len(parts) == 6 else ""
        if service == "sns":
            return SNS
        if service == "sqs":
            return SQS
        if service == "events" and parts[5].startswith("event-bus/"):
            return EVENTBRIDGE
        raise ValueError(f"{address!r} is not an SNS topic, SQS queue or EventBridge event bus ARN")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{address!r} is neither an ARN nor an http(s) URL")
    endpoints = [environ.get(name, "").rstrip("/") for name in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL")]
    if (
        _AWS_SQS_HOST.match(parts.hostname)
        or _SQS_PATH.match(parts.path)
        or any(e and address.startswith(e + "/") for e in endpoints)
    ):
        return SQS
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"webhook {address!r} must be https:// (plain http only to a loopback address)")
    return WEBHOOK


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore errors into the retryable/permanent split of worker.errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        error = PermanentError if code in _PERMANENT_CODES else RetryableError
        raise error(Reason.STATUS_TARGET, f"{action}: {code} {exc}") from exc
    except BotoCoreError as exc:
        raise RetryableError(Reason.STATUS_TARGET, f"{action}: {exc}") from exc


def aws_transport(target: Target, clients: Mapping[str, Callable[[], Any]]) -> Send:
    """How one event reaches an SNS, SQS or EventBridge target; ``clients`` builds the boto3 clients."""
    if target.kind == SNS:
        sns = clients[SNS]()

        def publish(event: dict[str, Any]) -> None:
            with aws_errors(f"SNS Publish to {target.address}"):
                sns.publish(
                    TopicArn=target.address, Message=json.dumps(event), MessageAttributes=_attributes(event)
                )

        return publish
    if target.kind == SQS:
        sqs, url = clients[SQS](), [target.address]

        def send(event: dict[str, Any]) -> None:
            with aws_errors(f"SQS SendMessage to {target.address}"):
                if url[0].startswith("arn:"):
                    _, _, _, _, account, name = url[0].split(":", 5)
                    url[0] = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                sqs.send_message(
                    QueueUrl=url[0], MessageBody=json.dumps(event), MessageAttributes=_attributes(event)
                )

        return send
    if target.kind == EVENTBRIDGE:
        events = clients[EVENTBRIDGE]()

        def put(event: dict[str, Any]) -> None:
            entry = {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPES[event["type"]],
                "Detail": json.dumps(event),
                "EventBusName": target.address,
            }
            with aws_errors(f"EventBridge PutEvents to {target.address}"):
                answer = events.put_events(Entries=[entry])
            if answer.get("FailedEntryCount"):
                failed = (answer.get("Entries") or [{}])[0]
                code = str(failed.get("ErrorCode", ""))
                error = PermanentError if code in _PERMANENT_CODES else RetryableError
                raise error(
                    Reason.STATUS_TARGET,
                    f"EventBridge refused the entry: {code} {failed.get('ErrorMessage')}",
                )

        return put
    raise ValueError(f"not an AWS target: {target}")


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The event type as a message attribute, for SNS subscription filter policies."""
    return {"type": {"DataType": "String", "StringValue": event["type"]}}
