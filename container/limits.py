"""Limits on what an upload may be, checked on the probe *and* while decoding: headers lie."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from container.errors import Rejected
from container.extent import Extent

OVER = "over_limit"
MiB = 1024 * 1024


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
            raise Rejected(
                OVER,
                f"{what} is {width}x{height}; the limit is {self.max_dimension} px a side "
                f"and {self.max_pixels} pixels",
            )

    def check_audio(self, channels: int, sample_rate: int) -> None:
        """Reject channel counts and sample rates no real upload has."""
        if not 1 <= channels <= self.max_audio_channels:
            raise Rejected(OVER, f"{channels} audio channels; the limit is {self.max_audio_channels}")
        if not self.min_sample_rate <= sample_rate <= self.max_sample_rate:
            raise Rejected(
                OVER, f"audio at {sample_rate} Hz; allowed {self.min_sample_rate}–{self.max_sample_rate}"
            )

    def check_duration(self, seconds: float | None, what: str = "the upload") -> None:
        if seconds is not None and seconds > self.max_duration:
            raise Rejected(OVER, f"{what} lasts {seconds:.0f} s; the limit is {self.max_duration:.0f} s")


class DecodeBudget:
    """Counters enforced frame by frame, whatever the header said; the decoded extent (container.timeline)."""

    def __init__(self, limits: Limits, fps: float, output_cap: int | None = None) -> None:
        self._limits = limits
        self._fps = min(max(fps, 1.0), limits.max_fps)
        self._max_frames = int((limits.max_duration + 1) * self._fps) + 100
        self._frames = 0
        self._samples = 0
        self._cap = min(output_cap or limits.max_output_bytes, limits.max_output_bytes)
        self._sizes: dict[str, int] = {}
        self.extent = Extent()  # media time actually decoded

    def video(self, frame: Any) -> None:
        """Count one decoded video frame; check its size and timestamp."""
        self._frames += 1
        if self._frames > self._max_frames:
            raise Rejected(OVER, f"more than {self._max_frames} video frames decoded")
        self._limits.check_size(frame.width, frame.height, "a decoded frame")
        if frame.time is not None and frame.time > self._limits.max_duration + 1:
            raise Rejected(
                OVER, f"a frame at {frame.time:.0f} s; the limit is {self._limits.max_duration:.0f} s"
            )
        if frame.time is not None:
            length = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
            self.extent.add("video", frame.time, length or 1 / self._fps)

    def audio(self, frame: Any) -> None:
        """Count decoded audio samples."""
        self._samples += frame.samples
        rate = frame.sample_rate or 1
        if self._samples / rate > self._limits.max_duration + 1:
            raise Rejected(OVER, f"more than {self._limits.max_duration:.0f} s of audio decoded")
        if frame.time is not None:
            self.extent.add("audio", frame.time, frame.samples / rate)

    @property
    def samples(self) -> int:
        """Audio samples decoded so far."""
        return self._samples

    def seen(self, kind: str, start: float, length: float) -> None:
        """Media reached without decoding (a stream-copied packet)."""
        self.extent.add(kind, start, length)

    def output(self, path: str) -> None:
        """Stop when the outputs together pass the cap (a bomb expands; the file-size rlimit is the backstop)."""
        try:
            self._sizes[path] = os.path.getsize(path)
        except OSError:
            return
        self._check(os.path.basename(path))

    def outputs_done(self, out_dir: str) -> None:
        """The final count, of every file written (encoder flushes and HLS packaging included)."""
        for entry in os.scandir(out_dir):
            if entry.is_file(follow_symlinks=False):
                self._sizes[entry.path] = entry.stat().st_size
        self._check(max(self._sizes, key=self._sizes.__getitem__, default="the outputs").rsplit("/", 1)[-1])

    def _check(self, name: str) -> None:
        total = sum(self._sizes.values())
        if total > self._cap:
            raise Rejected(
                OVER,
                f"{name} took the outputs to {total} bytes, past the cap of {self._cap} bytes "
                f"for this source and profile",
            )


def output_cap(
    kind: str, settings: dict[str, Any], seconds: float, rates_kbps: list[int], has_audio: bool
) -> int:
    """Bytes the profile can produce for ``seconds`` of media, with headroom: the rungs' (or audio targets')
    rates × the duration, twice for video when HLS re-packages the MP4s, × 1.5, plus 16 MiB of fixed outputs
    (poster, storyboard, waveform); a still image's variants get 64 MiB."""
    if kind == "image":
        return 64 * MiB
    if kind == "video":
        audio = int(settings["audio_bitrate_kbps"]) if has_audio else 0
        kbps = sum(rate + audio for rate in rates_kbps) * (2 if settings.get("hls") else 1)
    else:
        kbps = int(settings["bitrate_kbps"]) * (1 + len(settings.get("extra_formats") or []))
    return int(1.5 * kbps * 1000 / 8 * max(seconds, 1.0)) + 16 * MiB
