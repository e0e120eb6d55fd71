"""A faulty HTTP proxy in front of moto's server: the worker's S3 and SQS calls go through it.

A share of requests (``error_rate``) gets a 503 (S3 ``SlowDown`` / SQS ``ServiceUnavailable``) or a dropped
connection instead of an answer; while ``refuse_leases`` is set, every visibility change fails, so leases
lapse mid-job; ``stall`` holds back the first requests of an SQS action (a slow endpoint); ``latency`` holds
every request that long (a round trip to a real region, for scripts/stage_costs.py). The harness's own
clients talk to moto directly and see no faults.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on a dropped connection are the point, not news


class FaultyProxy:
    """Forward to ``upstream``; inject faults; count what it did."""

    def __init__(self, upstream: str, error_rate: float, seed: int = 7, latency: float = 0.0) -> None:
        self.upstream = urlsplit(upstream)
        self.error_rate, self.latency = error_rate, latency
        self.refuse_leases = threading.Event()
        self.stall: dict[str, tuple[float, int]] = {}  # SQS action → (seconds, how many of its requests)
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="faulty-proxy")

    def start(self) -> "FaultyProxy":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        target = req.headers.get("X-Amz-Target", "")
        is_sqs = target.startswith("AmazonSQS.")
        self._maybe_stall(target.removeprefix("AmazonSQS."))
        if is_sqs and "ChangeMessageVisibility" in target and self.refuse_leases.is_set():
            self.counts["lease_refused"] += 1
            return self._error(req, is_sqs)
        roll = self._roll()
        if roll < self.error_rate / 2:
            self.counts["error_503"] += 1
            return self._error(req, is_sqs)
        if roll < self.error_rate:
            self.counts["dropped"] += 1
            req.close_connection = True
            req.connection.shutdown(2)  # no answer at all: the client sees a reset
            return None
        self.counts["forwarded"] += 1
        if self.latency:
            time.sleep(self.latency)
        return self._forward(req, body)

    def _maybe_stall(self, action: str) -> None:
        with self._lock:
            seconds, left = self.stall.get(action, (0.0, 0))
            if left:
                self.stall[action] = (seconds, left - 1)
                self.counts[f"stalled_{action}"] += 1
        if left:
            time.sleep(seconds)

    def _forward(self, req: BaseHTTPRequestHandler, body: bytes) -> None:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_HEADERS}
            conn.request(req.command, req.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            req.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                # a HEAD answer's Content-Length is the object's size, not this (empty) body's
                if key.lower() not in HOP_HEADERS and (
                    key.lower() != "content-length" or req.command == "HEAD"
                ):
                    req.send_header(key, value)
            if req.command != "HEAD":
                req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            if req.command != "HEAD":
                req.wfile.write(data)
        finally:
            conn.close()

    def _error(self, req: BaseHTTPRequestHandler, is_sqs: bool) -> None:
        if is_sqs:
            data = b'{"__type": "com.amazonaws.sqs#ServiceUnavailable", "message": "injected fault"}'
            ctype = "application/x-amz-json-1.0"
        else:
            data = b"<Error><Code>SlowDown</Code><Message>injected fault</Message></Error>"
            ctype = "application/xml"
        req.send_response(503)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)
