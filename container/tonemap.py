"""The HDR → SDR transform of container.color as numbers: one BT.2020 PQ/HLG R'G'B' → BT.709 R'G'B' map,
sampled into a 3D LUT (the ``.cube`` text FFmpeg's lut3d reads)."""

from __future__ import annotations

import numpy as np

HLG_A, HLG_B, HLG_C = 0.17883277, 0.28466892, 0.55991073
PQ_M1, PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
PQ_C1, PQ_C2, PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593])
BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
)
REFERENCE_WHITE = 100.0  # cd/m² that linear 1.0 stands for (zscale's npl=100)
PEAK = 10.0  # 1000 cd/m² in those units: what FFmpeg's tonemap assumes without mastering metadata


def _hable(x: np.ndarray | float) -> np.ndarray | float:
    a, b, c, d, e, f = 0.15, 0.50, 0.10, 0.20, 0.02, 0.30
    return (x * (x * a + b * c) + d * e) / (x * (x * a + b) + d * f) - e / f


def to_linear(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """Display light, 1.0 = 100 cd/m², of non-linear BT.2020 ``rgb`` in [0, 1]."""
    x = np.clip(rgb, 0.0, 1.0)
    if transfer == "pq":
        p = np.power(x, 1 / PQ_M2)
        return np.power(np.maximum(p - PQ_C1, 0.0) / (PQ_C2 - PQ_C3 * p), 1 / PQ_M1) * (
            10000 / REFERENCE_WHITE
        )
    scene = np.where(x <= 0.5, x * x / 3, (np.exp((x - HLG_C) / HLG_A) + HLG_B) / 12)
    luma = np.maximum(scene @ BT2020_LUMA, 1e-12)
    return scene * np.power(luma, 0.2)[..., None] * (1000 / REFERENCE_WHITE)  # the OOTF, γ 1.2 at 1000 cd/m²


def hdr_to_sdr(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """Non-linear BT.2020 (``pq``, ``hlg``, or ``bt2020``: SDR) → non-linear BT.709 SDR, both in [0, 1]."""
    if transfer == "bt2020":  # SDR: the same display curve, only the primaries change
        linear = np.power(np.clip(rgb, 0.0, 1.0), 2.4) @ BT2020_TO_BT709.T
        return np.power(np.clip(linear, 0.0, 1.0), 1 / 2.4)
    linear = to_linear(rgb, transfer) @ BT2020_TO_BT709.T
    signal = np.maximum(linear.max(axis=-1), 1e-6)
    linear = linear * (_hable(signal) / _hable(PEAK) / signal)[..., None]
    return np.power(np.clip(linear, 0.0, 1.0), 1 / 2.4)  # BT.1886's inverse EOTF


def cube_text(transfer: str, points: int) -> str:
    """The LUT in the .cube format (red varies fastest)."""
    grid = np.linspace(0.0, 1.0, points)
    blue, green, red = np.meshgrid(grid, grid, grid, indexing="ij")
    out = hdr_to_sdr(np.stack([red, green, blue], axis=-1).reshape(-1, 3), transfer)
    rows = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in out)
    return f"LUT_3D_SIZE {points}\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n{rows}\n"
