"""Logging set-up for the parent and its children: readable text on a terminal, JSON lines otherwise.

JSON lines (python-json-logger) carry ``time``, ``level``, ``logger``, ``process``, ``message`` and, for a
record logged while a job runs (or with them in ``extra``), ``job_id``, ``message_id``, ``bucket`` and
``key`` — what a log pipeline needs to follow one upload.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from pythonjsonlogger.json import JsonFormatter

JOB_FIELDS = ("job_id", "message_id", "bucket", "key")
_job: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("media_worker_job", default={})


@contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    """Tag every record logged inside the block with the job's fields."""
    token = _job.set(fields)
    try:
        yield
    finally:
        _job.reset(token)


class _JobFields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _job.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """Log to stderr in ``fmt`` (json, text, or auto: text on a terminal); quiet the libraries that chatter."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()):
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(processName)s %(message)s",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "processName": "process",
                },
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s")
        )
    handler.addFilter(_JobFields())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
