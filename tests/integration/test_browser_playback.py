"""Outputs published through the docker pipeline play in headless Chromium: the MP4 and the HLS set."""

from __future__ import annotations

import os

import pytest

from tests.support.browser import chromium, play, playable, serve
from tests.support.pipeline import collecting_service, exists, read_json, record
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.keys import manifest_key
from worker.local.samples import make_video

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(str(tmp_path_factory.mktemp("chromium-profile"))) as driver:
        yield driver


@pytest.fixture
def published(stack, media, docker_settings, tmp_path):
    """The outputs of one 2 s clip, downloaded from the production bucket as a player would get them."""
    etag = stack.upload("play/clip.mp4", media["clip"])
    service, _ = collecting_service(stack.settings(runtime="docker"))
    with RunningService(service):
        wait_for(lambda: exists(stack, manifest_key(record(stack, "play/clip.mp4", etag))), timeout=120)
    site = tmp_path / "site"
    site.mkdir()
    for o in read_json(stack, manifest_key(record(stack, "play/clip.mp4", etag)))["outputs"]:
        stack.s3.download_file(stack.resources.production_bucket, o["key"], str(site / o["name"]))
    (site / "blank.html").write_text("<!doctype html><title>player</title><body></body>")
    return site


@pytest.mark.parametrize("name", ["video_360p.mp4", "hls_master.m3u8"])
def test_outputs_play_in_chromium(published, browser, name):
    with serve(str(published)) as base:
        report = play(browser, base, name)
    assert playable(report, 2.0), report
    assert (report["width"], report["height"]) == (640, 360)


def test_the_check_fails_for_what_chromium_cannot_show(published, browser):
    """Negative control: Debian's chromium has no HEVC decoder; such a file must not pass as playable."""
    make_video(os.path.join(published, "hevc.mp4"), codec="libx265", seconds=2, audio=False)
    with serve(str(published)) as base:
        report = play(browser, base, "hevc.mp4")
    assert not playable(report, 2.0), report
