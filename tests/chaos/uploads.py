"""The uploads of a chaos run: every version of every key, as the harness put them into the temp bucket."""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from typing import Any

from worker.child.keys import source_id
from worker.local.samples import make_audio, make_corrupt, make_image, make_video
from worker.s3events.parse import SourceRecord


@dataclass(frozen=True)
class Version:
    """One upload of one key: what it should end as, and how S3 named it."""

    key: str
    path: str
    expected: str  # "published" | "rejected"
    etag: str
    size: int
    version_id: str | None
    bucket: str

    @property
    def source_id(self) -> str:
        """The id the worker derives from the event (moto's events name the ETag, not the version)."""
        return source_id(SourceRecord(self.bucket, self.key, None, self.etag, None, "ObjectCreated:Put"))


def make_corpus(
    directory: str, rng: random.Random, count: int, hostile_share: float
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """(key → (path, expected), the good files); small files so a run is about the pipeline."""
    os.makedirs(directory, exist_ok=True)
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    clip = make_video(p("clip.mp4"), width=160, height=120, seconds=0.5)
    good = [
        clip,
        make_audio(p("tone.mp3"), seconds=0.5),
        make_image(p("pic.png"), width=96, height=64),
        make_image(p("pic2.png"), width=64, height=96),
    ]
    with open(p("empty.mp4"), "wb"):
        pass
    with open(p("text.mp4"), "w") as fh:
        fh.write("this is not a video\n" * 20)
    hostile = [p("empty.mp4"), p("text.mp4"), make_corrupt(p("corrupt.mp4"), clip)]
    corpus = {}
    for i in range(count):
        bad = rng.random() < hostile_share
        path = rng.choice(hostile if bad else good[:3])
        corpus[f"chaos/{i:05d} {os.path.basename(path)}"] = (path, "rejected" if bad else "published")
    return corpus, good


class Uploads:
    """Thread-safe record of every version uploaded (the fault injector overwrites keys while jobs run)."""

    def __init__(self, s3: Any, bucket: str, good: list[str]) -> None:
        self._s3, self._bucket, self._good = s3, bucket, good
        self._lock = threading.Lock()
        self.versions: list[Version] = []

    def put(self, key: str, path: str, expected: str) -> Version:
        with open(path, "rb") as fh:
            resp = self._s3.put_object(Bucket=self._bucket, Key=key, Body=fh)
        version = Version(
            key,
            path,
            expected,
            resp["ETag"].strip('"'),
            os.path.getsize(path),
            resp.get("VersionId"),
            self._bucket,
        )
        with self._lock:
            self.versions.append(version)
        return version

    def overwrite(self, rng: random.Random) -> Version | None:
        """Upload a good file of other bytes over a key that has one version so far (its first may still be
        in flight): each version of a key has its own ETag, as a real re-upload would."""
        with self._lock:
            counts: dict[str, int] = {}
            for v in self.versions:
                counts[v.key] = counts.get(v.key, 0) + 1
            candidates = [v for v in self.versions if counts[v.key] == 1]
        if not candidates:
            return None
        first = rng.choice(candidates)
        path = rng.choice([g for g in self._good if g != first.path])
        return self.put(first.key, path, "published")

    def any_version(self, rng: random.Random) -> Version:
        with self._lock:
            return rng.choice(self.versions)

    def latest(self) -> dict[str, Version]:
        """key → its newest version."""
        with self._lock:
            return {v.key: v for v in self.versions}

    def all(self) -> list[Version]:
        with self._lock:
            return list(self.versions)
