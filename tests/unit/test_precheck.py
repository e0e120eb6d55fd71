"""The host's stage-1 checks: a fixed signature table, no parser of upload content (libmagic runs in the
sandbox: container.sniff). The table must let through everything the sandbox accepts."""

import os
import subprocess
import sys

import pytest

from container.sniff import sniff_file
from tests.support.heads import head
from worker.child.precheck import check_signature
from worker.errors import Reason, RejectedInput


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"#EXTM3U\n/etc/passwd\n",
        b"\x7fELF\x02\x01\x01" + bytes(200),
        b"PK\x03\x04" + bytes(60),
        b"%PDF-1.7\n",
        b"<!DOCTYPE html><html>",
    ],
)
def test_non_media_is_refused_before_the_download(data):
    with pytest.raises(RejectedInput) as info:
        check_signature(data)
    assert info.value.reason is Reason.NOT_MEDIA


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b"II*\0" + bytes(60),
        b"BM" + bytes(60),
        b"MThd" + bytes(20),
        b"FLV\x01\x05" + bytes(9),
        bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(20),
        b"\xff\xf1\x50\x80" + bytes(20),
    ],
)
def test_media_we_do_not_take_is_unsupported_type_on_the_host(data):
    with pytest.raises(RejectedInput) as info:
        check_signature(data)
    assert info.value.reason is Reason.UNSUPPORTED_TYPE


def test_the_sandbox_calls_svg_unsupported_too(tmp_path):
    path = tmp_path / "x.svg"
    path.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    from container.errors import Rejected

    with pytest.raises(Rejected) as info:
        sniff_file(str(path))
    assert info.value.reason == "unsupported_type"


def test_no_worker_module_loads_a_parser_of_upload_content():
    """libmagic, PyAV, Pillow and libheif never load in the host service's processes."""
    code = (
        "import sys, worker.parent.service, worker.child.job, worker.parent.pool, worker.cli, worker.child.publish, worker.child.outputs;"
        "bad = sorted(m for m in ('magic', 'av', 'PIL', 'pillow_heif', 'numpy') if m in sys.modules);"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert out.stdout.strip() == ""


def test_an_rf64_wav_passes_the_host_and_the_sandbox(tmp_path):
    path = tmp_path / "long.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-rf64", "always", str(path)],
        check=True,
    )
    assert path.read_bytes()[:4] == b"RF64"
    assert check_signature(head(path)).name == "wav" and sniff_file(str(path)).demuxer == "wav"
