"""The measuring parts of scripts/bench.py: corpus, the CLI baseline, one pipeline run, memory sampling."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from scripts.benchcpu import CpuMeter, tree_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CGROUP_DOCKER = "/sys/fs/cgroup/memory/docker"  # cgroup v1 with the cgroupfs driver (this machine's Docker)
CGROUP_CPU = "/sys/fs/cgroup/cpuacct/docker"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_corpus(
    directory: str, quick: bool, parts: str = "abcdef"
) -> tuple[list[str], list[str], list[str], str]:
    """(clips of 5-30 s at mixed sizes, 1 s clips, 1 MP JPEGs, a conforming 854x480 H.264 High clip for the
    copy path); only what ``parts`` need is generated."""
    from worker.local.samples import make_image, make_video

    sizes = [(1280, 720), (854, 480), (640, 360), (426, 240)]
    lengths = [5, 5, 5, 5] if quick else [5, 10, 15, 20, 30] * 4
    longs = (
        [
            make_video(
                os.path.join(directory, f"clip{i:02d}_{sizes[i % 4][1]}p_{s}s.mp4"),
                width=sizes[i % 4][0],
                height=sizes[i % 4][1],
                seconds=s,
            )
            for i, s in enumerate(lengths)
        ]
        if set(parts) & set("acdf")
        else []
    )
    shorts = (
        [
            make_video(os.path.join(directory, f"short{i:02d}.mp4"), width=320, height=240, seconds=1)
            for i in range(6 if quick else 20)
        ]
        if "b" in parts
        else []
    )
    images = [
        make_image(os.path.join(directory, f"photo{i:02d}.jpg"), width=1280, height=800, codec="mjpeg")
        for i in range(len(shorts))
    ]  # 1.02 MP, a phone's JPEG size class
    conforming = (
        make_video(
            os.path.join(directory, "conforming_480p.mp4"),
            width=854,
            height=480,
            seconds=10,
            options={
                "crf": "35",
                "g": "50",
                "profile": "high",
                # tagged bt709 as encoders tag SDR video: untagged colour is re-encoded
                "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709",
            },
        )
        if "e" in parts
        else ""
    )
    return longs, shorts, images, conforming


def ffmpeg_ladder(src: str, out_dir: str, threads: int) -> float:
    """Debian's ffmpeg making what the bench profile asks for: one decode, a lanczos scale per rung,
    libx264 (CRF 23 capped, veryfast, High, 2 s GOP) + AAC 128k stereo, faststart MP4s. Returns seconds."""
    import av

    from container.video import plan_ladder

    with av.open(src) as c:
        stream = c.streams.video[0]
        width, height, fps = (
            stream.codec_context.width,
            stream.codec_context.height,
            float(stream.average_rate),
        )
        has_audio = bool(c.streams.audio)
    ladder = plan_ladder(width, height, {"renditions": [1080, 720, 480], "maxrate_kbps": [5000, 3000, 1500]})
    graph = (
        f"[0:v]split={len(ladder)}"
        + "".join(f"[v{i}]" for i in range(len(ladder)))
        + ";"
        + ";".join(
            f"[v{i}]scale={r.width}:{r.height}:flags=lanczos,format=yuv420p[o{i}]"
            for i, r in enumerate(ladder)
        )
    )
    cmd = ["ffmpeg", "-v", "error", "-y", "-threads", str(threads), "-i", src, "-filter_complex", graph]
    for i, r in enumerate(ladder):
        cmd += ["-map", f"[o{i}]"] + (["-map", "0:a:0"] if has_audio else [])
        cmd += [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-maxrate",
            f"{r.maxrate_kbps}k",
            "-bufsize",
            f"{2 * r.maxrate_kbps}k",
            "-profile:v",
            "high",
            "-g",
            str(round(fps * 2)),
            "-threads",
            str(threads),
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            os.path.join(out_dir, f"{os.path.basename(src)}.{r.name}"),
        ]
    started = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - started


def run_container(src: str, spec: dict[str, Any], keep: str = "") -> dict[str, float]:
    """Our sandbox program on the host (no Docker): its own timings (probe, transcode, verify); ``keep``: a
    directory to copy the outputs to."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "spec.json"), "w") as fh:
            json.dump(spec, fh)
        out = os.path.join(d, "out")
        os.mkdir(out)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "container",
                "--input",
                src,
                "--output-dir",
                out,
                "--spec",
                os.path.join(d, "spec.json"),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        if keep:
            shutil.copytree(out, keep)
        with open(os.path.join(out, "result.json")) as fh:
            return json.load(fh)["timings"]


@dataclass
class PipelineRun:
    """One pass of files through a fresh worker and stack."""

    wall: float = 0.0
    timings: list[dict[str, float]] = field(default_factory=list)  # each manifest's, in upload order
    timings_by_index: dict[int, dict[str, float]] = field(default_factory=dict)  # upload index → timings
    latencies: list[float] = field(default_factory=list)  # upload done → manifest seen (one at a time only)
    parent_rss_kib: list[int] = field(default_factory=list)
    child_peak_kib: int = 0
    sandbox_peak_bytes: dict[str, int] = field(default_factory=dict)  # container id → cgroup peak
    container_names: dict[str, str] = field(default_factory=dict)  # container id → name (media-worker-<job>)
    sources: dict[str, str] = field(default_factory=dict)  # job id → uploaded file name
    cpu: dict[str, float] = field(default_factory=dict)  # host CPU seconds per job (CpuMeter.per_job, +)
    sandbox_cpu_ns: dict[str, int] = field(default_factory=dict)  # container id → its cgroup's CPU, last seen

    def sandbox_peak_by_source(self) -> dict[str, float]:
        """Each clip's sandbox peak memory (MiB): does it grow with the clip's length at one resolution?"""
        by_job = {
            name.rpartition("-")[2]: peak
            for cid, peak in self.sandbox_peak_bytes.items()
            if (name := self.container_names.get(cid))
        }
        return {
            self.sources[job]: round(peak / 2**20, 1) for job, peak in by_job.items() if job in self.sources
        }

    def memory(self) -> dict[str, float]:
        mib = 1 / 1024
        peaks = list(self.sandbox_peak_bytes.values()) or [0]
        return {
            "parent_rss_mib_first": self.parent_rss_kib[0] * mib if self.parent_rss_kib else 0,
            "parent_rss_mib_max": max(self.parent_rss_kib, default=0) * mib,
            "parent_rss_mib_last": self.parent_rss_kib[-1] * mib if self.parent_rss_kib else 0,
            "child_peak_rss_mib": self.child_peak_kib * mib,
            "sandbox_peak_mib_median": statistics.median(peaks) / 2**20,
            "sandbox_peak_mib_max": max(peaks) / 2**20,
            "sandboxes_sampled": len(self.sandbox_peak_bytes),
        }


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field_name + ":"))
    except (OSError, StopIteration):
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _sample(proc: subprocess.Popen, run: PipelineRun, done: threading.Event) -> None:
    """Every 0.2 s: the parent's RSS, the pool children's peak RSS, each sandbox cgroup's peak memory."""
    import docker

    client = docker.from_env()
    while not done.wait(0.2):
        run.parent_rss_kib.append(_status_kib(proc.pid, "VmRSS"))
        for kid in _children(proc.pid):
            run.child_peak_kib = max(run.child_peak_kib, _status_kib(kid, "VmHWM"))
        for path in glob.glob(os.path.join(CGROUP_CPU, "*", "cpuacct.usage")):
            try:
                with open(path) as fh:
                    used = int(fh.read())
            except (OSError, ValueError):
                continue
            cid = os.path.basename(os.path.dirname(path))
            run.sandbox_cpu_ns[cid] = max(used, run.sandbox_cpu_ns.get(cid, 0))
        for path in glob.glob(os.path.join(CGROUP_DOCKER, "*", "memory.max_usage_in_bytes")):
            try:
                with open(path) as fh:
                    value = int(fh.read())
            except (OSError, ValueError):
                continue
            cid = os.path.basename(os.path.dirname(path))
            run.sandbox_peak_bytes[cid] = max(value, run.sandbox_peak_bytes.get(cid, 0))
            if cid not in run.container_names:
                try:
                    run.container_names[cid] = client.containers.get(cid).name
                except docker.errors.DockerException:
                    run.container_names[cid] = ""


def run_pipeline(
    files: list[str],
    *,
    pool: int,
    threads: int,
    profiles_path: str,
    image: str,
    one_at_a_time: bool = False,
    timeout: float = 3600,
    settings: dict[str, str] | None = None,
) -> PipelineRun:
    """Start ``python -m worker`` on a fresh local stack, upload ``files``, time until every manifest exists.
    ``one_at_a_time``: upload the next file once the previous one's manifest is there, and record each job's
    end-to-end latency (S3 event → SQS → worker → manifest)."""
    import boto3

    from tests.chaos.harness import wait_until_serving
    from worker.local.stack import free_port, local_stack

    run = PipelineRun()
    with (
        local_stack(name=f"bench{os.getpid() % 1000}-{int(time.time() * 1000) % 100000}") as stack,
        tempfile.TemporaryDirectory(prefix="bench-work-", dir="/dev/shm") as work,
    ):
        port = free_port()
        # the worker's status events tell when a job ended: a long poll, not a busy listing of the bucket
        events = boto3.client("sqs").create_queue(QueueName="bench-events")["QueueUrl"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_")}
        env.update(stack.environment())
        env.update(
            {
                "MEDIA_WORKER_RUNTIME": "docker",
                "MEDIA_WORKER_SANDBOX_IMAGE": image,
                "MEDIA_WORKER_POLL_WAIT": "1",
                "MEDIA_WORKER_WORK_DIR": work,
                "MEDIA_WORKER_METRICS_PORT": str(port),
                "MEDIA_WORKER_PROFILES_PATH": profiles_path,
                "MEDIA_WORKER_THREADS_PER_JOB": str(threads),
                "MEDIA_WORKER_VISIBILITY_TIMEOUT": "300",
                "MEDIA_WORKER_LOG_FORMAT": "text",
                "MEDIA_WORKER_STATUS_TARGET": events,
                "PYTHONUNBUFFERED": "1",
                **(settings or {}),
            }
        )
        with open(os.path.join(work, "..", f"bench-worker-{port}.log"), "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "--pool", str(pool)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc, run, done), daemon=True)
        try:
            if not wait_until_serving(port, "/readyz", timeout=90):
                raise RuntimeError("the worker never became ready")
            sampler.start()
            s3, sqs = boto3.client("s3"), boto3.client("sqs")
            bucket, out = stack.resources.temp_bucket, stack.resources.production_bucket
            started, event_ids, worker_cpu = time.monotonic(), set(), tree_cpu(proc.pid)
            with CpuMeter() as meter:
                for i, path in enumerate(files):
                    s3.upload_file(path, bucket, f"bench/{i:03d}/{os.path.basename(path)}")
                    if one_at_a_time:
                        uploaded = time.monotonic()
                        _wait_for_events(sqs, events, 1, started + timeout, event_ids)
                        run.latencies.append(time.monotonic() - uploaded)
                if not one_at_a_time:
                    _wait_for_events(sqs, events, len(files), started + timeout, event_ids)
                run.wall = time.monotonic() - started
            worker_cpu = tree_cpu(proc.pid) - worker_cpu  # before the stop: the children are alive
            # the sandboxes' cgroups as last sampled (each misses at most its last 0.2 s)
            run.cpu = {
                **meter.per_job(len(files)),
                "worker_processes_cpu_s": worker_cpu / len(files),
                "sandboxes_cpu_s": sum(run.sandbox_cpu_ns.values()) / 1e9 / len(files),
            }
            keys = [
                o["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=out, Prefix="media/")
                for o in page.get("Contents", [])
            ]
            for key in sorted(k for k in keys if k.endswith("/manifest.json")):
                doc = json.loads(s3.get_object(Bucket=out, Key=key)["Body"].read())
                run.timings.append(doc["timings"])
                run.timings_by_index[int(doc["source"]["key"].split("/")[1])] = doc["timings"]
                run.sources[doc["job"]["job_id"]] = doc["source"]["key"].rpartition("/")[2]
        finally:
            done.set()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            os.unlink(log.name)
    return run


def _wait_for_events(
    sqs: Any, url: str, count: int, deadline: float, seen_ids: set[str] | None = None
) -> None:
    """Receive ``count`` new status events; a rejection fails the benchmark (its corpus is all good media).
    Events are at least once (a send retried after a lost answer arrives twice): ``seen_ids`` dedupes by
    ``event_id`` across calls."""
    seen_ids = set() if seen_ids is None else seen_ids
    seen = 0
    while seen < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {seen} of {count} jobs ended")
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if event["event_id"] in seen_ids:
                continue
            seen_ids.add(event["event_id"])
            if event["type"] != "published":
                raise RuntimeError(f"a benchmark job ended {event['type']}: {event}")
            seen += 1
