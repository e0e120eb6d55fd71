"""The first bytes of a file, as the host's signature check reads them."""

from __future__ import annotations

from worker.child.precheck import HEAD_BYTES


def head(path):
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)
