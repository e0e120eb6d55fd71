"""Run the sandbox program as the host does (a subprocess, a spec file) and measure what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys

import av


def run_container(tmp_path, source, spec=None):
    out = tmp_path / "out"
    out.mkdir()
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec or {"threads": 2}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "container",
            "--input",
            source,
            "--output-dir",
            str(out),
            "--spec",
            str(spec_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads((out / "result.json").read_text()), out


def streams(path):
    with av.open(str(path)) as c:
        return (
            [(s.codec_context.name, s.codec_context.width, s.codec_context.height) for s in c.streams.video],
            [(s.codec_context.name, s.codec_context.channels) for s in c.streams.audio],
            c.duration / av.time_base if c.duration else None,
        )


def integrated_loudness(path):
    """Debian's ffmpeg ebur128 filter as the independent meter."""
    text = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    summary = text.split("Integrated loudness:")[1]
    return float(summary.split("I:")[1].split("LUFS")[0])
