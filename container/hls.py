"""HLS with fMP4 segments: each finished MP4 rendition is re-packaged (stream copy, no re-encode) by FFmpeg's
``hls`` muxer into an init segment, ``.m4s`` media segments and a VOD playlist; a master playlist lists them.

All names are flat (``hls_720p.m3u8``, ``hls_720p_init.mp4``, ``hls_720p_00000.m4s``, ``hls_master.m3u8``)
and every URI in a playlist is relative, so the set plays from any prefix it is copied to.
"""

from __future__ import annotations

import os
from typing import Any

import av

MASTER = "hls_master.m3u8"


def package(mp4_path: str, out_dir: str, rendition: str, segment_seconds: float) -> list[dict[str, Any]]:
    """Cut one rendition into fMP4 segments; return the playlist, init and segment descriptions."""
    stem = f"hls_{rendition}"
    playlist = stem + ".m3u8"
    options = {
        "hls_segment_type": "fmp4",
        "hls_time": f"{segment_seconds:g}",
        "hls_playlist_type": "vod",
        "hls_list_size": "0",
        "hls_flags": "independent_segments",
        "hls_segment_filename": os.path.join(out_dir, stem + "_%05d.m4s"),
        "hls_fmp4_init_filename": stem + "_init.mp4",
    }
    with (
        av.open(mp4_path) as inp,
        av.open(os.path.join(out_dir, playlist), "w", format="hls", options=options) as out,
    ):
        streams = {
            s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")
        }
        for packet in inp.demux(*[s for s in inp.streams if s.index in streams]):
            if packet.size == 0:  # demux's end-of-stream markers, not media
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    segments = read_playlist(os.path.join(out_dir, playlist))
    items: list[dict[str, Any]] = [
        {
            "name": playlist,
            "kind": "hls_playlist",
            "content_type": "application/vnd.apple.mpegurl",
            "rendition": rendition,
            "segments": len(segments),
            "duration": sum(d for _, d in segments),
        },
        {"name": stem + "_init.mp4", "kind": "hls_init", "content_type": "video/mp4", "rendition": rendition},
    ]
    items += [
        {
            "name": name,
            "kind": "hls_segment",
            "content_type": "video/iso.segment",
            "rendition": rendition,
            "duration": seconds,
        }
        for name, seconds in segments
    ]
    return items


def read_playlist(path: str) -> list[tuple[str, float]]:
    """(segment URI, EXTINF seconds) for each segment of a media playlist."""
    segments, pending = [], None
    with open(path, encoding="utf-8") as fh:
        for line in (raw.strip() for raw in fh):
            if line.startswith("#EXTINF:"):
                pending = float(line[8:].split(",", 1)[0])
            elif line and not line.startswith("#") and pending is not None:
                segments.append((line, pending))
                pending = None
    return segments


def write_master(out_dir: str, variants: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``hls_master.m3u8``: one ``EXT-X-STREAM-INF`` per rendition, highest first.

    Each variant gives ``playlist``, ``width``, ``height``, ``fps`` and ``codecs``; BANDWIDTH is the peak and
    AVERAGE-BANDWIDTH the mean bitrate of its segments, as the HLS spec (RFC 8216 §4.3.4.2) asks.
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        peak, average = _bandwidths(out_dir, v["playlist"])
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f'RESOLUTION={v["width"]}x{v["height"]},FRAME-RATE={v["fps"]:.3f},CODECS="{v["codecs"]}"'
        )
        lines.append(v["playlist"])
    with open(os.path.join(out_dir, MASTER), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return {
        "name": MASTER,
        "kind": "hls_master",
        "content_type": "application/vnd.apple.mpegurl",
        "variants": len(variants),
    }


def _bandwidths(out_dir: str, playlist: str) -> tuple[int, int]:
    segments = read_playlist(os.path.join(out_dir, playlist))
    rates = [
        os.path.getsize(os.path.join(out_dir, name)) * 8 / max(seconds, 0.001) for name, seconds in segments
    ]
    total = sum(seconds for _, seconds in segments)
    size = sum(os.path.getsize(os.path.join(out_dir, name)) for name, _ in segments)
    return int(max(rates, default=0)), int(size * 8 / max(total, 0.001))


def codecs_of(mp4_path: str) -> str:
    """RFC 6381 codec names (``avc1.640028,mp4a.40.2``) read from the rendition's own streams."""
    names = []
    with av.open(mp4_path) as inp:
        for stream in inp.streams:
            extradata = stream.codec_context.extradata or b""
            if stream.type == "video" and len(extradata) >= 4 and extradata[0] == 1:
                # avcC: version, profile_idc, constraint flags, level_idc
                names.append("avc1." + extradata[1:4].hex())
            elif stream.type == "audio":
                names.append("mp4a.40.2")  # AAC-LC: the only audio the ladder carries
    return ",".join(names)
