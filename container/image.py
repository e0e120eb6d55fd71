"""Image → WebP variants (2048, 1024, 320 px on the long side by default), never upscaled, orientation
applied, no metadata carried over (EXIF, GPS and XMP never reach the encoder).

HEIF/HEIC photos come whole and upright from libheif (container.heif); everything else is decoded by FFmpeg
with its one demuxer and turned by its EXIF orientation. Animated inputs (GIF, or any image demuxer that
yields a second frame) follow the profile's ``animated`` policy: ``first_frame`` makes the variants from
the first frame (the outputs say ``animated: true``), ``reject`` rejects the upload with the reason
``animated_image``. A multi-image HEIF (a burst, a Live Photo still) is a still: its primary image.
"""

from __future__ import annotations

import os
from typing import Any

import av

from container.encoders import fit_within, scaling_graph
from container.errors import Rejected
from container.probe import Probe, normalise_rotation, open_input
from container.sniff import HEIF_MIMES
from container.spec import JobSpec

ALPHA_FORMATS = {
    "rgba",
    "bgra",
    "argb",
    "abgr",
    "yuva420p",
    "pal8",
    "ya8",
    "ya16be",
    "ya16le",
    "rgba64be",
    "rgba64le",
    "gbrap",
}


def plan_variants(width: int, height: int, sizes: list[int]) -> list[tuple[str, int, int]]:
    """(name, width, height) for each long-side size not above the source; a smaller source gets its own size."""
    longest = max(width, height)
    chosen = [s for s in sizes if s <= longest] or [longest]
    plan = []
    for size in chosen:
        w, h = fit_within(width, height, size, size)
        if all((w, h) != (pw, ph) for _, pw, ph in plan):
            plan.append((f"image_{size}.webp", w, h))
    return plan


def transcode_image(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> tuple[list[dict[str, Any]], None]:
    """Write the WebP variants from the (first or primary) picture; return their planned descriptions."""
    settings = spec.profile["image"]
    if probe.mime in HEIF_MIMES:
        from container.heif import decode_heif

        frame, animated, rotation = decode_heif(src, spec.limits), False, 0
    else:
        frame, animated = _first_picture(src, probe, settings["animated"])
        rotation = normalise_rotation(frame.rotation)
    spec.limits.check_size(frame.width, frame.height, "the image")
    upright = (frame.height, frame.width) if abs(rotation) == 90 else (frame.width, frame.height)
    pix_fmt = "yuva420p" if frame.format.name in ALPHA_FORMATS else "yuv420p"
    planned = []
    for name, width, height in plan_variants(*upright, [int(s) for s in settings["variants"]]):
        image = _scaled(frame, rotation, width, height, pix_fmt)
        _write_webp(image, os.path.join(out_dir, name), pix_fmt, int(settings["quality"]))
        planned.append(
            {
                "name": name,
                "kind": "image",
                "content_type": "image/webp",
                "width": width,
                "height": height,
                "rendition": name[6:-5],
                "animated": animated,
            }
        )
    return planned, None


def _first_picture(src: str, probe: Probe, policy: str) -> tuple[av.VideoFrame, bool]:
    with open_input(src, probe.demuxer) as inp:
        frames = inp.decode(inp.streams[probe.video_index])
        try:
            frame = next(frames)
        except (StopIteration, av.error.FFmpegError) as exc:
            raise Rejected("decode_failed", f"the image does not decode: {exc}") from None
        animated = _has_second_frame(frames)
    if animated and policy == "reject":
        raise Rejected("animated_image", "the image is animated; this profile takes still images only")
    return frame, animated


def _scaled(frame: av.VideoFrame, rotation: int, width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    graph = scaling_graph(frame, rotation, width, height, pix_fmt)
    frame.pts = 0
    graph.push(frame)
    image = graph.pull()
    image.pts = 0
    return image


def _has_second_frame(frames) -> bool:
    """True when the decoder yields another frame (a broken second frame still means "animated")."""
    try:
        next(frames)
    except StopIteration:
        return False
    except av.error.FFmpegError:
        return True
    return True


def _write_webp(image: av.VideoFrame, path: str, pix_fmt: str, quality: int) -> None:
    with av.open(path, "w", format="webp") as out:
        stream = out.add_stream("libwebp", rate=1)
        stream.width, stream.height, stream.pix_fmt = image.width, image.height, pix_fmt
        stream.codec_context.options = {"quality": str(quality), "lossless": "0"}
        for packet in stream.encode(image):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
