#!/usr/bin/env python3
"""The three host-side stages issue 16 (item 5) changed, each against its old way in one invocation
(moto's server over HTTP on this machine; interleaved runs, medians):

    python scripts/stage_costs.py [--runs 15] [--rtt-ms 20]

check    the "already published / rejected?" requests of every job: both at once (now) ÷ one after the other
upload   a video's outputs (the default profiles on a 10 s 640×360 clip: renditions, HLS playlists, init
         segments and segments, poster, storyboard) ``UPLOADS_AT_ONCE`` at a time (now) ÷ one at a time

moto's server runs in this process and the measured requests in a child process, as S3 is not inside the
worker: a client sharing the server's interpreter would contend with it for the GIL. moto on loopback
answers in a few ms of its own CPU and no network time; ``--rtt-ms`` puts a proxy in between that holds each
request that long (tests/chaos/proxy.py), as a round trip to a real region would.
hand-off a received message reaching the parent's main loop: the Inbox's self-pipe wakes it (now) ÷ the
         next 100 ms tick of the old loop (``TICK`` in worker/parent/service.py)
path     the floor of the path around a job, no worker involved: a small PUT to the temp bucket until its
         S3 event is received from the queue (long poll), and one SendMessage until it is received (what a
         status event costs the bench's own receive)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.connection
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.benchlib import run_container  # noqa: E402
from tests.chaos.proxy import FaultyProxy  # noqa: E402
from worker.child import publish  # noqa: E402
from worker.child.outputs import collect_outputs  # noqa: E402
from worker.child.storage import Storage  # noqa: E402
from worker.clients import s3_client, sqs_client  # noqa: E402
from worker.local.samples import make_video  # noqa: E402
from worker.local.stack import local_stack  # noqa: E402
from worker.parent.receiver import Inbox  # noqa: E402
from worker.parent.service import TICK  # noqa: E402


def interleaved(runs: int, now: Callable[[], None], before: Callable[[], None]) -> dict[str, Any]:
    """Seconds of each way, alternating (and which goes first), so drift in the machine's load hits both."""
    times: dict[str, list[float]] = {"now": [], "before": []}
    for run in range(runs):
        order = (("now", now), ("before", before))
        for name, fn in order if run % 2 == 0 else order[::-1]:
            started = time.monotonic()
            fn()
            times[name].append(time.monotonic() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"median_s": medians, "ratio_now_over_before": medians["now"] / medians["before"], "runs": runs}


def check_stage(store: Storage, runs: int) -> dict[str, Any]:
    keys = ("media/none/manifest.json", "rejections/none.json")  # neither exists: a first delivery's case

    def both_at_once() -> None:
        with ThreadPoolExecutor(2) as both:
            published, rejected = both.submit(store.exists, keys[0]), both.submit(store.read_json, keys[1])
            published.result(), rejected.result()

    return interleaved(runs, both_at_once, lambda: (store.exists(keys[0]), store.read_json(keys[1])))


def video_outputs(work: str) -> tuple[str, list[dict[str, Any]]]:
    """Our program's outputs for a 10 s clip with the default profiles, as the job collects them."""
    src = make_video(os.path.join(work, "clip.mp4"), width=640, height=360, seconds=10)
    out = os.path.join(work, "out")
    run_container(src, {"kind": "video", "demuxer": "mov", "threads": 2}, keep=out)
    with open(os.path.join(out, "result.json")) as fh:
        return out, collect_outputs(json.load(fh), out, "media/bench/attempt")


def upload_stage(store: Storage, out: str, outputs: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    publisher, at_once = publish.Publisher(store), publish.UPLOADS_AT_ONCE

    def with_width(width: int) -> Callable[[], None]:
        def upload() -> None:
            publish.UPLOADS_AT_ONCE = width
            try:
                publisher.upload(out, outputs)
            finally:
                publish.UPLOADS_AT_ONCE = at_once

        return upload

    part = interleaved(runs, with_width(at_once), with_width(1))
    return {**part, "outputs": len(outputs), "bytes": sum(o["size"] for o in outputs), "at_once": at_once}


def handoff_stage(runs: int) -> dict[str, Any]:
    """Delay from a put by the receiver thread to the main loop holding the message."""

    def delays(put_into: Any, wait: Callable[[], Any]) -> list[float]:
        out = []
        for _ in range(runs):
            put_at: list[float] = []
            timer = threading.Timer(
                random.uniform(0.01, 0.2), lambda: (put_at.append(time.monotonic()), put_into.put("message"))
            )
            timer.start()
            while True:
                wait()
                try:
                    put_into.get_nowait()
                    break
                except queue.Empty:
                    continue
            out.append(time.monotonic() - put_at[0])
            timer.join()
        return out

    inbox, old = Inbox(), queue.Queue()  # type: ignore[var-annotated]

    def woken() -> None:
        multiprocessing.connection.wait([inbox], timeout=TICK)
        inbox.clear_wakeups()

    now = delays(inbox, woken)
    before = delays(old, lambda: multiprocessing.connection.wait([], timeout=TICK))
    return {
        "median_s": {"now": statistics.median(now), "before": statistics.median(before)},
        "max_s": {"now": max(now), "before": max(before)},
        "runs": runs,
    }


def event_path(runs: int) -> dict[str, Any]:
    """S3 PUT → its event received, and SQS send → received, each ``runs`` times (the queue of the stack)."""
    s3, sqs = s3_client(), sqs_client(20)
    bucket, url = os.environ["MEDIA_WORKER_TEMP_BUCKET"], os.environ["MEDIA_WORKER_QUEUE_URL"]

    def received(started: float) -> float:
        while not (got := sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages")):
            pass
        elapsed = time.monotonic() - started
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        return elapsed

    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # the stack's s3:TestEvent
    put, send = [], []
    for i in range(runs):
        started = time.monotonic()
        s3.put_object(Bucket=bucket, Key=f"path/{i}.bin", Body=b"x" * 1024)
        put.append(received(started))
        started = time.monotonic()
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        send.append(received(started))
    return {
        "s3_put_to_event_received_s": statistics.median(put),
        "sqs_send_to_received_s": statistics.median(send),
        "runs": runs,
    }


def measure(bucket: str, runs: int) -> dict[str, Any]:
    """The S3 stages, in the child process (boto3 pointed at the parent's moto by the environment)."""
    store = Storage(s3_client(), bucket)
    with tempfile.TemporaryDirectory() as work:
        check = check_stage(store, runs)
        out, outputs = video_outputs(work)
        upload = upload_stage(store, out, outputs, runs)
    return {"check": check, "upload": upload, "path": event_path(runs)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="interleaved runs of each way")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="hold each S3 request this long (a proxy)")
    parser.add_argument("--measure-in", default="", help=argparse.SUPPRESS)  # the child's side: a bucket
    args = parser.parse_args()
    if args.measure_in:
        print(json.dumps(measure(args.measure_in, args.runs)))
        return 0
    with local_stack(name="stages") as stack:
        env = {**os.environ, **stack.environment()}
        proxy = FaultyProxy(stack.endpoint, 0.0, latency=args.rtt_ms / 1000).start() if args.rtt_ms else None
        if proxy is not None:
            env["AWS_ENDPOINT_URL"] = proxy.endpoint
        try:
            child = subprocess.run(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--runs",
                    str(args.runs),
                    "--measure-in",
                    stack.resources.production_bucket,
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
        finally:
            if proxy is not None:
                proxy.close()
    res = {"rtt_ms": args.rtt_ms, **json.loads(child.stdout)}
    res["handoff"] = handoff_stage(args.runs * 2)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
