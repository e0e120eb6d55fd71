"""The media time a stream of frames or packets covers (no FFmpeg here: container.limits and
container.timeline both count with it)."""

from __future__ import annotations


class Extent:
    """First start and last end of media time per stream type; the longest audio frame seen."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._end: float | None = None
        self.audio_frame = 0.0

    def add(self, kind: str, start: float, length: float) -> None:
        """One frame or packet of ``length`` seconds at ``start``."""
        self._start = start if self._start is None else min(self._start, start)
        self._end = start + length if self._end is None else max(self._end, start + length)
        if kind == "audio":
            self.audio_frame = max(self.audio_frame, length)

    @property
    def seconds(self) -> float:
        """Media time covered, from the earliest start to the latest end."""
        if self._start is None or self._end is None:
            return 0.0
        return max(0.0, self._end - self._start)
