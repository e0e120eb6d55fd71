"""result.json is input from an untrusted process: the host's schema and the segment lists it reads itself."""

from __future__ import annotations

import json
import os

import pytest

from worker.child.outputs import collect_outputs
from worker.errors import Reason, RetryableError
from worker.sandbox.base import MAX_RESULT_BYTES, RunExit, interpret
from worker.sandbox.result_schema import problem

RUNGS = {"1080p": (1920, 1080), "720p": (1280, 720), "480p": (854, 480)}


def ok_result(segments: int = 1, seconds: float = 2.0) -> dict:
    outputs = [
        {
            "name": f"video_{r}.mp4",
            "kind": "video",
            "content_type": "video/mp4",
            "rendition": r,
            "width": w,
            "height": h,
            "has_audio": True,
            "method": "encode",
            "audio_method": "encode",
            "duration": seconds,
            "bitrate": 5_000_000,
            "codec": "h264",
            "size": 10**9,
        }
        for r, (w, h) in RUNGS.items()
    ]
    outputs[0]["fast_path"] = {"used": False, "audio_copied": False, "reason": "container is not MP4"}
    outputs.append({"name": "poster.jpg", "kind": "poster", "width": 1920, "height": 1080, "size": 1000})
    for r, (w, h) in RUNGS.items():
        outputs += [
            {
                "name": f"hls_{r}.m3u8",
                "kind": "hls_playlist",
                "rendition": r,
                "segments": segments,
                "duration": seconds,
                "width": w,
                "height": h,
            },
            {"name": f"hls_{r}_init.mp4", "kind": "hls_init", "rendition": r},
        ]
    outputs.append({"name": "hls_master.m3u8", "kind": "hls_master", "variants": 3})
    video = {
        "codec": "h264",
        "width": 1920,
        "height": 1080,
        "fps": 25.0,
        "rotation": 0,
        "pix_fmt": "yuv420p",
        "color_trc": None,
        "color_primaries": None,
        "colorspace": None,
        "display_width": 1920,
        "display_height": 1080,
    }
    return {
        "status": "ok",
        "kind": "video",
        "sniffed": {"mime": "video/mp4", "kind": "video", "demuxer": "mov"},
        "probe": {
            "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
            "kind": "video",
            "duration": seconds,
            "video": video,
            "audio": {"codec": "aac", "channels": 2, "sample_rate": 48000, "language": "und"},
            "demuxer": "mov",
            "mime": "video/mp4",
            "media_seconds": seconds,
            "audio_frame": 0.021,
            "video_seconds": seconds,
            "indexed_duration": seconds,
            "video_index": 0,
            "audio_index": 1,
        },
        "decoded_duration": seconds,
        "outputs": outputs,
        "versions": {"container": "0.1.0", "pyav": "18.1.0"},
        "timings": {"probe": 0.1, "transcode": 1.0, "verify": 0.2},
    }


def test_a_result_of_the_documented_shape_conforms():
    assert problem(ok_result()) is None
    assert problem({"status": "rejected", "reason": "corrupt_media", "message": "truncated"}) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(extra="x"),
        lambda d: d["outputs"][0].update(name="../../etc/passwd"),
        lambda d: d["outputs"][0].update(width="1920"),
        lambda d: d["outputs"][0].update(size=-1),
        lambda d: d["outputs"][0].update(codec="x" * 10_000),
        lambda d: d["outputs"][0].update(fast_path={"used": True, "evil": 1}),
        lambda d: d["probe"]["video"].update(pix_fmt={"nested": "object"}),
        lambda d: d.update(outputs=[]),
        lambda d: d.update(outputs=d["outputs"] * 100),
        lambda d: d["sniffed"].pop("demuxer"),
        lambda d: d["versions"].update(pyav=["not", "a", "string"]),
        lambda d: d["outputs"].append({"name": "hls_720p_00000.m4s", "kind": "hls_segment"}),
    ],
    ids=[
        "extra key",
        "path name",
        "string width",
        "negative size",
        "huge string",
        "unknown nested key",
        "object for a word",
        "no outputs",
        "too many outputs",
        "missing key",
        "list for a version",
        "a segment",
    ],
)
def test_a_non_conforming_result_is_a_sandbox_error_before_it_reaches_the_manifest(tmp_path, tamper):
    doc = ok_result()
    tamper(doc)
    assert problem(doc) is not None
    (tmp_path / "result.json").write_text(json.dumps(doc))
    with pytest.raises(RetryableError) as info:
        interpret(RunExit(exit_code=0), str(tmp_path))
    assert info.value.reason is Reason.SANDBOX_ERROR and "schema" in info.value.message


def test_a_rejection_with_a_hostile_message_is_not_trusted(tmp_path):
    (tmp_path / "result.json").write_text(
        json.dumps({"status": "rejected", "reason": "corrupt_media", "message": "x" * 100_000})
    )
    with pytest.raises(RetryableError) as info:
        interpret(RunExit(exit_code=65), str(tmp_path))
    assert info.value.reason is Reason.SANDBOX_ERROR


def test_a_four_hour_source_with_three_rungs_and_one_second_segments_fits(tmp_path):
    """14 400 segments a rung: the result stays small (its playlists list them), and the host collects all."""
    seconds, per_rung = 4 * 3600.0, 14_400
    doc = ok_result(segments=per_rung, seconds=seconds)
    assert len(json.dumps(doc)) < MAX_RESULT_BYTES // 50
    for item in doc["outputs"]:
        (tmp_path / item["name"]).write_bytes(b"x")
    for rung in RUNGS:
        names = [f"hls_{rung}_{i:05d}.m4s" for i in range(per_rung)]
        lines = ["#EXTM3U", f'#EXT-X-MAP:URI="hls_{rung}_init.mp4"']
        for name in names:
            lines += ["#EXTINF:1.000000,", name]
            with open(tmp_path / name, "wb") as fh:
                fh.write(b"\0\0\0\x08moof")
        (tmp_path / f"hls_{rung}.m3u8").write_text("\n".join(lines + ["#EXT-X-ENDLIST", ""]))
    (tmp_path / "result.json").write_text(json.dumps(doc))
    result = interpret(RunExit(exit_code=0), str(tmp_path))
    collected = collect_outputs(result, str(tmp_path), "media/x/attempt/")
    assert sum(1 for o in collected if o["kind"] == "hls_segment") == 3 * per_rung
    position = [o["name"] for o in collected].index("hls_720p_init.mp4")
    assert (
        collected[position + 1]["name"] == "hls_720p_00000.m4s" and collected[position + 1]["duration"] == 1.0
    )


@pytest.mark.parametrize("listed", ["../secret.m4s", "hls_480p_00000.m4s", "/etc/passwd", "hls_720p_0.m4s"])
def test_a_playlist_may_list_only_its_own_segment_names(tmp_path, listed):
    doc = ok_result()
    for item in doc["outputs"]:
        (tmp_path / item["name"]).write_bytes(b"x")
    for rung in RUNGS:
        segment = listed if rung == "720p" else f"hls_{rung}_00000.m4s"
        (tmp_path / f"hls_{rung}.m3u8").write_text(f"#EXTM3U\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n")
        if "/" not in segment:
            (tmp_path / segment).write_bytes(b"x")
    with pytest.raises(RetryableError, match="lists"):
        collect_outputs(doc, str(tmp_path), "p/")
    assert os.path.exists(tmp_path / "hls_1080p_00000.m4s")
