"""The upload side: presigned POST forms whose policy enforces the size limit, and a submit helper."""

from __future__ import annotations

import os
from typing import Any, Callable


def presigned_post(s3: Any, bucket: str, key: str, max_bytes: int, expires: int = 3600) -> dict[str, Any]:
    """URL and form fields for a browser upload of ``key``; S3 refuses a body outside 1…``max_bytes``."""
    return s3.generate_presigned_post(
        Bucket=bucket, Key=key, ExpiresIn=expires, Conditions=[["content-length-range", 1, max_bytes]]
    )


def submit(s3: Any, bucket: str, path: str, key: str, progress: Callable[[int], None]) -> str:
    """Upload one file with boto3's managed transfer (multipart when large); return its ETag."""
    s3.upload_file(path, bucket, key, Callback=progress)
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def key_for(path: str, prefix: str) -> str:
    """The object key a submitted file gets: the prefix and the file's base name."""
    return prefix + os.path.basename(path)
