"""The parent process (``python -m worker``): the only part that talks to SQS.

Entry points: ``service.Service`` (the main loop: receive → dispatch → settle), ``receiver.Receiver`` (the
long-poll thread), ``leases.Heartbeats`` (visibility extensions), ``pool.Pool`` (the children),
``settle.Settler`` (delete, release or re-queue a message once its jobs ended), ``janitor`` (what dead
processes left), ``status_events`` (telling the user's application), ``metrics`` and ``health`` (Prometheus,
``/readyz``), ``systemd`` (sd_notify). May import ``child``; ``child`` never imports it.
"""
