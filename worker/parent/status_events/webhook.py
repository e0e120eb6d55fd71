"""Signed webhooks: one JSON POST per status event, signed the way Stripe and Mux sign theirs.

``X-Media-Worker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, one ``v1`` for each
secret of ``MEDIA_WORKER_WEBHOOK_SECRET`` (several, comma-separated, while a secret is rotated). Each try is
signed afresh, so a receiver may refuse stale timestamps (the README's verifier allows five minutes).

A 2xx answer is delivery. 408, 425, 429, 5xx, timeouts and connection or TLS errors are retried (by
worker.parent.status_events.sender, for ``MEDIA_WORKER_STATUS_RETRY_SECONDS``); any other answer, redirects included, is
final: the receiver said no, and a redirect is not followed to a host nobody configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import urllib3

from worker import __version__
from worker.errors import PermanentError, Reason, RetryableError

SIGNATURE_HEADER = "X-Media-Worker-Signature"
RETRIED_STATUSES = frozenset({408, 425, 429})
# Bounds on one try, the read of a slow receiver included: a hanging one costs at most this, per try.
TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0, total=15.0)


def signature(secrets: tuple[str, ...], timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digests = [hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest() for secret in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={digest}" for digest in digests)])


def secrets_of(setting: str) -> tuple[str, ...]:
    """The secrets of ``MEDIA_WORKER_WEBHOOK_SECRET`` (comma-separated)."""
    return tuple(part.strip() for part in setting.split(",") if part.strip())


class Webhook:
    """Posts events to one URL."""

    def __init__(self, url: str, secrets: tuple[str, ...]) -> None:
        if not secrets:
            raise ValueError("a webhook needs MEDIA_WORKER_WEBHOOK_SECRET")
        self.url = url
        parts = urlsplit(url)  # what messages show: never the query or userinfo, which may hold a token
        self._shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        self._secrets = secrets
        self._http = urllib3.PoolManager(num_pools=2, maxsize=1, retries=False, timeout=TIMEOUT)

    def __call__(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"media-worker/{__version__}",
            SIGNATURE_HEADER: signature(self._secrets, int(time.time()), body),
            "X-Media-Worker-Event-Id": str(event["event_id"]),
            "X-Media-Worker-Event-Type": str(event["type"]),
        }
        try:
            answer = self._http.request(
                "POST", self.url, body=body, headers=headers, redirect=False, preload_content=False
            )
        except urllib3.exceptions.HTTPError as exc:  # timeouts, refused connections, TLS, protocol errors
            raise RetryableError(Reason.STATUS_TARGET, f"POST {self._shown}: {type(exc).__name__}") from None
        try:
            said = answer.read(512, decode_content=False)  # enough to log; a receiver's essay is not read
        except urllib3.exceptions.HTTPError:
            said = b""
        finally:
            answer.close()  # not drained: the connection goes, the rest of a long answer is never read
        status = answer.status
        if 200 <= status < 300:
            return
        detail = f"POST {self._shown}: HTTP {status} {said[:200]!r}"
        if status >= 500 or status in RETRIED_STATUSES:
            raise RetryableError(Reason.STATUS_TARGET, detail)
        raise PermanentError(Reason.STATUS_TARGET, detail)
