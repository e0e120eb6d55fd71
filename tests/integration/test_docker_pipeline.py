"""The whole pipeline through moto's HTTP server and the docker runtime."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.expect import assert_outputs_match_the_manifest, video_outputs
from tests.support.pipeline import collecting_service, exists, read_json, record
from tests.support.sandboxes import busy_sandboxes, our_containers
from tests.support.service import RunningService
from tests.support.waiting import wait_for
from worker.child.keys import manifest_key, rejection_key
from worker.local.samples import make_animation
from worker.sandbox.docker import LABEL_PID

SHIPPED_PROFILES = os.path.join(os.path.dirname(__file__), "..", "..", "worker", "child", "profiles.toml")

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_uploads_are_published_through_locked_down_containers_that_go_away(
    stack, media, docker, docker_settings
):
    etag = stack.upload("dock/clip.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker"))
    assert service.settings.runtime == "docker"
    with RunningService(service):
        running = wait_for(lambda: busy_sandboxes(docker, stack.work_dir), timeout=60, interval=0.05)
        host = running[0].attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] == 128 and host["Memory"] == 2048 * 1024 * 1024
        assert host["MemorySwap"] == host["Memory"] and host["NanoCpus"] >= 1_000_000_000
        assert running[0].attrs["Config"]["User"] == "65534:65534"
        assert "/tmp" in host["Tmpfs"] and "size=256m" in host["Tmpfs"]["/tmp"]
        binds = {b.split(":")[1]: b.split(":")[2] for b in host["Binds"]}
        assert binds == {"/job/in": "ro", "/job/out": "rw"}
        wait_for(lambda: exists(stack, manifest_key(record(stack, "dock/clip.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [o.status for _, o in outcomes] == ["published"]
    assert our_containers(docker) == []
    manifest = read_json(stack, manifest_key(record(stack, "dock/clip.mp4", etag)))
    outputs = manifest["outputs"]
    assert [o["name"] for o in outputs] == video_outputs("1080p", "720p", "480p")
    assert [(o["width"], o["height"], o["method"]) for o in outputs if o["kind"] == "video"] == [
        (1920, 1080, "encode"),
        (1280, 720, "encode"),
        (854, 480, "encode"),
    ]
    assert manifest["hls_master"] == manifest_key(record(stack, "dock/clip.mp4", etag)).replace(
        "manifest.json", f"{manifest['job']['attempt_id']}/hls_master.m3u8"
    )
    assert manifest["fast_path"]["used"] is False
    assert_outputs_match_the_manifest(stack, outputs)


def test_each_kind_gets_exactly_its_profile_outputs_through_docker(
    stack, media, docker, docker_settings, tmp_path
):
    uploads = {
        "dock/song.mp3": media["mp3"],
        "dock/photo.png": media["png"],
        "podcast/episode.mp3": media["mp3"],
        "dock/anim.gif": make_animation(str(tmp_path / "a.gif")),
    }
    etags = {key: stack.upload(key, path) for key, path in uploads.items()}
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        open(SHIPPED_PROFILES).read() + '\n[[rules]]\nprefix = "podcast/"\naudio = "podcast"\n'
    )
    settings = stack.settings(runtime="docker", pool=2, profiles_path=str(profiles))
    service, outcomes = collecting_service(settings)
    with RunningService(service):
        wait_for(lambda: len(outcomes) == 4, timeout=180)
        wait_for(lambda: stack.counts() == (0, 0))
    docs = {
        key: read_json(stack, manifest_key(record(stack, key, etag)))
        for key, etag in etags.items()
        if key != "dock/anim.gif"
    }
    assert [o["name"] for o in docs["dock/song.mp3"]["outputs"]] == ["audio.m4a", "waveform.json"]
    assert [o["name"] for o in docs["podcast/episode.mp3"]["outputs"]] == [
        "audio.m4a",
        "audio.mp3",
        "audio.opus",
        "waveform.json",
    ]
    assert docs["podcast/episode.mp3"]["profile"] == "podcast"
    assert [
        (o["name"], o["width"], o["height"], o["animated"]) for o in docs["dock/photo.png"]["outputs"]
    ] == [
        ("image_2048.webp", 2048, 1366, False),
        ("image_1024.webp", 1024, 682, False),
        ("image_320.webp", 320, 214, False),
    ]
    for doc in docs.values():
        assert_outputs_match_the_manifest(stack, doc["outputs"])
    # the shipped image profile takes an animation's first frame
    anim = read_json(stack, manifest_key(record(stack, "dock/anim.gif", etags["dock/anim.gif"])))
    assert [(o["name"], o["animated"]) for o in anim["outputs"]] == [("image_320.webp", True)]


def test_a_hung_job_is_killed_retried_once_then_rejected(stack, media, docker, docker_settings):
    etag = stack.upload("slow.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker", job_timeout=1))
    with RunningService(service):
        wait_for(lambda: exists(stack, rejection_key(record(stack, "slow.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [(o.status, o.reason) for _, o in outcomes] == [
        ("retry", "sandbox_timeout"),
        ("rejected", "timeout_repeated"),
    ]
    assert stack.counts(stack.resources.dlq_url) == (0, 0)
    assert our_containers(docker) == []


def test_a_killed_child_takes_its_container_with_it_and_the_job_is_retried(
    stack, media, docker, docker_settings
):
    etag = stack.upload("killed.mp4", media["big"])
    service, outcomes = collecting_service(stack.settings(runtime="docker", pool=2))
    with RunningService(service):
        running = wait_for(lambda: busy_sandboxes(docker, stack.work_dir), timeout=60, interval=0.05)
        first = running[0]
        os.kill(int(first.labels[LABEL_PID]), signal.SIGKILL)
        wait_for(lambda: first.id not in [c.id for c in our_containers(docker)], timeout=30)
        wait_for(lambda: exists(stack, manifest_key(record(stack, "killed.mp4", etag))), timeout=120)
        wait_for(lambda: stack.counts() == (0, 0))
    assert [(o.status, o.reason) for _, o in outcomes] == [("retry", "worker_died"), ("published", None)]
    assert our_containers(docker) == []
    assert os.listdir(stack.work_dir) == []
