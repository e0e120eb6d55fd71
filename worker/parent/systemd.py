"""systemd's notify protocol (sd_notify(3)): READY, STATUS, WATCHDOG and STOPPING over ``$NOTIFY_SOCKET``.

The protocol is one datagram of ``KEY=value`` lines to a unix socket named by the environment, so it is
spoken here directly rather than through libsystemd bindings (which need the C library and headers on the
host). Without ``$NOTIFY_SOCKET`` (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Mapping

log = logging.getLogger(__name__)
STATUS_EVERY = 5.0


class Notifier:
    """Sends state to systemd; pets the watchdog at half its period (``$WATCHDOG_USEC``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is spelled with a leading '@' and addressed with a leading NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        owned = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and owned else None
        self._last_pet = self._last_status = -1e9
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, **fields: str) -> None:
        """Send ``KEY=value`` fields in one datagram; a failure is logged, never raised."""
        if self._sock is None:
            return
        payload = "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()
        try:
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self.notify(ready="1", status=status)

    def stopping(self, status: str) -> None:
        self.notify(stopping="1", status=status)

    def tick(self, status: str) -> None:
        """From the main loop: WATCHDOG=1 each half watchdog period (a hung loop stops petting, and systemd
        restarts the service), and STATUS at most every few seconds."""
        now = time.monotonic()
        fields = {}
        if self.watchdog_interval is not None and now - self._last_pet >= self.watchdog_interval:
            fields["watchdog"] = "1"
            self._last_pet = now
        if now - self._last_status >= STATUS_EVERY:
            fields["status"] = status
            self._last_status = now
        if fields:
            self.notify(**fields)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
