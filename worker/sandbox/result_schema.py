"""The schema of ``result.json``: what the sandbox writes is input from an untrusted process.

Every key is known, every string and list is bounded, every number is a number: a result that does not
conform is a ``sandbox_error`` (worker.sandbox.base), and none of it reaches the manifest. Segments are not
listed here but in their playlists, which worker.child.outputs reads (a 4 h source with three rungs and 1 s
segments is 43 200 segments; its result stays far below the 1 MiB cap).
"""

from __future__ import annotations

from typing import Any

import jsonschema

_NUMBER = {"type": ["number", "null"], "minimum": 0, "maximum": 1e12}
_SIGNED = {"type": ["number", "null"], "minimum": -1e12, "maximum": 1e12}
_COUNT = {"type": ["integer", "null"], "minimum": 0, "maximum": 10**12}
_BOOL = {"type": ["boolean", "null"]}
_WORD = {"type": ["string", "null"], "maxLength": 64, "pattern": r"^[A-Za-z0-9_.,:+/ -]*$"}
_TEXT = {"type": "string", "maxLength": 4000}
_KINDS = [
    "video",
    "audio",
    "image",
    "poster",
    "storyboard",
    "storyboard_index",
    "waveform",
    "hls_playlist",
    "hls_init",
    "hls_master",
]


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_VIDEO = _object(
    {
        "codec": _WORD,
        "width": _COUNT,
        "height": _COUNT,
        "fps": _NUMBER,
        "rotation": _SIGNED,
        "pix_fmt": _WORD,
        "color_trc": _WORD,
        "color_primaries": _WORD,
        "colorspace": _WORD,
        "display_width": _COUNT,
        "display_height": _COUNT,
    }
)
_AUDIO = _object({"codec": _WORD, "channels": _COUNT, "sample_rate": _COUNT, "language": _WORD})
_PROBE = _object(
    {
        "format_name": {"type": "string", "maxLength": 200},
        "kind": _WORD,
        "duration": _NUMBER,
        "video": {"oneOf": [{"type": "null"}, _VIDEO]},
        "audio": {"oneOf": [{"type": "null"}, _AUDIO]},
        "demuxer": _WORD,
        "mime": _WORD,
        "media_seconds": _NUMBER,
        "audio_frame": _NUMBER,
        "video_seconds": _NUMBER,
        "indexed_duration": _NUMBER,
        "video_index": _COUNT,
        "audio_index": _COUNT,
    }
)
_FAST_PATH = _object(
    {
        "used": {"type": "boolean"},
        "audio_copied": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 400},
    }
)
_OUTPUT = _object(
    {
        "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]{0,63}$"},
        "kind": {"enum": _KINDS},
        "content_type": _WORD,
        "rendition": _WORD,
        "width": _COUNT,
        "height": _COUNT,
        "duration": _NUMBER,
        "bitrate": _COUNT,
        "codec": _WORD,
        "size": _COUNT,
        "has_audio": _BOOL,
        "method": _WORD,
        "audio_method": _WORD,
        "fast_path": _FAST_PATH,
        "segments": _COUNT,
        "variants": _COUNT,
        "tiles": _COUNT,
        "tile_width": _COUNT,
        "tile_height": _COUNT,
        "columns": _COUNT,
        "interval": _NUMBER,
        "cues": _COUNT,
        "length": _COUNT,
        "samples_per_pixel": _COUNT,
        "sample_rate": _COUNT,
        "loudness_lufs": _SIGNED,
        "animated": _BOOL,
    },
    ("name", "kind"),
)
OK = _object(
    {
        "status": {"const": "ok"},
        "kind": {"enum": ["video", "audio", "image"]},
        "sniffed": _object({"mime": _WORD, "kind": _WORD, "demuxer": _WORD}, ("mime", "kind", "demuxer")),
        "probe": _PROBE,
        "decoded_duration": _NUMBER,
        "outputs": {"type": "array", "items": _OUTPUT, "minItems": 1, "maxItems": 256},
        "versions": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 200},
            "maxProperties": 8,
        },
        "timings": {"type": "object", "additionalProperties": _NUMBER, "maxProperties": 8},
    },
    ("status", "kind", "sniffed", "probe", "outputs"),
)
FAILED = _object(
    {
        "status": {"enum": ["rejected", "error"]},
        "reason": {"type": "string", "pattern": r"^[a-z_]{1,40}$"},
        "message": _TEXT,
    },
    ("status", "reason"),
)
RESULT = {"oneOf": [OK, FAILED]}
_VALIDATOR = jsonschema.Draft202012Validator(RESULT)


def problem(doc: Any) -> str | None:
    """Why ``doc`` is not a result the host accepts (the first, most specific error), or None."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(doc))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the document"
    return f"{where}: {error.message[:300]}"
