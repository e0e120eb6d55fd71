"""Stage-1 type check: libmagic on the first bytes → one accepted media type.

Each accepted MIME type maps to exactly one FFmpeg demuxer, which the sandbox
must use: FFmpeg never guesses the format of an upload (playlists and other
formats that open further files cannot be smuggled in under a media name).
The extension and the Content-Type the uploader set are never trusted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import magic

from worker.errors import Reason, RejectedInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaType:
    """An accepted type: its MIME, the media kind and the one demuxer that opens it."""

    mime: str
    kind: str
    demuxer: str


ALLOWED: dict[str, MediaType] = {m.mime: m for m in (
    MediaType("video/mp4", "video", "mov"),
    MediaType("video/quicktime", "video", "mov"),
    MediaType("video/3gpp", "video", "mov"),
    MediaType("video/webm", "video", "matroska"),
    MediaType("video/x-matroska", "video", "matroska"),
    MediaType("video/x-msvideo", "video", "avi"),
    MediaType("audio/mpeg", "audio", "mp3"),
    MediaType("audio/x-wav", "audio", "wav"),
    MediaType("audio/wav", "audio", "wav"),
    MediaType("audio/flac", "audio", "flac"),
    MediaType("audio/x-flac", "audio", "flac"),
    MediaType("audio/ogg", "audio", "ogg"),
    MediaType("audio/x-m4a", "audio", "mov"),
    MediaType("audio/mp4", "audio", "mov"),
    MediaType("image/png", "image", "png_pipe"),
    MediaType("image/jpeg", "image", "jpeg_pipe"),
    MediaType("image/webp", "image", "webp_pipe"),
    MediaType("image/gif", "image", "gif"),
)}


def sniff(head: bytes, *, key: str = "", declared_type: str | None = None) -> MediaType:
    """Classify the first bytes of an upload or reject it with a reason code."""
    mime = magic.from_buffer(head, mime=True) if head else "application/x-empty"
    media = ALLOWED.get(mime)
    if media is None:
        family = mime.split("/", 1)[0]
        reason = Reason.UNSUPPORTED_TYPE if family in ("video", "audio", "image") else Reason.NOT_MEDIA
        raise RejectedInput(reason, f"content sniffed as {mime}, which is not an accepted media type")
    if declared_type and declared_type.split(";")[0].strip().lower() != mime:
        log.info("declared Content-Type %r differs from sniffed %s for %r", declared_type, mime, key)
    return media
