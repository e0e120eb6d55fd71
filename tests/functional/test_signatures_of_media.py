"""The host's signature table lets through every file the sandbox's libmagic accepts: generated media and the device corpus (these need PyAV and Debian's tools, so they live in this tier)."""

from __future__ import annotations

import pytest

from container.sniff import ALLOWED, sniff_file
from tests.support.heads import head
from worker.child.precheck import check_signature


@pytest.mark.parametrize("name", ["clip", "mp3", "png", "silent", "portrait"])
def test_what_the_sandbox_accepts_passes_the_host_signature_check(media, name):
    accepted = sniff_file(media[name])  # libmagic, as inside the sandbox
    assert accepted.mime in ALLOWED
    found = check_signature(head(media[name]))
    assert found.kind_hint in ("video", "audio", "image")


def test_every_device_file_passes_both_checks(device_files):
    for name, path in device_files.items():
        assert sniff_file(path).mime in ALLOWED, name
        check_signature(head(path))
