"""Fakes at seams we own (the sandbox). The real runtimes are tested on their own and end to end."""
from __future__ import annotations

import time

from worker.errors import Reason, RetryableError
from worker.sandbox.base import SandboxRequest, SandboxResult
from worker.sandbox.process import ProcessSandbox


class SlowSandbox(ProcessSandbox):
    """The real process runtime, after a pause: a job that outlives its visibility timeout."""

    delay = 6.0

    def run(self, request: SandboxRequest) -> SandboxResult:
        time.sleep(self.delay)
        return super().run(request)


class FailingSandbox(ProcessSandbox):
    """Always a retryable failure: drives a message through backoff to the DLQ."""

    def run(self, request: SandboxRequest) -> SandboxResult:
        raise RetryableError(Reason.SANDBOX_ERROR, "injected failure")
