"""Generated media and the device corpus, made once per session (fixtures)."""

from __future__ import annotations

import pytest

from worker.local.samples import make_audio, make_corrupt, make_image, make_video


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, str]:
    """Generated inputs, made once per session."""
    d = tmp_path_factory.mktemp("media")
    clip = make_video(str(d / "clip.mp4"), seconds=2)
    return {
        "clip": clip,
        "silent": make_video(str(d / "silent.mp4"), audio=False, seconds=2),
        "portrait": make_video(
            str(d / "portrait.mp4"), width=640, height=360, rotation=90, seconds=1, audio=False
        ),
        "big": make_video(str(d / "big.mp4"), width=1920, height=1080, seconds=2),
        "mp3": make_audio(str(d / "tone.mp3")),
        "png": make_image(str(d / "pic.png"), width=2400, height=1600),
        "small_png": make_image(str(d / "small.png"), width=300, height=200),
        "corrupt": make_corrupt(str(d / "corrupt.mp4"), clip),
    }


@pytest.fixture(scope="session")
def device_files(tmp_path_factory) -> dict[str, str]:
    """The corpus of tests.support.devices (made by Debian's ffmpeg, libheif and Pillow), once per session."""
    from tests.support.devices import make_corpus

    return make_corpus(str(tmp_path_factory.mktemp("devices")))
