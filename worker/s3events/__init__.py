"""S3's announcements of uploads, however they arrive (straight to SQS, through SNS, through EventBridge),
turned into source records: ``parse_body(body, bucket, topics)`` → ``ParsedMessage``."""

from worker.s3events.parse import parse_body
from worker.s3events.records import ParsedMessage, SourceRecord

__all__ = ["ParsedMessage", "SourceRecord", "parse_body"]
