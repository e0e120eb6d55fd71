#!/usr/bin/env python3
"""Benchmarks as ratios against baselines run in the same invocation (results: docs/BENCHMARKS.md).

    python scripts/bench.py --quick                       # a few minutes: every ratio on a small corpus
    python scripts/bench.py --plots docs/img --json r.json   # full: 20 clips of 5-30 s at 240p-720p, 20 of 1 s

a  corpus throughput of the whole pipeline (``python -m worker``, Docker runtime, moto's S3/SQS over HTTP)
   ÷ Debian's ``ffmpeg`` CLI running the same encodes at the same concurrency and codec threads
   (with ``--runsc`` also under gVisor); the host CPU seconds per job of each side
b  fixed cost per job on 1 s clips and on 1 MP JPEGs (a job's wall time minus the in-container transcode),
   median and p95, next to ``docker run --rm IMAGE true``: with warm sandboxes (the default) and cold ones,
   and with ``--runsc`` the same under gVisor (next to ``docker run --runtime runsc --rm IMAGE true``)
c  PyAV transcode (``python -m container`` on the host) ÷ ffmpeg CLI, same input and settings, one job
d  throughput at pool 1, 2 and 4 (codec threads derived from CPUs ÷ pool, as in production), and pool 2
   over pool 1 with one codec thread per job (the pool's own scaling)
e  stream-copy path ÷ re-encode path for an input that already is a rendition (same profile otherwise)
f  memory: the parent's RSS, each pool child's peak RSS and each sandbox's peak memory (cgroup), on short
   and long clips

Needs a Docker engine with the images (scripts/build-images.sh), Debian's ffmpeg, and matplotlib for --plots.
The encodes compared in a, c and d use the ``web`` profile with HLS and the storyboard off (the CLI
baseline makes neither); everything else in the job (download, sniff, sandbox, verify, upload, manifest)
is the pipeline's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts.benchcpu import CpuMeter  # noqa: E402
from scripts.benchlib import (  # noqa: E402
    PipelineRun,
    cpu_count,
    ffmpeg_ladder,
    make_corpus,
    pct,
    run_container,
    run_pipeline,
)

BENCH_PROFILE = """
[defaults]
video = "bench"
audio = "music"
image = "web-image"

[profiles.bench]
kind = "video"
renditions = [1080, 720, 480]
maxrate_kbps = [5000, 3000, 1500]
crf = 23
preset = "veryfast"
gop_seconds = 2.0
audio_bitrate_kbps = 128
hls = false
storyboard = false
stream_copy = false

[profiles.music]
kind = "audio"

[profiles.web-image]
kind = "image"
"""
SAY = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731


def ffmpeg_corpus(files: list[str], pool: int, threads: int) -> tuple[float, dict[str, float]]:
    """Wall seconds for the CLI to run every file's ladder, ``pool`` at a time, and its CPU per job."""
    with tempfile.TemporaryDirectory() as out, ThreadPoolExecutor(pool) as ex, CpuMeter() as meter:
        started = time.monotonic()
        list(ex.map(lambda f: ffmpeg_ladder(f, out, threads), files))
        wall = time.monotonic() - started
    return wall, meter.per_job(len(files))


def docker_true(image: str, runs: int, runtime: str = "") -> list[float]:
    """Wall seconds of ``docker run --rm IMAGE true`` (the floor any container per job pays)."""
    times = []
    extra = ["--runtime", runtime] if runtime else []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(
            ["docker", "run", "--rm", *extra, "--network", "none", "--entrypoint", "true", image], check=True
        )
        times.append(time.monotonic() - started)
    return times


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p95": pct(values, 0.95), "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small corpus: every ratio in a few minutes")
    parser.add_argument("--plots", default="", help="directory for the PNG plots (needs matplotlib)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument("--image", default="media-worker-ffmpeg:0.1.0", help="the sandbox image")
    parser.add_argument(
        "--only", default="abcdef", help="the parts to run, e.g. 'b' or 'ce' (f: of the passes run)"
    )
    parser.add_argument(
        "--runsc", action="store_true", help="a, b: also under gVisor (the engine must know runsc)"
    )
    args = parser.parse_args()
    cpus = cpu_count()
    work = tempfile.mkdtemp(prefix="bench-")
    profiles = os.path.join(work, "profiles.toml")
    with open(profiles, "w") as fh:
        fh.write(BENCH_PROFILE)
    SAY(f"corpus in {work}")
    longs, shorts, images, conforming = make_corpus(work, args.quick, args.only)
    res: dict[str, Any] = {
        "machine": {
            "cpus": cpus,
            "quick": args.quick,
            "clips": len(longs),
            "short_clips": len(shorts),
            "images": len(images),
        }
    }
    runs: dict[str, PipelineRun] = {}
    fixed: dict[str, list[float]] = {}  # plotted: each b pass's fixed costs and the baselines

    def pipeline(
        label: str,
        files: list[str],
        pool: int,
        threads: int = 0,
        one_at_a_time: bool = False,
        settings: dict[str, str] | None = None,
    ) -> PipelineRun:
        SAY(
            f"pipeline {label}: {len(files)} files, pool {pool}, threads {threads or 'derived'} {settings or ''}"
        )
        runs[label] = run_pipeline(
            files,
            pool=pool,
            threads=threads,
            profiles_path=profiles,
            image=args.image,
            one_at_a_time=one_at_a_time,
            settings=settings,
        )
        SAY(f"  {runs[label].wall:.1f} s")
        return runs[label]

    # a + d: the same corpus through the pipeline at pool 1, 2, 4, and through the CLI at pool 2
    if "a" in args.only or "d" in args.only:
        for pool in (1, 2, 4) if "d" in args.only else (2,):
            pipeline(f"pool{pool}", longs, pool)
        if "d" in args.only:
            pipeline("pool1_t1", longs, 1, threads=1)
            pipeline("pool2_t1", longs, 2, threads=1)
        if args.runsc:
            pipeline("pool2_runsc", longs, 2, settings={"MEDIA_WORKER_SANDBOX_OCI_RUNTIME": "runsc"})
        SAY("ffmpeg CLI, pool 2")
        cli, cli_cpu = ffmpeg_corpus(longs, 2, max(1, cpus // 2))
        res["a"] = {
            "ratio": cli / runs["pool2"].wall,
            "pipeline_s": runs["pool2"].wall,
            "ffmpeg_cli_s": cli,
            "cpu_per_job": {"pipeline": runs["pool2"].cpu, "ffmpeg_cli": cli_cpu},
            "target": ">= 0.95",
        }
        if args.runsc:
            res["a"]["runsc"] = {
                "ratio": cli / runs["pool2_runsc"].wall,
                "pipeline_s": runs["pool2_runsc"].wall,
                "cpu_per_job": runs["pool2_runsc"].cpu,
            }
    if "d" in args.only:
        res["d"] = {
            "jobs_per_minute": {p: len(longs) / runs[f"pool{p}"].wall * 60 for p in (1, 2, 4)},
            "pool2_over_pool1": runs["pool1"].wall / runs["pool2"].wall,
            "pool2_over_pool1_one_thread": runs["pool1_t1"].wall / runs["pool2_t1"].wall,
            "target": "pool 2 >= 1.8 x pool 1",
        }

    # b: fixed cost per job on 1 s clips, one job at a time (as `docker run` is timed): end-to-end latency
    # (upload done → manifest listed: S3 event, SQS, the parent, the child, the sandbox, the uploads) − transcode
    if "b" in args.only:
        variants = {"warm": {}, "cold": {"MEDIA_WORKER_SANDBOX_WARM": "false"}}
        if args.runsc:
            variants.update(
                {
                    "runsc_warm": {"MEDIA_WORKER_SANDBOX_OCI_RUNTIME": "runsc"},
                    "runsc_cold": {
                        "MEDIA_WORKER_SANDBOX_OCI_RUNTIME": "runsc",
                        "MEDIA_WORKER_SANDBOX_WARM": "false",
                    },
                }
            )
        baselines = {"runc": docker_true(args.image, len(shorts))}
        if args.runsc:
            baselines["runsc"] = docker_true(args.image, len(shorts), "runsc")
        res["b"] = {
            "docker_run_true_s": {name: summary(times) for name, times in baselines.items()},
            "target": "median <= 0.5 x docker run true, p95 <= 0.8 x",
        }
        fixed.update({f"docker run true ({name})": times for name, times in baselines.items()})
        for name, settings in variants.items():
            for kind, files in (("clip", shorts), ("image", images)):
                one = pipeline(f"{kind}_{name}", files, 1, one_at_a_time=True, settings=settings)
                part, fixed[f"{name} ({kind}s)"] = _part_b(
                    one, len(files), baselines["runsc" if name.startswith("runsc") else "runc"]
                )
                res["b"][name if kind == "clip" else f"{name}_image"] = part

    # c: one job, PyAV (our program, on the host) against the CLI, same settings and threads
    if "c" in args.only:
        _part_c(res, longs[0] if args.quick else longs[4], cpus, 3 if args.quick else 5)  # 720p, 5 s or 30 s
    if "e" in args.only:
        _part_e(res, conforming, cpus, 3 if args.quick else 5)

    # f: memory, from the passes above
    res["f"] = {label: run.memory() for label, run in runs.items()}
    if "pool1" in runs:
        res["f"]["sandbox_peak_mib_by_clip"] = dict(sorted(runs["pool1"].sandbox_peak_by_source().items()))
    res["f"]["target"] = "parent and per-job host memory <= 100 MB, flat in file size"

    if args.plots:
        from scripts.benchplots import plot_all

        plot_all(args.plots, res, fixed)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text)
    return 0


def _part_b(short: PipelineRun, count: int, baseline: list[float]) -> tuple[dict[str, Any], list[float]]:
    """b of one pass: end-to-end latency (upload done → the job's status event: S3 event, SQS, the parent, the
    child, the sandbox, the uploads) − transcode, against ``docker run --rm … true`` of the same runtime."""
    pairs = [
        (lat, short.timings_by_index[i])
        for i, lat in enumerate(short.latencies)
        if i in short.timings_by_index
    ]
    fixed = [lat - t.get("transcode", 0.0) for lat, t in pairs]
    # the program's probe and output checks are media work too: without them what is left is overhead
    overhead = [
        lat - t.get("transcode", 0.0) - t.get("media_probe", 0.0) - t.get("media_verify", 0.0)
        for lat, t in pairs
    ]
    stages = (
        "check",
        "head",
        "signature",
        "download",
        "sandbox",
        "container_start",
        "media_probe",
        "transcode",
        "media_verify",
        "upload",
    )
    return {
        "fixed_s": summary(fixed),
        "overhead_s": summary(overhead),
        "fixed_over_docker_run": statistics.median(fixed) / statistics.median(baseline),
        "fixed_p95_over_docker_run": pct(fixed, 0.95) / statistics.median(baseline),
        "latency_s": summary(short.latencies),
        "jobs_without_manifest": count - len(pairs),
        "cpu_per_job": short.cpu,
        "stages_median_s": {k: statistics.median(t.get(k, 0.0) for _, t in pairs) for k in stages},
    }, fixed


def _part_c(res: dict[str, Any], src: str, cpus: int, runs: int) -> None:
    """c: one job, PyAV (our program, on the host) against the CLI, same settings and threads, interleaved."""
    spec = {
        "kind": "video",
        "demuxer": "mov",
        "threads": cpus,
        "profile": {"video": {"hls": False, "storyboard": False, "stream_copy": False}},
    }
    SAY(f"c: PyAV vs CLI on {os.path.basename(src)}")
    pyav, ff = [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):  # interleaved, so drift in the machine's load hits both
            pyav.append(run_container(src, spec)["transcode"])
            ff.append(ffmpeg_ladder(src, out, cpus))
    res["c"] = {
        "ratio": statistics.median(pyav) / statistics.median(ff),
        "pyav_s": pyav,
        "ffmpeg_cli_s": ff,
        "input": os.path.basename(src),
        "target": "<= 1.02",
    }


def _part_e(res: dict[str, Any], conforming: str, cpus: int, runs: int) -> None:
    """e: the stream-copy path against a re-encode of the same conforming input, default profile otherwise."""
    SAY("e: stream copy vs re-encode")
    copy_spec = {"kind": "video", "demuxer": "mov", "threads": cpus}
    encode_spec = {**copy_spec, "profile": {"video": {"stream_copy": False}}}
    copy, encode = [], []
    for _ in range(runs):
        copy.append(run_container(conforming, copy_spec)["transcode"])
        encode.append(run_container(conforming, encode_spec)["transcode"])
    res["e"] = {
        "ratio": statistics.median(copy) / statistics.median(encode),
        "copy_s": copy,
        "encode_s": encode,
        "target": "<= 0.05",
    }


if __name__ == "__main__":
    sys.exit(main())
