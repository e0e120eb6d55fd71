"""Image → ``image.webp`` at most ``max_long_side`` pixels on its long side, never upscaled."""
from __future__ import annotations

import os
from typing import Any

import av

from container.encoders import fit_within
from container.errors import Rejected
from container.probe import Probe, open_input
from container.spec import JobSpec


def transcode_image(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> list[dict[str, Any]]:
    """Write ``image.webp`` from the first frame; return its planned description."""
    assert probe.video is not None
    settings, demuxer = spec.profile["image"], spec.demuxer
    longest = int(settings["max_long_side"])
    with open_input(src, demuxer) as inp:
        try:
            frame = next(inp.decode(video=0))
        except (StopIteration, av.error.FFmpegError) as exc:
            raise Rejected("decode_failed", f"the image does not decode: {exc}") from None
    spec.limits.check_size(frame.width, frame.height, "the image")
    width, height = fit_within(frame.width, frame.height, longest, longest)
    alpha = frame.format.name in ("rgba", "bgra", "argb", "abgr", "yuva420p", "pal8", "ya8", "rgba64be", "rgba64le")
    pix_fmt = "yuva420p" if alpha else "yuv420p"
    image = frame.reformat(width=width, height=height, format=pix_fmt, interpolation="LANCZOS")
    image.pts = 0
    path = os.path.join(out_dir, "image.webp")
    with av.open(path, "w", format="webp") as out:
        stream = out.add_stream("libwebp", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.options = {"quality": str(settings["quality"]), "lossless": "0"}
        for packet in stream.encode(image):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return [{"name": "image.webp", "kind": "image", "content_type": "image/webp", "width": width, "height": height}]
