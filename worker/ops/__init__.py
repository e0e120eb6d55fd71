"""Operator commands (``python -m worker provision | presign | submit | dlq …``, defined in ``cli``):
``provision`` (buckets, queues, notifications; ``delivery`` wires S3 → SQS, SNS or EventBridge), ``dlq``
(inspect and redrive dead letters), ``presign`` (presigned POST uploads for clients)."""
