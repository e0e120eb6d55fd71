"""The chaos suite at CI size: 100 uploads through two workers on one queue, every fault kind (overwrites of
keys in flight and duplicate deliveries among them), 5 % S3/SQS errors; and a drain with a full pool.
The full-size run (1000 jobs) is ``python scripts/chaos.py``; its figures are in docs/RELIABILITY.md."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.chaos.faults import FAULT_KINDS
from tests.chaos.harness import ChaosConfig, run_chaos
from tests.support.sandboxes import busy_sandboxes, our_containers
from tests.support.waiting import wait_for
from tests.support.workers import log_text, start_worker

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_nothing_is_lost_under_every_fault_kind_with_two_workers_and_overwrites(docker_settings):
    report = run_chaos(ChaosConfig(jobs=100, pool=2, workers=2, fault_every=1.5, timeout=900, seed=3))
    print(report.to_json())
    assert report.violations == []
    assert all(report.faults[kind] >= 1 for kind in FAULT_KINDS), report.faults
    assert report.proxy["error_503"] > 0 and report.proxy["dropped"] > 0
    assert report.outcomes["overwritten_keys"] == report.faults["overwrite"] and report.versions > 100
    settled = sum(report.outcomes.get(k, 0) for k in ("published", "rejected", "dead_lettered"))
    assert settled == report.versions
    assert report.worker_exit == 0


def test_sigterm_with_a_full_pool_finishes_or_releases_every_job(stack, media, docker):
    stack.drain_test_event()
    keys = [f"drain/{i}.mp4" for i in range(6)]
    for key in keys:
        stack.upload(key, media["big"])
    proc, log = start_worker(stack, pool=4, drain_timeout=3, visibility_timeout=60)
    try:
        wait_for(lambda: len(busy_sandboxes(docker, stack.work_dir)) == 4, timeout=120, interval=0.1)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_text(log)
        stopped = time.monotonic() - signalled
    finally:
        proc.kill()
    assert stopped < 3 + 15, f"the drain took {stopped:.1f} s for a 3 s grace period"
    wait_for(lambda: our_containers(docker) == [], timeout=30)
    assert os.listdir(stack.work_dir) == []
    # released, not held: each unfinished upload's message is visible again at once (its visibility was 60 s)
    done = len([k for k in stack.production_keys("media/") if k.endswith("manifest.json")])
    assert stack.counts() == (len(keys) - done, 0)
    assert done < len(keys), "the grace period was too long to see a release"
