"""The one exception tree of the worker, and the stable reason codes.

::

    MediaWorkerError(reason, message)
    ├── PermanentError          input we will never process: rejection record, then delete
    │   └── RejectedInput       the upload itself is bad (empty, too large, not media, corrupt…)
    ├── RetryableError          a hiccup: visibility backoff, the queue retries, DLQ after maxReceiveCount
    │   └── ResourceExhausted   sandbox timeout / out of memory: retried once, permanent the second time
    └── PoisonMessage           the SQS message itself is unusable: released to reach the DLQ quickly

    SettingsError(ValueError)   invalid configuration: one message, exit code 2
    └── RegionError             no AWS region anywhere (see worker.region)
    ShutdownRequested(BaseException)  not swallowed by ``except Exception``

Anything not in the tree is treated as retryable (``internal_error``), so an
unknown bug ends in the DLQ after maxReceiveCount, never as a silent loss.
"""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    """Machine-readable reason codes. Values are a stable, documented API (docs/REASONS.md)."""

    # permanent: the upload is rejected
    EMPTY_FILE = "empty_file"
    TOO_LARGE = "too_large"
    NOT_MEDIA = "not_media"
    UNSUPPORTED_TYPE = "unsupported_type"
    CORRUPT_MEDIA = "corrupt_media"
    NO_MEDIA_STREAMS = "no_media_streams"
    OVER_LIMIT = "over_limit"
    DECODE_FAILED = "decode_failed"
    ANIMATED_IMAGE = "animated_image"
    TIMEOUT_REPEATED = "timeout_repeated"
    MEMORY_REPEATED = "memory_repeated"
    SOURCE_GONE = "source_gone"
    SOURCE_SUPERSEDED = "source_superseded"
    BAD_KEY = "bad_key"
    # retryable
    S3_ERROR = "s3_error"
    S3_ACCESS_DENIED = "s3_access_denied"
    SANDBOX_ERROR = "sandbox_error"
    SANDBOX_TIMEOUT = "sandbox_timeout"
    SANDBOX_OOM = "sandbox_oom"
    SANDBOX_CRASHED = "sandbox_crashed"
    WORKER_DIED = "worker_died"
    JOB_DEADLINE = "job_deadline"
    OUTPUT_CHECK_FAILED = "output_check_failed"
    WORK_DIR_FULL = "work_dir_full"
    INTERNAL_ERROR = "internal_error"
    SHUTDOWN = "shutdown"
    # a status event's target refused it or could not be reached (worker.parent.status_events; never a job's outcome)
    STATUS_TARGET = "status_target_error"
    # poison messages (message level)
    MALFORMED_MESSAGE = "malformed_message"
    FOREIGN_BUCKET = "foreign_bucket"
    FOREIGN_TOPIC = "foreign_topic"

    @property
    def permanent(self) -> bool:
        """Retrying cannot help: the upload is rejected (a rejection record, the message deleted). Every
        other reason is retried with backoff (jobs) or goes the retry way to the DLQ (poison messages)."""
        return self in _PERMANENT


_PERMANENT = frozenset(
    {
        Reason.EMPTY_FILE,
        Reason.TOO_LARGE,
        Reason.NOT_MEDIA,
        Reason.UNSUPPORTED_TYPE,
        Reason.CORRUPT_MEDIA,
        Reason.NO_MEDIA_STREAMS,
        Reason.OVER_LIMIT,
        Reason.DECODE_FAILED,
        Reason.ANIMATED_IMAGE,
        Reason.TIMEOUT_REPEATED,
        Reason.MEMORY_REPEATED,
        Reason.SOURCE_GONE,
        Reason.SOURCE_SUPERSEDED,
        Reason.BAD_KEY,
    }
)


class MediaWorkerError(Exception):
    """Base of every error the worker raises on purpose."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class PermanentError(MediaWorkerError):
    """Retrying cannot help: record a rejection and delete the message."""


class RejectedInput(PermanentError):
    """The upload itself is unacceptable."""


class RetryableError(MediaWorkerError):
    """Transient: back off and let the queue redeliver."""


class ResourceExhausted(RetryableError):
    """The sandbox hit its time or memory limit; permanent on a repeat attempt."""

    def permanent(self) -> PermanentError:
        """The rejection used when the same input exhausts the sandbox again."""
        repeated = {
            Reason.SANDBOX_TIMEOUT: Reason.TIMEOUT_REPEATED,
            Reason.SANDBOX_OOM: Reason.MEMORY_REPEATED,
        }[self.reason]
        return RejectedInput(repeated, f"{self.message} (again, on a later attempt)")


class PoisonMessage(MediaWorkerError):
    """The SQS message cannot be turned into jobs; it must reach the DLQ."""


class SettingsError(ValueError):
    """Configuration is invalid; the text names every problem."""


class RegionError(SettingsError):
    """No AWS region from boto3's configuration, ``AWS_REGION`` or the EC2 instance metadata."""


class ShutdownRequested(BaseException):
    """Raised to unwind on a second signal; ``except Exception`` cannot swallow it."""
