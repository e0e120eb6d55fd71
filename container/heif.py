"""HEIF/HEIC stills through libheif (pillow-heif): phones store a photo as a grid of 512 px HEVC tiles that
FFmpeg exposes only as separate tile streams, and libheif composes it, applies the mandatory irot/imir
transforms (so EXIF orientation is never applied on top) and picks the primary image of a multi-image file
(bursts, Live Photo stills). pillow-heif is installed in the sandbox image only: this runs nowhere else.
"""

from __future__ import annotations

from typing import Any

import av

from container.errors import Rejected
from container.limits import Limits
from container.sniff import MediaType


def _open(path: str) -> Any:
    try:
        import pillow_heif
    except ImportError:  # a host running the process runtime without the sandbox image's packages
        raise Rejected("unsupported_type", "HEIF images need pillow-heif, which this sandbox lacks") from None
    try:
        return pillow_heif.open_heif(path, convert_hdr_to_8bit=True)
    except (ValueError, RuntimeError, OSError) as exc:  # libheif's errors reach Python as these
        raise Rejected("corrupt_media", f"cannot open as HEIF: {exc}") from None


def probe_heif(path: str, media: MediaType, limits: Limits) -> dict[str, Any]:
    """Size and layout of the primary image from the file's properties, checked before anything is decoded."""
    heif = _open(path)
    width, height = heif.size  # after the irot transform: the displayed size
    limits.check_size(width, height, "the HEIF image")
    tiling = heif.info.get("tiling") or {}
    return {
        "width": width,
        "height": height,
        "images": len(heif),
        "tiles": tiling.get("num_columns", 1) * tiling.get("num_rows", 1),
        "pix_fmt": heif.mode.lower(),
    }


def decode_heif(path: str, limits: Limits) -> av.VideoFrame:
    """The primary image, whole and upright, as an RGB(A) frame."""
    heif = _open(path)
    limits.check_size(*heif.size, "the HEIF image")
    try:
        image = heif.to_pillow()
    except (ValueError, RuntimeError, OSError) as exc:
        raise Rejected("decode_failed", f"the HEIF image does not decode: {exc}") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    return av.VideoFrame.from_image(image)
