"""A fake EC2 instance metadata service (IMDSv2) on 127.0.0.1: tests never reach 169.254.169.254."""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_PATH = "/latest/api/token"
REGION_PATH = "/latest/meta-data/placement/region"
ZONE_PATH = "/latest/meta-data/placement/availability-zone"


class FakeIMDS:
    """PUT the token path (with a TTL header) for a token; GET metadata only with that token, else 401.

    ``requests`` records (method, path, whether the right token came) of every request, to show what was asked.
    """

    def __init__(self, region: str = "ap-southeast-2") -> None:
        self.region = region
        self.token = secrets.token_hex(16)
        self.requests: list[tuple[str, str, bool]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-imds", daemon=True)

    @property
    def endpoint(self) -> str:
        """The value for ``AWS_EC2_METADATA_SERVICE_ENDPOINT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> "FakeIMDS":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: pytest shows stderr of failures
                pass

            def _reply(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                imds.requests.append(("PUT", self.path, False))
                if self.path != TOKEN_PATH:
                    self._reply(404)
                elif not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._reply(400, "missing TTL")  # as the real service answers
                else:
                    self._reply(200, imds.token)

            def do_GET(self) -> None:  # noqa: N802
                authorised = self.headers.get("X-aws-ec2-metadata-token") == imds.token
                imds.requests.append(("GET", self.path, authorised))
                if not authorised:
                    self._reply(401)  # IMDSv2 only: what an instance with HttpTokens=required answers
                elif self.path.rstrip("/") == REGION_PATH:
                    self._reply(200, imds.region)
                elif self.path.rstrip("/") == ZONE_PATH:
                    self._reply(200, imds.region + "a")
                else:
                    self._reply(404)

        return Handler
