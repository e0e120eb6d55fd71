"""The job spec the host passes in, with the default profile filled in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from container.limits import Limits

DEFAULT_PROFILE: dict[str, Any] = {
    "video": {
        "renditions": [1080, 720, 480],
        "maxrate_kbps": [5000, 3000, 1500],
        "crf": 23,
        "preset": "veryfast",
        "gop_seconds": 2.0,
        "audio_bitrate_kbps": 128,
        "poster_time": 1.0,
        "poster_quality": 3,
        "hls": True,
        "hls_segment_seconds": 4.0,
        "storyboard": True,
        "storyboard_interval": 2.0,
        "storyboard_tile_width": 160,
        "storyboard_columns": 10,
        "storyboard_max_tiles": 100,
        "stream_copy": True,
    },
    "audio": {
        "bitrate_kbps": 128,
        "loudness_lufs": -16.0,
        "true_peak_db": -1.5,
        "extra_formats": [],
        "waveform": True,
        "waveform_samples_per_pixel": 512,
    },
    "image": {"variants": [2048, 1024, 320], "quality": 80, "animated": "first_frame"},
}


@dataclass(frozen=True)
class JobSpec:
    """What the host asks of one run (what the upload is, the sandbox finds out itself: container.sniff)."""

    threads: int = 1
    profile: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_PROFILE)))
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        """Parse the spec; unknown profile keys override the defaults section by section."""
        raw = json.loads(text)
        profile = json.loads(json.dumps(DEFAULT_PROFILE))
        for section, values in (raw.get("profile") or {}).items():
            profile.setdefault(section, {}).update(values)
        return cls(
            threads=max(1, int(raw.get("threads") or 1)),
            profile=profile,
            limits=Limits.from_dict(raw.get("limits")),
        )
