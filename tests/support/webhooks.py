"""A local webhook receiver for tests: records each POST and answers with a scripted status (or hangs)."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

OPERATIONS = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()


HANG = -1  # a scripted answer: read the request, then never answer (until the receiver stops)


@dataclass
class Delivery:
    """One POST as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and what it answers next (then ``default``)."""

    url: str
    script: list[int] = field(default_factory=list)
    default: int = 200
    deliveries: list[Delivery] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default


@contextmanager
def webhook_receiver(*script: int, default: int = 200) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1; yield it. ``script``: the statuses of the first answers, in order."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            receiver = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.deliveries.append(Delivery(self.path, dict(self.headers), body))
            status = receiver.next_status()
            if status == HANG:
                receiver.stopping.wait(120)
                return
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(f"http://127.0.0.1:{server.server_port}/hooks/media", list(script), default))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        holder[0].stopping.set()
        server.shutdown()
        server.server_close()


SECRET = "whsec_0123456789abcdef"


def readme_verifier():
    """The ``verify`` function docs/OPERATIONS.md gives receivers, run as written."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", OPERATIONS, re.S) if "def verify(" in b)
    assert len(block.strip().splitlines()) <= 12, "docs/OPERATIONS.md promises a verifier of about ten lines"
    namespace: dict = {}
    exec(compile(block, "docs/OPERATIONS.md", "exec"), namespace)  # noqa: S102 - the docs' own code, tested
    return namespace["verify"]
