"""Scrub previews: one JPEG sprite sheet of thumbnails and a WebVTT index pointing into it.

Thumbnails are taken from the upright frames of the top rendition as they go by (no second decode): the
first frame at or after each multiple of the interval. The interval grows for long sources so the sheet
never holds more than ``storyboard_max_tiles`` tiles; FFmpeg's ``tile`` filter lays them out.
The index uses the ``#xywh=`` media-fragment form that video.js, Plyr, Vidstack and JW Player read.
"""

from __future__ import annotations

import math
import os
from typing import Any

import av

from container.encoders import fit_within, write_jpeg

SPRITE, INDEX = "storyboard.jpg", "storyboard.vtt"


class Storyboard:
    """Collects thumbnails during the decode pass; ``finish`` writes the sheet and its index."""

    def __init__(self, duration: float | None, width: int, height: int, settings: dict[str, Any]) -> None:
        seconds = max(float(duration or 0.0), 0.001)
        max_tiles = int(settings["storyboard_max_tiles"])
        self.interval = max(float(settings["storyboard_interval"]), seconds / max_tiles)
        self.count = max(1, min(max_tiles, math.ceil(seconds / self.interval)))
        self.columns = min(int(settings["storyboard_columns"]), self.count)
        self.rows = math.ceil(self.count / self.columns)
        tile = int(settings["storyboard_tile_width"])
        # the tile is ``storyboard_tile_width`` wide whatever the orientation (never wider than the source)
        self.tile_w, self.tile_h = fit_within(width, height, tile if width >= height else 1 << 16, tile)
        self.duration = seconds
        self._graph: av.filter.Graph | None = None
        self._taken = 0
        self._sheet: av.VideoFrame | None = None

    def offer(self, frame: av.VideoFrame) -> None:
        """Keep ``frame`` as the next tile when it is the first at or after that tile's time."""
        if self._taken >= self.count or frame.time is None or frame.time + 1e-6 < self._taken * self.interval:
            return
        if self._graph is None:
            self._graph = self._build(frame)
        self._graph.push(frame)
        self._taken += 1
        self._pull()

    def finish(self, out_dir: str, quality: int) -> list[dict[str, Any]]:
        """Write ``storyboard.jpg`` and ``storyboard.vtt``; return their planned descriptions."""
        if self._graph is None:
            return []
        self._graph.push(None)
        self._pull()
        if self._sheet is None:
            return []
        write_jpeg(self._sheet, os.path.join(out_dir, SPRITE), quality)
        with open(os.path.join(out_dir, INDEX), "w", encoding="utf-8") as fh:
            fh.write(self.webvtt())
        sheet = {"width": self._sheet.width, "height": self._sheet.height}
        return [
            {
                "name": SPRITE,
                "kind": "storyboard",
                "content_type": "image/jpeg",
                **sheet,
                "tiles": self._taken,
                "tile_width": self.tile_w,
                "tile_height": self.tile_h,
                "columns": self.columns,
                "interval": self.interval,
            },
            {"name": INDEX, "kind": "storyboard_index", "content_type": "text/vtt", "cues": self._taken},
        ]

    def webvtt(self) -> str:
        """The cue list: tile i covers [i·interval, (i+1)·interval) and points at its cell of the sheet."""
        lines = ["WEBVTT", ""]
        for i in range(self._taken):
            start, end = i * self.interval, min((i + 1) * self.interval, self.duration)
            if i == self._taken - 1:
                end = max(end, self.duration)
            x, y = (i % self.columns) * self.tile_w, (i // self.columns) * self.tile_h
            lines += [
                f"{_stamp(start)} --> {_stamp(max(end, start + 0.001))}",
                f"{SPRITE}#xywh={x},{y},{self.tile_w},{self.tile_h}",
                "",
            ]
        return "\n".join(lines)

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        chain = [
            graph.add_buffer(
                width=frame.width, height=frame.height, format=frame.format.name, time_base=frame.time_base
            ),
            graph.add("scale", f"{self.tile_w}:{self.tile_h}:flags=bicubic"),
            graph.add("tile", f"{self.columns}x{self.rows}"),
            graph.add("buffersink"),
        ]
        graph.link_nodes(*chain).configure()
        return graph

    def _pull(self) -> None:
        assert self._graph is not None
        while True:
            try:
                self._sheet = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
