"""An embedded local AWS: moto's server over real HTTP on 127.0.0.1, provisioned like production."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from worker.clients import events_client, s3_client, sns_client, sqs_client
from worker.ops.provision import Resources, provision

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LocalStack:
    """A running moto server and the resources provisioned on it."""

    endpoint: str
    resources: Resources

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 and the worker at this stack."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "MEDIA_WORKER_QUEUE_URL": self.resources.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": self.resources.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": self.resources.production_bucket,
            # a development stack: docker when the engine and image are there, else the process runtime
            "MEDIA_WORKER_RUNTIME": "auto",
            **({"MEDIA_WORKER_SNS_TOPIC_ARNS": self.resources.topic_arn} if self.resources.topic_arn else {}),
        }


@contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """Run moto's threaded HTTP server; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def local_stack(
    port: int = 0,
    *,
    name: str = "media",
    max_receive_count: int = 3,
    visibility_timeout: int = 30,
    delivery: str = "sqs",
    raw_delivery: bool = False,
) -> Iterator[LocalStack]:
    """Start moto, point this process's boto3 at it, and provision one stack whose uploads reach the queue
    along ``delivery`` (sqs, sns or eventbridge: moto's server delivers all three)."""
    with moto_server(port) as endpoint:
        saved = {k: os.environ.get(k) for k in [*LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL"]}
        os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
        try:
            resources = provision(
                s3_client(),
                sqs_client(0),
                temp_bucket=f"{name}-temp",
                production_bucket=f"{name}-production",
                queue_name=f"{name}-uploads",
                max_receive_count=max_receive_count,
                visibility_timeout=visibility_timeout,
                delivery=delivery,
                sns=sns_client(),
                events=events_client(),
                raw_delivery=raw_delivery,
            )
            yield LocalStack(endpoint, resources)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
