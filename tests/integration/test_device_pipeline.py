"""Files as real devices make them (tests.support.devices) through the whole pipeline: moto's HTTP server, the pool,
the host's signature check, the Docker sandbox (libmagic, FFmpeg and libheif inside it), the result's schema,
publishing. Every one is published with a manifest that matches its objects; none goes the retry way."""

from __future__ import annotations

import pytest

from tests.support.devices import DEVICES
from tests.support.expect import assert_outputs_match_the_manifest
from tests.support.pipeline import collecting_service, read_json, record
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.keys import manifest_key

pytestmark = [pytest.mark.docker, pytest.mark.slow]
SNIFFED = {
    ".heic": "image/heic",
    ".avif": "image/avif",
    ".m4a": "audio/x-m4a",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}


def test_every_device_file_is_published_through_docker_and_none_is_retried(
    stack, device_files, docker, docker_settings
):
    etags = {
        device.name: stack.upload(f"phone/{device.name}", device_files[device.name]) for device in DEVICES
    }
    service, outcomes = collecting_service(stack.settings(runtime="docker", pool=2))
    with RunningService(service):
        wait_for(lambda: len(outcomes) >= len(DEVICES), timeout=600, interval=0.5)
        wait_for(lambda: stack.counts() == (0, 0), timeout=60)
    assert sorted((o.status, o.reason) for _, o in outcomes) == [("published", None)] * len(DEVICES), [
        (job.record.key, o.status, o.reason, o.message[:200])
        for job, o in outcomes
        if o.status != "published"
    ]
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    for device in DEVICES:
        doc = read_json(stack, manifest_key(record(stack, f"phone/{device.name}", etags[device.name])))
        assert doc["kind"] == device.kind, device.name
        assert doc["sniffed"]["mime"] == SNIFFED[device.name[device.name.rindex(".") :]], device.name
        assert_outputs_match_the_manifest(stack, doc["outputs"])
        if device.duration is not None:
            timed = [o for o in doc["outputs"] if o["kind"] in ("video", "audio")]
            assert timed and all(abs(o["duration"] - device.duration) < 0.1 for o in timed), device.name
        segments = [o for o in doc["outputs"] if o["kind"] == "hls_segment"]
        assert (len(segments) > 0) == (device.kind == "video"), device.name  # listed from the playlists
