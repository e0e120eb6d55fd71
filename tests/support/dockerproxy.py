"""A unix-socket proxy in front of the real Docker engine that breaks chosen requests.

Every request is forwarded, except that one matching a rule (``"POST /containers/<id>/start"``-like regex
on ``METHOD PATH``, API version prefix stripped) is sent on a fresh upstream connection; the engine's reply
is read and thrown away (or not waited for), and the client's connection is closed. The client sees a
``requests`` ConnectionError while the action happened on the engine. ``forward=False`` drops the request
unsent: the engine is unreachable for it; a stall rule holds the request, then forwards it as usual (a busy
engine). requests keeps connections alive, so each request on a
connection is parsed (head to CRLFCRLF, then a Content-Length or chunked body); replies stream back raw.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass
class Rule:
    pattern: re.Pattern[str]
    times: int | None  # None: every time
    forward: bool
    wait_reply: bool
    stall: float = 0.0  # seconds to hold the request before it is forwarded as usual (a busy engine)


class DockerProxy:
    """``with DockerProxy() as proxy: docker.DockerClient(base_url=proxy.url)``."""

    def __init__(self, upstream: str = "/var/run/docker.sock") -> None:
        self.upstream = upstream
        self.path = os.path.join(tempfile.mkdtemp(prefix="dockerproxy-"), "docker.sock")
        self.url = "unix://" + self.path
        self.broken: list[str] = []  # "METHOD PATH" of every request a rule broke
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def break_requests(
        self, pattern: str, *, times: int | None = 1, forward: bool = True, wait_reply: bool = True
    ) -> None:
        """Break requests whose ``METHOD PATH`` (without ``/v1.xx``) matches ``pattern`` (``re.search``)."""
        with self._lock:
            self._rules.append(Rule(re.compile(pattern), times, forward, wait_reply))

    def stall_requests(self, pattern: str, seconds: float, *, times: int | None = None) -> None:
        """Hold requests matching ``pattern`` for ``seconds``, then forward them and their replies as usual."""
        with self._lock:
            self._rules.append(Rule(re.compile(pattern), times, True, True, stall=seconds))

    def __enter__(self) -> "DockerProxy":
        self._server.bind(self.path)
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        try:
            os.unlink(self.path)
            os.rmdir(os.path.dirname(self.path))
        except OSError:
            pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _match(self, target: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times != 0 and rule.pattern.search(target):
                    if rule.times is not None:
                        rule.times -= 1
                    self.broken.append(target)
                    return rule
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        reader = _Reader(client)
        try:
            while True:
                request = reader.request()
                if request is None:
                    return
                method, path = request.split(b" ", 2)[:2]
                target = f"{method.decode()} {re.sub(r'^/v[0-9.]+', '', path.decode().split('?')[0])}"
                rule = self._match(target)
                if rule is not None and rule.stall:
                    time.sleep(rule.stall)
                    rule = None
                if rule is not None:
                    if rule.forward:
                        _send_and_discard(self.upstream, request, rule.wait_reply)
                    return  # closes the client's connection: the client never sees a reply
                if upstream is None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                    threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
                upstream.sendall(request)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)


class _Reader:
    """Reads whole HTTP requests (head and body) off one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise OSError("client closed mid-request")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise OSError("client closed mid-request")
        return self._take(self.buf.index(b"\r\n") + 2)

    def request(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head = self._take(self.buf.index(b"\r\n\r\n") + 4)
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
        }
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while True:
                size_line = self._line()
                size = int(size_line.split(b";")[0], 16)
                body += size_line + self._take(size + 2)
                if size == 0:
                    return head + body
        return head + self._take(int(headers.get(b"content-length", b"0")))


def _send_and_discard(path: str, request: bytes, wait_reply: bool) -> None:
    """The request, alone on a new connection to the engine; its reply read and dropped."""
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.connect(path)
    upstream.sendall(request)

    def drain() -> None:
        upstream.settimeout(120)
        try:
            while upstream.recv(65536):
                pass
        except OSError:
            pass
        finally:
            upstream.close()

    if wait_reply:
        upstream.settimeout(30)
        try:
            upstream.recv(65536)  # the reply's first bytes: the engine has acted
        except OSError:
            pass
        upstream.close()
    else:
        threading.Thread(target=drain, daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
