"""Video → an H.264/AAC faststart MP4 ladder (rotation applied, never upscaled) + a JPEG poster."""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

import av

from container import hls
from container.encoders import add_aac, add_h264, decode_packet, fit_within, mux_all, scaling_graph, write_jpeg
from container.errors import Rejected
from container.fastpath import plan_copy
from container.limits import DecodeBudget, output_cap
from container.probe import Probe, open_input
from container.timeline import Decoded, check_complete
from container.spec import JobSpec
from container.storyboard import Storyboard

RETAG_BT709 = "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1:video_full_range_flag=0"


@dataclass
class Rendition:
    """One output of the ladder and its encoding (or stream-copy) state."""

    name: str
    width: int
    height: int
    maxrate_kbps: int
    path: str = ""
    out: Any = None
    vout: Any = None  # encoder stream, or None when the video is copied
    aout: Any = None  # encoder stream, or None when the audio is copied or absent
    graph: Any = None  # scaling graph; None for a copied rendition that feeds no poster
    copies: dict = field(default_factory=dict)  # input stream index → output stream, for copied packets
    retag: Any = None  # h264_metadata filter writing bt709 colour tags into a copied video stream

    @property
    def rung(self) -> str:
        """``1080p`` for ``video_1080p.mp4``."""
        return self.name[6:-4]


def plan_ladder(width: int, height: int, settings: dict[str, Any]) -> list[Rendition]:
    """Renditions not above the source (short side ≤ the source's); a smaller source gets one at its own size."""
    heights = [int(h) for h in settings["renditions"]]
    rates = settings["maxrate_kbps"]
    rates = [int(r) for r in rates] if isinstance(rates, list) else [int(rates)] * len(heights)
    short, long_ = min(width, height), max(width, height)
    chosen = [(h, r) for h, r in zip(heights, rates) if h <= short] or [(short, rates[-1])]
    plan: list[Rendition] = []
    for target, rate in chosen:
        # the 16:9 box of that height, turned with the picture, so portrait stays portrait
        w, h = fit_within(width, height, max(target, math.ceil(target * 16 / 9)) if long_ > short else target, target)
        if all((r.width, r.height) != (w, h) for r in plan):
            plan.append(Rendition(f"video_{target}p.mp4", w, h, rate))  # named by its rung: predictable keys
    return plan


def transcode_video(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> tuple[list[dict[str, Any]], Decoded]:
    """Write the ladder's MP4s, ``poster.jpg`` and the storyboard in one decode pass, then the HLS set."""
    assert probe.video is not None
    settings, demuxer, threads = spec.profile["video"], probe.demuxer, spec.threads
    ladder = plan_ladder(*probe.video.display_size, settings)
    cap = output_cap("video", settings, probe.media_seconds, [r.maxrate_kbps for r in ladder], probe.audio is not None)
    budget = DecodeBudget(spec.limits, probe.video.fps, cap)
    copy = plan_copy(src, probe, [(r.width, r.height, r.maxrate_kbps) for r in ladder], settings)
    top = ladder[0]
    # planned from the video packets' span (a header's duration may be missing or wrong: container.timeline)
    seconds = probe.video_seconds or probe.media_seconds
    board = Storyboard(seconds, top.width, top.height, settings) if settings["storyboard"] else None
    poster_at = float(settings["poster_time"])
    if seconds:
        poster_at = min(poster_at, seconds / 2)
    poster = None
    with contextlib.ExitStack() as stack:
        inp = stack.enter_context(open_input(src, demuxer))
        vin = inp.streams[probe.video_index]
        vin.codec_context.thread_type = "AUTO"
        vin.codec_context.thread_count = threads
        ain = inp.streams[probe.audio_index] if probe.audio else None
        for i, r in enumerate(ladder):
            _open_rendition(r, stack, out_dir, vin, ain, probe, settings, threads,
                            copy_video=i == copy.index, copy_audio=i == copy.index and copy.copy_audio, is_top=i == 0)
        # Nothing to encode: keyframes are enough for the poster and the storyboard (the fast path's keyframes
        # are at most 2 × GOP apart); skipping the other packets' decode is most of the copy path's saving.
        # (The decoder's skip_frame = NONKEY still decoded every frame here.)
        keyframes_only = all(r.vout is None for r in ladder)
        decode_audio = any(r.aout is not None for r in ladder)
        for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
            if packet.size and ((packet.stream is vin and keyframes_only and not packet.is_keyframe)
                                or (packet.stream is not vin and not decode_audio)):
                _copy_packet(ladder, packet, budget)
                continue
            for frame in decode_packet(packet):
                if packet.stream is vin:
                    budget.video(frame)
                    for r in ladder:
                        if r.graph is None:
                            continue
                        r.graph.push(frame)
                        shown = _drain(r, vin.time_base)
                        if r is top:
                            poster = _pick_poster(poster, shown, poster_at)
                            _offer(board, shown)
                        budget.output(r.path)
                else:
                    budget.audio(frame)
                    for r in ladder:
                        if r.aout is not None:
                            mux_all(r.out, r.aout.encode(frame))
            _copy_packet(ladder, packet, budget)
        for r in ladder:
            if r.graph is not None:
                r.graph.push(None)
                shown = _drain(r, vin.time_base)
                if r is top:
                    poster = _pick_poster(poster, shown, poster_at)
                    _offer(board, shown)
            if r.vout is not None:
                mux_all(r.out, r.vout.encode(None))
            if r.retag is not None:
                for packet in r.retag.filter(None):
                    packet.stream = r.copies[vin.index]
                    r.out.mux(packet)
            if r.aout is not None:
                mux_all(r.out, r.aout.encode(None))
    if poster is None:
        raise Rejected("decode_failed", "no video frame could be decoded")
    decoded = Decoded(budget.extent.seconds, budget.extent.audio_frame)
    check_complete(decoded.seconds, probe)
    write_jpeg(poster, os.path.join(out_dir, "poster.jpg"), int(settings["poster_quality"]))
    planned = [{"name": r.name, "kind": "video", "content_type": "video/mp4", "rendition": r.rung,
                "width": r.width, "height": r.height, "has_audio": ain is not None,
                "method": "copy" if r.vout is None else "encode",
                "audio_method": None if ain is None else ("copy" if r.copies and r.aout is None else "encode")}
               for r in ladder]
    planned.append({"name": "poster.jpg", "kind": "poster", "content_type": "image/jpeg",
                    "width": top.width, "height": top.height})
    if board is not None:
        planned += board.finish(out_dir, int(settings["poster_quality"]))
    if settings["hls"]:
        planned += _package_hls(ladder, out_dir, probe, settings)
    planned[0]["fast_path"] = copy.to_dict()
    budget.outputs_done(out_dir)
    return planned, decoded


def _open_rendition(r: Rendition, stack: contextlib.ExitStack, out_dir: str, vin: Any, ain: Any, probe: Probe,
                    settings: dict[str, Any], threads: int, *, copy_video: bool, copy_audio: bool, is_top: bool) -> None:
    r.path = os.path.join(out_dir, r.name)
    r.out = stack.enter_context(av.open(r.path, "w", format="mp4", options={"movflags": "+faststart"}))
    if copy_video:
        r.copies[vin.index] = r.out.add_stream_from_template(vin)
        r.retag = av.bitstream.BitStreamFilterContext(RETAG_BT709, vin, r.copies[vin.index])
    else:
        r.vout = add_h264(r.out, width=r.width, height=r.height, fps=probe.video.fps, time_base=vin.time_base,
                          threads=threads, settings={**settings, "maxrate_kbps": r.maxrate_kbps})
    if ain is not None and copy_audio:
        r.copies[ain.index] = r.out.add_stream_from_template(ain)
    elif ain is not None:
        r.aout = add_aac(r.out, source_rate=probe.audio.sample_rate,
                         bitrate_kbps=int(settings["audio_bitrate_kbps"]))
    if r.vout is not None or is_top:  # the top rendition's frames also make the poster and storyboard
        r.graph = scaling_graph(vin, probe.video.rotation, r.width, r.height, video=probe.video)


def _copy_packet(ladder: list[Rendition], packet: av.Packet, budget: DecodeBudget) -> None:
    """Mux a demuxed packet into the copied rendition (after decoding: muxing takes the packet's data)."""
    for r in ladder:
        target = r.copies.get(packet.stream.index)
        if target is not None and packet.size:  # size 0: an end-of-stream marker, not media
            # copied media counts as decoded media, but an edit list's hidden pre-roll is not shown: not counted
            if packet.pts is not None and packet.time_base is not None and not packet.is_discard:
                budget.seen(packet.stream.type, float(packet.pts * packet.time_base),
                            float((packet.duration or 0) * packet.time_base))
            for out in (r.retag.filter(packet) if packet.stream.type == "video" and r.retag else [packet]):
                out.stream = target
                r.out.mux(out)
            budget.output(r.path)
            return


def _offer(board: Storyboard | None, frames: list) -> None:
    if board is not None:
        for frame in frames:
            board.offer(frame)


def _package_hls(ladder: list[Rendition], out_dir: str, probe: Probe, settings: dict[str, Any]) -> list[dict]:
    items: list[dict[str, Any]] = []
    variants = []
    for r in ladder:
        packaged = hls.package(r.path, out_dir, r.rung, float(settings["hls_segment_seconds"]))
        packaged[0].update(width=r.width, height=r.height)  # the media playlist is checked like a video
        items += packaged
        variants.append({"playlist": f"hls_{r.rung}.m3u8", "width": r.width, "height": r.height,
                         "fps": probe.video.fps, "codecs": hls.codecs_of(r.path)})
    items.append(hls.write_master(out_dir, variants))
    return items


def _pick_poster(poster, frames, poster_at):
    """The last frame at or before ``poster_at`` (the first frame if none is)."""
    for frame in frames:
        if poster is None or (frame.time is not None and frame.time <= poster_at):
            poster = frame
    return poster


def _drain(r: Rendition, time_base) -> list:
    """Encode what the rendition's graph has ready; return those frames (for the poster)."""
    frames = []
    while True:
        try:
            frame = r.graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return frames
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.time_base = time_base
        frames.append(frame)
        if r.vout is not None:
            mux_all(r.out, r.vout.encode(frame))
