"""What the default profiles must produce, spelled out once for the tests."""
from __future__ import annotations


def video_outputs(*rungs: str, segments: int = 1) -> list[str]:
    """Output names, in order, of a video with these rungs (``"360p"``…) and HLS segments per rung."""
    names = [f"video_{rung}.mp4" for rung in rungs] + ["poster.jpg", "storyboard.jpg", "storyboard.vtt"]
    for rung in rungs:
        names += [f"hls_{rung}.m3u8", f"hls_{rung}_init.mp4"] + [f"hls_{rung}_{i:05d}.m4s" for i in range(segments)]
    return names + ["hls_master.m3u8"]
