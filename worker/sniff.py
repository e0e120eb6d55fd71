"""Stage-1 type check: libmagic on the first bytes → one accepted media type.

Each accepted MIME type maps to exactly one FFmpeg demuxer, which the sandbox
must use: FFmpeg never guesses the format of an upload (playlists and other
formats that open further files cannot be smuggled in under a media name).
The extension and the Content-Type the uploader set are never trusted.
"""
from __future__ import annotations

import logging
import mimetypes
import re
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: str, max_length: int) -> None:
    """Stage-1 key sanity: bounded length, no control characters (output keys are made safe separately)."""
    if len(key) > max_length:
        raise RejectedInput(Reason.BAD_KEY, f"the key has {len(key)} characters; the limit is {max_length}")
    if _CONTROL.search(key):
        raise RejectedInput(Reason.BAD_KEY, "the key contains control characters")


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
    guessed = mimetypes.guess_type(key)[0] if key else None
    if guessed and guessed != mime:
        log.info("the extension of %r suggests %s; the content is %s (content wins)", key, guessed, mime)
    return media
