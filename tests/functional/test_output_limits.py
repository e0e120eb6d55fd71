"""What an upload may make: a cap from the profile × the decoded duration, and the file-size rlimit above it.
Either one hit is ``over_limit`` (permanent), with a message naming the output and its size."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.sandboxed import run_container


def test_outputs_past_the_cap_are_rejected_over_limit_naming_the_output(tmp_path, media):
    code, result, out = run_container(tmp_path, media["clip"], {"limits": {"max_output_bytes": 50_000}})
    assert code == 65 and result["status"] == "rejected" and result["reason"] == "over_limit"
    assert "took the outputs to" in result["message"] and "past the cap of 50000 bytes" in result["message"]
    assert result["message"].split()[0] in {"video_360p.mp4", "hls_360p_00000.m4s"}


def test_the_file_size_rlimit_is_over_limit_too_not_an_internal_error(tmp_path, media):
    """Below our own cap (which the host never sets so), the kernel's EFBIG must still be a clear rejection."""
    out = tmp_path / "out"
    out.mkdir()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"threads": 1}))
    memory, cpu, fsize = 2 << 30, 120, 40_000
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.sandbox.launch",
            str(memory),
            str(cpu),
            str(fsize),
            "--",
            sys.executable,
            "-m",
            "container",
            "--input",
            media["clip"],
            "--output-dir",
            str(out),
            "--spec",
            str(spec),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads((out / "result.json").read_text())
    assert proc.returncode == 65, proc.stderr[-2000:]
    assert result["reason"] == "over_limit" and "reached the output file-size limit at" in result["message"]
