"""How far each HDR → SDR method lands from Debian ffmpeg's zscale + tonemap=hable reference (ΔE*76).

    python scripts/hdr_delta_e.py            # HLG and PQ colour bars made by Debian's ffmpeg, 640x360

Methods: the program's own outputs (the LUT of container/color.py, through a real transcode), the wheel
FFmpeg's swscale colour mapping (`scale=out_primaries=bt709:out_transfer=bt709`), and no tone mapping at all
(BT.2020 HDR shown as if SDR). Prints the ΔE of the frame's average colour and the median ΔE of 8 × 4 cells.
"""

from __future__ import annotations

import os
import sys
import tempfile

import av

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pathlib import Path  # noqa: E402

from tests.support.colour import (
    compare,  # noqa: E402
    first_frame_rgb,
    reference_rgb,
)
from tests.support.devices import hdr_video  # noqa: E402
from tests.support.sandboxed import run_container  # noqa: E402


def graph_rgb(source: str, steps: list[tuple[str, str]]):
    """The first frame through a PyAV filter graph of the wheel's FFmpeg, as RGB."""
    with av.open(source) as c:
        stream = c.streams.video[0]
        graph = av.filter.Graph()
        chain = (
            [graph.add_buffer(template=stream)]
            + [graph.add(n, a) for n, a in steps]
            + [graph.add("buffersink")]
        )
        graph.link_nodes(*chain).configure()
        graph.push(next(c.decode(stream)))
        return graph.pull().to_ndarray(format="rgb24").astype(float)


def main() -> None:
    for transfer in ("hlg", "pq", "bt2020"):
        tmp = Path(tempfile.mkdtemp())
        source = str(tmp / f"{transfer}.mp4")
        hdr_video(transfer)(source)
        reference = reference_rgb(source, tmp)
        code, result, out = run_container(tmp, source)
        methods = {
            "ours (3D LUT)": first_frame_rgb(out / "video_360p.mp4"),
            "swscale colour mapping": graph_rgb(
                source,
                [
                    ("scale", "out_color_matrix=bt709:out_primaries=bt709:out_transfer=bt709:out_range=tv"),
                    ("format", "yuv420p"),
                ],
            ),
            "no tone mapping": graph_rgb(
                source, [("scale", "in_color_matrix=bt2020:in_range=tv"), ("format", "rgb24")]
            ),
        }
        for name, picture in methods.items():
            mean, cell = compare(picture, reference)
            print(f"{transfer:6}  {name:24}  mean colour ΔE {mean:5.2f}   median cell ΔE {cell:5.2f}")


if __name__ == "__main__":
    main()
