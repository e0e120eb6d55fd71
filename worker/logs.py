"""Logging set-up for the parent and its children."""
from __future__ import annotations

import logging
import sys


def configure(level: str = "INFO") -> None:
    """One readable line per record on stderr; quiet the libraries that chatter."""
    logging.basicConfig(stream=sys.stderr, level=level, force=True,
                        format="%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
