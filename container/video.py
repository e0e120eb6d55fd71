"""Video → an H.264/AAC faststart MP4 ladder (rotation applied, never upscaled) + a JPEG poster, the
storyboard and the HLS set, in one decode pass (container.ladder holds the renditions)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from container import hls
from container.encoders import decode_packet, write_jpeg
from container.errors import Rejected
from container.fastpath import plan_copy
from container.ladder import Ladder, Rendition, plan_ladder
from container.limits import DecodeBudget, output_cap
from container.probe import Probe, open_input
from container.spec import JobSpec
from container.storyboard import Storyboard
from container.timeline import Decoded, check_complete

__all__ = ["plan_ladder", "transcode_video"]


def transcode_video(
    src: str, probe: Probe, out_dir: str, spec: JobSpec
) -> tuple[list[dict[str, Any]], Decoded]:
    """Write the ladder's MP4s, ``poster.jpg`` and the storyboard in one decode pass, then the HLS set."""
    assert probe.video is not None
    settings, threads = spec.profile["video"], spec.threads
    renditions = plan_ladder(*probe.video.display_size, settings)
    cap = output_cap(
        "video", settings, probe.media_seconds, [r.maxrate_kbps for r in renditions], probe.audio is not None
    )
    budget = DecodeBudget(spec.limits, probe.video.fps, cap)
    copy = plan_copy(src, probe, [(r.width, r.height, r.maxrate_kbps) for r in renditions], settings)
    top = renditions[0]
    # planned from the video packets' span (a header's duration may be missing or wrong: container.timeline)
    seconds = probe.video_seconds or probe.media_seconds
    board = Storyboard(seconds, top.width, top.height, settings) if settings["storyboard"] else None
    poster_at = float(settings["poster_time"])
    if seconds:
        poster_at = min(poster_at, seconds / 2)
    with contextlib.ExitStack() as stack:
        inp = stack.enter_context(open_input(src, probe.demuxer))
        vin = inp.streams[probe.video_index]
        vin.codec_context.thread_type = "AUTO"
        vin.codec_context.thread_count = threads
        ain = inp.streams[probe.audio_index] if probe.audio else None
        ladder = Ladder(renditions, vin, budget, board, poster_at)
        ladder.open(stack, out_dir, ain, probe, settings, threads, copy.index, copy.copy_audio)
        for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
            if not ladder.skips(packet):  # (the decoder's skip_frame = NONKEY still decoded every frame)
                for frame in decode_packet(packet):
                    (ladder.feed_video if packet.stream is vin else ladder.feed_audio)(frame)
            ladder.copy(packet)
        ladder.flush()
    if ladder.poster is None:
        raise Rejected("decode_failed", "no video frame could be decoded")
    decoded = Decoded(budget.extent.seconds, budget.extent.audio_frame)
    check_complete(decoded.seconds, probe)
    write_jpeg(ladder.poster, os.path.join(out_dir, "poster.jpg"), int(settings["poster_quality"]))
    planned = ladder.describe(ain is not None)
    planned.append(
        {
            "name": "poster.jpg",
            "kind": "poster",
            "content_type": "image/jpeg",
            "width": top.width,
            "height": top.height,
        }
    )
    if board is not None:
        planned += board.finish(out_dir, int(settings["poster_quality"]))
    if settings["hls"]:
        planned += _package_hls(renditions, out_dir, probe, settings)
    planned[0]["fast_path"] = copy.to_dict()
    budget.outputs_done(out_dir)
    return planned, decoded


def _package_hls(ladder: list[Rendition], out_dir: str, probe: Probe, settings: dict[str, Any]) -> list[dict]:
    items: list[dict[str, Any]] = []
    variants = []
    for r in ladder:
        packaged = hls.package(r.path, out_dir, r.rung, float(settings["hls_segment_seconds"]))
        packaged[0].update(width=r.width, height=r.height)  # the media playlist is checked like a video
        items += packaged
        variants.append(
            {
                "playlist": f"hls_{r.rung}.m3u8",
                "width": r.width,
                "height": r.height,
                "fps": probe.video.fps,
                "codecs": hls.codecs_of(r.path),
            }
        )
    items.append(hls.write_master(out_dir, variants))
    return items
