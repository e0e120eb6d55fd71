"""The ladder of one decode pass: the renditions planned for a video (never upscaled, portrait kept),
opened, fed decoded frames and copied packets, flushed, and described for result.json. The top rendition's
frames also make the poster and the storyboard."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any

import av

from container.encoders import add_aac, add_h264, fit_within, mux_all, scaling_graph
from container.limits import DecodeBudget
from container.probe import Probe
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
        w, h = fit_within(
            width, height, max(target, math.ceil(target * 16 / 9)) if long_ > short else target, target
        )
        if all((r.width, r.height) != (w, h) for r in plan):
            plan.append(Rendition(f"video_{target}p.mp4", w, h, rate))  # named by its rung: predictable keys
    return plan


class Ladder:
    """Every rendition of one pass: ``open`` them, then ``feed_video`` / ``feed_audio`` each decoded frame and
    ``copy`` each packet (a copied rendition takes it as it is), ``flush`` at the end, ``describe`` for the
    result. ``poster`` is the top rendition's frame at the profile's poster time."""

    def __init__(
        self,
        renditions: list[Rendition],
        vin: Any,
        budget: DecodeBudget,
        board: Storyboard | None,
        poster_at: float,
    ) -> None:
        self.renditions, self.top, self._vin, self._budget = renditions, renditions[0], vin, budget
        self._board, self._poster_at = board, poster_at
        self.poster: Any = None
        self.keyframes_only = self.decodes_audio = False  # known once opened

    def open(
        self,
        stack: contextlib.ExitStack,
        out_dir: str,
        ain: Any,
        probe: Probe,
        settings: dict[str, Any],
        threads: int,
        copy_index: int | None,
        copy_audio: bool,
    ) -> None:
        """Open each rendition's MP4 and its encoders, or its copied streams (the fast path's one)."""
        for i, r in enumerate(self.renditions):
            _open_rendition(
                r,
                stack,
                out_dir,
                self._vin,
                ain,
                probe,
                settings,
                threads,
                copy_video=i == copy_index,
                copy_audio=i == copy_index and copy_audio,
                is_top=i == 0,
            )
        # nothing to encode: keyframes are enough for the poster and the storyboard (the fast path's keyframes
        # are at most 2 × GOP apart); skipping the other packets' decode is most of the copy path's saving
        self.keyframes_only = all(r.vout is None for r in self.renditions)
        self.decodes_audio = any(r.aout is not None for r in self.renditions)

    def skips(self, packet: Any) -> bool:
        """True for a packet no encoder needs decoded (it is only copied)."""
        return bool(packet.size) and (
            (packet.stream is self._vin and self.keyframes_only and not packet.is_keyframe)
            or (packet.stream is not self._vin and not self.decodes_audio)
        )

    def feed_video(self, frame: Any) -> None:
        self._budget.video(frame)
        for r in self.renditions:
            if r.graph is not None:
                r.graph.push(frame)
                self._shown(r)
                self._budget.output(r.path)

    def feed_audio(self, frame: Any) -> None:
        self._budget.audio(frame)
        for r in self.renditions:
            if r.aout is not None:
                mux_all(r.out, r.aout.encode(frame))

    def copy(self, packet: Any) -> None:
        _copy_packet(self.renditions, packet, self._budget)

    def flush(self) -> None:
        """Drain the scaling graphs and the encoders, and the colour retagging of a copied stream."""
        for r in self.renditions:
            if r.graph is not None:
                r.graph.push(None)
                self._shown(r)
            if r.vout is not None:
                mux_all(r.out, r.vout.encode(None))
            if r.retag is not None:
                for packet in r.retag.filter(None):
                    packet.stream = r.copies[self._vin.index]
                    r.out.mux(packet)
            if r.aout is not None:
                mux_all(r.out, r.aout.encode(None))

    def describe(self, has_audio: bool) -> list[dict[str, Any]]:
        """The renditions as result.json lists them."""
        return [
            {
                "name": r.name,
                "kind": "video",
                "content_type": "video/mp4",
                "rendition": r.rung,
                "width": r.width,
                "height": r.height,
                "has_audio": has_audio,
                "method": "copy" if r.vout is None else "encode",
                "audio_method": None
                if not has_audio
                else ("copy" if r.copies and r.aout is None else "encode"),
            }
            for r in self.renditions
        ]

    def _shown(self, r: Rendition) -> None:
        """Encode what ``r``'s graph has ready; the top rendition's frames go to the poster and storyboard."""
        shown = _drain(r, self._vin.time_base)
        if r is self.top:
            self.poster = _pick_poster(self.poster, shown, self._poster_at)
            if self._board is not None:
                for frame in shown:
                    self._board.offer(frame)


def _open_rendition(
    r: Rendition,
    stack: contextlib.ExitStack,
    out_dir: str,
    vin: Any,
    ain: Any,
    probe: Probe,
    settings: dict[str, Any],
    threads: int,
    *,
    copy_video: bool,
    copy_audio: bool,
    is_top: bool,
) -> None:
    r.path = os.path.join(out_dir, r.name)
    r.out = stack.enter_context(av.open(r.path, "w", format="mp4", options={"movflags": "+faststart"}))
    if copy_video:
        r.copies[vin.index] = r.out.add_stream_from_template(vin)
        r.retag = av.bitstream.BitStreamFilterContext(RETAG_BT709, vin, r.copies[vin.index])
    else:
        r.vout = add_h264(
            r.out,
            width=r.width,
            height=r.height,
            fps=probe.video.fps,
            time_base=vin.time_base,
            threads=threads,
            settings={**settings, "maxrate_kbps": r.maxrate_kbps},
        )
    if ain is not None and copy_audio:
        r.copies[ain.index] = r.out.add_stream_from_template(ain)
    elif ain is not None:
        r.aout = add_aac(
            r.out, source_rate=probe.audio.sample_rate, bitrate_kbps=int(settings["audio_bitrate_kbps"])
        )
    if r.vout is not None or is_top:  # the top rendition's frames also make the poster and storyboard
        r.graph = scaling_graph(vin, probe.video.rotation, r.width, r.height, video=probe.video)


def _copy_packet(ladder: list[Rendition], packet: av.Packet, budget: DecodeBudget) -> None:
    """Mux a demuxed packet into the copied rendition (after decoding: muxing takes the packet's data)."""
    for r in ladder:
        target = r.copies.get(packet.stream.index)
        if target is not None and packet.size:  # size 0: an end-of-stream marker, not media
            # copied media counts as decoded media, but an edit list's hidden pre-roll is not shown: not counted
            if packet.pts is not None and packet.time_base is not None and not packet.is_discard:
                budget.seen(
                    packet.stream.type,
                    float(packet.pts * packet.time_base),
                    float((packet.duration or 0) * packet.time_base),
                )
            for out in r.retag.filter(packet) if packet.stream.type == "video" and r.retag else [packet]:
                out.stream = target
                r.out.mux(out)
            budget.output(r.path)
            return


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
