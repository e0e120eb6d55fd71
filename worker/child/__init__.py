"""One pool child's job: ``job.JobRunner.run(job)`` → an ``Outcome`` for the parent to settle.

Stages: skip if done (``keys``, ``spelling``) → admit (``precheck``: key, size, signature) → fetch
(``storage``) → sandbox (``worker.sandbox``) → publish (``outputs``, ``publish``: outputs, then the manifest
last). Output profiles: ``profiles`` and the shipped ``profiles.toml``. Talks to S3 only: never to SQS.
"""
