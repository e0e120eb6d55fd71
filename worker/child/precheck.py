"""Stage-1 checks on the host: the key's sanity and a fixed signature table over the first bytes.

No parser of upload content runs here (this process holds AWS credentials and the Docker socket): the
signature check compares a few bytes at fixed offsets, in pure Python, to refuse obvious non-media before
100 MB are downloaded. What the upload really is (libmagic, then FFmpeg with one demuxer) is decided inside
the sandbox (``container.sniff``), and what the sandbox says is checked here as untrusted input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.errors import Reason, RejectedInput

HEAD_BYTES = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# ISO-BMFF brands of still images (HEIF/AVIF); any other ftyp is video or audio, the sandbox decides which
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


@dataclass(frozen=True)
class Signature:
    """What the first bytes look like (a name and the likely kind): a hint for logs and metrics, no more."""

    name: str
    kind_hint: str


def check_key(key: str, max_length: int) -> None:
    """Key sanity: bounded length, no control characters."""
    if len(key) > max_length:
        raise RejectedInput(Reason.BAD_KEY, f"the key has {len(key)} characters; the limit is {max_length}")
    if _CONTROL.search(key):
        raise RejectedInput(Reason.BAD_KEY, "the key contains control characters")


def check_signature(head: bytes) -> Signature:
    """The media signature ``head`` starts with, or :class:`RejectedInput`: ``unsupported_type`` for media of a
    kind we do not take, ``not_media`` for anything else."""
    found = _match(head)
    unaccepted = _unaccepted(head) if found is None else None
    if unaccepted:
        raise RejectedInput(
            Reason.UNSUPPORTED_TYPE, f"the content is {unaccepted}, which is not an accepted type"
        )
    if found is None:
        shown = head[:8].hex() if head else "nothing"
        raise RejectedInput(Reason.NOT_MEDIA, f"the first bytes ({shown}) carry no media signature")
    return found


def _unaccepted(head: bytes) -> str | None:
    """Media we recognise and refuse: told apart from non-media so that the reason says what happened."""
    text = head.lstrip()[:HEAD_BYTES].lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    for prefix, name in (
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"BM", "BMP"),
        (b"8BPS", "PSD"),
        (b"MThd", "MIDI"),
        (b"#!AMR", "AMR"),
        (b"FLV\x01", "FLV"),
        (b"\0\0\x01\xba", "MPEG-PS"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"), "ASF/WMV"),
    ):
        if head.startswith(prefix):
            return name
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "MPEG-TS"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # MPEG audio sync with layer 0: ADTS
        return "raw AAC (ADTS)"
    return None


def _match(head: bytes) -> Signature | None:
    box = head[4:8]
    if box == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Signature("heif", "image")
        return Signature("isobmff", "audio" if brand in _AUDIO_BRANDS else "video")
    if box in _QUICKTIME_ATOMS:
        return Signature("quicktime", "video")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Signature("ebml", "video")
    if (
        head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE"
    ):  # WAV past 4 GiB's header form (EBU Tech 3306)
        return Signature("wav", "audio")
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE", b"WEBP"):
        return Signature(
            {b"AVI ": "avi", b"WAVE": "wav", b"WEBP": "webp"}[head[8:12]],
            "image" if head[8:12] == b"WEBP" else ("video" if head[8:12] == b"AVI " else "audio"),
        )
    for prefix, name, kind in (
        (b"ID3", "mp3", "audio"),
        (b"fLaC", "flac", "audio"),
        (b"OggS", "ogg", "audio"),
        (b"\x89PNG\r\n\x1a\n", "png", "image"),
        (b"\xff\xd8\xff", "jpeg", "image"),
        (b"GIF87a", "gif", "image"),
        (b"GIF89a", "gif", "image"),
    ):
        if head.startswith(prefix):
            return Signature(name, kind)
    # an MPEG audio frame header: 11 sync bits, a valid version, layer and bitrate index
    if (
        len(head) >= 3
        and head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0
        and head[1] & 0x18 != 0x08
        and head[1] & 0x06
        and head[2] & 0xF0 != 0xF0
    ):
        return Signature("mpeg-audio", "audio")
    return None
