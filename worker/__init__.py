"""media-worker: the host service that turns S3 uploads into published media.

The packages are the processes (the README's layout says where each step lives):

- ``parent``  the long-lived process: receives from SQS, keeps leases, runs the pool, settles, reports
- ``child``   one pool child's job: skip if done → admit → fetch → sandbox → publish (S3 only, never SQS)
- ``sandbox`` where untrusted media is touched: one single-use container per job
- ``s3events`` S3 notifications, SNS and EventBridge envelopes → source records
- ``ops``     operator commands (provision, DLQ, presigned uploads)
- ``local``   the embedded moto stack, sample media and the demo (development only)

Shared by all: ``settings`` (one validated object), ``errors`` (retryable vs permanent), ``clients``
(boto3), ``logs``, ``region``, ``owners`` (which live process owns a directory or container), ``cli``.
"""

__version__ = "0.1.0"
