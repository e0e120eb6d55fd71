"""Video → one H.264/AAC faststart MP4 (rotation applied, never upscaled) + a JPEG poster."""
from __future__ import annotations

import os
from typing import Any

import av

from container.encoders import add_aac, add_h264, decode_packet, fit_within, mux_all, write_jpeg
from container.errors import Rejected
from container.limits import DecodeBudget
from container.probe import Probe, open_input
from container.spec import JobSpec

_TRANSPOSE = {90: [("transpose", "cclock")], -90: [("transpose", "clock")], 180: [("hflip", ""), ("vflip", "")]}


def transcode_video(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> list[dict[str, Any]]:
    """Write ``video.mp4`` and ``poster.jpg``; return their planned descriptions."""
    assert probe.video is not None
    settings, demuxer, threads = spec.profile["video"], spec.demuxer, spec.threads
    budget = DecodeBudget(spec.limits, probe.video.fps)
    disp_w, disp_h = probe.video.display_size
    width, height = fit_within(disp_w, disp_h, int(settings["max_long_side"]), int(settings["max_short_side"]))
    mp4_path = os.path.join(out_dir, "video.mp4")
    poster_at = float(settings["poster_time"])
    if probe.duration:
        poster_at = min(poster_at, probe.duration / 2)
    poster = None
    with open_input(src, demuxer) as inp, av.open(mp4_path, "w", format="mp4",
                                                  options={"movflags": "+faststart"}) as out:
        vin = next(s for s in inp.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
        vin.codec_context.thread_type = "AUTO"
        vin.codec_context.thread_count = threads
        ain = inp.streams.audio[0] if probe.audio else None
        vout = add_h264(out, width=width, height=height, fps=probe.video.fps, time_base=vin.time_base,
                        threads=threads, settings=settings)
        aout = add_aac(out, source_rate=probe.audio.sample_rate,
                       bitrate_kbps=int(settings["audio_bitrate_kbps"])) if ain else None
        graph, sink_tb = _video_graph(vin, probe.video.rotation, width, height)
        for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
            for frame in decode_packet(packet):
                if packet.stream is vin:
                    budget.video(frame)
                    graph.push(frame)
                    poster = _drain(graph, vout, out, sink_tb, poster, poster_at)
                    budget.output(mp4_path)
                else:
                    budget.audio(frame)
                    mux_all(out, aout.encode(frame))
        graph.push(None)
        poster = _drain(graph, vout, out, sink_tb, poster, poster_at)
        mux_all(out, vout.encode(None))
        if aout is not None:
            mux_all(out, aout.encode(None))
    if poster is None:
        raise Rejected("decode_failed", "no video frame could be decoded")
    budget.check_complete(probe.duration)
    write_jpeg(poster, os.path.join(out_dir, "poster.jpg"), int(settings["poster_quality"]))
    video_out = {"name": "video.mp4", "kind": "video", "content_type": "video/mp4",
                 "width": width, "height": height, "has_audio": ain is not None}
    poster_out = {"name": "poster.jpg", "kind": "poster", "content_type": "image/jpeg",
                  "width": width, "height": height}
    return [video_out, poster_out]


def _video_graph(vin: av.video.stream.VideoStream, rotation: int, width: int, height: int):
    graph = av.filter.Graph()
    chain = [graph.add_buffer(template=vin)]
    for name, args in _TRANSPOSE.get(rotation, []):
        chain.append(graph.add(name, args))
    chain.append(graph.add("scale", f"{width}:{height}"))
    chain.append(graph.add("format", "yuv420p"))
    chain.append(graph.add("buffersink"))
    graph.link_nodes(*chain).configure()
    return graph, vin.time_base


def _drain(graph, vout, out, time_base, poster, poster_at):
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return poster
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.time_base = time_base
        if poster is None or (frame.pts is not None and frame.time is not None and frame.time <= poster_at):
            poster = frame
        mux_all(out, vout.encode(frame))
