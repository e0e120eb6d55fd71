"""Profile files: validated with every problem named, chosen by kind, prefix and metadata."""

import subprocess
import sys

import pytest

from worker.child.profiles import SCHEMA, load_profiles
from worker.errors import SettingsError

GOOD = """
metadata_field = "profile"
[defaults]
video = "web"
audio = "music"
image = "pics"
[[rules]]
prefix = "hq/"
video = "tall"
[[rules]]
prefix = "hq/small/"
video = "preview"
[profiles.web]
kind = "video"
renditions = [720, 480]
maxrate_kbps = [3000, 1500]
[profiles.tall]
kind = "video"
renditions = [1080]
maxrate_kbps = [6000]
[profiles.preview]
kind = "video"
renditions = [240]
maxrate_kbps = [400]
[profiles.music]
kind = "audio"
bitrate_kbps = 96
[profiles.pics]
kind = "image"
variants = [1024]
"""


def write(tmp_path, text):
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    return str(path)


def test_the_shipped_file_is_valid_and_matches_the_container_defaults():
    from container.spec import DEFAULT_PROFILE

    book = load_profiles()
    sections, names = book.select("any.mp4")
    assert names == {"video": "web", "audio": "music", "image": "web-image"}
    for kind, section in sections.items():
        assert set(section) == set(DEFAULT_PROFILE[kind]) == set(SCHEMA[kind]), kind  # every knob shipped
        for key, value in section.items():
            assert DEFAULT_PROFILE[kind][key] == value, (kind, key)


def test_empty_extra_formats_and_booleans_are_accepted(tmp_path):
    text = GOOD.replace("bitrate_kbps = 96", "bitrate_kbps = 96\nextra_formats = []\nwaveform = false")
    assert load_profiles(write(tmp_path, text)).select("a.mp3")[0]["audio"]["waveform"] is False


def test_selection_by_kind_then_longest_prefix_then_metadata(tmp_path):
    book = load_profiles(write(tmp_path, GOOD))
    assert book.select("a.mp4")[1]["video"] == "web"
    assert book.select("hq/a.mp4")[1]["video"] == "tall"
    assert book.select("hq/small/a.mp4")[1]["video"] == "preview"
    assert book.select("a.mp4", {"profile": "preview"})[1]["video"] == "preview"
    assert book.select("a.mp4", {"profile": "music"})[1] == {
        "video": "web",
        "audio": "music",
        "image": "pics",
    }
    assert book.select("a.mp4", {"profile": "../../etc"})[1]["video"] == "web", "unknown names are ignored"
    assert book.select("a.mp4")[0]["video"]["renditions"] == [720, 480]


@pytest.mark.parametrize(
    "change,needle",
    [
        (('kind = "audio"\nbitrate_kbps = 96', 'kind = "audio"\nbitrate_kbps = 9'), "bitrate_kbps = 9"),
        (("variants = [1024]", "variants = [1024]\nsharpen = 1"), "unknown setting 'sharpen'"),
        (("maxrate_kbps = [6000]", "maxrate_kbps = [6000, 1]"), "one value per rendition"),
        (('video = "tall"', 'video = "pics"'), "is not a video profile"),
        (('image = "pics"', ""), "names no image profile"),
        (("renditions = [720, 480]", "renditions = [480, 720]"), "largest to the smallest"),
        (("[defaults]", "[defaults\n"), "profiles ("),
        (
            ("bitrate_kbps = 96", 'bitrate_kbps = 96\nextra_formats = ["flac"]'),
            "'flac' must be one of mp3, opus",
        ),
        (("bitrate_kbps = 96", "bitrate_kbps = 96\nwaveform = 1"), "waveform must be true or false"),
        (
            ("variants = [1024]", 'variants = [1024]\nanimated = "loop"'),
            "'loop' must be one of first_frame, reject",
        ),
        (
            ("maxrate_kbps = [400]", "maxrate_kbps = [400]\nhls_segment_seconds = 0.1"),
            "hls_segment_seconds = 0.1",
        ),
        (
            ("maxrate_kbps = [400]", 'maxrate_kbps = [400]\nstream_copy = "yes"'),
            "stream_copy must be true or false",
        ),
    ],
)
def test_invalid_files_name_the_problem(tmp_path, change, needle):
    with pytest.raises(SettingsError) as info:
        load_profiles(write(tmp_path, GOOD.replace(*change)))
    assert needle in str(info.value)


def test_the_worker_refuses_to_start_on_invalid_profiles(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "MEDIA_WORKER_QUEUE_URL": "http://127.0.0.1:9/q",
        "MEDIA_WORKER_TEMP_BUCKET": "t",
        "MEDIA_WORKER_PRODUCTION_BUCKET": "p",
        "AWS_REGION": "us-east-1",
        "MEDIA_WORKER_RUNTIME": "process",
        "MEDIA_WORKER_PROFILES_PATH": write(
            tmp_path, GOOD.replace("crf", "x") + '\n[profiles.bad]\nkind = "x"\n'
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "worker"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2 and "profile 'bad'" in proc.stderr and "Traceback" not in proc.stderr
