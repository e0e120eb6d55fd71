"""Content sniffing inside the sandbox: libmagic on the first bytes → one accepted media type.

libmagic is a C parser of the upload, so it runs here, never in a process that holds credentials (the host
only matches a few fixed signatures, see ``worker.child.precheck``). Each accepted MIME type maps to exactly one
FFmpeg demuxer: FFmpeg never guesses the format of an upload, so playlists and other formats that open
further files cannot be smuggled in under a media name. The extension and the uploader's Content-Type are
never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from container.errors import Rejected

HEAD_BYTES = 8192


@dataclass(frozen=True)
class MediaType:
    """An accepted type: its MIME, the media kind and the one demuxer that opens it."""

    mime: str
    kind: str
    demuxer: str

    def to_dict(self) -> dict[str, str]:
        """The manifest's ``sniffed`` entry."""
        return {"mime": self.mime, "kind": self.kind, "demuxer": self.demuxer}


# HEIF and AVIF stills are ISO-BMFF: FFmpeg's mov demuxer opens them (HEIC grids are decoded by libheif).
ALLOWED: dict[str, MediaType] = {
    m.mime: m
    for m in (
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
        MediaType("image/heic", "image", "mov"),
        MediaType("image/heif", "image", "mov"),
        MediaType("image/heic-sequence", "image", "mov"),
        MediaType("image/heif-sequence", "image", "mov"),
        MediaType("image/avif", "image", "mov"),
    )
}
HEIF_MIMES = frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"})


def sniff_file(path: str) -> MediaType:
    """Classify the upload at ``path`` by its first bytes or reject it with a reason code."""
    import magic  # python-magic: loaded only where hostile bytes may be parsed

    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    mime = magic.from_buffer(head, mime=True) if head else "application/x-empty"
    media = ALLOWED.get(mime)
    if media is None:
        family = mime.split("/", 1)[0]
        reason = "unsupported_type" if family in ("video", "audio", "image") else "not_media"
        raise Rejected(reason, f"content sniffed as {mime}, which is not an accepted media type")
    return media
