"""What the default profiles must produce, spelled out once for the tests."""

from __future__ import annotations

import hashlib


def video_outputs(*rungs: str, segments: int = 1) -> list[str]:
    """Output names, in order, of a video with these rungs (``"360p"``…) and HLS segments per rung."""
    names = [f"video_{rung}.mp4" for rung in rungs] + ["poster.jpg", "storyboard.jpg", "storyboard.vtt"]
    for rung in rungs:
        names += [f"hls_{rung}.m3u8", f"hls_{rung}_init.mp4"] + [
            f"hls_{rung}_{i:05d}.m4s" for i in range(segments)
        ]
    return names + ["hls_master.m3u8"]


def assert_outputs_match_the_manifest(stack, outputs):
    """Every listed object exists with the listed size, digest and content type."""
    for o in outputs:
        got = stack.s3.get_object(Bucket=stack.resources.production_bucket, Key=o["key"])
        body = got["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest(), got["ContentType"]) == (
            o["size"],
            o["sha256"],
            o["content_type"],
        ), o["name"]
