"""A real ``python -m worker`` process on a test stack, and its log."""

from __future__ import annotations

import os
import subprocess
import sys


def start_worker(stack, environ=None, pool=1, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_WORKER_")}
    env.update(
        {
            "MEDIA_WORKER_QUEUE_URL": stack.resources.queue_url,
            "MEDIA_WORKER_TEMP_BUCKET": stack.resources.temp_bucket,
            "MEDIA_WORKER_PRODUCTION_BUCKET": stack.resources.production_bucket,
            "MEDIA_WORKER_POLL_WAIT": "1",
            "MEDIA_WORKER_WORK_DIR": stack.work_dir,
            "MEDIA_WORKER_VISIBILITY_TIMEOUT": "30",
            "PYTHONUNBUFFERED": "1",
            "MEDIA_WORKER_METRICS_PORT": "0",
        }
    )
    env["MEDIA_WORKER_RUNTIME"] = "docker"  # the production runtime; Docker is required for the suite
    env.update({f"MEDIA_WORKER_{k.upper()}": str(v) for k, v in settings.items()})
    env.update(environ or {})
    log = open(os.path.join(os.path.dirname(stack.work_dir), "worker.log"), "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "--pool", str(pool)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return proc, log


def log_text(log):
    log.flush()
    log.seek(0)
    return log.read()
