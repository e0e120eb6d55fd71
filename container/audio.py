"""Audio → AAC-LC stereo ``audio.m4a`` with faststart, loudness-normalised (EBU R128 / BS.1770).

Normalisation is FFmpeg's ``loudnorm`` filter in one pass (dynamic mode) to the profile's integrated
target (−16 LUFS by default) and true-peak ceiling, resampled back to 48 kHz for AAC.
"""
from __future__ import annotations

import os
from typing import Any

import av

from container.encoders import add_aac, decode_packet, mux_all
from container.limits import DecodeBudget
from container.probe import Probe, open_input
from container.spec import JobSpec

AAC_RATE = 48000


def loudness_graph(stream: av.audio.stream.AudioStream, target_lufs: float, true_peak_db: float) -> av.filter.Graph:
    """abuffer → loudnorm → 48 kHz → fltp stereo → sink."""
    graph = av.filter.Graph()
    chain = [graph.add_abuffer(template=stream),
             graph.add("loudnorm", f"I={target_lufs}:TP={true_peak_db}:LRA=11"),
             graph.add("aresample", str(AAC_RATE)),
             graph.add("aformat", "sample_fmts=fltp:channel_layouts=stereo"),
             graph.add("abuffersink")]
    graph.link_nodes(*chain).configure()
    return graph


def transcode_audio(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> list[dict[str, Any]]:
    """Write ``audio.m4a``; return its planned description."""
    assert probe.audio is not None
    settings, demuxer = spec.profile["audio"], spec.demuxer
    budget = DecodeBudget(spec.limits, 1.0)
    target = settings.get("loudness_lufs")
    path = os.path.join(out_dir, "audio.m4a")
    with open_input(src, demuxer) as inp, av.open(path, "w", format="ipod",
                                                  options={"movflags": "+faststart"}) as out:
        ain = inp.streams.audio[0]
        rate = AAC_RATE if target is not None else probe.audio.sample_rate
        aout = add_aac(out, source_rate=rate, bitrate_kbps=int(settings["bitrate_kbps"]))
        graph = loudness_graph(ain, float(target), float(settings["true_peak_db"])) if target is not None else None
        for packet in inp.demux(ain):
            for frame in decode_packet(packet):
                budget.audio(frame)
                if graph is None:
                    mux_all(out, aout.encode(frame))
                else:
                    graph.push(frame)
                    _drain(graph, aout, out)
            budget.output(path)
        if graph is not None:
            graph.push(None)
            _drain(graph, aout, out)
        mux_all(out, aout.encode(None))
    budget.check_complete(probe.duration)
    return [{"name": "audio.m4a", "kind": "audio", "content_type": "audio/mp4", "has_audio": True,
             "loudness_lufs": target}]


def _drain(graph: av.filter.Graph, aout: Any, out: Any) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        frame.pts = None  # the encoder counts samples itself; loudnorm's output rate differs from its input's
        mux_all(out, aout.encode(frame))
