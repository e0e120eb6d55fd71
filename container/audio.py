"""Audio → AAC-LC stereo ``audio.m4a`` with faststart."""
from __future__ import annotations

import os
from typing import Any

import av

from container.encoders import add_aac, decode_packet, mux_all
from container.limits import DecodeBudget
from container.probe import Probe, open_input
from container.spec import JobSpec


def transcode_audio(src: str, probe: Probe, out_dir: str, spec: JobSpec) -> list[dict[str, Any]]:
    """Write ``audio.m4a``; return its planned description."""
    assert probe.audio is not None
    settings, demuxer = spec.profile["audio"], spec.demuxer
    budget = DecodeBudget(spec.limits, 1.0)
    path = os.path.join(out_dir, "audio.m4a")
    with open_input(src, demuxer) as inp, av.open(path, "w", format="ipod",
                                                  options={"movflags": "+faststart"}) as out:
        ain = inp.streams.audio[0]
        aout = add_aac(out, source_rate=probe.audio.sample_rate, bitrate_kbps=int(settings["bitrate_kbps"]))
        for packet in inp.demux(ain):
            for frame in decode_packet(packet):
                budget.audio(frame)
                mux_all(out, aout.encode(frame))
            budget.output(path)
        mux_all(out, aout.encode(None))
    budget.check_complete(probe.duration)
    return [{"name": "audio.m4a", "kind": "audio", "content_type": "audio/mp4", "has_audio": True}]
