"""Colour difference for the HDR checks: sRGB/BT.709 8-bit → CIELAB (D65), ΔE*76."""

from __future__ import annotations

import os
import subprocess

import av
import numpy as np

_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of 8-bit R'G'B' values (last axis)."""
    c = np.asarray(rgb, dtype=float) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """ΔE*76 between two colours."""
    return float(np.linalg.norm(lab(a) - lab(b)))


def compare(
    picture: np.ndarray, reference: np.ndarray, rows: int = 4, columns: int = 8
) -> tuple[float, float]:
    """(ΔE of the average colours, median ΔE of a rows × columns grid of cell averages)."""
    mean = delta_e(picture.reshape(-1, 3).mean(0), reference.reshape(-1, 3).mean(0))
    h, w = picture.shape[0] // rows, picture.shape[1] // columns
    cells = [
        delta_e(
            picture[i * h : (i + 1) * h, j * w : (j + 1) * w].reshape(-1, 3).mean(0),
            reference[i * h : (i + 1) * h, j * w : (j + 1) * w].reshape(-1, 3).mean(0),
        )
        for i in range(rows)
        for j in range(columns)
    ]
    return mean, float(np.median(cells))


def first_frame_rgb(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)


def reference_rgb(source, tmp_path) -> np.ndarray:
    out = tmp_path / "reference.png"
    chain = REFERENCE_SDR if "bt2020." in os.path.basename(str(source)) else REFERENCE
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-frames:v", "1", "-vf", chain, str(out)],
        check=True,
    )
    return first_frame_rgb(out)


REFERENCE = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
    "zscale=t=bt709:m=bt709:r=pc,format=gbrp"
)


REFERENCE_SDR = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,zscale=t=bt709:m=bt709:r=pc,format=gbrp"
)
