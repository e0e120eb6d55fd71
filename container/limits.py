"""Limits on what an upload may be, checked on the probe *and* while decoding: headers lie."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from container.errors import Rejected

OVER = "over_limit"


@dataclass(frozen=True)
class Limits:
    """Defaults are sane for user uploads ≤ 100 MiB; the host passes its settings in the spec."""

    max_duration: float = 4 * 3600.0
    max_dimension: int = 8192
    max_pixels: int = 50_000_000
    max_fps: float = 240.0
    max_streams: int = 16
    max_audio_channels: int = 8
    min_sample_rate: int = 8000
    max_sample_rate: int = 192000
    max_output_bytes: int = 1 << 30

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "Limits":
        """Known keys override the defaults; unknown keys are ignored."""
        names = {f.name: f.type for f in fields(cls)}
        return cls(**{k: v for k, v in (raw or {}).items() if k in names and v is not None})

    def check_size(self, width: int, height: int, what: str) -> None:
        """Reject absurd picture sizes before anything is allocated for them."""
        if width <= 0 or height <= 0:
            raise Rejected("corrupt_media", f"{what} declares a {width}x{height} picture")
        if max(width, height) > self.max_dimension or width * height > self.max_pixels:
            raise Rejected(OVER, f"{what} is {width}x{height}; the limit is {self.max_dimension} px a side "
                                 f"and {self.max_pixels} pixels")

    def check_audio(self, channels: int, sample_rate: int) -> None:
        """Reject channel counts and sample rates no real upload has."""
        if not 1 <= channels <= self.max_audio_channels:
            raise Rejected(OVER, f"{channels} audio channels; the limit is {self.max_audio_channels}")
        if not self.min_sample_rate <= sample_rate <= self.max_sample_rate:
            raise Rejected(OVER, f"audio at {sample_rate} Hz; allowed {self.min_sample_rate}–{self.max_sample_rate}")

    def check_duration(self, seconds: float | None, what: str = "the upload") -> None:
        if seconds is not None and seconds > self.max_duration:
            raise Rejected(OVER, f"{what} lasts {seconds:.0f} s; the limit is {self.max_duration:.0f} s")


class DecodeBudget:
    """Counters enforced frame by frame, whatever the header said."""

    def __init__(self, limits: Limits, fps: float) -> None:
        self._limits = limits
        self._max_frames = int((limits.max_duration + 1) * min(max(fps, 1.0), limits.max_fps)) + 100
        self._frames = 0
        self._samples = 0
        self.seen_seconds = 0.0  # media time actually decoded

    def video(self, frame: Any) -> None:
        """Count one decoded video frame; check its size and timestamp."""
        self._frames += 1
        if self._frames > self._max_frames:
            raise Rejected(OVER, f"more than {self._max_frames} video frames decoded")
        self._limits.check_size(frame.width, frame.height, "a decoded frame")
        if frame.time is not None and frame.time > self._limits.max_duration + 1:
            raise Rejected(OVER, f"a frame at {frame.time:.0f} s; the limit is {self._limits.max_duration:.0f} s")
        if frame.time is not None:
            self.seen_seconds = max(self.seen_seconds, frame.time)

    def audio(self, frame: Any) -> None:
        """Count decoded audio samples."""
        self._samples += frame.samples
        rate = frame.sample_rate or 1
        if self._samples / rate > self._limits.max_duration + 1:
            raise Rejected(OVER, f"more than {self._limits.max_duration:.0f} s of audio decoded")
        if frame.time is not None:
            self.seen_seconds = max(self.seen_seconds, frame.time + frame.samples / rate)

    def seen(self, seconds: float) -> None:
        """Media time reached without decoding (a stream-copied packet)."""
        self.seen_seconds = max(self.seen_seconds, seconds)

    def check_complete(self, declared: float | None) -> None:
        """A file that decodes to much less than its header declares is truncated: reject, do not retry."""
        if declared and self.seen_seconds + max(1.0, 0.05 * declared) < declared:
            raise Rejected("corrupt_media", f"truncated: {self.seen_seconds:.1f} s decode of {declared:.1f} s declared")

    def output(self, path: str) -> None:
        """Stop an output that grows past the cap (a bomb expands; the file-size rlimit is the backstop)."""
        if os.path.exists(path) and os.path.getsize(path) > self._limits.max_output_bytes:
            raise Rejected(OVER, f"the output passed {self._limits.max_output_bytes} bytes")
