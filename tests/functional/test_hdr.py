"""HDR video (10-bit HEVC, BT.2020, HLG or PQ, made by Debian's ffmpeg) becomes SDR BT.709 that looks right:
its colours against Debian's ffmpeg `zscale` + `tonemap=hable` reference, measured in ΔE*76."""

from __future__ import annotations

import subprocess

import av
import pytest

from tests.support.colour import compare, first_frame_rgb, reference_rgb
from tests.support.devices import HDR_TRC, hdr_video
from tests.support.sandboxed import run_container

# measured on 640x360 colour bars (docs/BENCHMARKS.md, "HDR"): mean colour 0.6–1.5, median cell 1.0–1.8
MAX_MEAN_DELTA_E, MAX_CELL_DELTA_E = 3.0, 3.0


@pytest.mark.parametrize("transfer", ["hlg", "pq", "bt2020"])
def test_hdr_is_tone_mapped_to_tagged_bt709_within_the_stated_delta_e(tmp_path, transfer):
    """bt2020: SDR in BT.2020 primaries, which needs the gamut change but no tone curve."""
    source = str(tmp_path / f"{transfer}.mp4")
    hdr_video(transfer)(source)
    code, result, out = run_container(tmp_path, source)
    assert code == 0, result
    assert result["probe"]["video"]["color_trc"] == HDR_TRC[transfer]
    with av.open(str(out / "video_360p.mp4")) as c:
        context = c.streams.video[0].codec_context
        assert (context.color_primaries, context.color_trc, context.colorspace, context.color_range) == (
            1,
            1,
            1,
            1,
        )
        assert context.pix_fmt == "yuv420p"
    mean, cell = compare(first_frame_rgb(out / "video_360p.mp4"), reference_rgb(source, tmp_path))
    assert mean <= MAX_MEAN_DELTA_E and cell <= MAX_CELL_DELTA_E, (mean, cell)


def test_the_measure_tells_an_untone_mapped_pq_picture_apart(tmp_path):
    """PQ shown as if it were SDR (what an untagged 8-bit copy looked like) fails the same measure."""
    source = str(tmp_path / "pq.mp4")
    hdr_video("pq")(source)
    naive = tmp_path / "naive.png"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            source,
            "-frames:v",
            "1",
            "-vf",
            "scale=in_color_matrix=bt2020:in_range=tv,format=rgb24",
            str(naive),
        ],
        check=True,
    )
    mean, cell = compare(first_frame_rgb(naive), reference_rgb(source, tmp_path))
    assert mean > MAX_MEAN_DELTA_E or cell > MAX_CELL_DELTA_E
