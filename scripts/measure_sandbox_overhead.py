"""Per-job cost of the docker runtime against a bare ``docker run --rm IMAGE true``, same machine, same run.

    python scripts/measure_sandbox_overhead.py [--runs 15]

Prints medians and p95 of: the baseline (`docker run --rm --entrypoint true IMAGE`), the sandbox's
fixed cost per job (DockerSandbox.run wall time minus the program's own probe+transcode+verify time, on
a 1 s 320x240 clip), the container start alone, and the ratio fixed cost ÷ baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from worker.local.samples import make_video  # noqa: E402
from worker.sandbox.base import SandboxRequest  # noqa: E402
from worker.sandbox.docker import DockerSandbox  # noqa: E402
from worker.settings import load_settings  # noqa: E402

ENV = {"MEDIA_WORKER_QUEUE_URL": "q", "MEDIA_WORKER_TEMP_BUCKET": "t", "MEDIA_WORKER_PRODUCTION_BUCKET": "p"}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    settings = load_settings({"runtime": "docker"}, environ=ENV)
    sandbox = DockerSandbox(settings)
    work = tempfile.mkdtemp(prefix="mw-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    clip = make_video(os.path.join(work, "clip.mp4"), width=320, height=240, seconds=1, audio=True)
    baseline, fixed, start, inside = [], [], [], []
    try:
        for i in range(args.runs):  # interleaved, so drift on a noisy machine hits both alike
            t0 = time.monotonic()
            subprocess.run(
                ["docker", "run", "--rm", "--entrypoint", "true", settings.sandbox_image], check=True
            )
            baseline.append(time.monotonic() - t0)
            job_dir = os.path.join(work, f"job{i}")
            os.makedirs(os.path.join(job_dir, "in"))
            os.makedirs(os.path.join(job_dir, "out"))
            shutil.copy(clip, os.path.join(job_dir, "in", "input"))
            request = SandboxRequest(
                f"bench{i}",
                os.path.join(job_dir, "in", "input"),
                os.path.join(job_dir, "out"),
                {"demuxer": "mov", "kind": "video"},
                120,
                1024,
                {},
                threads=1,
            )
            result = sandbox.run(request)
            own = sum(result.result["timings"].values())
            inside.append(own)
            fixed.append(result.seconds - own)
            start.append(result.start_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("docker run --rm IMAGE true (baseline)", baseline),
        ("sandbox fixed cost per job", fixed),
        ("  of which container create+start", start),
        ("in-container probe+transcode+verify", inside),
    ]
    print(f"runs: {args.runs}, image {settings.sandbox_image}, {os.cpu_count()} CPUs")
    print(f"{'measure':<40} {'median s':>9} {'p95 s':>7}")
    for name, values in rows:
        print(f"{name:<40} {statistics.median(values):9.3f} {p95(values):7.3f}")
    print(
        f"ratio fixed cost / baseline (medians): {statistics.median(fixed) / statistics.median(baseline):.2f}"
    )


if __name__ == "__main__":
    main()
