"""One frozen, validated ``Settings`` built from CLI flags and the environment.

Every setting has exactly one environment variable, ``MEDIA_WORKER_<NAME>``; a
CLI flag overrides it. The AWS endpoint, region and credentials are *not*
settings of ours: boto3 reads its own standard variables (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SQS``, ``AWS_DEFAULT_REGION``…), so any
S3/SQS-compatible service works unchanged; :mod:`worker.region` adds ``AWS_REGION``
and the EC2 instance metadata as ways to give the region.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from worker import __version__
from worker.errors import SettingsError
from worker.settings_rules import problems_of

ENV_PREFIX = "MEDIA_WORKER_"
RUNTIMES = ("auto", "docker", "process")
MiB = 1024 * 1024


def _default_work_dir() -> str:
    # A host tmpfs keeps uploads off the disk and vanishes on reboot.
    return (
        "/dev/shm/media-worker"
        if os.path.isdir("/dev/shm")
        else os.path.join(tempfile.gettempdir(), "media-worker")
    )


def _setting(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    required: bool = False,
    secret: bool = False,
) -> Any:
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "required": required, "secret": secret}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Everything the worker can be told. Build it with :func:`load_settings`."""

    queue_url: str = _setting("", "URL of the SQS queue that receives the S3 events.", required=True)
    temp_bucket: str = _setting(
        "", "Bucket users upload to; events of other buckets are refused.", required=True
    )
    production_bucket: str = _setting(
        "", "Bucket that receives outputs, manifests and rejection records.", required=True
    )
    pool: int = _setting(
        lambda: os.cpu_count() or 1, "Number of child processes (concurrent jobs).", lo=1, hi=64
    )
    profiles_path: str = _setting(
        "", "Output profiles TOML file; empty means the shipped worker/child/profiles.toml."
    )
    runtime: str = _setting(
        "docker",
        "Sandbox runtime: docker, process (not isolated), or auto (docker when an "
        "engine answers, else process: for the demo and the local stack).",
        choices=RUNTIMES,
    )
    sandbox_image: str = _setting(
        lambda: f"media-worker-ffmpeg:{__version__}", "Image of the docker runtime."
    )
    sandbox_oci_runtime: str = _setting(
        "",
        "OCI runtime of the sandbox containers (docker): empty is the engine's "
        "default (runc); runsc runs each job on gVisor's kernel instead of "
        "the host's (registered in the engine's daemon.json).",
    )
    sandbox_warm: bool = _setting(
        True,
        "Keep each pool slot's next sandbox container started before its job "
        "arrives (docker): single-use all the same, it only moves the start "
        "off the job's critical path.",
    )
    sandbox_warm_max_age: int = _setting(
        300, "Seconds a warm sandbox waits for its job before it is replaced.", lo=60, hi=86400
    )
    sandbox_pids_limit: int = _setting(128, "Most processes/threads in one sandbox (docker).", lo=16, hi=4096)
    sandbox_tmpfs_mb: int = _setting(256, "Size of the sandbox's scratch tmpfs, MiB (docker).", lo=16)
    visibility_timeout: int = _setting(
        60, "Seconds of lease set on receive and on each heartbeat.", lo=2, hi=43200
    )
    poll_wait: int = _setting(20, "SQS long-poll wait, seconds.", lo=0, hi=20)
    max_file_size: int = _setting(100 * MiB, "Largest upload accepted, bytes.", lo=1)
    max_key_length: int = _setting(512, "Longest source key accepted, characters.", lo=1, hi=1024)
    max_duration: int = _setting(4 * 3600, "Longest media accepted, seconds (probe and decode).", lo=1)
    max_dimension: int = _setting(8192, "Largest width or height accepted, pixels.", lo=16)
    max_pixels: int = _setting(50_000_000, "Largest width × height accepted.", lo=256)
    max_fps: int = _setting(240, "Highest frame rate accepted.", lo=1)
    max_streams: int = _setting(16, "Most streams one upload may hold.", lo=1)
    max_audio_channels: int = _setting(8, "Most audio channels accepted.", lo=1, hi=64)
    min_sample_rate: int = _setting(8000, "Lowest audio sample rate accepted, Hz.", lo=1)
    max_sample_rate: int = _setting(192000, "Highest audio sample rate accepted, Hz.", lo=1)
    max_output_mb: int = _setting(
        4096,
        "Ceiling on one job's outputs together, MiB; lowered to the work "
        "directory's size ÷ POOL − MAX_FILE_SIZE where that is less. The sandbox's "
        "own cap, from the profile and the decoded duration, is lower for all but "
        "the longest sources; the output file-size rlimit sits 64 MiB above the "
        "ceiling.",
        lo=16,
    )
    job_deadline: int = _setting(
        0,
        "Seconds the host side of one job (download, sandbox, upload) may take "
        "before the parent kills its child (job_deadline, retried); 0 derives it "
        "from JOB_TIMEOUT, the upload's size and MAX_OUTPUT_MB.",
        lo=0,
        hi=43200,
    )
    job_timeout: int = _setting(900, "Wall-clock limit of one sandbox run, seconds.", lo=1, hi=43200)
    sandbox_memory_mb: int = _setting(2048, "Memory limit of one sandbox run, MiB.", lo=256)
    threads_per_job: int = _setting(0, "Codec threads per job; 0 derives them from CPUs ÷ pool.", lo=0, hi=64)
    max_jobs_per_child: int = _setting(50, "Jobs a child runs before it is replaced.", lo=1)
    retry_backoff_base: int = _setting(15, "First retry delay, seconds; doubles per receive.", lo=0, hi=43200)
    retry_backoff_max: int = _setting(900, "Largest retry delay, seconds.", lo=0, hi=43200)
    delete_source: bool = _setting(True, "Delete the temp object once its outputs are published.")
    work_dir: str = _setting(_default_work_dir, "Parent of the per-job directories (a tmpfs is best).")
    drain_timeout: int = _setting(
        60, "On SIGTERM, seconds in-flight jobs may finish before they are released.", lo=0, hi=3600
    )
    log_level: str = _setting("INFO", "Logging level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format: str = _setting(
        "auto",
        "Log lines: json, text, or auto (text on a terminal, JSON otherwise).",
        choices=("auto", "json", "text"),
    )
    metrics_port: int = _setting(
        9300, "Port of /metrics, /healthz and /readyz; 0 turns the endpoint off.", lo=0, hi=65535
    )
    metrics_host: str = _setting("0.0.0.0", "Address the metrics endpoint listens on.")
    status_target: str = _setting(
        "",
        "Where published/rejected/dead-lettered events go, comma-separated: SNS "
        "topic ARNs, SQS queue URLs or ARNs, EventBridge bus ARNs, https:// "
        "webhook URLs; empty sends none.",
    )
    status_retry_seconds: int = _setting(
        300,
        "How long an event a target failed to take (5xx, timeout, "
        "throttling) is retried, seconds; a refusal (4xx) is not.",
        lo=0,
        hi=86400,
    )
    webhook_secret: str = _setting(
        "",
        "Key(s) webhooks are signed with (HMAC-SHA256), comma-separated while one "
        "is rotated; at least 16 characters each. A secret: environment only.",
        secret=True,
    )
    sns_topic_arns: str = _setting(
        "",
        "SNS topics whose notifications are taken, comma-separated; empty takes "
        "any. Raw-delivered bodies carry no topic: the queue policy limits those.",
    )

    def limits(self) -> dict[str, int]:
        """The media limits the sandbox enforces (see container/limits.py)."""
        return {
            "max_duration": self.max_duration,
            "max_dimension": self.max_dimension,
            "max_pixels": self.max_pixels,
            "max_fps": self.max_fps,
            "max_streams": self.max_streams,
            "max_audio_channels": self.max_audio_channels,
            "min_sample_rate": self.min_sample_rate,
            "max_sample_rate": self.max_sample_rate,
        }

    def host_deadline(self, size: int | None) -> float:
        """Seconds the host side of one job may take before the parent kills its child: the sandbox's
        timeout, the upload's download at 1 MiB/s (the event's size, else MAX_FILE_SIZE), the outputs' upload
        at 8 MiB/s (the job's ceiling), and 120 s for the S3 calls and the container's start."""
        if self.job_deadline:
            return float(self.job_deadline)
        size = self.max_file_size if size is None else min(size, self.max_file_size)
        return self.job_timeout + size / MiB + self.max_output_mb / 8 + 120

    @property
    def codec_threads(self) -> int:
        """Threads each job's codecs may use, so the pool does not oversubscribe the CPUs."""
        if self.threads_per_job:
            return self.threads_per_job
        return max(1, (os.cpu_count() or 1) // self.pool)

    @staticmethod
    def env_name(name: str) -> str:
        """The environment variable of setting ``name``."""
        return ENV_PREFIX + name.upper()

    @staticmethod
    def flag_name(name: str) -> str:
        """The ``run`` flag of setting ``name``."""
        return "--" + name.replace("_", "-")

    @classmethod
    def options(cls) -> list[tuple[str, type, tuple[str, ...] | None, str]]:
        """(name, type, choices, description) of every setting but the secrets, for the generated ``run``
        flags: a secret comes from the environment, never from argv (which ``ps`` shows everyone)."""
        kinds = {"int": int, "str": str, "bool": bool}
        return [
            (
                f.name,
                kinds[f.type] if isinstance(f.type, str) else f.type,
                f.metadata["choices"],
                f.metadata["doc"],
            )
            for f in fields(cls)
            if not f.metadata["secret"]
        ]

    @classmethod
    def reference(cls) -> list[tuple[str, str, str]]:
        """(variable, default, description) rows for the README table."""
        rows = []
        for f in fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            rows.append(
                (
                    cls.env_name(f.name),
                    "required" if f.metadata["required"] else repr(default),
                    f.metadata["doc"],
                )
            )
        return rows

    @classmethod
    def secrets(cls) -> list[str]:
        """The names of the settings that are secrets (no flag, not in the repr)."""
        return [f.name for f in fields(cls) if f.metadata["secret"]]

    @property
    def topics(self) -> tuple[str, ...]:
        """The SNS topics allowed (``SNS_TOPIC_ARNS``); empty allows any."""
        return tuple(part.strip() for part in self.sns_topic_arns.split(",") if part.strip())


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


_PARSERS: dict[type, Callable[[str], Any]] = {int: int, str: str, bool: _parse_bool}


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    require_queue: bool = True,
) -> Settings:
    """Merge flags over ``MEDIA_WORKER_*`` variables, validate, and freeze.

    Raises :class:`SettingsError` naming every invalid or missing setting at once.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    unknown = set(flags) - {f.name for f in fields(Settings)}
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    problems: list[str] = []
    hints = {f.name: f.type for f in fields(Settings)}
    for f in fields(Settings):
        kind = (
            {"int": int, "str": str, "bool": bool}[hints[f.name]]
            if isinstance(hints[f.name], str)
            else hints[f.name]
        )
        raw = flags.get(f.name, environ.get(Settings.env_name(f.name)))
        if raw is None:
            continue
        try:
            values[f.name] = (
                raw if isinstance(raw, kind) and not isinstance(raw, str) else _PARSERS[kind](str(raw))
            )
        except ValueError as exc:
            problems.append(f"{Settings.env_name(f.name)}: {exc}")
    try:
        settings = Settings(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the unknown check above
        raise SettingsError(str(exc)) from exc
    problems.extend(problems_of(settings, require_queue))
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A validated copy with some fields changed (tests, demo)."""
    merged = {f.name: getattr(settings, f.name) for f in fields(Settings)}
    merged.update(changes)
    return load_settings(merged, environ={})
