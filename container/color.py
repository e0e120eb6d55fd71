"""Colour: every video output is BT.709 SDR, converted where the source is not, and tagged so in its stream.

* SDR sources are converted from their YUV matrix to BT.709 (an untagged source is taken as BT.709 from 720
  lines up and BT.601 below, as players assume) and the H.264 stream is tagged bt709 primaries, transfer and
  matrix, limited range.
* HDR sources (PQ or HLG transfer, BT.2020 primaries) are tone-mapped through one 3D LUT (FFmpeg's
  ``lut3d``, tetrahedral, 33 points a side) that this module computes with numpy. It follows what Debian's
  ffmpeg does with ``zscale=t=linear:npl=100, zscale=p=bt709, tonemap=hable:desat=0, zscale=t=bt709``:
  linearise (PQ: its EOTF; HLG: inverse OETF and the BT.2100 OOTF, γ 1.2, 1000 cd/m²), 100 cd/m² as 1.0,
  BT.2020 → BT.709 primaries, Hable's curve on the largest component with a peak of 1000 cd/m², then the
  BT.1886 inverse EOTF (γ 2.4). The wheel's FFmpeg has no zscale, and its swscale colour mapping lands
  10–16 ΔE from that reference on colour bars, the program's outputs 0.6–1.7 (docs/BENCHMARKS.md, "HDR").
* SDR sources in BT.2020 primaries get a LUT too, without the tone curve: BT.1886 to light, BT.2020 →
  BT.709 primaries, clipped, and back.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from typing import Any

import av

PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020"}
TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020nc",
    10: "bt2020c",
}
HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}
# the scale filter's names for a source matrix
_SCALE_MATRIX = {
    "bt709": "bt709",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "smpte240m": "smpte240m",
    "fcc": "fcc",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}
BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
LIMITED = 1  # AVCOL_RANGE_MPEG
LUT_POINTS = 33


def frame_tags(frame: av.VideoFrame) -> dict[str, str | None]:
    """A decoded frame's transfer, primaries and matrix by FFmpeg's names (None where unspecified)."""
    return {
        "color_trc": TRANSFERS.get(int(frame.color_trc)),
        "color_primaries": PRIMARIES.get(int(frame.color_primaries)),
        "colorspace": MATRICES.get(int(frame.colorspace)),
    }


def lut_transfer(video: Any) -> str | None:
    """Which LUT a source (a :class:`container.probe.VideoInfo`) needs: ``pq`` or ``hlg`` for HDR, ``bt2020``
    for SDR in BT.2020 primaries (a gamut change only), None for BT.709/BT.601 sources."""
    hdr = HDR_TRANSFERS.get(video.color_trc or "")
    return hdr or ("bt2020" if video.color_primaries == "bt2020" else None)


def video_chain(video: Any, width: int, height: int, pix_fmt: str = "yuv420p") -> list[tuple[str, str]]:
    """The filters that take a source frame to a BT.709 SDR frame of ``width`` × ``height`` (after rotation)."""
    lut = lut_transfer(video)
    if lut is not None:
        return [
            ("scale", f"{width}:{height}:flags=lanczos:in_color_matrix=bt2020"),
            ("format", "gbrp16le"),
            ("lut3d", f"file={tone_map_lut(lut)}:interp=tetrahedral"),
            ("scale", "out_color_matrix=bt709:out_range=tv"),
            ("format", pix_fmt),
            _TAG_709,
        ]
    matrix = _SCALE_MATRIX.get(video.colorspace or "") or (
        "bt709" if min(video.width, video.height) >= 720 else "bt601"
    )
    return [
        (
            "scale",
            f"{width}:{height}:flags=lanczos:in_color_matrix={matrix}:out_color_matrix=bt709:out_range=tv",
        ),
        ("format", pix_fmt),
        _TAG_709,
    ]


_TAG_709 = ("setparams", "color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")


def tag_bt709(codec_context: Any) -> None:
    """Write bt709 primaries, transfer and matrix, limited range, into the encoded stream."""
    codec_context.color_primaries = BT709
    codec_context.color_trc = BT709
    codec_context.colorspace = BT709
    codec_context.color_range = LIMITED


@lru_cache(maxsize=2)
def tone_map_lut(transfer: str) -> str:
    """Write the ``.cube`` LUT for ``pq``, ``hlg`` or ``bt2020`` into the scratch directory once per run; return
    its path."""
    from container.tonemap import cube_text  # numpy: only HDR jobs import it

    fd, path = tempfile.mkstemp(prefix=f"tonemap-{transfer}-", suffix=".cube", dir=os.environ.get("TMPDIR"))
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(cube_text(transfer, LUT_POINTS))
    return path
