"""Audio → AAC-LC stereo ``audio.m4a`` with faststart, loudness-normalised (EBU R128 / BS.1770), optional
MP3 (``audio.mp3``) and Opus-in-Ogg (``audio.opus``) copies of the same normalised signal, and waveform peaks.

Normalisation is FFmpeg's ``loudnorm`` filter in one pass (dynamic mode) to the profile's integrated
target (−16 LUFS by default) and true-peak ceiling, resampled back to 48 kHz for AAC.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import av

from container.encoders import add_aac, decode_packet, mux_all
from container.errors import Rejected
from container.limits import DecodeBudget, output_cap
from container.probe import Probe, open_input
from container.spec import JobSpec
from container.timeline import Decoded, check_complete

AAC_RATE = 48000


def loudness_graph(
    stream: av.audio.stream.AudioStream, target_lufs: float, true_peak_db: float
) -> av.filter.Graph:
    """abuffer → loudnorm → 48 kHz → fltp stereo → sink."""
    graph = av.filter.Graph()
    chain = [
        graph.add_abuffer(template=stream),
        graph.add("loudnorm", f"I={target_lufs}:TP={true_peak_db}:LRA=11"),
        graph.add("aresample", str(AAC_RATE)),
        graph.add("aformat", "sample_fmts=fltp:channel_layouts=stereo"),
        graph.add("abuffersink"),
    ]
    graph.link_nodes(*chain).configure()
    return graph


EXTRA_FORMATS = {  # profile name → (file, muxer, encoder, content type, codec the check expects)
    "mp3": ("audio.mp3", "mp3", "libmp3lame", "audio/mpeg", "mp3"),
    "opus": ("audio.opus", "ogg", "libopus", "audio/ogg", "opus"),
}


def transcode_audio(
    src: str, probe: Probe, out_dir: str, spec: JobSpec
) -> tuple[list[dict[str, Any]], Decoded]:
    """Write ``audio.m4a``, the optional MP3/Opus targets and ``waveform.json``; return their descriptions."""
    assert probe.audio is not None
    settings, demuxer = spec.profile["audio"], probe.demuxer
    budget = DecodeBudget(spec.limits, 1.0, output_cap("audio", settings, probe.media_seconds, [], True))
    target = settings.get("loudness_lufs")
    bitrate = int(settings["bitrate_kbps"])
    rate = AAC_RATE if target is not None else probe.audio.sample_rate
    waveform = None
    if settings["waveform"]:
        from container.waveform import Waveform  # numpy takes ~0.5 s to import: only audio jobs pay it

        waveform = Waveform(int(settings["waveform_samples_per_pixel"]))
    planned = [
        {
            "name": "audio.m4a",
            "kind": "audio",
            "content_type": "audio/mp4",
            "has_audio": True,
            "codec": "aac",
            "loudness_lufs": target,
        }
    ]
    with contextlib.ExitStack() as stack:
        inp = stack.enter_context(open_input(src, demuxer))
        m4a = stack.enter_context(
            av.open(
                os.path.join(out_dir, "audio.m4a"), "w", format="ipod", options={"movflags": "+faststart"}
            )
        )
        outputs = [(m4a, add_aac(m4a, source_rate=rate, bitrate_kbps=bitrate))]
        for fmt in settings["extra_formats"]:
            name, muxer, encoder, content_type, codec = EXTRA_FORMATS[fmt]
            out = stack.enter_context(av.open(os.path.join(out_dir, name), "w", format=muxer))
            stream = out.add_stream(encoder, rate=48000 if encoder == "libopus" else rate)
            stream.codec_context.layout = "stereo"
            stream.codec_context.bit_rate = bitrate * 1000
            outputs.append((out, stream))
            planned.append(
                {
                    "name": name,
                    "kind": "audio",
                    "content_type": content_type,
                    "has_audio": True,
                    "codec": codec,
                    "loudness_lufs": target,
                }
            )
        ain = inp.streams[probe.audio_index]
        graph = (
            loudness_graph(ain, float(target), float(settings["true_peak_db"]))
            if target is not None
            else None
        )
        for packet in inp.demux(ain):
            for frame in decode_packet(packet):
                budget.audio(frame)
                if graph is None:
                    _encode(frame, outputs, waveform)
                else:
                    graph.push(frame)
                    _drain(graph, outputs, waveform)
            for out, _ in outputs:
                budget.output(out.name)
        if graph is not None:
            graph.push(None)
            _drain(graph, outputs, waveform)
        for out, stream in outputs:
            mux_all(out, stream.encode(None))
    if not budget.samples:
        raise Rejected("decode_failed", "no audio frame could be decoded")
    decoded = Decoded(budget.extent.seconds, budget.extent.audio_frame)
    check_complete(decoded.seconds, probe)
    if waveform is not None:
        planned.append(waveform.finish(out_dir))
    budget.outputs_done(out_dir)
    return planned, decoded


def _encode(frame: av.AudioFrame, outputs: list[tuple[Any, Any]], waveform: Any) -> None:
    for out, stream in outputs:
        mux_all(out, stream.encode(frame))
    if waveform is not None:
        waveform.add(frame)


def _drain(graph: av.filter.Graph, outputs: list[tuple[Any, Any]], waveform: Any) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        frame.pts = (
            None  # the encoders count samples themselves; loudnorm's output rate differs from its input's
        )
        _encode(frame, outputs, waveform)
