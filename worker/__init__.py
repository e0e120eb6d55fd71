"""media-worker: the host service that turns S3 uploads into published media.

Follow one message by opening the modules in this order: ``events`` (S3 event →
source records), ``sqs`` and ``leases`` (receive, keep leased, settle),
``service`` (the parent loop), ``pool`` (child processes), ``job`` (one upload:
head → sniff → download → sandbox → publish), ``storage`` and ``keys`` (S3 and
the deterministic output layout), ``sandbox`` (where untrusted media is touched).
"""

__version__ = "0.1.0"
