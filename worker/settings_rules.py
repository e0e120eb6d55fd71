"""The rules a configuration must keep (worker.settings builds the object; this checks it): each setting's
bounds and choices, and what must hold between settings (buckets, sample rates, deadlines, status targets)."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.settings import Settings

# gVisor's sentry and gofer threads count against a container's pids limit: on 2 vCPUs a limit of 16 or 32
# cannot start a sandbox at all ("cannot create sandbox"), 64 starts one (measured with `docker run --runtime
# runsc --pids-limit N`; the 16 is pinned by tests/integration/test_startup_canary.py)
RUNSC_MIN_PIDS = 64


def problems_of(settings: Settings, require_queue: bool) -> list[str]:
    """Every rule ``settings`` breaks: each field's bounds and choices, and the rules between fields."""
    problems = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        meta = f.metadata
        label = f"{settings.env_name(f.name)} (--{f.name.replace('_', '-')})"
        if meta["required"] and require_queue and not value:
            problems.append(f"{label} is required")
        if meta["lo"] is not None and value < meta["lo"]:
            problems.append(f"{label} must be >= {meta['lo']}, got {value}")
        if meta["hi"] is not None and value > meta["hi"]:
            problems.append(f"{label} must be <= {meta['hi']}, got {value}")
        if meta["choices"] and value not in meta["choices"]:
            problems.append(f"{label} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if settings.temp_bucket and settings.temp_bucket == settings.production_bucket:
        problems.append("the temp and production buckets must differ")
    if settings.min_sample_rate > settings.max_sample_rate:
        problems.append("MEDIA_WORKER_MIN_SAMPLE_RATE must not exceed MEDIA_WORKER_MAX_SAMPLE_RATE")
    if settings.job_deadline and settings.job_deadline <= settings.job_timeout:
        problems.append("MEDIA_WORKER_JOB_DEADLINE must exceed MEDIA_WORKER_JOB_TIMEOUT (or be 0: derived)")
    if settings.sandbox_oci_runtime == "runsc" and settings.sandbox_pids_limit < RUNSC_MIN_PIDS:
        problems.append(
            f"MEDIA_WORKER_SANDBOX_PIDS_LIMIT must be >= {RUNSC_MIN_PIDS} under runsc (gVisor's own threads count)"
        )
    if settings.retry_backoff_base > settings.retry_backoff_max:
        problems.append("MEDIA_WORKER_RETRY_BACKOFF_BASE must not exceed MEDIA_WORKER_RETRY_BACKOFF_MAX")
    problems.extend(_status_problems(settings))
    return problems


def _status_problems(settings: Settings) -> list[str]:
    from worker.parent.status_events.targets import WEBHOOK, parse_targets

    try:  # an SQS URL is told from a webhook by boto3's endpoint variables (AWS_ENDPOINT_URL…)
        targets = parse_targets(settings.status_target, os.environ)
    except ValueError as exc:
        return [f"MEDIA_WORKER_STATUS_TARGET: {exc}"]
    secrets = [part.strip() for part in settings.webhook_secret.split(",") if part.strip()]
    if any(t.kind == WEBHOOK for t in targets) and not secrets:
        return ["MEDIA_WORKER_WEBHOOK_SECRET is required for a webhook status target"]
    if any(len(secret) < 16 for secret in secrets):
        return ["MEDIA_WORKER_WEBHOOK_SECRET: each secret must be at least 16 characters"]
    bad = [arn for arn in settings.topics if not arn.startswith("arn:") or arn.split(":")[2:3] != ["sns"]]
    return [f"MEDIA_WORKER_SNS_TOPIC_ARNS: {', '.join(bad)} is not an SNS topic ARN"] if bad else []
